/*
 * response_cache.c
 *		The durable response cache: never pay twice for the same answer.  An
 *		identical request is answered from the table openrouter_response_cache
 *		instead of being sent again, across statements, sessions, rollbacks
 *		and restarts.  (The transaction's memo, request_cache.c, stays the
 *		first level: it is asked before anything reaches or_send.)
 *
 * Identity.  A request is known by a SHA-256 fingerprint of: the database,
 * the role whose key pays (GetUserId(): its OID and its name, so that a
 * later role that gets a dropped role's OID does not inherit its answers),
 * the base URL, the endpoint and the whole request body (model, messages,
 * tools and every other field).  Attribution headers are not part of it,
 * nor is the key itself: a role that changes its key keeps its answers.
 * GET requests (models, key status) are never cached.
 *
 * Durability.  An answer is written, before it is handed back to SQL, as a
 * record of its own kind in the backend's spool file (ledger.c's spool, the
 * one the usage ledger uses), so it survives the caller's ROLLBACK, a
 * cancel or a crash; the database's worker moves it into the table, once,
 * in the transaction that moves the spool's other records.  Until it has,
 * the answer is found through a shared-memory index of the spooled answers
 * (fingerprint -> spool file and offset), which the worker empties after
 * each commit; a lookup asks the index first and the table second (with a
 * fresh snapshot), so an answer is never missed while it moves.  When the
 * index is full (PENDING_MAX answers not yet moved: the worker is far
 * behind) an answer is found once the worker has moved it.  The record goes
 * out in the same write(2) as the ledger's record of the request
 * (or_spool_defer), and is indexed before that write, so the worker cannot
 * move it before it is indexed.  A shared filter of the table's fingerprints
 * (loaded by the worker, then kept up to date by it) spares a miss the
 * index scan.  The worker moves a round's answers in one INSERT, in a
 * subtransaction: a failure there is a WARNING, never the ledger's.
 *
 * The pre-send step (or_response_cache_answer, called once by send.c)
 * answers hits, records them in the usage ledger as from_cache with the
 * original answer's cost, and chains onto the schedule's completion
 * callback to keep every answer that arrives.
 *
 * Only answers are kept: a failure, even one that would fail again, is not
 * (the fixed request is a different request; a 402 must not stick).
 * Answers are kept whatever their temperature: see README.md, "Response
 * cache".  openrouter.cache_max_age applies at lookup and both limits are
 * enforced by the worker (or_response_cache_expire).  A cleared role's
 * answers still in the spool are not moved into the table: the clear marks
 * (openrouter_response_cache_cleared) say which.
 *
 * Needs shared_preload_libraries.  Without it the cache is off: inert with
 * the built-in default, an error when openrouter.cache was set on purpose.
 */
#include "openrouter.h"

#include "access/genam.h"
#include "access/htup_details.h"
#include "access/relation.h"
#include "access/table.h"
#include "access/tableam.h"
#include "access/xact.h"
#include "catalog/namespace.h"
#include "catalog/pg_class.h"
#include "catalog/pg_type.h"
#include "common/cryptohash.h"
#include "common/sha2.h"
#include "executor/spi.h"
#include "executor/tuptable.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "port/atomics.h"
#include "storage/ipc.h"
#include "storage/lwlock.h"
#include "storage/proc.h"
#include "storage/shmem.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/hsearch.h"
#include "utils/inval.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/regproc.h"
#include "utils/resowner.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"
#include "utils/syscache.h"
#include "utils/timestamp.h"

#include "ledger.h"
#include "response_cache.h"
#include "shared_state.h"

PG_FUNCTION_INFO_V1(openrouter_cache_clear);

#define CACHE_RECORD_MAGIC 0x4F524331	/* "ORC1" */
#define CACHE_TABLE "openrouter_response_cache"
#define CLEARED_TABLE "openrouter_response_cache_cleared"
#define PENDING_MAX 8192
/* a pending entry older than this is stale: the worker moves answers at once */
#define PENDING_STALE_MS (10 * 60 * 1000)

/* the table's columns, in the order of the upgrade script */
#define ANUM_ROLE_ID 2
#define ANUM_RESPONSE 5
#define ANUM_CREATED_AT 6

int			or_response_cache_mode = OR_RESPONSE_CACHE_ON;
bool		or_response_cache_mode_explicit = false;
int			or_response_cache_max_age = 30 * 24 * 60;
int			or_response_cache_max_size = 1024;

typedef struct Fingerprint
{
	uint8		digest[PG_SHA256_DIGEST_LENGTH];
} Fingerprint;

/* an answer in a spool file, not yet in the table (shared memory) */
typedef struct PendingEntry
{
	Fingerprint fingerprint;	/* hash key: must be first */
	Oid			role_id;
	TimestampTz created_at;
	OrSpoolPosition position;
} PendingEntry;

/*
 * The shared state: the index of spooled answers (its lock and size), and
 * a filter of the fingerprints in the table of each database whose worker
 * has loaded it: a lookup whose fingerprint's two bits are not both set
 * skips the table (a miss costs no index scan).  Bits are set before an
 * answer is committed to the table and never cleared: an answer removed
 * since only costs a scan that finds nothing.
 */
#define FILTER_BITS (1 << 23)	/* 1 MB */
#define FILTER_WORDS (FILTER_BITS / 64)

