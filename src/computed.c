/*
 * computed.c
 *		Computed columns (Pixeltable's add_computed_column): their definitions,
 *		the binding of their expressions, the trigger that computes inserted and
 *		updated rows, and the SQL entry points openrouter_add_computed_column,
 *		openrouter_drop_computed_column, openrouter_recompute,
 *		openrouter_backfill, openrouter_alter_computed_column, openrouter_pause
 *		and openrouter_resume.
 *
 * Rules this file keeps:
 * - Definitions (the table openrouter_computed_column) are written only here,
 *   as the table's owner under SECURITY_RESTRICTED_OPERATION, after checking
 *   that the caller owns the ordinary table and that the column is live.  No
 *   role has INSERT, UPDATE or DELETE on it (nor can lock its rows).
 * - An expression is bound when it is defined: parsed under the definer's
 *   search_path and stored deparsed with every name that is not in pg_catalog
 *   qualified.  It always runs under the search_path recorded with it (the
 *   definer's, pg_catalog first and pg_temp last), never the caller's.
 * - Whether an UPDATE is the extension's own is C state (writing_relid), set
 *   around that UPDATE and restored on every path; no setting can fake it.
 *   While a column is computed, its on_error is the default of every call in
 *   its expression that passes no on_error (failure.c's context).
 * - Cells are locked (FOR NO KEY UPDATE SKIP LOCKED) before their requests
 *   go out: concurrent runs never pay twice for a cell, and each counts only
 *   what it computed.
 * - User names never meet internal ones: tables are named schema-qualified,
 *   columns quoted, keys kept as lists of columns, and the trigger reads its
 *   transition tables under names only its own query sees.
 * - An error while cells are computed names, in its CONTEXT, the row whose
 *   expression raised it or whose request failed, by its primary key as
 *   PostgreSQL names rows ("for the row with (id)=(7)", each value cut to
 *   KEY_VALUE_CAP bytes), if the current user may read the key; else how far
 *   the computation got.  For that the expression is evaluated row by row
 *   (by the executor, so that no internal statement shows as context), and
 *   each request collected remembers its row (prefetch.c); the answers are
 *   still written by one UPDATE per chunk.
 * - An asynchronous column (mode 'async') is not computed by the triggers.
 *   An inserted row's empty cell is its pending work (the column's row
 *   trigger writes nothing; the worker finds the cell through the column's
 *   partial index, which the extension creates and drops with the mode);
 *   the keys of updated rows (and of every row, for a column added with
 *   backfill => false) go into the queue openrouter_async_queue (written as
 *   the extension's owner from keys read as the caller; a new version each
 *   time a row's input changes).  The database's worker is woken at commit;
 *   async_columns.c computes them.
 * or_compute_cells() is the one function that computes cells, in both modes;
 * everything else (trigger, recompute, backfill, the worker) chooses rows and
 * calls it.
 */
#include "budget.h"
#include "as_owner.h"
#include "async_queue.h"
#include "computed.h"
#include "definition_cache.h"
#include "prefetch.h"
#include "progress.h"
#include "request_cache.h"

#include "access/genam.h"
#include "access/htup_details.h"
#include "access/stratnum.h"
#include "access/sysattr.h"
#include "access/table.h"
#include "access/xact.h"
#include "catalog/namespace.h"
#include "catalog/pg_am.h"
#include "catalog/pg_class.h"
#include "catalog/pg_namespace.h"
#include "catalog/pg_operator.h"
#include "catalog/pg_type.h"
#include "commands/defrem.h"
#include "commands/trigger.h"
#include "executor/executor.h"
#include "executor/spi.h"
#include "executor/tstoreReceiver.h"
#include "funcapi.h"
#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "nodes/makefuncs.h"
#include "nodes/nodeFuncs.h"
#include "nodes/params.h"
#include "parser/analyze.h"
#include "parser/parse_coerce.h"
#include "parser/parser.h"
#include "tcop/tcopprot.h"
#include "utils/acl.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/datum.h"
#include "utils/fmgroids.h"
#include "utils/guc.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/plancache.h"
#include "utils/queryenvironment.h"
#include "utils/rel.h"
#include "utils/ruleutils.h"
#include "utils/snapmgr.h"
#include "utils/syscache.h"
#include "utils/timestamp.h"
#include "utils/tuplestore.h"

#include "shared_state.h"

PG_FUNCTION_INFO_V1(openrouter_add_computed_column);
PG_FUNCTION_INFO_V1(openrouter_drop_computed_column);
PG_FUNCTION_INFO_V1(openrouter_recompute);
PG_FUNCTION_INFO_V1(openrouter_backfill);
PG_FUNCTION_INFO_V1(openrouter_computed_column_trigger);
PG_FUNCTION_INFO_V1(openrouter_async_insert_trigger);
PG_FUNCTION_INFO_V1(openrouter_computed_column_bind);
PG_FUNCTION_INFO_V1(openrouter_alter_computed_column);
PG_FUNCTION_INFO_V1(openrouter_pause);
PG_FUNCTION_INFO_V1(openrouter_resume);

#define DEFINITIONS_TABLE "openrouter_computed_column"
#define TRIGGER_FUNCTION "openrouter_computed_column_trigger"
#define ASYNC_INSERT_TRIGGER_FUNCTION "openrouter_async_insert_trigger"
/* the search_path under which expressions are deparsed: everything else is qualified */
#define BINDING_PATH "pg_catalog, pg_temp"
/*
 * The name a bound expression calls its row by (whole-row and outer
 * references), whatever the table is called now: renaming the table does not
 * break it.
 */
#define ROW_ALIAS "openrouter_row"
/* the values a chunk computed (ctid, value), as its UPDATE reads them */
#define ANSWERS "openrouter$answers"
/* at most this many bytes of each key value name a row in an error (PostgreSQL's own cut) */
#define KEY_VALUE_CAP 64
/* names of the transition tables in the trigger's own query */
#define NEW_ROWS "openrouter$new"
/* the queue of asynchronous columns, and its versions */
#define ASYNC_QUEUE "openrouter_async_queue"
#define ASYNC_VERSIONS "openrouter_async_version"
#define OLD_ROWS "openrouter$old"

/* the table whose computed column this backend is writing now (InvalidOid: none) */
static Oid	writing_relid = InvalidOid;

/* ---------- small helpers ---------- */

static char *
qualified_table(Oid relid)
{
	char	   *name = get_rel_name(relid);

	if (name == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_TABLE),
				 errmsg("relation with OID %u does not exist", relid)));
	return quote_qualified_identifier(get_namespace_name(get_rel_namespace(relid)), name);
}

/* the extension's schema: where the SQL function being called lives */
static Oid
extension_schema(FunctionCallInfo fcinfo)
{
	return get_func_namespace(fcinfo->flinfo->fn_oid);
}

/* the table as the caller sees it, for messages (regclass output) */
static char *
table_for_message(Oid relid)
{
	return DatumGetCString(DirectFunctionCall1(regclassout, ObjectIdGetDatum(relid)));
}

static Oid
definitions_table(Oid ns)
{
	Oid			relid = get_relname_relid(DEFINITIONS_TABLE, ns);

	if (!OidIsValid(relid))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_TABLE),
				 errmsg("the openrouter extension's table of computed columns is missing"),
				 errhint("Update the extension: ALTER EXTENSION openrouter UPDATE;")));
	return relid;
}

/* Run a statement through SPI (connected by the caller); errors are raised. */
static int
run_sql(const char *sql, int nargs, Oid *types, Datum *values, const char *nulls)
{
	/* never read-only: every statement sees what the previous ones wrote */
	int			rc = SPI_execute_with_args(sql, nargs, types, values, nulls, false, 0);

	if (rc < 0)
		elog(ERROR, "SPI_execute_with_args failed: %s", SPI_result_code_string(rc));
	return rc;
}

/*
 * The statements every trigger firing runs (the definitions, the queue) are
 * planned once per backend: a plan is kept per slot for as long as the
 * statement's text (which names the extension's schema) stays the same.
 */
#define PLAN_DEFINITIONS 0
#define PLAN_ENQUEUE 1
#define N_PLANS 2
static SPIPlanPtr kept_plans[N_PLANS];
static char *kept_plan_sql[N_PLANS];

static int
run_kept(int slot, const char *sql, int nargs, Oid *types, Datum *values)
{
	int			rc;

	if (kept_plans[slot] == NULL || strcmp(kept_plan_sql[slot], sql) != 0)
	{
		SPIPlanPtr	plan = SPI_prepare(sql, nargs, types);

		if (plan == NULL)
			elog(ERROR, "SPI_prepare failed: %s", SPI_result_code_string(SPI_result));
		if (SPI_keepplan(plan) != 0)
			elog(ERROR, "SPI_keepplan failed");
		if (kept_plans[slot] != NULL)
		{
			SPI_freeplan(kept_plans[slot]);
			pfree(kept_plan_sql[slot]);
		}
		kept_plans[slot] = plan;
		kept_plan_sql[slot] = MemoryContextStrdup(TopMemoryContext, sql);
	}
	rc = SPI_execute_plan(kept_plans[slot], values, NULL, false, 0);
	if (rc < 0)
		elog(ERROR, "SPI_execute_plan failed: %s", SPI_result_code_string(rc));
	return rc;
}

/* Run under a search_path until restore_settings() (or the end of the (sub)transaction). */
static int
pin_search_path(const char *path)
{
	int			nestlevel = NewGUCNestLevel();

	(void) set_config_option("search_path", path, PGC_USERSET, PGC_S_SESSION,
							 GUC_ACTION_SAVE, true, 0, false);
	return nestlevel;
}

/*
 * Plan the next statements (until restore_settings()) with no sequential or
 * bitmap scan and no sort: a query ordered by an index's columns with a
 * LIMIT is then the walk of that index in order, which reads only as far as
 * it needs to.
 */
static int
pin_index_walk(void)
{
	static const char *const off[] = {"enable_seqscan", "enable_bitmapscan", "enable_sort"};
	int			nestlevel = NewGUCNestLevel();

	for (size_t i = 0; i < lengthof(off); i++)
		(void) set_config_option(off[i], "off", PGC_USERSET, PGC_S_SESSION,
								 GUC_ACTION_SAVE, true, 0, false);
	return nestlevel;
}

static void
restore_settings(int nestlevel)
{
	AtEOXact_GUC(true, nestlevel);
}

static void
check_table_owner(Oid relid)
{
	char		relkind = get_rel_relkind(relid);

	if (relkind == '\0')
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_TABLE),
				 errmsg("relation with OID %u does not exist", relid)));
	if (relkind != RELKIND_RELATION)
		ereport(ERROR,
				(errcode(ERRCODE_WRONG_OBJECT_TYPE),
				 errmsg("%s is not an ordinary table", table_for_message(relid)),
				 errdetail("Computed columns are supported on ordinary tables only, not on views, foreign or partitioned tables.")));
	if (!pg_class_ownercheck(relid, GetUserId()))
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("must be owner of table %s", table_for_message(relid)),
				 errdetail("Computed columns are defined and dropped by the table's owner.")));
}

static char *
text_arg(FunctionCallInfo fcinfo, int n, const char *what)
{
	if (PG_ARGISNULL(n))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("%s must not be null", what)));
	return TextDatumGetCString(PG_GETARG_DATUM(n));
}

static Oid
table_arg(FunctionCallInfo fcinfo)
{
	if (PG_ARGISNULL(0))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("tbl must not be null")));
	return PG_GETARG_OID(0);
}

static char *
column_arg(FunctionCallInfo fcinfo)
{
	if (PG_ARGISNULL(1))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("column_name must not be null")));
	return pstrdup(NameStr(*PG_GETARG_NAME(1)));
}

/* ---------- definitions ---------- */

/* a table's definitions, read from the definitions table */
static List *
read_definitions(Oid ns, Oid relid)
{
	MemoryContext caller = CurrentMemoryContext;
	Oid			types[1] = {REGCLASSOID};
	Datum		values[1];
	char	   *sql;
	List	   *result = NIL;

	values[0] = ObjectIdGetDatum(relid);
	sql = psprintf("SELECT column_name::pg_catalog.text, expression, search_path, on_error,"
				   " position, whole_row, input_columns::pg_catalog.text[],"
				   " mode OPERATOR(pg_catalog.=) 'async', paused, nulls_pending"
				   " FROM %s WHERE table_oid OPERATOR(pg_catalog.=) $1 ORDER BY position",
				   quote_qualified_identifier(get_namespace_name(ns), DEFINITIONS_TABLE));
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	run_kept(PLAN_DEFINITIONS, sql, 1, types, values);
	for (uint64 i = 0; i < SPI_processed; i++)
	{
		HeapTuple	tuple = SPI_tuptable->vals[i];
		TupleDesc	desc = SPI_tuptable->tupdesc;
		bool		isnull;
		char	   *path = SPI_getvalue(tuple, desc, 3);
		Datum		inputs = SPI_getbinval(tuple, desc, 7, &isnull);
		MemoryContext spi = MemoryContextSwitchTo(caller);
		OrComputedColumn *cc = palloc0(sizeof(OrComputedColumn));
		Datum	   *elems;
		int			nelems;

		cc->relid = relid;
		cc->column = SPI_getvalue(tuple, desc, 1);
		cc->expression = SPI_getvalue(tuple, desc, 2);
		/* a definition migrated from 1.0 without a path of its own */
		cc->search_path = path ? pstrdup(path) : pstrdup(BINDING_PATH);
		cc->on_error = strcmp(SPI_getvalue(tuple, desc, 4), "ignore") == 0
			? OR_ON_ERROR_IGNORE : OR_ON_ERROR_ABORT;
		cc->position = DatumGetInt32(SPI_getbinval(tuple, desc, 5, &isnull));
		cc->whole_row = DatumGetBool(SPI_getbinval(tuple, desc, 6, &isnull));
		cc->async = DatumGetBool(SPI_getbinval(tuple, desc, 8, &isnull));
		cc->paused = DatumGetBool(SPI_getbinval(tuple, desc, 9, &isnull));
		cc->nulls_pending = DatumGetBool(SPI_getbinval(tuple, desc, 10, &isnull));
		deconstruct_array(DatumGetArrayTypeP(inputs), TEXTOID, -1, false, TYPALIGN_INT,
						  &elems, NULL, &nelems);
		cc->ninputs = nelems;
		cc->inputs = palloc(sizeof(char *) * Max(nelems, 1));
		for (int j = 0; j < nelems; j++)
			cc->inputs[j] = TextDatumGetCString(elems[j]);
		result = lappend(result, cc);
		MemoryContextSwitchTo(spi);
	}
	SPI_finish();
	return result;
}

