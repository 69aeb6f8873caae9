/*
 * tool_response.c
 *		A chat completions response for openrouter_invoke_tools() and
 *		openrouter_tool_messages(): completion.c's reading of it (the same
 *		one chat uses) in the tools' terms, and its tool calls.
 */
#include "postgres.h"

#include "completion.h"
#include "jsonb_util.h"
#include "tools.h"

/*
 * The first choice's message (NULL when there is none) and its tool calls
 * (NIL when none), as completion.c reads them for chat too.  For an error
 * (at the top level or in any choice) or a malformed response, *why says
 * what is wrong.
 */
OrResponseKind
or_read_response(Jsonb *response, JsonbContainer **message, List **calls,
				 char **why)
{
	OrCompletionView view;

	if (JB_ROOT_IS_SCALAR(response) || !JB_ROOT_IS_OBJECT(response))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("response must be a JSON object, not %s", jb_root_type_name(response)),
				 errhint("Pass the response of openrouter_chat().")));

	or_read_completion(response, &view);
	*message = view.message;
	*calls = view.tool_calls;
	*why = view.why;
	switch (view.kind)
	{
		case OR_COMPLETION_ERROR:
			return OR_RESPONSE_ERROR;
		case OR_COMPLETION_MALFORMED:
			return OR_RESPONSE_MALFORMED;
		default:
			return OR_RESPONSE_COMPLETION;
	}
}

/* one entry of tool_calls; whatever is missing or of the wrong type is NULL */
OrToolCall *
or_read_tool_call(JsonbValue *entry, int position)
{
	OrToolCall *call = palloc0(sizeof(OrToolCall));

	call->position = position;
	if (jb_is_object(entry))
	{
		JsonbContainer *object = entry->val.binary.data;
		JsonbContainer *function = jb_object_get_container(object, "function");

		call->id = jb_object_get_string(object, "id");
		if (function != NULL && JsonContainerIsObject(function))
		{
			call->name = jb_object_get_string(function, "name");
			call->arguments = jb_object_get(function, "arguments");
		}
	}
	return call;
}