typedef struct PendingIndex
{
	LWLock	   *lock;
	int			count;			/* entries in "pending" */
	Oid			filtered[OR_MAX_DATABASE_WORKERS];	/* databases the filter covers */
	pg_atomic_uint64 filter[FILTER_WORDS];
} PendingIndex;

/* what the spool record of an answer starts with; model and response follow */
typedef struct CacheRecordFixed
{
	Fingerprint fingerprint;
	Oid			role_id;
	int32		endpoint;
	TimestampTz created_at;
} CacheRecordFixed;

/* one or_send(): the on_done this step chains onto */
typedef struct KeepAnswers
{
	OrExchangeDone next;
	void	   *next_arg;
	Oid			role_id;
	const char *role_name;
} KeepAnswers;

static shmem_request_hook_type previous_shmem_request_hook = NULL;
static shmem_startup_hook_type previous_shmem_startup_hook = NULL;
static PendingIndex *pending_index = NULL;
static HTAB *pending = NULL;

/* this backend's memory of where the table is */
static Oid	cache_relid = InvalidOid;
static LocalTransactionId table_absent_in = InvalidLocalTransactionId;
static bool relcache_callback_registered = false;

/* the worker's round of ingestion */
static MemoryContext ingest_context = NULL;
static SPIPlanPtr ingest_plan = NULL;	/* kept for the worker's life */
static bool ingest_no_table = false;
static List *ingested = NIL;	/* PendingEntry, to forget after the commit */
static HTAB *ingest_rows = NULL;	/* IngestRow, to insert before the commit */
static bool filter_loaded = false;

static void ingest_begin(void);
static void ingest_record(const char *payload, uint32 length,
						  const OrSpoolPosition *position);
static void ingest_end(void);
static void ingest_committed(void);
static bool same_position(const OrSpoolPosition *a, const OrSpoolPosition *b);
static void forget_pending(PendingEntry *entry);

static const OrSpoolKind cache_record_kind = {
	CACHE_RECORD_MAGIC, ingest_begin, ingest_record, ingest_end, ingest_committed
};

/* ---------- shared memory ---------- */

static Size
pending_index_size(void)
{
	return add_size(MAXALIGN(sizeof(PendingIndex)),
					hash_estimate_size(PENDING_MAX, sizeof(PendingEntry)));
}

static void
request_pending_index(void)
{
	if (previous_shmem_request_hook)
		previous_shmem_request_hook();
	RequestAddinShmemSpace(pending_index_size());
	RequestNamedLWLockTranche("openrouter response cache", 1);
}

static void
attach_pending_index(void)
{
	HASHCTL		info;
	bool		found;

	if (previous_shmem_startup_hook)
		previous_shmem_startup_hook();

	LWLockAcquire(AddinShmemInitLock, LW_EXCLUSIVE);
	pending_index = ShmemInitStruct("openrouter response cache", sizeof(PendingIndex), &found);
	if (!found)
	{
		pending_index->lock = &(GetNamedLWLockTranche("openrouter response cache"))->lock;
		pending_index->count = 0;
		memset(pending_index->filtered, 0, sizeof(pending_index->filtered));
		for (int i = 0; i < FILTER_WORDS; i++)
			pg_atomic_init_u64(&pending_index->filter[i], 0);
	}
	memset(&info, 0, sizeof(info));
	info.keysize = sizeof(Fingerprint);
	info.entrysize = sizeof(PendingEntry);
	pending = ShmemInitHash("openrouter response cache: spooled answers",
							PENDING_MAX, PENDING_MAX, &info, HASH_ELEM | HASH_BLOBS);
	LWLockRelease(AddinShmemInitLock);
}

void
or_response_cache_install_hooks(void)
{
	previous_shmem_request_hook = shmem_request_hook;
	shmem_request_hook = request_pending_index;
	previous_shmem_startup_hook = shmem_startup_hook;
	shmem_startup_hook = attach_pending_index;
	or_spool_register_kind(&cache_record_kind);
}

/* ---------- identity ---------- */

static void
fingerprint_of(const OrHttpRequest *request, Oid role_id, const char *role_name,
			   Fingerprint *out)
{
	static const char version[] = "openrouter response cache 1";
	const char *path = or_endpoint_path(request->endpoint);
	const char *base_url = or_base_url ? or_base_url : "";
	struct
	{
		const void *data;
		size_t		len;
	}			parts[] = {
		{version, sizeof(version)},
		{&MyDatabaseId, sizeof(MyDatabaseId)},
		{&role_id, sizeof(role_id)},
		{role_name, strlen(role_name) + 1},
		{base_url, strlen(base_url) + 1},
		{path, strlen(path) + 1},
		{request->body, request->body_len},
	};
	pg_cryptohash_ctx *ctx = pg_cryptohash_create(PG_SHA256);
	bool		ok = (ctx != NULL && pg_cryptohash_init(ctx) == 0);

	for (int i = 0; ok && i < (int) lengthof(parts); i++)
		ok = pg_cryptohash_update(ctx, parts[i].data, parts[i].len) == 0;
	ok = ok && pg_cryptohash_final(ctx, out->digest, sizeof(out->digest)) == 0;
	if (!ok)
		elog(ERROR, "could not compute a SHA-256 digest: %s", pg_cryptohash_error(ctx));
	pg_cryptohash_free(ctx);
}

