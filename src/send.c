/*
 * send.c
 *		How the SQL functions send: the settings of the moment and the key of
 *		the statement, resolved here once and handed to the scheduler as an
 *		OrSchedule (scheduler.h).
 *
 * The schedule's pacer is the limiter (limiter.c): one pace per API key, for
 * the whole server when the library is preloaded.
 *
 * This is the only file between the SQL entry points (chat.c, batch.c,
 * prefetch.c) and the network layer that reads settings or looks up a key;
 * the scheduler and the HTTP engine below it never do.
 */
#include "openrouter.h"

#include "miscadmin.h"

#include "budget.h"
#include "ledger.h"
#include "limiter.h"
#include "progress.h"
#include "response_cache.h"

/* The limits and destination that the openrouter.* settings describe now. */
void
or_schedule_from_settings(OrSchedule *schedule, int max_in_flight)
{
	memset(schedule, 0, sizeof(OrSchedule));
	schedule->max_in_flight = Max(1, max_in_flight);
	schedule->requests_per_minute = or_requests_per_minute;
	schedule->max_retries = or_max_retries;
	schedule->max_retry_wait_ms = or_max_retry_wait_ms;
	schedule->timeout_ms = or_timeout_ms;
	schedule->connect_timeout_ms = or_connect_timeout_ms;
	schedule->max_response_kb = or_max_response_kb;
	schedule->base_url = or_base_url;
	schedule->ca_file = or_ca_file;
	schedule->proxy = or_proxy;
	/* pacing per key: server-wide when preloaded, else this session's */
	schedule->pacer = &or_limiter_pacer;
	/* the background workers of every database share one max_concurrency */
	schedule->max_in_flight_shared = IsBackgroundWorker;
}

/* what one or_send() keeps for its requests' outcomes */
typedef struct SendState
{
	void	   *budget;			/* the reservations (budget.c), or NULL */
	OrProgress *progress;		/* the report that counts them, or NULL */
} SendState;

/*
 * Each request's outcome: its budget reservation settled, the ledger
 * written, the progress report told.
 */
static void
exchange_done(const OrExchange *exchange, void *arg)
{
	SendState  *state = (SendState *) arg;

	or_budget_settle(state->budget, exchange);
	if (or_ledger_active())
		or_ledger_write_exchange(exchange, false);	/* what it cost */
	if (state->progress != NULL)
		or_progress_add(state->progress, 1, exchange->failure != NULL ? 1 : 0);
}

/*
 * Send a batch with the settings of the moment and the statement's key;
 * what the response cache holds is answered from it and not sent (the
 * array is then reordered: callers keep their own pointers); under a budget
 * each request still to send reserves its worst-case cost before it goes out
 * (budget.c); each is settled and recorded in the usage ledger as soon as it
 * is done.  Returns how many requests were sent.
 */
int
or_send(OrExchange **exchanges, int count, int max_in_flight)
{
	return or_send_reporting(exchanges, count, max_in_flight, NULL);
}

/* the same, counting each finished request in a progress report (or NULL) */
int
or_send_reporting(OrExchange **exchanges, int count, int max_in_flight,
				  OrProgress *progress)
{
	OrSchedule	schedule;
	SendState	state;

	if (count == 0)
		return 0;
	or_schedule_from_settings(&schedule, max_in_flight);
	schedule.client = *or_statement_client_config();
	state.budget = NULL;
	state.progress = progress;
	schedule.on_done = exchange_done;
	schedule.on_done_arg = &state;
	/* cache hits first: they are not reserved against a budget */
	count = or_response_cache_answer(exchanges, count, &schedule);
	if (count == 0)
		return 0;
	state.budget = or_budget_reserve_before_send(exchanges, count, &schedule);
	or_schedule_run(exchanges, count, &schedule);
	return count;
}
