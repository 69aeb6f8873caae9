/*
 * errors.c - OpenRouter-shaped error bodies and the retry decorations
 * that go with them: the realistic body for each "status=N", the HTTP-200
 * "error200" body, and Retry-After / X-RateLimit-* headers and their
 * mirror in error.metadata.headers.  Body texts follow the real bodies
 * quoted in the OpenRouter notes (API.md section 3.3).
 */
#include "standin.h"

#include <stdio.h>
#include <string.h>

#define RATELIMIT_LIMIT "50"
#define RATELIMIT_REMAINING "0"

static const char context_length_msg[] =
	"This endpoint's maximum context length is 200000 tokens. However, you "
	"requested about 2500021 tokens (2500021 of text input). Please reduce "
	"the length of either one, or use the context-compression plugin to "
	"compress your prompt automatically.";

static const char credits_msg[] =
	"This request requires more credits, or fewer max_tokens. You requested "
	"up to 32000 tokens, but can only afford 27342. To increase, visit "
	"https://openrouter.ai/settings/credits and upgrade to a paid account";

static const char free_tier_msg[] =
	"Rate limit exceeded: free-models-per-day. Add 10 credits to unlock 1000 "
	"free model requests per day";

/* {"error":{"message":M,"code":N[,"metadata":meta]},"user_id":...} */
static json_object *
error_body(int code, const char *message, json_object *metadata)
{
	json_object *err = json_object_new_object();
	json_object *body = json_object_new_object();

	json_object_object_add(err, "message", json_object_new_string(message));
	json_object_object_add(err, "code", json_object_new_int(code));
	if (metadata)
		json_object_object_add(err, "metadata", metadata);
	json_object_object_add(body, "error", err);
	json_object_object_add(body, "user_id", json_object_new_string(STANDIN_USER_ID));
	return body;
}

/* The generic shape: {"error":{"code":N,"message":M},"user_id":...}. */
json_object *
answer_error_json(int code, const char *message)
{
	json_object *err = json_object_new_object();
	json_object *body = json_object_new_object();

	json_object_object_add(err, "code", json_object_new_int(code));
	json_object_object_add(err, "message", json_object_new_string(message));
	json_object_object_add(body, "error", err);
	json_object_object_add(body, "user_id", json_object_new_string(STANDIN_USER_ID));
	return body;
}

static json_object *
context_length_error(void)
{
	json_object *meta = json_object_new_object();
	json_object *prev = json_object_new_array();

	for (int i = 0; i < 2; i++)
	{
		json_object *e = json_object_new_object();

		json_object_object_add(e, "code", json_object_new_int(400));
		json_object_object_add(e, "message", json_object_new_string(context_length_msg));
		json_object_array_add(prev, e);
	}
	json_object_object_add(meta, "provider_name", NULL);
	json_object_object_add(meta, "previous_errors", prev);
	return error_body(400, context_length_msg, meta);
}

static json_object *
provider_name_only_meta(const char *provider)
{
	json_object *meta = json_object_new_object();

	json_object_object_add(meta, "provider_name",
						   provider ? json_object_new_string(provider) : NULL);
	return meta;
}

static json_object *
moderation_error(const char *model)
{
	json_object *meta = json_object_new_object();
	json_object *reasons = json_object_new_array();
	char		msg[512];

	json_object_array_add(reasons, json_object_new_string("violence"));
	json_object_object_add(meta, "reasons", reasons);
	json_object_object_add(meta, "flagged_input", json_object_new_string("standin flagged input"));
	json_object_object_add(meta, "provider_name", json_object_new_string(STANDIN_PROVIDER));
	json_object_object_add(meta, "model_slug", json_object_new_string(model));
	snprintf(msg, sizeof(msg),
			 "%.400s requires moderation on Standin. Your input was flagged for \"violence\"",
			 model);
	return error_body(403, msg, meta);
}

static json_object *
not_found_error(const char *model)
{
	json_object *err = json_object_new_object();
	json_object *body = json_object_new_object();
	size_t		n = strlen(model) + 64;
	char	   *msg = xmalloc(n);

	snprintf(msg, n, "No endpoints found for %s.", model);
	json_object_object_add(err, "code", json_object_new_int(404));
	json_object_object_add(err, "message", json_object_new_string(msg));
	json_object_object_add(body, "error", err);
	json_object_object_add(body, "user_id", json_object_new_string(STANDIN_USER_ID));
	free(msg);
	return body;
}

static json_object *
rate_limit_error(void)
{
	/* metadata.headers is filled in by answer_add_ratelimit() */
	return error_body(429, free_tier_msg, provider_name_only_meta(NULL));
}

