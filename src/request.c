/*
 * request.c
 *		openrouter_chat()'s arguments, described once, and the JSON body and
 *		attribution headers of the request they make.
 *
 * or_chat_arguments[] is the one list of the arguments (see request.h): the
 * SQL entry point reads them through it, openrouter_chat_batch() reads its
 * request objects through it (an unknown key is an error), and the body is
 * built from it.  A regression test compares it with pg_proc, through
 * openrouter_chat_arguments().
 *
 * Arguments are checked before anything is sent: a problem with them is a
 * failure of SQLSTATE 22023 (or 22004 for a NULL), reported like any other
 * failure so that on_error => 'ignore' can keep a batch going past one bad
 * row.  Pixeltable's tool_choice dictionary is translated here into the API's
 * own tool_choice and parallel_tool_calls.
 */
#include "openrouter.h"

#include "catalog/pg_type.h"
#include "funcapi.h"
#include "mb/pg_wchar.h"
#include "utils/builtins.h"

#include "jsonb_util.h"
#include "request.h"

PG_FUNCTION_INFO_V1(openrouter_chat_arguments);

/* openrouter_chat()'s arguments, in the order of its SQL signature */
const OrChatArgument or_chat_arguments[OR_CHAT_NARGS] = {
	[OR_CHAT_MESSAGES] = {"messages", JSONBOID, OR_ARG_MESSAGES, true, true,
	"[{\"role\": \"user\", \"content\": \"Hello\"}]"},
	[OR_CHAT_MODEL] = {"model", TEXTOID, OR_ARG_MODEL, true, true,
	"openai/gpt-4o-mini"},
	[OR_CHAT_MODEL_KWARGS] = {"model_kwargs", JSONBOID, OR_ARG_MODEL_KWARGS, true, false,
	"{\"temperature\": 0.9, \"max_tokens\": 500}"},
	[OR_CHAT_TOOLS] = {"tools", JSONBOID, OR_ARG_ARRAY, true, true,
	"[{\"type\": \"function\", \"function\": {\"name\": \"f\", \"parameters\": {}}}]"},
	[OR_CHAT_TOOL_CHOICE] = {"tool_choice", JSONBOID, OR_ARG_TOOL_CHOICE, true, true,
	"\"auto\""},
	[OR_CHAT_PROVIDER] = {"provider", JSONBOID, OR_ARG_OBJECT, true, true,
	"{\"order\": [\"openai\", \"together\"], \"allow_fallbacks\": false}"},
	[OR_CHAT_TRANSFORMS] = {"transforms", JSONBOID, OR_ARG_ARRAY, true, true,
	"[\"middle-out\"]"},
	[OR_CHAT_SITE_URL] = {"site_url", TEXTOID, OR_ARG_HEADER, true, false,
	"https://yourapp.example", &or_site_url, offsetof(OrHttpRequest, site_url)},
	[OR_CHAT_SITE_NAME] = {"site_name", TEXTOID, OR_ARG_HEADER, true, false,
	"Your App", &or_site_name, offsetof(OrHttpRequest, site_name)},
	[OR_CHAT_ON_ERROR] = {"on_error", TEXTOID, OR_ARG_ON_ERROR, false, false,
	"ignore"},
};

static const char *const message_roles[] = {
	"system", "developer", "user", "assistant", "tool"
};

static OrFailure *
with_hint(OrFailure *failure, const char *hint)
{
	failure->hint = hint ? pstrdup(hint) : NULL;
	return failure;
}

/* a failure of the arguments: nothing was sent */
#define argument_failure(hint, ...) \
	with_hint(or_failure_new(ERRCODE_INVALID_PARAMETER_VALUE, "invalid_argument", false, __VA_ARGS__), hint)

static bool
in_list(const char *value, int len, const char *const *list, int n)
{
	for (int i = 0; i < n; i++)
		if (strlen(list[i]) == (size_t) len && strncmp(list[i], value, len) == 0)
			return true;
	return false;
}

