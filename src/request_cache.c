/*
 * request_cache.c
 *		The transaction's request cache: openrouter_chat() is IMMUTABLE, and
 *		the planner relies on it (a subquery's result read three times, a CTE
 *		referenced twice, a call in a generated column), so an identical
 *		request is sent once per transaction and its answer reused.
 *
 * A request is known by a SHA-256 digest of everything that makes it: the
 * body, the attribution headers, the base URL and the endpoint (the same
 * body sent to /embeddings and to /chat/completions makes two requests), and
 * the identity of who pays (a SHA-256 digest of the API key and the role's
 * stored attribution).  The
 * key itself is never stored here.  Answers and failures that would fail
 * again are kept (a copy, in this file's memory context); retryable failures
 * are not, so a later call tries again.
 *
 * The cache is emptied at the end of every transaction, and bounded by
 * openrouter.request_cache_size: past it the oldest entries are evicted
 * first.  Entries pinned by openrouter_prefetch() (the answers it was asked
 * to fetch for the next evaluation) are not evicted before the next prefetch
 * or the end of the transaction; those pinned by a window of the concurrent
 * plan node (concurrent.c) not before it has read them (pins are counted).
 */
#include "openrouter.h"

#include "access/xact.h"
#include "common/cryptohash.h"
#include "lib/ilist.h"
#include "miscadmin.h"
#include "utils/hsearch.h"
#include "utils/memutils.h"

#include "request_cache.h"

/*
 * Set by the background worker while it computes a chunk of an asynchronous
 * column (async_columns.c): a transient failure the scheduler gave up on is
 * kept too, so that writing the chunk does not send it again, one row at a
 * time; the worker queues such a cell again, for later.
 */
bool		or_cache_keeps_retryable = false;

typedef struct CacheEntry
{
	OrRequestKey key;			/* hash key: must be first */
	dlist_node	age;			/* in "entries", oldest first */
	Size		bytes;			/* what it holds, for the budget */
	int			pins;			/* pinned until unpinned as often */
	Jsonb	   *result;			/* the answer, or NULL */
	OrFailure  *failure;		/* or the failure */
} CacheEntry;

/* the memo of or_client_identity_cached() */
typedef struct IdentityMemo
{
	Oid			userid;
	OrClientIdentity identity;
} IdentityMemo;

static MemoryContext cache_context = NULL;
static HTAB *entries_by_key = NULL;
static dlist_head entries = DLIST_STATIC_INIT(entries);
static Size cached_bytes = 0;
static bool xact_callback_registered = false;

static void
forget_everything(void)
{
	if (cache_context != NULL)
		MemoryContextReset(cache_context);
	entries_by_key = NULL;
	dlist_init(&entries);
	cached_bytes = 0;
}

static void
at_transaction_end(XactEvent event, void *arg)
{
	if (event == XACT_EVENT_COMMIT || event == XACT_EVENT_ABORT ||
		event == XACT_EVENT_PARALLEL_COMMIT || event == XACT_EVENT_PARALLEL_ABORT ||
		event == XACT_EVENT_PREPARE)
		forget_everything();
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
											  "openrouter request cache",
											  ALLOCSET_DEFAULT_SIZES);
	if (entries_by_key != NULL)
		return;
	memset(&ctl, 0, sizeof(ctl));
	ctl.keysize = sizeof(OrRequestKey);
	ctl.entrysize = sizeof(CacheEntry);
	ctl.hcxt = cache_context;
	entries_by_key = hash_create("openrouter request cache", 256, &ctl,
								 HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
}

/* ---------- digests ---------- */

typedef struct Digest
{
	pg_cryptohash_ctx *ctx;
} Digest;

static void
digest_begin(Digest *d)
{
	d->ctx = pg_cryptohash_create(PG_SHA256);
	if (d->ctx == NULL || pg_cryptohash_init(d->ctx) < 0)
		elog(ERROR, "could not initialize a SHA-256 digest: %s",
			 pg_cryptohash_error(d->ctx));
}

/* a string and its terminator, so that ("ab", "c") differs from ("a", "bc") */
static void
digest_add(Digest *d, const char *value)
{
	static const uint8 absent[2] = {0xff, 0};

	if (value == NULL)
	{
		if (pg_cryptohash_update(d->ctx, absent, sizeof(absent)) < 0)
			elog(ERROR, "could not compute a SHA-256 digest: %s",
				 pg_cryptohash_error(d->ctx));
		return;
	}
	if (pg_cryptohash_update(d->ctx, (const uint8 *) value, strlen(value) + 1) < 0)
		elog(ERROR, "could not compute a SHA-256 digest: %s",
			 pg_cryptohash_error(d->ctx));
}

static void
digest_end(Digest *d, uint8 *out)
{
	if (pg_cryptohash_final(d->ctx, out, PG_SHA256_DIGEST_LENGTH) < 0)
		elog(ERROR, "could not compute a SHA-256 digest: %s",
			 pg_cryptohash_error(d->ctx));
	pg_cryptohash_free(d->ctx);
}

void
or_client_identity(OrClientIdentity *out)
{
	OrClientConfig config = or_resolve_client_config();
	Digest		d;

	PG_TRY();
	{
		digest_begin(&d);
		digest_add(&d, config.api_key);
		digest_add(&d, config.site_url);
		digest_add(&d, config.site_name);
		digest_end(&d, out->digest);
	}
	PG_FINALLY();
	{
		or_wipe_string(config.api_key);
	}
	PG_END_TRY();
}

