/*
 * scheduler.c
 *		Sending a batch of requests: how many at once, when, and how often.
 *
 * What it owns:
 *	- up to schedule->max_in_flight requests in flight at once, each attempt
 *	  started when the schedule's pacer admits it (limiter.c: per key, for
 *	  the whole server), which hears of every outcome (a single call is a
 *	  batch of one: one code path);
 *	- retries of transient failures, honouring Retry-After and
 *	  X-RateLimit-Reset (a header, or the error body's metadata), else
 *	  exponential backoff with jitter, bounded by max_retries,
 *	  max_retry_wait and the statement's remaining time (statement_timeout);
 *	- the request's headers (the key, attribution), wiped when done;
 *	- schedule->admit before a request's first attempt: it may refuse it (its
 *	  failure is then the outcome, nothing sent) or hold it back until a
 *	  request in flight is done (budgets, budget.c).
 *
 * Everything it needs comes in the OrSchedule: it reads no setting and runs
 * no SPI, so that any driver (the SQL functions through send.c, a background
 * worker) can use it.  It drives http.c (the wire) and completion.c (what
 * came back); neither knows of it.
 *
 * Rule kept here: every transfer is released on every path (PG_FINALLY
 * releases what an ERROR or a cancel leaves running).
 */
#include "postgres.h"

#include <math.h>

#include "common/pg_prng.h"
#include "utils/memutils.h"
#include "utils/timeout.h"
#include "utils/timestamp.h"

#include "completion.h"
#include "http.h"
#include "scheduler.h"

#define OR_USER_AGENT "openrouter-postgres/1.0"
#define BACKOFF_FIRST_MS 500.0
#define BACKOFF_MAX_MS 30000.0
#define MAX_HEADERS 8

typedef enum TransferState
{
	TRANSFER_WAITING,			/* not started, or waiting to be retried */
	TRANSFER_IN_FLIGHT,
	TRANSFER_DONE
} TransferState;

/* one request of a batch, across its attempts */
typedef struct Transfer
{
	OrExchange *exchange;
	struct Batch *batch;
	TransferState state;
	TimestampTz not_before;		/* retry time */
	TimestampTz first_start;	/* of its first attempt */
	char	   *url;				/* base URL and the endpoint's path */
	char	   *headers[MAX_HEADERS];	/* built at the first attempt, wiped when done */
	int			n_headers;
	OrHttpCall *call;			/* while in flight */
} Transfer;

/* everything one call of or_schedule_run() works on */
typedef struct Batch
{
	const OrSchedule *schedule;
	Transfer   *transfers;
	int			count;
	int			next_fresh;		/* transfers[next_fresh..] never started */
	Transfer  **retrying;		/* waiting for their retry time */
	int			n_retrying;
	int			in_flight;
	int			done;
	int			max_in_flight;	/* the caller's limit */
	const OrPacer *pacer;		/* or NULL */
	void	   *pace;			/* the pacer's handle, while open */
	char	   *base_url;		/* without a trailing slash */
	OrClassifyContext classify;
	MemoryContext attempt_context;	/* what reading one answer allocates */
} Batch;

/* ---------- endpoints ---------- */

static const struct
{
	const char *path;
	bool		get;
}			endpoints[] = {
	[OR_ENDPOINT_CHAT] = {"/chat/completions", false},
	[OR_ENDPOINT_EMBEDDINGS] = {"/embeddings", false},
	[OR_ENDPOINT_RERANK] = {"/rerank", false},
	[OR_ENDPOINT_MODELS] = {"/models", true},
	[OR_ENDPOINT_KEY] = {"/key", true},
};

const char *
or_endpoint_path(OrEndpoint endpoint)
{
	return endpoints[endpoint].path;
}

bool
or_endpoint_is_get(OrEndpoint endpoint)
{
	return endpoints[endpoint].get;
}

/* ---------- headers ---------- */

static void
add_header(Transfer *t, const char *name, const char *value)
{
	Assert(t->n_headers < MAX_HEADERS);
	t->headers[t->n_headers++] = value ? psprintf("%s: %s", name, value) : pstrdup(name);
}

