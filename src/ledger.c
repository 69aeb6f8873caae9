/*
 * ledger.c
 *		The usage ledger: what every request cost, kept whatever becomes of
 *		the transaction that sent it.
 *
 * A backend cannot write a table row that survives its own rollback, so it
 * appends each record to a spool file of its own (pg_openrouter/spool/
 * <database>.<pid>.<session start>, one write(2) per record, with a CRC)
 * before the answer is returned: the record then survives a ROLLBACK, a
 * cancel, and a kill -9 of the backend.  The database's background worker
 * (worker.c) moves the records into the table openrouter_usage_log, in
 * transactions that also advance the file's ingested offset in
 * openrouter_ledger_spool, so every record is ingested exactly once; a file
 * whose backend is gone (shared_state.c says which are alive) is removed
 * once it is ingested whole.
 *
 * The spool carries other kinds of records too (or_spool_register_kind):
 * each begins with its own magic number, and the worker hands it to its
 * kind's ingest function in the same transaction, so that it is moved
 * exactly once as well (the response cache's answers, response_cache.c).
 * or_spool_read() reads one record back, for a backend that needs it before
 * the worker moved it.  A record may be deferred (or_spool_defer) to go
 * out with the next one in the same write(2).
 *
 * A record is made from a finished exchange in one place,
 * or_ledger_write_exchange(), for requests sent (send.c) and for answers
 * the response cache gave instead (response_cache.c).
 *
 * The ledger needs the worker, hence shared_preload_libraries: without it
 * nothing is spooled.  Rules kept here: writing a record never raises an
 * ERROR (a full disk gives one WARNING per session and the call goes on);
 * the key is never part of a record.
 */
#include "postgres.h"

#include <fcntl.h>
#include <sys/uio.h>
#include <unistd.h>

#include "access/xact.h"
#include "catalog/pg_type.h"
#include "common/file_perm.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "port/pg_crc32c.h"
#include "storage/fd.h"
#include "storage/ipc.h"
#include "storage/lmgr.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/numeric.h"
#include "utils/snapmgr.h"
#include "utils/syscache.h"
#include "utils/timestamp.h"

#include "jsonb_util.h"
#include "ledger.h"
#include "scheduler.h"
#include "shared_state.h"

#define LEDGER_DIRECTORY "pg_openrouter"
#define SPOOL_DIRECTORY "pg_openrouter/spool"
#define RECORD_MAGIC 0x4F524C31	/* "ORL1" */
#define INGEST_CHUNK_BYTES (8 * 1024 * 1024)
#define N_RECORD_STRINGS 6

bool		or_usage_ledger = true;
int			or_usage_retention_days = 90;

/* on disk: a header, the fixed part, then N_RECORD_STRINGS strings */
typedef struct SpoolRecordHeader
{
	uint32		magic;
	uint32		length;			/* of what follows the header */
	pg_crc32c	crc;			/* of what follows the header */
} SpoolRecordHeader;

typedef struct SpoolRecordFixed
{
	TimestampTz finished_at;
	Oid			role_id;
	Oid			table_oid;
	int64		prompt_tokens;
	int64		completion_tokens;
	int64		reasoning_tokens;
	int64		cached_tokens;
	double		latency_ms;
	int32		attempts;
	int32		http_status;
	char		failure[6];
	bool		from_cache;
} SpoolRecordFixed;

/* this backend's spool file, and where its next record goes */
static int	spool_fd = -1;
static uint64 spool_end = 0;
static bool spool_warned = false;

/* records to write with the next one (or_spool_defer), in TopMemoryContext */
static StringInfoData spool_deferred = {NULL, 0, 0, 0};
static bool spool_deferred_lost = false;

/* the other kinds of records (or_spool_register_kind) */
#define MAX_SPOOL_KINDS 4
static const OrSpoolKind *spool_kinds[MAX_SPOOL_KINDS];
static int	n_spool_kinds = 0;

/* the worker's memory for one round of ingestion */
static MemoryContext ingest_context = NULL;

