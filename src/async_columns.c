/*
 * async_columns.c
 *		Asynchronous computed columns: the database worker's step that
 *		computes their pending cells, and openrouter_async_progress().
 *
 * A column in mode 'async' is not computed by the statement that inserts or
 * updates a row.  An inserted row's empty cell is itself the pending work
 * (nulls_pending: the column has a partial index on the table's key WHERE
 * the column IS NULL, and its row trigger in computed.c writes nothing); an
 * UPDATE of an input column records the row's key in the queue table
 * openrouter_async_queue, with a new version each time the row's input
 * changes (so does everything of a column added with backfill => false).
 * Both wake this database's worker when the transaction commits.  The worker
 * (worker.c) calls or_async_columns_step() in its loop; each step computes
 * one chunk of one column, in a transaction of its own:
 *	1. claim: up to 2 x openrouter.max_concurrency queued cells that are due,
 *	   then (as the owner, FOR NO KEY UPDATE SKIP LOCKED) empty cells that
 *	   have no entry, skipping rows whose input is itself a pending cell of
 *	   another asynchronous column (chains: each link once its input is
 *	   there);
 *	2. as the table's owner, under SECURITY_RESTRICTED_OPERATION (api_key.c's
 *	   one exception to ORK02 lets the owner's key pay there): find the rows,
 *	   and compute their cells with or_compute_cells(), the one function that
 *	   computes cells in both modes (rows are locked, every request of the
 *	   chunk goes out at once, answers are written), then the columns that
 *	   read this one (or_compute_dependents());
 *	3. remove the queue entries of the cells written, but only in the
 *	   version that was claimed: a row whose input changed meanwhile was
 *	   queued again and is computed again, for its new input.  A cell whose
 *	   final failure was transient ({"error": {"retryable": true}}, jsonb
 *	   columns) stays (or gets) queued, due again after a backoff, for a few
 *	   rounds.  A cell that stays empty (a failure in a non-jsonb column, a
 *	   NULL answer) keeps an entry due never (not_before infinity), or it
 *	   would be pending again at once.
 *	4. commit: a crash loses at most this chunk's answers, and its cells are
 *	   still queued.
 *
 * Rules kept here: the worker runs no user code as a superuser (the queue
 * and the definitions are read and written as the worker's own role, they
 * hold no user code; everything that touches the user's table runs as its
 * owner); a column whose chunk fails (its table dropped meanwhile, an ERROR
 * in its expression) is logged once and left alone for a while that doubles
 * with each failure: nothing escapes into the worker's loop; a dropped
 * table, column or extension leaves queue entries that the next steps
 * remove; the server log gets a line when a column starts, catches up,
 * fails or is paused, never one per row.
 */
#include "postgres.h"

#include "access/xact.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "storage/lmgr.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/snapmgr.h"
#include "utils/syscache.h"
#include "utils/timestamp.h"

#include "async_columns.h"
#include "computed.h"
#include "request_cache.h"
#include "shared_state.h"

PG_FUNCTION_INFO_V1(openrouter_async_progress);

#define QUEUE "openrouter_async_queue"
#define DEFINITIONS "openrouter_computed_column"
/* rounds a cell whose final failure was transient is queued again */
#define MAX_TRANSIENT_ROUNDS 5
#define RETRY_DELAY_MAX_S 300
#define COLUMN_DELAY_FIRST_MS 1000
#define COLUMN_DELAY_MAX_MS (5 * 60 * 1000)
#define CLEANUP_INTERVAL_MS (10 * 1000)
/* entries of deleted rows forgotten at most this many at a time, per column */
#define SWEEP_LIMIT 1000
#define MAX_COLUMN_STATES 256

/* what the worker remembers of one asynchronous column */
typedef struct ColumnState
{
	Oid			relid;
	NameData	column;
	char		table[2 * NAMEDATALEN + 8]; /* qualified, for the log */
	bool		working;		/* started and not caught up yet */
	bool		logged;			/* its start was logged (at its second chunk) */
	int			chunks;			/* since started */
	TimestampTz started;
	uint64		computed;		/* since started */
	uint64		failed;
	int			failures;		/* consecutive chunks that raised an ERROR */
	TimestampTz not_before;		/* after such a failure */
	TimestampTz next_sweep;		/* looking for entries of deleted rows */
} ColumnState;

static ColumnState states[MAX_COLUMN_STATES];
static int	n_states = 0;
static MemoryContext step_context = NULL;
static TimestampTz next_cleanup = 0;
/* the column the previous chunk was for: the next step starts after it */
static Oid	last_relid = InvalidOid;
static int	last_position = 0;

/* a column that has cells due */
typedef struct Candidate
{
	Oid			relid;
	char	   *column;
	int			position;
	Oid			owner;
} Candidate;

