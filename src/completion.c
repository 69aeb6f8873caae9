/*
 * completion.c
 *		What came back from one attempt: a jsonb answer, or a classified
 *		failure with its SQLSTATE, message, detail and hint; and the one
 *		reader of a chat completion (kind, first message, tool calls, an
 *		error in any choice), shared by chat classification and the tools.
 *
 * The body is checked and parsed by json_check.c, so that anything the
 * server sends (bad UTF-8, deep nesting, huge numbers, escapes the database
 * encoding cannot hold) becomes a failure that on_error => 'ignore' keeps,
 * never an ERROR of the statement.  Error forms recognised (see README.md,
 * "Errors"): an HTTP error status with OpenRouter's {"error": {...}} body,
 * an HTTP 200 whose body is such an error (or {"error": "text"}), a choice
 * that failed, a body that is not a JSON object or not shaped like a
 * completion, an empty, truncated, non-JSON or oversized body, and every
 * transport failure.
 *
 * Rules kept here: the API key (context->secret) never leaves this file in
 * anything the server sent, answer or failure: every body is scanned for it
 * verbatim (memmem) and read with each occurrence replaced by [REDACTED];
 * a body with escapes that could spell it ("\u0073k-or-...") is checked
 * once more after parsing, in the canonical text of the parsed value (and of
 * strings that are JSON text themselves, like a tool call's arguments), and
 * parsed again without it.  Nothing here depends on how the request was
 * sent (scheduler.c) or on settings: what the hints name comes in the
 * context.
 */
#include "postgres.h"

#include <curl/curl.h>

#include "mb/pg_wchar.h"
#include "utils/builtins.h"
#include "utils/json.h"

#include "completion.h"
#include "json_check.h"
#include "jsonb_util.h"

#define PREVIEW_BYTES 200
#define RAW_DETAIL_BYTES 1000

/* ---------- reading a completion ---------- */

static bool
is_container(JsonbValue *v, bool array)
{
	return v != NULL && v->type == jbvBinary &&
		(array ? JsonContainerIsArray(v->val.binary.data)
		 : JsonContainerIsObject(v->val.binary.data));
}

/* an error value in words: its message, the string itself, or its JSON */
static char *
error_words(JsonbValue *error)
{
	char	   *text = NULL;

	if (is_container(error, false))
		text = jb_object_get_string(error->val.binary.data, "message");
	else if (error->type == jbvString)
		text = pnstrdup(error->val.string.val, error->val.string.len);
	if (text == NULL)
		text = jb_value_to_text(error);
	return or_capped_text(text, OR_MESSAGE_CAP);
}

static void
malformed(OrCompletionView *view, const char *why)
{
	view->kind = OR_COMPLETION_MALFORMED;
	view->why = pstrdup(why);
}

/* the first choice whose "error" is set or whose finish_reason is "error" */
static bool
find_failed_choice(JsonbContainer *choices, OrCompletionView *view)
{
	int			n = JsonContainerSize(choices);

	for (int i = 0; i < n; i++)
	{
		JsonbValue *choice = getIthJsonbValueFromContainer(choices, i);
		JsonbValue *error;
		char	   *finish;

		if (!is_container(choice, false))
			continue;
		error = jb_object_get(choice->val.binary.data, "error");
		finish = jb_object_get_string(choice->val.binary.data, "finish_reason");
		if ((error == NULL || error->type == jbvNull) &&
			(finish == NULL || strcmp(finish, "error") != 0))
			continue;
		view->kind = OR_COMPLETION_ERROR;
		view->failed_choice = i;
		view->error = (error && error->type != jbvNull) ? error : NULL;
		view->why = view->error ? error_words(view->error)
			: pstrdup(_("finish_reason is \"error\""));
		return true;
	}
	return false;
}

