/*
 * response.c
 *		What came back from one attempt: a jsonb answer, or a classified
 *		failure with its SQLSTATE, message, detail and hint.
 *
 * The body is parsed once, by PostgreSQL's own JSON parser (leading
 * whitespace, which OpenRouter sends as keep-alive padding, is valid).  It is
 * validated before jsonb_in sees it so that a bad body becomes a failure the
 * caller may ignore, not an ERROR from deep inside the parser.  Error forms
 * recognised (see README.md, "Errors"): an HTTP error status with
 * OpenRouter's {"error": {...}} body, an HTTP 200 whose body is such an
 * error, a choice that ended with finish_reason "error", an empty,
 * truncated, non-JSON or oversized body, and every transport failure.
 */
#include "openrouter.h"

#include <curl/curl.h>

#include "catalog/namespace.h"
#include "common/jsonapi.h"
#include "mb/pg_wchar.h"
#include "utils/builtins.h"
#include "utils/fmgrprotos.h"

#include "jsonb_util.h"

#define PREVIEW_BYTES 200
#define RAW_DETAIL_BYTES 1000

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
			return "Check the arguments against the model's supported parameters; the message says what OpenRouter rejected.";
		case 401:
			return "Check the API key: store one with openrouter_configure_client('sk-or-...'), SET openrouter.api_key, or set OPENROUTER_API_KEY in the server's environment.";
		case 402:
			return "Add credits at https://openrouter.ai/settings/credits, or ask for fewer tokens with model_kwargs => '{\"max_tokens\": ...}'.";
		case 403:
			return "The input was blocked by moderation or a guardrail; the detail gives OpenRouter's reasons where it sent them.";
		case 404:
			return "Check the model name at https://openrouter.ai/models, or name fallbacks with model_kwargs => '{\"models\": [...]}'.";
		case 413:
			return "Shorten the messages, or pass transforms => '[\"middle-out\"]' to let OpenRouter compress them.";
		case 422:
			return "Check the arguments against the model's supported parameters.";
		case 429:
			return "Send fewer requests at once, or raise openrouter.max_retries and openrouter.max_retry_wait to wait for the limit to reset.";
		case 408:
		case 504:
		case 524:
			return "The model took too long: retry later, raise openrouter.max_retries, or name faster fallback models with model_kwargs => '{\"models\": [...]}'.";
		case 500:
		case 502:
		case 503:
		case 529:
			return "The model's provider failed or is overloaded: retry later, raise openrouter.max_retries, or name fallback models with model_kwargs => '{\"models\": [...]}'.";
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

/* ---------- transport failures ---------- */

static OrFailure *
transport_failure(const OrHttpResult *http)
{
	OrFailure  *failure;
	CURLcode	code = (CURLcode) http->curl_code;

	switch (code)
	{
		case CURLE_OPERATION_TIMEDOUT:
			failure = or_failure_new("ORN02", "timeout", true,
									 "openrouter request timed out");
			failure->hint = psprintf("openrouter.timeout (%d ms) limits each attempt; raise it, or choose a faster model.",
									 or_timeout_ms);
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
			failure = or_failure_new("ORN03", "tls_failure", false,
									 "could not establish a secure connection to openrouter");
			failure->hint = pstrdup("Check openrouter.ca_file and the server's CA certificates, and that openrouter.base_url names the right host.");
			break;
		case CURLE_PARTIAL_FILE:
			failure = or_failure_new("ORB02", "truncated_response", true,
									 "openrouter's response was cut short");
			failure->hint = pstrdup("The connection broke while the answer arrived; it is retried up to openrouter.max_retries times.");
			break;
		case CURLE_FILESIZE_EXCEEDED:
		case CURLE_WRITE_ERROR:
			failure = or_failure_new("ORB04", "response_too_large", false,
									 "openrouter's response is larger than openrouter.max_response_size (%d kB)",
									 or_max_response_kb);
			failure->hint = pstrdup("Raise openrouter.max_response_size, or ask for less output with model_kwargs => '{\"max_tokens\": ...}'.");
			break;
		case CURLE_COULDNT_RESOLVE_HOST:
		case CURLE_COULDNT_RESOLVE_PROXY:
		case CURLE_COULDNT_CONNECT:
		case CURLE_GOT_NOTHING:
		case CURLE_SEND_ERROR:
		case CURLE_RECV_ERROR:
		case CURLE_HTTP2:
		case CURLE_HTTP2_STREAM:
			failure = or_failure_new("ORN01", "connection_failed", true,
									 "could not reach openrouter");
			failure->hint = pstrdup("Check openrouter.base_url, the server's network and openrouter.proxy; failed attempts are retried up to openrouter.max_retries times.");
			break;
		default:
			failure = or_failure_new("ORN09", "transport_failure", true,
									 "openrouter request failed in transport");
			break;
	}
	if (http->curl_error)
		failure->detail = psprintf("libcurl: %s.", http->curl_error);
	return failure;
}