void
or_client_identity_cached(FmgrInfo *flinfo, OrClientIdentity *out)
{
	IdentityMemo *memo = flinfo->fn_extra;

	if (memo == NULL || memo->userid != GetUserId())
	{
		if (memo == NULL)
			memo = MemoryContextAllocZero(flinfo->fn_mcxt, sizeof(IdentityMemo));
		or_client_identity(&memo->identity);
		memo->userid = GetUserId();
		flinfo->fn_extra = memo;
	}
	*out = memo->identity;
}

void
or_request_key(const OrHttpRequest *request, const OrClientIdentity *client,
			   OrRequestKey *out)
{
	Digest		d;

	digest_begin(&d);
	if (pg_cryptohash_update(d.ctx, client->digest, sizeof(client->digest)) < 0)
		elog(ERROR, "could not compute a SHA-256 digest: %s",
			 pg_cryptohash_error(d.ctx));
	digest_add(&d, or_base_url);
	digest_add(&d, or_endpoint_path(request->endpoint));
	digest_add(&d, request->site_url);
	digest_add(&d, request->site_name);
	digest_add(&d, request->body);
	digest_end(&d, out->digest);
}

/* ---------- entries ---------- */

static Jsonb *
copy_jsonb(const Jsonb *value)
{
	return value ? memcpy(palloc(VARSIZE(value)), value, VARSIZE(value)) : NULL;
}

/* a deep copy of a failure, in the current memory context */
static Size
failure_bytes(const OrFailure *f)
{
	Size		bytes = sizeof(OrFailure);

	bytes += f->code_name ? strlen(f->code_name) + 1 : 0;
	bytes += f->message ? strlen(f->message) + 1 : 0;
	bytes += f->detail ? strlen(f->detail) + 1 : 0;
	bytes += f->hint ? strlen(f->hint) + 1 : 0;
	bytes += f->tool_call_id ? strlen(f->tool_call_id) + 1 : 0;
	bytes += f->service_error ? VARSIZE(f->service_error) : 0;
	bytes += f->response ? VARSIZE(f->response) : 0;
	return bytes;
}

static void
free_failure(OrFailure *f)
{
	if (f->code_name)
		pfree(unconstify(char *, f->code_name));
	if (f->message)
		pfree(f->message);
	if (f->detail)
		pfree(f->detail);
	if (f->hint)
		pfree(f->hint);
	if (f->service_error)
		pfree(f->service_error);
	if (f->response)
		pfree(f->response);
	pfree(f);
}

static void
evict(CacheEntry *entry)
{
	dlist_delete(&entry->age);
	cached_bytes -= entry->bytes;
	if (entry->result)
		pfree(entry->result);
	if (entry->failure)
		free_failure(entry->failure);
	hash_search(entries_by_key, &entry->key, HASH_REMOVE, NULL);
}

/* evict the oldest unpinned entries until the cache fits its budget */
static void
fit_budget(void)
{
	Size		budget = (Size) or_request_cache_kb * 1024;
	dlist_mutable_iter iter;

	dlist_foreach_modify(iter, &entries)
	{
		CacheEntry *entry = dlist_container(CacheEntry, age, iter.cur);

		if (cached_bytes <= budget)
			break;
		if (entry->pins == 0)
			evict(entry);
	}
}

bool
or_cache_lookup(const OrRequestKey *key, Jsonb **result, OrFailure **failure)
{
	CacheEntry *entry;

	if (entries_by_key == NULL)
		return false;
	entry = hash_search(entries_by_key, key, HASH_FIND, NULL);
	if (entry == NULL)
		return false;
	*result = copy_jsonb(entry->result);
	*failure = entry->failure ? or_failure_copy(entry->failure) : NULL;
	return true;
}

void
or_cache_store(const OrRequestKey *key, const OrExchange *exchange, bool pin)
{
	MemoryContext old;
	CacheEntry *entry;
	bool		found;

	/* an unfinished exchange, or one that may succeed when tried again */
	if (exchange->result == NULL &&
		(exchange->failure == NULL ||
		 (exchange->failure->retryable && !or_cache_keeps_retryable)))
		return;

	ensure_cache();
	entry = hash_search(entries_by_key, key, HASH_ENTER, &found);
	if (found)
	{
		entry->pins += pin ? 1 : 0;
		return;
	}
	old = MemoryContextSwitchTo(cache_context);
	entry->pins = pin ? 1 : 0;
	entry->result = copy_jsonb(exchange->result);
	entry->failure = exchange->result ? NULL : or_failure_copy(exchange->failure);
	MemoryContextSwitchTo(old);
	entry->bytes = sizeof(CacheEntry) +
		(entry->result ? VARSIZE(entry->result) : failure_bytes(entry->failure));
	dlist_push_tail(&entries, &entry->age);
	cached_bytes += entry->bytes;
	fit_budget();
}

/* pin the entry of this request, if there is one, and say whether there is */
bool
or_cache_pin(const OrRequestKey *key)
{
	CacheEntry *entry;

	if (entries_by_key == NULL)
		return false;
	entry = hash_search(entries_by_key, key, HASH_FIND, NULL);
	if (entry != NULL)
		entry->pins++;
	return entry != NULL;
}

/* undo one pin of this request's entry (the caller read the answer) */
void
or_cache_unpin(const OrRequestKey *key)
{
	CacheEntry *entry;

	if (entries_by_key == NULL)
		return;
	entry = hash_search(entries_by_key, key, HASH_FIND, NULL);
	if (entry != NULL && entry->pins > 0 && --entry->pins == 0)
		fit_budget();
}

void
or_cache_unpin_all(void)
{
	dlist_iter	iter;

	dlist_foreach(iter, &entries)
		dlist_container(CacheEntry, age, iter.cur)->pins = 0;
	fit_budget();
}
