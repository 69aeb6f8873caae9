/*
 * concurrent.c
 *		Plain SQL made concurrent: "UPDATE t SET r = openrouter_chat(...)",
 *		"SELECT ... FROM t WHERE <a test over openrouter_chat(...)>", INSERT
 *		... SELECT and CREATE TABLE ... AS keep up to openrouter.max_concurrency
 *		requests in flight, without openrouter_prefetch().
 *
 * How.  A planner hook looks at the finished plan for nodes that evaluate a
 * marked function (concurrent.h: a C function that honours
 * openrouter_prefetch's collect mode and the request cache, recognised by a
 * symbol it exports, so that every such function of the extension qualifies
 * without a list here) in their target list or filter.  Such a node N is
 * split: N keeps its input and its leading filter conjuncts and now returns
 * just the columns (Vars) the calls' expressions need; above it a custom
 * plan node, "OpenRouter Concurrent", evaluates the moved expressions.  That
 * node reads a window of rows ahead (openrouter.max_concurrency rows),
 * evaluates each row's calls in collect mode (prefetch.h: a call reports its
 * request and sends nothing), sends the window's requests together, and
 * keeps their answers pinned in the transaction's request cache
 * (request_cache.c); then it returns the window's rows one by one, and the
 * ordinary evaluation of each row's calls finds its answer there.  The pins
 * are dropped once the window's rows were all evaluated, so the cache's
 * byte budget can never evict an answer before it was read, and memory
 * holds one window: the statement streams.
 *
 * Why this way.  The calls are still evaluated by PostgreSQL's own
 * expression machinery, in the same node order, on the same rows, with the
 * same arguments: only when the request goes out changes.  Nothing in the
 * planner's choices changes (the hook edits the finished plan), and the
 * node is visible in EXPLAIN.  The alternative, replacing each call with a
 * column the node fills in, would need a second evaluator of the call's
 * arguments and of its failure handling.
 *
 * Which calls are fetched ahead (the rules that keep the meaning):
 *  - only calls that row-at-a-time evaluation makes for every row reaching
 *    the node: the target list is evaluated for each row that passed the
 *    filter, a filter conjunct for each row that passed the ones before it,
 *    and within an expression only operands that are always evaluated (not
 *    the later branches of CASE, COALESCE, AND, OR).  A filter with calls
 *    becomes a chain of nodes, one per conjunct with calls, the target list
 *    last, so that every call is fetched ahead for exactly the rows that
 *    reach it;
 *  - of nested calls, the inner ones (the outer request needs their answer);
 *  - nothing in a statement with a data-modifying WITH, a SCROLL cursor, a
 *    node with a volatile function in it or below it (its side effects and
 *    the calls would interleave differently), the inner side of a merge join
 *    (mark and restore), or under Gather.
 * A failure is kept like an answer and raised by its row's own evaluation,
 * so a statement fails with the first failing row's error, as row at a time.
 * A LIMIT with a constant count bounds the windows below it: the node never
 * reads ahead more rows than the LIMIT can still return, so LIMIT 10 pays for
 * the rows row-at-a-time evaluation would.  A cursor pays for at most one
 * window beyond the rows it fetched.  With openrouter.concurrent_calls off
 * (at planning or at execution) or a window of one row, calls go out one at
 * a time as before.
 */
#include "openrouter.h"

#include "catalog/pg_language.h"
#include "catalog/pg_proc.h"
#include "commands/explain.h"
#include "executor/executor.h"
#include "nodes/extensible.h"
#include "nodes/makefuncs.h"
#include "nodes/nodeFuncs.h"
#include "optimizer/optimizer.h"
#include "optimizer/planner.h"
#include "utils/builtins.h"
#include "utils/hsearch.h"
#include "utils/inval.h"
#include "utils/memutils.h"
#include "utils/syscache.h"

#include "concurrent.h"
#include "prefetch.h"
#include "request_cache.h"

