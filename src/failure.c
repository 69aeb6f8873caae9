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
 * A tool call's failure has the same shape, plus its "tool_call_id".
 *
 * Rules kept here: an ERROR carries at most OR_MESSAGE_CAP bytes of message,
 * detail and hint (server text can be megabytes), and says what was cut; the
 * {"error": ...} value keeps everything.  Formats are translated like errmsg
 * literals; the finished text goes out through errmsg_internal because it is
 * translated already, or holds the server's words.
 */
#include "postgres.h"

#include <limits.h>

#include "mb/pg_wchar.h"
#include "utils/builtins.h"

#include "failure.h"
#include "settings.h"
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
or_failure_new(int sqlerrcode, const char *code_name, bool retryable,
			   const char *fmt,...)
{
	OrFailure  *failure = palloc0(sizeof(OrFailure));
	StringInfoData message;

	fmt = _(fmt);
	failure->sqlerrcode = sqlerrcode;
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

	fmt = _(fmt);
	initStringInfo(&detail);
	if (failure->detail)
		appendStringInfo(&detail, "%s ", failure->detail);
	APPEND_FORMATTED(&detail, fmt);
	failure->detail = detail.data;
}

/* A failure of a tool call, from the ERROR it raised. */
OrFailure *
or_failure_from_error(const ErrorData *edata, const char *code_name)
{
	OrFailure  *failure = palloc0(sizeof(OrFailure));

	failure->sqlerrcode = edata->sqlerrcode;
	failure->code_name = code_name;
	failure->message = pstrdup(edata->message ? edata->message : "");
	failure->detail = edata->detail ? pstrdup(edata->detail) : NULL;
	failure->hint = edata->hint ? pstrdup(edata->hint) : NULL;
	failure->tool_call = true;
	return failure;
}

char *
or_capped_text(const char *text, size_t max)
{
	size_t		len = strlen(text);
	int			kept;

	if (len <= max)
		return (char *) text;
	kept = pg_mbcliplen(text, (int) Min(len, (size_t) INT_MAX), (int) max);
	return psprintf(_("%.*s... (%zu more bytes cut; on_error => 'ignore' keeps them)"),
					kept, text, len - kept);
}

void
or_failure_raise(const OrFailure *failure)
{
	ereport(ERROR,
			(errcode(failure->sqlerrcode),
			 errmsg_internal("%s", or_capped_text(failure->message, OR_MESSAGE_CAP)),
			 failure->detail ?
			 errdetail_internal("%s", or_capped_text(failure->detail, OR_MESSAGE_CAP)) : 0,
			 failure->hint ?
			 errhint("%s", or_capped_text(failure->hint, OR_MESSAGE_CAP)) : 0));
	pg_unreachable();
}

char *
or_redact(const char *text, size_t len, const char *secret, size_t *redacted_len)
{
	static const char mark[] = "[REDACTED]";
	size_t		secret_len = secret ? strlen(secret) : 0;
	StringInfoData buf;
	size_t		from = 0;

	*redacted_len = len;
	if (secret_len == 0 || len < secret_len ||
		memmem(text, len, secret, secret_len) == NULL)
		return (char *) text;

	initStringInfo(&buf);
	for (;;)
	{
		const char *hit = memmem(text + from, len - from, secret, secret_len);

		if (hit == NULL)
			break;
		appendBinaryStringInfo(&buf, text + from, hit - (text + from));
		appendStringInfoString(&buf, mark);
		from = (hit - text) + secret_len;
	}
	appendBinaryStringInfo(&buf, text + from, len - from);
	*redacted_len = buf.len;
	return buf.data;
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
	jb_push_string(&state, unpack_sql_state(failure->sqlerrcode));
	jb_push_key(&state, "retryable");
	jb_push_bool(&state, failure->retryable);
	jb_push_key(&state, "attempts");
	jb_push_int(&state, failure->attempts);
	if (failure->detail)
	{
		jb_push_key(&state, "detail");
		jb_push_string(&state, failure->detail);
	}
	if (failure->hint)
	{
		jb_push_key(&state, "hint");
		jb_push_string(&state, failure->hint);
	}
	if (failure->tool_call)
	{
		jb_push_key(&state, "tool_call_id");
		if (failure->tool_call_id)
			jb_push_string(&state, failure->tool_call_id);
		else
			jb_push_null(&state);
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

/* a copy of a failure, every part of it, in the current memory context */
OrFailure *
or_failure_copy(const OrFailure *failure)
{
	OrFailure  *copy = palloc(sizeof(OrFailure));

#define COPY_STRING(s) ((s) ? pstrdup(s) : NULL)
#define COPY_JSONB(j) ((j) ? (Jsonb *) memcpy(palloc(VARSIZE(j)), (j), VARSIZE(j)) : NULL)
	*copy = *failure;
	copy->code_name = COPY_STRING(failure->code_name);
	copy->message = COPY_STRING(failure->message);
	copy->detail = COPY_STRING(failure->detail);
	copy->hint = COPY_STRING(failure->hint);
	copy->tool_call_id = COPY_STRING(failure->tool_call_id);
	copy->service_error = COPY_JSONB(failure->service_error);
	copy->response = COPY_JSONB(failure->response);
#undef COPY_STRING
#undef COPY_JSONB
	return copy;
}
