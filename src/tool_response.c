/*
 * tool_response.c
 *		Reading a chat completions response for openrouter_invoke_tools() and
 *		openrouter_tool_messages(): whether it is a completion, an error or
 *		malformed, its first choice's message, and that message's tool calls.
 */
#include "postgres.h"

#include "jsonb_util.h"
#include "tools.h"

/* an "error" member in the object: sets *why to its message and says so */
static bool
has_error(JsonbContainer *object, char **why)
{
	JsonbValue *v = jb_object_get(object, "error");
	char	   *text;

	if (v == NULL || v->type == jbvNull)
		return false;
	text = jb_is_object(v)
		? jb_object_get_string(v->val.binary.data, "message") : NULL;
	*why = text ? text : jb_value_to_json(v);
	return true;
}

/*
 * The first choice's message (NULL when there is none) and its tool calls
 * (NIL when none).  For an error or a malformed response, *why says what is
 * wrong.
 */
OrResponseKind
or_read_response(Jsonb *response, JsonbContainer **message, List **calls,
				 char **why)
{
	JsonbContainer *root = &response->root;
	JsonbValue *v;
	JsonbContainer *choice;

	*message = NULL;
	*calls = NIL;
	*why = NULL;

	if (JB_ROOT_IS_SCALAR(response) || !JB_ROOT_IS_OBJECT(response))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("response must be a JSON object, not %s", jb_root_type_name(response)),
				 errhint("Pass the response of openrouter_chat().")));

	if (has_error(root, why))
		return OR_RESPONSE_ERROR;

	v = jb_object_get(root, "choices");
	if (v == NULL || v->type == jbvNull)
		return OR_RESPONSE_COMPLETION;
	if (!jb_is_array(v))
	{
		*why = pstrdup("Its \"choices\" is not an array.");
		return OR_RESPONSE_MALFORMED;
	}
	if (JsonContainerSize(v->val.binary.data) == 0)
		return OR_RESPONSE_COMPLETION;
	v = getIthJsonbValueFromContainer(v->val.binary.data, 0);
	if (!jb_is_object(v))
	{
		*why = pstrdup("Its first choice is not an object.");
		return OR_RESPONSE_MALFORMED;
	}
	choice = v->val.binary.data;

	if (has_error(choice, why))
		return OR_RESPONSE_ERROR;

	v = jb_object_get(choice, "message");
	if (v == NULL || v->type == jbvNull)
		return OR_RESPONSE_COMPLETION;
	if (!jb_is_object(v))
	{
		*why = pstrdup("Its first choice's \"message\" is not an object.");
		return OR_RESPONSE_MALFORMED;
	}
	*message = v->val.binary.data;

	v = jb_object_get(*message, "tool_calls");
	if (v == NULL || v->type == jbvNull)
		return OR_RESPONSE_COMPLETION;
	if (!jb_is_array(v))
	{
		*why = pstrdup("Its \"tool_calls\" is not an array.");
		return OR_RESPONSE_MALFORMED;
	}
	*calls = jb_array_elements(v->val.binary.data);
	return OR_RESPONSE_COMPLETION;
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
