/*
 * tool_messages.c
 *		openrouter_tool_messages(): the messages of the follow-up request,
 *		from the request's messages, the response's tool calls and what
 *		openrouter_invoke_tools() returned for them.
 */
#include "postgres.h"

#include "fmgr.h"

#include "jsonb_util.h"
#include "tools.h"

PG_FUNCTION_INFO_V1(openrouter_tool_messages);

/* the call as the assistant message of a request carries it */
static void
push_tool_call(JsonbParseState **state, OrToolCall *call)
{
	JsonbValue *v = call->arguments;

	pushJsonbValue(state, WJB_BEGIN_OBJECT, NULL);
	jb_push_key(state, "id");
	jb_push_string(state, call->id);
	jb_push_key(state, "type");
	jb_push_string(state, "function");
	jb_push_key(state, "function");
	pushJsonbValue(state, WJB_BEGIN_OBJECT, NULL);
	jb_push_key(state, "name");
	jb_push_string(state, call->name);
	jb_push_key(state, "arguments");
	if (v == NULL || v->type == jbvNull)
		jb_push_string(state, "{}");
	else if (v->type == jbvString)
		jb_push_jsonb_value(state, v);
	else
		jb_push_string(state, jb_value_to_json(v));
	pushJsonbValue(state, WJB_END_OBJECT, NULL);
	pushJsonbValue(state, WJB_END_OBJECT, NULL);
}

/* the result of the call-th call (0-based among those of its tool) */
static char *
tool_result_text(JsonbContainer *results, OrToolCall *call, int nth)
{
	JsonbValue *list = jb_object_get(results, call->name);
	JsonbValue *result;

	if (!jb_is_array(list) ||
		(int) JsonContainerSize(list->val.binary.data) <= nth)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("tool_results has no result for tool call %d (id \"%s\") to \"%s\"",
						call->position, call->id, call->name),
				 errhint("Pass what openrouter_invoke_tools() returned for this response.")));
	result = getIthJsonbValueFromContainer(list->val.binary.data, nth);
	return jb_value_to_json(result);
}

/*
 * openrouter_tool_messages(messages jsonb, response jsonb, tool_results jsonb)
 *		RETURNS jsonb
 *
 * messages, then the response's assistant message with its tool calls, then
 * one {"role": "tool", "tool_call_id", "content"} message per call, whose
 * content is the call's result as JSON text.  NULL for an error response.
 */
Datum
openrouter_tool_messages(PG_FUNCTION_ARGS)
{
	Jsonb	   *messages = PG_GETARG_JSONB_P(0);
	Jsonb	   *response = PG_GETARG_JSONB_P(1);
	Jsonb	   *results = PG_GETARG_JSONB_P(2);
	JsonbContainer *message;
	List	   *entries;
	List	   *calls = NIL;
	char	   *why;
	OrResponseKind kind;
	JsonbParseState *state = NULL;
	JsonbValue *v;
	ListCell   *lc;

	if (JB_ROOT_IS_SCALAR(messages) || !JB_ROOT_IS_ARRAY(messages))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("messages must be a JSON array, not %s", jb_root_type_name(messages)),
				 errhint("Pass the messages of the request that got the response.")));
	if (JB_ROOT_IS_SCALAR(results) || !JB_ROOT_IS_OBJECT(results))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("tool_results must be a JSON object, not %s", jb_root_type_name(results)),
				 errhint("Pass what openrouter_invoke_tools() returned for this response.")));

	kind = or_read_response(response, &message, &entries, &why);
	if (kind == OR_RESPONSE_ERROR)
		PG_RETURN_NULL();
	if (kind == OR_RESPONSE_MALFORMED || message == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("the response is not a chat completion"),
				 why ? errdetail_internal("%s", why)
				 : errdetail("Its first choice has no message."),
				 errhint("Pass the response of openrouter_chat().")));

	foreach(lc, entries)
	{
		OrToolCall *call = or_read_tool_call(lfirst(lc), foreach_current_index(lc) + 1);

		if (call->name == NULL || call->id == NULL)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("tool call %d of the response has no %s",
							call->position, call->id == NULL ? "id" : "function name")));
		calls = lappend(calls, call);
	}

	pushJsonbValue(&state, WJB_BEGIN_ARRAY, NULL);
	foreach(lc, jb_array_elements(&messages->root))
		jb_push_jsonb_value(&state, lfirst(lc));

	/* the assistant message */
	pushJsonbValue(&state, WJB_BEGIN_OBJECT, NULL);
	jb_push_key(&state, "role");
	jb_push_string(&state, "assistant");
	jb_push_key(&state, "content");
	if ((v = jb_object_get(message, "content")) != NULL)
		jb_push_jsonb_value(&state, v);
	else
		jb_push_null(&state);
	if (calls != NIL)
	{
		jb_push_key(&state, "tool_calls");
		pushJsonbValue(&state, WJB_BEGIN_ARRAY, NULL);
		foreach(lc, calls)
			push_tool_call(&state, lfirst(lc));
		pushJsonbValue(&state, WJB_END_ARRAY, NULL);
	}
	/* reasoning models continue from their reasoning */
	if ((v = jb_object_get(message, "reasoning_details")) != NULL && v->type != jbvNull)
	{
		jb_push_key(&state, "reasoning_details");
		jb_push_jsonb_value(&state, v);
	}
	pushJsonbValue(&state, WJB_END_OBJECT, NULL);

	/* one tool message per call */
	foreach(lc, calls)
	{
		OrToolCall *call = lfirst(lc);
		int			nth = 0;

		for (int j = 0; j < foreach_current_index(lc); j++)
			if (strcmp(((OrToolCall *) list_nth(calls, j))->name, call->name) == 0)
				nth++;

		pushJsonbValue(&state, WJB_BEGIN_OBJECT, NULL);
		jb_push_key(&state, "role");
		jb_push_string(&state, "tool");
		jb_push_key(&state, "tool_call_id");
		jb_push_string(&state, call->id);
		jb_push_key(&state, "content");
		jb_push_string(&state, tool_result_text(&results->root, call, nth));
		pushJsonbValue(&state, WJB_END_OBJECT, NULL);
	}

	PG_RETURN_JSONB_P(JsonbValueToJsonb(pushJsonbValue(&state, WJB_END_ARRAY, NULL)));
}
