/*
 * request.c - the HTTP side of the stand-in: MHD callbacks, the
 * per-request context (upload buffer), request logging, routing, auth and
 * body validation, directive handling (latency/hang waits that notice a
 * client disconnect, abrupt resets), and sending a struct answer as an
 * MHD response (streamed through a callback when it is big or must be
 * truncated).
 */
#define _GNU_SOURCE
#include "standin.h"

#include <ctype.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define CHAT_PATH "/api/v1/chat/completions"
#define EMBEDDINGS_PATH "/api/v1/embeddings"
#define RERANK_PATH "/api/v1/rerank"
#define MODELS_PATH "/api/v1/models"
#define KEY_PATH "/api/v1/key"
#define DEFAULT_MODEL "openrouter/auto"
#define MAX_UPLOAD ((size_t) 512 * 1024 * 1024)
#define WAIT_SLICE_MS 50
#define HANG_MS 600000LL
#define STREAM_BLOCK (64 * 1024)

struct req_ctx
{
	char	   *buf;			/* request body, NUL-terminated */
	size_t		len;
	size_t		cap;
	bool		too_big;
	bool		in_flight;		/* counted in counters_in_flight_* */
};

/* A body being streamed: the answer plus how much of it to send. */
struct body_stream
{
	struct answer a;
	size_t		total;
	size_t		limit;
};

/* ---- MHD connection / request lifecycle -------------------------------- */

void
standin_connection_notify(void *cls, struct MHD_Connection *conn,
						  void **socket_context,
						  enum MHD_ConnectionNotificationCode toe)
{
	(void) cls;
	(void) conn;
	(void) socket_context;
	if (toe == MHD_CONNECTION_NOTIFY_STARTED)
		counters_connection_opened();
}

void
standin_request_completed(void *cls, struct MHD_Connection *conn,
						  void **con_cls, enum MHD_RequestTerminationCode toe)
{
	struct req_ctx *ctx = *con_cls;

	(void) cls;
	(void) conn;
	(void) toe;
	if (ctx == NULL)
		return;
	if (ctx->in_flight)
		counters_in_flight_leave();
	free(ctx->buf);
	free(ctx);
	*con_cls = NULL;
}

static void
append_upload(struct req_ctx *ctx, const char *data, size_t n)
{
	if (ctx->too_big || ctx->len + n > MAX_UPLOAD)
	{
		ctx->too_big = true;
		return;
	}
	if (ctx->len + n + 1 > ctx->cap)
	{
		size_t		cap = ctx->cap ? ctx->cap : 4096;

		while (cap < ctx->len + n + 1)
			cap *= 2;
		ctx->buf = realloc(ctx->buf, cap);
		if (ctx->buf == NULL)
			abort();
		ctx->cap = cap;
	}
	memcpy(ctx->buf + ctx->len, data, n);
	ctx->len += n;
	ctx->buf[ctx->len] = '\0';
}

/* ---- sending ------------------------------------------------------------- */

static ssize_t
stream_reader(void *cls, uint64_t pos64, char *buf, size_t max)
{
	struct body_stream *s = cls;
	const struct answer *a = &s->a;
	size_t		pos = (size_t) pos64;
	size_t		n = 0;

	if (pos >= s->limit)
		return s->limit < s->total ? MHD_CONTENT_READER_END_WITH_ERROR
			: MHD_CONTENT_READER_END_OF_STREAM;
	if (max > s->limit - pos)
		max = s->limit - pos;
	while (n < max)
	{
		size_t		p = pos + n;
		size_t		chunk;

		if (p < a->head_len)
		{
			chunk = a->head_len - p < max - n ? a->head_len - p : max - n;
			memcpy(buf + n, a->head + p, chunk);
		}
		else if (p < a->head_len + a->fill_len)
		{
			size_t		left = a->head_len + a->fill_len - p;

			chunk = left < max - n ? left : max - n;
			memset(buf + n, a->fill_ch, chunk);
		}
		else
		{
			size_t		off = p - a->head_len - a->fill_len;

			chunk = a->tail_len - off < max - n ? a->tail_len - off : max - n;
			memcpy(buf + n, a->tail + off, chunk);
		}
		n += chunk;
	}
	return (ssize_t) n;
}

static void
stream_free(void *cls)
{
	struct body_stream *s = cls;

	answer_free(&s->a);
	free(s);
}