/*
 * A table's computed columns in creation order (only the one named column,
 * if column is not NULL): copies, in the caller's memory context, of what
 * this backend read last (definition_cache.c), else read now.
 */
List *
or_computed_columns(Oid ns, Oid relid, const char *column)
{
	Oid			definitions = definitions_table(ns);
	List	   *all;
	List	   *named = NIL;
	ListCell   *lc;

	if (!or_definition_cache_lookup(definitions, relid, &all))
	{
		all = read_definitions(ns, relid);
		or_definition_cache_store(definitions, relid, all);
	}
	if (column == NULL)
		return all;
	foreach(lc, all)
		if (strcmp(((OrComputedColumn *) lfirst(lc))->column, column) == 0)
			named = lappend(named, lfirst(lc));
	return named;
}

static OrComputedColumn *
computed_column(Oid ns, Oid relid, const char *column)
{
	List	   *found;

	(void) qualified_table(relid);	/* a relation that does not exist is an error */
	found = or_computed_columns(ns, relid, column);
	if (found == NIL)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_COLUMN),
				 errmsg("column \"%s\" of relation %s is not a computed column",
						column, table_for_message(relid)),
				 errhint("See the view openrouter_computed_columns.")));
	return linitial(found);
}

static bool
reads_column(const OrComputedColumn *cc, const char *column)
{
	if (cc->whole_row)
		return true;
	for (int i = 0; i < cc->ninputs; i++)
		if (strcmp(cc->inputs[i], column) == 0)
			return true;
	return false;
}

/*
 * Write one of the extension's tables (the definitions, the async queue) as
 * its owner.  The caller has checked what it writes; the statement runs no
 * user code (only the extension's own tables and built-in operators), and
 * SECURITY_RESTRICTED_OPERATION keeps the owner's rights to it.
 */
/* one write of an extension table, run as its owner */
typedef struct OwnerWrite
{
	const char *sql;
	int			plan_slot;
	int			nargs;
	Oid		   *types;
	Datum	   *values;
} OwnerWrite;

static void
execute_owner_write(void *arg)
{
	OwnerWrite *w = (OwnerWrite *) arg;

	if (w->plan_slot >= 0)
		run_kept(w->plan_slot, w->sql, w->nargs, w->types, w->values);
	else
		run_sql(w->sql, w->nargs, w->types, w->values, NULL);
}

static void
write_extension_table(Oid ns, const char *relname, int plan_slot, const char *sql_format,
					  int nargs, Oid *types, Datum *values)
{
	Oid			table = get_relname_relid(relname, ns);
	Oid			owner;
	HeapTuple	tuple = SearchSysCache1(RELOID, ObjectIdGetDatum(table));
	OwnerWrite	w;

	if (!HeapTupleIsValid(tuple))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_TABLE),
				 errmsg("the openrouter extension's table %s is missing", relname),
				 errhint("Update the extension: ALTER EXTENSION openrouter UPDATE;")));
	owner = ((Form_pg_class) GETSTRUCT(tuple))->relowner;
	ReleaseSysCache(tuple);
	w.sql = psprintf(sql_format, qualified_table(table));
	w.plan_slot = plan_slot;
	w.nargs = nargs;
	w.types = types;
	w.values = values;
	or_run_as_owner(owner, execute_owner_write, &w);
}

static void
write_definitions(Oid ns, const char *sql_format, int nargs, Oid *types, Datum *values)
{
	(void) definitions_table(ns);
	write_extension_table(ns, DEFINITIONS_TABLE, -1, sql_format, nargs, types, values);
}

/* ---------- binding an expression ---------- */

typedef struct InputWalk
{
	Index		level;			/* subquery depth */
	Bitmapset  *attnos;
	bool		whole_row;
} InputWalk;

static bool
input_walker(Node *node, InputWalk *walk)
{
	if (node == NULL)
		return false;
	if (IsA(node, Var))
	{
		Var		   *var = (Var *) node;

		if (var->varno == 1 && var->varlevelsup == walk->level)
		{
			if (var->varattno == 0)
				walk->whole_row = true;
			else if (var->varattno > 0)
				walk->attnos = bms_add_member(walk->attnos, var->varattno);
		}
		return false;
	}
	if (IsA(node, Query))
	{
		bool		result;

		walk->level++;
		result = query_tree_walker((Query *) node, input_walker, walk, 0);
		walk->level--;
		return result;
	}
	return expression_tree_walker(node, input_walker, walk);
}

/* parser errors point into the expression, not into the caller's statement */
static void
expression_error_callback(void *arg)
{
	int			position = geterrposition();

	if (position > 0)
	{
		errposition(0);
		internalerrposition(position);
		internalerrquery((const char *) arg);
	}
	else
		errcontext("computed-column expression: %s", (const char *) arg);
}

typedef struct BoundExpression
{
	char	   *expression;		/* deparsed, names qualified */
	char	   *search_path;	/* the definer's, pg_catalog first, pg_temp last */
	Oid			type;
	int32		typmod;
	bool		whole_row;
	Bitmapset  *attnos;			/* the columns it reads directly */
} BoundExpression;

static char *
definer_search_path(void)
{
	List	   *path = fetch_search_path(false);
	StringInfoData buf;
	ListCell   *lc;

	initStringInfo(&buf);
	appendStringInfoString(&buf, "pg_catalog");
	foreach(lc, path)
	{
		Oid			ns = lfirst_oid(lc);

		if (ns == PG_CATALOG_NAMESPACE || isAnyTempNamespace(ns))
			continue;
		appendStringInfo(&buf, ", %s", quote_identifier(get_namespace_name(ns)));
	}
	appendStringInfoString(&buf, ", pg_temp");
	return buf.data;
}

/*
 * Parse an expression over the table's row, as the current role under the
 * current search_path, and return it bound: deparsed under BINDING_PATH so
 * that every function, operator and type outside pg_catalog is named with its
 * schema.  A single expression only (no FROM, no aggregate, no set-returning
 * function at the top).
 */
static BoundExpression
bind_expression(Oid relid, const char *expression)
{
	ErrorContextCallback callback;
	List	   *raw;
	RawStmt    *stmt;
	SelectStmt *select;
	RangeVar   *table;
	Query	   *query;
	Node	   *expr;
	InputWalk	walk = {0};
	BoundExpression bound;
	int			nestlevel;

	callback.callback = expression_error_callback;
	callback.arg = (void *) expression;
	callback.previous = error_context_stack;
	error_context_stack = &callback;

	bound.search_path = definer_search_path();
	table = makeRangeVar(get_namespace_name(get_rel_namespace(relid)),
						 get_rel_name(relid), -1);
	if (table->relname == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_TABLE),
				 errmsg("relation with OID %u does not exist", relid)));
	raw = raw_parser(expression, RAW_PARSE_PLPGSQL_EXPR);
	stmt = list_length(raw) == 1 ? linitial_node(RawStmt, raw) : NULL;
	select = stmt ? (SelectStmt *) stmt->stmt : NULL;
	if (select == NULL || !IsA(select, SelectStmt) ||
		list_length(select->targetList) != 1 || select->fromClause != NIL ||
		select->whereClause != NULL || select->groupClause != NIL ||
		select->havingClause != NULL || select->windowClause != NIL ||
		select->sortClause != NIL || select->limitCount != NULL ||
		select->limitOffset != NULL || select->lockingClause != NIL ||
		select->distinctClause != NIL ||
		((ResTarget *) linitial(select->targetList))->name != NULL)
		ereport(ERROR,
				(errcode(ERRCODE_SYNTAX_ERROR),
				 errmsg("the expression of a computed column must be one SQL expression"),
				 errdetail("It was: %s", expression),
				 errhint("Write an expression over the table's columns, such as openrouter_chat(openrouter_messages(prompt), 'openai/gpt-4o-mini').")));
	table->inh = false;
	select->fromClause = list_make1(table);
	query = parse_analyze_fixedparams(stmt, expression, NULL, 0, NULL);
	if (query->hasAggs || query->hasWindowFuncs || query->hasTargetSRFs)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("the expression of a computed column must give one value per row"),
				 errdetail("Aggregates, window functions and set-returning functions are not allowed at its top level.")));
	expr = (Node *) ((TargetEntry *) linitial(query->targetList))->expr;
	if (exprType(expr) == UNKNOWNOID)
		expr = coerce_to_target_type(NULL, expr, UNKNOWNOID, TEXTOID, -1,
									 COERCION_ASSIGNMENT, COERCE_IMPLICIT_CAST, -1);
	bound.type = exprType(expr);
	bound.typmod = exprTypmod(expr);
	(void) input_walker(expr, &walk);
	bound.whole_row = walk.whole_row;
	bound.attnos = walk.attnos;

	nestlevel = pin_search_path(BINDING_PATH);
	bound.expression = deparse_expression(expr, deparse_context_for(ROW_ALIAS, relid),
										  false, false);
	restore_settings(nestlevel);
	error_context_stack = callback.previous;
	return bound;
}

/*
 * openrouter_computed_column_bind(tbl regclass, expression text)
 *		Internal (the 1.0 -> 1.1 upgrade binds the definitions it finds): the
 *		bound expression, the search_path to run it under, whether it reads the
 *		whole row, and the columns it reads directly.
 */
Datum
openrouter_computed_column_bind(PG_FUNCTION_ARGS)
{
	Oid			relid = table_arg(fcinfo);
	BoundExpression bound;
	TupleDesc	desc;
	Datum		values[4];
	bool		nulls[4] = {false, false, false, false};
	Datum	   *names;
	int			n = 0;
	int			attno = -1;

	(void) qualified_table(relid);	/* a relation that does not exist is an error */
	bound = bind_expression(relid, text_arg(fcinfo, 1, "expression"));
	if (get_call_result_type(fcinfo, NULL, &desc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "return type must be a row type");
	names = palloc(sizeof(Datum) * (bms_num_members(bound.attnos) + 1));
	while ((attno = bms_next_member(bound.attnos, attno)) >= 0)
		names[n++] = DirectFunctionCall1(namein,
										 CStringGetDatum(get_attname(relid, attno, false)));
	values[0] = CStringGetTextDatum(bound.expression);
	values[1] = CStringGetTextDatum(bound.search_path);
	values[2] = BoolGetDatum(bound.whole_row);
	values[3] = PointerGetDatum(construct_array(names, n, NAMEOID, NAMEDATALEN, false,
												TYPALIGN_CHAR));
	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(desc, values, nulls)));
}

/* ---------- primary keys ---------- */

/* The primary key: its columns (quoted) and their equality operators. */
typedef struct TableKey
{
	int			ncolumns;
	AttrNumber *attnums;
	char	  **columns;		/* quoted */
	Oid		   *types;
	Oid		   *opfamilies;		/* of the key's index, for the operators below */
	Oid		   *opcintypes;
	char	  **equal;			/* "OPERATOR(schema.=)" */
	char	  **less;			/* "OPERATOR(schema.<)" */
	char	  **greater_equal;	/* "OPERATOR(schema.>=)" */
	char	  **greater;		/* "OPERATOR(schema.>)" */
} TableKey;

static char *
operator_sql(Oid opfamily, Oid type, int16 strategy)
{
	Oid			op = get_opfamily_member(opfamily, type, type, strategy);
	HeapTuple	tuple;
	Form_pg_operator form;
	char	   *result;

	tuple = SearchSysCache1(OPEROID, ObjectIdGetDatum(op));
	if (!HeapTupleIsValid(tuple))
		elog(ERROR, "no operator of strategy %d for type %u in family %u", strategy, type, opfamily);
	form = (Form_pg_operator) GETSTRUCT(tuple);
	result = psprintf("OPERATOR(%s.%s)", quote_identifier(get_namespace_name(form->oprnamespace)),
					  NameStr(form->oprname));
	ReleaseSysCache(tuple);
	return result;
}