/* ---------- error objects from the service ---------- */

/* epoch-ms reset time inside error.metadata.headers, as a delay */
static double
body_retry_delay_ms(JsonbContainer *error)
{
	JsonbContainer *metadata = jb_object_get_container(error, "metadata");
	JsonbContainer *headers = jb_object_get_container(metadata, "headers");
	JsonbValue *reset = jb_object_get(headers, "X-RateLimit-Reset");

	if (reset == NULL || (reset->type != jbvString && reset->type != jbvNumeric))
		return -1;
	return or_reset_delay_ms(jb_value_to_text(reset));
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
		appendStringInfo(&buf, "Provider: %s.", provider);
	if (raw && raw->type != jbvNull)
		appendStringInfo(&buf, "%sUpstream response: %s", buf.len ? " " : "",
						 truncated_copy(jb_value_to_text(raw), RAW_DETAIL_BYTES));
	if (reasons && reasons->type != jbvNull)
		appendStringInfo(&buf, "%sReasons: %s.", buf.len ? " " : "",
						 jb_value_to_text(reasons));
	return buf.len ? buf.data : NULL;
}

/* a failure built from OpenRouter's {"code", "message", "metadata"} object */
static OrFailure *
service_failure(JsonbValue *error_value, int http_status, int code,
				double *retry_after_ms)
{
	JsonbContainer *error = (error_value && error_value->type == jbvBinary) ?
		error_value->val.binary.data : NULL;
	char	   *message = jb_object_get_string(error, "message");
	int			status_for_class = (code >= 100 && code <= 999) ? code : 0;
	OrFailure  *failure;

	if (message == NULL)
		message = pstrdup("(no message)");

	if (status_for_class == 0)
		failure = or_failure_new("ORE01", NULL, false,
								 "openrouter returned an error with HTTP %d: %s",
								 http_status, message);
	else if (status_for_class == http_status)
		failure = or_failure_new("OR000", NULL, status_is_retryable(code),
								 "openrouter returned HTTP %d (%s): %s",
								 code, status_reason(code), message);
	else
		failure = or_failure_new("OR000", NULL, status_is_retryable(code),
								 "openrouter returned error %d (%s) with HTTP %d: %s",
								 code, status_reason(code), http_status, message);
	if (status_for_class != 0)
	{
		snprintf(failure->sqlstate, sizeof(failure->sqlstate), "OR%03d", code);
		failure->hint = status_hint(code) ? pstrdup(status_hint(code)) : NULL;
	}
	failure->http_status = http_status;
	if (error)
	{
		failure->service_error = jb_value_to_jsonb(error_value);
		failure->detail = service_error_detail(error);
		*retry_after_ms = body_retry_delay_ms(error);
	}
	return failure;
}