static json_object *
provider_error(int code)
{
	json_object *meta = json_object_new_object();
	const char *raw = code == 503
		? "{\"error\":{\"message\":\"Service temporarily unavailable\",\"type\":\"overloaded_error\"}}"
		: "{\"error\":{\"message\":\"upstream exploded\",\"type\":\"server_error\"}}";

	json_object_object_add(meta, "raw", json_object_new_string(raw));
	json_object_object_add(meta, "provider_name", json_object_new_string(STANDIN_PROVIDER));
	json_object_object_add(meta, "is_byok", json_object_new_boolean(0));
	return error_body(code, "Provider returned error", meta);
}

static const char *
generic_message(int code)
{
	switch (code)
	{
		case 408:
			return "Request timed out";
		case 413:
			return "Payload too large";
		case 422:
			return "Unprocessable entity";
		case 500:
			return "Internal Server Error";
		case 524:
			return "Provider timed out";
		case 529:
			return "Provider overloaded";
		default:
			break;
	}
	if (strcmp(MHD_get_reason_phrase_for((unsigned int) code), "Unknown") != 0)
		return MHD_get_reason_phrase_for((unsigned int) code);
	return "Standin error";
}

/* The body a "status=N" answer carries (N >= 300). */
json_object *
error_for_status(int code, const char *model)
{
	switch (code)
	{
		case 400:
			return context_length_error();
		case 401:
			return error_body(401, "User not found.", NULL);
		case 402:
			return error_body(402, credits_msg, provider_name_only_meta(NULL));
		case 403:
			return moderation_error(model);
		case 404:
			return not_found_error(model);
		case 429:
			return rate_limit_error();
		case 502:
		case 503:
			return provider_error(code);
		default:
			return answer_error_json(code, generic_message(code));
	}
}

/* The body of "error200[=CODE]" (sent with HTTP 200). */
json_object *
error_200_body(int code)
{
	json_object *meta = json_object_new_object();

	json_object_object_add(meta, "raw", json_object_new_string("upstream exploded"));
	json_object_object_add(meta, "provider_name", json_object_new_string(STANDIN_PROVIDER));
	return error_body(code, "Provider returned error", meta);
}

static json_object *
ratelimit_headers_json(const char *reset)
{
	json_object *h = json_object_new_object();

	json_object_object_add(h, "X-RateLimit-Limit", json_object_new_string(RATELIMIT_LIMIT));
	json_object_object_add(h, "X-RateLimit-Remaining", json_object_new_string(RATELIMIT_REMAINING));
	json_object_object_add(h, "X-RateLimit-Reset", json_object_new_string(reset));
	return h;
}

/*
 * X-RateLimit-* decoration.  With ratelimit_reset_ms=MS the values go in
 * the response headers and/or in error.metadata.headers (reset_in).  A 429
 * body always carries metadata.headers (as the real one does), with
 * Reset = now when no ratelimit_reset_ms was given, unless reset_in=header.
 */
void
answer_add_ratelimit(struct answer *a, json_object *body,
					 const struct directives *d, bool is_429)
{
	bool		given = d->ratelimit_reset_ms >= 0;
	char		reset[32];
	json_object *err = NULL;

	snprintf(reset, sizeof(reset), "%lld",
			 now_ms() + (given ? d->ratelimit_reset_ms : 0));

	if (given && d->reset_in != RESET_IN_BODY)
	{
		answer_add_header(a, "X-RateLimit-Limit", RATELIMIT_LIMIT);
		answer_add_header(a, "X-RateLimit-Remaining", RATELIMIT_REMAINING);
		answer_add_header(a, "X-RateLimit-Reset", reset);
	}
	if (body == NULL || !json_object_object_get_ex(body, "error", &err) ||
		!json_object_is_type(err, json_type_object))
		return;
	if ((given || is_429) && !(given && d->reset_in == RESET_IN_HEADER))
	{
		json_object *meta = NULL;

		if (!json_object_object_get_ex(err, "metadata", &meta) ||
			!json_object_is_type(meta, json_type_object))
		{
			meta = json_object_new_object();
			json_object_object_add(err, "metadata", meta);
		}
		json_object_object_add(meta, "headers", ratelimit_headers_json(reset));
	}
}

/* Retry-After in seconds and/or as an HTTP date. */
void
answer_add_retry_after(struct answer *a, const struct directives *d)
{
	char		buf[64];

	if (d->retry_after >= 0)
	{
		snprintf(buf, sizeof(buf), "%lld", d->retry_after);
		answer_add_header(a, "Retry-After", buf);
	}
	if (d->retry_after_date >= 0)
	{
		http_date(time(NULL) + (time_t) d->retry_after_date, buf, sizeof(buf));
		answer_add_header(a, "Retry-After", buf);
	}
}
