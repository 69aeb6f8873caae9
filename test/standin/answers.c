/*
 * answers.c - the answer a valid chat request gets.  Builds the
 * chat.completion body in the shape of the real service (API.md 1.3) with
 * deterministic content and usage, and the variants the directives ask
 * for: echo, stats, tool_calls, choice_error, big (streamed fill, never
 * materialized), error200, garbage, empty, replayed fixtures, padding and
 * truncation.  The result is a struct answer that request.c sends.
 */
#include "standin.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define DEFAULT_MODEL_PREFIX "Stand-in answer to: "
#define BIG_MARKER "@@STANDIN_FILL_7f3a9c@@"
#define KEEPALIVE_PADDING "\n         \n\n         \n"
#define GARBAGE_BODY \
	"<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n" \
	"<body>\r\n<center><h1>502 Bad gateway</h1></center>\r\n</body>\r\n</html>\r\n"
#define PARTIAL_CONTENT "Partial answ"

/* ---- struct answer helpers --------------------------------------------- */

void
answer_add_header(struct answer *a, const char *name, const char *value)
{
	json_object *cur;

	if (a->extra_headers == NULL)
		a->extra_headers = json_object_new_object();
	if (!json_object_object_get_ex(a->extra_headers, name, &cur))
	{
		json_object_object_add(a->extra_headers, name, json_object_new_string(value));
		return;
	}
	if (!json_object_is_type(cur, json_type_array))
	{
		json_object *arr = json_object_new_array();

		json_object_array_add(arr, json_object_get(cur));
		json_object_object_add(a->extra_headers, name, arr);
		cur = arr;
	}
	json_object_array_add(cur, json_object_new_string(value));
}

void
answer_set_text(struct answer *a, unsigned int status, const char *content_type,
				const char *text, size_t len)
{
	free(a->head);
	a->status = status;
	a->content_type = content_type;
	a->head = xmalloc(len + 1);
	memcpy(a->head, text, len);
	a->head[len] = '\0';
	a->head_len = len;
}

/* Serialize body (consumed) as the whole answer. */
void
answer_set_json(struct answer *a, unsigned int status, json_object *body)
{
	const char *text = json_text(body);

	answer_set_text(a, status, "application/json", text, strlen(text));
	json_object_put(body);
}

/* Serialize body (consumed); the content string BIG_MARKER becomes
 * fill_len bytes of 'x' produced while sending. */
static void
answer_set_json_filled(struct answer *a, unsigned int status, json_object *body,
					   long long fill_len)
{
	const char *text = json_text(body);
	const char *mark = strstr(text, "\"content\":\"" BIG_MARKER "\"");

	if (mark == NULL)
	{
		answer_set_json(a, status, body);
		return;
	}
	mark += strlen("\"content\":\"");
	answer_set_text(a, status, "application/json", text, (size_t) (mark - text));
	a->tail_len = strlen(mark + strlen(BIG_MARKER));
	a->tail = xstrdup(mark + strlen(BIG_MARKER));
	a->fill_len = (size_t) fill_len;
	a->fill_ch = 'x';
	json_object_put(body);
}

static void
answer_prepend(struct answer *a, const char *prefix)
{
	size_t		plen = strlen(prefix);
	char	   *head = xmalloc(plen + a->head_len + 1);

	memcpy(head, prefix, plen);
	memcpy(head + plen, a->head, a->head_len);
	head[plen + a->head_len] = '\0';
	free(a->head);
	a->head = head;
	a->head_len += plen;
}

void
answer_free(struct answer *a)
{
	free(a->head);
	free(a->tail);
	json_object_put(a->extra_headers);
	memset(a, 0, sizeof(*a));
}

/* ---- reading the request ----------------------------------------------- */

struct sbuf
{
	char	   *p;
	size_t		len;
	size_t		cap;
};