static void no_primary_key_error(Oid relid) pg_attribute_noreturn();

static void
no_primary_key_error(Oid relid)
{
	ereport(ERROR,
			(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
			 errmsg("table %s has no primary key", table_for_message(relid)),
			 errdetail("Computed columns find the rows an INSERT or UPDATE touched by their primary key."),
			 errhint("Add one, e.g. ALTER TABLE ... ADD COLUMN id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY.")));
}

/*
 * The columns of the table's primary key into *key (not its operators:
 * add_key_operators() adds those); false when it has none (dropped after
 * the computed column was added).
 */
static bool
primary_key_columns(Oid relid, TableKey *key)
{
	Relation	rel = table_open(relid, AccessShareLock);
	Oid			index_oid = RelationGetPrimaryKeyIndex(rel);
	Relation	index;

	memset(key, 0, sizeof(TableKey));
	if (!OidIsValid(index_oid))
	{
		table_close(rel, AccessShareLock);
		return false;
	}
	index = index_open(index_oid, AccessShareLock);
	key->ncolumns = index->rd_index->indnkeyatts;
	key->attnums = palloc(sizeof(AttrNumber) * key->ncolumns);
	key->columns = palloc(sizeof(char *) * key->ncolumns);
	key->types = palloc(sizeof(Oid) * key->ncolumns);
	key->opfamilies = palloc(sizeof(Oid) * key->ncolumns);
	key->opcintypes = palloc(sizeof(Oid) * key->ncolumns);
	for (int i = 0; i < key->ncolumns; i++)
	{
		key->attnums[i] = index->rd_index->indkey.values[i];
		key->columns[i] = pstrdup(quote_identifier(get_attname(relid, key->attnums[i], false)));
		key->types[i] = get_atttype(relid, key->attnums[i]);
		key->opfamilies[i] = index->rd_opfamily[i];
		key->opcintypes[i] = index->rd_opcintype[i];
	}
	index_close(index, AccessShareLock);
	table_close(rel, AccessShareLock);
	return true;
}

/* the operators of a primary key's columns, for queries over them */
static void
add_key_operators(TableKey *key)
{
	key->equal = palloc(sizeof(char *) * key->ncolumns);
	key->less = palloc(sizeof(char *) * key->ncolumns);
	key->greater_equal = palloc(sizeof(char *) * key->ncolumns);
	key->greater = palloc(sizeof(char *) * key->ncolumns);
	for (int i = 0; i < key->ncolumns; i++)
	{
		Oid			family = key->opfamilies[i];
		Oid			type = key->opcintypes[i];

		key->equal[i] = operator_sql(family, type, BTEqualStrategyNumber);
		key->less[i] = operator_sql(family, type, BTLessStrategyNumber);
		key->greater_equal[i] = operator_sql(family, type, BTGreaterEqualStrategyNumber);
		key->greater[i] = operator_sql(family, type, BTGreaterStrategyNumber);
	}
}

/* The table's primary key, its columns only (no operators to look up). */
static TableKey
primary_key_of_columns(Oid relid)
{
	TableKey	key;

	if (!primary_key_columns(relid, &key))
		no_primary_key_error(relid);
	return key;
}

/* The table's primary key with its operators into *key; false when it has none. */
static bool
primary_key_if_any(Oid relid, TableKey *key)
{
	if (!primary_key_columns(relid, key))
		return false;
	add_key_operators(key);
	return true;
}

/* The table's primary key with its operators. */
static TableKey
primary_key(Oid relid)
{
	TableKey	key = primary_key_of_columns(relid);

	add_key_operators(&key);
	return key;
}

/* ---------- computing cells ---------- */

static Datum
tid_array(const ItemPointerData *ctids, int n)
{
	Datum	   *elems = palloc(sizeof(Datum) * Max(n, 1));

	for (int i = 0; i < n; i++)
		elems[i] = PointerGetDatum(&ctids[i]);
	return PointerGetDatum(construct_array(elems, n, TIDOID, sizeof(ItemPointerData),
										   false, TYPALIGN_SHORT));
}

/* the SQL condition of a failed (or empty) cell */
static char *
failed_condition(Oid relid, const char *column, const char *prefix)
{
	AttrNumber	attno = get_attnum(relid, column);
	const char *quoted = quote_identifier(column);

	if (attno != InvalidAttrNumber && get_atttype(relid, attno) == JSONBOID)
		return psprintf("(%s%s IS NULL OR %s%s OPERATOR(pg_catalog.?) 'error')",
						prefix, quoted, prefix, quoted);
	return psprintf("%s%s IS NULL", prefix, quoted);
}

/* collect the ctids (column 1) of an SPI result, in the caller's context */
static ItemPointerData *
spi_ctids(MemoryContext context, int *n)
{
	ItemPointerData *ctids = MemoryContextAlloc(context, sizeof(ItemPointerData) *
												Max(SPI_processed, 1));
	bool		isnull;

	for (uint64 i = 0; i < SPI_processed; i++)
		ctids[i] = *(ItemPointer) DatumGetPointer(SPI_getbinval(SPI_tuptable->vals[i],
																SPI_tuptable->tupdesc, 1, &isnull));
	*n = (int) SPI_processed;
	return ctids;
}

/*
 * What an error says while cells are computed (its CONTEXT line): the row
 * whose expression was being evaluated, or whose request failed, by its
 * primary key as PostgreSQL names rows in its own messages
 * ("computing column r of table e for the row with (id)=(7)"); otherwise
 * how far the computation got ("computing e.r: 0 of 2 rows done").
 */
typedef struct ComputeErrorContext
{
	const char *table;			/* as the caller sees it */
	const char *column;			/* quoted */
	OrProgress *progress;
	char	   *key_columns;	/* "(id)", "(a, b)"; NULL: the key is not shown */
	char	  **keys;			/* the chunk's rows' key values ("7", "1, x"), or NULL */
	int			nkeys;
	int			row;			/* the row of the chunk being evaluated, or -1 */
} ComputeErrorContext;

static void
compute_error_context(void *arg)
{
	ComputeErrorContext *context = (ComputeErrorContext *) arg;
	int			row = context->row >= 0 ? context->row : or_prefetch_failed_row();

	if (context->keys != NULL && row >= 0 && row < context->nkeys)
		errcontext("computing column %s of table %s for the row with %s=(%s)",
				   context->column, context->table, context->key_columns, context->keys[row]);
	else
		or_progress_error_context(context->progress);
}

/*
 * "(id)", "(a, b)": the key's columns as errors name them, or NULL when the
 * current user may not see their values.  As PostgreSQL decides for a key in
 * a unique violation's DETAIL: SELECT on the table or on every key column.
 * (The rows computed are the ones the user's own queries found and locked,
 * under its row security: their keys are the user's to see.)
 */
static char *
key_columns_shown(Oid relid, TableKey *key)
{
	Oid			user = GetUserId();
	StringInfoData buf;

	if (!primary_key_if_any(relid, key))
		return NULL;
	if (pg_class_aclcheck(relid, user, ACL_SELECT) != ACLCHECK_OK)
		for (int i = 0; i < key->ncolumns; i++)
			if (pg_attribute_aclcheck(relid, key->attnums[i], user, ACL_SELECT) != ACLCHECK_OK)
				return NULL;
	initStringInfo(&buf);
	appendStringInfoChar(&buf, '(');
	for (int i = 0; i < key->ncolumns; i++)
		appendStringInfo(&buf, "%s%s", i > 0 ? ", " : "", key->columns[i]);
	appendStringInfoChar(&buf, ')');
	return buf.data;
}

/*
 * "1, x": a row's key values (the SPI result's columns first .. first + n - 1)
 * in their types' output, each cut to KEY_VALUE_CAP bytes of whole characters
 * with "..." (as PostgreSQL cuts a failing row's values).
 */
static char *
key_values(HeapTuple tuple, TupleDesc desc, int first, int n)
{
	StringInfoData buf;

	initStringInfo(&buf);
	for (int i = 0; i < n; i++)
	{
		char	   *value = SPI_getvalue(tuple, desc, first + i);

		if (i > 0)
			appendStringInfoString(&buf, ", ");
		if (value == NULL)
			appendStringInfoString(&buf, "null");
		else if (strlen(value) > KEY_VALUE_CAP)
		{
			appendBinaryStringInfo(&buf, value,
								   pg_mbcliplen(value, (int) strlen(value), KEY_VALUE_CAP));
			appendStringInfoString(&buf, "...");
		}
		else
			appendStringInfoString(&buf, value);
		if (value != NULL)
			pfree(value);
	}
	return buf.data;
}

/*
 * A query over one row of a chunk (its ctid: $1), for each row in turn:
 * planned and started once, then run again for the next row (rewound, with
 * the next ctid), so that the calls in it keep what they resolve once per
 * statement (the client, the arguments' layout).  Run by the executor
 * directly, not through SPI: an error of a row's expression carries no
 * internal statement as its context, only the row (compute_error_context).
 */
typedef struct RowQuery
{
	SPIPlanPtr	plan;
	CachedPlan *cached;
	QueryDesc  *query;
	ItemPointerData ctid;		/* the value of $1 */
	bool		ran;			/* rewind before the next row */
} RowQuery;

/* plan and start the query (under the active snapshot), its rows to dest */
static void
row_query_start(RowQuery *rq, const char *sql, DestReceiver *dest)
{
	Oid			types[1] = {TIDOID};
	ParamListInfo params = makeParamList(1);

	rq->plan = SPI_prepare_cursor(sql, 1, types, CURSOR_OPT_GENERIC_PLAN);
	if (rq->plan == NULL)
		elog(ERROR, "SPI_prepare_cursor failed: %s", SPI_result_code_string(SPI_result));
	rq->cached = SPI_plan_get_cached_plan(rq->plan);
	if (rq->cached == NULL || list_length(rq->cached->stmt_list) != 1)
		elog(ERROR, "a computed column's query has no plan of one statement");
	params->params[0].ptype = TIDOID;
	params->params[0].pflags = PARAM_FLAG_CONST;
	params->params[0].isnull = false;
	params->params[0].value = PointerGetDatum(&rq->ctid);
	rq->query = CreateQueryDesc(linitial_node(PlannedStmt, rq->cached->stmt_list), sql,
								GetActiveSnapshot(), InvalidSnapshot, dest, params, NULL, 0);
	ExecutorStart(rq->query, 0);
	rq->ran = false;
}

/*
 * Run the query for one row of the chunk (number row: what an error
 * meanwhile names, and what the requests it collects are for).
 */
static void
row_query_run(RowQuery *rq, const ItemPointerData *ctid, int row,
			  ComputeErrorContext *context)
{
	rq->ctid = *ctid;
	if (rq->ran)
		ExecutorRewind(rq->query);	/* (the scan reads $1 again) */
	context->row = row;
	or_prefetch_set_row(row);
	ExecutorRun(rq->query, ForwardScanDirection, 1, false);
	or_prefetch_set_row(-1);
	context->row = -1;
	rq->ran = true;
}

static void
row_query_end(RowQuery *rq)
{
	ExecutorFinish(rq->query);
	ExecutorEnd(rq->query);
	FreeQueryDesc(rq->query);
	ReleaseCachedPlan(rq->cached, NULL);	/* (an unsaved plan: no owner) */
	SPI_freeplan(rq->plan);
}

/*
 * Evaluate the expression for each locked row in collect mode, and send the
 * requests collected all together: the first failure that aborts is raised
 * at once (nothing is paid after it), and names the row it was collected
 * for.  Under a snapshot that sees this transaction's rows.  The previous
 * collection's answers may now be evicted; this one's are kept (pinned) for
 * the second pass.  Returns the expression's type.
 */
static Oid
collect_requests(const OrComputedColumn *cc, const char *table,
				 ComputeErrorContext *context, const ItemPointerData *locked, int nlocked)
{
	volatile Oid type = InvalidOid;

	CommandCounterIncrement();
	PushActiveSnapshot(GetTransactionSnapshot());
	or_prefetch_start(CurrentMemoryContext);
	or_cache_unpin_all();
	PG_TRY();
	{
		RowQuery	rq;

		/* (planned while collecting: a call folded into the plan is no row's) */
		row_query_start(&rq, psprintf("SELECT (%s) FROM ONLY %s AS " ROW_ALIAS
									  " WHERE ctid OPERATOR(pg_catalog.=) $1",
									  cc->expression, table), None_Receiver);
		type = TupleDescAttr(rq.query->tupDesc, 0)->atttypid;
		for (int i = 0; i < nlocked; i++)
			row_query_run(&rq, &locked[i], i, context);
		row_query_end(&rq);
	}
	PG_FINALLY();
	{
		or_prefetch_stop();
	}
	PG_END_TRY();
	PopActiveSnapshot();
	(void) or_prefetch_send(true, NULL, NULL);
	return type;
}

/*
 * Make a tuplestore readable by name in this SPI connection's statements:
 * a trigger's transition table (its rows' type: the table's, relid) or the
 * values a chunk computed (desc).
 */
static void
register_named_rows(const char *name, Oid relid, TupleDesc desc, Tuplestorestate *rows)
{
	EphemeralNamedRelation enr = palloc(sizeof(EphemeralNamedRelationData));

	enr->md.name = (char *) name;
	enr->md.reliddesc = relid;
	enr->md.tupdesc = desc;
	enr->md.enrtype = ENR_NAMED_TUPLESTORE;
	enr->md.enrtuples = tuplestore_tuple_count(rows);
	enr->reldata = rows;
	if (SPI_register_relation(enr) < 0)
		elog(ERROR, "could not register the rows named %s", name);
}

