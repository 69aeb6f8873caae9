/*
 * prefetch.c
 *		Concurrency for row-at-a-time SQL: openrouter_prefetch(query).
 *
 * PostgreSQL's executor evaluates a function call one row at a time, so
 * "UPDATE t SET r = openrouter_chat(...)" can never have two requests in
 * flight by itself.  openrouter_prefetch() runs a read-only query in
 * "collect" mode: each openrouter_chat() call it evaluates records its
 * request and returns NULL instead of sending it.  The collected requests
 * then go out together, up to openrouter.max_concurrency at once, and their
 * answers are kept in this backend's answer cache.  When the same
 * expressions are evaluated again for real (the UPDATE), every
 * openrouter_chat() call finds its answer in the cache and sends nothing.
 *
 * A cached answer is found by the exact request: body, attribution headers,
 * base URL and the role whose key pays for it.  The cache holds the answers
 * of the last prefetch only, and is emptied at the end of the transaction.
 */
#include "openrouter.h"

#include "access/xact.h"
#include "common/hashfn.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/hsearch.h"
#include "utils/memutils.h"
#include "utils/plancache.h"

PG_FUNCTION_INFO_V1(openrouter_prefetch);

typedef struct CachedAnswer
{
	uint64		hash;			/* hash key */
	char	   *fingerprint;	/* the whole request, to rule out collisions */
	OrExchange *exchange;		/* request, then its result or failure */
} CachedAnswer;

static MemoryContext cache_context = NULL;
static HTAB *answers = NULL;
static bool collecting = false;
static List *collected = NIL;	/* exchanges to send, in cache_context */
static bool xact_callback_registered = false;

static char *
fingerprint_of(const OrHttpRequest *request)
{
	return psprintf("%u\n%s\n%s\n%s\n%s", GetUserId(), or_base_url,
					request->site_url ? request->site_url : "",
					request->site_name ? request->site_name : "",
					request->body);
}

static void
forget_answers(void)
{
	if (cache_context != NULL)
		MemoryContextReset(cache_context);
	answers = NULL;
	collected = NIL;
}

static void
at_transaction_end(XactEvent event, void *arg)
{
	if (event == XACT_EVENT_COMMIT || event == XACT_EVENT_ABORT ||
		event == XACT_EVENT_PARALLEL_COMMIT || event == XACT_EVENT_PARALLEL_ABORT ||
		event == XACT_EVENT_PREPARE)
	{
		collecting = false;
		forget_answers();
	}
}

static void
ensure_cache(void)
{
	HASHCTL		ctl;

	if (!xact_callback_registered)
	{
		RegisterXactCallback(at_transaction_end, NULL);
		xact_callback_registered = true;
	}
	if (cache_context == NULL)
		cache_context = AllocSetContextCreate(TopMemoryContext,
											  "openrouter answer cache",
											  ALLOCSET_DEFAULT_SIZES);
	if (answers != NULL)
		return;
	memset(&ctl, 0, sizeof(ctl));
	ctl.keysize = sizeof(uint64);
	ctl.entrysize = sizeof(CachedAnswer);
	ctl.hcxt = cache_context;
	answers = hash_create("openrouter answers", 1024, &ctl,
						  HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
}

bool
or_prefetch_collecting(void)
{
	return collecting;
}

/* In collect mode: remember the request (once) to send it with the rest. */
void
or_prefetch_collect(const OrHttpRequest *request, bool abort_on_failure)
{
	MemoryContext old = MemoryContextSwitchTo(cache_context);
	char	   *fingerprint = fingerprint_of(request);
	uint64		hash = hash_bytes_extended((const unsigned char *) fingerprint,
										   strlen(fingerprint), 0);
	bool		found;
	CachedAnswer *entry = hash_search(answers, &hash, HASH_ENTER, &found);

	if (!found)
	{
		entry->fingerprint = fingerprint;
		entry->exchange = palloc0(sizeof(OrExchange));
		entry->exchange->request.body = pstrdup(request->body);
		entry->exchange->request.body_len = request->body_len;
		entry->exchange->request.site_url = request->site_url ? pstrdup(request->site_url) : NULL;
		entry->exchange->request.site_name = request->site_name ? pstrdup(request->site_name) : NULL;
		collected = lappend(collected, entry->exchange);
	}
	if (abort_on_failure)
		entry->exchange->abort_on_failure = true;
	MemoryContextSwitchTo(old);
}

/*
 * The prefetched answer to this request, if there is one: sets *result or
 * *failure (copied into the caller's memory) and returns true.
 */
bool
or_prefetch_lookup(const OrHttpRequest *request, Jsonb **result, OrFailure **failure)
{
	char	   *fingerprint;
	uint64		hash;
	CachedAnswer *entry;

	if (answers == NULL)
		return false;
	fingerprint = fingerprint_of(request);
	hash = hash_bytes_extended((const unsigned char *) fingerprint, strlen(fingerprint), 0);
	entry = hash_search(answers, &hash, HASH_FIND, NULL);
	/* only a finished answer counts (a batch cut short by an ERROR leaves some unfinished) */
	if (entry == NULL || strcmp(entry->fingerprint, fingerprint) != 0 ||
		(entry->exchange->result == NULL && entry->exchange->failure == NULL))
		return false;

	*result = NULL;
	*failure = NULL;
	if (entry->exchange->result != NULL)
	{
		Jsonb	   *cached = entry->exchange->result;

		*result = palloc(VARSIZE(cached));
		memcpy(*result, cached, VARSIZE(cached));
	}
	else
	{
		/* the failure's strings live in the cache; the caller only reads them */
		*failure = entry->exchange->failure;
	}
	return true;
}

/*
 * openrouter_prefetch(query text) RETURNS bigint
 *		Evaluate a read-only query, collecting the openrouter_chat() calls it
 *		makes; send them all concurrently; keep the answers for the next
 *		evaluation of the same calls.  Returns how many requests were sent.
 */
Datum
openrouter_prefetch(PG_FUNCTION_ARGS)
{
	char	   *query = text_to_cstring(PG_GETARG_TEXT_PP(0));
	OrExchange **batch;
	int			count;
	int			i = 0;
	ListCell   *lc;

	if (collecting)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("openrouter_prefetch cannot be nested")));

	forget_answers();
	ensure_cache();

	collecting = true;
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
		collecting = false;
		/*
		 * openrouter_chat is IMMUTABLE: a call with constant arguments planned
		 * while collecting was folded to the NULL collect mode returns.  Make
		 * every cached plan be planned again rather than keep that NULL.
		 */
		ResetPlanCache();
	}
	PG_END_TRY();

	count = list_length(collected);
	batch = MemoryContextAlloc(cache_context, Max(count, 1) * sizeof(OrExchange *));
	foreach(lc, collected)
		batch[i++] = (OrExchange *) lfirst(lc);

	{
		MemoryContext old = MemoryContextSwitchTo(cache_context);

		or_send(batch, count, or_max_concurrency);
		MemoryContextSwitchTo(old);
	}
	PG_RETURN_INT64(count);
}
