/*
 * models.c
 *		What OpenRouter says of its models and of the caller's key: the
 *		GET endpoints /models and /key, and the models catalog table kept from
 *		the first (refreshed by hand, and once a day by the database's
 *		background worker).
 *
 * SQL: openrouter_models_response() and openrouter_key_response() return the
 * service's answers (jsonb); the SQL functions openrouter_models(),
 * openrouter_key_status() and openrouter_refresh_models() (the upgrade script)
 * read them.  Requests go through the scheduler like any other (settings via
 * send.c), raise their failure, and cost nothing: they are not recorded in
 * the usage ledger and no budget applies.
 *
 * Rules kept here: /key is asked with the caller's key (or_statement_client_
 * config: refused where a request would be); /models is public and asked
 * with the caller's key from SQL and without any key from the worker (which
 * has none).  The worker's step never raises: a failed refresh is logged and
 * tried again an hour later.
 */
#include "openrouter.h"

#include "access/xact.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "utils/backend_status.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/snapmgr.h"
#include "utils/timestamp.h"

#include "models.h"

#define RETRY_FAILED_REFRESH_MS (60 * 60 * 1000)

int			or_models_refresh_minutes = 1440;

PG_FUNCTION_INFO_V1(openrouter_models_response);
PG_FUNCTION_INFO_V1(openrouter_key_response);

/* one GET through the scheduler; its failure is raised */
static Jsonb *
get(OrEndpoint endpoint, const OrClientConfig *client)
{
	OrSchedule	schedule;
	OrExchange	exchange;
	OrExchange *batch[1] = {&exchange};

	memset(&exchange, 0, sizeof(exchange));
	exchange.request.endpoint = endpoint;
	exchange.abort_on_failure = true;
	or_schedule_from_settings(&schedule, 1);
	schedule.client = *client;
	or_schedule_run(batch, 1, &schedule);
	return exchange.result;
}

/* openrouter_models_response() RETURNS jsonb: GET /models */
Datum
openrouter_models_response(PG_FUNCTION_ARGS)
{
	PG_RETURN_JSONB_P(get(OR_ENDPOINT_MODELS, or_statement_client_config()));
}

/* openrouter_key_response() RETURNS jsonb: GET /key, for the caller's key */
Datum
openrouter_key_response(PG_FUNCTION_ARGS)
{
	PG_RETURN_JSONB_P(get(OR_ENDPOINT_KEY, or_statement_client_config()));
}

/* ---------- the worker's step ---------- */

/*
 * Seconds since the catalog was last refreshed (-1: never), or -2 when the
 * extension (of a version with the catalog) is not installed here.  Sets
 * *schema to the extension's schema.
 */
static double
catalog_age(char **schema)
{
	bool		isnull;
	Datum		age;

	if (SPI_execute("SELECT n.nspname::pg_catalog.text FROM pg_catalog.pg_extension e"
					" JOIN pg_catalog.pg_namespace n ON n.oid OPERATOR(pg_catalog.=) e.extnamespace"
					" JOIN pg_catalog.pg_class c ON c.relnamespace OPERATOR(pg_catalog.=) n.oid"
					"  AND c.relname OPERATOR(pg_catalog.=) 'openrouter_model_catalog'"
					" WHERE e.extname OPERATOR(pg_catalog.=) 'openrouter'", true, 1) != SPI_OK_SELECT ||
		SPI_processed != 1)
		return -2;
	*schema = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1);
	if (SPI_execute(psprintf("SELECT pg_catalog.date_part('epoch', pg_catalog.now() OPERATOR(pg_catalog.-)"
							 " pg_catalog.max(refreshed_at)) FROM %s",
							 quote_qualified_identifier(*schema, "openrouter_model_catalog")),
					true, 1) != SPI_OK_SELECT || SPI_processed != 1)
		elog(ERROR, "could not read the models catalog");
	age = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);
	return isnull ? -1 : DatumGetFloat8(age);
}

/*
 * One step of the database worker's loop: when *next has come, refresh the
 * catalog if it is older than openrouter.models_refresh_interval (an empty
 * catalog at once), and set *next to when to look again.  Runs outside any
 * transaction; never raises.
 */
void
or_models_refresh_step(TimestampTz *next)
{
	TimestampTz now = GetCurrentTimestamp();
	MemoryContext context = CurrentMemoryContext;
	double		interval_s = or_models_refresh_minutes * 60.0;

	if (or_models_refresh_minutes <= 0)
	{
		*next = TimestampTzPlusMilliseconds(now, 60 * 1000);	/* looks at the setting again */
		return;
	}
	if (now < *next)
		return;

	StartTransactionCommand();
	PG_TRY();
	{
		char	   *schema = NULL;
		double		age;

		PushActiveSnapshot(GetTransactionSnapshot());
		SPI_connect();
		age = catalog_age(&schema);
		if (age == -2 || (age >= 0 && age < interval_s))
			*next = TimestampTzPlusMilliseconds(now, (int64) ((age == -2 ? interval_s : interval_s - age) * 1000.0));
		else
		{
			OrClientConfig no_key = {.api_key = ""};
			Datum		arg = JsonbPGetDatum(get(OR_ENDPOINT_MODELS, &no_key));
			Oid			argtype = JSONBOID;

			pgstat_report_activity(STATE_RUNNING, "refreshing the models catalog");
			if (SPI_execute_with_args(psprintf("SELECT %s.openrouter_refresh_models($1)",
											   quote_identifier(schema)),
									  1, &argtype, &arg, NULL, false, 1) != SPI_OK_SELECT)
				elog(ERROR, "could not refresh the models catalog");
			*next = TimestampTzPlusMilliseconds(now, (int64) (interval_s * 1000.0));
		}
		SPI_finish();
		PopActiveSnapshot();
		CommitTransactionCommand();
	}
	PG_CATCH();
	{
		ErrorData  *edata;

		MemoryContextSwitchTo(context);
		edata = CopyErrorData();
		FlushErrorState();
		AbortCurrentTransaction();
		ereport(LOG,
				(errmsg("openrouter worker could not refresh the models catalog: %s", edata->message),
				 edata->detail ? errdetail_internal("%s", edata->detail) : 0,
				 errhint("It tries again in an hour; SELECT openrouter_refresh_models() refreshes it now.")));
		FreeErrorData(edata);
		*next = TimestampTzPlusMilliseconds(now, RETRY_FAILED_REFRESH_MS);
	}
	PG_END_TRY();
}