static ColumnState *
column_state(Oid relid, const char *column)
{
	for (int i = 0; i < n_states; i++)
		if (states[i].relid == relid && strcmp(NameStr(states[i].column), column) == 0)
			return &states[i];
	if (n_states == MAX_COLUMN_STATES)
	{
		/* forget the idle ones */
		int			kept = 0;

		for (int i = 0; i < n_states; i++)
			if (states[i].working || states[i].failures > 0)
				states[kept++] = states[i];
		n_states = kept;
		if (n_states == MAX_COLUMN_STATES)
			n_states = 0;
	}
	memset(&states[n_states], 0, sizeof(ColumnState));
	states[n_states].relid = relid;
	namestrcpy(&states[n_states].column, column);
	return &states[n_states++];
}

static void
publish_progress(Oid relid, const char *column, int in_flight, double rate)
{
	OrDatabaseWorker *slot;

	LWLockAcquire(or_shared->lock, LW_EXCLUSIVE);
	slot = or_database_worker_slot(MyDatabaseId, false);
	if (slot != NULL)
	{
		slot->async_relid = relid;
		namestrcpy(&slot->async_column, column);
		slot->async_in_flight = in_flight;
		slot->async_rate = rate;
	}
	LWLockRelease(or_shared->lock);
}

static double
column_rate(const ColumnState *state)
{
	double		seconds = (GetCurrentTimestamp() - state->started) / 1000000.0;

	return seconds > 0 ? state->computed / seconds : 0;
}

static void
run(const char *sql, int nargs, Oid *types, Datum *values)
{
	int			rc = SPI_execute_with_args(sql, nargs, types, values, NULL, false, 0);

	if (rc < 0)
		elog(ERROR, "SPI_execute_with_args failed: %s", SPI_result_code_string(rc));
}

/* the extension's schema, when its queue is there (version 1.1): NULL otherwise */
static char *
extension_schema(Oid *ns)
{
	bool		isnull;

	Oid			queue;

	run("SELECT n.oid, n.nspname, c.oid FROM pg_catalog.pg_extension e"
		" JOIN pg_catalog.pg_namespace n ON n.oid OPERATOR(pg_catalog.=) e.extnamespace"
		" JOIN pg_catalog.pg_class c ON c.relnamespace OPERATOR(pg_catalog.=) n.oid"
		"  AND c.relname OPERATOR(pg_catalog.=) '" QUEUE "'"
		" WHERE e.extname OPERATOR(pg_catalog.=) 'openrouter'", 0, NULL, NULL);
	if (SPI_processed != 1)
		return NULL;
	*ns = DatumGetObjectId(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
	queue = DatumGetObjectId(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 3, &isnull));
	/* a DROP EXTENSION committing now: wait for it, and see that the queue is gone */
	LockRelationOid(queue, RowExclusiveLock);
	if (!SearchSysCacheExists1(RELOID, ObjectIdGetDatum(queue)))
		return NULL;
	return SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2);
}

static Datum
text_array(char **texts, int n)
{
	Datum	   *elems = palloc(sizeof(Datum) * Max(n, 1));

	for (int i = 0; i < n; i++)
		elems[i] = CStringGetTextDatum(texts[i]);
	return PointerGetDatum(construct_array(elems, n, TEXTOID, -1, false, TYPALIGN_INT));
}

static Datum
int8_array(int64 *values, int n)
{
	Datum	   *elems = palloc(sizeof(Datum) * Max(n, 1));

	for (int i = 0; i < n; i++)
		elems[i] = Int64GetDatum(values[i]);
	return PointerGetDatum(construct_array(elems, n, INT8OID, 8, FLOAT8PASSBYVAL, TYPALIGN_DOUBLE));
}

static int
compare_keys(const void *a, const void *b)
{
	return strcmp(*(char *const *) a, *(char *const *) b);
}

/*
 * "false OR (t.a IS NULL AND NOT EXISTS (its entry)) OR ...": whether an
 * input of the row (a cell of an earlier asynchronous column whose empty
 * cells are pending, blockers) is still empty, i.e. pending itself.
 */
static char *
input_still_empty_sql(List *blockers, const char *queue, const char *key)
{
	StringInfoData sql;
	ListCell   *lc;

	initStringInfo(&sql);
	appendStringInfoString(&sql, "(false");
	foreach(lc, blockers)
	{
		OrComputedColumn *other = lfirst(lc);

		if (other->nulls_pending)
			appendStringInfo(&sql, " OR (t.%s IS NULL AND NOT EXISTS (SELECT 1 FROM %s b"
							 " WHERE b.table_oid OPERATOR(pg_catalog.=) %u AND b.column_name OPERATOR(pg_catalog.=) %s"
							 " AND b.row_key OPERATOR(pg_catalog.=) %s))",
							 quote_identifier(other->column), queue, other->relid,
							 quote_literal_cstr(other->column), key);
	}
	appendStringInfoChar(&sql, ')');
	return sql.data;
}

/* ---------- one chunk of one column ---------- */

/*
 * Compute one chunk of a column's queued cells, in the current transaction.
 * Returns the cells written.
 */