/*
 * Write the values computed (answers: ctid, value) in one UPDATE joining the
 * rows to their values, which the trigger recognises as the extension's own.
 * Returns how many rows it wrote (their new ctids into written).
 */
static int
write_answers(const OrComputedColumn *cc, const char *table, Tuplestorestate *answers,
			  TupleDesc desc, const ItemPointerData *locked, int nlocked,
			  ItemPointerData *written, OrComputeCounts *counts)
{
	Oid			types[1] = {TIDARRAYOID};
	Datum		values[1];
	Oid			saved_writing = writing_relid;
	int			nwritten;

	register_named_rows(ANSWERS, InvalidOid, desc, answers);
	values[0] = tid_array(locked, nlocked);
	writing_relid = cc->relid;
	PG_TRY();
	{
		run_sql(psprintf("UPDATE ONLY %s AS " ROW_ALIAS " SET %s = " ANSWERS ".value"
						 " FROM " ANSWERS " WHERE " ROW_ALIAS ".ctid OPERATOR(pg_catalog.=) ANY ($1)"
						 " AND " ROW_ALIAS ".ctid OPERATOR(pg_catalog.=) " ANSWERS ".ctid"
						 " RETURNING " ROW_ALIAS ".ctid, %s", table, quote_identifier(cc->column),
						 failed_condition(cc->relid, cc->column, ROW_ALIAS ".")),
				1, types, values, NULL);
	}
	PG_FINALLY();
	{
		writing_relid = saved_writing;
	}
	PG_END_TRY();
	nwritten = 0;
	for (uint64 i = 0; i < SPI_processed; i++)
	{
		bool		isnull;

		written[nwritten++] = *(ItemPointer) DatumGetPointer(
			SPI_getbinval(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1, &isnull));
		if (DatumGetBool(SPI_getbinval(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 2, &isnull)))
			counts->failed++;
	}
	counts->computed += SPI_processed;
	SPI_freetuptable(SPI_tuptable);
	if (SPI_unregister_relation(ANSWERS) < 0)
		elog(ERROR, "could not unregister the computed values");
	return nwritten;
}

/*
 * One chunk: lock the rows (reading their keys, for errors); collect every
 * row's requests and send them at once; evaluate the expression again for
 * each row, now with the answers; write the values in one UPDATE.  The
 * expression is evaluated row by row, so that an error names its row; the
 * UPDATE is one statement, so that the table's statement triggers fire once
 * per chunk.
 */
static int
compute_chunk(const OrComputedColumn *cc, const char *table, const TableKey *key,
			  ComputeErrorContext *context, const ItemPointerData *ctids, int n,
			  ItemPointerData *written, OrComputeCounts *counts)
{
	Oid			types[1] = {TIDARRAYOID};
	Datum		values[1];
	ItemPointerData *locked;
	int			nlocked;
	int			nwritten;
	StringInfoData key_list;
	RowQuery	rq;
	char	   *value;
	Tuplestorestate *answers;
	DestReceiver *dest;
	TupleDesc	desc;

	values[0] = tid_array(ctids, n);
	/*
	 * Lock the rows, skipping those another transaction holds.  A row that
	 * was updated since the caller read its ctid is locked in its new version:
	 * that version has a ctid not asked for, and is left out too (whoever
	 * updated it computed it).
	 */
	initStringInfo(&key_list);
	if (context->key_columns != NULL)
		for (int i = 0; i < key->ncolumns; i++)
			appendStringInfo(&key_list, ", %s", key->columns[i]);
	run_sql(psprintf("SELECT l.* FROM (SELECT ctid%s FROM ONLY %s"
					 " WHERE ctid OPERATOR(pg_catalog.=) ANY ($1) FOR NO KEY UPDATE SKIP LOCKED) l"
					 " WHERE l.ctid OPERATOR(pg_catalog.=) ANY ($1)", key_list.data, table),
			1, types, values, NULL);
	locked = spi_ctids(CurrentMemoryContext, &nlocked);
	if (context->key_columns != NULL && nlocked > 0)
	{
		context->keys = palloc(sizeof(char *) * nlocked);
		for (int i = 0; i < nlocked; i++)
			context->keys[i] = key_values(SPI_tuptable->vals[i], SPI_tuptable->tupdesc,
										  2, key->ncolumns);
		context->nkeys = nlocked;
	}
	SPI_freetuptable(SPI_tuptable);
	if (nlocked == 0)
		return 0;

	value = psprintf("(%s)", cc->expression);
	if (collect_requests(cc, table, context, locked, nlocked) == RECORDOID)
	{
		/*
		 * An anonymous row (ROW(...) for an adopted column of a composite
		 * type) is cast to the column's type here: the UPDATE gets a value,
		 * which it cannot cast from record as it could the ROW expression.
		 */
		Oid			column_type;
		int32		column_typmod;
		Oid			collation;

		get_atttypetypmodcoll(cc->relid, get_attnum(cc->relid, cc->column),
							  &column_type, &column_typmod, &collation);
		if (column_type != RECORDOID)
			value = psprintf("CAST(%s AS %s)", value,
							 format_type_extended(column_type, column_typmod,
												  FORMAT_TYPE_FORCE_QUALIFY | FORMAT_TYPE_TYPEMOD_GIVEN));
	}

	/* the values, row by row (the answers come from the request cache) */
	CommandCounterIncrement();
	PushActiveSnapshot(GetTransactionSnapshot());
	answers = tuplestore_begin_heap(false, false, work_mem);
	dest = CreateDestReceiver(DestTuplestore);
	SetTuplestoreDestReceiverParams(dest, answers, CurrentMemoryContext, false, NULL, NULL);
	row_query_start(&rq, psprintf("SELECT ctid, %s AS value FROM ONLY %s AS " ROW_ALIAS
								  " WHERE ctid OPERATOR(pg_catalog.=) $1", value, table), dest);
	for (int i = 0; i < nlocked; i++)
		row_query_run(&rq, &locked[i], i, context);
	desc = CreateTupleDescCopy(rq.query->tupDesc);
	row_query_end(&rq);
	dest->rDestroy(dest);
	PopActiveSnapshot();

	nwritten = tuplestore_tuple_count(answers) > 0
		? write_answers(cc, table, answers, desc, locked, nlocked, written, counts) : 0;
	tuplestore_end(answers);
	return nwritten;
}

ItemPointerData *
or_compute_cells(const OrComputedColumn *cc, const ItemPointerData *ctids,
				 int nctids, int *nwritten, OrComputeCounts *counts)
{
	ItemPointerData *written = palloc(sizeof(ItemPointerData) * Max(nctids, 1));
	int			chunk = Max(1000, 10 * or_max_concurrency);
	int			previous_on_error;
	OrBudgetColumn previous_column;
	int			nestlevel;
	char	   *table = qualified_table(cc->relid);
	TableKey	key = {0};
	OrProgress	progress;
	ComputeErrorContext context_state;
	ErrorContextCallback context;

	*nwritten = 0;
	if (nctids == 0)
		return written;
	memset(&context_state, 0, sizeof(context_state));
	context_state.table = table_for_message(cc->relid);
	context_state.column = quote_identifier(cc->column);
	context_state.progress = &progress;
	context_state.key_columns = key_columns_shown(cc->relid, &key);
	context_state.row = -1;
	nestlevel = pin_search_path(cc->search_path);
	previous_on_error = or_swap_context_on_error((int) cc->on_error);
	or_progress_start(&progress, psprintf("computing %s.%s", context_state.table,
										  context_state.column),
					  "rows", nctids, false);
	context.callback = compute_error_context;
	context.arg = &context_state;
	context.previous = error_context_stack;
	error_context_stack = &context;
	previous_column = or_budget_swap_column(cc->relid, cc->column);
	PG_TRY();
	{
		/*
		 * One SPI connection per chunk: what a chunk allocates (its requests,
		 * their answers, the rows' keys, the statements' texts) goes into the
		 * connection's memory (SPI returns to it after every call) and is
		 * freed with it, so memory stays flat however many rows there are.
		 */
		for (int start = 0; start < nctids; start += chunk)
		{
			OrComputeCounts before = *counts;

			if (SPI_connect() != SPI_OK_CONNECT)
				elog(ERROR, "SPI_connect failed");
			*nwritten += compute_chunk(cc, table, &key, &context_state, ctids + start,
									   Min(chunk, nctids - start), written + *nwritten,
									   counts);
			/* (the keys go with the connection's memory) */
			context_state.keys = NULL;
			context_state.nkeys = 0;
			SPI_finish();
			or_progress_add(&progress, counts->computed - before.computed,
							counts->failed - before.failed);
		}
		or_progress_finish(&progress);
	}
	PG_FINALLY();
	{
		(void) or_swap_context_on_error(previous_on_error);
		(void) or_budget_swap_column(previous_column.table, previous_column.column);
	}
	PG_END_TRY();
	error_context_stack = context.previous;
	restore_settings(nestlevel);
	return written;
}

/*
 * After a column was written for the given rows: the computed columns that
 * read it (in creation order), each for the rows the previous one wrote; an
 * asynchronous one is queued for them instead.
 */
void
or_compute_dependents(Oid ns, const OrComputedColumn *cc, ItemPointerData *ctids, int n)
{
	OrComputeCounts dependent_counts = {0, 0};
	List	   *all = or_computed_columns(ns, cc->relid, NULL);
	ListCell   *lc;

	foreach(lc, all)
	{
		OrComputedColumn *dependent = lfirst(lc);

		if (dependent->position <= cc->position || !reads_column(dependent, cc->column))
			continue;
		if (dependent->async)
			(void) or_enqueue_cells(ns, dependent, ctids, n);
		else
			ctids = or_compute_cells(dependent, ctids, n, &n, &dependent_counts);
	}
}

/* Compute a column for the given rows (an asynchronous one: queue them), then its dependents. */
static uint64
compute_with_dependents(Oid ns, const OrComputedColumn *cc, ItemPointerData *ctids, int n)
{
	OrComputeCounts counts = {0, 0};

	if (cc->async)
		return or_enqueue_cells(ns, cc, ctids, n);
	ctids = or_compute_cells(cc, ctids, n, &n, &counts);
	or_compute_dependents(ns, cc, ctids, n);
	return counts.computed;
}

/* The ctids of the rows of a table that meet a condition (SQL over its columns). */
static ItemPointerData *
select_ctids(Oid relid, const char *condition, int *n)
{
	MemoryContext caller = CurrentMemoryContext;
	ItemPointerData *ctids;

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	run_sql(psprintf("SELECT ctid FROM ONLY %s WHERE %s ORDER BY ctid",
					 qualified_table(relid), condition), 0, NULL, NULL, NULL);
	ctids = spi_ctids(caller, n);
	SPI_finish();
	return ctids;
}

/* ---------- the trigger ---------- */

/* "a.k1 = b.k1 AND a.k2 = b.k2" */
static char *
key_join(const TableKey *key, const char *a, const char *b)
{
	StringInfoData buf;

	initStringInfo(&buf);
	for (int i = 0; i < key->ncolumns; i++)
		appendStringInfo(&buf, "%s%s.%s %s %s.%s", i > 0 ? " AND " : "",
						 a, key->columns[i], key->equal[i], b, key->columns[i]);
	return buf.data;
}

/* "o.c::text IS DISTINCT FROM n.c::text" */
static char *
differs(const char *column)
{
	const char *quoted = quote_identifier(column);

	return psprintf("o.%s::pg_catalog.text IS DISTINCT FROM n.%s::pg_catalog.text", quoted, quoted);
}


/* ---------- the queue of asynchronous columns ---------- */

/*
 * "ARRAY[format('%s', a.k1), ...]::text": a row's key as the queue stores
 * it: the text of an array of its columns' output texts.  The same text for
 * the same key, whoever computes it (keys_of_new_rows() below, in C).
 */
static char *
key_text_sql(const TableKey *key, const char *alias)
{
	StringInfoData buf;

	initStringInfo(&buf);
	appendStringInfoString(&buf, "(ARRAY[");
	for (int i = 0; i < key->ncolumns; i++)
		appendStringInfo(&buf, "%spg_catalog.format('%%s', %s.%s)", i > 0 ? ", " : "", alias,
						 key->columns[i]);
	appendStringInfoString(&buf, "])::pg_catalog.text");
	return buf.data;
}

/* how a row's stored key is written in C: the same text as key_text_sql() */
typedef struct KeyWriter
{
	int			ncolumns;
	AttrNumber *attnums;
	FmgrInfo   *outputs;		/* each key column's output function */
	FmgrInfo	array_output;
	Datum	   *parts;
} KeyWriter;