void
or_read_completion(Jsonb *response, OrCompletionView *view)
{
	JsonbValue *v;
	JsonbValue *first;
	JsonbContainer *choices;

	memset(view, 0, sizeof(OrCompletionView));
	view->kind = OR_COMPLETION;
	view->failed_choice = -1;

	if (JB_ROOT_IS_SCALAR(response) || !JB_ROOT_IS_OBJECT(response))
	{
		malformed(view, _("It is not a JSON object."));
		return;
	}
	v = jb_object_get(&response->root, "error");
	if (v != NULL && v->type != jbvNull)
	{
		view->kind = OR_COMPLETION_ERROR;
		view->error = v;
		view->why = error_words(v);
		return;
	}

	v = jb_object_get(&response->root, "choices");
	if (v == NULL || v->type == jbvNull)
		return;
	if (!is_container(v, true))
	{
		malformed(view, _("Its \"choices\" is not an array."));
		return;
	}
	choices = v->val.binary.data;
	if (find_failed_choice(choices, view) || JsonContainerSize(choices) == 0)
		return;

	first = getIthJsonbValueFromContainer(choices, 0);
	if (!is_container(first, false))
	{
		malformed(view, _("Its first choice is not an object."));
		return;
	}
	v = jb_object_get(first->val.binary.data, "message");
	if (v == NULL || v->type == jbvNull)
		return;
	if (!is_container(v, false))
	{
		malformed(view, _("Its first choice's \"message\" is not an object."));
		return;
	}
	view->message = v->val.binary.data;

	v = jb_object_get(view->message, "tool_calls");
	if (v == NULL || v->type == jbvNull)
		return;
	if (!is_container(v, true))
	{
		malformed(view, _("Its \"tool_calls\" is not an array."));
		return;
	}
	for (int i = 0; i < (int) JsonContainerSize(v->val.binary.data); i++)
		view->tool_calls = lappend(view->tool_calls,
								   getIthJsonbValueFromContainer(v->val.binary.data, i));
}

/* ---------- classifying a transfer ---------- */

/* HTTP statuses after which the same request may well succeed */
static bool
status_is_retryable(int status)
{
	switch (status)
	{
		case 408:
		case 429:
		case 500:
		case 502:
		case 503:
		case 504:
		case 524:
		case 529:
			return true;
		default:
			return false;
	}
}

static const char *
status_reason(int status)
{
	switch (status)
	{
		case 400: return "bad request";
		case 401: return "unauthorized";
		case 402: return "payment required";
		case 403: return "forbidden";
		case 404: return "not found";
		case 408: return "request timeout";
		case 413: return "payload too large";
		case 422: return "unprocessable entity";
		case 429: return "too many requests";
		case 500: return "internal server error";
		case 502: return "bad gateway";
		case 503: return "service unavailable";
		case 504: return "gateway timeout";
		case 524: return "edge timeout";
		case 529: return "provider overloaded";
		default: return "unexpected status";
	}
}

static const char *
status_hint(int status)
{
	switch (status)
	{
		case 400:
			return gettext_noop("Check the arguments against the model's supported parameters; the message says what OpenRouter rejected.");
		case 401:
			return gettext_noop("Check the API key: store one with openrouter_configure_client('sk-or-...'), SET openrouter.api_key, or set OPENROUTER_API_KEY in the server's environment.");
		case 402:
			return gettext_noop("Add credits at https://openrouter.ai/settings/credits, or ask for fewer tokens with model_kwargs => '{\"max_tokens\": ...}'.");
		case 403:
			return gettext_noop("The input was blocked by moderation or a guardrail; the detail gives OpenRouter's reasons where it sent them.");
		case 404:
			return gettext_noop("Check the model name at https://openrouter.ai/models, or name fallbacks with model_kwargs => '{\"models\": [...]}'.");
		case 413:
			return gettext_noop("Shorten the messages, or pass transforms => '[\"middle-out\"]' to let OpenRouter compress them.");
		case 422:
			return gettext_noop("Check the arguments against the model's supported parameters.");
		case 429:
			return gettext_noop("Send fewer requests at once, or raise openrouter.max_retries and openrouter.max_retry_wait to wait for the limit to reset.");
		case 408:
		case 504:
		case 524:
			return gettext_noop("The model took too long: retry later, raise openrouter.max_retries, or name faster fallback models with model_kwargs => '{\"models\": [...]}'.");
		case 500:
		case 502:
		case 503:
		case 529:
			return gettext_noop("The model's provider failed or is overloaded: retry later, raise openrouter.max_retries, or name fallback models with model_kwargs => '{\"models\": [...]}'.");
		default:
			return NULL;
	}
}