void
or_usage_record_init(OrUsageRecord *record)
{
	memset(record, 0, sizeof(*record));
	record->finished_at = GetCurrentTimestamp();
	record->role_id = GetUserId();
	record->prompt_tokens = record->completion_tokens = -1;
	record->reasoning_tokens = record->cached_tokens = -1;
}

/* a JSON number as int64, or -1 when absent, not a number or out of range */
static int64
json_count(JsonbContainer *object, const char *key)
{
	JsonbValue *v = object ? jb_object_get(object, key) : NULL;
	char	   *text;
	char	   *end;
	long long	n;

	if (v == NULL || v->type != jbvNumeric || numeric_is_nan(v->val.numeric))
		return -1;
	text = DatumGetCString(DirectFunctionCall1(numeric_out, NumericGetDatum(v->val.numeric)));
	errno = 0;
	n = strtoll(text, &end, 10);
	if (errno != 0 || *end != '\0' || n < 0)
		return -1;
	return (int64) n;
}

/* what an answer says of itself: served model, provider, id, tokens, cost */
void
or_usage_from_response(OrUsageRecord *record, Jsonb *response)
{
	JsonbContainer *root;
	JsonbContainer *usage;
	JsonbValue *cost;

	if (response == NULL || !JB_ROOT_IS_OBJECT(response))
		return;
	root = &response->root;
	record->model_served = jb_object_get_string(root, "model");
	record->provider = jb_object_get_string(root, "provider");
	record->generation_id = jb_object_get_string(root, "id");
	usage = jb_object_get_container(root, "usage");
	if (usage == NULL)
		return;
	record->prompt_tokens = json_count(usage, "prompt_tokens");
	record->completion_tokens = json_count(usage, "completion_tokens");
	record->reasoning_tokens = json_count(jb_object_get_container(usage, "completion_tokens_details"),
										  "reasoning_tokens");
	record->cached_tokens = json_count(jb_object_get_container(usage, "prompt_tokens_details"),
									   "cached_tokens");
	cost = jb_object_get(usage, "cost");
	if (cost != NULL && cost->type == jbvNumeric && !numeric_is_nan(cost->val.numeric))
		record->cost = DatumGetCString(DirectFunctionCall1(numeric_out,
														   NumericGetDatum(cost->val.numeric)));
}

/* can this session spool records (a backend of a database, library preloaded)? */
bool
or_spool_active(void)
{
	return or_shared != NULL && MyBackendId != InvalidBackendId && OidIsValid(MyDatabaseId);
}

/* is the ledger kept in this session? */
bool
or_ledger_active(void)
{
	return or_usage_ledger && or_spool_active();
}

/* from _PG_init: records of this kind are ingested by kind->ingest */
void
or_spool_register_kind(const OrSpoolKind *kind)
{
	for (int i = 0; i < n_spool_kinds; i++)
		if (spool_kinds[i]->magic == kind->magic)
			return;
	if (n_spool_kinds >= MAX_SPOOL_KINDS || kind->magic == RECORD_MAGIC)
		elog(ERROR, "could not register a spool record kind");
	spool_kinds[n_spool_kinds++] = kind;
}

static const OrSpoolKind *
spool_kind(uint32 magic)
{
	for (int i = 0; i < n_spool_kinds; i++)
		if (spool_kinds[i]->magic == magic)
			return spool_kinds[i];
	return NULL;
}

static void
spool_warning(const char *what)
{
	if (spool_warned)
		return;
	spool_warned = true;
	ereport(WARNING,
			(errcode_for_file_access(),
			 errmsg("could not %s the usage ledger's spool file: %m", what),
			 errdetail("Requests of this session are not recorded in openrouter_usage from now on."),
			 errhint("Check the free space and permissions of the directory \"%s\" in the data directory.",
					 SPOOL_DIRECTORY)));
}

static void
spool_file_name(char *path, Oid database, pid_t pid, TimestampTz session_start)
{
	snprintf(path, MAXPGPATH, "%s/%u.%d." INT64_FORMAT, SPOOL_DIRECTORY,
			 database, (int) pid, (int64) session_start);
}