static void
key_writer_init(KeyWriter *writer, int ncolumns, const AttrNumber *attnums, const Oid *types)
{
	writer->ncolumns = ncolumns;
	writer->attnums = palloc(sizeof(AttrNumber) * ncolumns);
	writer->outputs = palloc(sizeof(FmgrInfo) * ncolumns);
	writer->parts = palloc(sizeof(Datum) * ncolumns);
	for (int i = 0; i < ncolumns; i++)
	{
		Oid			function;
		bool		varlena;

		writer->attnums[i] = attnums[i];
		getTypeOutputInfo(types[i], &function, &varlena);
		fmgr_info(function, &writer->outputs[i]);
	}
	fmgr_info(F_ARRAY_OUT, &writer->array_output);
}

/* the stored key (text) of the row in the slot; (Datum) 0 if a part is NULL */
static Datum
key_writer_text(KeyWriter *writer, TupleTableSlot *slot)
{
	for (int i = 0; i < writer->ncolumns; i++)
	{
		bool		isnull;
		Datum		value = slot_getattr(slot, writer->attnums[i], &isnull);

		if (isnull)				/* (not a stored key: nothing the queue can hold) */
			return (Datum) 0;
		writer->parts[i] = CStringGetTextDatum(OutputFunctionCall(&writer->outputs[i], value));
	}
	return CStringGetTextDatum(OutputFunctionCall(&writer->array_output,
												  PointerGetDatum(construct_array(writer->parts, writer->ncolumns,
																				  TEXTOID, -1, false, TYPALIGN_INT))));
}

/*
 * The stored keys of the rows an INSERT added (a text[], in context), read
 * from the transition table itself: the same texts as key_text_sql().
 */
static Datum
keys_of_new_rows(TriggerData *trigger, const TableKey *key, MemoryContext context, int *n)
{
	Tuplestorestate *rows = trigger->tg_newtable;
	TupleTableSlot *slot = MakeSingleTupleTableSlot(RelationGetDescr(trigger->tg_relation),
													&TTSOpsMinimalTuple);
	int			pointer = tuplestore_alloc_read_pointer(rows, EXEC_FLAG_REWIND);
	KeyWriter	writer;
	int			allocated = 16;
	Datum	   *keys = palloc(sizeof(Datum) * allocated);
	MemoryContext old;
	Datum		result;

	key_writer_init(&writer, key->ncolumns, key->attnums, key->types);
	*n = 0;
	tuplestore_select_read_pointer(rows, pointer);
	tuplestore_rescan(rows);
	while (tuplestore_gettupleslot(rows, true, false, slot))
	{
		if (*n == allocated)
		{
			allocated *= 2;
			keys = repalloc(keys, sizeof(Datum) * allocated);
		}
		keys[(*n)++] = key_writer_text(&writer, slot);
	}
	/* (every reader of a transition table selects its own pointer first) */
	tuplestore_select_read_pointer(rows, 0);
	ExecDropSingleTupleTableSlot(slot);
	old = MemoryContextSwitchTo(context);
	result = PointerGetDatum(construct_array(keys, *n, TEXTOID, -1, false, TYPALIGN_INT));
	MemoryContextSwitchTo(old);
	return result;
}

char *
or_key_text_sql(Oid relid, const char *alias)
{
	TableKey	key = primary_key_of_columns(relid);

	return key_text_sql(&key, alias);
}

/* "a.k1 = CAST((text::text[])[1] AS type1) AND ...": the row of a stored key */
char *
or_key_match_sql(Oid relid, const char *alias, const char *key_text)
{
	TableKey	key = primary_key(relid);
	StringInfoData buf;

	initStringInfo(&buf);
	for (int i = 0; i < key.ncolumns; i++)
		appendStringInfo(&buf, "%s%s.%s %s CAST((%s::pg_catalog.text[])[%d] AS %s)",
						 i > 0 ? " AND " : "", alias, key.columns[i], key.equal[i], key_text,
						 i + 1,
						 /* no typmod: "bpchar", not "character", which is char(1) */
						 format_type_extended(key.types[i], -1,
											  FORMAT_TYPE_FORCE_QUALIFY | FORMAT_TYPE_TYPEMOD_GIVEN));
	return buf.data;
}

/* wake the database's worker when this transaction commits */
static bool wake_at_commit = false;
static bool wake_callback_registered = false;

static void
wake_worker_at_commit(XactEvent event, void *arg)
{
	if (event == XACT_EVENT_COMMIT && wake_at_commit)
		or_wake_database_worker(MyDatabaseId);
	if (event == XACT_EVENT_COMMIT || event == XACT_EVENT_ABORT ||
		event == XACT_EVENT_PARALLEL_COMMIT || event == XACT_EVENT_PARALLEL_ABORT)
		wake_at_commit = false;
}

static void
wake_worker_when_committed(void)
{
	if (!wake_callback_registered)
	{
		RegisterXactCallback(wake_worker_at_commit, NULL);
		wake_callback_registered = true;
	}
	wake_at_commit = true;
}

/*
 * Queue cells (keys: a text[] of stored keys) of an asynchronous column, as
 * the extension's owner: a key queued already gets a new version, so that
 * an answer being computed for its previous input is not kept.  Written by
 * the extension only: the keys were read by the caller, as the caller.
 */
static void
enqueue_keys_sql(Oid ns, Oid relid, const char *column, Datum keys)
{
	Oid			types[3] = {OIDOID, TEXTOID, TEXTARRAYOID};
	Datum		values[3];
	char	   *sequence = quote_qualified_identifier(get_namespace_name(ns), ASYNC_VERSIONS);

	values[0] = ObjectIdGetDatum(relid);
	values[1] = CStringGetTextDatum(column);
	values[2] = keys;
	write_extension_table(ns, ASYNC_QUEUE, PLAN_ENQUEUE,
						  psprintf("INSERT INTO %%s AS q (table_oid, column_name, row_key)"
								   " SELECT $1, $2, k FROM pg_catalog.unnest($3) k"
								   " ON CONFLICT (table_oid, column_name, row_key) DO UPDATE"
								   " SET version = pg_catalog.nextval(%s::pg_catalog.regclass),"
								   " attempts = 0, not_before = '-infinity'",
								   quote_literal_cstr(sequence)),
						  3, types, values);
}

/*
 * Queue cells of an asynchronous column (enqueue_keys_sql), and wake the
 * worker when the transaction commits.  The keys of rows just inserted
 * mostly have no entry: those go straight into the queue (async_queue.c),
 * the others through SQL.
 */
static void
enqueue_keys(Oid ns, const OrComputedColumn *cc, Datum keys, bool inserted)
{
	Oid			queue = get_relname_relid(ASYNC_QUEUE, ns);
	Oid			versions = get_relname_relid(ASYNC_VERSIONS, ns);
	int			nrest = 1;

	if (inserted && OidIsValid(queue) && OidIsValid(versions))
		keys = or_async_queue_add_new(queue, versions, cc->relid, cc->column, keys, &nrest);
	if (nrest > 0)
		enqueue_keys_sql(ns, cc->relid, cc->column, keys);
	if (!cc->paused)
		wake_worker_when_committed();
}

/* the stored keys of the rows at these ctids, read as the current user */
static Datum
keys_of_ctids(Oid relid, const ItemPointerData *ctids, int n, int *nkeys)
{
	MemoryContext caller = CurrentMemoryContext;
	Oid			types[1] = {TIDARRAYOID};
	Datum		values[1];
	Datum	   *keys;
	Datum		result;

	values[0] = tid_array(ctids, n);
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	run_sql(psprintf("SELECT %s FROM ONLY %s t WHERE t.ctid OPERATOR(pg_catalog.=) ANY ($1)",
					 or_key_text_sql(relid, "t"), qualified_table(relid)), 1, types, values, NULL);
	keys = MemoryContextAlloc(caller, sizeof(Datum) * Max(SPI_processed, 1));
	for (uint64 i = 0; i < SPI_processed; i++)
	{
		bool		isnull;
		Datum		d = SPI_getbinval(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1, &isnull);
		MemoryContext spi = MemoryContextSwitchTo(caller);

		keys[i] = PointerGetDatum(DatumGetTextPCopy(d));
		MemoryContextSwitchTo(spi);
	}
	*nkeys = (int) SPI_processed;
	SPI_finish();
	result = PointerGetDatum(construct_array(keys, *nkeys, TEXTOID, -1, false, TYPALIGN_INT));
	return result;
}

uint64
or_enqueue_cells(Oid ns, const OrComputedColumn *cc, const ItemPointerData *ctids, int n)
{
	int			nkeys;
	Datum		keys;

	if (n == 0)
		return 0;
	keys = keys_of_ctids(cc->relid, ctids, n, &nkeys);
	enqueue_keys(ns, cc, keys, false);
	return (uint64) nkeys;
}

static void
hand_edit_error(Oid relid, const char *column)
{
	ereport(ERROR,
			(errcode(ERRCODE_GENERATED_ALWAYS),
			 errmsg("column \"%s\" of relation %s is a computed column",
					column, table_for_message(relid)),
			 errdetail("Its values are computed from the row by openrouter_add_computed_column(); an INSERT or UPDATE cannot write them."),
			 errhint("Change the columns it reads, or call openrouter_recompute() to compute it again.")));
}

/*
 * Refuse a statement that writes a computed column itself: an INSERT with a
 * value for it, or an UPDATE that changes it.
 */
static void
refuse_hand_edits(TriggerData *trigger, List *columns, const TableKey *key)
{
	bool		inserting = TRIGGER_FIRED_BY_INSERT(trigger->tg_event);
	StringInfoData sql;
	ListCell   *lc;
	int			i = 0;
	List	   *written = NIL;

	/* an UPDATE only needs checking for the computed columns it sets */
	foreach(lc, columns)
	{
		OrComputedColumn *cc = lfirst(lc);
		AttrNumber	attno = get_attnum(cc->relid, cc->column);

		if (inserting || trigger->tg_updatedcols == NULL ||
			bms_is_member(attno - FirstLowInvalidHeapAttributeNumber, trigger->tg_updatedcols))
			written = lappend(written, cc);
	}
	if (written == NIL)
		return;
	columns = written;

	/* an INSERT: read the new rows themselves, no query needed */
	if (inserting)
	{
		Tuplestorestate *rows = trigger->tg_newtable;
		TupleTableSlot *slot = MakeSingleTupleTableSlot(RelationGetDescr(trigger->tg_relation),
														&TTSOpsMinimalTuple);
		int			pointer = tuplestore_alloc_read_pointer(rows, EXEC_FLAG_REWIND);

		tuplestore_select_read_pointer(rows, pointer);
		tuplestore_rescan(rows);
		while (tuplestore_gettupleslot(rows, true, false, slot))
		{
			foreach(lc, columns)
			{
				OrComputedColumn *cc = lfirst(lc);

				if (!slot_attisnull(slot, get_attnum(cc->relid, cc->column)))
					hand_edit_error(cc->relid, cc->column);
			}
		}
		/* (every reader of a transition table selects its own pointer first) */
		tuplestore_select_read_pointer(rows, 0);
		ExecDropSingleTupleTableSlot(slot);
		return;
	}

	initStringInfo(&sql);
	appendStringInfoString(&sql, "SELECT ");
	foreach(lc, columns)
	{
		OrComputedColumn *cc = lfirst(lc);

		if (inserting)
			appendStringInfo(&sql, "%spg_catalog.bool_or(n.%s IS NOT NULL)", i++ > 0 ? ", " : "",
							 quote_identifier(cc->column));
		else
			appendStringInfo(&sql, "%spg_catalog.bool_or(%s)", i++ > 0 ? ", " : "", differs(cc->column));
	}
	if (inserting)
		appendStringInfoString(&sql, " FROM " NEW_ROWS " n");
	else
		appendStringInfo(&sql, " FROM " NEW_ROWS " n JOIN " OLD_ROWS " o ON %s", key_join(key, "o", "n"));
	run_sql(sql.data, 0, NULL, NULL, NULL);
	i = 0;
	foreach(lc, columns)
	{
		OrComputedColumn *cc = lfirst(lc);
		bool		isnull;

		if (DatumGetBool(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, ++i, &isnull)) && !isnull)
			hand_edit_error(cc->relid, cc->column);
	}
}

/* the first of the columns that has a statement trigger for an INSERT (or an UPDATE) */
static OrComputedColumn *
first_statement_trigger(List *columns, bool inserting)
{
	ListCell   *lc;

	foreach(lc, columns)
	{
		OrComputedColumn *cc = lfirst(lc);

		if (!inserting || !(cc->async && cc->nulls_pending))
			return cc;
	}
	return NULL;
}

/*
 * openrouter_computed_column_trigger(): AFTER INSERT / AFTER UPDATE, FOR EACH
 * STATEMENT, with transition tables; argument: the computed column.
 * Computes the inserted rows, and the updated rows whose input columns (or
 * key) changed.  The extension's own UPDATEs pass through untouched.
 */