/* a printable, encoding-safe excerpt of a body for errdetail */
static char *
body_preview(const char *body, size_t len)
{
	StringInfoData buf;
	size_t		n = Min(len, PREVIEW_BYTES);

	initStringInfo(&buf);
	for (size_t i = 0; i < n; i++)
	{
		unsigned char c = (unsigned char) body[i];

		appendStringInfoChar(&buf, (c >= 0x20 && c < 0x7f) ? (char) c : '?');
	}
	if (len > n)
		appendStringInfoString(&buf, "...");
	return buf.data;
}

static char *
truncated_copy(const char *text, size_t max)
{
	size_t		len = strlen(text);

	if (len <= max)
		return pstrdup(text);
	len = pg_mbcliplen(text, len, max);
	return psprintf("%.*s...", (int) len, text);
}

static OrFailure *
too_large_failure(const OrClassifyContext *context)
{
	OrFailure  *failure = or_failure_new(ERRCODE_OR_RESPONSE_TOO_LARGE, "response_too_large", false,
										 "openrouter's response is larger than openrouter.max_response_size (%d kB)",
										 context->max_response_kb);

	failure->hint = pstrdup(_("Raise openrouter.max_response_size, or ask for less output with model_kwargs => '{\"max_tokens\": ...}'."));
	return failure;
}

static OrFailure *
transport_failure(const OrHttpResult *http, const OrClassifyContext *context)
{
	OrFailure  *failure;
	CURLcode	code = (CURLcode) http->curl_code;

	switch (code)
	{
		case CURLE_OPERATION_TIMEDOUT:
			failure = or_failure_new(ERRCODE_OR_TIMEOUT, "timeout", true,
									 "openrouter request timed out");
			failure->hint = psprintf(_("openrouter.timeout (%d ms) limits each attempt; raise it, or choose a faster model."),
									 context->timeout_ms);
			break;
		case CURLE_SSL_CONNECT_ERROR:
		case CURLE_PEER_FAILED_VERIFICATION:
		case CURLE_SSL_CERTPROBLEM:
		case CURLE_SSL_CIPHER:
		case CURLE_SSL_CACERT_BADFILE:
		case CURLE_SSL_ISSUER_ERROR:
		case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
		case CURLE_SSL_INVALIDCERTSTATUS:
		case CURLE_SSL_CRL_BADFILE:
		case CURLE_USE_SSL_FAILED:
			failure = or_failure_new(ERRCODE_OR_TLS_FAILURE, "tls_failure", false,
									 "could not establish a secure connection to openrouter");
			failure->hint = pstrdup(_("Check openrouter.ca_file and the server's CA certificates, and that openrouter.base_url names the right host."));
			break;
		case CURLE_PARTIAL_FILE:
			failure = or_failure_new(ERRCODE_OR_TRUNCATED_RESPONSE, "truncated_response", true,
									 "openrouter's response was cut short");
			failure->hint = pstrdup(_("The connection broke while the answer arrived; it is retried up to openrouter.max_retries times."));
			break;
		case CURLE_FILESIZE_EXCEEDED:
		case CURLE_WRITE_ERROR:
			failure = too_large_failure(context);
			break;
		case CURLE_COULDNT_RESOLVE_HOST:
		case CURLE_COULDNT_RESOLVE_PROXY:
		case CURLE_COULDNT_CONNECT:
		case CURLE_GOT_NOTHING:
		case CURLE_SEND_ERROR:
		case CURLE_RECV_ERROR:
		case CURLE_HTTP2:
		case CURLE_HTTP2_STREAM:
			failure = or_failure_new(ERRCODE_OR_CONNECTION_FAILED, "connection_failed", true,
									 "could not reach openrouter");
			failure->hint = pstrdup(_("Check openrouter.base_url, the server's network and openrouter.proxy; failed attempts are retried up to openrouter.max_retries times."));
			break;
		default:
			failure = or_failure_new(ERRCODE_OR_TRANSPORT_FAILURE, "transport_failure", true,
									 "openrouter request failed in transport");
			break;
	}
	if (http->curl_error)
		failure->detail = psprintf("libcurl: %s.", http->curl_error);
	return failure;
}