/* ---------- the filter of fingerprints in the table ---------- */

static void
filter_bits(const Fingerprint *fingerprint, uint32 bit[2])
{
	for (int i = 0; i < 2; i++)
	{
		uint32		v;

		memcpy(&v, fingerprint->digest + 4 * i, sizeof(v));
		bit[i] = v % FILTER_BITS;
	}
}

static void
filter_add(const Fingerprint *fingerprint)
{
	uint32		bit[2];

	filter_bits(fingerprint, bit);
	for (int i = 0; i < 2; i++)
		pg_atomic_fetch_or_u64(&pending_index->filter[bit[i] / 64], UINT64CONST(1) << (bit[i] % 64));
}

/* may the table hold this fingerprint?  (true while the filter is not loaded) */
static bool
filter_may_hold(const Fingerprint *fingerprint)
{
	static bool covered = false;
	uint32		bit[2];

	if (!covered)
	{
		LWLockAcquire(pending_index->lock, LW_SHARED);
		for (int i = 0; i < OR_MAX_DATABASE_WORKERS && !covered; i++)
			covered = (pending_index->filtered[i] == MyDatabaseId);
		LWLockRelease(pending_index->lock);
		if (!covered)
			return true;
	}
	filter_bits(fingerprint, bit);
	for (int i = 0; i < 2; i++)
		if ((pg_atomic_read_u64(&pending_index->filter[bit[i] / 64]) &
			 (UINT64CONST(1) << (bit[i] % 64))) == 0)
			return false;
	return true;
}

/* in the worker, SPI connected: load the filter with the table's fingerprints */
static void
filter_load(const char *table)
{
	Portal		portal;
	int			slot = -1;

	for (int i = 0; i < OR_MAX_DATABASE_WORKERS; i++)
		if (pending_index->filtered[i] == MyDatabaseId)
			return;
	portal = SPI_cursor_open_with_args(NULL, psprintf("SELECT fingerprint FROM %s", table),
									   0, NULL, NULL, NULL, true, 0);
	for (;;)
	{
		SPI_cursor_fetch(portal, true, 10000);
		if (SPI_processed == 0)
			break;
		for (uint64 i = 0; i < SPI_processed; i++)
		{
			bool		isnull;
			bytea	   *value = DatumGetByteaPP(SPI_getbinval(SPI_tuptable->vals[i],
															  SPI_tuptable->tupdesc, 1, &isnull));

			if (!isnull && VARSIZE_ANY_EXHDR(value) == sizeof(Fingerprint))
				filter_add((const Fingerprint *) VARDATA_ANY(value));
		}
		SPI_freetuptable(SPI_tuptable);
	}
	SPI_cursor_close(portal);
	LWLockAcquire(pending_index->lock, LW_EXCLUSIVE);
	for (int i = 0; i < OR_MAX_DATABASE_WORKERS && slot < 0; i++)
		if (pending_index->filtered[i] == InvalidOid)
			slot = i;
	/* (no slot: the filter does not cover this database, lookups scan) */
	if (slot >= 0)
		pending_index->filtered[slot] = MyDatabaseId;
	LWLockRelease(pending_index->lock);
}

/* the oldest created_at a lookup accepts */
static TimestampTz
oldest_accepted(void)
{
	if (or_response_cache_max_age <= 0)
		return DT_NOBEGIN;
	return TimestampTzPlusMilliseconds(GetCurrentTimestamp(),
									   -(int64) or_response_cache_max_age * 60 * 1000);
}

/* ---------- the spooled answers ---------- */

static void
encode_record(const CacheRecordFixed *fixed, const char *model, const Jsonb *response,
			  StringInfo buf)
{
	appendBinaryStringInfo(buf, (const char *) fixed, sizeof(*fixed));
	or_spool_append_string(buf, model);
	appendBinaryStringInfo(buf, (const char *) response, VARSIZE(response));
}

/* the parts of a record; false when it is malformed */
static bool
decode_record(const char *payload, uint32 length, CacheRecordFixed *fixed,
			  char **model, Jsonb **response)
{
	const char *cursor = payload + sizeof(*fixed);
	const char *end = payload + length;
	int32		len;

	if (length < sizeof(*fixed) + sizeof(len))
		return false;
	memcpy(fixed, payload, sizeof(*fixed));
	memcpy(&len, cursor, sizeof(len));
	cursor += sizeof(len);
	if (len > end - cursor)
		return false;
	*model = len < 0 ? NULL : pnstrdup(cursor, len);
	cursor += Max(len, 0);
	if (end - cursor < VARHDRSZ)
		return false;
	*response = palloc(end - cursor);
	memcpy(*response, cursor, end - cursor);
	return VARSIZE(*response) == (Size) (end - cursor);
}

/* the answer a pending entry points to, if the record is (still) there */
static bool
read_spooled(const PendingEntry *entry, Jsonb **response)
{
	StringInfoData buf;
	CacheRecordFixed fixed;
	char	   *model;
	bool		ok;

	initStringInfo(&buf);
	ok = or_spool_read(&entry->position, CACHE_RECORD_MAGIC, &buf) &&
		decode_record(buf.data, buf.len, &fixed, &model, response) &&
		memcmp(&fixed.fingerprint, &entry->fingerprint, sizeof(Fingerprint)) == 0;
	pfree(buf.data);
	return ok;
}

