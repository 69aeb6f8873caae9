/*
 * extension_events.c
 *		What the extension does when it is created, updated or dropped:
 *		wake the background workers, and say what DROP EXTENSION deletes.
 *
 * Both are SQL functions called by the install script or by an event
 * trigger; neither changes anything but the workers' attention and the
 * messages the user sees.
 */
#include "postgres.h"

#include "access/xact.h"
#include "commands/event_trigger.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "nodes/parsenodes.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"

#include "shared_state.h"

PG_FUNCTION_INFO_V1(openrouter_wake_workers);
PG_FUNCTION_INFO_V1(openrouter_announce_drop);

static bool wake_at_commit = false;

static void
wake_workers_at_commit(XactEvent event, void *arg)
{
	if (event == XACT_EVENT_COMMIT && wake_at_commit)
	{
		or_wake_launcher();
		or_wake_database_worker(MyDatabaseId);
	}
	if (event == XACT_EVENT_COMMIT || event == XACT_EVENT_ABORT)
		wake_at_commit = false;
}

/*
 * openrouter_wake_workers(): when the calling transaction commits, have the
 * launcher look at the databases again (CREATE EXTENSION and ALTER
 * EXTENSION UPDATE call it: a worker must see the committed extension) and
 * this database's worker look for work.  Does nothing without the preloaded
 * library.
 */
Datum
openrouter_wake_workers(PG_FUNCTION_ARGS)
{
	static bool registered = false;

	if (!registered)
	{
		RegisterXactCallback(wake_workers_at_commit, NULL);
		registered = true;
	}
	wake_at_commit = true;
	PG_RETURN_VOID();
}

/* does this DROP statement drop the openrouter extension? */
static bool
drops_this_extension(DropStmt *stmt)
{
	ListCell   *lc;

	if (stmt->removeType != OBJECT_EXTENSION)
		return false;
	foreach(lc, stmt->objects)
	{
		if (strcmp(strVal(lfirst(lc)), "openrouter") == 0)
			return true;
	}
	return false;
}

/* the rows of one of the extension's tables (SPI connected) */
static int64
count_rows(const char *schema, const char *table)
{
	bool		isnull;

	if (SPI_execute(psprintf("SELECT pg_catalog.count(*) FROM %s",
							 quote_qualified_identifier(schema, table)),
					true, 0) != SPI_OK_SELECT || SPI_processed != 1)
		return 0;
	return DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
}

/*
 * openrouter_announce_drop(): the ddl_command_start event trigger of DROP
 * EXTENSION.  When the statement drops this extension, a NOTICE says what
 * goes with it (every role's stored key, every computed-column definition)
 * and what stays (the columns and their answers), before anything is
 * dropped.
 */
Datum
openrouter_announce_drop(PG_FUNCTION_ARGS)
{
	EventTriggerData *trigger;
	char	   *schema;
	int64		keys;
	int64		definitions;

	if (!CALLED_AS_EVENT_TRIGGER(fcinfo))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_EVENT_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("openrouter_announce_drop() must be called as an event trigger")));
	trigger = (EventTriggerData *) fcinfo->context;
	if (!IsA(trigger->parsetree, DropStmt) || !drops_this_extension((DropStmt *) trigger->parsetree))
		PG_RETURN_VOID();

	schema = get_namespace_name(get_func_namespace(fcinfo->flinfo->fn_oid));
	SPI_connect();
	keys = count_rows(schema, "openrouter_api_key");
	definitions = count_rows(schema, "openrouter_computed_column");
	SPI_finish();
	if (keys > 0 || definitions > 0)
		ereport(NOTICE,
				(errmsg("dropping extension openrouter deletes " INT64_FORMAT " stored API keys and " INT64_FORMAT " computed-column definitions",
						keys, definitions),
				 errdetail("Computed columns stay as plain columns, with their answers; their triggers go."),
				 errhint("To upgrade, use ALTER EXTENSION openrouter UPDATE instead. After CREATE EXTENSION, store the keys again and take the columns back with openrouter_add_computed_column(..., adopt => true).")));
	PG_RETURN_VOID();
}