/* ---------- error objects from the service ---------- */

/* the X-RateLimit-Reset inside error.metadata.headers, as text */
static char *
body_reset_text(JsonbContainer *error)
{
	JsonbContainer *metadata = jb_object_get_container(error, "metadata");
	JsonbContainer *headers = jb_object_get_container(metadata, "headers");
	JsonbValue *reset = jb_object_get(headers, "X-RateLimit-Reset");

	if (reset == NULL || (reset->type != jbvString && reset->type != jbvNumeric))
		return NULL;
	return jb_value_to_text(reset);
}

/* errdetail from metadata: the upstream provider's own words, and reasons */
static char *
service_error_detail(JsonbContainer *error)
{
	JsonbContainer *metadata = jb_object_get_container(error, "metadata");
	JsonbValue *raw = jb_object_get(metadata, "raw");
	char	   *provider = jb_object_get_string(metadata, "provider_name");
	JsonbValue *reasons = jb_object_get(metadata, "reasons");
	StringInfoData buf;

	initStringInfo(&buf);
	if (provider)
		appendStringInfo(&buf, _("Provider: %s."), provider);
	if (raw && raw->type != jbvNull)
		appendStringInfo(&buf, _("%sUpstream response: %s"), buf.len ? " " : "",
						 truncated_copy(jb_value_to_text(raw), RAW_DETAIL_BYTES));
	if (reasons && reasons->type != jbvNull)
		appendStringInfo(&buf, _("%sReasons: %s."), buf.len ? " " : "",
						 jb_value_to_text(reasons));
	return buf.len ? buf.data : NULL;
}

/*
 * A failure built from OpenRouter's {"code", "message", "metadata"} object,
 * or from an error that is only a string (error_value may be NULL).
 */
static OrFailure *
service_failure(JsonbValue *error_value, int http_status, int code,
				char **reset_text)
{
	JsonbContainer *error = is_container(error_value, false) ?
		error_value->val.binary.data : NULL;
	char	   *message = NULL;
	int			status_for_class = (code >= 100 && code <= 999) ? code : 0;
	OrFailure  *failure;

	if (error)
		message = jb_object_get_string(error, "message");
	else if (error_value && error_value->type == jbvString)
		message = pnstrdup(error_value->val.string.val, error_value->val.string.len);
	else if (error_value && error_value->type != jbvNull)
		message = jb_value_to_text(error_value);
	if (message == NULL)
		message = pstrdup(_("(no message)"));

	if (status_for_class == 0)
		failure = or_failure_new(ERRCODE_OR_SERVICE_ERROR, NULL, false,
								 "openrouter returned an error with HTTP %d: %s",
								 http_status, message);
	else if (status_for_class == http_status)
		failure = or_failure_new(or_http_errcode(code), NULL, status_is_retryable(code),
								 "openrouter returned HTTP %d (%s): %s",
								 code, status_reason(code), message);
	else
		failure = or_failure_new(or_http_errcode(code), NULL, status_is_retryable(code),
								 "openrouter returned error %d (%s) with HTTP %d: %s",
								 code, status_reason(code), http_status, message);
	if (status_for_class != 0 && status_hint(code))
		failure->hint = pstrdup(_(status_hint(code)));
	failure->http_status = http_status;
	if (error)
	{
		failure->service_error = jb_value_to_jsonb(error_value);
		failure->detail = service_error_detail(error);
		*reset_text = body_reset_text(error);
	}
	return failure;
}

/* error.code as a three-digit status, or 0 */
static int
error_code_of(JsonbValue *error_value)
{
	JsonbValue *code;
	char	   *text;

	if (!is_container(error_value, false))
		return 0;
	code = jb_object_get(error_value->val.binary.data, "code");
	if (code == NULL || (code->type != jbvNumeric && code->type != jbvString))
		return 0;
	text = jb_value_to_text(code);
	return (strspn(text, "0123456789") == strlen(text) && strlen(text) == 3) ? atoi(text) : 0;
}

/* ---------- the body ---------- */

/*
 * Whether the parsed body may hold the key although the body's text does not
 * (the literal scan ran first): only an escape can spell a character of a
 * string differently, and of the escapes only \u gives the characters a key
 * is usually made of; \", \\ and \/ matter only to a key that has them.
 */
