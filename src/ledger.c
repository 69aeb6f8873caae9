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
 * The ledger needs the worker, hence shared_preload_libraries: without it
 * nothing is spooled.  Rules kept here: writing a record never raises an
 * ERROR (a full disk gives one WARNING per session and the call goes on);
 * the key is never part of a record.
 */
#include "postgres.h"

#include <fcntl.h>
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

/* this backend's spool file */
static int	spool_fd = -1;
static bool spool_warned = false;

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

/* is the ledger kept in this session? */
bool
or_ledger_active(void)
{
	return or_usage_ledger && or_shared != NULL && MyBackendId != InvalidBackendId &&
		OidIsValid(MyDatabaseId);
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
	spool_file_name(path, MyDatabaseId, MyProcPid, MyStartTimestamp);
	spool_fd = open(path, O_WRONLY | O_CREAT | O_APPEND | PG_BINARY, pg_file_create_mode);
	if (spool_fd < 0)
	{
		ReleaseExternalFD();
		spool_warning("open");
		return false;
	}
	LWLockAcquire(or_shared->lock, LW_EXCLUSIVE);
	or_shared->spool_writers[MyBackendId].pid = MyProcPid;
	or_shared->spool_writers[MyBackendId].session_start = MyStartTimestamp;
	LWLockRelease(or_shared->lock);
	before_shmem_exit(close_spool, 0);
	return true;
}

static void
append_string(StringInfo buf, const char *s)
{
	int32		len = s ? (int32) strlen(s) : -1;

	appendBinaryStringInfo(buf, (char *) &len, sizeof(len));
	if (s)
		appendBinaryStringInfo(buf, s, len);
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
	SpoolRecordHeader *header;
	SpoolRecordFixed fixed;
	ssize_t		written;

	if (!or_ledger_active() || !open_spool())
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
	appendStringInfoSpaces(&buf, sizeof(SpoolRecordHeader));
	appendBinaryStringInfo(&buf, (char *) &fixed, sizeof(fixed));
	append_string(&buf, record->column_name);
	append_string(&buf, record->model_requested);
	append_string(&buf, record->model_served);
	append_string(&buf, record->provider);
	append_string(&buf, record->generation_id);
	append_string(&buf, record->cost);

	header = (SpoolRecordHeader *) buf.data;
	header->magic = RECORD_MAGIC;
	header->length = buf.len - sizeof(SpoolRecordHeader);
	INIT_CRC32C(header->crc);
	COMP_CRC32C(header->crc, buf.data + sizeof(SpoolRecordHeader), header->length);
	FIN_CRC32C(header->crc);

	written = write(spool_fd, buf.data, buf.len);
	if (written != buf.len)
	{
		if (written >= 0)
			errno = ENOSPC;
		spool_warning("write to");
	}
	pfree(buf.data);

	/* the worker moves it into the table at once */
	or_wake_database_worker(MyDatabaseId);
}

/* ---------- the worker's side ---------- */

typedef struct SpoolFile
{
	char		name[MAXPGPATH];
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
static char *
extension_table(const char *table)
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

		if (got - pos < (ssize_t) sizeof(header))
		{
			*whole = (got - pos == 0 && got < INGEST_CHUNK_BYTES);
			break;
		}
		memcpy(&header, data + pos, sizeof(header));
		if (header.magic != RECORD_MAGIC || header.length > INGEST_CHUNK_BYTES / 2)
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
		if (insert_record(insert, data + pos + sizeof(header), header.length))
			records++;
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

	StartTransactionCommand();
	PushActiveSnapshot(GetTransactionSnapshot());
	SPI_connect();
	log_table = extension_table("openrouter_usage_log");
	progress = extension_table("openrouter_ledger_spool");
	if (log_table == NULL || progress == NULL)
	{
		SPI_finish();
		PopActiveSnapshot();
		CommitTransactionCommand();
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
	SPI_finish();
	PopActiveSnapshot();
	CommitTransactionCommand();

	/* only now that the records are committed may their files go */
	foreach(lc, finished)
	{
		SpoolFile  *file = lfirst(lc);

		(void) durable_unlink(file->name, WARNING);
	}

	/* forget the progress of files that are gone */
	if (finished != NIL)
	{
		StartTransactionCommand();
		PushActiveSnapshot(GetTransactionSnapshot());
		SPI_connect();
		progress = extension_table("openrouter_ledger_spool");
		foreach(lc, finished)
		{
			SpoolFile  *file = lfirst(lc);
			Datum		arg = CStringGetTextDatum(file->name);
			Oid			argtype = TEXTOID;

			if (progress != NULL && access(file->name, F_OK) != 0)
				SPI_execute_with_args(psprintf("DELETE FROM %s WHERE file = $1", progress),
									  1, &argtype, &arg, NULL, false, 0);
		}
		SPI_finish();
		PopActiveSnapshot();
		CommitTransactionCommand();
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
	log_table = extension_table("openrouter_usage_log");
	if (log_table != NULL)
	{
		if (SPI_execute(psprintf("DELETE FROM %s WHERE finished_at < now() - make_interval(days => %d)",
								 log_table, or_usage_retention_days), false, 0) == SPI_OK_DELETE)
			removed = SPI_processed;
	}
	SPI_finish();
	PopActiveSnapshot();
	CommitTransactionCommand();
	return removed;
}