static bool
lookup_spooled(const Fingerprint *fingerprint, Oid role_id, TimestampTz oldest,
			   Jsonb **response)
{
	PendingEntry entry;
	PendingEntry *found;

	LWLockAcquire(pending_index->lock, LW_SHARED);
	found = hash_search(pending, fingerprint, HASH_FIND, NULL);
	if (found != NULL)
		entry = *found;
	LWLockRelease(pending_index->lock);
	return found != NULL && entry.role_id == role_id && entry.created_at >= oldest &&
		read_spooled(&entry, response);
}

/* ---------- the table ---------- */

static void
forget_table(Datum arg, Oid relid)
{
	if (relid == InvalidOid || relid == cache_relid)
		cache_relid = InvalidOid;
}

/* the cache table's OID, or InvalidOid (an extension of version 1.0) */
static Oid
cache_table(void)
{
	char	   *name;

	if (OidIsValid(cache_relid) || table_absent_in == MyProc->lxid)
		return cache_relid;
	if (!relcache_callback_registered)
	{
		CacheRegisterRelcacheCallback(forget_table, (Datum) 0);
		relcache_callback_registered = true;
	}
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	name = or_extension_table(CACHE_TABLE);
	if (name != NULL)
		cache_relid = RangeVarGetRelid(makeRangeVarFromNameList(stringToQualifiedNameList(name)),
									   NoLock, true);
	SPI_finish();
	if (!OidIsValid(cache_relid))
		table_absent_in = MyProc->lxid;
	return cache_relid;
}

static bool
lookup_table(const Fingerprint *fingerprint, Oid role_id, TimestampTz oldest,
			 Jsonb **response)
{
	Oid			relid = cache_table();
	Relation	rel;
	Relation	index;
	Snapshot	snapshot;
	IndexScanDesc scan;
	TupleTableSlot *slot;
	ScanKeyData key;
	bytea	   *value;
	bool		found = false;

	if (!OidIsValid(relid))
		return false;
	value = palloc(VARHDRSZ + sizeof(Fingerprint));
	SET_VARSIZE(value, VARHDRSZ + sizeof(Fingerprint));
	memcpy(VARDATA(value), fingerprint->digest, sizeof(Fingerprint));

	rel = table_open(relid, AccessShareLock);
	index = index_open(RelationGetPrimaryKeyIndex(rel), AccessShareLock);
	/* what the worker committed a moment ago, whatever this transaction's snapshot */
	snapshot = RegisterSnapshot(GetLatestSnapshot());
	ScanKeyInit(&key, 1, BTEqualStrategyNumber, F_BYTEAEQ, PointerGetDatum(value));
	scan = index_beginscan(rel, index, snapshot, 1, 0);
	index_rescan(scan, &key, 1, NULL, 0);
	slot = table_slot_create(rel, NULL);
	if (index_getnext_slot(scan, ForwardScanDirection, slot))
	{
		bool		isnull_role,
					isnull_created,
					isnull_response;
		Datum		role = slot_getattr(slot, ANUM_ROLE_ID, &isnull_role);
		Datum		created = slot_getattr(slot, ANUM_CREATED_AT, &isnull_created);
		Datum		answer = slot_getattr(slot, ANUM_RESPONSE, &isnull_response);

		if (!isnull_role && !isnull_created && !isnull_response &&
			DatumGetObjectId(role) == role_id && DatumGetTimestampTz(created) >= oldest)
		{
			*response = DatumGetJsonbPCopy(answer);
			found = true;
		}
	}
	ExecDropSingleTupleTableSlot(slot);
	index_endscan(scan);
	UnregisterSnapshot(snapshot);
	index_close(index, AccessShareLock);
	table_close(rel, AccessShareLock);
	pfree(value);
	return found;
}

/* ---------- the pre-send step ---------- */

/*
 * Index an answer's spool record (before it is written: the worker may move
 * it as soon as it is), or with forget, take it out again (a failed write).
 */
static void
index_spooled(const CacheRecordFixed *fixed, const OrSpoolPosition *position, bool forget)
{
	PendingEntry *entry;
	bool		found;

	LWLockAcquire(pending_index->lock, LW_EXCLUSIVE);
	if (forget)
	{
		entry = hash_search(pending, &fixed->fingerprint, HASH_FIND, NULL);
		if (entry != NULL && same_position(&entry->position, position))
			forget_pending(entry);
	}
	else
	{
		entry = pending_index->count < PENDING_MAX ?
			hash_search(pending, &fixed->fingerprint, HASH_ENTER_NULL, &found) :
			hash_search(pending, &fixed->fingerprint, HASH_FIND, &found);
		if (entry != NULL)
		{
			if (!found)
				pending_index->count++;
			entry->role_id = fixed->role_id;
			entry->created_at = fixed->created_at;
			entry->position = *position;
		}
	}
	LWLockRelease(pending_index->lock);
}

/*
 * Keep an answer that arrived: spool it (deferred, to go out in one write
 * with the ledger's record of the same request) and index it until the
 * worker has moved it.
 */
