/*
 * standin.h - declarations shared by the files of the local OpenRouter
 * stand-in (test/standin/).  Each .c file owns one concern:
 *
 *   standin.c     command line, daemon start/stop, signals
 *   request.c     HTTP side: request context, routing, auth, waiting,
 *                 turning an answer into an MHD response
 *   directives.c  parsing "standin/..." model names into directives
 *   answers.c     answers to valid chat requests: completions, echo,
 *                 stats, tool calls, big bodies, fixtures, padding
 *   structured.c  content that fits (or not) a request's JSON Schema
 *   endpoints.c   /embeddings and /rerank
 *   errors.c      error bodies, Retry-After and X-RateLimit-* decoration
 *   catalog.c     GET /models and GET /key
 *   counters.c    thread-safe counters (connections, requests,
 *                 in-flight, per-key "times" counters)
 *   util.c        small helpers: time, files, JSON, base64url, log file
 */
#ifndef STANDIN_H
#define STANDIN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include <json-c/json.h>
#include <microhttpd.h>

#define STANDIN_USER_ID "user_standin"
#define STANDIN_PROVIDER "Standin"

/* ---- global configuration (standin.c) ---------------------------------- */

struct standin_config
{
	const char *fixtures_dir;	/* --fixtures, may be NULL */
	volatile int stopping;		/* set once SIGTERM/SIGINT arrived */
};

extern struct standin_config g_cfg;

/* ---- HTTP callbacks (request.c) ---------------------------------------- */

enum MHD_Result standin_access(void *cls, struct MHD_Connection *conn,
							   const char *url, const char *method,
							   const char *version, const char *upload_data,
							   size_t *upload_data_size, void **con_cls);
void		standin_request_completed(void *cls, struct MHD_Connection *conn,
									  void **con_cls,
									  enum MHD_RequestTerminationCode toe);
void		standin_connection_notify(void *cls, struct MHD_Connection *conn,
									  void **socket_context,
									  enum MHD_ConnectionNotificationCode toe);

/* ---- directives (directives.c) ----------------------------------------- */

enum reset_in
{
	RESET_IN_BOTH = 0,
	RESET_IN_BODY,
	RESET_IN_HEADER
};

struct directives
{
	char	   *buf;			/* owned copy of the directive text */

	/* content directives (never limited by times=) */
	bool		echo;
	bool		stats;
	bool		stats_reset;
	long long	big;			/* -1: not given */
	const char *tool_calls;		/* into buf, NULL: not given */
	bool		misfit;			/* structured output that does not fit */
	bool		misfit_json;	/* structured output that is not JSON */
	long long	context;		/* 0: not given, else a context window */
	long long	ratelimit;		/* requests/s allowed per key and token; -1: none */
	bool		ratelimit_stats;	/* content: the rate limit's counts for key */

	/* failure directives (limited by times=/key=) */
	long long	latency_ms;		/* -1: not given */
	bool		hang;
	long long	status;			/* 0: not given */
	bool		reset;
	bool		truncate;
	bool		empty;
	bool		pad;
	bool		garbage;
	long long	error200;		/* 0: not given, else error.code */
	bool		choice_error;
	const char *replay;			/* into buf */
	const char *odd;			/* into buf: an odd 200 body (answers.c) */
	bool		auth_error;		/* 401 whose error echoes Authorization */
	const char *echo_key;		/* into buf: the key echoed in an answer (answers.c) */
	long long	error_bytes;	/* -1: not given, else a 400 with so long a message */
	long long	retry_after;	/* -1: not given */
	long long	retry_after_date;	/* -1: not given */
	long long	ratelimit_reset_ms; /* -1: not given */
	enum reset_in reset_in;

	/* counting */
	long long	times;			/* -1: unlimited */
	const char *key;			/* into buf, NULL: whole model name */
};

/* Parse the model name.  Returns 0 on success, -1 with a message in err. */
int			directives_parse(const char *model, struct directives *d,
							 char *err, size_t errlen);
void		directives_free(struct directives *d);
/* Apply times=/key= counting: drops the failure directives when spent. */
void		directives_apply_times(struct directives *d, const char *model);

/* ---- counters (counters.c) --------------------------------------------- */

struct stats_snapshot
{
	long long	connections;
	long long	requests;
	long long	in_flight;
	long long	max_in_flight;
};