static bool
escapes_may_hide(const char *body, size_t len, const char *secret)
{
	if (secret == NULL || secret[0] == '\0' || memchr(body, '\\', len) == NULL)
		return false;
	return memmem(body, len, "\\u", 2) != NULL || strpbrk(secret, "\"\\/") != NULL;
}

/* how deep JSON text inside a string inside JSON text ... is searched */
#define NESTED_JSON_DEPTH 4

static Jsonb *redact_value(Jsonb *value, const char *escaped_secret, int depth);

/*
 * A string of a parsed body that is itself JSON text holding the key escaped
 * (a tool call's "arguments": '{"t": "\\u0073k-..."}', which the tool would
 * receive unescaped): that text without the key.  NULL when it is not.
 */
static char *
redact_nested(const char *string, int len, const char *escaped_secret, int depth)
{
	char	   *text;
	Jsonb	   *inner;
	Jsonb	   *clean;
	OrJsonProblem problem;
	char	   *why;

	if (depth >= NESTED_JSON_DEPTH || memchr(string, '\\', len) == NULL)
		return NULL;
	text = pnstrdup(string, len);
	inner = or_json_parse(text, len, &problem, &why);
	if (inner == NULL)
		return NULL;
	clean = redact_value(inner, escaped_secret, depth + 1);
	if (clean == inner)
		return NULL;
	if (clean == NULL)
		return pstrdup("[REDACTED]");
	return JsonbToCString(NULL, &clean->root, VARSIZE(clean));
}

/*
 * The value without the key (escaped_secret: the key as escape_json writes
 * it, without the quotes).  Its canonical text shows every string as jsonb
 * holds it, escaping only '"', '\\' and control characters, so the key
 * escaped the same way is found there wherever a string holds it, however the
 * server escaped it; the text without it is parsed again.  Then strings that
 * are JSON text themselves are searched the same way.  Returns value itself
 * when the key is not there; NULL in the unlikely case that the text without
 * the key is no longer JSON (a key that is also a piece of JSON's syntax).
 */
static Jsonb *
redact_value(Jsonb *value, const char *escaped_secret, int depth)
{
	char	   *canonical = JsonbToCString(NULL, &value->root, VARSIZE(value));
	size_t		clean_len;
	char	   *clean = or_redact(canonical, strlen(canonical), escaped_secret, &clean_len);
	Jsonb	   *result = value;
	List	   *nested = NIL;
	bool		any = false;
	JsonbIterator *it;
	JsonbIteratorToken tok;
	JsonbValue	v;
	JsonbParseState *state = NULL;
	JsonbValue *built = NULL;
	OrJsonProblem problem;
	char	   *why;
	int			n = 0;

	if (clean != canonical &&
		(result = or_json_parse(clean, clean_len, &problem, &why)) == NULL)
		return NULL;

	/* first pass: the strings that are JSON text holding the key */
	it = JsonbIteratorInit(&result->root);
	while ((tok = JsonbIteratorNext(&it, &v, false)) != WJB_DONE)
		if ((tok == WJB_VALUE || tok == WJB_ELEM) && v.type == jbvString)
		{
			char	   *r = redact_nested(v.val.string.val, v.val.string.len,
										  escaped_secret, depth);

			nested = lappend(nested, r);
			any |= (r != NULL);
		}
	if (!any)
		return result;

	/* second pass: the value again, with those strings replaced */
	it = JsonbIteratorInit(&result->root);
	while ((tok = JsonbIteratorNext(&it, &v, false)) != WJB_DONE)
	{
		bool		scalar = (tok == WJB_KEY || tok == WJB_VALUE || tok == WJB_ELEM);

		if ((tok == WJB_VALUE || tok == WJB_ELEM) && v.type == jbvString)
		{
			char	   *r = list_nth(nested, n++);

			if (r != NULL)
			{
				v.val.string.val = r;
				v.val.string.len = strlen(r);
			}
		}
		built = pushJsonbValue(&state, tok,
							   (scalar || (tok == WJB_BEGIN_ARRAY && v.val.array.rawScalar)) ? &v : NULL);
	}
	return JsonbValueToJsonb(built);
}

