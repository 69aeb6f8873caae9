/*
 * prefetch.c
 *		Concurrency for row-at-a-time SQL: openrouter_prefetch(query).
 *
 * PostgreSQL's executor evaluates a function call one row at a time, so
 * "UPDATE t SET r = openrouter_chat(...)" can never have two requests in
 * flight by itself.  openrouter_prefetch() runs a read-only query in
 * "collect" mode: each openrouter_chat() call (and each request of an
 * openrouter_chat_batch() call) it evaluates reports its request and returns
 * NULL instead of sending it.  The collected requests then go out together,
 * up to openrouter.max_concurrency at once, and their answers are kept in
 * the transaction's request cache (request_cache.c), pinned until the next
 * prefetch.  When the same expressions are evaluated again for real (the
 * UPDATE), every call finds its answer in the cache and sends nothing.
 *
 * openrouter_chat is IMMUTABLE, so a call whose arguments are constants may
 * be evaluated by the planner, and a plan made while collecting holds the
 * NULL that collect mode returns.  A planner hook marks such plans (a
 * PlanInvalItem of its own), and after the collect pass only the marked
 * plans are invalidated: the rest of the backend's plan cache stays.
 *
 * A caller that evaluates row by row (computed.c) says which row the calls
 * it evaluates next are for (or_prefetch_set_row); each collected request
 * remembers its row, and while the collected requests are sent, the row of
 * the one whose failure is being raised is known (or_prefetch_failed_row),
 * for the error's CONTEXT.
 */
#include "openrouter.h"

#include "executor/spi.h"
#include "nodes/makefuncs.h"
#include "optimizer/planner.h"
#include "utils/builtins.h"
#include "utils/hsearch.h"
#include "utils/inval.h"
#include "utils/memutils.h"
#include "utils/syscache.h"

#include "prefetch.h"
#include "request_cache.h"

PG_FUNCTION_INFO_V1(openrouter_prefetch);

/* one collected request */
typedef struct Collected
{
	OrRequestKey key;			/* hash key: must be first */
	OrClientIdentity client;	/* who would pay for it */
	OrExchange *exchange;
	int			row;			/* the caller's row it is for (-1: none) */
} Collected;

static bool collecting = false;
static MemoryContext collect_context = NULL;
static HTAB *collected_by_key = NULL;
static List *collected = NIL;	/* Collected *, in order */
static uint64 collect_calls = 0;	/* calls made in collect mode, ever */
static bool plans_marked = false;	/* this pass marked a plan */
static int	collect_row = -1;	/* the row the calls evaluated now are for */
static bool sending = false;	/* or_prefetch_send() is sending */
static planner_hook_type previous_planner_hook = NULL;

/* the hash value of the PlanInvalItem that marks plans made while collecting */
static uint32
marked_plan_hash(void)
{
	/*
	 * The hash of the highest OID, which no function is given in practice:
	 * only marked plans carry it.  (Not OID 0: its hash is 0, which means
	 * "every function" to the plan cache.)
	 */
	return GetSysCacheHashValue1(PROCOID, ObjectIdGetDatum(PG_UINT32_MAX));
}

/*
 * The planner hook: a plan made while collecting, during which a collect
 * mode call was evaluated (constant folding), is marked for invalidation.
 */
static PlannedStmt *
mark_folded_plans(Query *parse, const char *query_string, int cursor_options,
				  ParamListInfo bound_params)
{
	uint64		calls_before = collect_calls;
	PlannedStmt *stmt;

	if (previous_planner_hook)
		stmt = previous_planner_hook(parse, query_string, cursor_options, bound_params);
	else
		stmt = standard_planner(parse, query_string, cursor_options, bound_params);

	if (collecting && collect_calls != calls_before)
	{
		PlanInvalItem *item = makeNode(PlanInvalItem);

		item->cacheId = PROCOID;
		item->hashValue = marked_plan_hash();
		stmt->invalItems = lappend(stmt->invalItems, item);
		plans_marked = true;
	}
	return stmt;
}

void
or_prefetch_init(void)
{
	previous_planner_hook = planner_hook;
	planner_hook = mark_folded_plans;
}

bool
or_prefetch_collecting(void)
{
	return collecting;
}

/* In collect mode: remember the request (once) to send it with the rest. */
void
or_prefetch_collect(const OrHttpRequest *request, const OrClientIdentity *client,
					const OrRequestKey *key, bool abort_on_failure)
{
	MemoryContext old;
	Collected  *entry;
	bool		found;

	collect_calls++;
	if (request == NULL)
		return;

	entry = hash_search(collected_by_key, key, HASH_ENTER, &found);
	if (found)
	{
		/* the same request for a row that aborts on its failure: that row's now */
		if (abort_on_failure && entry->exchange != NULL &&
			!entry->exchange->abort_on_failure)
		{
			entry->exchange->abort_on_failure = true;
			entry->row = collect_row;
		}
		return;
	}
	entry->exchange = NULL;
	entry->row = collect_row;
	/* answered earlier in this transaction: nothing to send, keep the answer */
	if (or_cache_pin(key))
		return;

	old = MemoryContextSwitchTo(collect_context);
	entry->client = *client;
	entry->exchange = palloc0(sizeof(OrExchange));
	entry->exchange->request.endpoint = request->endpoint;
	entry->exchange->request.model = request->model ? pstrdup(request->model) : NULL;
	entry->exchange->request.body = pstrdup(request->body);
	entry->exchange->request.body_len = request->body_len;
	entry->exchange->request.model = request->model ? pstrdup(request->model) : NULL;
	entry->exchange->request.site_url = request->site_url ? pstrdup(request->site_url) : NULL;
	entry->exchange->request.site_name = request->site_name ? pstrdup(request->site_name) : NULL;
	entry->exchange->abort_on_failure = abort_on_failure;
	collected = lappend(collected, entry);
	MemoryContextSwitchTo(old);
}