static void
add_headers(struct MHD_Response *r, const struct answer *a)
{
	if (a->content_type)
		MHD_add_response_header(r, "Content-Type", a->content_type);
	if (a->gen_id[0])
		MHD_add_response_header(r, "X-Generation-Id", a->gen_id);
	MHD_add_response_header(r, "Access-Control-Allow-Origin", "*");
	MHD_add_response_header(r, "Access-Control-Expose-Headers", "X-Generation-Id,cf-ray");
	if (a->extra_headers == NULL)
		return;
	json_object_object_foreach(a->extra_headers, name, value)
	{
		if (json_object_is_type(value, json_type_array))
		{
			for (size_t i = 0; i < json_object_array_length(value); i++)
				MHD_add_response_header(r, name,
										json_object_get_string(json_object_array_get_idx(value, i)));
		}
		else
			MHD_add_response_header(r, name, json_object_get_string(value));
	}
}

/*
 * Turn the answer into an MHD response with its headers.  A plain body is
 * handed over as a buffer; a filled or truncated one is streamed by
 * stream_reader, which then owns the answer.  *a is left empty.
 */
static struct MHD_Response *
make_response(struct answer *a)
{
	struct MHD_Response *r;
	struct body_stream *s;
	size_t		total = a->head_len + a->fill_len + a->tail_len;

	if (a->fill_len == 0 && a->tail_len == 0 && !a->truncate)
	{
		r = MHD_create_response_from_buffer(a->head_len, a->head,
											MHD_RESPMEM_MUST_FREE);
		if (r == NULL)
			return NULL;
		a->head = NULL;
		add_headers(r, a);
		answer_free(a);
		return r;
	}
	s = xmalloc(sizeof(*s));
	s->a = *a;
	memset(a, 0, sizeof(*a));
	s->total = total;
	s->limit = s->a.truncate ? total / 2 : total;
	r = MHD_create_response_from_callback(total, STREAM_BLOCK, stream_reader,
										  s, stream_free);
	if (r == NULL)
	{
		stream_free(s);
		return NULL;
	}
	add_headers(r, &s->a);
	return r;
}

/* Queue the answer (consumed). */
static enum MHD_Result
send_answer(struct MHD_Connection *conn, struct answer *a)
{
	unsigned int status = a->status;
	struct MHD_Response *r = make_response(a);
	enum MHD_Result ret;

	if (r == NULL)
	{
		answer_free(a);
		return MHD_NO;
	}
	ret = MHD_queue_response(conn, status, r);
	MHD_destroy_response(r);
	return ret;
}

static enum MHD_Result
send_json(struct MHD_Connection *conn, unsigned int status, json_object *body)
{
	struct answer a;

	memset(&a, 0, sizeof(a));
	answer_set_json(&a, status, body);
	return send_answer(conn, &a);
}

/* {"error":{"message":M,"code":N}} without user_id (auth errors, 404). */
static json_object *
bare_error(int code, const char *message, bool code_first)
{
	json_object *err = json_object_new_object();
	json_object *body = json_object_new_object();

	if (code_first)
		json_object_object_add(err, "code", json_object_new_int(code));
	json_object_object_add(err, "message", json_object_new_string(message));
	if (!code_first)
		json_object_object_add(err, "code", json_object_new_int(code));
	json_object_object_add(body, "error", err);
	return body;
}

/* ---- request inspection -------------------------------------------------- */

static enum MHD_Result
collect_header(void *cls, enum MHD_ValueKind kind, const char *key,
			   const char *value)
{
	json_object *headers = cls;
	json_object *prev;
	char	   *name = xstrdup(key);
	const char *v = value ? value : "";

	(void) kind;
	for (char *p = name; *p; p++)
		*p = (char) tolower((unsigned char) *p);
	if (json_object_object_get_ex(headers, name, &prev))
	{
		size_t		n = (size_t) json_object_get_string_len(prev) + strlen(v) + 3;
		char	   *joined = xmalloc(n);

		snprintf(joined, n, "%s, %s", json_object_get_string(prev), v);
		json_object_object_add(headers, name, json_string_from_bytes(joined, strlen(joined)));
		free(joined);
	}
	else
		json_object_object_add(headers, name, json_string_from_bytes(v, strlen(v)));
	free(name);
	return MHD_YES;
}