/* at backend exit: close the file, and say it is no longer being written */
static void
close_spool(int code, Datum arg)
{
	if (spool_fd >= 0)
	{
		close(spool_fd);
		ReleaseExternalFD();
		spool_fd = -1;
	}
	if (or_shared != NULL && MyBackendId != InvalidBackendId)
	{
		LWLockAcquire(or_shared->lock, LW_EXCLUSIVE);
		or_shared->spool_writers[MyBackendId].pid = 0;
		LWLockRelease(or_shared->lock);
	}
}

static bool
open_spool(void)
{
	char		path[MAXPGPATH];

	if (spool_fd >= 0)
		return true;
	if (spool_warned)
		return false;
	if ((MakePGDirectory(LEDGER_DIRECTORY) < 0 && errno != EEXIST) ||
		(MakePGDirectory(SPOOL_DIRECTORY) < 0 && errno != EEXIST))
	{
		spool_warning("create the directory of");
		return false;
	}
	if (!AcquireExternalFD())
	{
		spool_warning("open");
		return false;
	}
	/*
	 * Live before the file exists: a worker that lists the new file must not
	 * take it for a dead backend's, ingest it empty and remove it while this
	 * backend goes on writing to it.
	 */
	LWLockAcquire(or_shared->lock, LW_EXCLUSIVE);
	or_shared->spool_writers[MyBackendId].pid = MyProcPid;
	or_shared->spool_writers[MyBackendId].session_start = MyStartTimestamp;
	LWLockRelease(or_shared->lock);
	before_shmem_exit(close_spool, 0);
	spool_file_name(path, MyDatabaseId, MyProcPid, MyStartTimestamp);
	spool_fd = open(path, O_WRONLY | O_CREAT | O_APPEND | PG_BINARY, pg_file_create_mode);
	if (spool_fd < 0)
	{
		ReleaseExternalFD();
		spool_warning("open");
		return false;
	}
	spool_end = (uint64) lseek(spool_fd, 0, SEEK_END);
	return true;
}

/* put a record (header and payload) at the end of buf */
static void
encode_spool_record(StringInfo buf, uint32 magic, const StringInfo payload)
{
	SpoolRecordHeader header;

	header.magic = magic;
	header.length = payload->len;
	INIT_CRC32C(header.crc);
	COMP_CRC32C(header.crc, payload->data, payload->len);
	FIN_CRC32C(header.crc);
	appendBinaryStringInfo(buf, (char *) &header, sizeof(header));
	appendBinaryStringInfo(buf, payload->data, payload->len);
}

/* write what was deferred and, if given, one more record, in one write(2) */
static bool
spool_write(StringInfo record)
{
	struct iovec iov[2];
	int			n = 0;
	ssize_t		expected = 0;
	ssize_t		written;

	if (spool_deferred.len > 0)
	{
		iov[n].iov_base = spool_deferred.data;
		iov[n++].iov_len = spool_deferred.len;
		expected += spool_deferred.len;
	}
	if (record != NULL)
	{
		iov[n].iov_base = record->data;
		iov[n++].iov_len = record->len;
		expected += record->len;
	}
	if (n == 0)
		return true;
	written = writev(spool_fd, iov, n);
	if (spool_deferred.len > 0)
	{
		spool_deferred_lost |= (written != expected);
		resetStringInfo(&spool_deferred);
	}
	if (written != expected)
	{
		if (written >= 0)
			errno = ENOSPC;
		spool_warning("write to");
		return false;
	}
	spool_end += written;

	/* the worker moves the records into their tables at once */
	or_wake_database_worker(MyDatabaseId);
	return true;
}

/*
 * Keep a record to be written with the next one appended (or by
 * or_spool_flush): one write(2) and one wake-up of the worker for both.
 * *position says where it will be, so that the caller may index it before
 * the worker can see it.  False when nothing can be spooled.
 */
bool
or_spool_defer(uint32 magic, const StringInfo payload, OrSpoolPosition *position)
{
	if (!or_spool_active() || payload->len > OR_SPOOL_MAX_PAYLOAD || !open_spool())
		return false;
	if (spool_deferred.data == NULL)
	{
		MemoryContext old = MemoryContextSwitchTo(TopMemoryContext);

		initStringInfo(&spool_deferred);
		MemoryContextSwitchTo(old);
	}
	position->pid = MyProcPid;
	position->session_start = MyStartTimestamp;
	position->offset = spool_end + spool_deferred.len;
	encode_spool_record(&spool_deferred, magic, payload);
	return true;
}

