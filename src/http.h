/*
 * http.h
 *		The per-backend HTTP engine (http.c): POST requests over one libcurl
 *		multi handle, many at once in this one thread.  It knows nothing of
 *		OpenRouter, keys, settings or SPI: its caller says what to send and
 *		reads what came back.
 */
#ifndef OPENROUTER_HTTP_H
#define OPENROUTER_HTTP_H

#include "postgres.h"

#include <time.h>

#include "datatype/timestamp.h"

/* What to send, and how.  The engine copies what it keeps. */
typedef struct OrHttpOptions
{
	const char *url;
	const char *const *headers; /* "Name: value" lines; "Name:" removes one */
	int			n_headers;
	const char *body;			/* POSTed; must stay valid until the call is
								 * released.  NULL: a GET */
	size_t		body_len;
	long		timeout_ms;		/* whole attempt; 0: none */
	long		connect_timeout_ms;
	size_t		max_body;		/* a larger body ends the transfer (too_large) */
	const char *ca_file;		/* or NULL */
	const char *proxy;			/* or NULL */
	const char *user_agent;
} OrHttpOptions;

/* What one finished transfer produced, before any interpretation. */
typedef struct OrHttpResult
{
	int			curl_code;		/* CURLcode; 0 when the transfer completed */
	const char *curl_error;		/* libcurl's explanation, or NULL */
	long		http_status;	/* 0 when no status line arrived */
	bool		too_large;		/* the body went over max_body */
	const char *body;			/* NUL-terminated; may contain NULs before */
	size_t		body_len;
	const char *retry_after;	/* the Retry-After header, or "" */
	const char *ratelimit_reset;	/* the X-RateLimit-Reset header, or "" */
} OrHttpResult;

/* one transfer; private to the engine */
typedef struct OrHttpCall OrHttpCall;

/* Start a POST; owner is handed back when it finishes.  ERROR if it cannot start. */
extern OrHttpCall *or_http_start(const OrHttpOptions *options, void *owner);

/* Let libcurl act on what was started, without waiting. */
extern void or_http_kick(void);

/*
 * Wait for socket activity, libcurl's own timer, the time "wake" (0: no such
 * time) or an interrupt (CHECK_FOR_INTERRUPTS runs here), and let libcurl act.
 */
extern void or_http_wait(TimestampTz wake);

/*
 * The next finished transfer, or NULL: sets *owner and *result (whose
 * pointers stay valid until or_http_release).
 */
extern OrHttpCall *or_http_finished(void **owner, OrHttpResult *result);

/* Free a transfer, finished or not. */
extern void or_http_release(OrHttpCall *call);

/* Free every transfer still started (after an ERROR, or at exit). */
extern void or_http_release_all(void);

/* An HTTP date (Retry-After) as a Unix time, or -1. */
extern time_t or_http_parse_date(const char *text);

#endif							/* OPENROUTER_HTTP_H */