static json_object *
request_headers(struct MHD_Connection *conn)
{
	json_object *headers = json_object_new_object();

	MHD_get_connection_values(conn, MHD_HEADER_KIND, collect_header, headers);
	return headers;
}

static void
log_this_request(const char *method, const char *url, json_object *headers,
				 json_object *body, const struct req_ctx *ctx)
{
	json_object *logged;

	if (!log_enabled())
		return;
	logged = body ? json_object_get(body)
		: json_string_from_bytes(ctx->buf ? ctx->buf : "", ctx->len);
	log_request(method, url, headers, logged);
	json_object_put(logged);
}

/* NULL when authorized, else the 401 message. */
static const char *
auth_problem(struct MHD_Connection *conn)
{
	const char *auth = MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
												   MHD_HTTP_HEADER_AUTHORIZATION);
	const char *token = auth;

	if (auth == NULL)
		return "Missing Authentication header";
	if (strncasecmp(auth, "Bearer ", 7) == 0)
		token = auth + 7;
	while (*token == ' ')
		token++;
	if (*token == '\0')
		return "Missing Authentication header";
	if (strstr(token, "invalid") != NULL)
		return "User not found.";
	return NULL;
}

/* NULL when the body is a usable chat request, else the 400 message. */
static const char *
body_problem(json_object *body)
{
	json_object *messages;

	if (!json_object_is_type(body, json_type_object))
		return "Invalid JSON in request body";
	if (!json_object_object_get_ex(body, "messages", &messages))
		return "Input required: specify \"prompt\" or \"messages\"";
	if (!json_object_is_type(messages, json_type_array) ||
		json_object_array_length(messages) == 0)
		return "\"messages\" must be a non-empty array";
	return NULL;
}

static const char *
request_model(json_object *body)
{
	json_object *model;

	if (json_object_object_get_ex(body, "model", &model) &&
		json_object_is_type(model, json_type_string))
		return json_object_get_string(model);
	return DEFAULT_MODEL;
}

/* ---- waiting --------------------------------------------------------------- */

/*
 * Sleep ms milliseconds in slices, watching the client socket for a
 * hang-up.  Returns false when the client went away or we are stopping.
 */
static bool
wait_for_client(struct MHD_Connection *conn, long long ms)
{
	const union MHD_ConnectionInfo *info =
		MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);
	long long	deadline = now_ms() + ms;

	while (!g_cfg.stopping)
	{
		long long	left = deadline - now_ms();
		struct pollfd p;

		if (left <= 0)
			return true;
		if (info == NULL)
		{
			struct timespec ts = {0, WAIT_SLICE_MS * 1000000L};

			nanosleep(&ts, NULL);
			continue;
		}
		p.fd = info->connect_fd;
		p.events = POLLRDHUP;
		p.revents = 0;
		if (poll(&p, 1, (int) (left < WAIT_SLICE_MS ? left : WAIT_SLICE_MS)) > 0 &&
			(p.revents & (POLLRDHUP | POLLHUP | POLLERR | POLLNVAL)))
			return false;
	}
	return false;
}

/* ---- the chat route -------------------------------------------------------- */

/* The request's Authorization header, "" when it has none. */
static const char *
bearer_token(const struct chat_request *req)
{
	json_object *auth;

	if (json_object_object_get_ex(req->headers, "authorization", &auth))
		return json_object_get_string(auth);
	return "";
}

static enum MHD_Result
handle_chat(struct MHD_Connection *conn, struct req_ctx *ctx,
			const struct chat_request *req)
{
	struct directives d;
	struct answer a;
	char		err[512];
	long long	wait_ms;

	if (directives_parse(req->model, &d, err, sizeof(err)) != 0)
	{
		directives_free(&d);
		return send_json(conn, 400, answer_error_json(400, err));
	}
	directives_apply_times(&d, req->model);
	if (d.ratelimit > 0 && !d.ratelimit_stats &&
		!counters_rate_take(d.key ? d.key : req->model, bearer_token(req), d.ratelimit))
	{
		d.status = 429;			/* at once, whatever else was asked */
		d.latency_ms = -1;
		d.hang = false;
	}
	if (!d.stats && !d.stats_reset && !d.ratelimit_stats)
	{
		counters_in_flight_enter();
		ctx->in_flight = true;
	}

	wait_ms = d.hang ? HANG_MS : d.latency_ms;
	if ((wait_ms > 0 && !wait_for_client(conn, wait_ms)) || d.reset)
	{
		directives_free(&d);
		return MHD_NO;			/* drop the connection, no response */
	}
	answer_build(&a, req, &d);
	directives_free(&d);
	return send_answer(conn, &a);
}