static int
compute_chunk(Oid ns, const char *schema, const Candidate *candidate, ColumnState *state)
{
	char	   *queue = quote_qualified_identifier(schema, QUEUE);
	char	   *table;
	List	   *columns;
	ListCell   *lc;
	OrComputedColumn *cc = NULL;
	OrComputedColumn ignoring;
	List	   *blockers = NIL;
	Datum	   *blocker_names;
	int			nblockers = 0;
	int			limit = 2 * Max(1, or_max_concurrency);
	int			nclaimed;
	char	  **claimed_keys;
	int64	   *claimed_versions;
	ItemPointerData *ctids;
	int			nrows;
	ItemPointerData *written;
	int			nwritten;
	char	  **done_keys;
	int			ndone = 0;
	char	  **retry_keys;
	int			nretry = 0;
	char	  **park_keys;		/* queued cells that stay empty */
	int			npark = 0;
	char	  **fresh_keys;		/* empty cells claimed without an entry, sorted */
	int			nfresh = 0;
	char	  **fresh_retry_keys;
	int			nfresh_retry = 0;
	char	  **fresh_park_keys;
	int			nfresh_park = 0;
	char	  **gone_keys = NULL;	/* left alone, their row deleted since */
	int			ngone = 0;
	bool		is_jsonb;
	OrComputeCounts counts = {0, 0};
	Oid			saved_user;
	int			saved_context;
	int			owner_context;

	/*
	 * The table cannot go away under us now; it may be gone already.  Not
	 * waiting: a long ALTER TABLE or VACUUM FULL on one table holds up no
	 * other column (the next step tries again).
	 */
	if (!ConditionalLockRelationOid(candidate->relid, RowExclusiveLock))
		return 0;
	if (!SearchSysCacheExists1(RELOID, ObjectIdGetDatum(candidate->relid)))
		return 0;
	columns = or_computed_columns(ns, candidate->relid, NULL);
	foreach(lc, columns)
		if (strcmp(((OrComputedColumn *) lfirst(lc))->column, candidate->column) == 0)
			cc = lfirst(lc);
	if (cc == NULL || !cc->async || cc->paused ||
		get_attnum(cc->relid, cc->column) == InvalidAttrNumber)
		return 0;
	/* rows whose input is a queued cell of an earlier asynchronous column wait for it */
	foreach(lc, columns)
	{
		OrComputedColumn *other = lfirst(lc);
		bool		reads = cc->whole_row;

		for (int i = 0; i < cc->ninputs && !reads; i++)
			reads = strcmp(cc->inputs[i], other->column) == 0;
		if (other->async && other->position < cc->position && reads)
			blockers = lappend(blockers, other);
	}
	blocker_names = palloc(sizeof(Datum) * (list_length(blockers) + 1));
	foreach(lc, blockers)
		blocker_names[nblockers++] = CStringGetTextDatum(((OrComputedColumn *) lfirst(lc))->column);
	table = quote_qualified_identifier(get_namespace_name(get_rel_namespace(cc->relid)),
									   get_rel_name(cc->relid));
	strlcpy(state->table, table, sizeof(state->table));
	is_jsonb = get_atttype(cc->relid, get_attnum(cc->relid, cc->column)) == JSONBOID;

	/* 1. claim, as the worker (the queue holds no user code) */
	{
		Oid			types[4] = {OIDOID, TEXTOID, TEXTARRAYOID, INT4OID};
		Datum		values[4];

		values[0] = ObjectIdGetDatum(cc->relid);
		values[1] = CStringGetTextDatum(cc->column);
		values[2] = PointerGetDatum(construct_array(blocker_names, nblockers, TEXTOID,
													-1, false, TYPALIGN_INT));
		values[3] = Int32GetDatum(limit);
		run(psprintf("SELECT q.row_key, q.version FROM %s q"
					 " WHERE q.table_oid OPERATOR(pg_catalog.=) $1 AND q.column_name OPERATOR(pg_catalog.=) $2"
					 " AND q.not_before OPERATOR(pg_catalog.<=) pg_catalog.now()"
					 " AND NOT EXISTS (SELECT 1 FROM %s b WHERE b.table_oid OPERATOR(pg_catalog.=) q.table_oid"
					 "  AND b.column_name OPERATOR(pg_catalog.=) ANY ($3)"
					 "  AND b.row_key OPERATOR(pg_catalog.=) q.row_key"
					 "  AND b.not_before OPERATOR(pg_catalog.<) 'infinity')"
					 " LIMIT $4", queue, queue), 4, types, values);
	}
	nclaimed = (int) SPI_processed;
	if (nclaimed == 0 && !cc->nulls_pending)
		return 0;
	claimed_keys = palloc(sizeof(char *) * nclaimed);
	claimed_versions = palloc(sizeof(int64) * nclaimed);
	for (int i = 0; i < nclaimed; i++)
	{
		bool		isnull;

		claimed_keys[i] = SPI_getvalue(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1);
		claimed_versions[i] = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[i],
														  SPI_tuptable->tupdesc, 2, &isnull));
	}
	done_keys = palloc(sizeof(char *) * limit);
	retry_keys = palloc(sizeof(char *) * limit);
	park_keys = palloc(sizeof(char *) * limit);
	fresh_keys = palloc(sizeof(char *) * limit);
	fresh_retry_keys = palloc(sizeof(char *) * limit);
	fresh_park_keys = palloc(sizeof(char *) * limit);

	/* 2. as the table's owner: the rows, their cells, the columns that read them */
	GetUserIdAndSecContext(&saved_user, &saved_context);
	owner_context = saved_context | SECURITY_LOCAL_USERID_CHANGE | SECURITY_RESTRICTED_OPERATION;
	SetUserIdAndSecContext(candidate->owner, owner_context);
	or_worker_pays_begin(candidate->owner, owner_context);
	{
		Oid			types[1] = {TEXTARRAYOID};
		Datum		values[1];
		bool	   *found = palloc0(sizeof(bool) * Max(nclaimed, 1));

		ctids = palloc(sizeof(ItemPointerData) * limit);
		nrows = 0;
		if (nclaimed > 0)
		{
			values[0] = text_array(claimed_keys, nclaimed);
			run(psprintf("SELECT t.ctid, k.n, %s FROM pg_catalog.unnest($1) WITH ORDINALITY k(key, n)"
						 " JOIN ONLY %s t ON %s",
						 input_still_empty_sql(blockers, queue, or_key_text_sql(cc->relid, "t")),
						 table, or_key_match_sql(cc->relid, "t", "k.key")),
				1, types, values);
			/* a row whose input is still to be computed stays queued, for later */
			for (uint64 i = 0; i < SPI_processed; i++)
			{
				bool		isnull;

				found[DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 2, &isnull)) - 1] = true;
				if (!DatumGetBool(SPI_getbinval(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 3, &isnull)))
					ctids[nrows++] = *(ItemPointer) DatumGetPointer(SPI_getbinval(SPI_tuptable->vals[i],
																				  SPI_tuptable->tupdesc, 1, &isnull));
			}
		}
		/* rows deleted since they were queued: nothing to compute */
		for (int i = 0; i < nclaimed; i++)
			if (!found[i])
				done_keys[ndone++] = claimed_keys[i];
	}
	/* then empty cells without an entry, locked now (a backfill skips them) */
	if (cc->nulls_pending && nclaimed < limit)
	{
		Oid			types[3] = {OIDOID, TEXTOID, INT4OID};
		Datum		values[3];
		char	   *key = or_key_text_sql(cc->relid, "t");
		StringInfoData sql;

		values[0] = ObjectIdGetDatum(cc->relid);
		values[1] = CStringGetTextDatum(cc->column);
		values[2] = Int32GetDatum(limit - nclaimed);
		initStringInfo(&sql);
		appendStringInfo(&sql, "SELECT t.ctid, %s FROM ONLY %s t WHERE t.%s IS NULL"
						 " AND NOT EXISTS (SELECT 1 FROM %s q WHERE q.table_oid OPERATOR(pg_catalog.=) $1"
						 "  AND q.column_name OPERATOR(pg_catalog.=) $2 AND q.row_key OPERATOR(pg_catalog.=) %s)",
						 key, table, quote_identifier(cc->column), queue, key);
		/* a link of a chain waits for its input's cell, queued or still empty */
		foreach(lc, blockers)
			appendStringInfo(&sql, " AND NOT EXISTS (SELECT 1 FROM %s b WHERE b.table_oid OPERATOR(pg_catalog.=) $1"
							 " AND b.column_name OPERATOR(pg_catalog.=) %s AND b.row_key OPERATOR(pg_catalog.=) %s"
							 " AND b.not_before OPERATOR(pg_catalog.<) 'infinity')",
							 queue, quote_literal_cstr(((OrComputedColumn *) lfirst(lc))->column), key);
		appendStringInfo(&sql, " AND NOT %s", input_still_empty_sql(blockers, queue, key));
		appendStringInfoString(&sql, " LIMIT $3 FOR NO KEY UPDATE OF t SKIP LOCKED");
		run(sql.data, 3, types, values);
		for (uint64 i = 0; i < SPI_processed; i++)
		{
			bool		isnull;

			ctids[nrows++] = *(ItemPointer) DatumGetPointer(SPI_getbinval(SPI_tuptable->vals[i],
																		  SPI_tuptable->tupdesc, 1, &isnull));
			fresh_keys[nfresh++] = SPI_getvalue(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 2);
		}
		qsort(fresh_keys, nfresh, sizeof(char *), compare_keys);
	}
	if (nrows > 0)
	{
		char	   *activity = psprintf("computing %d cells of column \"%s\" of %s",
										nrows, cc->column, table);

		pgstat_report_activity(STATE_RUNNING, activity);
		publish_progress(cc->relid, cc->column, nrows, column_rate(state));

		/* the worker keeps failures per cell; under 'abort' the first one pauses the column */
		ignoring = *cc;
		ignoring.on_error = OR_ON_ERROR_IGNORE;
		or_cache_keeps_retryable = true;
		written = or_compute_cells(&ignoring, ctids, nrows, &nwritten, &counts);

		/*
		 * the keys of the rows written, and whether their failure was
		 * transient or their cell stays empty (read before the dependents
		 * are computed: a synchronous one writes the rows again, elsewhere)
		 */
		{
			Oid			types[1] = {TIDARRAYOID};
			Datum		values[1];
			Datum	   *elems = palloc(sizeof(Datum) * Max(nwritten, 1));

			for (int i = 0; i < nwritten; i++)
				elems[i] = PointerGetDatum(&written[i]);
			values[0] = PointerGetDatum(construct_array(elems, nwritten, TIDOID, sizeof(ItemPointerData),
														false, TYPALIGN_SHORT));
			run(psprintf("SELECT %s, %s, t.%s IS NULL FROM ONLY %s t WHERE t.ctid OPERATOR(pg_catalog.=) ANY ($1)",
						 or_key_text_sql(cc->relid, "t"),
						 is_jsonb ? psprintf("COALESCE(t.%s OPERATOR(pg_catalog.->) 'error'"
											 " OPERATOR(pg_catalog.->>) 'retryable' OPERATOR(pg_catalog.=) 'true', false)",
											 quote_identifier(cc->column)) : "false",
						 quote_identifier(cc->column), table), 1, types, values);
			for (uint64 i = 0; i < SPI_processed; i++)
			{
				bool		isnull;
				char	   *key = SPI_getvalue(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1);
				bool		retry = DatumGetBool(SPI_getbinval(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 2, &isnull));

				/* an empty cell stays empty: left alone, or it would be pending again */
				bool		park = cc->nulls_pending &&
					DatumGetBool(SPI_getbinval(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 3, &isnull));
				bool		fresh = nfresh > 0 &&
					bsearch(&key, fresh_keys, nfresh, sizeof(char *), compare_keys) != NULL;

				if (fresh && retry)
					fresh_retry_keys[nfresh_retry++] = key;
				else if (fresh && park)
					fresh_park_keys[nfresh_park++] = key;
				else if (fresh)
					continue;	/* computed: its cell is no longer empty */
				else if (retry)
					retry_keys[nretry++] = key;
				else if (park)
					park_keys[npark++] = key;
				else
					done_keys[ndone++] = key;
			}
		}
		or_compute_dependents(ns, cc, written, nwritten);
		or_cache_keeps_retryable = false;
	}

	/*
	 * An idle column, now and then: the entries left alone whose row was
	 * deleted (or the table truncated) since.  Found as the owner (the key
	 * comparison is the table's own); removed below as the worker, only
	 * while still left alone (an INSERT of the key may have given one a new
	 * version meanwhile).
	 */
	if (nrows == 0 && cc->nulls_pending && GetCurrentTimestamp() >= state->next_sweep)
	{
		Oid			types[3] = {OIDOID, TEXTOID, INT4OID};
		Datum		values[3];

		values[0] = ObjectIdGetDatum(cc->relid);
		values[1] = CStringGetTextDatum(cc->column);
		values[2] = Int32GetDatum(SWEEP_LIMIT);
		run(psprintf("SELECT q.row_key FROM %s q WHERE q.table_oid OPERATOR(pg_catalog.=) $1"
					 " AND q.column_name OPERATOR(pg_catalog.=) $2 AND q.not_before OPERATOR(pg_catalog.=) 'infinity'"
					 " AND NOT EXISTS (SELECT 1 FROM ONLY %s t WHERE %s) LIMIT $3",
					 queue, table, or_key_match_sql(cc->relid, "t", "q.row_key")), 3, types, values);
		gone_keys = palloc(sizeof(char *) * Max(SPI_processed, 1));
		for (uint64 i = 0; i < SPI_processed; i++)
			gone_keys[ngone++] = SPI_getvalue(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1);
		state->next_sweep = TimestampTzPlusMilliseconds(GetCurrentTimestamp(), CLEANUP_INTERVAL_MS);
	}
	or_worker_pays_end();
	SetUserIdAndSecContext(saved_user, saved_context);
	if (ngone > 0)
	{
		Oid			types[3] = {OIDOID, TEXTOID, TEXTARRAYOID};
		Datum		values[3];

		values[0] = ObjectIdGetDatum(cc->relid);
		values[1] = CStringGetTextDatum(cc->column);
		values[2] = text_array(gone_keys, ngone);
		run(psprintf("DELETE FROM %s WHERE table_oid OPERATOR(pg_catalog.=) $1 AND column_name OPERATOR(pg_catalog.=) $2"
					 " AND row_key OPERATOR(pg_catalog.=) ANY ($3) AND not_before OPERATOR(pg_catalog.=) 'infinity'",
					 queue), 3, types, values);
	}

	/* 3. the queue, as the worker: only the versions claimed */
	{
		Oid			types[4] = {OIDOID, TEXTOID, TEXTARRAYOID, INT8ARRAYOID};
		Datum		values[4];
		const char *claimed = "table_oid OPERATOR(pg_catalog.=) $1 AND column_name OPERATOR(pg_catalog.=) $2"
			" AND row_key OPERATOR(pg_catalog.=) ANY ($3) AND version OPERATOR(pg_catalog.=) ANY ($4)";

		values[0] = ObjectIdGetDatum(cc->relid);
		values[1] = CStringGetTextDatum(cc->column);
		values[3] = int8_array(claimed_versions, nclaimed);
		if (ndone > 0)
		{
			values[2] = text_array(done_keys, ndone);
			run(psprintf("DELETE FROM %s WHERE %s", queue, claimed), 4, types, values);
		}
		if (nretry > 0)
		{
			values[2] = text_array(retry_keys, nretry);
			run(psprintf("DELETE FROM %s WHERE %s AND attempts OPERATOR(pg_catalog.>=) %d",
						 queue, claimed, MAX_TRANSIENT_ROUNDS - 1), 4, types, values);
			run(psprintf("UPDATE %s SET attempts = attempts OPERATOR(pg_catalog.+) 1,"
						 " not_before = pg_catalog.now() OPERATOR(pg_catalog.+) pg_catalog.make_interval("
						 "secs => LEAST(%d, 1 OPERATOR(pg_catalog.<<) (attempts OPERATOR(pg_catalog.+) 2)))"
						 " WHERE %s", queue, RETRY_DELAY_MAX_S, claimed), 4, types, values);
		}
		if (npark > 0)
		{
			values[2] = text_array(park_keys, npark);
			run(psprintf("UPDATE %s SET attempts = 0, not_before = 'infinity' WHERE %s", queue, claimed),
				4, types, values);
		}
	}
	/* entries for the empty cells that had none: a retry after a backoff, or left alone */
	if (nfresh_retry > 0 || nfresh_park > 0)
	{
		Oid			types[5] = {OIDOID, TEXTOID, TEXTARRAYOID, INT4OID, TEXTOID};
		Datum		values[5];
		char	   *sql = psprintf("INSERT INTO %s (table_oid, column_name, row_key, attempts, not_before)"
								   " SELECT $1, $2, k, $4, CASE $5 WHEN 'infinity' THEN 'infinity'::pg_catalog.timestamptz"
								   "  ELSE pg_catalog.now() OPERATOR(pg_catalog.+) $5::pg_catalog.interval END"
								   " FROM pg_catalog.unnest($3) k ON CONFLICT DO NOTHING", queue);

		values[0] = ObjectIdGetDatum(cc->relid);
		values[1] = CStringGetTextDatum(cc->column);
		if (nfresh_retry > 0)
		{
			/* as after a queued cell's first round: the next one in 4 s */
			values[2] = text_array(fresh_retry_keys, nfresh_retry);
			values[3] = Int32GetDatum(1);
			values[4] = CStringGetTextDatum("4 s");
			run(sql, 5, types, values);
		}
		if (nfresh_park > 0)
		{
			values[2] = text_array(fresh_park_keys, nfresh_park);
			values[3] = Int32GetDatum(0);
			values[4] = CStringGetTextDatum("infinity");
			run(sql, 5, types, values);
		}
	}

	/* under on_error 'abort', a failure that is not transient pauses the column */
	nretry += nfresh_retry;
	if (cc->on_error == OR_ON_ERROR_ABORT && counts.failed > (uint64) nretry)
	{
		Oid			types[2] = {OIDOID, NAMEOID};
		Datum		values[2];

		values[0] = ObjectIdGetDatum(cc->relid);
		values[1] = DirectFunctionCall1(namein, CStringGetDatum(cc->column));
		run(psprintf("UPDATE %s SET paused = true WHERE table_oid OPERATOR(pg_catalog.=) $1"
					 " AND column_name OPERATOR(pg_catalog.=) $2",
					 quote_qualified_identifier(schema, DEFINITIONS)), 2, types, values);
		ereport(LOG,
				(errmsg("openrouter worker: computed column \"%s\" of %s paused after a failure",
						cc->column, table),
				 errdetail("Its on_error is 'abort'; the failed cells hold {\"error\": ...}."),
				 errhint("Fix the cause, then SELECT openrouter_recompute(..., errors_only => true) and openrouter_resume(...); or switch to on_error => 'ignore' with openrouter_alter_computed_column().")));
	}
	state->computed += counts.computed;
	state->failed += counts.failed - Min(counts.failed, (uint64) nretry);
	publish_progress(cc->relid, cc->column, 0, column_rate(state));
	return (int) counts.computed + ndone;
}