/* The parsed body without the key; NULL (with *problem, *why) when it cannot be. */
static Jsonb *
redact_parsed(Jsonb *parsed, const char *secret, OrJsonProblem *problem, char **why)
{
	StringInfoData escaped;
	Jsonb	   *clean;

	initStringInfo(&escaped);
	escape_json(&escaped, secret);
	escaped.data[escaped.len - 1] = '\0';	/* without the quotes */
	clean = redact_value(parsed, escaped.data + 1, 0);
	explicit_bzero(escaped.data, escaped.len);
	if (clean == NULL)
	{
		*problem = OR_JSON_INVALID;
		*why = pstrdup(_("The body holds the API key in a way that cannot be redacted."));
	}
	return clean;
}

/* The body as jsonb without the key, or NULL with the failure that says why not. */
static Jsonb *
parse_body(const OrHttpResult *http, const char *secret, OrFailure **failure)
{
	size_t		start = strspn(http->body, " \t\r\n");
	char	   *text;
	char	   *why = NULL;
	OrJsonProblem problem = OR_JSON_INVALID;
	Jsonb	   *parsed = NULL;

	*failure = NULL;
	if (start >= http->body_len)
	{
		*failure = or_failure_new(ERRCODE_OR_EMPTY_RESPONSE, "empty_response", true,
								  "openrouter returned an empty response with HTTP %ld",
								  http->http_status);
		(*failure)->hint = pstrdup(_("No complete answer arrived; it is retried up to openrouter.max_retries times."));
		return NULL;
	}
	if (memchr(http->body, '\0', http->body_len) != NULL ||
		!pg_verify_mbstr(PG_UTF8, http->body, (int) http->body_len, true))
		why = pstrdup(_("The body is not valid UTF-8 text."));
	else if ((text = or_utf8_to_server(http->body, http->body_len)) == NULL)
		why = psprintf(_("The body has characters that the database encoding %s cannot hold; use a UTF8 database."),
					   GetDatabaseEncodingName());
	else
	{
		parsed = or_json_parse(text, strlen(text), &problem, &why);
		if (parsed != NULL && escapes_may_hide(http->body, http->body_len, secret))
			parsed = redact_parsed(parsed, secret, &problem, &why);
	}
	if (parsed != NULL)
		return parsed;

	if (problem == OR_JSON_TRUNCATED)
		*failure = or_failure_new(ERRCODE_OR_TRUNCATED_RESPONSE, "truncated_response", true,
								  "openrouter's response was cut short");
	else if (problem == OR_JSON_UNHOLDABLE)
		*failure = or_failure_new(ERRCODE_OR_INVALID_RESPONSE, "invalid_response", false,
								  "openrouter returned JSON that PostgreSQL's jsonb cannot hold");
	else
		*failure = or_failure_new(ERRCODE_OR_INVALID_RESPONSE, "invalid_response", false,
								  "openrouter returned a response that is not JSON");
	(*failure)->detail = psprintf(_("%s Received %zu bytes, starting: %s"), why ? why : "",
								  http->body_len, body_preview(http->body, http->body_len));
	(*failure)->hint = pstrdup(problem == OR_JSON_TRUNCATED ?
							   _("No complete answer arrived; it is retried up to openrouter.max_retries times.") :
							   _("A proxy or the service answered with something other than OpenRouter's JSON; check openrouter.base_url and openrouter.proxy."));
	return NULL;
}

/* an HTTP error status: OpenRouter's error object, or whatever came */
static OrFailure *
status_failure(const OrHttpResult *http, const char *secret, char **reset_text)
{
	int			status = (int) http->http_status;
	OrFailure  *failure;
	OrFailure  *unreadable;
	Jsonb	   *parsed = parse_body(http, secret, &unreadable);
	JsonbValue *error = NULL;

	if (parsed != NULL && JB_ROOT_IS_OBJECT(parsed) && !JB_ROOT_IS_SCALAR(parsed))
		error = jb_object_get(&parsed->root, "error");
	if (is_container(error, false))
		return service_failure(error, status, status, reset_text);

	failure = service_failure(NULL, status, status, reset_text);
	failure->message = psprintf(_("openrouter returned HTTP %d (%s)"), status, status_reason(status));
	if (http->body_len > 0)
		failure->detail = psprintf(_("The body is not OpenRouter's error object: %s"),
								   body_preview(http->body, http->body_len));
	return failure;
}