static void
build_headers(Transfer *t, const OrClientConfig *client)
{
	const OrHttpRequest *req = &t->exchange->request;
	const char *site_url = req->site_url ? req->site_url : client->site_url;
	const char *site_name = req->site_name ? req->site_name : client->site_name;
	char	   *bearer = psprintf("Bearer %s", client->api_key);

	if (client->api_key[0] != '\0')
		add_header(t, "Authorization", bearer);
	explicit_bzero(bearer, strlen(bearer));
	pfree(bearer);
	if (req->body != NULL)
		add_header(t, "Content-Type", "application/json");
	add_header(t, "Accept", "application/json");
	if (site_url)
		add_header(t, "HTTP-Referer", site_url);
	if (site_name)
	{
		add_header(t, "X-OpenRouter-Title", site_name);
		add_header(t, "X-Title", site_name);
	}
	/* no "Expect: 100-continue" round trip for large bodies */
	add_header(t, "Expect:", NULL);
}

static void
wipe_headers(Transfer *t)
{
	for (int i = 0; i < t->n_headers; i++)
	{
		explicit_bzero(t->headers[i], strlen(t->headers[i]));
		pfree(t->headers[i]);
	}
	t->n_headers = 0;
}

/* ---------- starting ---------- */

static void
start_attempt(Batch *b, Transfer *t)
{
	const OrSchedule *s = b->schedule;
	OrHttpOptions options;

	if (t->n_headers == 0)
		build_headers(t, &s->client);
	memset(&options, 0, sizeof(options));
	options.url = t->url;
	options.headers = (const char *const *) t->headers;
	options.n_headers = t->n_headers;
	options.body = t->exchange->request.body;
	options.body_len = t->exchange->request.body_len;
	options.timeout_ms = s->timeout_ms;
	options.connect_timeout_ms = s->connect_timeout_ms;
	options.max_body = (size_t) s->max_response_kb * 1024;
	options.ca_file = s->ca_file;
	options.proxy = s->proxy;
	options.user_agent = OR_USER_AGENT;

	t->call = or_http_start(&options, t);
	t->state = TRANSFER_IN_FLIGHT;
	if (t->exchange->attempts++ == 0)
		t->first_start = GetCurrentTimestamp();
	b->in_flight++;
}

/* ---------- when to retry ---------- */

/* now, in milliseconds since the Unix epoch (as X-RateLimit-Reset counts) */
static double
epoch_ms(void)
{
	TimestampTz now = GetCurrentTimestamp();

	return (double) now / 1000.0 +
		(double) (POSTGRES_EPOCH_JDATE - UNIX_EPOCH_JDATE) * SECS_PER_DAY * 1000.0;
}

/*
 * Milliseconds until an X-RateLimit-Reset time (epoch milliseconds, as
 * OpenRouter sends it; epoch seconds are accepted too); <0 when the text is
 * no such time, or the time is already past (clocks differ): then back off.
 */
static double
reset_delay_ms(const char *reset_text)
{
	char	   *end;
	double		reset;
	double		now_ms = epoch_ms();

	if (reset_text == NULL || reset_text[0] == '\0')
		return -1;
	reset = strtod(reset_text, &end);
	if (end == reset_text || !isfinite(reset) || reset <= 0)
		return -1;
	if (reset < 1e11)
		reset *= 1000.0;
	return (reset > now_ms) ? reset - now_ms : -1;
}

/* milliseconds to wait as the response asks; <0 when it doesn't */
static double
service_delay_ms(const OrHttpResult *http, const char *body_reset)
{
	double		delay;

	if (http->retry_after[0] != '\0')
	{
		char	   *end;
		double		seconds = strtod(http->retry_after, &end);

		if (end != http->retry_after && *end == '\0' && isfinite(seconds) && seconds >= 0)
			return seconds * 1000.0;
		else
		{
			time_t		when = or_http_parse_date(http->retry_after);

			if (when != (time_t) -1)
				return Max(0.0, (double) when * 1000.0 - epoch_ms());
		}
	}
	delay = reset_delay_ms(http->ratelimit_reset);
	return (delay >= 0) ? delay : reset_delay_ms(body_reset);
}

static double
backoff_delay_ms(int attempts)
{
	double		ceiling = Min(BACKOFF_MAX_MS,
							  BACKOFF_FIRST_MS * pow(2.0, Max(0, attempts - 1)));

	/* "equal jitter": at least half the ceiling, at most all of it */
	return ceiling / 2.0 + pg_prng_double(&pg_global_prng_state) * ceiling / 2.0;
}