/* a column that was at work has nothing left to compute now */
static void
caught_up(ColumnState *state)
{
	if (!state->working)
		return;
	state->working = false;
	if (state->logged)
		ereport(LOG,
				(errmsg("openrouter worker: column \"%s\" of %s caught up: " UINT64_FORMAT
						" cells computed (" UINT64_FORMAT " failed) in %.1f s",
						NameStr(state->column), state->table, state->computed, state->failed,
						(GetCurrentTimestamp() - state->started) / 1000000.0)));
}

/* run one chunk in a transaction of its own; an ERROR is logged, never raised */
static int
compute_chunk_in_transaction(Oid ns, const char *schema, const Candidate *candidate)
{
	ColumnState *state = column_state(candidate->relid, candidate->column);
	volatile int done = 0;
	TimestampTz now = GetCurrentTimestamp();

	if (now < state->not_before)
		return 0;
	if (!state->working)
	{
		state->logged = false;
		state->chunks = 0;
		state->started = now;
		state->computed = state->failed = 0;
	}

	SetCurrentStatementStartTimestamp();
	StartTransactionCommand();
	PG_TRY();
	{
		PushActiveSnapshot(GetTransactionSnapshot());
		if (SPI_connect() != SPI_OK_CONNECT)
			elog(ERROR, "SPI_connect failed");
		done = compute_chunk(ns, schema, candidate, state);
		SPI_finish();
		PopActiveSnapshot();
		CommitTransactionCommand();
		state->failures = 0;
		/* (a column whose empty cells are pending is listed even when it has none) */
		if (done > 0)
			state->working = true;
		else
			caught_up(state);
		/* a trickle of rows, one chunk each, is not worth a line: a backlog is */
		if (done > 0 && ++state->chunks == 2)
		{
			state->logged = true;
			ereport(LOG,
					(errmsg("openrouter worker: computing the pending cells of column \"%s\" of %s",
							candidate->column, state->table)));
		}
	}
	PG_CATCH();
	{
		ErrorData  *error;
		int			delay = COLUMN_DELAY_FIRST_MS;

		or_worker_pays_end();
		or_cache_keeps_retryable = false;
		MemoryContextSwitchTo(step_context);
		error = CopyErrorData();
		FlushErrorState();
		AbortCurrentTransaction();
		for (int i = 0; i < state->failures && delay < COLUMN_DELAY_MAX_MS; i++)
			delay *= 2;
		delay = Min(delay, COLUMN_DELAY_MAX_MS);
		state->failures++;
		state->not_before = TimestampTzPlusMilliseconds(GetCurrentTimestamp(), delay);
		ereport(LOG,
				(errmsg("openrouter worker: computing column \"%s\" of %s failed: %s",
						candidate->column, state->table[0] ? state->table : "a dropped table",
						error->message),
				 errdetail("Its cells stay pending; the worker tries again in %d ms.", delay)));
		FreeErrorData(error);
		done = 0;
	}
	PG_END_TRY();
	MemoryContextSwitchTo(step_context);
	return done;
}

