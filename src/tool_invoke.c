/*
 * tool_invoke.c
 *		openrouter_invoke_tools(): run the tool calls of a chat completions
 *		response against the SQL functions declared as tools, and return the
 *		result object (one key per tool, its results in call order).
 *
 * The declared tools are resolved by tool_resolve.c, the response is read by
 * tool_response.c and each call is prepared by tool_arguments.c.  The call
 * is a FuncExpr of the resolved OID, wrapped in to_jsonb(), evaluated by the
 * executor: so the EXECUTE privilege of the calling role is checked (42501),
 * SECURITY DEFINER and SET clauses work as usual, and no SQL text is ever
 * built.
 *
 * Errors.  With on_error => 'abort', every call's arguments are checked
 * before the first call runs, and the first failure is raised (with a
 * CONTEXT line naming the tool call).  With 'ignore', each call runs in its
 * own subtransaction; a failing call leaves {"error": {...}} in its place
 * and has no effects, and the other calls still run.
 */
#include "openrouter.h"

#include "access/xact.h"
#include "catalog/pg_type.h"
#include "executor/executor.h"
#include "fmgr.h"
#include "nodes/makefuncs.h"
#include "utils/fmgroids.h"
#include "utils/lsyscache.h"
#include "utils/resowner.h"

#include "jsonb_util.h"
#include "prefetch.h"
#include "tools.h"

PG_FUNCTION_INFO_V1(openrouter_invoke_tools);

static OrToolSlot *
find_slot(List *slots, const char *name)
{
	ListCell   *lc;

	foreach(lc, slots)
	{
		OrToolSlot *slot = lfirst(lc);

		if (strcmp(slot->name, name) == 0)
			return slot;
	}
	return NULL;
}

/* the function's result as jsonb (NULL for SQL NULL or void) */
static Jsonb *
execute_call(OrToolCall *call)
{
	OrToolSlot *tool = call->tool;
	MemoryContext caller = CurrentMemoryContext;
	Oid			result_collation = get_typcollation(tool->rettype);
	Expr	   *expr;
	EState	   *estate;
	ExprState  *state;
	Datum		value;
	bool		isnull;
	Jsonb	   *result = NULL;

	or_lock_tool_function(tool);
	expr = (Expr *) makeFuncExpr(tool->funcoid, tool->rettype, call->args,
								 result_collation, tool->inputcollid,
								 COERCE_EXPLICIT_CALL);
	if (tool->rettype != VOIDOID)
		expr = (Expr *) makeFuncExpr(F_TO_JSONB, JSONBOID, list_make1(expr),
									 InvalidOid, result_collation,
									 COERCE_EXPLICIT_CALL);

	estate = CreateExecutorState();
	MemoryContextSwitchTo(estate->es_query_cxt);
	state = ExecInitExpr(expr, NULL);	/* checks EXECUTE (42501) */
	MemoryContextSwitchTo(caller);
	value = ExecEvalExprSwitchContext(state, GetPerTupleExprContext(estate),
									  &isnull);
	MemoryContextSwitchTo(caller);
	if (!isnull && tool->rettype != VOIDOID)
		result = DatumGetJsonbPCopy(value);
	FreeExecutorState(estate);
	return result;
}

static void
call_context(void *arg)
{
	OrToolCall *call = arg;

	if (call->name == NULL)
		errcontext("tool call %d", call->position);
	else if (call->id == NULL)
		errcontext("tool call %d to \"%s\"", call->position, call->name);
	else
		errcontext("tool call %d (id \"%s\") to \"%s\"", call->position, call->id,
				   call->name);
}

/* what a failed call leaves in its place with on_error => 'ignore' */
static Jsonb *
error_entry(ErrorData *edata, OrToolCall *call)
{
	const char *code;
	OrFailure  *failure;

	if (edata->sqlerrcode == ERRCODE_OR_UNDECLARED_TOOL)
		code = "undeclared_tool";
	else if (edata->sqlerrcode == ERRCODE_OR_TOOL_ARGUMENTS_JSON)
		code = "invalid_json";
	else if (edata->sqlerrcode == ERRCODE_OR_TOOL_ARGUMENTS_FIT)
		code = "invalid_arguments";
	else if (edata->sqlerrcode == ERRCODE_INSUFFICIENT_PRIVILEGE)
		code = "permission_denied";
	else if (edata->sqlerrcode == ERRCODE_OR_TOOL_DROPPED)
		code = "tool_dropped";
	else
		code = "tool_failed";

	failure = or_failure_from_error(edata, code);
	failure->tool_call_id = call->id;
	return or_failure_to_jsonb(failure);
}

