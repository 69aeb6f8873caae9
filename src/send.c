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

#include "ledger.h"
#include "progress.h"
#include "limiter.h"
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
}

/* what a finished request cost, into the usage ledger (ledger.c) */
static void
record_usage(const OrExchange *exchange, void *arg)
{
	OrUsageRecord record;

	or_usage_record_init(&record);
	record.model_requested = exchange->request.model;
	record.attempts = exchange->attempts;
	record.http_status = exchange->http_status;
	record.latency_ms = exchange->latency_ms;
	if (exchange->failure != NULL)
	{
		strlcpy(record.failure, unpack_sql_state(exchange->failure->sqlerrcode), sizeof(record.failure));
		or_usage_from_response(&record, exchange->failure->response);
	}
	else
		or_usage_from_response(&record, exchange->result);
	or_ledger_write(&record);
}

/* a finished request: into the ledger, and counted by the progress report */
static void
request_done(const OrExchange *exchange, void *arg)
{
	if (or_ledger_active())
		record_usage(exchange, NULL);
	or_progress_add((OrProgress *) arg, 1, exchange->failure != NULL ? 1 : 0);
}

/*
 * Send a batch with the settings of the moment and the statement's key;
 * each request is recorded in the usage ledger as soon as it is done.
 * What the response cache holds is answered from it and not sent (the
 * array is then reordered: callers keep their own pointers).  Returns how
 * many requests were sent.
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

	if (count == 0)
		return 0;
	or_schedule_from_settings(&schedule, max_in_flight);
	schedule.client = *or_statement_client_config();
	if (progress != NULL)
	{
		schedule.on_done = request_done;
		schedule.on_done_arg = progress;
	}
	else if (or_ledger_active())
		schedule.on_done = record_usage;
	count = or_response_cache_answer(exchanges, count, &schedule);
	if (count > 0)
		or_schedule_run(exchanges, count, &schedule);
	return count;
}
