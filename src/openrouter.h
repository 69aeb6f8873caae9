/*
 * openrouter.h
 *		Declarations shared by the openrouter extension's source files.
 *
 * The extension is layered (see README.md, "Code layout"):
 *   guc.c        settings (openrouter.*)
 *   api_key.c    where the API key comes from, and the per-role key store
 *   request.c    JSON body and HTTP headers from a call's arguments (request.h)
 *   request_cache.c  the transaction's request cache (request_cache.h)
 *   transport.c  the per-backend libcurl multi engine: concurrency, retries, waits
 *   response.c   turning what came back into jsonb or a classified failure
 *   failure.c    raising a failure as an ERROR or rendering it as {"error": ...}
 *   chat.c       the SQL entry point openrouter_chat()
 *   batch.c      openrouter_chat_batch(): many requests, concurrently
 *   prefetch.c   openrouter_prefetch(): concurrency for row-at-a-time SQL (prefetch.h)
 *   computed.c   computed columns (computed.h)
 *   tool_*.c     SQL functions as tools (see tools.h for the list)
 */
#ifndef OPENROUTER_H
#define OPENROUTER_H

#include "postgres.h"

#include "lib/stringinfo.h"
#include "utils/jsonb.h"

/* ---------- guc.c ---------- */

extern char *or_base_url;
extern char *or_session_api_key;
extern char *or_site_url;
extern char *or_site_name;
extern char *or_ca_file;
extern char *or_proxy;
extern int	or_timeout_ms;
extern int	or_connect_timeout_ms;
extern int	or_max_retries;
extern int	or_max_retry_wait_ms;
extern int	or_max_response_kb;
extern int	or_request_cache_kb;
extern int	or_max_concurrency;
extern int	or_requests_per_minute;
extern int	or_on_error_setting;		/* -1: none, else an OrOnError */

extern void or_define_gucs(void);
extern void or_restore_refused_settings(void);
extern bool or_on_error_overrides(void);	/* 1.0's SQL: the setting overrides */

/* ---------- failure.c ---------- */

/*
 * Everything that can go wrong with one request, in one shape: whether it is
 * raised as an ERROR (on_error => 'abort') or returned as {"error": ...}
 * (on_error => 'ignore').  Strings are palloc'd.
 */
typedef struct OrFailure
{
	char		sqlstate[6];	/* e.g. "OR429"; see README's error table */
	int			http_status;	/* 0 when no HTTP status was received */
	const char *code_name;		/* error.code for failures without a status */
	bool		retryable;		/* would a later attempt possibly succeed? */
	int			attempts;		/* attempts made (0: nothing was sent) */
	char	   *message;		/* errmsg text (without trailing period) */
	char	   *detail;			/* errdetail, or NULL */
	char	   *hint;			/* errhint, or NULL */
	Jsonb	   *service_error;	/* the service's own "error" object, or NULL */
	Jsonb	   *response;		/* a 200 response that carried the error */
} OrFailure;

typedef enum OrOnError
{
	OR_ON_ERROR_ABORT,
	OR_ON_ERROR_IGNORE
} OrOnError;

extern OrOnError or_effective_on_error(text *on_error);
extern int	or_swap_context_on_error(int on_error);	/* -1: no context */
extern OrFailure *or_failure_new(const char *sqlstate, const char *code_name,
								 bool retryable, const char *fmt,...) pg_attribute_printf(4, 5);
extern void or_failure_add_detail(OrFailure *failure, const char *fmt,...) pg_attribute_printf(2, 3);
extern void or_failure_raise(const OrFailure *failure) pg_attribute_noreturn();
extern Jsonb *or_failure_to_jsonb(const OrFailure *failure);

/* ---------- api_key.c ---------- */

typedef struct OrClientConfig
{
	char	   *api_key;		/* never NULL once resolved */
	char	   *site_url;		/* role default, or NULL */
	char	   *site_name;		/* role default, or NULL */
} OrClientConfig;

extern OrClientConfig or_resolve_client_config(void);
extern void or_wipe_string(char *secret);

/* ---------- request.c (the arguments and building: request.h) ---------- */

/* A request ready to go on the wire. */
typedef struct OrHttpRequest
{
	char	   *body;			/* JSON text */
	size_t		body_len;
	char	   *site_url;		/* HTTP-Referer, or NULL */
	char	   *site_name;		/* X-OpenRouter-Title and X-Title, or NULL */
} OrHttpRequest;

extern const char *or_header_unsafe_char(const char *value, bool allow_spaces);

/* ---------- transport.c ---------- */

/* What one finished attempt produced, before any interpretation. */
typedef struct OrHttpResult
{
	int			curl_code;		/* CURLcode; 0 when the transfer completed */
	char	   *curl_error;		/* libcurl's explanation, or NULL */
	long		http_status;	/* 0 when no status line arrived */
	bool		too_large;		/* body went over openrouter.max_response_size */
	char	   *body;			/* NUL-terminated; may contain NULs before */
	size_t		body_len;
	double		retry_after_ms; /* from Retry-After or X-RateLimit-Reset; <0: none */
} OrHttpResult;

/*
 * One request as the engine sees it.  The caller fills "request"; the engine
 * fills "result" (a successful answer) or "failure" (after the last attempt).
 */
typedef struct OrExchange
{
	OrHttpRequest request;
	bool		abort_on_failure;	/* raise the final failure at once */
	Jsonb	   *result;
	OrFailure  *failure;
	int			attempts;
	void	   *engine_state;	/* private to transport.c */
} OrExchange;

extern void or_send(OrExchange **exchanges, int count, int max_in_flight);
extern double or_epoch_ms(void);
extern double or_reset_delay_ms(const char *reset_text);

/* ---------- response.c ---------- */

/*
 * Interpret one attempt.  Returns NULL and sets *result on success, or returns
 * the failure (with retryable set, and *retry_after_ms set when the service
 * said how long to wait).
 */
extern OrFailure *or_interpret_response(const OrHttpResult *http,
										Jsonb **result, double *retry_after_ms);

#endif							/* OPENROUTER_H */