static int
error_code_of(JsonbValue *error_value)
{
	JsonbValue *code;
	char	   *text;

	if (error_value == NULL || error_value->type != jbvBinary)
		return 0;
	code = jb_object_get(error_value->val.binary.data, "code");
	if (code == NULL || (code->type != jbvNumeric && code->type != jbvString))
		return 0;
	text = jb_value_to_text(code);
	return (strspn(text, "0123456789") == strlen(text) && strlen(text) == 3) ? atoi(text) : 0;
}

/* ---------- parsing ---------- */

typedef enum BodyCheck
{
	BODY_OK,
	BODY_EMPTY,
	BODY_TRUNCATED,
	BODY_NOT_JSON
} BodyCheck;

/* The body in the server encoding, or NULL when it cannot be converted. */
static char *
utf8_to_server(const char *body, size_t len)
{
	int			encoding = GetDatabaseEncoding();
	Oid			proc;
	unsigned char *converted;
	int			done;

	if (encoding == PG_UTF8 || encoding == PG_SQL_ASCII)
		return pnstrdup(body, len);
	proc = FindDefaultConversionProc(PG_UTF8, encoding);
	if (!OidIsValid(proc))
		return NULL;
	converted = palloc(len * MAX_CONVERSION_GROWTH + 1);
	done = pg_do_encoding_conversion_buf(proc, PG_UTF8, encoding,
										 (unsigned char *) body, (int) len,
										 converted, (int) (len * MAX_CONVERSION_GROWTH + 1),
										 true);
	return (done == (int) len) ? (char *) converted : NULL;
}

/* Validate without throwing; *converted is the body in the server encoding. */
static BodyCheck
check_body(const char *body, size_t len, char **converted, char **why)
{
	size_t		start = strspn(body, " \t\r\n");
	JsonLexContext *lex;
	JsonParseErrorType rc;
	char	   *text;

	*why = NULL;
	if (start >= len)
		return BODY_EMPTY;
	if (memchr(body, '\0', len) != NULL ||
		!pg_verify_mbstr(PG_UTF8, body, (int) len, true))
	{
		*why = pstrdup("The body is not valid UTF-8 text.");
		return BODY_NOT_JSON;
	}
	text = utf8_to_server(body, len);
	if (text == NULL)
	{
		*why = psprintf("The body has characters that the database encoding %s cannot hold; use a UTF8 database.",
						GetDatabaseEncodingName());
		return BODY_NOT_JSON;
	}
	lex = makeJsonLexContextCstringLen(text, strlen(text), GetDatabaseEncoding(), true);
	rc = pg_parse_json(lex, &nullSemAction);
	if (rc == JSON_SUCCESS)
	{
		*converted = text;
		return BODY_OK;
	}
	*why = json_errdetail(rc, lex);
	if ((body[start] == '{' || body[start] == '[') &&
		(lex->token_type == JSON_TOKEN_END ||
		 lex->token_terminator >= lex->input + lex->input_length))
		return BODY_TRUNCATED;
	return BODY_NOT_JSON;
}

static OrFailure *
bad_body_failure(BodyCheck check, const OrHttpResult *http, const char *why)
{
	OrFailure  *failure;

	switch (check)
	{
		case BODY_EMPTY:
			failure = or_failure_new("ORB03", "empty_response", true,
									 "openrouter returned an empty response with HTTP %ld",
									 http->http_status);
			break;
		case BODY_TRUNCATED:
			failure = or_failure_new("ORB02", "truncated_response", true,
									 "openrouter's response was cut short");
			break;
		default:
			failure = or_failure_new("ORB01", "invalid_response", false,
									 "openrouter returned a response that is not JSON");
			break;
	}
	failure->http_status = (int) http->http_status;
	if (check != BODY_EMPTY)
		failure->detail = psprintf("%s Received %zu bytes, starting: %s", why ? why : "",
								   http->body_len, body_preview(http->body, http->body_len));
	failure->hint = pstrdup(check == BODY_NOT_JSON ?
							"A proxy or the service answered with something other than OpenRouter's JSON; check openrouter.base_url and openrouter.proxy." :
							"No complete answer arrived; it is retried up to openrouter.max_retries times.");
	return failure;
}