/*
 * Decide whether a failed attempt is tried again.  Returns the time of the
 * retry, or 0 (and says in the failure why not).
 */
static TimestampTz
retry_time(const Batch *b, const Transfer *t, OrFailure *failure, double delay_ms)
{
	const OrSchedule *s = b->schedule;
	int			attempts = t->exchange->attempts;
	TimestampTz retry_at;

	if (!failure->retryable)
		return 0;
	if (attempts > s->max_retries)
	{
		if (s->max_retries > 0)
			or_failure_add_detail(failure, "Gave up after %d attempts (openrouter.max_retries = %d).",
								  attempts, s->max_retries);
		return 0;
	}

	if (delay_ms < 0)
		delay_ms = backoff_delay_ms(attempts);
	else if (delay_ms > s->max_retry_wait_ms)
	{
		or_failure_add_detail(failure, "OpenRouter asked to wait %.0f ms before retrying, longer than openrouter.max_retry_wait (%d ms).",
							  delay_ms, s->max_retry_wait_ms);
		return 0;
	}
	delay_ms = Min(delay_ms, (double) s->max_retry_wait_ms);

	retry_at = TimestampTzPlusMilliseconds(GetCurrentTimestamp(), (int64) delay_ms);
	if (get_timeout_active(STATEMENT_TIMEOUT) &&
		retry_at >= get_timeout_finish_time(STATEMENT_TIMEOUT))
	{
		or_failure_add_detail(failure, "A retry in %.0f ms would start after statement_timeout expires.",
							  delay_ms);
		return 0;
	}
	return retry_at;
}

/*
 * A start held back by the service's limit (another session's 429 counts
 * too) is judged like a wait before a retry: held past max_retry_wait, or
 * past statement_timeout, the request fails as rate-limited now rather than
 * wait.  Returns that failure, or NULL to wait.
 */
static OrFailure *
hold_failure(const Batch *b, TimestampTz until)
{
	const OrSchedule *s = b->schedule;
	long		wait_ms = TimestampDifferenceMilliseconds(GetCurrentTimestamp(), until);
	OrFailure  *failure;

	if (wait_ms <= s->max_retry_wait_ms &&
		!(get_timeout_active(STATEMENT_TIMEOUT) &&
		  until >= get_timeout_finish_time(STATEMENT_TIMEOUT)))
		return NULL;
	failure = or_failure_new(or_http_errcode(429), "rate_limited", true,
							 "openrouter is rate-limiting requests with this API key");
	or_failure_add_detail(failure, "Requests with this key are held back for %ld ms after a 429 answer (seen by this or another session of the server), longer than openrouter.max_retry_wait (%d ms) or the statement's remaining time allow; nothing was sent.",
						  wait_ms, s->max_retry_wait_ms);
	failure->hint = pstrdup(_("Send fewer requests at once, or raise openrouter.max_retry_wait to wait for the limit to reset; openrouter_rate_limits() shows the pacing of each key."));
	return failure;
}

/* tell the pacer what an attempt came to */
static void
report_outcome(Batch *b, const OrFailure *failure, bool named, TimestampTz retry_at)
{
	OrPaceOutcome outcome = OR_PACE_SUCCESS;

	if (b->pacer == NULL)
		return;
	if (failure != NULL)
		outcome = (failure->http_status == 429 || failure->sqlerrcode == or_http_errcode(429))
			? OR_PACE_RATE_LIMITED : OR_PACE_FAILED;
	b->pacer->outcome(b->pace, outcome, named, retry_at, b->in_flight);
}

/* ---------- finishing ---------- */

/* a wait before a retry this long is logged (shorter ones: DEBUG1) */
#define LONG_RETRY_WAIT_MS 3000

/*
 * Retries and rate-limit waits are visible: a DEBUG1 line each, a LOG line
 * when the wait is long.  (Not a libcurl callback: ereport is safe here.)
 */