/* ---------- the step ---------- */

/*
 * The columns with cells due, in (table, position) order; also removes the
 * queue entries of columns that are gone or no longer asynchronous.  NULL
 * schema: no extension (at 1.1) in this database.
 */
static List *
list_candidates(Oid *ns, char **schema)
{
	List	   *result = NIL;
	char	   *found;

	PushActiveSnapshot(GetTransactionSnapshot());
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	found = extension_schema(ns);
	*schema = found ? MemoryContextStrdup(step_context, found) : NULL;
	if (found != NULL)
	{
		char	   *queue = quote_qualified_identifier(found, QUEUE);
		char	   *definitions = quote_qualified_identifier(found, DEFINITIONS);
		TimestampTz now = GetCurrentTimestamp();

		if (now >= next_cleanup)
		{
			run(psprintf("DELETE FROM %s q WHERE NOT EXISTS (SELECT 1 FROM %s d"
						 " WHERE d.table_oid OPERATOR(pg_catalog.=) q.table_oid"
						 " AND d.column_name OPERATOR(pg_catalog.=) q.column_name"
						 " AND d.mode OPERATOR(pg_catalog.=) 'async')", queue, definitions),
				0, NULL, NULL);
			next_cleanup = TimestampTzPlusMilliseconds(now, CLEANUP_INTERVAL_MS);
		}
		run(psprintf("SELECT d.table_oid::pg_catalog.oid, d.column_name::pg_catalog.text, d.position, c.relowner"
					 " FROM %s d JOIN pg_catalog.pg_class c ON c.oid OPERATOR(pg_catalog.=) d.table_oid"
					 " WHERE d.mode OPERATOR(pg_catalog.=) 'async' AND NOT d.paused"
					 " AND (d.nulls_pending OR EXISTS (SELECT 1 FROM %s q WHERE q.table_oid OPERATOR(pg_catalog.=) d.table_oid"
					 "  AND q.column_name OPERATOR(pg_catalog.=) d.column_name"
					 "  AND q.not_before OPERATOR(pg_catalog.<=) pg_catalog.now()))"
					 " ORDER BY 1, 3", definitions, queue), 0, NULL, NULL);
		for (uint64 i = 0; i < SPI_processed; i++)
		{
			HeapTuple	tuple = SPI_tuptable->vals[i];
			TupleDesc	desc = SPI_tuptable->tupdesc;
			bool		isnull;
			MemoryContext old = MemoryContextSwitchTo(step_context);
			Candidate  *c = palloc(sizeof(Candidate));

			c->relid = DatumGetObjectId(SPI_getbinval(tuple, desc, 1, &isnull));
			c->column = SPI_getvalue(tuple, desc, 2);
			c->position = DatumGetInt32(SPI_getbinval(tuple, desc, 3, &isnull));
			c->owner = DatumGetObjectId(SPI_getbinval(tuple, desc, 4, &isnull));
			result = lappend(result, c);
			MemoryContextSwitchTo(old);
		}
	}
	SPI_finish();
	PopActiveSnapshot();
	return result;
}

