/*
 * budget.h
 *		What a request may cost and who may spend it (budget.c): prices from
 *		the models catalog, budgets per role, per computed column and per
 *		session, reserved before a request is sent and settled with its real
 *		cost.
 */
#ifndef OPENROUTER_BUDGET_H
#define OPENROUTER_BUDGET_H

#include "scheduler.h"


extern double or_max_spend;		/* openrouter.max_spend; < 0: none */
extern bool or_budget_unknown_price;	/* openrouter.budget_allow_unknown_price */
extern void or_max_spend_assign(double newval, void *extra);

/*
 * Before a batch is sent: warn once about models the catalog does not know,
 * and when a budget applies, have the scheduler reserve each request's
 * worst-case cost before it goes out (schedule->admit).  Returns what
 * or_budget_settle needs (NULL: nothing to settle).
 */
extern void *or_budget_reserve_before_send(OrExchange **exchanges, int count,
										   OrSchedule *schedule);
/* from on_done: the reservation becomes the real usage.cost */
extern void or_budget_settle(void *budget, const OrExchange *exchange);

/* the computed column being computed (computed.c): its budget applies */
typedef struct OrBudgetColumn
{
	Oid			table;
	const char *column;
} OrBudgetColumn;
extern OrBudgetColumn or_budget_swap_column(Oid table, const char *column);

#endif							/* OPENROUTER_BUDGET_H */