static void
sb_add(struct sbuf *b, const char *s, size_t n)
{
	if (b->len + n + 1 > b->cap)
	{
		b->cap = (b->len + n + 1) * 2;
		b->p = realloc(b->p, b->cap);
		if (b->p == NULL)
			abort();
	}
	memcpy(b->p + b->len, s, n);
	b->len += n;
	b->p[b->len] = '\0';
}

static void
sb_str(struct sbuf *b, const char *s)
{
	sb_add(b, s, strlen(s));
}

/* Append the text of a message content: a string, or the "text" of the
 * parts of an array joined with a space. */
static void
content_text(json_object *content, struct sbuf *out)
{
	bool		first = true;

	if (json_object_is_type(content, json_type_string))
	{
		sb_add(out, json_object_get_string(content),
			   (size_t) json_object_get_string_len(content));
		return;
	}
	if (!json_object_is_type(content, json_type_array))
		return;
	for (size_t i = 0; i < json_object_array_length(content); i++)
	{
		json_object *part = json_object_array_get_idx(content, i);
		json_object *text;

		if (!json_object_object_get_ex(part, "text", &text) ||
			!json_object_is_type(text, json_type_string))
			continue;
		if (!first)
			sb_add(out, " ", 1);
		sb_add(out, json_object_get_string(text),
			   (size_t) json_object_get_string_len(text));
		first = false;
	}
}

static json_object *
request_messages(const struct chat_request *req)
{
	json_object *messages = NULL;

	json_object_object_get_ex(req->body, "messages", &messages);
	return messages;
}

static bool
has_role(json_object *msg, const char *role)
{
	json_object *r;

	return json_object_object_get_ex(msg, "role", &r) &&
		json_object_is_type(r, json_type_string) &&
		strcmp(json_object_get_string(r), role) == 0;
}

/* Text of the last user message ("" when there is none). */
static void
last_user_text(const struct chat_request *req, struct sbuf *out)
{
	json_object *messages = request_messages(req);

	for (size_t i = json_object_array_length(messages); i > 0; i--)
	{
		json_object *msg = json_object_array_get_idx(messages, i - 1);
		json_object *content;

		if (!has_role(msg, "user"))
			continue;
		if (json_object_object_get_ex(msg, "content", &content))
			content_text(content, out);
		return;
	}
}

/* Total text length of all message contents. */
static long long
prompt_chars(const struct chat_request *req)
{
	json_object *messages = request_messages(req);
	long long	total = 0;

	for (size_t i = 0; i < json_object_array_length(messages); i++)
	{
		json_object *content;
		struct sbuf b = {0};

		if (!json_object_object_get_ex(json_object_array_get_idx(messages, i),
									   "content", &content))
			continue;
		content_text(content, &b);
		total += (long long) b.len;
		free(b.p);
	}
	return total;
}

char *
request_last_user_text(const struct chat_request *req)
{
	struct sbuf b = {0};

	sb_add(&b, "", 0);
	last_user_text(req, &b);
	return b.p;
}

long long
request_prompt_tokens(const struct chat_request *req)
{
	return (prompt_chars(req) + 3) / 4;
}

/* ---- completion bodies ------------------------------------------------- */