static void
keep_answer(const OrExchange *exchange, void *arg)
{
	KeepAnswers *keep = arg;
	CacheRecordFixed fixed;
	OrSpoolPosition position;
	bool		deferred = false;

	if (exchange->result != NULL && exchange->request.body != NULL &&
		VARSIZE(exchange->result) < OR_SPOOL_MAX_PAYLOAD - 1024 &&
		(exchange->request.model == NULL || strlen(exchange->request.model) < 1024))
	{
		StringInfoData buf;

		memset(&fixed, 0, sizeof(fixed));
		fingerprint_of(&exchange->request, keep->role_id, keep->role_name, &fixed.fingerprint);
		fixed.role_id = keep->role_id;
		fixed.endpoint = exchange->request.endpoint;
		fixed.created_at = GetCurrentTimestamp();
		initStringInfo(&buf);
		encode_record(&fixed, exchange->request.model, exchange->result, &buf);
		deferred = or_spool_defer(CACHE_RECORD_MAGIC, &buf, &position);
		if (deferred)
			index_spooled(&fixed, &position, false);
		pfree(buf.data);
	}
	if (keep->next != NULL)
		keep->next(exchange, keep->next_arg);
	if (!or_spool_flush() && deferred)
		index_spooled(&fixed, &position, true);
}

int
or_response_cache_answer(OrExchange **exchanges, int count, OrSchedule *schedule)
{
	KeepAnswers *keep;
	TimestampTz oldest;
	int			n_to_send = 0;

	if (or_response_cache_mode == OR_RESPONSE_CACHE_OFF || count == 0)
		return count;
	if (or_shared == NULL || pending == NULL)
	{
		/* inert with the built-in default; set on purpose, it says why not */
		if (or_response_cache_mode_explicit)
			or_require_shared_state("the response cache (openrouter.cache)");
		return count;
	}
	if (!or_spool_active())
		return count;

	keep = palloc(sizeof(KeepAnswers));
	keep->next = schedule->on_done;
	keep->next_arg = schedule->on_done_arg;
	keep->role_id = GetUserId();
	keep->role_name = GetUserNameFromId(keep->role_id, false);
	schedule->on_done = keep_answer;
	schedule->on_done_arg = keep;

	oldest = oldest_accepted();
	for (int i = 0; i < count; i++)
	{
		OrExchange *exchange = exchanges[i];
		instr_time	start;
		instr_time	duration;
		Fingerprint fingerprint;
		Jsonb	   *response = NULL;

		if (or_response_cache_mode == OR_RESPONSE_CACHE_ON && exchange->request.body != NULL)
		{
			INSTR_TIME_SET_CURRENT(start);
			fingerprint_of(&exchange->request, keep->role_id, keep->role_name, &fingerprint);
			if (lookup_spooled(&fingerprint, keep->role_id, oldest, &response) ||
				(filter_may_hold(&fingerprint) &&
				 lookup_table(&fingerprint, keep->role_id, oldest, &response)))
			{
				INSTR_TIME_SET_CURRENT(duration);
				INSTR_TIME_SUBTRACT(duration, start);
				exchange->result = response;
				exchange->failure = NULL;
				exchange->attempts = 0;
				exchange->http_status = 0;
				exchange->latency_ms = INSTR_TIME_GET_MILLISEC(duration);
				/* in the ledger: what the original request cost */
				or_ledger_write_exchange(exchange, true);
				continue;
			}
		}
		exchanges[n_to_send++] = exchange;
	}
	return n_to_send;
}

/* ---------- the worker's side ---------- */

static void
ingest_begin(void)
{
	if (ingest_context == NULL)
		ingest_context = AllocSetContextCreate(TopMemoryContext, "openrouter response cache ingestion",
											   ALLOCSET_SMALL_SIZES);
	MemoryContextReset(ingest_context);
	ingested = NIL;
	ingest_rows = NULL;
	ingest_no_table = false;
	if (!filter_loaded)
	{
		char	   *table = or_extension_table(CACHE_TABLE);

		if (table != NULL)
		{
			filter_load(table);
			filter_loaded = true;
		}
	}
}

static void
prepare_ingest_plan(void)
{
	char	   *table = or_extension_table(CACHE_TABLE);
	char	   *cleared = or_extension_table(CLEARED_TABLE);
	Oid			argtypes[7] = {BYTEAARRAYOID, OIDARRAYOID, TEXTARRAYOID, TEXTARRAYOID,
		JSONBARRAYOID, TIMESTAMPTZARRAYOID, INT4ARRAYOID};

	if (table == NULL || cleared == NULL)
	{
		ingest_no_table = true;
		return;
	}
	/*
	 * A cleared role's answer is not moved in; a newer answer replaces an
	 * older one.  One generic plan for the worker's life (the plan cache
	 * replans it if the tables change).
	 */
	ingest_plan = SPI_prepare_cursor(psprintf("INSERT INTO %s AS c (fingerprint, role_id, endpoint, model,"
											  " response, created_at, bytes)"
											  " SELECT u.f, u.r, u.e, u.m, u.j, u.t, u.b"
											  " FROM ROWS FROM (pg_catalog.unnest($1), pg_catalog.unnest($2), pg_catalog.unnest($3),"
											  "  pg_catalog.unnest($4), pg_catalog.unnest($5), pg_catalog.unnest($6),"
											  "  pg_catalog.unnest($7)) AS u(f, r, e, m, j, t, b)"
											  " WHERE NOT EXISTS (SELECT FROM %s k"
											  "  WHERE (k.role_id OPERATOR(pg_catalog.=) u.r"
											  "         OR k.role_id OPERATOR(pg_catalog.=) 0::pg_catalog.oid)"
											  "    AND k.cleared_at OPERATOR(pg_catalog.>=) u.t)"
											  " ON CONFLICT (fingerprint) DO UPDATE"
											  " SET model = excluded.model, response = excluded.response,"
											  "     created_at = excluded.created_at, bytes = excluded.bytes"
											  " WHERE c.created_at OPERATOR(pg_catalog.<=) excluded.created_at",
											  table, cleared),
									 7, argtypes, CURSOR_OPT_GENERIC_PLAN);
	if (ingest_plan == NULL || SPI_keepplan(ingest_plan) != 0)
		elog(ERROR, "could not prepare the response cache's insert: %s",
			 SPI_result_code_string(SPI_result));
}