void		counters_init(void);
void		counters_destroy(void);
void		counters_connection_opened(void);
void		counters_request_received(void);
void		counters_in_flight_enter(void);
void		counters_in_flight_leave(void);
struct stats_snapshot counters_stats(bool reset_max);
/* Increment the counter of key, return its new value (1 for the first). */
long long	counters_key_hit(const char *key);
/* The rate limit of "ratelimit=R": a token bucket of R tokens refilled at R
 * per second, one per key and bearer token.  Takes a token; false: none. */
bool		counters_rate_take(const char *key, const char *token, long long per_second);
struct rate_counts
{
	long long	allowed;
	long long	limited;
};
/* What the buckets of key answered so far, over every token. */
struct rate_counts counters_rate_counts(const char *key);
/* Next generation number (1, 2, ...). */
long long	counters_next_generation(void);

/* ---- answers (answers.c) ----------------------------------------------- */

/* What request.c knows about a parsed, valid chat request. */
struct chat_request
{
	const char *method;
	const char *path;
	json_object *headers;		/* lowercased name -> value (borrowed) */
	json_object *body;			/* parsed request body (borrowed) */
	const char *model;			/* body.model or a default */
};

/* A finished answer, ready for request.c to send. */
struct answer
{
	unsigned int status;
	const char *content_type;
	char	   *head;			/* owned, first bytes of the body */
	size_t		head_len;
	size_t		fill_len;		/* then this many fill_ch bytes */
	char		fill_ch;
	char	   *tail;			/* owned, last bytes of the body */
	size_t		tail_len;
	bool		truncate;		/* send about half, then drop */
	char		gen_id[64];		/* X-Generation-Id, "" for none */
	json_object *extra_headers; /* owned, name -> string or [string] */
};

json_object *answer_error_json(int code, const char *message);
void		answer_set_json(struct answer *a, unsigned int status,
							json_object *body);
void		answer_set_text(struct answer *a, unsigned int status,
							const char *content_type, const char *text,
							size_t len);
void		answer_free(struct answer *a);

/* Add a response header (a second value for the same name is kept too). */
void		answer_add_header(struct answer *a, const char *name,
							  const char *value);

/* Is NAME one of the odd= bodies? */
bool		answer_odd_kind_known(const char *name);
/* Is NAME one of the echo_key= answers? */
bool		answer_echo_key_kind_known(const char *name);

/* Build the answer a valid chat request gets, following directives. */
void		answer_build(struct answer *a, const struct chat_request *req,
						 const struct directives *d);

/* Text of the last user message, malloc'd ("" when there is none). */
char	   *request_last_user_text(const struct chat_request *req);
/* Tokens the request's messages count (4 characters a token). */
long long	request_prompt_tokens(const struct chat_request *req);

/* ---- structured output (structured.c) ---------------------------------- */

/*
 * The content answering a request with a json_schema response_format: JSON
 * that fits the schema, or (misfit) that does not, or (not_json) no JSON
 * at all.  NULL when the request asks for no schema.
 */
json_object *structured_content(const struct chat_request *req, bool misfit,
								bool not_json);

/* ---- other endpoints (endpoints.c) --------------------------------------- */

/* POST /embeddings and POST /rerank; false when the path is neither */
bool		answer_endpoint(struct answer *a, const struct chat_request *req);

/* ---- GET routes (catalog.c) ------------------------------------------- */

json_object *catalog_models_json(void);
json_object *catalog_key_json(const char *token);

/* ---- error bodies (errors.c) ------------------------------------------- */

json_object *error_for_status(int code, const char *model);
json_object *error_200_body(int code);
void		answer_add_ratelimit(struct answer *a, json_object *body,
								 const struct directives *d, bool is_429);
void		answer_add_retry_after(struct answer *a, const struct directives *d);

/* ---- utilities (util.c) ------------------------------------------------ */

long long	now_ms(void);
char	   *read_file(const char *path, size_t *len);
char	   *b64url_decode(const char *in, size_t *outlen);
const char *json_text(json_object *o);
json_object *json_parse_strict(const char *s, size_t n);
json_object *json_string_from_bytes(const char *s, size_t n);
void		http_date(time_t t, char *buf, size_t n);
char	   *xstrdup(const char *s);
void	   *xmalloc(size_t n);

int			log_open(const char *path);
bool		log_enabled(void);
void		log_close(void);
void		log_request(const char *method, const char *path,
						json_object *headers, json_object *body);

#endif