static uint64_t
splitmix64(uint64_t *state)
{
	uint64_t	z = (*state += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

/* gen-<unixtime>-<20 alnum>, the suffix derived from a counter. */
static void
make_gen_id(char *buf, size_t n, long long created)
{
	static const char alnum[] =
		"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
	uint64_t	state = (uint64_t) counters_next_generation();
	char		suffix[21];

	for (int i = 0; i < 20; i++)
		suffix[i] = alnum[splitmix64(&state) % 62];
	suffix[20] = '\0';
	snprintf(buf, n, "gen-%lld-%s", created, suffix);
}

static long long
tokens_for(long long chars)
{
	return (chars + 3) / 4;
}

/* usage; cost = 0.1 USD per million prompt tokens, 0.4 per million
 * completion tokens, printed without float noise. */
static json_object *
usage_json(long long prompt_chars_n, long long completion_chars_n)
{
	long long	pt = tokens_for(prompt_chars_n);
	long long	ct = tokens_for(completion_chars_n);
	long long	nano = pt * 100 + ct * 400;		/* 1e-9 USD */
	char		cost[48];
	json_object *u = json_object_new_object();
	json_object *ptd = json_object_new_object();
	json_object *ctd = json_object_new_object();
	size_t		len;

	snprintf(cost, sizeof(cost), "%lld.%09lld", nano / 1000000000LL,
			 nano % 1000000000LL);
	len = strlen(cost);
	while (len > 3 && cost[len - 1] == '0' && cost[len - 2] != '.')
		cost[--len] = '\0';

	json_object_object_add(u, "prompt_tokens", json_object_new_int64(pt));
	json_object_object_add(u, "completion_tokens", json_object_new_int64(ct));
	json_object_object_add(u, "total_tokens", json_object_new_int64(pt + ct));
	json_object_object_add(u, "cost", json_object_new_double_s((double) nano / 1e9, cost));
	json_object_object_add(u, "is_byok", json_object_new_boolean(0));
	json_object_object_add(ptd, "cached_tokens", json_object_new_int(0));
	json_object_object_add(ptd, "cache_write_tokens", json_object_new_int(0));
	json_object_object_add(ptd, "audio_tokens", json_object_new_int(0));
	json_object_object_add(u, "prompt_tokens_details", ptd);
	json_object_object_add(ctd, "reasoning_tokens", json_object_new_int(0));
	json_object_object_add(ctd, "image_tokens", json_object_new_int(0));
	json_object_object_add(u, "completion_tokens_details", ctd);
	return u;
}

static json_object *
assistant_message(json_object *content)
{
	json_object *m = json_object_new_object();

	json_object_object_add(m, "role", json_object_new_string("assistant"));
	json_object_object_add(m, "content", content);
	json_object_object_add(m, "refusal", NULL);
	json_object_object_add(m, "reasoning", NULL);
	return m;
}

static json_object *
choice_json(json_object *message, const char *finish, const char *native)
{
	json_object *c = json_object_new_object();

	json_object_object_add(c, "index", json_object_new_int(0));
	json_object_object_add(c, "logprobs", NULL);
	json_object_object_add(c, "finish_reason", json_object_new_string(finish));
	json_object_object_add(c, "native_finish_reason", json_object_new_string(native));
	json_object_object_add(c, "message", message);
	return c;
}

static json_object *
completion_json(const struct chat_request *req, const char *gen_id,
				long long created, json_object *choice, long long completion_chars)
{
	json_object *body = json_object_new_object();
	json_object *choices = json_object_new_array();

	json_object_array_add(choices, choice);
	json_object_object_add(body, "id", json_object_new_string(gen_id));
	json_object_object_add(body, "object", json_object_new_string("chat.completion"));
	json_object_object_add(body, "created", json_object_new_int64(created));
	json_object_object_add(body, "model", json_object_new_string(req->model));
	json_object_object_add(body, "provider", json_object_new_string(STANDIN_PROVIDER));
	json_object_object_add(body, "system_fingerprint", NULL);
	json_object_object_add(body, "service_tier", NULL);
	json_object_object_add(body, "choices", choices);
	json_object_object_add(body, "usage",
						   usage_json(prompt_chars(req), completion_chars));
	return body;
}

/* The choice of "choice_error": partial content plus choices[0].error. */
static json_object *
choice_error_json(long long *completion_chars)
{
	json_object *choice = choice_json(assistant_message(json_object_new_string(PARTIAL_CONTENT)),
									  "error", "error");
	json_object *err = json_object_new_object();
	json_object *meta = json_object_new_object();

	json_object_object_add(meta, "error_type", json_object_new_string("provider_unavailable"));
	json_object_object_add(err, "code", json_object_new_int(502));
	json_object_object_add(err, "message", json_object_new_string("Upstream provider disconnected"));
	json_object_object_add(err, "metadata", meta);
	json_object_object_add(choice, "error", err);
	*completion_chars = (long long) strlen(PARTIAL_CONTENT);
	return choice;
}

/* The choice of "tool_calls=NAME:ARGS_B64URL,...": (validated already). */
static json_object *
tool_calls_choice(const char *spec, long long *completion_chars)
{
	json_object *message = assistant_message(json_object_new_string(""));
	json_object *calls = json_object_new_array();
	char	   *copy = xstrdup(spec);
	char	   *save = NULL;
	int			n = 0;

	*completion_chars = 0;
	for (char *item = strtok_r(copy, ",", &save); item;
		 item = strtok_r(NULL, ",", &save), n++)
	{
		char	   *colon = strchr(item, ':');
		json_object *call = json_object_new_object();
		json_object *fn = json_object_new_object();
		size_t		args_len = 0;
		char	   *args;
		char		id[48];

		*colon = '\0';
		args = b64url_decode(colon + 1, &args_len);
		snprintf(id, sizeof(id), "call_%d_standin", n);
		json_object_object_add(fn, "name", json_object_new_string(item));
		json_object_object_add(fn, "arguments",
							   json_string_from_bytes(args ? args : "", args_len));
		json_object_object_add(call, "id", json_object_new_string(id));
		json_object_object_add(call, "index", json_object_new_int(n));
		json_object_object_add(call, "type", json_object_new_string("function"));
		json_object_object_add(call, "function", fn);
		json_object_array_add(calls, call);
		*completion_chars += (long long) (strlen(item) + args_len);
		free(args);
	}
	free(copy);
	json_object_object_add(message, "tool_calls", calls);
	return choice_json(message, "tool_calls", "tool_use");
}

static json_object *
stats_content(bool reset)
{
	struct stats_snapshot s = counters_stats(reset);
	json_object *o = json_object_new_object();
	json_object *str;

	json_object_object_add(o, "connections", json_object_new_int64(s.connections));
	json_object_object_add(o, "requests", json_object_new_int64(s.requests));
	json_object_object_add(o, "in_flight", json_object_new_int64(s.in_flight));
	json_object_object_add(o, "max_in_flight", json_object_new_int64(s.max_in_flight));
	str = json_object_new_string(json_text(o));
	json_object_put(o);
	return str;
}

/* ratelimit_stats: {"allowed", "limited"} of the key's rate limit */
static json_object *
ratelimit_stats_content(const char *key)
{
	struct rate_counts c = counters_rate_counts(key);
	json_object *o = json_object_new_object();
	json_object *str;

	json_object_object_add(o, "allowed", json_object_new_int64(c.allowed));
	json_object_object_add(o, "limited", json_object_new_int64(c.limited));
	str = json_object_new_string(json_text(o));
	json_object_put(o);
	return str;
}

/*
 * The Authorization header as echo reports it: a hint that tells which key
 * was sent without being it (the client redacts its key from every answer).
 * "Bearer " is kept; a token of 16 characters or more becomes its first 9,
 * "..." and its last 6 ("sk-or-v1-...st-key"); a shorter one "..." and its
 * last half.
 */
static json_object *
authorization_hint(const char *value)
{
	struct sbuf b = {0};
	const char *token = value;
	size_t		len;
	json_object *str;

	if (strncasecmp(value, "Bearer ", 7) == 0)
	{
		sb_add(&b, value, 7);
		token = value + 7;
	}
	len = strlen(token);
	if (len >= 16)
	{
		sb_add(&b, token, 9);
		sb_add(&b, "...", 3);
		sb_add(&b, token + len - 6, 6);
	}
	else
	{
		sb_add(&b, "...", 3);
		sb_add(&b, token + len - len / 2, len / 2);
	}
	str = json_string_from_bytes(b.p ? b.p : "", b.len);
	free(b.p);
	return str;
}

/* the request's headers, the Authorization header as a hint */
static json_object *
echo_headers(json_object *headers)
{
	json_object *copy = json_object_new_object();

	json_object_object_foreach(headers, name, value)
	{
		if (strcmp(name, "authorization") == 0 && json_object_is_type(value, json_type_string))
			json_object_object_add(copy, name, authorization_hint(json_object_get_string(value)));
		else
			json_object_object_add(copy, name, json_object_get(value));
	}
	return copy;
}

static json_object *
echo_content(const struct chat_request *req)
{
	json_object *o = json_object_new_object();
	json_object *str;

	json_object_object_add(o, "method", json_object_new_string(req->method));
	json_object_object_add(o, "path", json_string_from_bytes(req->path, strlen(req->path)));
	json_object_object_add(o, "headers", echo_headers(req->headers));
	json_object_object_add(o, "body", json_object_get(req->body));
	str = json_object_new_string(json_text(o));
	json_object_put(o);
	return str;
}

static json_object *
default_content(const struct chat_request *req)
{
	struct sbuf b = {0};
	json_object *str;

	sb_add(&b, DEFAULT_MODEL_PREFIX, strlen(DEFAULT_MODEL_PREFIX));
	last_user_text(req, &b);
	str = json_object_new_string_len(b.p, (int) b.len);
	free(b.p);
	return str;
}

/* The ordinary choice: content from stats / echo / big / default. */
static json_object *
content_choice(const struct chat_request *req, const struct directives *d,
			   long long *completion_chars, long long *fill)
{
	json_object *content;

	if (d->stats || d->stats_reset)
		content = stats_content(d->stats_reset);
	else if (d->ratelimit_stats)
		content = ratelimit_stats_content(d->key ? d->key : req->model);
	else if (d->echo)
		content = echo_content(req);
	else if (d->big >= 0)
	{
		content = json_object_new_string(BIG_MARKER);
		*fill = d->big;
	}
	else if ((content = structured_content(req, d->misfit, d->misfit_json)) != NULL)
		;
	else if (d->context > 0)
	{
		char		text[96];

		snprintf(text, sizeof(text), "Stand-in answer (%lld tokens read)",
				 request_prompt_tokens(req));
		content = json_object_new_string(text);
	}
	else
		content = default_content(req);
	*completion_chars = *fill >= 0 ? *fill : json_object_get_string_len(content);
	return choice_json(assistant_message(content), "stop", "stop");
}

/* A chat.completion body; *fill >= 0 asks for a filled (big) content. */
static json_object *
completion_body(struct answer *a, const struct chat_request *req,
				const struct directives *d, long long *fill)
{
	long long	created = (long long) time(NULL);
	long long	cchars = 0;
	json_object *choice;

	*fill = -1;
	if (d->choice_error)
		choice = choice_error_json(&cchars);
	else if (d->tool_calls)
		choice = tool_calls_choice(d->tool_calls, &cchars);
	else
		choice = content_choice(req, d, &cchars, fill);
	make_gen_id(a->gen_id, sizeof(a->gen_id), created);
	return completion_json(req, a->gen_id, created, choice, cchars);
}

/* ---- fixtures ---------------------------------------------------------- */

static bool
skipped_fixture_header(const char *name)
{
	static const char *const skip[] = {
		"content-length", "transfer-encoding", "connection",
		"content-encoding", "keep-alive", "date"
	};

	for (size_t i = 0; i < sizeof(skip) / sizeof(skip[0]); i++)
		if (strcasecmp(name, skip[i]) == 0)
			return true;
	return false;
}

static void
fixture_headers(struct answer *a, json_object *headers)
{
	if (!json_object_is_type(headers, json_type_object))
		return;
	json_object_object_foreach(headers, name, value)
	{
		if (skipped_fixture_header(name))
			continue;
		if (json_object_is_type(value, json_type_array))
		{
			for (size_t i = 0; i < json_object_array_length(value); i++)
				answer_add_header(a, name,
								  json_object_get_string(json_object_array_get_idx(value, i)));
		}
		else if (value != NULL)
			answer_add_header(a, name, json_object_get_string(value));
	}
}

static void
replay_error(struct answer *a, const char *fmt, const char *name)
{
	char		msg[512];

	snprintf(msg, sizeof(msg), fmt, name);
	answer_set_json(a, 400, answer_error_json(400, msg));
}

/* replay=NAME: DIR/NAME.json = {"status":N,"headers":{...},"body":"..."} */
static void
build_replay(struct answer *a, const char *name)
{
	char	   *path,
			   *text;
	size_t		len = 0,
				plen;
	json_object *fx,
			   *status = NULL,
			   *headers = NULL,
			   *body = NULL;
	int			code = 200;

	if (g_cfg.fixtures_dir == NULL)
	{
		replay_error(a, "standin: replay=%s needs --fixtures DIR", name);
		return;
	}
	plen = strlen(g_cfg.fixtures_dir) + strlen(name) + 8;
	path = xmalloc(plen);
	snprintf(path, plen, "%s/%s.json", g_cfg.fixtures_dir, name);
	text = read_file(path, &len);
	free(path);
	fx = text ? json_parse_strict(text, len) : NULL;
	free(text);
	if (!json_object_is_type(fx, json_type_object))
	{
		json_object_put(fx);
		replay_error(a, "standin: fixture %s missing or not a JSON object", name);
		return;
	}
	if (json_object_object_get_ex(fx, "status", &status))
		code = json_object_get_int(status);
	if (code < 200 || code > 599)
		code = 200;
	json_object_object_get_ex(fx, "headers", &headers);
	json_object_object_get_ex(fx, "body", &body);
	if (json_object_is_type(body, json_type_string))
		answer_set_text(a, (unsigned int) code, NULL, json_object_get_string(body),
						(size_t) json_object_get_string_len(body));
	else if (body != NULL)
		answer_set_text(a, (unsigned int) code, NULL, json_text(body),
						strlen(json_text(body)));
	else
		answer_set_text(a, (unsigned int) code, NULL, "", 0);
	fixture_headers(a, headers);
	json_object_put(fx);
}

/* ---- odd bodies: valid JSON that a client may not hold --------------------- */

#define ODD_DEPTH 100000
#define ODD_DIGITS 200000

static const char *const odd_kinds[] = {
	"deep", "exp", "digits", "escape", "error_string", "array", "trailing"
};

/* is name one of the n kinds? */
static bool
kind_known(const char *const *kinds, size_t n, const char *name)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(kinds[i], name) == 0)
			return true;
	return false;
}