static List *
candidates(Oid *ns, char **schema)
{
	List	   *volatile result = NIL;

	SetCurrentStatementStartTimestamp();
	StartTransactionCommand();
	PG_TRY();
	{
		result = list_candidates(ns, schema);
		CommitTransactionCommand();
	}
	PG_CATCH();
	{
		ErrorData  *error;

		/* e.g. a deadlock with a DROP EXTENSION: the next step looks again */
		MemoryContextSwitchTo(step_context);
		error = CopyErrorData();
		FlushErrorState();
		AbortCurrentTransaction();
		ereport(LOG,
				(errmsg("openrouter worker: could not list the asynchronous columns: %s", error->message)));
		result = NIL;
		*schema = MemoryContextStrdup(step_context, "");
	}
	PG_END_TRY();
	MemoryContextSwitchTo(step_context);
	return result;
}

int
or_async_columns_step(void)
{
	Oid			ns = InvalidOid;
	char	   *schema;
	List	   *due;
	ListCell   *lc;
	int			n;
	int			start = 0;
	MemoryContext caller = CurrentMemoryContext;

	if (step_context == NULL)
		step_context = AllocSetContextCreate(TopMemoryContext, "openrouter async columns",
											 ALLOCSET_DEFAULT_SIZES);
	MemoryContextReset(step_context);
	MemoryContextSwitchTo(step_context);

	due = candidates(&ns, &schema);
	if (schema == NULL)
	{
		MemoryContextSwitchTo(caller);
		return -1;
	}

	/* the columns that were at work and have nothing due any more caught up */
	for (int i = 0; i < n_states; i++)
	{
		bool		listed = false;

		foreach(lc, due)
		{
			Candidate  *c = lfirst(lc);

			if (c->relid == states[i].relid && strcmp(c->column, NameStr(states[i].column)) == 0)
				listed = true;
		}
		if (!listed)
			caught_up(&states[i]);
	}

	/* round robin: start after the column of the previous chunk */
	n = list_length(due);
	for (int i = 0; i < n; i++)
	{
		Candidate  *c = list_nth(due, i);

		if (c->relid > last_relid || (c->relid == last_relid && c->position > last_position))
		{
			start = i;
			break;
		}
	}
	for (int i = 0; i < n; i++)
	{
		Candidate  *c = list_nth(due, (start + i) % n);

		if (compute_chunk_in_transaction(ns, schema, c) > 0)
		{
			last_relid = c->relid;
			last_position = c->position;
			MemoryContextSwitchTo(caller);
			return 1;
		}
	}
	MemoryContextSwitchTo(caller);
	return 0;
}

/* ---------- the view's progress ---------- */

/*
 * openrouter_async_progress(OUT table_oid, OUT column_name, OUT in_flight, OUT rate)
 *		The column this database's worker computes now or computed last.
 */
Datum
openrouter_async_progress(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	Datum		values[4];
	bool		nulls[4] = {false, false, false, false};
	bool		have = false;
	NameData   *name = palloc0(sizeof(NameData));

	InitMaterializedSRF(fcinfo, 0);
	if (or_shared == NULL)
		return (Datum) 0;
	LWLockAcquire(or_shared->lock, LW_SHARED);
	{
		OrDatabaseWorker *slot = or_database_worker_slot(MyDatabaseId, false);

		if (slot != NULL && OidIsValid(slot->async_relid))
		{
			have = true;
			values[0] = ObjectIdGetDatum(slot->async_relid);
			namestrcpy(name, NameStr(slot->async_column));
			values[1] = NameGetDatum(name);
			values[2] = Int32GetDatum(slot->pid > 0 ? slot->async_in_flight : 0);
			values[3] = Float8GetDatum(slot->async_rate);
		}
	}
	LWLockRelease(or_shared->lock);
	if (have)
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	return (Datum) 0;
}