/*
 * Write the deferred records now.  False when one of them could not be
 * written (since the last call): the caller forgets where they were.
 */
bool
or_spool_flush(void)
{
	bool		lost;

	if (spool_fd >= 0 && spool_deferred.len > 0)
		(void) spool_write(NULL);
	lost = spool_deferred_lost;
	spool_deferred_lost = false;
	return !lost;
}

/*
 * Append one record of the given kind to this backend's spool file (with
 * the deferred ones, in one write(2)), and wake the worker.  Returns false
 * when it could not be written (one WARNING per session says so).  Never
 * raises an ERROR.
 */
bool
or_spool_append(uint32 magic, const StringInfo payload)
{
	StringInfoData record;
	bool		ok;

	if (!or_spool_active() || payload->len > OR_SPOOL_MAX_PAYLOAD || !open_spool())
		return false;
	initStringInfo(&record);
	encode_spool_record(&record, magic, payload);
	ok = spool_write(&record);
	pfree(record.data);
	return ok;
}

/*
 * Read back the record of this kind at a position of a spool file of this
 * database (any backend's), into payload.  False when it is not there any
 * more (the file was ingested and removed) or is not that record.
 */
bool
or_spool_read(const OrSpoolPosition *position, uint32 magic, StringInfo payload)
{
	char		path[MAXPGPATH];
	SpoolRecordHeader header;
	pg_crc32c	crc;
	int			fd;
	bool		ok = false;

	spool_file_name(path, MyDatabaseId, position->pid, position->session_start);
	fd = OpenTransientFile(path, O_RDONLY | PG_BINARY);
	if (fd < 0)
		return false;
	if (pg_pread(fd, &header, sizeof(header), position->offset) == sizeof(header) &&
		header.magic == magic && header.length <= OR_SPOOL_MAX_PAYLOAD)
	{
		resetStringInfo(payload);
		enlargeStringInfo(payload, header.length);
		if (pg_pread(fd, payload->data, header.length,
					 position->offset + sizeof(header)) == header.length)
		{
			payload->len = header.length;
			payload->data[payload->len] = '\0';
			INIT_CRC32C(crc);
			COMP_CRC32C(crc, payload->data, payload->len);
			FIN_CRC32C(crc);
			ok = (crc == header.crc);
		}
	}
	CloseTransientFile(fd);
	return ok;
}

/* a string, or NULL, into a spool record's payload */
void
or_spool_append_string(StringInfo buf, const char *s)
{
	int32		len = s ? (int32) strlen(s) : -1;

	appendBinaryStringInfo(buf, (char *) &len, sizeof(len));
	if (s)
		appendBinaryStringInfo(buf, s, len);
}

void
or_ledger_write_exchange(const OrExchange *exchange, bool from_cache)
{
	OrUsageRecord record;

	or_usage_record_init(&record);
	record.model_requested = exchange->request.model;
	record.attempts = exchange->attempts;
	record.http_status = exchange->http_status;
	record.latency_ms = exchange->latency_ms;
	record.from_cache = from_cache;
	if (exchange->failure != NULL)
	{
		strlcpy(record.failure, unpack_sql_state(exchange->failure->sqlerrcode), sizeof(record.failure));
		or_usage_from_response(&record, exchange->failure->response);
	}
	else
		or_usage_from_response(&record, exchange->result);
	or_ledger_write(&record);
}

/*
 * Record one request.  Called after the answer (or the failure) arrived and
 * before it is handed back to SQL, so that no later failure of the caller's
 * transaction can lose the record.
 */