bool
answer_odd_kind_known(const char *name)
{
	return kind_known(odd_kinds, sizeof(odd_kinds) / sizeof(odd_kinds[0]), name);
}

/* A 200 body of the kind named (see README.md, "odd"). */
static void
build_odd(struct answer *a, const char *kind)
{
	struct sbuf b = {0};

	if (strcmp(kind, "deep") == 0)
	{
		sb_str(&b, "{\"choices\":");
		for (int i = 0; i < ODD_DEPTH; i++)
			sb_str(&b, "[");
		for (int i = 0; i < ODD_DEPTH; i++)
			sb_str(&b, "]");
		sb_str(&b, "}");
	}
	else if (strcmp(kind, "exp") == 0)
		sb_str(&b, "{\"choices\":[],\"usage\":{\"cost\":1e999999}}");
	else if (strcmp(kind, "digits") == 0)
	{
		sb_str(&b, "{\"choices\":[],\"usage\":{\"cost\":");
		for (int i = 0; i < ODD_DIGITS; i++)
			sb_str(&b, "9");
		sb_str(&b, "}}");
	}
	else if (strcmp(kind, "escape") == 0)
	{
		static const char body[] =
			"{\"id\":\"gen-odd\",\"object\":\"chat.completion\",\"choices\":[{\"index\":0,"
			"\"finish_reason\":\"stop\",\"message\":{\"role\":\"assistant\","
			"\"content\":\"\\u4e2d\"}}]}";

		sb_str(&b, body);
	}
	else if (strcmp(kind, "trailing") == 0)
		sb_str(&b, "{\"choices\":[]} x");
	else if (strcmp(kind, "error_string") == 0)
		sb_str(&b, "{\"error\":\"just a string\"}");
	else
		sb_str(&b, "[{\"choices\":[]}]");
	answer_set_text(a, 200, "application/json", b.p, b.len);
	free(b.p);
}