static OrFailure *
check_messages(Jsonb *messages)
{
	JsonbIterator *it;
	JsonbValue	v;
	JsonbIteratorToken tok;
	int			position = 0;

	if (JB_ROOT_IS_SCALAR(messages) || !JB_ROOT_IS_ARRAY(messages))
		return argument_failure("Pass a JSON array of message objects, such as '[{\"role\": \"user\", \"content\": \"Hello\"}]'.",
								"messages must be a JSON array, not %s",
								jb_root_type_name(messages));
	if (JB_ROOT_COUNT(messages) == 0)
		return argument_failure("Pass at least one message, such as '[{\"role\": \"user\", \"content\": \"Hello\"}]'.",
								"messages must not be empty");

	it = JsonbIteratorInit(&messages->root);
	while ((tok = JsonbIteratorNext(&it, &v, true)) != WJB_DONE)
	{
		JsonbValue *role;
		char		where[32];

		if (tok != WJB_ELEM)
			continue;
		position++;
		snprintf(where, sizeof(where), "%d", position);
		if (v.type != jbvBinary || !JsonContainerIsObject(v.val.binary.data))
			return argument_failure("Each message is an object with a \"role\" and a \"content\".",
									"message %s is not a JSON object", where);
		role = jb_object_get(v.val.binary.data, "role");
		if (role == NULL || role->type != jbvString)
			return argument_failure("Each message needs \"role\": one of \"system\", \"developer\", \"user\", \"assistant\" or \"tool\".",
									"message %s has no \"role\" string", where);
		if (!in_list(role->val.string.val, role->val.string.len,
					 message_roles, lengthof(message_roles)))
		{
			OrFailure  *failure = argument_failure("The role must be one of \"system\", \"developer\", \"user\", \"assistant\" or \"tool\".",
												   "message %s has an unknown role", where);

			failure->detail = psprintf("The role was \"%s\".",
									   pnstrdup(role->val.string.val, role->val.string.len));
			return failure;
		}
	}
	return NULL;
}

/*
 * Pixeltable's {"auto": bool, "required": bool, "tool": name|null,
 * "parallel_tool_calls": bool}: exactly one of auto, required, tool.
 */
static OrFailure *
translate_pixeltable_tool_choice(JsonbContainer *dict, JsonbParseState **body,
								 bool *sets_parallel)
{
	static const char *const keys[] = {"auto", "required", "tool", "parallel_tool_calls"};
	const char *hint = "Pass {\"auto\": true}, {\"required\": true} or {\"tool\": \"name\"}, optionally with \"parallel_tool_calls\", or the API's own \"auto\", \"none\", \"required\" or {\"type\": \"function\", ...}.";
	JsonbIterator *it = JsonbIteratorInit(dict);
	JsonbValue	v;
	JsonbIteratorToken tok;
	JsonbValue *autov = jb_object_get(dict, "auto");
	JsonbValue *required = jb_object_get(dict, "required");
	JsonbValue *tool = jb_object_get(dict, "tool");
	JsonbValue *parallel = jb_object_get(dict, "parallel_tool_calls");
	bool		is_auto = autov && autov->type == jbvBool && autov->val.boolean;
	bool		is_required = required && required->type == jbvBool && required->val.boolean;
	bool		has_tool = tool && tool->type != jbvNull;

	while ((tok = JsonbIteratorNext(&it, &v, true)) != WJB_DONE)
	{
		if (tok == WJB_KEY &&
			!in_list(v.val.string.val, v.val.string.len, keys, lengthof(keys)))
			return argument_failure(hint, "tool_choice has an unknown key \"%s\"",
									pnstrdup(v.val.string.val, v.val.string.len));
	}
	if ((autov && autov->type != jbvBool && autov->type != jbvNull) ||
		(required && required->type != jbvBool && required->type != jbvNull) ||
		(parallel && parallel->type != jbvBool && parallel->type != jbvNull))
		return argument_failure(hint, "tool_choice's \"auto\", \"required\" and \"parallel_tool_calls\" must be booleans");
	if (has_tool && tool->type != jbvString)
		return argument_failure(hint, "tool_choice's \"tool\" must be a function name");
	if ((int) is_auto + (int) is_required + (int) has_tool != 1)
		return argument_failure(hint, "tool_choice must choose exactly one of \"auto\", \"required\" and \"tool\"");

	jb_push_key(body, "tool_choice");
	if (is_auto)
		jb_push_string(body, "auto");
	else if (is_required)
		jb_push_string(body, "required");
	else
	{
		pushJsonbValue(body, WJB_BEGIN_OBJECT, NULL);
		jb_push_key(body, "type");
		jb_push_string(body, "function");
		jb_push_key(body, "function");
		pushJsonbValue(body, WJB_BEGIN_OBJECT, NULL);
		jb_push_key(body, "name");
		jb_push_jsonb_value(body, tool);
		pushJsonbValue(body, WJB_END_OBJECT, NULL);
		pushJsonbValue(body, WJB_END_OBJECT, NULL);
	}
	if (parallel && parallel->type == jbvBool)
	{
		jb_push_key(body, "parallel_tool_calls");
		jb_push_bool(body, parallel->val.boolean);
		*sets_parallel = true;
	}
	return NULL;
}