void
or_ledger_write(const OrUsageRecord *record)
{
	StringInfoData buf;
	SpoolRecordFixed fixed;

	if (!or_ledger_active())
		return;

	memset(&fixed, 0, sizeof(fixed));
	fixed.finished_at = record->finished_at;
	fixed.role_id = record->role_id;
	fixed.table_oid = record->table_oid;
	fixed.prompt_tokens = record->prompt_tokens;
	fixed.completion_tokens = record->completion_tokens;
	fixed.reasoning_tokens = record->reasoning_tokens;
	fixed.cached_tokens = record->cached_tokens;
	fixed.latency_ms = record->latency_ms;
	fixed.attempts = record->attempts;
	fixed.http_status = record->http_status;
	memcpy(fixed.failure, record->failure, sizeof(fixed.failure));
	fixed.from_cache = record->from_cache;

	initStringInfo(&buf);
	appendBinaryStringInfo(&buf, (char *) &fixed, sizeof(fixed));
	or_spool_append_string(&buf, record->column_name);
	or_spool_append_string(&buf, record->model_requested);
	or_spool_append_string(&buf, record->model_served);
	or_spool_append_string(&buf, record->provider);
	or_spool_append_string(&buf, record->generation_id);
	or_spool_append_string(&buf, record->cost);
	(void) or_spool_append(RECORD_MAGIC, &buf);
	pfree(buf.data);
}

/* ---------- the worker's side ---------- */

/* a transaction of the worker, with a snapshot and SPI */
static void
begin_work(void)
{
	StartTransactionCommand();
	PushActiveSnapshot(GetTransactionSnapshot());
	SPI_connect();
}

static void
end_work(void)
{
	SPI_finish();
	PopActiveSnapshot();
	CommitTransactionCommand();
}

typedef struct SpoolFile
{
	char		name[MAXPGPATH];
	OrSpoolPosition writer;		/* its backend (offset unused) */
	bool		live;			/* its backend may still write to it */
} SpoolFile;

static bool
writer_is_live(pid_t pid, TimestampTz session_start)
{
	bool		live = false;

	LWLockAcquire(or_shared->lock, LW_SHARED);
	for (int i = 0; i < or_shared->n_spool_writers && !live; i++)
		live = (or_shared->spool_writers[i].pid == pid &&
				or_shared->spool_writers[i].session_start == session_start);
	LWLockRelease(or_shared->lock);
	return live;
}

/* this database's spool files, allocated in the current memory context */
static List *
spool_files(void)
{
	List	   *files = NIL;
	DIR		   *dir;
	struct dirent *de;
	char		prefix[32];

	snprintf(prefix, sizeof(prefix), "%u.", MyDatabaseId);
	dir = AllocateDir(SPOOL_DIRECTORY);
	if (dir == NULL && errno == ENOENT)
		return NIL;
	while ((de = ReadDir(dir, SPOOL_DIRECTORY)) != NULL)
	{
		SpoolFile  *file;
		int			pid;
		long long	session_start;

		if (strncmp(de->d_name, prefix, strlen(prefix)) != 0 ||
			sscanf(de->d_name + strlen(prefix), "%d.%lld", &pid, &session_start) != 2)
			continue;
		file = palloc(sizeof(SpoolFile));
		snprintf(file->name, sizeof(file->name), "%s/%s", SPOOL_DIRECTORY, de->d_name);
		file->writer.pid = (pid_t) pid;
		file->writer.session_start = (TimestampTz) session_start;
		file->live = writer_is_live((pid_t) pid, (TimestampTz) session_start);
		files = lappend(files, file);
	}
	FreeDir(dir);
	return files;
}

/*
 * The schema-qualified name of one of the extension's tables, or NULL when
 * the extension, or that table (an older version), is not there.  SPI must
 * be connected.
 */
char *
or_extension_table(const char *table)
{
	bool		isnull;
	Datum		schema;
	Datum		arg = CStringGetTextDatum(table);
	Oid			argtype = TEXTOID;
	Oid			relid;

	if (SPI_execute_with_args("SELECT n.nspname, c.oid FROM pg_catalog.pg_extension e"
							  " JOIN pg_catalog.pg_namespace n ON n.oid OPERATOR(pg_catalog.=) e.extnamespace"
							  " JOIN pg_catalog.pg_class c ON c.relnamespace OPERATOR(pg_catalog.=) n.oid"
							  "  AND c.relname OPERATOR(pg_catalog.=) $1::pg_catalog.name"
							  " WHERE e.extname OPERATOR(pg_catalog.=) 'openrouter'",
							  1, &argtype, &arg, NULL, true, 1) != SPI_OK_SELECT ||
		SPI_processed != 1)
		return NULL;
	schema = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);
	relid = DatumGetObjectId(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2, &isnull));
	/* a DROP EXTENSION committing now: wait for it, and see that the table is gone */
	LockRelationOid(relid, RowExclusiveLock);
	if (!SearchSysCacheExists1(RELOID, ObjectIdGetDatum(relid)))
		return NULL;
	return quote_qualified_identifier(NameStr(*DatumGetName(schema)), table);
}