/* 401 whose error repeats the Authorization header it was sent */
static json_object *
auth_error_body(const struct chat_request *req)
{
	json_object *auth = json_object_object_get(req->headers, "authorization");
	const char *value = auth ? json_object_get_string(auth) : "";
	size_t		len = strlen(value) + 64;
	char	   *message = xmalloc(len);
	json_object *body;
	json_object *metadata = json_object_new_object();

	snprintf(message, len, "Invalid credentials in header: %s", value);
	body = answer_error_json(401, message);
	json_object_object_add(metadata, "raw", json_object_new_string(value));
	json_object_object_add(json_object_object_get(body, "error"), "metadata", metadata);
	free(message);
	return body;
}

/* ---- echo_key: the key sent, echoed back where a client must redact it ---- */

static const char *const echo_key_kinds[] = {
	"content", "model", "arguments", "arguments_escaped", "escaped", "escaped_error"
};

bool
answer_echo_key_kind_known(const char *name)
{
	return kind_known(echo_key_kinds, sizeof(echo_key_kinds) / sizeof(echo_key_kinds[0]), name);
}

/* the token of the Authorization header (without "Bearer "), or "" */
static const char *
sent_token(const struct chat_request *req)
{
	json_object *auth = json_object_object_get(req->headers, "authorization");
	const char *value = auth ? json_object_get_string(auth) : "";

	return strncasecmp(value, "Bearer ", 7) == 0 ? value + 7 : value;
}