/* GET /models (public, as the real service) and GET /key (needs the key) */
static enum MHD_Result
route_get(struct MHD_Connection *conn, const char *url, const char *method)
{
	const char *problem;
	const char *token;

	if (strcmp(method, "GET") != 0)
		return send_json(conn, 405, bare_error(405, "Method Not Allowed", true));
	if (strcmp(url, MODELS_PATH) == 0)
		return send_json(conn, 200, catalog_models_json());
	if ((problem = auth_problem(conn)) != NULL)
		return send_json(conn, 401, bare_error(401, problem, false));
	token = MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
										MHD_HTTP_HEADER_AUTHORIZATION);
	if (strncasecmp(token, "Bearer ", 7) == 0)
		token += 7;
	while (*token == ' ')
		token++;
	return send_json(conn, 200, catalog_key_json(token));
}

static enum MHD_Result
route(struct MHD_Connection *conn, struct req_ctx *ctx, const char *url,
	  const char *method, json_object *headers, json_object *body)
{
	const char *problem;
	struct chat_request req;

	if (strcmp(url, MODELS_PATH) == 0 || strcmp(url, KEY_PATH) == 0)
		return route_get(conn, url, method);
	if (strcmp(url, CHAT_PATH) != 0 && strcmp(url, EMBEDDINGS_PATH) != 0 &&
		strcmp(url, RERANK_PATH) != 0)
		return send_json(conn, 404, bare_error(404, "Not Found", true));
	if (strcmp(method, "POST") != 0)
		return send_json(conn, 405, bare_error(405, "Method Not Allowed", true));
	if ((problem = auth_problem(conn)) != NULL)
		return send_json(conn, 401, bare_error(401, problem, false));
	if (ctx->too_big)
		return send_json(conn, 413, answer_error_json(413, "Payload too large"));

	req.method = method;
	req.path = url;
	req.headers = headers;
	req.body = body;
	if (strcmp(url, CHAT_PATH) != 0)
	{
		struct answer a;

		if (!json_object_is_type(body, json_type_object))
			return send_json(conn, 400, answer_error_json(400, "Invalid JSON in request body"));
		if (!json_object_object_get_ex(body, "model", NULL))
			return send_json(conn, 400, answer_error_json(400, "\"model\" is required"));
		req.model = request_model(body);
		answer_endpoint(&a, &req);
		return send_answer(conn, &a);
	}
	if ((problem = body_problem(body)) != NULL)
		return send_json(conn, 400, answer_error_json(400, problem));
	req.model = request_model(body);
	return handle_chat(conn, ctx, &req);
}

/* The whole request is in: log it and answer it. */
static enum MHD_Result
handle_request(struct MHD_Connection *conn, struct req_ctx *ctx,
			   const char *url, const char *method)
{
	json_object *headers = request_headers(conn);
	json_object *body = ctx->too_big ? NULL
		: json_parse_strict(ctx->buf ? ctx->buf : "", ctx->len);
	enum MHD_Result ret;

	log_this_request(method, url, headers, body, ctx);
	ret = route(conn, ctx, url, method, headers, body);
	json_object_put(body);
	json_object_put(headers);
	return ret;
}

enum MHD_Result
standin_access(void *cls, struct MHD_Connection *conn, const char *url,
			   const char *method, const char *version,
			   const char *upload_data, size_t *upload_data_size,
			   void **con_cls)
{
	struct req_ctx *ctx = *con_cls;

	(void) cls;
	(void) version;
	if (ctx == NULL)
	{
		ctx = xmalloc(sizeof(*ctx));
		memset(ctx, 0, sizeof(*ctx));
		*con_cls = ctx;
		counters_request_received();
		return MHD_YES;
	}
	if (*upload_data_size > 0)
	{
		append_upload(ctx, upload_data, *upload_data_size);
		*upload_data_size = 0;
		return MHD_YES;
	}
	return handle_request(conn, ctx, url, method);
}