static void
report_retry(const Batch *b, const Transfer *t, const OrFailure *failure, TimestampTz retry_at)
{
	long		wait_ms = TimestampDifferenceMilliseconds(GetCurrentTimestamp(), retry_at);

	ereport(wait_ms >= LONG_RETRY_WAIT_MS ? LOG : DEBUG1,
			(errmsg("openrouter: retrying a request to model \"%s\" in %ld ms (attempt %d of %d): %s",
					t->exchange->request.model ? t->exchange->request.model : "",
					wait_ms, t->exchange->attempts + 1, b->schedule->max_retries + 1,
					failure->message)));
}

static void
finish_attempt(Batch *b, Transfer *t, OrHttpCall *call, const OrHttpResult *http)
{
	OrFailure  *failure;
	Jsonb	   *result = NULL;
	char	   *body_reset = NULL;
	TimestampTz retry_at = 0;
	double		asked_ms = -1;
	MemoryContext batch_context;

	/*
	 * Reading an answer allocates several times its size (the text in the
	 * database encoding, the parser's tree): only the Jsonb, or the failure,
	 * is kept for the batch, so a batch of N answers holds N answers.
	 */
	batch_context = MemoryContextSwitchTo(b->attempt_context);
	failure = or_classify(http, t->exchange->request.endpoint, &b->classify,
						  &result, &body_reset);
	if (failure != NULL)
	{
		asked_ms = service_delay_ms(http, body_reset);
		retry_at = retry_time(b, t, failure, asked_ms);
	}
	MemoryContextSwitchTo(batch_context);
	if (result != NULL)
		result = memcpy(palloc(VARSIZE(result)), result, VARSIZE(result));
	if (failure != NULL)
		failure = or_failure_copy(failure);
	MemoryContextReset(b->attempt_context);
	report_outcome(b, failure, asked_ms >= 0, retry_at);

	t->call = NULL;
	or_http_release(call);
	b->in_flight--;

	t->exchange->http_status = (int) http->http_status;
	if (failure != NULL && retry_at != 0)
	{
		report_retry(b, t, failure, retry_at);
		t->state = TRANSFER_WAITING;
		t->not_before = retry_at;
		b->retrying[b->n_retrying++] = t;
		return;
	}
	t->exchange->latency_ms =
		(double) (GetCurrentTimestamp() - t->first_start) / 1000.0;
	if (failure == NULL)
		t->exchange->result = result;
	else
	{
		failure->attempts = t->exchange->attempts;
		t->exchange->failure = failure;
	}
	if (b->schedule->on_done != NULL)
		b->schedule->on_done(t->exchange, b->schedule->on_done_arg);
	if (failure != NULL && t->exchange->abort_on_failure)
		or_failure_raise(failure);	/* releases the batch on the way out */
	t->state = TRANSFER_DONE;
	b->done++;
	wipe_headers(t);
}

/* an exchange refused before an attempt (admit callback, pacer's hold): its outcome */
static void
refuse_transfer(Batch *b, Transfer *t, OrFailure *failure)
{
	failure->attempts = t->exchange->attempts;	/* 0 unless a retry was held */
	t->exchange->failure = failure;
	if (b->schedule->on_done != NULL)
		b->schedule->on_done(t->exchange, b->schedule->on_done_arg);
	if (t->exchange->abort_on_failure)
		or_failure_raise(failure);
	t->state = TRANSFER_DONE;
	b->done++;
}

static void
collect_finished(Batch *b)
{
	OrHttpCall *call;
	OrHttpResult http;
	void	   *owner;

	while ((call = or_http_finished(&owner, &http)) != NULL)
		finish_attempt(b, (Transfer *) owner, call, &http);
}

/* ---------- the loop ---------- */

/*
 * The next transfer that could start now (a due retry first), or NULL; with
 * take, it is taken off its list.  *wake gets the earliest retry time.
 */
static Transfer *
next_to_start(Batch *b, TimestampTz now, TimestampTz *wake, bool take)
{
	for (int i = 0; i < b->n_retrying; i++)
	{
		Transfer   *t = b->retrying[i];

		if (t->not_before <= now)
		{
			if (take)
				b->retrying[i] = b->retrying[--b->n_retrying];
			return t;
		}
		if (*wake == 0 || t->not_before < *wake)
			*wake = t->not_before;
	}
	if (b->next_fresh < b->count)
		return take ? &b->transfers[b->next_fresh++] : &b->transfers[b->next_fresh];
	return NULL;
}