static int64
ingested_offset(const char *progress, const char *file)
{
	Datum		arg = CStringGetTextDatum(file);
	Oid			argtype = TEXTOID;
	bool		isnull;
	int64		offset = 0;

	if (SPI_execute_with_args(psprintf("SELECT ingested FROM %s WHERE file = $1", progress),
							  1, &argtype, &arg, NULL, true, 1) != SPI_OK_SELECT)
		elog(ERROR, "could not read the ledger's spool progress");
	if (SPI_processed == 1)
		offset = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
	return offset;
}

static Datum
string_datum(const char **cursor, const char *end, bool *isnull, bool *ok)
{
	int32		len;
	Datum		d;

	*isnull = true;
	if (end - *cursor < (ptrdiff_t) sizeof(len))
	{
		*ok = false;
		return (Datum) 0;
	}
	memcpy(&len, *cursor, sizeof(len));
	*cursor += sizeof(len);
	if (len < 0)
		return (Datum) 0;
	if (end - *cursor < len)
	{
		*ok = false;
		return (Datum) 0;
	}
	d = PointerGetDatum(cstring_to_text_with_len(*cursor, len));
	*cursor += len;
	*isnull = false;
	return d;
}

#define N_USAGE_COLUMNS 18

/* insert one record's row; false when the record is malformed */
static bool
insert_record(SPIPlanPtr plan, const char *payload, uint32 length)
{
	SpoolRecordFixed fixed;
	Datum		values[N_USAGE_COLUMNS];
	char		nulls[N_USAGE_COLUMNS];
	bool		isnull;
	bool		ok = true;
	const char *cursor = payload + sizeof(fixed);
	const char *end = payload + length;
	int			n = 0;

	if (length < sizeof(fixed))
		return false;
	memcpy(&fixed, payload, sizeof(fixed));
	memset(nulls, ' ', sizeof(nulls));

#define COUNT_VALUE(v) (nulls[n] = ((v) < 0 ? 'n' : ' '), values[n++] = Int64GetDatum(v))
	values[n++] = TimestampTzGetDatum(fixed.finished_at);
	values[n++] = ObjectIdGetDatum(fixed.role_id);
	nulls[n] = OidIsValid(fixed.table_oid) ? ' ' : 'n';
	values[n++] = ObjectIdGetDatum(fixed.table_oid);
	for (int i = 0; i < N_RECORD_STRINGS; i++)
	{
		values[n] = string_datum(&cursor, end, &isnull, &ok);
		nulls[n++] = isnull ? 'n' : ' ';
	}
	COUNT_VALUE(fixed.prompt_tokens);
	COUNT_VALUE(fixed.completion_tokens);
	COUNT_VALUE(fixed.reasoning_tokens);
	COUNT_VALUE(fixed.cached_tokens);
#undef COUNT_VALUE
	nulls[n] = fixed.latency_ms >= 0 ? ' ' : 'n';
	values[n++] = Float8GetDatum(fixed.latency_ms);
	values[n++] = Int32GetDatum(fixed.attempts);
	nulls[n] = fixed.http_status > 0 ? ' ' : 'n';
	values[n++] = Int32GetDatum(fixed.http_status);
	fixed.failure[5] = '\0';
	nulls[n] = fixed.failure[0] ? ' ' : 'n';
	values[n++] = CStringGetTextDatum(fixed.failure);
	values[n++] = BoolGetDatum(fixed.from_cache);
	Assert(n == N_USAGE_COLUMNS);

	if (!ok || cursor != end)
		return false;
	if (SPI_execute_plan(plan, values, nulls, false, 0) != SPI_OK_INSERT)
		elog(ERROR, "could not insert a usage record");
	return true;
}