/* one answer to move into the table (the newest of its fingerprint in the round) */
typedef struct IngestRow
{
	Fingerprint fingerprint;	/* hash key: must be first */
	CacheRecordFixed fixed;
	char	   *model;
	Jsonb	   *response;
} IngestRow;

#define INGEST_BATCH 1000

/* insert the gathered answers, in one statement */
static void
ingest_flush(void)
{
	int			n = hash_get_num_entries(ingest_rows);
	Datum	   *columns[7];
	bool	   *model_nulls;
	Datum		values[7];
	HASH_SEQ_STATUS status;
	IngestRow  *row;
	int			i = 0;
	int			dims[1] = {n};
	int			lbs[1] = {1};
	MemoryContext context = CurrentMemoryContext;
	ResourceOwner owner = CurrentResourceOwner;

	if (n == 0)
		return;
	for (int c = 0; c < 7; c++)
		columns[c] = palloc(n * sizeof(Datum));
	model_nulls = palloc(n * sizeof(bool));
	hash_seq_init(&status, ingest_rows);
	while ((row = hash_seq_search(&status)) != NULL)
	{
		bytea	   *fingerprint = palloc(VARHDRSZ + sizeof(Fingerprint));

		SET_VARSIZE(fingerprint, VARHDRSZ + sizeof(Fingerprint));
		memcpy(VARDATA(fingerprint), row->fingerprint.digest, sizeof(Fingerprint));
		columns[0][i] = PointerGetDatum(fingerprint);
		columns[1][i] = ObjectIdGetDatum(row->fixed.role_id);
		columns[2][i] = CStringGetTextDatum(or_endpoint_path((OrEndpoint) row->fixed.endpoint));
		columns[3][i] = row->model ? CStringGetTextDatum(row->model) : (Datum) 0;
		model_nulls[i] = (row->model == NULL);
		columns[4][i] = JsonbPGetDatum(row->response);
		columns[5][i] = TimestampTzGetDatum(row->fixed.created_at);
		columns[6][i] = Int32GetDatum((int32) VARSIZE(row->response));
		i++;
	}
	values[0] = PointerGetDatum(construct_array(columns[0], n, BYTEAOID, -1, false, TYPALIGN_INT));
	values[1] = PointerGetDatum(construct_array(columns[1], n, OIDOID, sizeof(Oid), true, TYPALIGN_INT));
	values[2] = PointerGetDatum(construct_array(columns[2], n, TEXTOID, -1, false, TYPALIGN_INT));
	values[3] = PointerGetDatum(construct_md_array(columns[3], model_nulls, 1, dims, lbs,
												   TEXTOID, -1, false, TYPALIGN_INT));
	values[4] = PointerGetDatum(construct_array(columns[4], n, JSONBOID, -1, false, TYPALIGN_INT));
	values[5] = PointerGetDatum(construct_array(columns[5], n, TIMESTAMPTZOID, sizeof(TimestampTz),
												FLOAT8PASSBYVAL, TYPALIGN_DOUBLE));
	values[6] = PointerGetDatum(construct_array(columns[6], n, INT4OID, sizeof(int32), true, TYPALIGN_INT));
	/* in a subtransaction: a failure here must not stop the usage ledger */
	BeginInternalSubTransaction(NULL);
	MemoryContextSwitchTo(context);
	PG_TRY();
	{
		if (SPI_execute_plan(ingest_plan, values, NULL, false, 0) != SPI_OK_INSERT)
			elog(ERROR, "could not insert into the response cache");
		ReleaseCurrentSubTransaction();
	}
	PG_CATCH();
	{
		ErrorData  *edata;

		MemoryContextSwitchTo(context);
		edata = CopyErrorData();
		FlushErrorState();
		RollbackAndReleaseCurrentSubTransaction();
		ereport(WARNING,
				(errmsg_plural("could not move %d answer into the response cache: %s",
							   "could not move %d answers into the response cache: %s",
							   n, n, edata->message),
				 errdetail("Those answers are not cached; the usage ledger is not affected.")));
		FreeErrorData(edata);
		/* prepared again next time */
		SPI_freeplan(ingest_plan);
		ingest_plan = NULL;
	}
	PG_END_TRY();
	MemoryContextSwitchTo(context);
	CurrentResourceOwner = owner;
	hash_destroy(ingest_rows);
	ingest_rows = NULL;
}

