/*
 * worker_sql.c
 *		The SQL functions that talk to the background workers.
 */
#include "postgres.h"

#include "fmgr.h"
#include "miscadmin.h"

#include "shared_state.h"

PG_FUNCTION_INFO_V1(openrouter_wake_workers);

/*
 * openrouter_wake_workers(): have the launcher look at the databases again
 * (CREATE EXTENSION and ALTER EXTENSION UPDATE call it) and this database's
 * worker look for work.  Does nothing without the preloaded library.
 */
Datum
openrouter_wake_workers(PG_FUNCTION_ARGS)
{
	or_wake_launcher();
	or_wake_database_worker(MyDatabaseId);
	PG_RETURN_VOID();
}