/*
 * Collect mode, for openrouter_prefetch() below and for the plan node that
 * makes plain SQL concurrent (concurrent.c): between or_prefetch_start() and
 * or_prefetch_stop() every call that would make a request reports it.
 */
void
or_prefetch_start(MemoryContext parent)
{
	HASHCTL		ctl;

	if (collecting)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("openrouter_prefetch cannot be nested")));
	collect_context = AllocSetContextCreate(parent, "openrouter prefetch",
											ALLOCSET_DEFAULT_SIZES);
	memset(&ctl, 0, sizeof(ctl));
	ctl.keysize = sizeof(OrRequestKey);
	ctl.entrysize = sizeof(Collected);
	ctl.hcxt = collect_context;
	collected_by_key = hash_create("openrouter collected requests", 1024, &ctl,
								   HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
	collected = NIL;
	plans_marked = false;
	collect_row = -1;
	collecting = true;
}

/* the row (a number of the caller's, -1: none) that the calls evaluated from now on are for */
void
or_prefetch_set_row(int row)
{
	collect_row = row;
}

/* leave collect mode (also on error); plans that folded a call are replanned */
void
or_prefetch_stop(void)
{
	collecting = false;
	collect_row = -1;
	if (plans_marked)
		CallSyscacheCallbacks(PROCOID, marked_plan_hash());
	plans_marked = false;
}

/*
 * Send what was collected (the current role's requests: those collected for
 * another role, under SECURITY DEFINER, are left alone), up to
 * openrouter.max_concurrency at once, and keep the answers pinned in the
 * request cache.  Returns how many requests were sent; *pinned (palloc'd in
 * the caller's context) gets the key of every request collected, answered
 * now or earlier, for or_cache_unpin() once the answers were read.  Unless
 * raise_failures, a failure is kept like an answer and raised (per the
 * call's on_error) when the call is evaluated again, in row order.
 */
int
or_prefetch_send(bool raise_failures, OrRequestKey **pinned, int *npinned)
{
	OrExchange **batch;
	int			count = 0;
	OrClientIdentity client;
	ListCell   *lc;
	HASH_SEQ_STATUS seq;
	Collected  *entry;

	if (pinned != NULL)
	{
		*pinned = palloc(Max(hash_get_num_entries(collected_by_key), 1) * sizeof(OrRequestKey));
		*npinned = 0;
		hash_seq_init(&seq, collected_by_key);
		while ((entry = hash_seq_search(&seq)) != NULL)
			(*pinned)[(*npinned)++] = entry->key;
	}

	if (collected != NIL)
		or_client_identity(&client);
	batch = palloc(Max(list_length(collected), 1) * sizeof(OrExchange *));
	foreach(lc, collected)
	{
		entry = lfirst(lc);
		if (!raise_failures)
			entry->exchange->abort_on_failure = false;
		if (memcmp(&entry->client, &client, sizeof(client)) == 0)
			batch[count++] = entry->exchange;
	}

	/* (answers from the response cache are not sent) */
	sending = true;
	PG_TRY();
	{
		count = or_send(batch, count, or_max_concurrency);
	}
	PG_FINALLY();
	{
		sending = false;
	}
	PG_END_TRY();

	foreach(lc, collected)
	{
		entry = lfirst(lc);
		or_cache_store(&entry->key, entry->exchange, true);
	}
	pfree(batch);
	MemoryContextDelete(collect_context);
	collect_context = NULL;
	collected_by_key = NULL;
	collected = NIL;
	return count;
}

/*
 * While or_prefetch_send() raises the failure of a request that aborts on
 * failure (an error context callback asks, before the error leaves): the row
 * that request was collected for, or -1.  The first such failure is raised at
 * once, so it is the one request that failed and aborts.
 */
int
or_prefetch_failed_row(void)
{
	ListCell   *lc;

	if (!sending)
		return -1;
	foreach(lc, collected)
	{
		Collected  *entry = lfirst(lc);

		if (entry->exchange->failure != NULL && entry->exchange->abort_on_failure)
			return entry->row;
	}
	return -1;
}

/* run the query in collect mode */
static void
collect(const char *query)
{
	or_prefetch_start(CurrentMemoryContext);
	PG_TRY();
	{
		int			rc;

		if (SPI_connect() != SPI_OK_CONNECT)
			elog(ERROR, "SPI_connect failed");
		rc = SPI_execute(query, true, 0);
		if (rc != SPI_OK_SELECT)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("openrouter_prefetch needs a SELECT query"),
					 errdetail("The query returned %s.", SPI_result_code_string(rc))));
		SPI_finish();
	}
	PG_FINALLY();
	{
		or_prefetch_stop();
	}
	PG_END_TRY();
}

/*
 * openrouter_prefetch(query text) RETURNS bigint
 *		Evaluate a read-only query, collecting the requests it makes; send
 *		them all concurrently; keep the answers for the next evaluation of the
 *		same calls.  Returns how many requests were sent.
 */
Datum
openrouter_prefetch(PG_FUNCTION_ARGS)
{
	char	   *query = text_to_cstring(PG_GETARG_TEXT_PP(0));

	if (collecting)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("openrouter_prefetch cannot be nested")));

	/* the previous prefetch's answers may now be evicted like any others */
	or_cache_unpin_all();
	collect(query);
	PG_RETURN_INT64(or_prefetch_send(true, NULL, NULL));
}
