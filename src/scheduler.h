/*
 * scheduler.h
 *		Sending a batch of chat completions requests (scheduler.c): how many
 *		at once, when, and how often each is tried.  Everything it needs comes
 *		in an OrSchedule, filled once per statement by the SQL entry points
 *		(send.c) or by any other driver (a background worker): no settings,
 *		no SPI, no key lookup in here.
 */
#ifndef OPENROUTER_SCHEDULER_H
#define OPENROUTER_SCHEDULER_H

#include "postgres.h"

#include "datatype/timestamp.h"
#include "utils/jsonb.h"

#include "failure.h"

/* Who pays and who is named: resolved once (api_key.c), wiped after use. */
typedef struct OrClientConfig
{
	char	   *api_key;		/* never NULL once resolved; "": no Authorization (public GET /models) */
	char	   *site_url;		/* role default, or NULL (UTF-8) */
	char	   *site_name;		/* role default, or NULL (UTF-8) */
} OrClientConfig;

/*
 * Which of OpenRouter's endpoints a request is for: its path below the base
 * URL, its method, and what a successful answer looks like (completion.c).
 * Chat completions are the zero value.
 */
typedef enum OrEndpoint
{
	OR_ENDPOINT_CHAT = 0,		/* POST /chat/completions */
	OR_ENDPOINT_EMBEDDINGS,		/* POST /embeddings */
	OR_ENDPOINT_RERANK,			/* POST /rerank */
	OR_ENDPOINT_MODELS,			/* GET /models */
	OR_ENDPOINT_KEY				/* GET /key */
} OrEndpoint;

extern const char *or_endpoint_path(OrEndpoint endpoint);
extern bool or_endpoint_is_get(OrEndpoint endpoint);

/* A request ready to go on the wire. */
typedef struct OrHttpRequest
{
	OrEndpoint	endpoint;
	char	   *body;			/* JSON text (NULL for a GET) */
	size_t		body_len;
	char	   *model;			/* the model it names (for the usage ledger) */
	char	   *site_url;		/* HTTP-Referer, or NULL */
	char	   *site_name;		/* X-OpenRouter-Title and X-Title, or NULL */
} OrHttpRequest;

/*
 * One request as the scheduler sees it.  The caller fills "request"; the
 * scheduler fills "result" (a successful answer) or "failure" (after the last
 * attempt).
 */
typedef struct OrExchange
{
	OrHttpRequest request;
	bool		abort_on_failure;	/* raise the final failure at once */
	Jsonb	   *result;
	OrFailure  *failure;
	int			attempts;
	int			http_status;	/* of the last attempt; 0: none arrived */
	double		latency_ms;		/* first attempt's start to the outcome */
} OrExchange;

struct OrSchedule;

/* What one attempt came to, as a pacer sees it. */
typedef enum OrPaceOutcome
{
	OR_PACE_SUCCESS,
	OR_PACE_RATE_LIMITED,		/* HTTP 429 */
	OR_PACE_FAILED,				/* any other failure */
	OR_PACE_ABANDONED			/* stopped before it finished (an ERROR) */
} OrPaceOutcome;

/* A pacer's answer to "may an attempt start now?" */
typedef enum OrPaceAdmission
{
	OR_PACE_START,				/* yes: counted as started */
	OR_PACE_WAIT,				/* not yet: the caller's own pacing
								 * (requests_per_minute, a batch's share of
								 * concurrency) */
	OR_PACE_HELD				/* not yet: the service's limit (a 429's pause,
								 * or the rate found after one) */
} OrPaceAdmission;

/*
 * Who decides when an attempt may start beyond max_in_flight (limiter.c,
 * chosen by send.c).  The scheduler calls open() once per batch, admit()
 * before every attempt, outcome() after every attempt, and close() on every
 * path; the handle is the pacer's own.
 */
typedef struct OrPacer
{
	void	   *(*open) (const struct OrSchedule *schedule);

	/*
	 * May an attempt start now, with in_flight of the batch's already
	 * running?  Unless OR_PACE_START, ask again at *wake (0: once an attempt
	 * of the batch has finished).  The scheduler treats a hold like a wait
	 * before a retry: one longer than max_retry_wait, or past
	 * statement_timeout, fails the request as rate-limited instead.
	 */
	OrPaceAdmission (*admit) (void *handle, int in_flight, TimestampTz *wake);

	/*
	 * An attempt finished (or was abandoned: then only in_flight is
	 * meaningful).  named: the service said how long to wait;
	 * retry_at: when this request will be tried again (0: never); in_flight:
	 * the batch's attempts running, this one included.
	 */
	void		(*outcome) (void *handle, OrPaceOutcome outcome, bool named,
							TimestampTz retry_at, int in_flight);
	void		(*close) (void *handle);
} OrPacer;

/*
 * Called once per exchange as soon as its outcome (result or failure) is
 * final, before a failure is raised: what the caller must know of every
 * request that went out, whatever happens to the batch afterwards.
 */
typedef void (*OrExchangeDone) (const OrExchange *exchange, void *arg);

/*
 * Called before an exchange's first attempt (never before a retry): NULL
 * lets it go; a failure returned instead is its outcome (nothing is sent,
 * on_done is called as for any outcome); *later (with NULL) holds it back
 * until a request of the batch in flight is done.  Budgets use it
 * (budget.c).
 */
typedef OrFailure *(*OrExchangeAdmit) (OrExchange *exchange, void *arg, bool *later);

/* The limits and the destination of one batch. */
typedef struct OrSchedule
{
	int			max_in_flight;	/* requests in flight at once (>= 1) */
	int			requests_per_minute;	/* for the pacer: spacing of starts; 0: none */
	bool		max_in_flight_shared;	/* for the pacer: max_in_flight bounds the
										 * attempts of every schedule sharing it,
										 * server-wide (the background workers) */
	int			max_retries;	/* further attempts after the first */
	int			max_retry_wait_ms;	/* longest wait before a retry */
	int			timeout_ms;		/* one attempt */
	int			connect_timeout_ms;
	int			max_response_kb;	/* largest body accepted */
	const char *base_url;		/* ".../api/v1"; "/chat/completions" is added */
	const char *ca_file;		/* or NULL */
	const char *proxy;			/* or NULL */
	OrClientConfig client;
	const OrPacer *pacer;		/* or NULL: no pacing beyond max_in_flight */
	OrExchangeDone on_done;		/* or NULL */
	void	   *on_done_arg;
	OrExchangeAdmit admit;		/* or NULL */
	void	   *admit_arg;
} OrSchedule;

/*
 * Send every exchange, at most schedule->max_in_flight at once, retrying
 * what may succeed later.  An exchange with abort_on_failure raises its
 * failure at once (every transfer still running is stopped).
 */
extern void or_schedule_run(OrExchange **exchanges, int count,
							const OrSchedule *schedule);

#endif							/* OPENROUTER_SCHEDULER_H */