static OrFailure *
add_tool_choice(Jsonb *tool_choice, JsonbParseState **body, bool *sets_parallel)
{
	const char *hint = "Pass \"auto\", \"none\", \"required\", {\"type\": \"function\", \"function\": {\"name\": ...}}, or Pixeltable's {\"auto\": true, \"required\": false, \"tool\": null, \"parallel_tool_calls\": true}.";

	if (JB_ROOT_IS_SCALAR(tool_choice))
	{
		JsonbValue	v;

		JsonbExtractScalar(&tool_choice->root, &v);
		if (v.type != jbvString ||
			!in_list(v.val.string.val, v.val.string.len,
					 (const char *const[]) {"auto", "none", "required"}, 3))
			return argument_failure(hint, "tool_choice %s is not a valid choice",
									JsonbToCString(NULL, &tool_choice->root, 0));
		jb_push_key(body, "tool_choice");
		jb_push_jsonb_value(body, &v);
		return NULL;
	}
	if (JB_ROOT_IS_ARRAY(tool_choice))
		return argument_failure(hint, "tool_choice must be a string or an object, not an array");

	if (jb_object_get(&tool_choice->root, "type") != NULL)
	{
		/* the API's own object form: passed through as given */
		jb_push_key(body, "tool_choice");
		jb_push_jsonb(body, tool_choice);
		return NULL;
	}
	return translate_pixeltable_tool_choice(&tool_choice->root, body, sets_parallel);
}

static OrFailure *
add_model_kwargs(Jsonb *model_kwargs, JsonbParseState **body, bool sets_parallel)
{
	JsonbIterator *it;
	JsonbValue	key;
	JsonbValue	value;
	JsonbIteratorToken tok;

	if (JB_ROOT_IS_SCALAR(model_kwargs) || !JB_ROOT_IS_OBJECT(model_kwargs))
		return argument_failure("Pass a JSON object such as '{\"temperature\": 0.9, \"max_tokens\": 500}'.",
								"model_kwargs must be a JSON object, not %s",
								jb_root_type_name(model_kwargs));

	it = JsonbIteratorInit(&model_kwargs->root);
	while ((tok = JsonbIteratorNext(&it, &key, true)) != WJB_DONE)
	{
		char	   *name;

		if (tok != WJB_KEY)
			continue;
		name = pnstrdup(key.val.string.val, key.val.string.len);
		tok = JsonbIteratorNext(&it, &value, true);
		Assert(tok == WJB_VALUE);

		for (int i = 0; i < OR_CHAT_NARGS; i++)
			if (or_chat_arguments[i].in_body &&
				strcmp(or_chat_arguments[i].name, name) == 0)
				return with_hint(or_failure_new(ERRCODE_INVALID_PARAMETER_VALUE, "invalid_argument", false,
												"model_kwargs must not contain \"%s\"", name),
								 psprintf("Pass it as openrouter_chat's %s argument instead.", name));
		if (strcmp(name, "parallel_tool_calls") == 0 && sets_parallel)
			return argument_failure("Set parallel_tool_calls in one place only.",
									"model_kwargs' \"%s\" conflicts with tool_choice's", name);
		if (strcmp(name, "stream") == 0 &&
			!(value.type == jbvBool && !value.val.boolean))
			return argument_failure("openrouter_chat returns the whole response as one jsonb value; remove \"stream\".",
									"model_kwargs' \"%s\" is not supported", name);

		jb_push_key(body, name);
		jb_push_jsonb_value(body, &value);
	}
	return NULL;
}

/* push a jsonb argument that must be of one container type */
static OrFailure *
add_container(JsonbParseState **body, const OrChatArgument *arg, Jsonb *value)
{
	bool		want_array = (arg->kind == OR_ARG_ARRAY);
	bool		is_array = !JB_ROOT_IS_SCALAR(value) && JB_ROOT_IS_ARRAY(value);
	bool		is_object = !JB_ROOT_IS_SCALAR(value) && JB_ROOT_IS_OBJECT(value);

	if (want_array ? !is_array : !is_object)
		return with_hint(or_failure_new(ERRCODE_INVALID_PARAMETER_VALUE, "invalid_argument", false,
										"%s must be a JSON %s, not %s", arg->name,
										want_array ? "array" : "object",
										jb_root_type_name(value)),
						 psprintf("Pass a value such as '%s'.", arg->example));
	jb_push_key(body, arg->name);
	jb_push_jsonb(body, value);
	return NULL;
}