/* a JSON string of text with every character written as a \u escape */
static void
sb_escaped_string(struct sbuf *b, const char *text)
{
	char		esc[8];

	sb_str(b, "\"");
	for (const unsigned char *c = (const unsigned char *) text; *c; c++)
	{
		snprintf(esc, sizeof(esc), "\\u%04x", *c);
		sb_str(b, esc);
	}
	sb_str(b, "\"");
}

/* The answer of echo_key=KIND (see README.md). */
static void
build_echo_key(struct answer *a, const struct chat_request *req, const char *kind)
{
	const char *token = sent_token(req);
	json_object *message = NULL;
	json_object *body;
	struct sbuf b = {0};

	if (strcmp(kind, "escaped") == 0 || strcmp(kind, "escaped_error") == 0)
	{
		if (strcmp(kind, "escaped") == 0)
			sb_str(&b, "{\"id\":\"gen-echo-key\",\"object\":\"chat.completion\",\"choices\":[{\"index\":0,"
				   "\"finish_reason\":\"stop\",\"message\":{\"role\":\"assistant\",\"content\":");
		else
			sb_str(&b, "{\"error\":{\"code\":400,\"message\":");
		sb_escaped_string(&b, token);
		sb_str(&b, "}}");
		if (strcmp(kind, "escaped") == 0)
			sb_str(&b, "]}");
		answer_set_text(a, strcmp(kind, "escaped") == 0 ? 200 : 400, "application/json", b.p, b.len);
		free(b.p);
		return;
	}
	if (strcmp(kind, "arguments") == 0 || strcmp(kind, "arguments_escaped") == 0)
	{
		json_object *fn = json_object_new_object();
		json_object *call = json_object_new_object();
		json_object *calls = json_object_new_array();

		/* the arguments text: {"key":"<key>"}, the key \u-escaped or not */
		sb_str(&b, "{\"key\":");
		if (strcmp(kind, "arguments_escaped") == 0)
			sb_escaped_string(&b, token);
		else
		{
			json_object *key = json_object_new_string(token);

			sb_str(&b, json_text(key));
			json_object_put(key);
		}
		sb_str(&b, "}");
		json_object_object_add(fn, "name", json_object_new_string("echo_key"));
		json_object_object_add(fn, "arguments", json_object_new_string_len(b.p, (int) b.len));
		free(b.p);
		json_object_object_add(call, "id", json_object_new_string("call_0_standin"));
		json_object_object_add(call, "type", json_object_new_string("function"));
		json_object_object_add(call, "function", fn);
		json_object_array_add(calls, call);
		message = assistant_message(json_object_new_string(""));
		json_object_object_add(message, "tool_calls", calls);
	}
	else if (strcmp(kind, "content") == 0)
	{
		sb_str(&b, "you sent: Bearer ");
		sb_str(&b, token);
		message = assistant_message(json_object_new_string_len(b.p, (int) b.len));
		free(b.p);
	}
	else
		message = assistant_message(json_object_new_string("ok"));
	body = completion_json(req, "gen-echo-key", 0, choice_json(message, "stop", "stop"), 2);
	if (strcmp(kind, "model") == 0)
		json_object_object_add(body, "model", json_object_new_string(token));
	answer_set_json(a, 200, body);
}