static void
ingest_record(const char *payload, uint32 length, const OrSpoolPosition *position)
{
	CacheRecordFixed fixed;
	char	   *model;
	Jsonb	   *response;
	MemoryContext old;
	PendingEntry *entry;
	IngestRow  *row;
	bool		found;

	if (ingest_plan == NULL && !ingest_no_table)
		prepare_ingest_plan();
	if (ingest_no_table)
		return;

	old = MemoryContextSwitchTo(ingest_context);
	if (!decode_record(payload, length, &fixed, &model, &response))
	{
		MemoryContextSwitchTo(old);
		return;
	}
	filter_add(&fixed.fingerprint);
	if (ingest_rows == NULL)
	{
		HASHCTL		ctl;

		memset(&ctl, 0, sizeof(ctl));
		ctl.keysize = sizeof(Fingerprint);
		ctl.entrysize = sizeof(IngestRow);
		ctl.hcxt = ingest_context;
		ingest_rows = hash_create("openrouter answers to move", INGEST_BATCH, &ctl,
								  HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
	}
	/* (the same request twice in a round: the newer answer) */
	row = hash_search(ingest_rows, &fixed.fingerprint, HASH_ENTER, &found);
	if (!found || row->fixed.created_at <= fixed.created_at)
	{
		row->fixed = fixed;
		row->model = model;
		row->response = response;
	}

	/* its index entry goes once this is committed */
	entry = palloc(sizeof(PendingEntry));
	entry->fingerprint = fixed.fingerprint;
	entry->position = *position;
	ingested = lappend(ingested, entry);
	MemoryContextSwitchTo(old);

	if (hash_get_num_entries(ingest_rows) >= INGEST_BATCH)
		ingest_flush();
}

static void
ingest_end(void)
{
	if (ingest_rows != NULL && ingest_plan != NULL)
		ingest_flush();
}

static bool
same_position(const OrSpoolPosition *a, const OrSpoolPosition *b)
{
	return a->pid == b->pid && a->session_start == b->session_start && a->offset == b->offset;
}

/* forget one index entry (caller holds the lock exclusively) */
static void
forget_pending(PendingEntry *entry)
{
	hash_search(pending, &entry->fingerprint, HASH_REMOVE, NULL);
	pending_index->count--;
}

static void
ingest_committed(void)
{
	ListCell   *lc;

	if (ingested == NIL || pending == NULL)
		return;
	LWLockAcquire(pending_index->lock, LW_EXCLUSIVE);
	foreach(lc, ingested)
	{
		PendingEntry *moved = lfirst(lc);
		PendingEntry *entry = hash_search(pending, &moved->fingerprint, HASH_FIND, NULL);

		/* (a newer answer to the same request stays until it is moved too) */
		if (entry != NULL && same_position(&entry->position, &moved->position))
			forget_pending(entry);
	}
	LWLockRelease(pending_index->lock);
	ingested = NIL;
	MemoryContextReset(ingest_context);
}

/*
 * Forget the index entries of a role (or of all), or the stale ones; returns
 * how many were forgotten, not counting those whose fingerprint is in
 * "counted" (answers already counted as removed from the table).
 */
static int64
forget_pending_entries(Oid role_id, bool all, TimestampTz stale_before, HTAB *counted)
{
	HASH_SEQ_STATUS status;
	PendingEntry *entry;
	int64		forgotten = 0;

	if (pending == NULL)
		return 0;
	LWLockAcquire(pending_index->lock, LW_EXCLUSIVE);
	hash_seq_init(&status, pending);
	while ((entry = hash_seq_search(&status)) != NULL)
	{
		if (all || entry->role_id == role_id || entry->created_at < stale_before)
		{
			if (counted == NULL || hash_search(counted, &entry->fingerprint, HASH_FIND, NULL) == NULL)
				forgotten++;
			forget_pending(entry);
		}
	}
	LWLockRelease(pending_index->lock);
	return forgotten;
}

/*
 * Remove the answers older than openrouter.cache_max_age, the oldest ones
 * beyond openrouter.cache_max_size, and those of roles that no longer
 * exist.  Runs in the database's worker, outside any transaction.
 */
int64
or_response_cache_expire(void)
{
	char	   *table;
	int64		removed = 0;

	(void) forget_pending_entries(InvalidOid, false,
								  TimestampTzPlusMilliseconds(GetCurrentTimestamp(), -PENDING_STALE_MS),
								  NULL);
	StartTransactionCommand();
	PushActiveSnapshot(GetTransactionSnapshot());
	SPI_connect();
	table = or_extension_table(CACHE_TABLE);
	if (table != NULL)
	{
		List	   *deletes = NIL;
		ListCell   *lc;

		if (or_response_cache_max_age > 0)
			deletes = lappend(deletes,
							  psprintf("DELETE FROM %s WHERE created_at OPERATOR(pg_catalog.<)"
									   " (pg_catalog.now() OPERATOR(pg_catalog.-) pg_catalog.make_interval(mins => %d))",
									   table, or_response_cache_max_age));
		deletes = lappend(deletes,
						  psprintf("DELETE FROM %s c WHERE NOT EXISTS (SELECT FROM pg_catalog.pg_authid a"
								   " WHERE a.oid OPERATOR(pg_catalog.=) c.role_id)", table));
		if (or_response_cache_max_size > 0)
			deletes = lappend(deletes,
							  psprintf("DELETE FROM %s WHERE fingerprint IN (SELECT fingerprint FROM"
									   " (SELECT fingerprint, pg_catalog.sum(bytes) OVER (ORDER BY created_at DESC, fingerprint)"
									   "  AS total FROM %s) s WHERE total OPERATOR(pg_catalog.>) " INT64_FORMAT ")",
									   table, table, (int64) or_response_cache_max_size * 1024 * 1024));
		foreach(lc, deletes)
		{
			if (SPI_execute(lfirst(lc), false, 0) != SPI_OK_DELETE)
				elog(ERROR, "could not remove expired entries of the response cache");
			removed += SPI_processed;
		}
	}
	SPI_finish();
	PopActiveSnapshot();
	CommitTransactionCommand();
	return removed;
}

/* ---------- openrouter_cache_clear ---------- */

static Oid
table_owner(Oid relid)
{
	HeapTuple	tuple = SearchSysCache1(RELOID, ObjectIdGetDatum(relid));
	Oid			owner;

	if (!HeapTupleIsValid(tuple))
		elog(ERROR, "cache lookup failed for relation %u", relid);
	owner = ((Form_pg_class) GETSTRUCT(tuple))->relowner;
	ReleaseSysCache(tuple);
	return owner;
}

/*
 * openrouter_cache_clear(all_roles boolean DEFAULT false) RETURNS bigint
 *		Remove the calling role's cached answers (every role's, for a
 *		superuser with all_roles); returns how many were removed.
 */
Datum
openrouter_cache_clear(PG_FUNCTION_ARGS)
{
	bool		all = !PG_ARGISNULL(0) && PG_GETARG_BOOL(0);
	Oid			role_id = GetUserId();
	Oid			owner;
	Oid			saved_user;
	int			saved_sec_context;
	char	   *table;
	char	   *cleared;
	int64		removed = 0;
	Oid			argtypes[1] = {OIDOID};
	Datum		args[1];
	HASHCTL		ctl;
	HTAB	   *deleted;
	MemoryContext caller_context = CurrentMemoryContext;

	if (all && !superuser())
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("permission denied to clear the cached answers of every role"),
				 errdetail("Only superusers may clear the answers of other roles."),
				 errhint("Call openrouter_cache_clear() without all_roles to clear your own.")));

	/* as the table's owner: no role reads or writes it directly */
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	table = or_extension_table(CACHE_TABLE);
	cleared = or_extension_table(CLEARED_TABLE);
	if (table == NULL || cleared == NULL)
		elog(ERROR, "the openrouter extension's response cache table is missing");
	owner = table_owner(RangeVarGetRelid(makeRangeVarFromNameList(stringToQualifiedNameList(table)),
										 NoLock, false));
	GetUserIdAndSecContext(&saved_user, &saved_sec_context);
	SetUserIdAndSecContext(owner, saved_sec_context | SECURITY_LOCAL_USERID_CHANGE |
						   SECURITY_RESTRICTED_OPERATION);
	args[0] = ObjectIdGetDatum(all ? InvalidOid : role_id);
	if (SPI_execute_with_args(psprintf("DELETE FROM %s WHERE $1 OPERATOR(pg_catalog.=) 0::pg_catalog.oid"
									   " OR role_id OPERATOR(pg_catalog.=) $1 RETURNING fingerprint", table),
							  1, argtypes, args, NULL, false, 0) != SPI_OK_DELETE_RETURNING)
		elog(ERROR, "could not clear the response cache");
	removed = SPI_processed;
	/* (an answer moved into the table a moment ago may still be indexed too) */
	memset(&ctl, 0, sizeof(ctl));
	ctl.keysize = ctl.entrysize = sizeof(Fingerprint);
	ctl.hcxt = caller_context;
	deleted = hash_create("openrouter cleared answers", Max(removed, 16), &ctl,
						  HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
	for (uint64 i = 0; i < SPI_processed; i++)
	{
		bool		isnull;
		bytea	   *fingerprint = DatumGetByteaPP(SPI_getbinval(SPI_tuptable->vals[i],
															  SPI_tuptable->tupdesc, 1, &isnull));

		if (!isnull && VARSIZE_ANY_EXHDR(fingerprint) == sizeof(Fingerprint))
			hash_search(deleted, VARDATA_ANY(fingerprint), HASH_ENTER, NULL);
	}
	/* answers of the role still in the spool are not moved in after this */
	if (SPI_execute_with_args(psprintf("INSERT INTO %s (role_id, cleared_at) VALUES ($1, pg_catalog.clock_timestamp())"
									   " ON CONFLICT (role_id) DO UPDATE SET cleared_at = excluded.cleared_at",
									   cleared),
							  1, argtypes, args, NULL, false, 0) != SPI_OK_INSERT)
		elog(ERROR, "could not clear the response cache");
	SetUserIdAndSecContext(saved_user, saved_sec_context);
	SPI_finish();

	removed += forget_pending_entries(role_id, all, DT_NOBEGIN, deleted);
	hash_destroy(deleted);
	PG_RETURN_INT64(removed);
}