/*
 * The first character of value that cannot go into an HTTP header (a control
 * character; a space too unless allow_spaces), or NULL when there is none.
 */
const char *
or_header_unsafe_char(const char *value, bool allow_spaces)
{
	for (const char *c = value; c != NULL && *c; c++)
		if ((unsigned char) *c < 0x20 || *c == 0x7f || (!allow_spaces && *c == ' '))
			return c;
	return NULL;
}

/* site_url / site_name: argument, else setting, else the role's stored default */
static OrFailure *
header_value(text *argument, const char *setting, const char *name, char **out)
{
	char	   *value = NULL;

	if (argument != NULL)
		value = text_to_cstring(argument);
	else if (setting != NULL && setting[0] != '\0')
		value = pstrdup(setting);

	*out = NULL;
	if (value == NULL || value[0] == '\0')
		return NULL;
	if (or_header_unsafe_char(value, true) != NULL)
		return argument_failure("Remove line breaks and other control characters.",
								"%s contains a control character, which cannot go into an HTTP header",
								name);
	/* headers go out as UTF-8, like the body */
	*out = pg_server_to_any(value, strlen(value), PG_UTF8);
	return NULL;
}

/* the model: a name, neither NULL nor empty */
static OrFailure *
check_model(text *argument, char **model)
{
	OrFailure  *failure;

	if (argument == NULL)
	{
		failure = or_failure_new(ERRCODE_NULL_VALUE_NOT_ALLOWED, "invalid_argument", false, "model must not be null");
		failure->hint = pstrdup("Name a model such as 'openai/gpt-4o-mini', or 'openrouter/auto' to let OpenRouter choose.");
		return failure;
	}
	*model = text_to_cstring(argument);
	if ((*model)[0] == '\0')
		return argument_failure("Name a model such as 'openai/gpt-4o-mini', or 'openrouter/auto' to let OpenRouter choose.",
								"model must not be empty");
	return NULL;
}

/* one argument into the body or the headers (model_kwargs: see below) */
static OrFailure *
add_argument(const OrChatArgs *args, OrChatArg which, JsonbParseState **body,
			 bool *sets_parallel, OrHttpRequest *out)
{
	const OrChatArgument *arg = &or_chat_arguments[which];
	void	   *value = args->value[which];
	OrFailure  *failure = NULL;
	char	   *model;

	switch (arg->kind)
	{
		case OR_ARG_MESSAGES:
			if (value == NULL)
				failure = or_failure_new(ERRCODE_NULL_VALUE_NOT_ALLOWED, "invalid_argument", false,
										 "messages must not be null");
			else if ((failure = check_messages(value)) == NULL)
			{
				jb_push_key(body, arg->name);
				jb_push_jsonb(body, value);
			}
			break;
		case OR_ARG_MODEL:
			if ((failure = check_model(value, &model)) == NULL)
			{
				jb_push_key(body, arg->name);
				jb_push_string(body, model);
				out->model = model;
			}
			break;
		case OR_ARG_ARRAY:
		case OR_ARG_OBJECT:
			if (value != NULL)
				failure = add_container(body, arg, value);
			break;
		case OR_ARG_TOOL_CHOICE:
			if (value != NULL)
				failure = add_tool_choice(value, body, sets_parallel);
			break;
		case OR_ARG_HEADER:
			failure = header_value(value, *arg->setting, arg->name,
								   (char **) ((char *) out + arg->header));
			break;
		case OR_ARG_MODEL_KWARGS:
		case OR_ARG_ON_ERROR:
			break;
	}
	return failure;
}

OrFailure *
or_build_chat_request(const OrChatArgs *args, OrHttpRequest *out)
{
	JsonbParseState *body = NULL;
	JsonbValue *done;
	OrFailure  *failure;
	bool		sets_parallel = false;
	Jsonb	   *model_kwargs = OR_CHAT_JSONB(args, OR_CHAT_MODEL_KWARGS);

	memset(out, 0, sizeof(*out));

	pushJsonbValue(&body, WJB_BEGIN_OBJECT, NULL);
	for (int i = 0; i < OR_CHAT_NARGS; i++)
		if ((failure = add_argument(args, i, &body, &sets_parallel, out)) != NULL)
			return failure;
	/* model_kwargs last: it may not repeat what the other arguments set */
	if (model_kwargs != NULL &&
		(failure = add_model_kwargs(model_kwargs, &body, sets_parallel)) != NULL)
		return failure;

	done = pushJsonbValue(&body, WJB_END_OBJECT, NULL);
	out->body = JsonbToCString(NULL, &JsonbValueToJsonb(done)->root, 0);
	/* JSON goes out as UTF-8, whatever the database encoding */
	out->body = pg_server_to_any(out->body, strlen(out->body), PG_UTF8);
	out->body_len = strlen(out->body);
	return NULL;
}