Datum
openrouter_computed_column_trigger(PG_FUNCTION_ARGS)
{
	TriggerData *trigger = (TriggerData *) fcinfo->context;
	Oid			ns;
	Oid			relid;
	List	   *columns;
	ListCell   *lc;
	OrComputedColumn *cc = NULL;
	TableKey	key;
	StringInfoData sql;
	ItemPointerData *ctids;
	int			n;
	OrComputeCounts counts = {0, 0};
	MemoryContext caller = CurrentMemoryContext;

	if (!CALLED_AS_TRIGGER(fcinfo) || !TRIGGER_FIRED_AFTER(trigger->tg_event) ||
		!TRIGGER_FIRED_FOR_STATEMENT(trigger->tg_event) ||
		TRIGGER_FIRED_BY_DELETE(trigger->tg_event) || TRIGGER_FIRED_BY_TRUNCATE(trigger->tg_event) ||
		trigger->tg_trigger->tgnargs != 1 || trigger->tg_newtable == NULL ||
		(TRIGGER_FIRED_BY_UPDATE(trigger->tg_event) && trigger->tg_oldtable == NULL))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("openrouter_computed_column_trigger() must be an AFTER INSERT or UPDATE statement trigger with transition tables"),
				 errhint("Use openrouter_add_computed_column(), which creates the triggers.")));
	relid = RelationGetRelid(trigger->tg_relation);
	if (TRIGGER_FIRED_BY_UPDATE(trigger->tg_event) && relid == writing_relid)
		return PointerGetDatum(NULL);	/* the extension writing answers */

	ns = extension_schema(fcinfo);
	columns = or_computed_columns(ns, relid, NULL);
	foreach(lc, columns)
		if (strcmp(((OrComputedColumn *) lfirst(lc))->column, trigger->tg_trigger->tgargs[0]) == 0)
			cc = lfirst(lc);
	if (cc == NULL)
		return PointerGetDatum(NULL);	/* a trigger left over by a dropped definition */
	key = primary_key(relid);

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	register_named_rows(NEW_ROWS, relid, NULL, trigger->tg_newtable);
	if (trigger->tg_oldtable != NULL)
		register_named_rows(OLD_ROWS, relid, NULL, trigger->tg_oldtable);
	/*
	 * The first computed column with a statement trigger for this event
	 * checks them all, before anything is paid for (an asynchronous column
	 * whose empty cells are pending has a row trigger for INSERT, which
	 * checks its own column).
	 */
	if (cc == first_statement_trigger(columns, TRIGGER_FIRED_BY_INSERT(trigger->tg_event)))
		refuse_hand_edits(trigger, columns, &key);

	/* an INSERT into an asynchronous column: the keys straight from the new rows */
	if (cc->async && TRIGGER_FIRED_BY_INSERT(trigger->tg_event))
	{
		Datum		keys = (Datum) 0;

		/* (a column whose empty cells are pending has the row trigger; its rows need no key) */
		n = 0;
		if (!cc->nulls_pending)
			keys = keys_of_new_rows(trigger, &key, caller, &n);
		SPI_finish();
		if (cc->nulls_pending)
			wake_worker_when_committed();
		else if (n > 0)
			enqueue_keys(ns, cc, keys, true);
		return PointerGetDatum(NULL);
	}

	initStringInfo(&sql);
	if (cc->async)
		/* an asynchronous column: the keys of the rows, for the queue */
		appendStringInfo(&sql, "SELECT %s FROM " NEW_ROWS " n", key_text_sql(&key, "n"));
	else
		appendStringInfo(&sql, "SELECT t.ctid FROM " NEW_ROWS " n JOIN ONLY %s t ON %s",
						 qualified_table(relid), key_join(&key, "t", "n"));
	if (TRIGGER_FIRED_BY_UPDATE(trigger->tg_event))
	{
		TupleDesc	desc = RelationGetDescr(trigger->tg_relation);

		/* rows with a new key, or whose inputs changed */
		appendStringInfo(&sql, " LEFT JOIN " OLD_ROWS " o ON %s WHERE o.%s IS NULL",
						 key_join(&key, "o", "n"), key.columns[0]);
		for (int i = 0; i < desc->natts; i++)
		{
			Form_pg_attribute attr = TupleDescAttr(desc, i);

			if (!attr->attisdropped && reads_column(cc, NameStr(attr->attname)))
				appendStringInfo(&sql, " OR %s", differs(NameStr(attr->attname)));
		}
	}
	run_sql(sql.data, 0, NULL, NULL, NULL);
	if (cc->async)
	{
		Datum	   *keys = MemoryContextAlloc(caller, sizeof(Datum) * Max(SPI_processed, 1));
		Datum		array;

		n = (int) SPI_processed;
		for (int i = 0; i < n; i++)
		{
			bool		isnull;
			Datum		d = SPI_getbinval(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1, &isnull);
			MemoryContext spi = MemoryContextSwitchTo(caller);

			keys[i] = PointerGetDatum(DatumGetTextPCopy(d));
			MemoryContextSwitchTo(spi);
		}
		SPI_finish();
		if (n > 0)
		{
			array = PointerGetDatum(construct_array(keys, n, TEXTOID, -1, false, TYPALIGN_INT));
			enqueue_keys(ns, cc, array, false);
		}
		return PointerGetDatum(NULL);
	}
	ctids = spi_ctids(caller, &n);
	SPI_finish();

	(void) or_compute_cells(cc, ctids, n, &n, &counts);
	return PointerGetDatum(NULL);
}

/*
 * What the row trigger of an asynchronous column keeps for a statement (in
 * fn_extra): the column, the queue, and how to write a row's stored key.
 */
typedef struct InsertTriggerState
{
	Oid			ns;
	AttrNumber	column;			/* InvalidAttrNumber: dropped */
	Oid			queue;			/* InvalidOid: no look into the queue needed */
	bool		paused;			/* the worker leaves the column alone: no need to wake it */
	KeyWriter	key;
} InsertTriggerState;

static InsertTriggerState *
insert_trigger_state(FunctionCallInfo fcinfo, TriggerData *trigger)
{
	Relation	rel = trigger->tg_relation;
	const char *column = trigger->tg_trigger->tgargs[0];
	MemoryContext old = MemoryContextSwitchTo(fcinfo->flinfo->fn_mcxt);
	InsertTriggerState *state = palloc0(sizeof(InsertTriggerState));
	List	   *definition;
	TableKey	key;

	state->ns = get_func_namespace(fcinfo->flinfo->fn_oid);
	state->column = SPI_fnumber(RelationGetDescr(rel), column);
	if (state->column < 0)
		state->column = InvalidAttrNumber;
	definition = or_computed_columns(state->ns, RelationGetRelid(rel), column);
	state->paused = definition != NIL && ((OrComputedColumn *) linitial(definition))->paused;
	state->queue = get_relname_relid(ASYNC_QUEUE, state->ns);
	if (primary_key_columns(RelationGetRelid(rel), &key))
		key_writer_init(&state->key, key.ncolumns, key.attnums, key.types);
	else
		state->queue = InvalidOid;	/* no key: nothing the queue can hold */

	/*
	 * Most columns have no entry at all (they are made by UPDATEs, retries
	 * and cells computed empty, and go once computed): then no row of this
	 * statement needs a look.  (An entry the worker leaves for a row that
	 * another session deletes while this statement runs, for the key this
	 * statement then inserts, is missed: the new row's cell stays empty
	 * until openrouter_recompute(..., errors_only => true).)
	 */
	if (OidIsValid(state->queue) &&
		!or_async_queue_has_entries(state->queue, RelationGetRelid(rel), column))
		state->queue = InvalidOid;
	MemoryContextSwitchTo(old);
	fcinfo->flinfo->fn_extra = state;
	return state;
}

/*
 * openrouter_async_insert_trigger(): AFTER INSERT, FOR EACH ROW; argument:
 * an asynchronous computed column whose empty cells are pending by
 * themselves (nulls_pending).  The row's empty cell is its pending work: the
 * worker finds it through the column's partial index, so nothing is written
 * here.  Refuses a value written into the column; an entry that an earlier
 * row with the same key left in the queue (a cell left alone, a retry) is
 * given a new version, so that it does not stand for this row; wakes the
 * worker at commit.  No SPI, no transition table: this runs for every
 * single-row INSERT of an application.  AFTER, not BEFORE: it sees the row
 * as stored (after every BEFORE trigger, its key checked NOT NULL), only the
 * rows really inserted (not those INSERT ... ON CONFLICT skipped), and COPY
 * keeps its multi-row inserts.
 */
Datum
openrouter_async_insert_trigger(PG_FUNCTION_ARGS)
{
	TriggerData *trigger = (TriggerData *) fcinfo->context;
	InsertTriggerState *state;

	if (!CALLED_AS_TRIGGER(fcinfo) || !TRIGGER_FIRED_AFTER(trigger->tg_event) ||
		!TRIGGER_FIRED_FOR_ROW(trigger->tg_event) || !TRIGGER_FIRED_BY_INSERT(trigger->tg_event) ||
		trigger->tg_trigger->tgnargs != 1)
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("openrouter_async_insert_trigger() must be an AFTER INSERT row trigger"),
				 errhint("Use openrouter_add_computed_column(), which creates the triggers.")));
	state = fcinfo->flinfo->fn_extra;
	if (state == NULL)
		state = insert_trigger_state(fcinfo, trigger);
	if (state->column == InvalidAttrNumber)
		return PointerGetDatum(NULL);
	if (!slot_attisnull(trigger->tg_trigslot, state->column))
		hand_edit_error(RelationGetRelid(trigger->tg_relation), trigger->tg_trigger->tgargs[0]);
	if (OidIsValid(state->queue))
	{
		Oid			relid = RelationGetRelid(trigger->tg_relation);
		const char *column = trigger->tg_trigger->tgargs[0];
		Datum		key = key_writer_text(&state->key, trigger->tg_trigslot);

		if (key != (Datum) 0 && or_async_queue_has_entry(state->queue, relid, column, key))
			enqueue_keys_sql(state->ns, relid, column,
							 PointerGetDatum(construct_array(&key, 1, TEXTOID, -1, false, TYPALIGN_INT)));
	}
	if (!state->paused)
		wake_worker_when_committed();
	return PointerGetDatum(NULL);
}

/* ---------- SQL entry points ---------- */

static void
run_ddl(const char *sql)
{
	int			nestlevel = pin_search_path(BINDING_PATH);

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	run_sql(sql, 0, NULL, NULL, NULL);
	SPI_finish();
	restore_settings(nestlevel);
}

static char *
trigger_name(int position, const char *event)
{
	return psprintf("openrouter_cc_%06d_%s", position, event);
}

/*
 * (Re)create a computed column's INSERT trigger: the statement trigger with
 * its transition table, or for an asynchronous column whose empty cells are
 * pending, the row trigger that writes nothing (same name, same place in the
 * firing order).
 */
static void
create_insert_trigger(Oid ns, Oid relid, int position, const char *column, bool row_trigger,
					  bool replace)
{
	char	   *table = qualified_table(relid);
	const char *name = quote_identifier(trigger_name(position, "ins"));
	char	   *schema = get_namespace_name(ns);

	if (replace)
		run_ddl(psprintf("DROP TRIGGER %s ON %s", name, table));
	if (row_trigger)
		run_ddl(psprintf("CREATE TRIGGER %s AFTER INSERT ON %s FOR EACH ROW EXECUTE FUNCTION %s(%s)",
						 name, table, quote_qualified_identifier(schema, ASYNC_INSERT_TRIGGER_FUNCTION),
						 quote_literal_cstr(column)));
	else
		run_ddl(psprintf("CREATE TRIGGER %s AFTER INSERT ON %s REFERENCING NEW TABLE AS openrouter_new_rows"
						 " FOR EACH STATEMENT EXECUTE FUNCTION %s(%s)",
						 name, table, quote_qualified_identifier(schema, TRIGGER_FUNCTION),
						 quote_literal_cstr(column)));
}

/* the partial indexes (key) WHERE column IS NULL the extension made on a table */
static List *
pending_indexes(Oid relid, const char *column)
{
	MemoryContext caller = CurrentMemoryContext;
	Oid			types[2] = {OIDOID, TEXTOID};
	Datum		values[2];
	List	   *result = NIL;

	values[0] = ObjectIdGetDatum(relid);
	values[1] = CStringGetTextDatum(psprintf("(%s IS NULL)", quote_identifier(column)));
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	/* (the extension's own: a user's index with that predicate is left alone) */
	run_sql("SELECT i.indexrelid FROM pg_catalog.pg_index i"
			" JOIN pg_catalog.pg_depend d ON d.classid OPERATOR(pg_catalog.=) 'pg_catalog.pg_class'::pg_catalog.regclass"
			"  AND d.objid OPERATOR(pg_catalog.=) i.indexrelid AND d.deptype OPERATOR(pg_catalog.=) 'x'"
			"  AND d.refclassid OPERATOR(pg_catalog.=) 'pg_catalog.pg_extension'::pg_catalog.regclass"
			" JOIN pg_catalog.pg_extension e ON e.oid OPERATOR(pg_catalog.=) d.refobjid"
			"  AND e.extname OPERATOR(pg_catalog.=) 'openrouter'"
			" WHERE i.indrelid OPERATOR(pg_catalog.=) $1"
			" AND pg_catalog.pg_get_expr(i.indpred, i.indrelid) OPERATOR(pg_catalog.=) $2",
			2, types, values, NULL);
	for (uint64 i = 0; i < SPI_processed; i++)
	{
		bool		isnull;
		Oid			index = DatumGetObjectId(SPI_getbinval(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1, &isnull));
		MemoryContext spi = MemoryContextSwitchTo(caller);

		result = lappend_oid(result, index);
		MemoryContextSwitchTo(spi);
	}
	SPI_finish();
	return result;
}