/* a 200 answer whose choice failed part way: keep the partial answer */
static OrFailure *
choice_failure(Jsonb *response)
{
	JsonbContainer *choices = jb_object_get_container(&response->root, "choices");
	JsonbIterator *it;
	JsonbValue	v;
	JsonbIteratorToken tok;

	if (choices == NULL || !JsonContainerIsArray(choices))
		return NULL;
	it = JsonbIteratorInit(choices);
	while ((tok = JsonbIteratorNext(&it, &v, true)) != WJB_DONE)
	{
		JsonbValue *error;
		char	   *finish;
		char	   *message = NULL;
		OrFailure  *failure;

		if (tok != WJB_ELEM || v.type != jbvBinary)
			continue;
		error = jb_object_get(v.val.binary.data, "error");
		finish = jb_object_get_string(v.val.binary.data, "finish_reason");
		if ((error == NULL || error->type == jbvNull) &&
			(finish == NULL || strcmp(finish, "error") != 0))
			continue;

		if (error && error->type == jbvBinary)
			message = jb_object_get_string(error->val.binary.data, "message");
		failure = or_failure_new("ORE02", "choice_failed", false,
								 "openrouter's model failed while answering: %s",
								 message ? message : "finish_reason is \"error\"");
		failure->http_status = 200;
		if (error && error->type == jbvBinary)
		{
			failure->service_error = jb_value_to_jsonb(error);
			failure->detail = service_error_detail(error->val.binary.data);
		}
		failure->response = response;
		failure->hint = pstrdup("The provider failed after it began answering, so the request is not retried automatically; any partial answer is in the response. Retry, or name fallback models with model_kwargs => '{\"models\": [...]}'.");
		return failure;
	}
	return NULL;
}

OrFailure *
or_interpret_response(const OrHttpResult *http, Jsonb **result,
					  double *retry_after_ms)
{
	char	   *text = NULL;
	char	   *why = NULL;
	BodyCheck	check;
	Jsonb	   *parsed;
	JsonbValue *error;

	*result = NULL;
	*retry_after_ms = -1;

	if (http->too_large)
		return transport_failure(&(OrHttpResult) {.curl_code = CURLE_FILESIZE_EXCEEDED});
	if (http->curl_code != CURLE_OK)
		return transport_failure(http);

	check = check_body(http->body, http->body_len, &text, &why);

	if (http->http_status < 200 || http->http_status > 299)
	{
		int			status = (int) http->http_status;
		JsonbValue	fallback = {.type = jbvNull};

		error = &fallback;
		if (check == BODY_OK)
		{
			parsed = DatumGetJsonbP(DirectFunctionCall1(jsonb_in, CStringGetDatum(text)));
			error = jb_object_get(&parsed->root, "error");
		}
		if (error == NULL || error->type != jbvBinary)
		{
			OrFailure  *failure = service_failure(NULL, status, status, retry_after_ms);

			failure->message = psprintf("openrouter returned HTTP %d (%s)", status, status_reason(status));
			if (http->body_len > 0)
				failure->detail = psprintf("The body is not OpenRouter's error object: %s",
										   body_preview(http->body, http->body_len));
			return failure;
		}
		return service_failure(error, status, status, retry_after_ms);
	}

	if (check != BODY_OK)
		return bad_body_failure(check, http, why);

	parsed = DatumGetJsonbP(DirectFunctionCall1(jsonb_in, CStringGetDatum(text)));
	error = jb_object_get(&parsed->root, "error");
	if (error != NULL && error->type != jbvNull)
	{
		return service_failure(error, (int) http->http_status,
							   error_code_of(error), retry_after_ms);
	}
	{
		OrFailure  *failure = choice_failure(parsed);

		if (failure)
			return failure;
	}
	*result = parsed;
	return NULL;
}