/* 400 whose message is n bytes long */
static json_object *
long_error_body(long long n)
{
	char	   *message = xmalloc((size_t) n + 1);
	json_object *body;

	memset(message, 'x', (size_t) n);
	message[n] = '\0';
	body = answer_error_json(400, message);
	free(message);
	return body;
}

/* OpenRouter's words for a request larger than the context window */
static json_object *
context_error_body(long long window, long long requested)
{
	char		message[400];

	snprintf(message, sizeof(message),
			 "This endpoint's maximum context length is %lld tokens. However, you requested about %lld tokens (%lld of text input). Please reduce the length of either one, or use the context-compression plugin to compress your prompt automatically.",
			 window, requested, requested);
	return answer_error_json(400, message);
}

/* ---- putting it together ------------------------------------------------- */

/* The JSON body for status / error200 / completions. */
static void
build_json_answer(struct answer *a, const struct chat_request *req,
				  const struct directives *d)
{
	long long	fill = -1;
	unsigned int status = 200;
	json_object *body;

	if (d->status >= 300)
	{
		status = (unsigned int) d->status;
		body = error_for_status((int) d->status, req->model);
	}
	else if (d->error200)
		body = error_200_body((int) d->error200);
	else
	{
		if (d->status >= 200)
			status = (unsigned int) d->status;
		body = completion_body(a, req, d, &fill);
	}
	answer_add_ratelimit(a, body, d, d->status == 429);
	if (fill >= 0)
		answer_set_json_filled(a, status, body, fill);
	else
		answer_set_json(a, status, body);
}