/*
 * Ingest what one file holds beyond its ingested offset (at most
 * INGEST_CHUNK_BYTES of it).  Returns the records ingested; *whole says
 * whether the file's end was reached.
 */
static int64
ingest_file(SpoolFile *file, SPIPlanPtr insert, const char *progress, bool *whole)
{
	int64		offset = ingested_offset(progress, file->name);
	int64		start = offset;
	int64		records = 0;
	int			fd;
	char	   *data;
	ssize_t		got;
	Oid			argtypes[2] = {TEXTOID, INT8OID};
	Datum		args[2];

	*whole = false;
	fd = OpenTransientFile(file->name, O_RDONLY | PG_BINARY);
	if (fd < 0)
	{
		if (errno == ENOENT)
			*whole = true;		/* removed after an earlier ingestion */
		return 0;
	}
	data = palloc(INGEST_CHUNK_BYTES);
	got = pg_pread(fd, data, INGEST_CHUNK_BYTES, offset);
	CloseTransientFile(fd);
	if (got < 0)
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not read file \"%s\": %m", file->name)));

	for (ssize_t pos = 0;;)
	{
		SpoolRecordHeader header;
		pg_crc32c	crc;
		const OrSpoolKind *kind;

		if (got - pos < (ssize_t) sizeof(header))
		{
			*whole = (got - pos == 0 && got < INGEST_CHUNK_BYTES);
			break;
		}
		memcpy(&header, data + pos, sizeof(header));
		kind = spool_kind(header.magic);
		if ((header.magic != RECORD_MAGIC && kind == NULL) ||
			header.length > OR_SPOOL_MAX_PAYLOAD)
		{
			/* not a record: a file of ours cannot hold this; give up on it */
			ereport(WARNING,
					(errmsg("the usage ledger's spool file \"%s\" is damaged at offset " INT64_FORMAT,
							file->name, offset),
					 errdetail("The records after that point are lost.")));
			*whole = true;
			break;
		}
		if (got - pos < (ssize_t) (sizeof(header) + header.length))
			break;				/* still being written, or torn by a crash */
		INIT_CRC32C(crc);
		COMP_CRC32C(crc, data + pos + sizeof(header), header.length);
		FIN_CRC32C(crc);
		if (crc != header.crc)
			break;
		if (header.magic == RECORD_MAGIC)
			records += insert_record(insert, data + pos + sizeof(header), header.length);
		else
		{
			OrSpoolPosition position = file->writer;

			position.offset = offset;
			(void) kind->ingest(data + pos + sizeof(header), header.length, &position);
		}
		pos += sizeof(header) + header.length;
		offset += sizeof(header) + header.length;
	}
	pfree(data);

	/* a file no backend writes any more ends where its last whole record does */
	if (!file->live)
		*whole = true;
	if (offset != start)
	{
		args[0] = CStringGetTextDatum(file->name);
		args[1] = Int64GetDatum(offset);
		if (SPI_execute_with_args(psprintf("INSERT INTO %s (file, ingested) VALUES ($1, $2)"
										   " ON CONFLICT (file) DO UPDATE SET ingested = excluded.ingested",
										   progress),
								  2, argtypes, args, NULL, false, 0) != SPI_OK_INSERT)
			elog(ERROR, "could not record the ledger's spool progress");
	}
	return records;
}

/*
 * Move this database's spooled records into openrouter_usage_log.  Runs in
 * the database's worker, outside any transaction; returns the records
 * ingested, or -1 when the extension is not installed here (or is of a
 * version without the ledger).
 */