#define NODE_NAME "OpenRouter Concurrent"
#define OUR_LIBRARY "$libdir/openrouter"

/* ---------- which functions are marked ---------- */

typedef struct MarkedFunction
{
	Oid			funcid;			/* hash key */
	bool		marked;
} MarkedFunction;

static HTAB *marked_functions = NULL;

static void
forget_marked_functions(Datum arg, int cacheid, uint32 hashvalue)
{
	if (marked_functions != NULL)
		hash_destroy(marked_functions);
	marked_functions = NULL;
}

/* does this function's C implementation carry OR_CONCURRENT_FUNCTION? */
static bool
is_marked_function(Oid funcid)
{
	MarkedFunction *entry;
	HeapTuple	tuple;
	bool		found;

	if (marked_functions == NULL)
	{
		HASHCTL		ctl;

		memset(&ctl, 0, sizeof(ctl));
		ctl.keysize = sizeof(Oid);
		ctl.entrysize = sizeof(MarkedFunction);
		ctl.hcxt = TopMemoryContext;
		marked_functions = hash_create("openrouter marked functions", 64, &ctl,
									   HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
	}
	entry = hash_search(marked_functions, &funcid, HASH_ENTER, &found);
	if (found)
		return entry->marked;
	entry->marked = false;

	tuple = SearchSysCache1(PROCOID, ObjectIdGetDatum(funcid));
	if (!HeapTupleIsValid(tuple))
		return false;
	if (((Form_pg_proc) GETSTRUCT(tuple))->prolang == ClanguageId)
	{
		bool		bin_null,
					src_null;
		Datum		bin = SysCacheGetAttr(PROCOID, tuple, Anum_pg_proc_probin, &bin_null);
		Datum		src = SysCacheGetAttr(PROCOID, tuple, Anum_pg_proc_prosrc, &src_null);

		/* only this library's functions: no other library is loaded here */
		if (!bin_null && !src_null &&
			strcmp(TextDatumGetCString(bin), OUR_LIBRARY) == 0)
		{
			char	   *symbol = psprintf("%s%s", OR_CONCURRENT_SYMBOL_PREFIX,
										  TextDatumGetCString(src));

			entry->marked = load_external_function(OUR_LIBRARY, symbol, false, NULL) != NULL;
		}
	}
	ReleaseSysCache(tuple);
	return entry->marked;
}

static bool
is_marked_call(Node *node)
{
	return node != NULL && IsA(node, FuncExpr) &&
		is_marked_function(((FuncExpr *) node)->funcid);
}

static bool
contains_marked_call(Node *node, void *context)
{
	if (node == NULL)
		return false;
	if (is_marked_call(node))
		return true;
	return expression_tree_walker(node, contains_marked_call, context);
}

/*
 * The marked calls that evaluating this expression always makes: operands
 * that are always evaluated are searched, conditional ones (later branches
 * of CASE, COALESCE, AND, OR; anything not listed) are not.  Of nested
 * calls, the innermost.
 */
static void
find_unconditional_calls(Node *node, List **calls)
{
	ListCell   *lc;

	if (node == NULL)
		return;
	if (is_marked_call(node))
	{
		if (contains_marked_call((Node *) ((FuncExpr *) node)->args, NULL))
			find_unconditional_calls((Node *) ((FuncExpr *) node)->args, calls);
		else
			*calls = lappend(*calls, node);
		return;
	}
	switch (nodeTag(node))
	{
		case T_List:
			foreach(lc, (List *) node)
				find_unconditional_calls(lfirst(lc), calls);
			break;
		case T_TargetEntry:
			find_unconditional_calls((Node *) ((TargetEntry *) node)->expr, calls);
			break;
		case T_FuncExpr:
			find_unconditional_calls((Node *) ((FuncExpr *) node)->args, calls);
			break;
		case T_OpExpr:
		case T_DistinctExpr:
		case T_NullIfExpr:
			find_unconditional_calls((Node *) ((OpExpr *) node)->args, calls);
			break;
		case T_ScalarArrayOpExpr:
			find_unconditional_calls((Node *) ((ScalarArrayOpExpr *) node)->args, calls);
			break;
		case T_RelabelType:
			find_unconditional_calls((Node *) ((RelabelType *) node)->arg, calls);
			break;
		case T_CoerceViaIO:
			find_unconditional_calls((Node *) ((CoerceViaIO *) node)->arg, calls);
			break;
		case T_CoerceToDomain:
			find_unconditional_calls((Node *) ((CoerceToDomain *) node)->arg, calls);
			break;
		case T_FieldSelect:
			find_unconditional_calls((Node *) ((FieldSelect *) node)->arg, calls);
			break;
		case T_NullTest:
			find_unconditional_calls((Node *) ((NullTest *) node)->arg, calls);
			break;
		case T_BooleanTest:
			find_unconditional_calls((Node *) ((BooleanTest *) node)->arg, calls);
			break;
		case T_ArrayExpr:
			find_unconditional_calls((Node *) ((ArrayExpr *) node)->elements, calls);
			break;
		case T_RowExpr:
			find_unconditional_calls((Node *) ((RowExpr *) node)->args, calls);
			break;
		case T_MinMaxExpr:
			find_unconditional_calls((Node *) ((MinMaxExpr *) node)->args, calls);
			break;
		case T_BoolExpr:
			find_unconditional_calls(linitial(((BoolExpr *) node)->args), calls);
			break;
		case T_CoalesceExpr:
			find_unconditional_calls(linitial(((CoalesceExpr *) node)->args), calls);
			break;
		case T_CaseExpr:
			{
				CaseExpr   *c = (CaseExpr *) node;

				find_unconditional_calls((Node *) c->arg, calls);
				find_unconditional_calls((Node *) ((CaseWhen *) linitial(c->args))->expr, calls);
				break;
			}
		default:
			break;
	}
}

/* ---------- the plan ---------- */

static CustomScanMethods scan_methods;

typedef struct Planning
{
	PlannedStmt *stmt;
	int			next_plan_node_id;
} Planning;

/* pointers to the child plans of a plan node */
static List *
child_slots(Plan *plan)
{
	List	   *slots = NIL;
	List	   *children = NIL;
	ListCell   *lc;

	if (plan->lefttree)
		slots = lappend(slots, &plan->lefttree);
	if (plan->righttree)
		slots = lappend(slots, &plan->righttree);
	switch (nodeTag(plan))
	{
		case T_Append:
			children = ((Append *) plan)->appendplans;
			break;
		case T_MergeAppend:
			children = ((MergeAppend *) plan)->mergeplans;
			break;
		case T_BitmapAnd:
			children = ((BitmapAnd *) plan)->bitmapplans;
			break;
		case T_BitmapOr:
			children = ((BitmapOr *) plan)->bitmapplans;
			break;
		case T_CustomScan:
			children = ((CustomScan *) plan)->custom_plans;
			break;
		case T_SubqueryScan:
			slots = lappend(slots, &((SubqueryScan *) plan)->subplan);
			break;
		default:
			break;
	}
	foreach(lc, children)
		slots = lappend(slots, &lfirst(lc));
	return slots;
}

static void
find_max_plan_node_id(Plan *plan, int *max)
{
	ListCell   *lc;

	if (plan == NULL)
		return;
	*max = Max(*max, plan->plan_node_id);
	foreach(lc, child_slots(plan))
		find_max_plan_node_id(*(Plan **) lfirst(lc), max);
}

static bool plan_has_volatile(Planning *p, Plan *plan);

/* volatile functions in the subplans an expression runs */
static bool
subplans_have_volatile(Node *node, Planning *p)
{
	if (node == NULL)
		return false;
	if (IsA(node, SubPlan) &&
		plan_has_volatile(p, list_nth(p->stmt->subplans, ((SubPlan *) node)->plan_id - 1)))
		return true;
	return expression_tree_walker(node, subplans_have_volatile, p);
}

/* volatile functions in an expression, or in the subplans it runs */
static bool
expression_has_volatile(Node *node, Planning *p)
{
	return contain_volatile_functions(node) || subplans_have_volatile(node, p);
}

/* volatile functions anywhere in this plan node and those below it */
static bool
plan_has_volatile(Planning *p, Plan *plan)
{
	List	   *exprs;
	ListCell   *lc;

	if (plan == NULL)
		return false;
	exprs = list_make3(plan->targetlist, plan->qual, plan->initPlan);
	switch (nodeTag(plan))
	{
		case T_FunctionScan:
			exprs = lappend(exprs, ((FunctionScan *) plan)->functions);
			break;
		case T_ValuesScan:
			exprs = lappend(exprs, ((ValuesScan *) plan)->values_lists);
			break;
		case T_TableFuncScan:
			exprs = lappend(exprs, ((TableFuncScan *) plan)->tablefunc);
			break;
		case T_Result:
			exprs = lappend(exprs, ((Result *) plan)->resconstantqual);
			break;
		case T_NestLoop:
		case T_MergeJoin:
		case T_HashJoin:
			exprs = lappend(exprs, ((Join *) plan)->joinqual);
			break;
		case T_CteScan:
			if (plan_has_volatile(p, list_nth(p->stmt->subplans,
											  ((CteScan *) plan)->ctePlanId - 1)))
				return true;
			break;
		default:
			break;
	}
	if (expression_has_volatile((Node *) exprs, p))
		return true;
	foreach(lc, child_slots(plan))
		if (plan_has_volatile(p, *(Plan **) lfirst(lc)))
			return true;
	return false;
}

/* may this node's target list and filter move above it? */
static bool
splittable(Plan *plan)
{
	switch (nodeTag(plan))
	{
		case T_SeqScan:
		case T_SampleScan:
		case T_IndexScan:
		case T_IndexOnlyScan:
		case T_BitmapHeapScan:
		case T_TidScan:
		case T_TidRangeScan:
		case T_SubqueryScan:
		case T_FunctionScan:
		case T_ValuesScan:
		case T_TableFuncScan:
		case T_CteScan:
		case T_NamedTuplestoreScan:
		case T_ForeignScan:
			return true;
		case T_Result:
			return plan->lefttree != NULL;
		case T_Agg:
		case T_WindowAgg:
		case T_Group:
			/* aggregates and window functions stay: columns of the node */
			return true;
		case T_NestLoop:
		case T_MergeJoin:
		case T_HashJoin:
			/* only the filter after the join moves: the join clauses stay */
			return !contains_marked_call((Node *) ((Join *) plan)->joinqual, NULL);
		default:
			return false;
	}
}

typedef struct VarMap
{
	List	   *vars;			/* distinct columns of the moved expressions */
} VarMap;

/* what the split node still computes: its input's columns, its aggregates */
static bool
is_column(Node *node)
{
	return IsA(node, Var) || IsA(node, Aggref) || IsA(node, WindowFunc) ||
		IsA(node, GroupingFunc);
}

static bool
collect_vars(Node *node, VarMap *map)
{
	if (node == NULL)
		return false;
	if (is_column(node))
	{
		map->vars = list_append_unique(map->vars, node);
		return false;
	}
	return expression_tree_walker(node, collect_vars, map);
}

/* a Var of the moved expressions -> the column of the node's scan tuple */
static Node *
map_vars(Node *node, VarMap *map)
{
	if (node == NULL)
		return NULL;
	if (is_column(node))
	{
		int			column = 0;
		ListCell   *lc;

		foreach(lc, map->vars)
			if (equal(lfirst(lc), node))
				column = foreach_current_index(lc) + 1;
		Assert(column > 0);
		return (Node *) makeVar(INDEX_VAR, column, exprType(node), exprTypmod(node),
								exprCollation(node), 0);
	}
	return expression_tree_mutator(node, map_vars, map);
}

/* the scan tuple of a stage: the columns of the plan below, in order */
static List *
input_columns(VarMap *map, bool from_index)
{
	List	   *tlist = NIL;
	ListCell   *lc;

	foreach(lc, map->vars)
	{
		Node	   *expr = lfirst(lc);
		int			column = foreach_current_index(lc) + 1;

		tlist = lappend(tlist,
						makeTargetEntry((Expr *) makeVar(from_index ? INDEX_VAR : OUTER_VAR, column,
														 exprType(expr), exprTypmod(expr),
														 exprCollation(expr), 0),
										column, NULL, false));
	}
	return tlist;
}

/* one node of the chain that replaces the split node's expressions */
static Plan *
make_stage(Planning *p, Plan *split, Plan *input, VarMap *map, List *tlist,
		   List *qual, List *calls, int64 bound)
{
	CustomScan *cscan = makeNode(CustomScan);
	Plan	   *plan = &cscan->scan.plan;

	plan->startup_cost = split->startup_cost;
	plan->total_cost = split->total_cost;
	plan->plan_rows = split->plan_rows;
	plan->plan_width = split->plan_width;
	plan->plan_node_id = p->next_plan_node_id++;
	plan->targetlist = tlist;
	plan->qual = qual;
	plan->lefttree = input;
	plan->extParam = bms_copy(split->extParam);
	plan->allParam = bms_copy(split->allParam);
	cscan->scan.scanrelid = 0;
	cscan->custom_scan_tlist = input_columns(map, false);
	cscan->custom_exprs = calls;
	cscan->custom_private = list_make1(makeInteger((int) Min(bound, PG_INT32_MAX)));
	cscan->methods = &scan_methods;
	return plan;
}

/*
 * Split a node that evaluates marked calls into itself (its input, its
 * leading filter conjuncts, the columns the rest needs) and a chain of
 * stages above it: one per filter conjunct with calls (with the call-free
 * conjuncts after it), then one for the target list.
 */
static Plan *
split_node(Planning *p, Plan *plan, int64 bound)
{
	int			first = -1;
	ListCell   *lc;
	List	   *moved_qual;
	List	   *stage_quals = NIL;	/* of List * */
	List	   *stage_calls = NIL;	/* of List * */
	List	   *tlist_calls = NIL;
	bool		any_calls;
	VarMap		map = {NIL};
	Plan	   *top;

	if (!splittable(plan))
		return plan;
	foreach(lc, plan->qual)
	{
		if (contains_marked_call(lfirst(lc), NULL))
		{
			first = foreach_current_index(lc);
			break;
		}
	}
	if (first < 0 && !contains_marked_call((Node *) plan->targetlist, NULL))
		return plan;
	if (plan_has_volatile(p, plan))
		return plan;

	/* the stages: calls fetched ahead for each */
	moved_qual = first < 0 ? NIL : list_copy_tail(plan->qual, first);
	foreach(lc, moved_qual)
	{
		Node	   *conjunct = lfirst(lc);

		if (stage_quals == NIL || contains_marked_call(conjunct, NULL))
		{
			List	   *calls = NIL;

			find_unconditional_calls(conjunct, &calls);
			stage_quals = lappend(stage_quals, list_make1(conjunct));
			stage_calls = lappend(stage_calls, calls);
		}
		else
			llast(stage_quals) = lappend(llast(stage_quals), conjunct);
	}
	find_unconditional_calls((Node *) plan->targetlist, &tlist_calls);
	any_calls = tlist_calls != NIL;
	foreach(lc, stage_calls)
		any_calls |= lfirst(lc) != NIL;
	if (!any_calls)
		return plan;

	/* the node below returns the columns the moved expressions read */
	collect_vars((Node *) plan->targetlist, &map);
	collect_vars((Node *) moved_qual, &map);
	top = plan;
	foreach(lc, stage_quals)
	{
		List	   *calls = list_nth(stage_calls, foreach_current_index(lc));
		bool		last = foreach_current_index(lc) == list_length(stage_quals) - 1;

		/* the last filter stage also projects, unless the target list has calls */
		top = make_stage(p, plan, top, &map,
						 last && tlist_calls == NIL ?
						 (List *) map_vars((Node *) plan->targetlist, &map) :
						 input_columns(&map, true),
						 (List *) map_vars(lfirst(lc), &map),
						 (List *) map_vars((Node *) calls, &map), bound);
	}
	if (stage_quals == NIL || tlist_calls != NIL)
		top = make_stage(p, plan, top, &map,
						 (List *) map_vars((Node *) plan->targetlist, &map), NIL,
						 (List *) map_vars((Node *) tlist_calls, &map), bound);
	plan->targetlist = NIL;
	foreach(lc, map.vars)
		plan->targetlist = lappend(plan->targetlist,
								   makeTargetEntry(copyObject(lfirst(lc)),
												   foreach_current_index(lc) + 1,
												   NULL, false));
	if (first >= 0)
		plan->qual = list_copy_head(plan->qual, first);
	return top;
}

/* the constant row count a Limit node can return, or 0 (unknown) */
static int64
limit_bound(Limit *limit)
{
	Const	   *count = (Const *) limit->limitCount;
	Const	   *offset = (Const *) limit->limitOffset;
	int64		bound;

	if (limit->limitOption != LIMIT_OPTION_COUNT ||
		count == NULL || !IsA(count, Const) || count->constisnull)
		return 0;
	bound = DatumGetInt64(count->constvalue);
	if (offset != NULL)
	{
		if (!IsA(offset, Const))
			return 0;
		if (!offset->constisnull)
			bound += DatumGetInt64(offset->constvalue);
	}
	return Max(bound, 1);
}

/*
 * Walk the plan: children first, then this node.  bound: the rows the plan
 * above reads from this node at most (0: unknown); mark_restore: the plan
 * above needs mark and restore of this node.
 */
static Plan *
walk_plan(Planning *p, Plan *plan, int64 bound, bool mark_restore)
{
	ListCell   *lc;

	if (plan == NULL || IsA(plan, Gather) || IsA(plan, GatherMerge))
		return plan;
	foreach(lc, child_slots(plan))
	{
		Plan	  **child = lfirst(lc);
		int64		child_bound = 0;

		if (IsA(plan, Limit))
			child_bound = limit_bound((Limit *) plan);
		else if (IsA(plan, Append) || IsA(plan, MergeAppend))
			child_bound = bound;
		*child = walk_plan(p, *child, child_bound,
						   IsA(plan, MergeJoin) && child == &plan->righttree);
	}
	if (mark_restore)
		return plan;
	return split_node(p, plan, bound);
}

static planner_hook_type previous_planner_hook = NULL;

static PlannedStmt *
concurrent_planner(Query *parse, const char *query_string, int cursor_options,
				   ParamListInfo bound_params)
{
	PlannedStmt *stmt;
	Planning	p;
	ListCell   *lc;

	if (previous_planner_hook)
		stmt = previous_planner_hook(parse, query_string, cursor_options, bound_params);
	else
		stmt = standard_planner(parse, query_string, cursor_options, bound_params);

	if (!or_concurrent_calls || or_prefetch_collecting() ||
		stmt->commandType == CMD_UTILITY || stmt->hasModifyingCTE ||
		(cursor_options & CURSOR_OPT_SCROLL))
		return stmt;

	p.stmt = stmt;
	p.next_plan_node_id = 0;
	find_max_plan_node_id(stmt->planTree, &p.next_plan_node_id);
	foreach(lc, stmt->subplans)
		find_max_plan_node_id(lfirst(lc), &p.next_plan_node_id);
	p.next_plan_node_id++;

	stmt->planTree = walk_plan(&p, stmt->planTree, 0, false);
	foreach(lc, stmt->subplans)
		lfirst(lc) = walk_plan(&p, lfirst(lc), 0, false);
	return stmt;
}

/* ---------- execution ---------- */

typedef struct ConcurrentState
{
	CustomScanState css;
	List	   *calls;			/* ExprState * of the calls fetched ahead */
	int			window;			/* most rows read ahead */
	int64		bound;			/* most rows the plan above reads, or 0 */
	int64		returned;		/* rows returned since the start or a rescan */
	TupleTableSlot **rows;		/* the window's rows */
	int			nrows;
	int			next;			/* the next row to return */
	bool		input_done;
	MemoryContext window_context;	/* what the window holds */
	OrRequestKey *pinned;		/* the answers pinned for the window */
	int			npinned;
	int64		windows_fetched;	/* for EXPLAIN ANALYZE */
	int64		requests_sent;
} ConcurrentState;

static CustomExecMethods exec_methods;

static Node *
create_state(CustomScan *cscan)
{
	ConcurrentState *state = palloc0(sizeof(ConcurrentState));

	NodeSetTag(state, T_CustomScanState);
	state->css.methods = &exec_methods;
	return (Node *) state;
}

static void
begin_scan(CustomScanState *node, EState *estate, int eflags)
{
	ConcurrentState *state = (ConcurrentState *) node;
	CustomScan *cscan = (CustomScan *) node->ss.ps.plan;
	TupleDesc	desc = node->ss.ss_ScanTupleSlot->tts_tupleDescriptor;
	ListCell   *lc;

	outerPlanState(node) = ExecInitNode(outerPlan(cscan), estate, eflags);
	state->bound = intVal(linitial(cscan->custom_private));
	state->window = or_concurrent_calls ? Max(1, or_max_concurrency) : 1;
	if (state->window > 1)
		foreach(lc, cscan->custom_exprs)
			state->calls = lappend(state->calls, ExecInitExpr(lfirst(lc), &node->ss.ps));
	/* virtual slots, like the scan slot the expressions were compiled for */
	state->rows = palloc(state->window * sizeof(TupleTableSlot *));
	for (int i = 0; i < state->window; i++)
		state->rows[i] = MakeSingleTupleTableSlot(desc, &TTSOpsVirtual);
	state->window_context = AllocSetContextCreate(CurrentMemoryContext,
												  "openrouter concurrent window",
												  ALLOCSET_SMALL_SIZES);
}

/* the window's rows were all evaluated: their answers may now be evicted */
static void
release_window(ConcurrentState *state)
{
	for (int i = 0; i < state->npinned; i++)
		or_cache_unpin(&state->pinned[i]);
	state->npinned = 0;
	state->pinned = NULL;
	MemoryContextReset(state->window_context);
	state->nrows = 0;
	state->next = 0;
}

/* evaluate the window's calls in collect mode, send, keep the answers */
static void
fetch_answers(ConcurrentState *state)
{
	ExprContext *econtext = state->css.ss.ps.ps_ExprContext;
	MemoryContext old;

	or_prefetch_start(state->window_context);
	PG_TRY();
	{
		for (int i = 0; i < state->nrows; i++)
		{
			ListCell   *lc;

			econtext->ecxt_scantuple = state->rows[i];
			foreach(lc, state->calls)
			{
				bool		isnull;

				(void) ExecEvalExprSwitchContext(lfirst(lc), econtext, &isnull);
			}
			ResetExprContext(econtext);
		}
	}
	PG_FINALLY();
	{
		or_prefetch_stop();
	}
	PG_END_TRY();

	old = MemoryContextSwitchTo(state->window_context);
	/* failures are raised when their row is evaluated: in row order */
	state->requests_sent += or_prefetch_send(false, &state->pinned, &state->npinned);
	MemoryContextSwitchTo(old);
	state->windows_fetched++;
}

/* read the next window of rows and fetch their answers; false at the end */
static bool
fill_window(ConcurrentState *state)
{
	PlanState  *input = outerPlanState(state);
	int			want = state->window;

	release_window(state);
	if (state->input_done)
		return false;
	/* under a LIMIT: never more rows than it can still take */
	if (state->bound > 0)
		want = (int) Max(1, Min(want, state->bound - state->returned));
	while (state->nrows < want)
	{
		TupleTableSlot *slot = ExecProcNode(input);

		if (TupIsNull(slot))
		{
			state->input_done = true;
			break;
		}
		ExecCopySlot(state->rows[state->nrows++], slot);
	}
	if (state->nrows > 1 && state->calls != NIL && !or_prefetch_collecting())
		fetch_answers(state);
	return state->nrows > 0;
}

static TupleTableSlot *
next_row(ScanState *node)
{
	ConcurrentState *state = (ConcurrentState *) node;

	if (state->next >= state->nrows && !fill_window(state))
		return NULL;
	return state->rows[state->next++];
}

/* EvalPlanQual: the row the input gives, evaluated as it is */
static bool
recheck_row(ScanState *node, TupleTableSlot *slot)
{
	TupleTableSlot *input = ExecProcNode(outerPlanState(node));

	if (TupIsNull(input))
		return false;
	ExecCopySlot(slot, input);
	return true;
}

static TupleTableSlot *
exec_scan(CustomScanState *node)
{
	ConcurrentState *state = (ConcurrentState *) node;
	TupleTableSlot *slot = ExecScan(&node->ss, next_row, recheck_row);

	if (!TupIsNull(slot))
		state->returned++;
	return slot;
}

static void
rescan(CustomScanState *node)
{
	ConcurrentState *state = (ConcurrentState *) node;

	release_window(state);
	state->input_done = false;
	state->returned = 0;
	ExecScanReScan(&node->ss);
	if (outerPlanState(node)->chgParam == NULL)
		ExecReScan(outerPlanState(node));
}

static void
end_scan(CustomScanState *node)
{
	ConcurrentState *state = (ConcurrentState *) node;

	release_window(state);
	for (int i = 0; i < state->window; i++)
		ExecDropSingleTupleTableSlot(state->rows[i]);
	ExecEndNode(outerPlanState(node));
}

static void
explain_scan(CustomScanState *node, List *ancestors, ExplainState *es)
{
	ConcurrentState *state = (ConcurrentState *) node;
	CustomScan *cscan = (CustomScan *) node->ss.ps.plan;

	ExplainPropertyInteger("Calls Fetched Ahead", NULL,
						   list_length(cscan->custom_exprs), es);
	if (state->bound > 0)
		ExplainPropertyInteger("Row Bound", NULL, state->bound, es);
	if (es->analyze)
	{
		ExplainPropertyInteger("Windows", NULL, state->windows_fetched, es);
		ExplainPropertyInteger("Requests Sent Ahead", NULL, state->requests_sent, es);
	}
}

void
or_concurrent_init(void)
{
	scan_methods.CustomName = NODE_NAME;
	scan_methods.CreateCustomScanState = create_state;
	RegisterCustomScanMethods(&scan_methods);

	exec_methods.CustomName = NODE_NAME;
	exec_methods.BeginCustomScan = begin_scan;
	exec_methods.ExecCustomScan = exec_scan;
	exec_methods.EndCustomScan = end_scan;
	exec_methods.ReScanCustomScan = rescan;
	exec_methods.ExplainCustomScan = explain_scan;

	CacheRegisterSyscacheCallback(PROCOID, forget_marked_functions, (Datum) 0);
	previous_planner_hook = planner_hook;
	planner_hook = concurrent_planner;
}