/* openrouter_chat()'s own arguments, as the descriptor table lists them */
void
or_chat_args_from_call(FunctionCallInfo fcinfo, OrChatArgs *args)
{
	memset(args, 0, sizeof(*args));
	for (int i = 0; i < OR_CHAT_NARGS && i < PG_NARGS(); i++)
	{
		if (PG_ARGISNULL(i))
			continue;
		if (or_chat_arguments[i].type == JSONBOID)
			args->value[i] = PG_GETARG_JSONB_P(i);
		else
			args->value[i] = PG_GETARG_TEXT_PP(i);
	}
}

/* a failure of one request object of openrouter_chat_batch() */
static OrFailure *
request_object_failure(const char *fmt, int position, const char *what)
{
	OrFailure  *failure = or_failure_new(ERRCODE_INVALID_PARAMETER_VALUE, "invalid_argument", false, fmt, position, what);
	StringInfoData keys;

	initStringInfo(&keys);
	for (int i = 0; i < OR_CHAT_NARGS; i++)
		if (or_chat_arguments[i].batch_key)
			appendStringInfo(&keys, "%s%s", keys.len > 0 ? ", " : "",
							 or_chat_arguments[i].name);
	failure->hint = psprintf("Each request is an object with the keys of openrouter_chat's arguments: %s.",
							 keys.data);
	return failure;
}

/* the batch argument of this name, or -1 */
static int
batch_key_position(const char *name, int len)
{
	for (int i = 0; i < OR_CHAT_NARGS; i++)
		if (or_chat_arguments[i].batch_key &&
			in_list(name, len, &or_chat_arguments[i].name, 1))
			return i;
	return -1;
}

/*
 * The arguments of an openrouter_chat_batch() request object: the keys of
 * the descriptor table's batch arguments; an unknown key, or a text argument
 * that is not a JSON string, is a failure.  JSON null is an absent key.
 */
OrFailure *
or_chat_args_from_object(Jsonb *request, int position, OrChatArgs *args)
{
	JsonbIterator *it;
	JsonbValue	v;
	JsonbIteratorToken tok;
	int			current = -1;

	memset(args, 0, sizeof(*args));
	if (JB_ROOT_IS_SCALAR(request) || !JB_ROOT_IS_OBJECT(request))
		return request_object_failure("request %d is not a JSON %s", position, "object");

	it = JsonbIteratorInit(&request->root);
	while ((tok = JsonbIteratorNext(&it, &v, true)) != WJB_DONE)
	{
		if (tok == WJB_KEY)
		{
			current = batch_key_position(v.val.string.val, v.val.string.len);
			if (current < 0)
				return request_object_failure("request %d has an unknown key \"%s\"", position,
											  pnstrdup(v.val.string.val, v.val.string.len));
			continue;
		}
		if (tok != WJB_VALUE || v.type == jbvNull)
			continue;
		if (or_chat_arguments[current].type == JSONBOID)
			args->value[current] = jb_value_to_jsonb(&v);
		else if (v.type == jbvString)
			args->value[current] = cstring_to_text_with_len(v.val.string.val, v.val.string.len);
		else
			return request_object_failure("request %d: \"%s\" must be a string", position,
										  or_chat_arguments[current].name);
	}
	return NULL;
}

/*
 * openrouter_chat_arguments() RETURNS TABLE (position, name, type, batch_key,
 * in_body): the descriptor table, for the test that compares it with pg_proc.
 */
Datum
openrouter_chat_arguments(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;

	InitMaterializedSRF(fcinfo, 0);
	for (int i = 0; i < OR_CHAT_NARGS; i++)
	{
		Datum		values[5];
		bool		nulls[5] = {false, false, false, false, false};

		values[0] = Int32GetDatum(i + 1);
		values[1] = CStringGetTextDatum(or_chat_arguments[i].name);
		values[2] = ObjectIdGetDatum(or_chat_arguments[i].type);
		values[3] = BoolGetDatum(or_chat_arguments[i].batch_key);
		values[4] = BoolGetDatum(or_chat_arguments[i].in_body);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	return (Datum) 0;
}
