/*
 * shared_state.h
 *		The extension's shared memory, present only when the library is in
 *		shared_preload_libraries (see shared_state.c).
 */
#ifndef OPENROUTER_SHARED_STATE_H
#define OPENROUTER_SHARED_STATE_H

#include "postgres.h"

#include "storage/latch.h"
#include "storage/lwlock.h"

/* most databases with a worker at once */
#define OR_MAX_DATABASE_WORKERS 64

/* one database's worker, as the launcher and the backends of that database see it */
typedef struct OrDatabaseWorker
{
	Oid			database;		/* InvalidOid: slot unused */
	pid_t		pid;			/* 0 while not running */
	Latch	   *latch;			/* set to wake it; NULL while not running */
	TimestampTz hold_until;		/* not started again before this (a command
								 * needs the database alone) */
	/* the asynchronous column it computes now, or computed last (async_columns.c) */
	Oid			async_relid;	/* InvalidOid: none yet */
	NameData	async_column;
	int			async_in_flight;	/* cells being computed now */
	double		async_rate;		/* cells per second lately */
} OrDatabaseWorker;

/* a backend's spool file (ledger.c): who writes it, while it lives */
typedef struct OrSpoolWriter
{
	pid_t		pid;			/* 0: slot unused */
	TimestampTz session_start;	/* with the pid, names the file */
} OrSpoolWriter;

/* one budget being counted (budget.c) */
typedef struct OrBudgetCounter
{
	Oid			database;		/* InvalidOid: slot unused */
	Oid			role;			/* a role's budget, or InvalidOid */
	Oid			table;			/* a computed column's budget, or InvalidOid */
	NameData	column;
	int32		period;			/* the day or month counted (budget.c) */
	double		spent;			/* USD settled in that period */
	double		reserved;		/* USD reserved by requests in flight */
} OrBudgetCounter;

#define OR_MAX_BUDGET_COUNTERS 256

typedef struct OrSharedState
{
	LWLock	   *lock;			/* protects everything below */
	pid_t		launcher_pid;
	Latch	   *launcher_latch;
	uint64		wake_count;		/* or_wake_launcher() calls: a database may have gained the extension */
	OrDatabaseWorker workers[OR_MAX_DATABASE_WORKERS];
	uint64		budget_generation;	/* bumped when budgets or the catalog change (budget.c) */
	OrBudgetCounter budget_counters[OR_MAX_BUDGET_COUNTERS];
	int			n_spool_writers;	/* MaxBackends + 1, indexed by BackendId */
	OrSpoolWriter spool_writers[FLEXIBLE_ARRAY_MEMBER];
} OrSharedState;

/* NULL unless the library was preloaded and shared memory is attached */
extern OrSharedState *or_shared;

extern void or_shared_state_install_hooks(void);
extern void or_require_shared_state(const char *feature);
extern OrDatabaseWorker *or_database_worker_slot(Oid database, bool create);
extern void or_wake_database_worker(Oid database);
extern void or_wake_launcher(void);

#endif							/* OPENROUTER_SHARED_STATE_H */