/* a 200 answer that is not a completion */
static OrFailure *
answer_failure(Jsonb *parsed, const OrCompletionView *view, int http_status,
			   char **reset_text)
{
	OrFailure  *failure;

	if (view->kind == OR_COMPLETION_MALFORMED)
	{
		failure = or_failure_new(ERRCODE_OR_INVALID_RESPONSE, "invalid_response", false,
								 "openrouter returned a response that is not a chat completion");
		failure->http_status = http_status;
		failure->detail = pstrdup(view->why);
		failure->response = parsed;
		failure->hint = pstrdup(_("A proxy or the service answered with something other than OpenRouter's JSON; check openrouter.base_url and openrouter.proxy."));
		return failure;
	}
	if (view->failed_choice < 0)
		return service_failure(view->error, http_status, error_code_of(view->error),
							   reset_text);

	/* a choice failed part way: keep the partial answer */
	failure = or_failure_new(ERRCODE_OR_CHOICE_FAILED, "choice_failed", false,
							 "openrouter's model failed while answering: %s", view->why);
	failure->http_status = http_status;
	if (is_container(view->error, false))
	{
		failure->service_error = jb_value_to_jsonb(view->error);
		failure->detail = service_error_detail(view->error->val.binary.data);
	}
	failure->response = parsed;
	failure->hint = pstrdup(_("The provider failed after it began answering, so the request is not retried automatically; any partial answer is in the response. Retry, or name fallback models with model_kwargs => '{\"models\": [...]}'."));
	return failure;
}

/* what another endpoint than chat answered: an object, without "error" */
static void
read_other_answer(Jsonb *parsed, OrCompletionView *view)
{
	memset(view, 0, sizeof(*view));
	view->failed_choice = -1;
	if (!JB_ROOT_IS_OBJECT(parsed) || JB_ROOT_IS_SCALAR(parsed))
	{
		view->kind = OR_COMPLETION_MALFORMED;
		view->why = psprintf(_("The body is a JSON %s, not an object."), jb_root_type_name(parsed));
		return;
	}
	view->error = jb_object_get(&parsed->root, "error");
	if (view->error != NULL && view->error->type != jbvNull)
	{
		view->kind = OR_COMPLETION_ERROR;
		view->why = pstrdup(_("The body is an error."));
	}
	else
	{
		view->error = NULL;
		view->kind = OR_COMPLETION;
	}
}

static OrFailure *
classify(const OrHttpResult *http, OrEndpoint endpoint, const OrClassifyContext *context,
		 Jsonb **result, char **reset_text)
{
	OrFailure  *failure;
	Jsonb	   *parsed;
	OrCompletionView view;

	if (http->too_large)
		return too_large_failure(context);
	if (http->curl_code != CURLE_OK)
		return transport_failure(http, context);
	if (http->http_status < 200 || http->http_status > 299)
		return status_failure(http, context->secret, reset_text);

	parsed = parse_body(http, context->secret, &failure);
	if (parsed == NULL)
	{
		failure->http_status = (int) http->http_status;
		return failure;
	}
	if (endpoint == OR_ENDPOINT_CHAT)
		or_read_completion(parsed, &view);
	else
		read_other_answer(parsed, &view);
	if (view.kind != OR_COMPLETION)
		return answer_failure(parsed, &view, (int) http->http_status, reset_text);
	*result = parsed;
	return NULL;
}

OrFailure *
or_classify(const OrHttpResult *http, OrEndpoint endpoint, const OrClassifyContext *context,
			Jsonb **result, char **reset_text)
{
	OrHttpResult redacted = *http;

	*result = NULL;
	*reset_text = NULL;
	/* the key echoed back verbatim: read the body without it (escaped: parse_body) */
	redacted.body = or_redact(http->body, http->body_len, context->secret,
							  &redacted.body_len);
	if (http->curl_error)
		redacted.curl_error = or_redact(http->curl_error, strlen(http->curl_error),
										context->secret, &(size_t) {0});
	return classify(&redacted, endpoint, context, result, reset_text);
}