int64
or_ledger_ingest(void)
{
	List	   *files;
	List	   *finished = NIL;
	int64		records = 0;
	char	   *log_table;
	char	   *progress;
	SPIPlanPtr	insert;
	MemoryContext oldcontext;
	Oid			argtypes[N_USAGE_COLUMNS] = {
		TIMESTAMPTZOID, OIDOID, OIDOID,
		TEXTOID, TEXTOID, TEXTOID, TEXTOID, TEXTOID, TEXTOID,
		INT8OID, INT8OID, INT8OID, INT8OID,
		FLOAT8OID, INT4OID, INT4OID, TEXTOID, BOOLOID
	};
	ListCell   *lc;

	/* the list of files outlives the transaction: it says what to remove after it */
	if (ingest_context == NULL)
		ingest_context = AllocSetContextCreate(TopMemoryContext, "openrouter ledger ingestion",
											   ALLOCSET_DEFAULT_SIZES);
	MemoryContextReset(ingest_context);

	begin_work();
	log_table = or_extension_table("openrouter_usage_log");
	progress = or_extension_table("openrouter_ledger_spool");
	if (log_table == NULL || progress == NULL)
	{
		end_work();
		return -1;
	}

	oldcontext = MemoryContextSwitchTo(ingest_context);
	files = spool_files();
	MemoryContextSwitchTo(oldcontext);
	insert = SPI_prepare(psprintf("INSERT INTO %s (finished_at, role_id, table_oid, column_name,"
								  " model_requested, model_served, provider, generation_id, cost,"
								  " prompt_tokens, completion_tokens, reasoning_tokens, cached_tokens,"
								  " latency_ms, attempts, http_status, failure, from_cache)"
								  " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9::numeric, $10, $11, $12,"
								  " $13, $14, $15, $16, $17, $18)", log_table),
						 N_USAGE_COLUMNS, argtypes);
	if (insert == NULL)
		elog(ERROR, "could not prepare the usage ledger's insert: %s",
			 SPI_result_code_string(SPI_result));
	for (int i = 0; i < n_spool_kinds; i++)
		spool_kinds[i]->begin();
	foreach(lc, files)
	{
		SpoolFile  *file = lfirst(lc);
		bool		whole;

		records += ingest_file(file, insert, progress, &whole);
		if (whole && !file->live)
		{
			oldcontext = MemoryContextSwitchTo(ingest_context);
			finished = lappend(finished, file);
			MemoryContextSwitchTo(oldcontext);
		}
	}
	for (int i = 0; i < n_spool_kinds; i++)
		spool_kinds[i]->end();
	end_work();
	for (int i = 0; i < n_spool_kinds; i++)
		spool_kinds[i]->committed();

	/* only now that the records are committed may their files go */
	foreach(lc, finished)
	{
		SpoolFile  *file = lfirst(lc);

		(void) durable_unlink(file->name, WARNING);
	}

	/* forget the progress of files that are gone */
	if (finished != NIL)
	{
		begin_work();
		progress = or_extension_table("openrouter_ledger_spool");
		foreach(lc, finished)
		{
			SpoolFile  *file = lfirst(lc);
			Datum		arg = CStringGetTextDatum(file->name);
			Oid			argtype = TEXTOID;

			if (progress != NULL && access(file->name, F_OK) != 0)
				SPI_execute_with_args(psprintf("DELETE FROM %s WHERE file = $1", progress),
									  1, &argtype, &arg, NULL, false, 0);
		}
		end_work();
	}
	return records;
}

/* remove the usage records older than openrouter.usage_retention days */
int64
or_ledger_expire(void)
{
	char	   *log_table;
	int64		removed = 0;

	if (or_usage_retention_days <= 0)
		return 0;
	/* the list of files outlives the transaction: it says what to remove after it */
	if (ingest_context == NULL)
		ingest_context = AllocSetContextCreate(TopMemoryContext, "openrouter ledger ingestion",
											   ALLOCSET_DEFAULT_SIZES);
	MemoryContextReset(ingest_context);

	StartTransactionCommand();
	PushActiveSnapshot(GetTransactionSnapshot());
	SPI_connect();
	log_table = or_extension_table("openrouter_usage_log");
	if (log_table != NULL)
	{
		if (SPI_execute(psprintf("DELETE FROM %s WHERE finished_at < now() - make_interval(days => %d)",
								 log_table, or_usage_retention_days), false, 0) == SPI_OK_DELETE)
			removed = SPI_processed;
	}
	end_work();
	return removed;
}