/* prepare and run one call in a subtransaction; a failure becomes its entry */
static Jsonb *
run_isolated(OrToolCall *call, List *slots)
{
	MemoryContext context = CurrentMemoryContext;
	ResourceOwner owner = CurrentResourceOwner;
	Jsonb	   *volatile result = NULL;

	BeginInternalSubTransaction(NULL);
	MemoryContextSwitchTo(context);
	PG_TRY();
	{
		ErrorContextCallback callback = {error_context_stack, call_context, call};

		error_context_stack = &callback;
		or_prepare_tool_call(call, slots);
		result = execute_call(call);
		error_context_stack = callback.previous;

		ReleaseCurrentSubTransaction();
		MemoryContextSwitchTo(context);
		CurrentResourceOwner = owner;
	}
	PG_CATCH();
	{
		ErrorData  *edata;

		MemoryContextSwitchTo(context);
		edata = CopyErrorData();
		FlushErrorState();
		RollbackAndReleaseCurrentSubTransaction();
		MemoryContextSwitchTo(context);
		CurrentResourceOwner = owner;

		/* a cancel or statement_timeout stops everything */
		if (edata->sqlerrcode == ERRCODE_QUERY_CANCELED)
			ReThrowError(edata);
		result = error_entry(edata, call);
	}
	PG_END_TRY();
	return result;
}

/* the result object: one key per slot, a list of results or null */
static Jsonb *
results_object(List *slots)
{
	JsonbParseState *state = NULL;
	ListCell   *lc;

	pushJsonbValue(&state, WJB_BEGIN_OBJECT, NULL);
	foreach(lc, slots)
	{
		OrToolSlot *slot = lfirst(lc);
		ListCell   *rc;

		jb_push_key(&state, slot->name);
		if (!slot->called)
		{
			jb_push_null(&state);
			continue;
		}
		pushJsonbValue(&state, WJB_BEGIN_ARRAY, NULL);
		foreach(rc, slot->results)
		{
			if (lfirst(rc) == NULL)
				jb_push_null(&state);
			else
				jb_push_jsonb(&state, lfirst(rc));
		}
		pushJsonbValue(&state, WJB_END_ARRAY, NULL);
	}
	return JsonbValueToJsonb(pushJsonbValue(&state, WJB_END_OBJECT, NULL));
}

static void
add_result(List **slots, OrToolCall *call, Jsonb *result)
{
	OrToolSlot *slot = call->tool;

	if (slot == NULL)
	{
		/* with on_error => 'ignore': the entry goes under the name called */
		const char *name = call->name ? call->name : "";

		slot = find_slot(*slots, name);
		if (slot == NULL)
		{
			slot = palloc0(sizeof(OrToolSlot));
			slot->name = pstrdup(name);
			*slots = lappend(*slots, slot);
		}
	}
	slot->called = true;
	slot->results = lappend(slot->results, result);
}

/*
 * openrouter_invoke_tools(tools jsonb, response jsonb, on_error text)
 *		RETURNS jsonb
 */
Datum
openrouter_invoke_tools(PG_FUNCTION_ARGS)
{
	OrOnError	on_error = or_effective_on_error(PG_ARGISNULL(2) ? NULL : PG_GETARG_TEXT_PP(2));
	List	   *slots;
	List	   *entries;
	List	   *calls = NIL;
	JsonbContainer *message;
	OrResponseKind kind;
	char	   *why;
	ListCell   *lc;

	if (PG_ARGISNULL(0) || PG_ARGISNULL(1))
		PG_RETURN_NULL();
	/* openrouter_prefetch() only collects requests: run no tool in its pass */
	if (or_prefetch_collecting())
		PG_RETURN_NULL();

	slots = or_resolve_declared_tools(PG_GETARG_JSONB_P(0));
	kind = or_read_response(PG_GETARG_JSONB_P(1), &message, &entries, &why);
	if (kind != OR_RESPONSE_COMPLETION)
	{
		if (on_error == OR_ON_ERROR_IGNORE)
			PG_RETURN_JSONB_P(results_object(slots));
		ereport(ERROR,
				(errcode(ERRCODE_OR_TOOL_RESPONSE_ERROR),
				 kind == OR_RESPONSE_ERROR
				 ? errmsg("the response is an error, not tool calls")
				 : errmsg("the response is not a chat completion"),
				 kind == OR_RESPONSE_ERROR
				 ? errdetail("The response's error: %s", why)
				 : errdetail_internal("%s", why),
				 errhint("Pass on_error => 'ignore' to get null results for such responses.")));
	}

	foreach(lc, entries)
	{
		OrToolCall *call = or_read_tool_call(lfirst(lc), foreach_current_index(lc) + 1);

		call->tool = call->name ? find_slot(slots, call->name) : NULL;
		calls = lappend(calls, call);
	}

	if (on_error == OR_ON_ERROR_IGNORE)
	{
		foreach(lc, calls)
		{
			OrToolCall *call = lfirst(lc);

			add_result(&slots, call, run_isolated(call, slots));
		}
	}
	else
	{
		ErrorContextCallback callback = {error_context_stack, call_context, NULL};

		/* every call's arguments are checked before any call runs */
		error_context_stack = &callback;
		foreach(lc, calls)
		{
			callback.arg = lfirst(lc);
			or_prepare_tool_call(lfirst(lc), slots);
		}
		foreach(lc, calls)
		{
			callback.arg = lfirst(lc);
			add_result(&slots, lfirst(lc), execute_call(lfirst(lc)));
		}
		error_context_stack = callback.previous;
	}

	PG_RETURN_JSONB_P(results_object(slots));
}