/*
 * The index through which the worker finds the empty cells of an
 * asynchronous column whose empty cells are pending: on the primary key,
 * WHERE column IS NULL (an INSERT adds one small entry to it; an answer
 * takes the row out of it).  Created as the table's owner (the caller), kept
 * if one is there (adopting a column); it depends on the extension, so that
 * DROP EXTENSION removes it.
 */
static void
create_pending_index(Oid relid, const char *column)
{
	TableKey	key;
	StringInfoData columns;
	char	   *name;

	if (pending_indexes(relid, column) != NIL)
		return;
	key = primary_key_of_columns(relid);
	initStringInfo(&columns);
	for (int i = 0; i < key.ncolumns; i++)
		appendStringInfo(&columns, "%s%s", i > 0 ? ", " : "", key.columns[i]);
	name = ChooseRelationName(get_rel_name(relid), column, "pending", get_rel_namespace(relid), false);
	run_ddl(psprintf("CREATE INDEX %s ON %s (%s) WHERE %s IS NULL",
					 quote_identifier(name), qualified_table(relid), columns.data, quote_identifier(column)));
	/* DROP EXTENSION drops it with the triggers; pg_dump keeps that */
	run_ddl(psprintf("ALTER INDEX %s DEPENDS ON EXTENSION openrouter",
					 quote_qualified_identifier(get_namespace_name(get_rel_namespace(relid)), name)));
}

static void
drop_pending_index(Oid relid, const char *column)
{
	ListCell   *lc;

	foreach(lc, pending_indexes(relid, column))
		run_ddl(psprintf("DROP INDEX %s",
						 quote_qualified_identifier(get_namespace_name(get_rel_namespace(lfirst_oid(lc))),
													get_rel_name(lfirst_oid(lc)))));
}

/* the number of a table's rows (alias t) that satisfy condition */
static uint64
count_rows(Oid relid, const char *condition)
{
	uint64		result;
	bool		isnull;

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	run_sql(psprintf("SELECT pg_catalog.count(*) FROM ONLY %s t WHERE %s", qualified_table(relid), condition),
			0, NULL, NULL, NULL);
	result = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
	SPI_finish();
	return result;
}

/* on_error as given (never NULL here): failure.c checks it */
static OrOnError
on_error_arg(FunctionCallInfo fcinfo, int n)
{
	(void) text_arg(fcinfo, n, "on_error");
	return or_effective_on_error(PG_GETARG_TEXT_PP(n));
}

/* mode as given: 'sync' (false) or 'async' (true), which needs the worker */
static bool
mode_arg(FunctionCallInfo fcinfo, int n)
{
	char	   *mode = text_arg(fcinfo, n, "mode");

	if (strcmp(mode, "sync") == 0)
		return false;
	if (strcmp(mode, "async") != 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid mode \"%s\"", mode),
				 errhint("Use 'sync' (computed by the statement that inserts or updates the row) or 'async' (computed by the background worker after the commit).")));
	or_require_shared_state("an asynchronous computed column");
	return true;
}

static int
compare_names(const ListCell *a, const ListCell *b)
{
	return strcmp(strVal(lfirst(a)), strVal(lfirst(b)));
}

/*
 * openrouter_add_computed_column(tbl, column_name, expression, on_error, backfill, adopt)
 *		(1.0's SQL declares it without adopt)
 */
Datum
openrouter_add_computed_column(PG_FUNCTION_ARGS)
{
	Oid			ns = extension_schema(fcinfo);
	Oid			relid = table_arg(fcinfo);
	char	   *column = column_arg(fcinfo);
	char	   *expression = text_arg(fcinfo, 2, "expression");
	OrOnError	on_error = on_error_arg(fcinfo, 3);
	bool		backfill = PG_ARGISNULL(4) ? true : PG_GETARG_BOOL(4);
	bool		adopt = PG_NARGS() > 5 && !PG_ARGISNULL(5) && PG_GETARG_BOOL(5);
	bool		async = PG_NARGS() > 6 && mode_arg(fcinfo, 6);
	bool		nulls_pending;
	AttrNumber	adopted;
	BoundExpression bound;
	List	   *existing;
	ListCell   *lc;
	List	   *inputs = NIL;
	bool		whole_row;
	int			position = 1;
	char	   *table = qualified_table(relid);
	OrComputedColumn *cc;
	Datum	   *names;
	int			n = 0;
	int			attno = -1;
	ItemPointerData *ctids;
	OrComputeCounts counts = {0, 0};

	check_table_owner(relid);
	(void) primary_key(relid);
	adopted = get_attnum(relid, column);
	if (adopted < 0)
		ereport(ERROR,
				(errcode(ERRCODE_DUPLICATE_COLUMN),
				 errmsg("column name \"%s\" conflicts with a system column name", column),
				 errdetail("A system column cannot be a computed column, nor adopted as one.")));
	if (adopted != InvalidAttrNumber && !adopt)
		ereport(ERROR,
				(errcode(ERRCODE_DUPLICATE_COLUMN),
				 errmsg("column \"%s\" of relation %s already exists", column,
						table_for_message(relid)),
				 errhint("Pass adopt => true to make the existing column a computed column, keeping its values.")));
	if (adopted == InvalidAttrNumber && adopt)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_COLUMN),
				 errmsg("column \"%s\" of relation %s does not exist", column,
						table_for_message(relid)),
				 errdetail("adopt => true takes over an existing column.")));
	if (adopted != InvalidAttrNumber && or_computed_columns(ns, relid, column) != NIL)
		ereport(ERROR,
				(errcode(ERRCODE_DUPLICATE_COLUMN),
				 errmsg("column \"%s\" of relation %s is a computed column already", column,
						table_for_message(relid))));
	bound = bind_expression(relid, expression);
	if (adopted != InvalidAttrNumber)
	{
		Oid			column_type = get_atttype(relid, adopted);

		if (bms_is_member(adopted, bound.attnos))
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_COLUMN_REFERENCE),
					 errmsg("the expression of computed column \"%s\" cannot read that column", column)));
		if (!can_coerce_type(1, &bound.type, &column_type, COERCION_ASSIGNMENT))
			ereport(ERROR,
					(errcode(ERRCODE_DATATYPE_MISMATCH),
					 errmsg("column \"%s\" is of type %s but the expression is of type %s",
							column, format_type_be(column_type), format_type_be(bound.type)),
					 errhint("Cast the expression to the column's type.")));
	}

	/* transitive inputs: a computed column read by this one brings its own */
	whole_row = bound.whole_row;
	while ((attno = bms_next_member(bound.attnos, attno)) >= 0)
		inputs = list_append_unique(inputs, makeString(get_attname(relid, attno, false)));
	existing = or_computed_columns(ns, relid, NULL);
	foreach(lc, existing)
	{
		OrComputedColumn *other = lfirst(lc);

		position = Max(position, other->position + 1);
		if (list_member(inputs, makeString(other->column)) || bound.whole_row)
		{
			whole_row |= other->whole_row;
			for (int i = 0; i < other->ninputs; i++)
				inputs = list_append_unique(inputs, makeString(other->inputs[i]));
		}
	}

	if (adopted == InvalidAttrNumber)
		run_ddl(psprintf("ALTER TABLE %s ADD COLUMN %s %s", table, quote_identifier(column),
						 format_type_with_typemod(bound.type, bound.typmod)));
	/*
	 * An asynchronous column that fills its existing rows has every empty
	 * cell pending (its inserted rows need no queue entry); one added with
	 * backfill => false queues its inserted rows and leaves the others alone.
	 */
	nulls_pending = async && backfill;
	if (nulls_pending)
		create_pending_index(relid, column);
	create_insert_trigger(ns, relid, position, column, nulls_pending, false);
	run_ddl(psprintf("CREATE TRIGGER %s AFTER UPDATE ON %s REFERENCING OLD TABLE AS openrouter_old_rows"
					 " NEW TABLE AS openrouter_new_rows FOR EACH STATEMENT EXECUTE FUNCTION %s(%s)",
					 quote_identifier(trigger_name(position, "upd")), table,
					 quote_qualified_identifier(get_namespace_name(ns), TRIGGER_FUNCTION),
					 quote_literal_cstr(column)));

	list_sort(inputs, compare_names);
	names = palloc(sizeof(Datum) * (list_length(inputs) + 1));
	foreach(lc, inputs)
		names[n++] = DirectFunctionCall1(namein, CStringGetDatum(strVal(lfirst(lc))));
	{
		Oid			types[10] = {REGCLASSOID, NAMEOID, TEXTOID, TEXTOID, NAMEARRAYOID, INT4OID,
		TEXTOID, BOOLOID, TEXTOID, BOOLOID};
		Datum		values[10];

		values[0] = ObjectIdGetDatum(relid);
		values[1] = DirectFunctionCall1(namein, CStringGetDatum(column));
		values[2] = CStringGetTextDatum(bound.expression);
		values[3] = CStringGetTextDatum(on_error == OR_ON_ERROR_IGNORE ? "ignore" : "abort");
		values[4] = PointerGetDatum(construct_array(names, n, NAMEOID, NAMEDATALEN, false,
													TYPALIGN_CHAR));
		values[5] = Int32GetDatum(position);
		values[6] = CStringGetTextDatum(bound.search_path);
		values[7] = BoolGetDatum(whole_row);
		values[8] = CStringGetTextDatum(async ? "async" : "sync");
		values[9] = BoolGetDatum(nulls_pending);
		write_definitions(ns, "INSERT INTO %s (table_oid, column_name, expression, on_error,"
						  " input_columns, position, search_path, whole_row, mode, nulls_pending)"
						  " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)", 10, types, values);
	}
	CommandCounterIncrement();

	/* backfill every existing row, now or with CALL openrouter_backfill() */
	if (!backfill)
		PG_RETURN_INT64(0);
	if (nulls_pending)
	{
		/* its empty cells are the worker's work: nothing to queue */
		uint64		pending = count_rows(relid, psprintf("%s IS NULL", quote_identifier(column)));

		if (pending > 0)
			wake_worker_when_committed();
		PG_RETURN_INT64((int64) pending);
	}
	cc = computed_column(ns, relid, column);
	/* an adopted column keeps its values: only its empty cells are computed */
	ctids = select_ctids(relid, adopted != InvalidAttrNumber
						 ? psprintf("%s IS NULL", quote_identifier(column)) : "true", &n);
	(void) or_compute_cells(cc, ctids, n, &n, &counts);
	PG_RETURN_INT64((int64) counts.computed);
}

/*
 * openrouter_drop_computed_column(tbl, column_name)
 */
Datum
openrouter_drop_computed_column(PG_FUNCTION_ARGS)
{
	Oid			ns = extension_schema(fcinfo);
	Oid			relid = table_arg(fcinfo);
	char	   *column = column_arg(fcinfo);
	OrComputedColumn *cc;
	ListCell   *lc;
	char	   *table;

	check_table_owner(relid);
	table = qualified_table(relid);
	cc = computed_column(ns, relid, column);
	foreach(lc, or_computed_columns(ns, relid, NULL))
	{
		OrComputedColumn *other = lfirst(lc);

		if (other->position != cc->position && reads_column(other, column))
			ereport(ERROR,
					(errcode(ERRCODE_DEPENDENT_OBJECTS_STILL_EXIST),
					 errmsg("computed column \"%s\" depends on column \"%s\"", other->column, column),
					 errhint("Drop the computed column \"%s\" first.", other->column)));
	}
	{
		Oid			types[2] = {REGCLASSOID, NAMEOID};
		Datum		values[2];

		values[0] = ObjectIdGetDatum(relid);
		values[1] = DirectFunctionCall1(namein, CStringGetDatum(column));
		write_definitions(ns, "DELETE FROM %s WHERE table_oid OPERATOR(pg_catalog.=) $1"
						  " AND column_name OPERATOR(pg_catalog.=) $2", 2, types, values);
	}
	run_ddl(psprintf("DROP TRIGGER IF EXISTS %s ON %s",
					 quote_identifier(trigger_name(cc->position, "ins")), table));
	run_ddl(psprintf("DROP TRIGGER IF EXISTS %s ON %s",
					 quote_identifier(trigger_name(cc->position, "upd")), table));
	run_ddl(psprintf("ALTER TABLE %s DROP COLUMN %s", table, quote_identifier(column)));
	PG_RETURN_VOID();
}

/* set columns of a definition: "mode = $3", ... */
static void
update_definition(Oid ns, const OrComputedColumn *cc, const char *assignments,
				  int nargs, Oid *types, Datum *values)
{
	Oid			all_types[4] = {REGCLASSOID, NAMEOID};
	Datum		all_values[4];

	all_values[0] = ObjectIdGetDatum(cc->relid);
	all_values[1] = DirectFunctionCall1(namein, CStringGetDatum(cc->column));
	for (int i = 0; i < nargs; i++)
	{
		all_types[2 + i] = types[i];
		all_values[2 + i] = values[i];
	}
	write_definitions(ns, psprintf("UPDATE %%s SET %s WHERE table_oid OPERATOR(pg_catalog.=) $1"
								   " AND column_name OPERATOR(pg_catalog.=) $2", assignments),
					  2 + nargs, all_types, all_values);
	CommandCounterIncrement();
}

/*
 * The rows of an asynchronous column's pending cells, read as the current
 * user: queued (and not left alone), or empty without an entry when its
 * empty cells are pending.
 */
