/*
 * failure.c
 *		One shape for everything that can go wrong with a request, and the two
 *		ways of reporting it: an ERROR (on_error => 'abort') or an
 *		{"error": {...}} value (on_error => 'ignore').
 *
 * The value keeps OpenRouter's own error object as it came (code, message,
 * metadata) and adds what a SQL user needs to act on it: the HTTP status, the
 * SQLSTATE the call would have raised, whether it was retryable and how many
 * attempts were made.  A failed row is found with  response ? 'error'.
 */
#include "openrouter.h"

#include "utils/builtins.h"

#include "jsonb_util.h"

static OrOnError
parse_on_error(text *on_error)
{
	char	   *value;

	value = text_to_cstring(on_error);
	if (strcmp(value, "abort") == 0)
		return OR_ON_ERROR_ABORT;
	if (strcmp(value, "ignore") == 0)
		return OR_ON_ERROR_IGNORE;

	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("invalid on_error value \"%s\"", value),
			 errhint("Pass 'abort' to raise errors or 'ignore' to return them as {\"error\": ...}.")));
	pg_unreachable();
}

/* the on_error of the computed column being computed (-1: none); see computed.c */
static int	context_on_error = -1;

int
or_swap_context_on_error(int on_error)
{
	int			previous = context_on_error;

	context_on_error = on_error;
	return previous;
}

/*
 * on_error as given; a call that passes none (NULL) takes it from its context:
 * the computed column being computed, else openrouter.on_error, else 'abort'.
 */
OrOnError
or_effective_on_error(text *on_error)
{
	if (on_error != NULL)
	{
		OrOnError	given = parse_on_error(on_error);

		return or_on_error_overrides() ? (OrOnError) or_on_error_setting : given;
	}
	if (context_on_error >= 0)
		return (OrOnError) context_on_error;
	return (or_on_error_setting >= 0) ? (OrOnError) or_on_error_setting : OR_ON_ERROR_ABORT;
}

/* append fmt and the caller's variadic arguments to a StringInfo */
#define APPEND_FORMATTED(buf, fmt) \
	for (;;) \
	{ \
		va_list		args; \
		int			needed; \
		\
		va_start(args, fmt); \
		needed = appendStringInfoVA(buf, fmt, args); \
		va_end(args); \
		if (needed == 0) \
			break; \
		enlargeStringInfo(buf, needed); \
	}

OrFailure *
or_failure_new(const char *sqlstate, const char *code_name, bool retryable,
			   const char *fmt,...)
{
	OrFailure  *failure = palloc0(sizeof(OrFailure));
	StringInfoData message;

	Assert(strlen(sqlstate) == 5);
	strlcpy(failure->sqlstate, sqlstate, sizeof(failure->sqlstate));
	failure->code_name = code_name;
	failure->retryable = retryable;

	initStringInfo(&message);
	APPEND_FORMATTED(&message, fmt);
	failure->message = message.data;
	return failure;
}

/* Add a sentence to the failure's detail. */
void
or_failure_add_detail(OrFailure *failure, const char *fmt,...)
{
	StringInfoData detail;

	initStringInfo(&detail);
	if (failure->detail)
		appendStringInfo(&detail, "%s ", failure->detail);
	APPEND_FORMATTED(&detail, fmt);
	failure->detail = detail.data;
}

void
or_failure_raise(const OrFailure *failure)
{
	const char *s = failure->sqlstate;

	ereport(ERROR,
			(errcode(MAKE_SQLSTATE(s[0], s[1], s[2], s[3], s[4])),
			 errmsg_internal("%s", failure->message),
			 failure->detail ? errdetail_internal("%s", failure->detail) : 0,
			 failure->hint ? errhint("%s", failure->hint) : 0));
	pg_unreachable();
}

/* Copy the service's error object, key by key, into the open object. */
static void
push_service_error_fields(JsonbParseState **state, Jsonb *service_error)
{
	JsonbIterator *it = JsonbIteratorInit(&service_error->root);
	JsonbValue	v;
	JsonbIteratorToken tok;
	int			depth = 0;

	while ((tok = JsonbIteratorNext(&it, &v, true)) != WJB_DONE)
	{
		if (tok == WJB_BEGIN_OBJECT)
		{
			depth++;
			continue;
		}
		if (tok == WJB_END_OBJECT)
		{
			depth--;
			continue;
		}
		if (depth == 1 && (tok == WJB_KEY || tok == WJB_VALUE))
			pushJsonbValue(state, tok, &v);
	}
}

Jsonb *
or_failure_to_jsonb(const OrFailure *failure)
{
	JsonbParseState *state = NULL;
	JsonbValue *done;

	pushJsonbValue(&state, WJB_BEGIN_OBJECT, NULL);
	jb_push_key(&state, "error");
	pushJsonbValue(&state, WJB_BEGIN_OBJECT, NULL);

	if (failure->service_error != NULL &&
		JB_ROOT_IS_OBJECT(failure->service_error))
		push_service_error_fields(&state, failure->service_error);
	else
	{
		jb_push_key(&state, "code");
		if (failure->code_name)
			jb_push_string(&state, failure->code_name);
		else if (failure->http_status > 0)
			jb_push_int(&state, failure->http_status);
		else
			jb_push_null(&state);
		jb_push_key(&state, "message");
		jb_push_string(&state, failure->message);
	}

	jb_push_key(&state, "status");
	if (failure->http_status > 0)
		jb_push_int(&state, failure->http_status);
	else
		jb_push_null(&state);
	jb_push_key(&state, "sqlstate");
	jb_push_string(&state, failure->sqlstate);
	jb_push_key(&state, "retryable");
	jb_push_bool(&state, failure->retryable);
	jb_push_key(&state, "attempts");
	jb_push_int(&state, failure->attempts);
	if (failure->detail)
	{
		jb_push_key(&state, "detail");
		jb_push_string(&state, failure->detail);
	}
	pushJsonbValue(&state, WJB_END_OBJECT, NULL);

	if (failure->response != NULL)
	{
		jb_push_key(&state, "response");
		jb_push_jsonb(&state, failure->response);
	}
	done = pushJsonbValue(&state, WJB_END_OBJECT, NULL);
	return JsonbValueToJsonb(done);
}