void
answer_build(struct answer *a, const struct chat_request *req,
			 const struct directives *d)
{
	memset(a, 0, sizeof(*a));
	if (d->replay)
		build_replay(a, d->replay);
	else if (d->empty)
		answer_set_text(a, 200, "application/json", "", 0);
	else if (d->garbage)
		answer_set_text(a, 200, "application/json", GARBAGE_BODY,
						strlen(GARBAGE_BODY));
	else if (d->odd)
		build_odd(a, d->odd);
	else if (d->auth_error)
		answer_set_json(a, 401, auth_error_body(req));
	else if (d->echo_key)
		build_echo_key(a, req, d->echo_key);
	else if (d->error_bytes >= 0)
		answer_set_json(a, 400, long_error_body(d->error_bytes));
	else if (d->context > 0 && request_prompt_tokens(req) > d->context)
		answer_set_json(a, 400, context_error_body(d->context, request_prompt_tokens(req)));
	else
		build_json_answer(a, req, d);

	if (d->replay || d->empty || d->garbage || d->odd || d->echo_key)
		answer_add_ratelimit(a, NULL, d, false);
	answer_add_retry_after(a, d);
	if (d->pad && !d->empty)
		answer_prepend(a, KEEPALIVE_PADDING);
	a->truncate = d->truncate;
}