static ItemPointerData *
pending_ctids(Oid ns, const OrComputedColumn *cc, int *n)
{
	char	   *queue = quote_qualified_identifier(get_namespace_name(ns), ASYNC_QUEUE);
	char	   *table = qualified_table(cc->relid);
	char	   *entry = psprintf("SELECT 1 FROM %s q WHERE q.table_oid OPERATOR(pg_catalog.=) %u"
								 " AND q.column_name OPERATOR(pg_catalog.=) %s AND %s",
								 queue, cc->relid, quote_literal_cstr(cc->column),
								 or_key_match_sql(cc->relid, table, "q.row_key"));

	return select_ctids(cc->relid,
						psprintf("EXISTS (%s AND q.not_before OPERATOR(pg_catalog.<) 'infinity')%s",
								 entry,
								 cc->nulls_pending
								 ? psprintf(" OR (%s.%s IS NULL AND NOT EXISTS (%s))",
											table, quote_identifier(cc->column), entry)
								 : ""),
						n);
}

/* Remove an asynchronous column's queue entries (as the extension's owner). */
static void
forget_pending(Oid ns, const OrComputedColumn *cc)
{
	Oid			types[2] = {OIDOID, TEXTOID};
	Datum		values[2];

	values[0] = ObjectIdGetDatum(cc->relid);
	values[1] = CStringGetTextDatum(cc->column);
	write_extension_table(ns, ASYNC_QUEUE, -1, "DELETE FROM %s WHERE table_oid OPERATOR(pg_catalog.=) $1"
						  " AND column_name OPERATOR(pg_catalog.=) $2", 2, types, values);
	CommandCounterIncrement();
}

/*
 * openrouter_alter_computed_column(tbl, column_name, mode, on_error)
 *		Stored answers are kept.  To async: the empty cells are queued; to
 *		sync: the pending cells are computed now.
 */
Datum
openrouter_alter_computed_column(PG_FUNCTION_ARGS)
{
	Oid			ns = extension_schema(fcinfo);
	Oid			relid = table_arg(fcinfo);
	char	   *column = column_arg(fcinfo);
	OrComputedColumn *cc;
	ItemPointerData *ctids;
	int			n;
	uint64		result = 0;

	check_table_owner(relid);
	cc = computed_column(ns, relid, column);
	if (!PG_ARGISNULL(3))
	{
		Oid			types[1] = {TEXTOID};
		Datum		values[1];

		cc->on_error = on_error_arg(fcinfo, 3);
		values[0] = CStringGetTextDatum(cc->on_error == OR_ON_ERROR_IGNORE ? "ignore" : "abort");
		update_definition(ns, cc, "on_error = $3", 1, types, values);
	}
	if (!PG_ARGISNULL(2))
	{
		bool		async = mode_arg(fcinfo, 2);
		Oid			types[1] = {TEXTOID};
		Datum		values[1];

		if (async == cc->async)
			PG_RETURN_INT64(0);
		values[0] = CStringGetTextDatum(async ? "async" : "sync");
		/* an asynchronous column has every empty cell pending; a synchronous one needs no index */
		update_definition(ns, cc, "mode = $3, paused = false, nulls_pending = ($3 OPERATOR(pg_catalog.=) 'async')",
						  1, types, values);
		if (async)
		{
			/* what sync mode left empty is pending now, with nothing to queue */
			cc->async = true;
			cc->nulls_pending = true;
			create_pending_index(relid, column);
			create_insert_trigger(ns, relid, cc->position, column, true, true);
			result = count_rows(relid, psprintf("%s IS NULL", quote_identifier(column)));
			if (result > 0)
				wake_worker_when_committed();
		}
		else
		{
			OrComputeCounts counts = {0, 0};

			/* what the worker had not computed yet, now */
			ctids = pending_ctids(ns, cc, &n);
			forget_pending(ns, cc);
			if (cc->nulls_pending)
			{
				drop_pending_index(relid, column);
				create_insert_trigger(ns, relid, cc->position, column, false, true);
			}
			cc->nulls_pending = false;
			cc->async = false;
			ctids = or_compute_cells(cc, ctids, n, &n, &counts);
			or_compute_dependents(ns, cc, ctids, n);
			result = counts.computed;
		}
		ereport(LOG,
				(errmsg("openrouter: computed column \"%s\" of %s is now %s",
						column, table_for_message(relid), async ? "asynchronous" : "synchronous")));
	}
	PG_RETURN_INT64((int64) result);
}

static void
set_paused(FunctionCallInfo fcinfo, bool paused)
{
	Oid			ns = extension_schema(fcinfo);
	Oid			relid = table_arg(fcinfo);
	char	   *column = column_arg(fcinfo);
	OrComputedColumn *cc;
	Oid			types[1] = {BOOLOID};
	Datum		values[1];

	check_table_owner(relid);
	cc = computed_column(ns, relid, column);
	if (!cc->async)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("computed column \"%s\" of %s is not asynchronous", column,
						table_for_message(relid)),
				 errhint("Only the background worker's columns can be paused: openrouter_alter_computed_column(..., mode => 'async').")));
	if (cc->paused == paused)
		return;
	values[0] = BoolGetDatum(paused);
	update_definition(ns, cc, "paused = $3", 1, types, values);
	ereport(LOG,
			(errmsg("openrouter: computed column \"%s\" of %s %s", column,
					table_for_message(relid), paused ? "paused" : "resumed")));
	if (!paused)
		wake_worker_when_committed();
}

/* openrouter_pause(tbl, column_name) */
Datum
openrouter_pause(PG_FUNCTION_ARGS)
{
	set_paused(fcinfo, true);
	PG_RETURN_VOID();
}

/* openrouter_resume(tbl, column_name) */
Datum
openrouter_resume(PG_FUNCTION_ARGS)
{
	set_paused(fcinfo, false);
	PG_RETURN_VOID();
}

/*
 * openrouter_recompute(tbl, column_name, errors_only)
 *		Rows another run is computing are skipped.
 */
Datum
openrouter_recompute(PG_FUNCTION_ARGS)
{
	Oid			ns = extension_schema(fcinfo);
	Oid			relid = table_arg(fcinfo);
	char	   *column = column_arg(fcinfo);
	bool		errors_only = PG_ARGISNULL(2) ? false : PG_GETARG_BOOL(2);
	OrComputedColumn *cc = computed_column(ns, relid, column);
	ItemPointerData *ctids;
	int			n;

	ctids = select_ctids(relid, errors_only ? failed_condition(relid, column, "") : "true", &n);
	PG_RETURN_INT64((int64) compute_with_dependents(ns, cc, ctids, n));
}

/* ---------- the batch job ---------- */

/*
 * CALL openrouter_backfill(tbl, column_name, chunk_size, errors_only)
 *		Walks the pending rows in primary-key order, one chunk per transaction,
 *		continuing after the last key of the previous chunk: each chunk finds
 *		its rows through the key's index, however many are done.
 */
Datum
openrouter_backfill(PG_FUNCTION_ARGS)
{
	Oid			ns = extension_schema(fcinfo);
	Oid			relid = table_arg(fcinfo);
	char	   *column = column_arg(fcinfo);
	int			chunk_size = PG_ARGISNULL(2) ? 500 : PG_GETARG_INT32(2);
	bool		errors_only = PG_ARGISNULL(3) ? false : PG_GETARG_BOOL(3);
	MemoryContext procedure = CurrentMemoryContext;
	MemoryContext last_key_context;
	OrComputedColumn *cc;
	TableKey	key;
	char	   *table;
	char	   *pending;
	StringInfoData first_sql;
	StringInfoData next_sql;
	StringInfoData order;
	Datum	   *last_key;
	bool		have_last = false;
	uint64		total;
	OrProgress	progress;
	MemoryContext chunk_context;

	if (fcinfo->context == NULL || !IsA(fcinfo->context, CallContext) ||
		castNode(CallContext, fcinfo->context)->atomic)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_TRANSACTION_TERMINATION),
				 errmsg("openrouter_backfill must be called outside a transaction block"),
				 errdetail("It commits after every chunk."),
				 errhint("CALL it on its own, e.g. from psql or pg_cron.")));
	if (chunk_size < 1)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("chunk_size must be at least 1")));
	cc = computed_column(ns, relid, column);
	key = primary_key(relid);
	table = qualified_table(relid);
	pending = errors_only ? failed_condition(relid, column, "t.")
		: psprintf("t.%s IS NULL", quote_identifier(column));

	/* SELECT ctid, keys ... WHERE pending [AND keys > last] ORDER BY keys LIMIT chunk */
	initStringInfo(&order);
	for (int i = 0; i < key.ncolumns; i++)
		appendStringInfo(&order, "%st.%s USING %s", i > 0 ? ", " : "", key.columns[i], key.less[i]);
	initStringInfo(&first_sql);
	appendStringInfo(&first_sql, "SELECT t.ctid");
	for (int i = 0; i < key.ncolumns; i++)
		appendStringInfo(&first_sql, ", t.%s", key.columns[i]);
	appendStringInfo(&first_sql, " FROM ONLY %s t WHERE %s", table, pending);
	initStringInfo(&next_sql);
	appendStringInfo(&next_sql, "%s AND t.%s %s $1 AND (", first_sql.data, key.columns[0],
					 key.greater_equal[0]);
	for (int i = 0; i < key.ncolumns; i++)
	{
		appendStringInfo(&next_sql, "%s(", i > 0 ? " OR " : "");
		for (int j = 0; j < i; j++)
			appendStringInfo(&next_sql, "t.%s %s $%d AND ", key.columns[j], key.equal[j], j + 1);
		appendStringInfo(&next_sql, "t.%s %s $%d)", key.columns[i], key.greater[i], i + 1);
	}
	/* rows another run holds are skipped here already */
	appendStringInfo(&next_sql, ") ORDER BY %s LIMIT %d FOR NO KEY UPDATE OF t SKIP LOCKED",
					 order.data, chunk_size);
	appendStringInfo(&first_sql, " ORDER BY %s LIMIT %d FOR NO KEY UPDATE OF t SKIP LOCKED",
					 order.data, chunk_size);

	last_key_context = AllocSetContextCreate(procedure, "openrouter_backfill key",
											 ALLOCSET_SMALL_SIZES);
	last_key = MemoryContextAllocZero(procedure, sizeof(Datum) * key.ncolumns);
	chunk_context = AllocSetContextCreate(procedure, "openrouter_backfill chunk",
										  ALLOCSET_DEFAULT_SIZES);

	total = count_rows(relid, pending);
	if (SPI_connect_ext(SPI_OPT_NONATOMIC) != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	ereport(NOTICE,
			(errmsg("openrouter_backfill: " UINT64_FORMAT " rows of %s.%s to compute, in chunks of %d",
					total, get_rel_name(relid), column, chunk_size)));
	SPI_commit();
	or_progress_start(&progress, "openrouter_backfill", "rows", total, true);

	for (;;)
	{
		OrComputeCounts counts = {0, 0};
		ItemPointerData *ctids;
		int			n;
		int			nwritten;
		int			nestlevel;

		MemoryContextReset(chunk_context);
		MemoryContextSwitchTo(chunk_context);
		PushActiveSnapshot(GetTransactionSnapshot());

		/*
		 * Through the key's index, in order, whatever the planner guesses:
		 * with no statistics on a new column it takes a pending cell for 0.5%
		 * of the rows, and when that guess is below chunk_size it would scan
		 * and sort the whole table for every chunk (quadratic).
		 */
		nestlevel = pin_index_walk();
		run_sql(have_last ? next_sql.data : first_sql.data, have_last ? key.ncolumns : 0,
				key.types, last_key, NULL);
		restore_settings(nestlevel);
		/* (SPI returns to its procedure's memory, kept until SPI_finish()) */
		MemoryContextSwitchTo(chunk_context);
		if (SPI_processed == 0)
		{
			PopActiveSnapshot();
			break;
		}
		ctids = spi_ctids(chunk_context, &n);
		MemoryContextReset(last_key_context);
		{
			HeapTuple	last = SPI_tuptable->vals[SPI_processed - 1];
			MemoryContext chunk = MemoryContextSwitchTo(last_key_context);

			for (int i = 0; i < key.ncolumns; i++)
			{
				bool		isnull;
				int16		typlen;
				bool		typbyval;

				get_typlenbyval(key.types[i], &typlen, &typbyval);
				last_key[i] = datumCopy(SPI_getbinval(last, SPI_tuptable->tupdesc, i + 2, &isnull),
										typbyval, typlen);
			}
			MemoryContextSwitchTo(chunk);
		}

		/*
		 * (an SPI result lives until SPI_finish(), through the commits: one
		 * chunk's keys, 100 kB for 1,000 rows, each time)
		 */
		SPI_freetuptable(SPI_tuptable);
		have_last = true;
		(void) or_compute_cells(cc, ctids, n, &nwritten, &counts);
		PopActiveSnapshot();
		SPI_commit();
		or_progress_add(&progress, counts.computed, counts.failed);
	}
	or_progress_finish(&progress);
	SPI_finish();
	MemoryContextSwitchTo(procedure);
	MemoryContextDelete(chunk_context);
	MemoryContextDelete(last_key_context);
	PG_RETURN_VOID();
}