static void
run_batch(Batch *b)
{
	while (b->done < b->count)
	{
		TimestampTz now = GetCurrentTimestamp();
		TimestampTz wake = 0;
		bool		started = false;
		bool		refused = false;

		while (b->in_flight < b->max_in_flight &&
			   next_to_start(b, now, &wake, false) != NULL)
		{
			TimestampTz gate = 0;
			OrPaceAdmission admission = OR_PACE_START;
			OrFailure  *held = NULL;
			Transfer   *t;

			if (b->pacer != NULL)
				admission = b->pacer->admit(b->pace, b->in_flight, &gate);
			if (admission == OR_PACE_HELD)
				held = hold_failure(b, gate);
			if (admission != OR_PACE_START && held == NULL)
			{
				if (gate != 0)
					wake = (wake == 0) ? gate : Min(wake, gate);
				break;
			}
			t = next_to_start(b, now, &wake, true);
			if (t == NULL)
				break;
			if (held != NULL)
			{
				refuse_transfer(b, t, held);
				refused = true;
				continue;
			}
			if (t->exchange->attempts == 0 && b->schedule->admit != NULL)
			{
				bool		later = false;
				OrFailure  *failure = b->schedule->admit(t->exchange, b->schedule->admit_arg, &later);

				if (later && b->in_flight > 0)
				{
					b->next_fresh--;	/* first in line again once one is done */
					break;
				}
				if (failure != NULL)
				{
					refuse_transfer(b, t, failure);
					refused = true;
					continue;
				}
			}
			start_attempt(b, t);
			started = true;
		}
		if (started)
			or_http_kick();
		else if (!refused)
			or_http_wait(wake);
		collect_finished(b);
	}
}

/* every transfer, header and buffer of the batch, on every path */
static void
release_batch(Batch *b)
{
	for (int i = 0; i < b->count; i++)
	{
		Transfer   *t = &b->transfers[i];

		if (t->call != NULL)
		{
			or_http_release(t->call);
			if (b->pace != NULL)
				b->pacer->outcome(b->pace, OR_PACE_ABANDONED, false, 0, b->in_flight--);
		}
		t->call = NULL;
		wipe_headers(t);
	}
	or_http_release_all();
	if (b->pace != NULL)
		b->pacer->close(b->pace);
	b->pace = NULL;
}

void
or_schedule_run(OrExchange **exchanges, int count, const OrSchedule *schedule)
{
	Batch		b;
	size_t		base_len;

	if (count == 0)
		return;

	memset(&b, 0, sizeof(b));
	b.schedule = schedule;
	b.count = count;
	b.max_in_flight = Max(1, Min(schedule->max_in_flight, count));
	b.pacer = schedule->pacer;
	base_len = strlen(schedule->base_url);
	while (base_len > 0 && schedule->base_url[base_len - 1] == '/')
		base_len--;
	b.base_url = pnstrdup(schedule->base_url, base_len);
	b.attempt_context = AllocSetContextCreate(CurrentMemoryContext, "openrouter answer",
											  ALLOCSET_DEFAULT_SIZES);
	b.classify.secret = schedule->client.api_key;
	b.classify.timeout_ms = schedule->timeout_ms;
	b.classify.max_response_kb = schedule->max_response_kb;

	b.transfers = palloc0(count * sizeof(Transfer));
	b.retrying = palloc(count * sizeof(Transfer *));
	for (int i = 0; i < count; i++)
	{
		b.transfers[i].exchange = exchanges[i];
		b.transfers[i].batch = &b;
		b.transfers[i].url = psprintf("%s%s", b.base_url,
									  or_endpoint_path(exchanges[i]->request.endpoint));
		b.transfers[i].state = TRANSFER_WAITING;
		exchanges[i]->attempts = 0;
		exchanges[i]->result = NULL;
		exchanges[i]->failure = NULL;
		exchanges[i]->http_status = 0;
		exchanges[i]->latency_ms = 0;
	}

	PG_TRY();
	{
		if (b.pacer != NULL)
			b.pace = b.pacer->open(schedule);
		run_batch(&b);
	}
	PG_FINALLY();
	{
		release_batch(&b);
	}
	PG_END_TRY();
	pfree(b.transfers);
	pfree(b.retrying);
	pfree(b.base_url);
	MemoryContextDelete(b.attempt_context);
}
