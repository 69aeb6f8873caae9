/*
 * transport.c
 *		The per-backend transfer engine: one libcurl multi handle that carries
 *		every request this backend sends to OpenRouter.
 *
 * What it owns:
 *	- connection and TLS session reuse across calls (the multi handle's
 *	  connection cache, a share handle for TLS sessions and DNS, and a pool of
 *	  easy handles), HTTP/2 multiplexing where the server offers it;
 *	- many requests in flight at once in this one thread, up to
 *	  openrouter.max_concurrency, paced by openrouter.requests_per_minute; a
 *	  429 slows the whole batch down (a single call is a batch of one: one
 *	  code path);
 *	- retries of transient failures, honouring Retry-After and
 *	  X-RateLimit-Reset, else exponential backoff with jitter, bounded by
 *	  openrouter.max_retries, openrouter.max_retry_wait and the statement's
 *	  remaining time;
 *	- waiting on the curl sockets and the process latch together, so that
 *	  pg_cancel_backend, statement_timeout and pg_terminate_backend act at
 *	  once, with PostgreSQL's own errors.
 *
 * Rules kept here: libcurl callbacks never ereport (they only touch malloc'd
 * buffers and flags); every easy handle, header list and buffer is released
 * on every path, including an ERROR thrown while waiting (PG_FINALLY).
 */
#include "openrouter.h"
#include "ledger.h"

#include <math.h>

#include <curl/curl.h>

#include "common/pg_prng.h"
#include "miscadmin.h"
#include "storage/fd.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "utils/memutils.h"
#include "utils/timeout.h"
#include "utils/timestamp.h"
#include "utils/wait_event.h"

#define OR_USER_AGENT "openrouter-postgres/1.0"
#define MAX_IDLE_EASY_HANDLES 256
#define BACKOFF_FIRST_MS 500.0
#define BACKOFF_MAX_MS 30000.0

/* a socket libcurl asked us to watch */
typedef struct WatchedSocket
{
	curl_socket_t fd;
	int			what;			/* CURL_POLL_IN, _OUT or _INOUT */
} WatchedSocket;

typedef struct Engine
{
	CURLM	   *multi;
	CURLSH	   *share;
	CURL	  **idle;			/* easy handles ready for reuse */
	int			n_idle;
	WatchedSocket *sockets;		/* malloc'd: grown inside a callback */
	int			n_sockets;
	int			sockets_capacity;
	bool		sockets_changed;
	bool		callback_out_of_memory;
	TimestampTz curl_deadline;	/* when libcurl wants a timeout call; 0: none */
	TimestampTz last_start;		/* last attempt started (requests_per_minute) */
	WaitEventSet *wait_set;
	struct Batch *current;		/* the batch or_perform() is running, or NULL */
} Engine;

static Engine engine;

struct Batch;

/*
 * One attempt on the wire: what libcurl's callbacks write.  There are at
 * most max_in_flight of these per batch, however many requests it has.
 * Everything the callbacks touch is malloc'd, never palloc'd.
 */
typedef struct Attempt
{
	struct Transfer *transfer;
	CURL	   *easy;
	char	   *body;
	size_t		body_len;
	size_t		body_capacity;
	size_t		body_limit;
	bool		too_large;
	bool		out_of_memory;
	char		retry_after[64];
	char		ratelimit_reset[64];
	char		error_buffer[CURL_ERROR_SIZE];
} Attempt;

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
	struct curl_slist *headers; /* built at the first attempt, freed when done */
	Attempt    *attempt;		/* while in flight */
} Transfer;

/* everything one call of or_perform() works on */
typedef struct Batch
{
	Transfer   *transfers;
	int			count;
	int			next_fresh;		/* transfers[next_fresh..] never started */
	Transfer  **retrying;		/* waiting for their retry time */
	int			n_retrying;
	Attempt    *free_attempts;	/* max_in_flight slots... */
	Attempt   **idle_attempts;	/* ...and the ones not in use */
	int			n_idle_attempts;
	int			in_flight;
	int			done;
	int			max_in_flight;	/* the caller's limit */
	int			limit;			/* current limit: halved on 429, regrown on success */
	int			successes;		/* since the limit last changed */
	TimestampTz paused_until;	/* after a 429, no attempt starts before this */
	const char *url;
	const OrClientConfig *config;
} Batch;

/* ---------- libcurl callbacks: no ereport, no palloc ---------- */

static size_t
write_callback(char *data, size_t size, size_t nmemb, void *userdata)
{
	Attempt    *t = (Attempt *) userdata;
	size_t		n = size * nmemb;

	if (t->body_len + n > t->body_limit)
	{
		t->too_large = true;
		return 0;				/* makes libcurl abort with CURLE_WRITE_ERROR */
	}
	if (t->body_len + n + 1 > t->body_capacity)
	{
		size_t		capacity = Max(t->body_capacity * 2, t->body_len + n + 1);
		char	   *grown;

		capacity = Max(capacity, 4096);
		grown = realloc(t->body, capacity);
		if (grown == NULL)
		{
			t->out_of_memory = true;
			return 0;
		}
		t->body = grown;
		t->body_capacity = capacity;
	}
	memcpy(t->body + t->body_len, data, n);
	t->body_len += n;
	t->body[t->body_len] = '\0';
	return n;
}

static void
copy_header_value(char *dest, size_t destsize, const char *value, size_t len)
{
	while (len > 0 && (*value == ' ' || *value == '\t'))
		value++, len--;
	while (len > 0 && (value[len - 1] == '\r' || value[len - 1] == '\n' ||
					   value[len - 1] == ' '))
		len--;
	len = Min(len, destsize - 1);
	memcpy(dest, value, len);
	dest[len] = '\0';
}

static size_t
header_callback(char *line, size_t size, size_t nitems, void *userdata)
{
	Attempt    *t = (Attempt *) userdata;
	size_t		n = size * nitems;
	static const char retry_after[] = "retry-after:";
	static const char reset[] = "x-ratelimit-reset:";

	if (n >= 5 && strncmp(line, "HTTP/", 5) == 0)
	{
		/* a new response (after a 1xx): forget what an earlier one said */
		t->retry_after[0] = '\0';
		t->ratelimit_reset[0] = '\0';
	}
	else if (n > sizeof(retry_after) - 1 &&
			 pg_strncasecmp(line, retry_after, sizeof(retry_after) - 1) == 0)
		copy_header_value(t->retry_after, sizeof(t->retry_after),
						  line + sizeof(retry_after) - 1, n - (sizeof(retry_after) - 1));
	else if (n > sizeof(reset) - 1 &&
			 pg_strncasecmp(line, reset, sizeof(reset) - 1) == 0)
		copy_header_value(t->ratelimit_reset, sizeof(t->ratelimit_reset),
						  line + sizeof(reset) - 1, n - (sizeof(reset) - 1));
	return n;
}

static int
socket_callback(CURL *easy, curl_socket_t fd, int what, void *userp, void *socketp)
{
	int			i;

	for (i = 0; i < engine.n_sockets; i++)
		if (engine.sockets[i].fd == fd)
			break;

	if (what == CURL_POLL_REMOVE)
	{
		if (i < engine.n_sockets)
		{
			engine.sockets[i] = engine.sockets[--engine.n_sockets];
			engine.sockets_changed = true;
		}
		return 0;
	}
	if (i == engine.n_sockets)
	{
		if (engine.n_sockets == engine.sockets_capacity)
		{
			int			capacity = Max(16, engine.sockets_capacity * 2);
			WatchedSocket *grown = realloc(engine.sockets, capacity * sizeof(WatchedSocket));

			if (grown == NULL)
			{
				engine.callback_out_of_memory = true;
				return -1;
			}
			engine.sockets = grown;
			engine.sockets_capacity = capacity;
		}
		engine.sockets[engine.n_sockets].fd = fd;
		engine.sockets[engine.n_sockets].what = 0;
		engine.n_sockets++;
	}
	if (engine.sockets[i].what != what)
	{
		engine.sockets[i].what = what;
		engine.sockets_changed = true;
	}
	return 0;
}

static int
timer_callback(CURLM *multi, long timeout_ms, void *userp)
{
	if (timeout_ms < 0)
		engine.curl_deadline = 0;
	else
		engine.curl_deadline = TimestampTzPlusMilliseconds(GetCurrentTimestamp(), timeout_ms);
	return 0;
}

/* account for curl's sockets in PostgreSQL's file descriptor budget */
static curl_socket_t
open_socket_callback(void *clientp, curlsocktype purpose, struct curl_sockaddr *address)
{
	curl_socket_t fd;

	if (!AcquireExternalFD())
		return CURL_SOCKET_BAD;
	fd = socket(address->family, address->socktype, address->protocol);
	if (fd == CURL_SOCKET_BAD)
		ReleaseExternalFD();
	return fd;
}

static int
close_socket_callback(void *clientp, curl_socket_t fd)
{
	int			rc = close(fd);

	ReleaseExternalFD();
	return rc;
}

/* ---------- the engine ---------- */

static void release_batch(struct Batch *b);

/*
 * At backend exit.  A FATAL error (pg_terminate_backend, postmaster death)
 * does not unwind the stack, so a batch that was running is released here;
 * this runs before the transaction's memory, which holds it, is freed.
 */
static void
engine_shutdown(int code, Datum arg)
{
	if (engine.current != NULL)
	{
		struct Batch *b = engine.current;

		engine.current = NULL;
		release_batch(b);
	}
	for (int i = 0; i < engine.n_idle; i++)
		curl_easy_cleanup(engine.idle[i]);
	engine.n_idle = 0;
	if (engine.multi)
		curl_multi_cleanup(engine.multi);
	if (engine.share)
		curl_share_cleanup(engine.share);
	engine.multi = NULL;
	engine.share = NULL;
	free(engine.sockets);
	engine.sockets = NULL;
	engine.n_sockets = engine.sockets_capacity = 0;
}

static void
engine_start(void)
{
	if (engine.multi != NULL)
		return;

	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
		ereport(ERROR,
				(errcode(ERRCODE_SYSTEM_ERROR),
				 errmsg("could not initialize libcurl")));

	engine.idle = MemoryContextAlloc(TopMemoryContext,
									 MAX_IDLE_EASY_HANDLES * sizeof(CURL *));
	engine.share = curl_share_init();
	engine.multi = curl_multi_init();
	if (engine.share == NULL || engine.multi == NULL)
	{
		engine_shutdown(0, 0);
		ereport(ERROR,
				(errcode(ERRCODE_OUT_OF_MEMORY),
				 errmsg("out of memory"),
				 errdetail("Could not create libcurl's transfer engine.")));
	}
	curl_share_setopt(engine.share, CURLSHOPT_SHARE, CURL_LOCK_DATA_SSL_SESSION);
	curl_share_setopt(engine.share, CURLSHOPT_SHARE, CURL_LOCK_DATA_DNS);
	curl_multi_setopt(engine.multi, CURLMOPT_SOCKETFUNCTION, socket_callback);
	curl_multi_setopt(engine.multi, CURLMOPT_TIMERFUNCTION, timer_callback);
	curl_multi_setopt(engine.multi, CURLMOPT_PIPELINING, (long) CURLPIPE_MULTIPLEX);
	curl_multi_setopt(engine.multi, CURLMOPT_MAXCONNECTS, (long) MAX_IDLE_EASY_HANDLES);
	before_shmem_exit(engine_shutdown, 0);
}

static CURL *
take_easy_handle(void)
{
	CURL	   *easy;

	if (engine.n_idle > 0)
	{
		easy = engine.idle[--engine.n_idle];
		curl_easy_reset(easy);
		return easy;
	}
	easy = curl_easy_init();
	if (easy == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_OUT_OF_MEMORY),
				 errmsg("out of memory"),
				 errdetail("Could not create a libcurl handle.")));
	return easy;
}

static void
return_easy_handle(CURL *easy)
{
	if (engine.n_idle < MAX_IDLE_EASY_HANDLES)
		engine.idle[engine.n_idle++] = easy;
	else
		curl_easy_cleanup(easy);
}

/* ---------- one transfer ---------- */

/* ---------- one transfer ---------- */

static void
append_header(Transfer *t, const char *name, const char *value)
{
	char	   *line = value ? psprintf("%s: %s", name, value) : pstrdup(name);
	struct curl_slist *list = curl_slist_append(t->headers, line);

	explicit_bzero(line, strlen(line));
	pfree(line);
	if (list == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_OUT_OF_MEMORY),
				 errmsg("out of memory")));
	t->headers = list;
}

static void
build_headers(Transfer *t, const OrClientConfig *config)
{
	const OrHttpRequest *req = &t->exchange->request;
	const char *site_url = req->site_url ? req->site_url : config->site_url;
	const char *site_name = req->site_name ? req->site_name : config->site_name;
	char	   *bearer = psprintf("Bearer %s", config->api_key);

	append_header(t, "Authorization", bearer);
	or_wipe_string(bearer);
	append_header(t, "Content-Type", "application/json");
	append_header(t, "Accept", "application/json");
	if (site_url)
		append_header(t, "HTTP-Referer", site_url);
	if (site_name)
	{
		append_header(t, "X-OpenRouter-Title", site_name);
		append_header(t, "X-Title", site_name);
	}
	/* no "Expect: 100-continue" round trip for large bodies */
	append_header(t, "Expect:", NULL);
}

static void
free_headers(Transfer *t)
{
	for (struct curl_slist *h = t->headers; h != NULL; h = h->next)
		explicit_bzero(h->data, strlen(h->data));
	curl_slist_free_all(t->headers);
	t->headers = NULL;
}

static void
release_attempt(Batch *b, Attempt *a)
{
	if (a->easy != NULL)
	{
		curl_multi_remove_handle(engine.multi, a->easy);
		return_easy_handle(a->easy);
		a->easy = NULL;
	}
	a->transfer = NULL;
	b->idle_attempts[b->n_idle_attempts++] = a;
}

/* free what curl and the callbacks allocated, on every path */
static void
release_batch(Batch *b)
{
	for (int i = 0; i < b->count; i++)
	{
		Transfer   *t = &b->transfers[i];

		if (t->attempt != NULL)
			release_attempt(b, t->attempt);
		t->attempt = NULL;
		free_headers(t);
	}
	for (int i = 0; i < b->max_in_flight; i++)
	{
		free(b->free_attempts[i].body);
		b->free_attempts[i].body = NULL;
	}
}

static void
configure_easy_handle(Attempt *a, CURL *easy, const char *url)
{
	const OrHttpRequest *req = &a->transfer->exchange->request;

	curl_easy_setopt(easy, CURLOPT_URL, url);
	curl_easy_setopt(easy, CURLOPT_PRIVATE, a);
	curl_easy_setopt(easy, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(easy, CURLOPT_SHARE, engine.share);
	curl_easy_setopt(easy, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(easy, CURLOPT_FOLLOWLOCATION, 0L);
	curl_easy_setopt(easy, CURLOPT_HTTP_VERSION, (long) CURL_HTTP_VERSION_2TLS);
	/* over TLS, wait to learn (by ALPN) whether HTTP/2 can multiplex
	 * before opening more connections; plain HTTP is always HTTP/1.1 here */
	curl_easy_setopt(easy, CURLOPT_PIPEWAIT, (long) (strncmp(url, "https:", 6) == 0));
	curl_easy_setopt(easy, CURLOPT_TCP_KEEPALIVE, 1L);
	curl_easy_setopt(easy, CURLOPT_USERAGENT, OR_USER_AGENT);
	curl_easy_setopt(easy, CURLOPT_ACCEPT_ENCODING, "");
	curl_easy_setopt(easy, CURLOPT_HTTPHEADER, a->transfer->headers);
	curl_easy_setopt(easy, CURLOPT_POST, 1L);
	curl_easy_setopt(easy, CURLOPT_POSTFIELDS, req->body);
	curl_easy_setopt(easy, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t) req->body_len);
	curl_easy_setopt(easy, CURLOPT_TIMEOUT_MS, (long) or_timeout_ms);
	curl_easy_setopt(easy, CURLOPT_CONNECTTIMEOUT_MS, (long) or_connect_timeout_ms);
	curl_easy_setopt(easy, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t) a->body_limit);
	curl_easy_setopt(easy, CURLOPT_WRITEFUNCTION, write_callback);
	curl_easy_setopt(easy, CURLOPT_WRITEDATA, a);
	curl_easy_setopt(easy, CURLOPT_HEADERFUNCTION, header_callback);
	curl_easy_setopt(easy, CURLOPT_HEADERDATA, a);
	curl_easy_setopt(easy, CURLOPT_ERRORBUFFER, a->error_buffer);
	curl_easy_setopt(easy, CURLOPT_OPENSOCKETFUNCTION, open_socket_callback);
	curl_easy_setopt(easy, CURLOPT_CLOSESOCKETFUNCTION, close_socket_callback);
	if (or_ca_file && or_ca_file[0] != '\0')
		curl_easy_setopt(easy, CURLOPT_CAINFO, or_ca_file);
	if (or_proxy && or_proxy[0] != '\0')
		curl_easy_setopt(easy, CURLOPT_PROXY, or_proxy);
}

static void
start_attempt(Batch *b, Transfer *t)
{
	Attempt    *a;
	CURL	   *easy;
	CURLMcode	rc;

	Assert(b->n_idle_attempts > 0);
	if (t->headers == NULL)
		build_headers(t, b->config);
	easy = take_easy_handle();
	a = b->idle_attempts[--b->n_idle_attempts];
	a->transfer = t;
	a->body_len = 0;
	a->too_large = false;
	a->out_of_memory = false;
	a->retry_after[0] = '\0';
	a->ratelimit_reset[0] = '\0';
	a->error_buffer[0] = '\0';
	a->easy = easy;
	t->attempt = a;
	configure_easy_handle(a, easy, b->url);

	rc = curl_multi_add_handle(engine.multi, easy);
	if (rc != CURLM_OK)
		ereport(ERROR,
				(errcode(ERRCODE_SYSTEM_ERROR),
				 errmsg("could not start a request to openrouter"),
				 errdetail("libcurl: %s.", curl_multi_strerror(rc))));
	t->state = TRANSFER_IN_FLIGHT;
	t->exchange->attempts++;
	b->in_flight++;
	engine.last_start = GetCurrentTimestamp();
}

/* now, in milliseconds since the Unix epoch (as X-RateLimit-Reset counts) */
double
or_epoch_ms(void)
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
double
or_reset_delay_ms(const char *reset_text)
{
	char	   *end;
	double		reset = strtod(reset_text, &end);
	double		now_ms = or_epoch_ms();

	if (end == reset_text || reset <= 0)
		return -1;
	if (reset < 1e11)
		reset *= 1000.0;
	return (reset > now_ms) ? reset - now_ms : -1;
}

/* milliseconds to wait as the response's headers ask; <0 when they don't */
static double
header_retry_delay_ms(const Attempt *a)
{
	double		now_ms = or_epoch_ms();

	if (a->retry_after[0] != '\0')
	{
		char	   *end;
		double		seconds = strtod(a->retry_after, &end);

		if (end != a->retry_after && *end == '\0' && seconds >= 0)
			return seconds * 1000.0;
		else
		{
			time_t		when = curl_getdate(a->retry_after, NULL);

			if (when != (time_t) -1)
				return Max(0.0, (double) when * 1000.0 - now_ms);
		}
	}
	if (a->ratelimit_reset[0] != '\0')
		return or_reset_delay_ms(a->ratelimit_reset);
	return -1;
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
retry_time(const Attempt *a, OrFailure *failure, double service_delay_ms)
{
	int			attempts = a->transfer->exchange->attempts;
	double		delay_ms;
	TimestampTz retry_at;

	if (!failure->retryable)
		return 0;
	if (attempts > or_max_retries)
	{
		if (or_max_retries > 0)
			or_failure_add_detail(failure, "Gave up after %d attempts (openrouter.max_retries = %d).",
						  attempts, or_max_retries);
		return 0;
	}

	delay_ms = header_retry_delay_ms(a);
	if (delay_ms < 0)
		delay_ms = service_delay_ms;
	if (delay_ms < 0)
		delay_ms = backoff_delay_ms(attempts);
	else if (delay_ms > or_max_retry_wait_ms)
	{
		or_failure_add_detail(failure, "OpenRouter asked to wait %.0f ms before retrying, longer than openrouter.max_retry_wait (%d ms).",
					  delay_ms, or_max_retry_wait_ms);
		return 0;
	}
	delay_ms = Min(delay_ms, (double) or_max_retry_wait_ms);

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
 * Rate limits are the whole batch's business: a 429 halves how many
 * requests may be in flight and holds back every new attempt until the
 * time the service named; successes grow the limit back one at a time.
 */
static void
adapt_to_outcome(Batch *b, const OrFailure *failure, TimestampTz retry_at)
{
	if (failure == NULL)
	{
		if (b->limit < b->max_in_flight && ++b->successes >= b->limit)
		{
			b->limit++;
			b->successes = 0;
		}
		return;
	}
	if (failure->http_status == 429 || strcmp(failure->sqlstate, "OR429") == 0)
	{
		/* one cut per pause: a burst of 429s answered together halves once */
		if (GetCurrentTimestamp() >= b->paused_until)
		{
			b->limit = Max(1, b->limit / 2);
			b->successes = 0;
		}
		if (retry_at > b->paused_until)
			b->paused_until = retry_at;
	}
}

static void
finish_attempt(Attempt *a, CURLcode code)
{
	Transfer   *t = a->transfer;
	Batch	   *b = t->batch;
	OrHttpResult http;
	OrFailure  *failure;
	Jsonb	   *result = NULL;
	double		service_delay_ms = -1;
	TimestampTz retry_at = 0;

	memset(&http, 0, sizeof(http));
	http.curl_code = code;
	curl_easy_getinfo(a->easy, CURLINFO_RESPONSE_CODE, &http.http_status);
	http.curl_error = (code != CURLE_OK) ?
		(a->error_buffer[0] ? a->error_buffer : (char *) curl_easy_strerror(code)) : NULL;
	http.too_large = a->too_large;
	http.body = a->body ? a->body : "";
	http.body_len = a->body_len;

	if (a->out_of_memory)
		ereport(ERROR,
				(errcode(ERRCODE_OUT_OF_MEMORY),
				 errmsg("out of memory"),
				 errdetail("Could not buffer a response of %zu bytes.", a->body_len)));

	failure = or_interpret_response(&http, &result, &service_delay_ms);
	if (failure != NULL)
		retry_at = retry_time(a, failure, service_delay_ms);
	adapt_to_outcome(b, failure, retry_at);

	t->attempt = NULL;
	release_attempt(b, a);
	b->in_flight--;

	if (failure == NULL)
		t->exchange->result = result;
	else if (retry_at != 0)
	{
		t->state = TRANSFER_WAITING;
		t->not_before = retry_at;
		b->retrying[b->n_retrying++] = t;
		return;
	}
	else
	{
		failure->attempts = t->exchange->attempts;
		t->exchange->failure = failure;
		if (t->exchange->abort_on_failure)
			or_failure_raise(failure);	/* releases the batch on the way out */
	}
	t->state = TRANSFER_DONE;
	b->done++;
	free_headers(t);
}

/* ---------- waiting ---------- */

static void
rebuild_wait_set(void)
{
	if (engine.wait_set != NULL && !engine.sockets_changed)
		return;
	if (engine.wait_set != NULL)
		FreeWaitEventSet(engine.wait_set);
	engine.wait_set = NULL;

	engine.wait_set = CreateWaitEventSet(TopMemoryContext, engine.n_sockets + 2);
	AddWaitEventToSet(engine.wait_set, WL_LATCH_SET, PGINVALID_SOCKET, MyLatch, NULL);
	AddWaitEventToSet(engine.wait_set, WL_EXIT_ON_PM_DEATH, PGINVALID_SOCKET, NULL, NULL);
	for (int i = 0; i < engine.n_sockets; i++)
	{
		uint32		events = 0;

		if (engine.sockets[i].what & CURL_POLL_IN)
			events |= WL_SOCKET_READABLE;
		if (engine.sockets[i].what & CURL_POLL_OUT)
			events |= WL_SOCKET_WRITEABLE;
		AddWaitEventToSet(engine.wait_set, events, engine.sockets[i].fd, NULL, NULL);
	}
	engine.sockets_changed = false;
}

static long
ms_until(TimestampTz when, TimestampTz now)
{
	long		secs;
	int			usecs;

	if (when <= now)
		return 0;
	TimestampDifference(now, when, &secs, &usecs);
	return secs * 1000 + (usecs + 999) / 1000;
}

static void
drive_curl(curl_socket_t fd, int mask)
{
	int			running;
	CURLMcode	rc = curl_multi_socket_action(engine.multi, fd, mask, &running);

	if (rc != CURLM_OK)
		ereport(ERROR,
				(errcode(ERRCODE_SYSTEM_ERROR),
				 errmsg("openrouter transfer engine failed"),
				 errdetail("libcurl: %s.", curl_multi_strerror(rc))));
	if (engine.callback_out_of_memory)
	{
		engine.callback_out_of_memory = false;
		ereport(ERROR,
				(errcode(ERRCODE_OUT_OF_MEMORY),
				 errmsg("out of memory")));
	}
}

/* Wait for socket activity, curl's timer, the wake time or an interrupt. */
static void
wait_for_activity(TimestampTz wake)
{
	WaitEvent	events[64];
	TimestampTz now = GetCurrentTimestamp();
	long		timeout_ms;
	int			n;

	if (engine.curl_deadline != 0 && (wake == 0 || engine.curl_deadline < wake))
		wake = engine.curl_deadline;
	timeout_ms = (wake == 0) ? -1 : ms_until(wake, now);

	rebuild_wait_set();
	n = WaitEventSetWait(engine.wait_set, timeout_ms, events, lengthof(events),
						 PG_WAIT_EXTENSION);
	for (int i = 0; i < n; i++)
	{
		if (events[i].events & WL_LATCH_SET)
		{
			ResetLatch(MyLatch);
			CHECK_FOR_INTERRUPTS();
		}
		else if (events[i].events & (WL_SOCKET_READABLE | WL_SOCKET_WRITEABLE))
		{
			int			mask = 0;

			if (events[i].events & WL_SOCKET_READABLE)
				mask |= CURL_CSELECT_IN;
			if (events[i].events & WL_SOCKET_WRITEABLE)
				mask |= CURL_CSELECT_OUT;
			drive_curl(events[i].fd, mask);
		}
	}
	if (engine.curl_deadline != 0 && engine.curl_deadline <= GetCurrentTimestamp())
	{
		engine.curl_deadline = 0;
		drive_curl(CURL_SOCKET_TIMEOUT, 0);
	}
	CHECK_FOR_INTERRUPTS();
}

static void
collect_finished(void)
{
	CURLMsg    *msg;
	int			left;

	while ((msg = curl_multi_info_read(engine.multi, &left)) != NULL)
	{
		Attempt    *a;

		if (msg->msg != CURLMSG_DONE)
			continue;
		curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **) &a);
		finish_attempt(a, msg->data.result);
	}
}

/* earliest time a new attempt may start: rate limits and 429 pauses */
static TimestampTz
start_gate(const Batch *b)
{
	TimestampTz gate = b->paused_until;

	if (or_requests_per_minute > 0 && engine.last_start != 0)
	{
		TimestampTz paced = engine.last_start +
			(TimestampTz) (60.0 * USECS_PER_SEC / or_requests_per_minute);

		gate = Max(gate, paced);
	}
	return gate;
}

/* the next transfer to start now (a due retry first), or NULL */
static Transfer *
next_to_start(Batch *b, TimestampTz now, TimestampTz *wake)
{
	for (int i = 0; i < b->n_retrying; i++)
	{
		Transfer   *t = b->retrying[i];

		if (t->not_before <= now)
		{
			b->retrying[i] = b->retrying[--b->n_retrying];
			return t;
		}
		if (*wake == 0 || t->not_before < *wake)
			*wake = t->not_before;
	}
	if (b->next_fresh < b->count)
		return &b->transfers[b->next_fresh++];
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

		while (b->in_flight < b->limit)
		{
			TimestampTz gate = start_gate(b);
			Transfer   *t;

			if (gate > now)
			{
				if (b->next_fresh < b->count || b->n_retrying > 0)
					wake = (wake == 0) ? gate : Min(wake, gate);
				break;
			}
			t = next_to_start(b, now, &wake);
			if (t == NULL)
				break;
			start_attempt(b, t);
			started = true;
		}
		if (started)
			drive_curl(CURL_SOCKET_TIMEOUT, 0);
		else
			wait_for_activity(wake);
		collect_finished();
	}
}

static void
or_perform(OrExchange **exchanges, int count, int max_in_flight,
		   const OrClientConfig *config)
{
	Batch		b;
	size_t		base_len;
	size_t		body_limit = (size_t) or_max_response_kb * 1024;

	if (count == 0)
		return;
	engine_start();

	memset(&b, 0, sizeof(b));
	b.count = count;
	b.max_in_flight = b.limit = Max(1, Min(max_in_flight, count));
	b.config = config;
	base_len = strlen(or_base_url);
	while (base_len > 0 && or_base_url[base_len - 1] == '/')
		base_len--;
	b.url = psprintf("%.*s/chat/completions", (int) base_len, or_base_url);

	b.transfers = palloc0(count * sizeof(Transfer));
	b.retrying = palloc(count * sizeof(Transfer *));
	b.free_attempts = palloc0(b.max_in_flight * sizeof(Attempt));
	b.idle_attempts = palloc(b.max_in_flight * sizeof(Attempt *));
	for (int i = 0; i < b.max_in_flight; i++)
	{
		b.free_attempts[i].body_limit = body_limit;
		b.idle_attempts[b.n_idle_attempts++] = &b.free_attempts[i];
	}
	for (int i = 0; i < count; i++)
	{
		b.transfers[i].exchange = exchanges[i];
		b.transfers[i].batch = &b;
		b.transfers[i].state = TRANSFER_WAITING;
		exchanges[i]->attempts = 0;
		exchanges[i]->result = NULL;
		exchanges[i]->failure = NULL;
	}

	engine.current = &b;
	PG_TRY();
	{
		run_batch(&b);
	}
	PG_FINALLY();
	{
		engine.current = NULL;
		release_batch(&b);
		if (engine.wait_set != NULL)
		{
			FreeWaitEventSet(engine.wait_set);
			engine.wait_set = NULL;
		}
	}
	PG_END_TRY();
	pfree(b.transfers);
	pfree(b.retrying);
	pfree(b.free_attempts);
	pfree(b.idle_attempts);
}

/* what each request of a finished batch cost, into the usage ledger */
static void
record_usage(OrExchange **exchanges, int count)
{
	for (int i = 0; i < count; i++)
	{
		OrExchange *x = exchanges[i];
		OrUsageRecord record;

		if (x->result == NULL && x->failure == NULL)
			continue;			/* nothing arrived: cut short, or never sent */
		or_usage_record_init(&record);
		record.attempts = x->attempts;
		record.latency_ms = -1;
		if (x->failure != NULL)
		{
			memcpy(record.failure, x->failure->sqlstate, sizeof(record.failure));
			record.http_status = x->failure->http_status;
			or_usage_from_response(&record, x->failure->response);
		}
		else
		{
			record.http_status = 200;
			or_usage_from_response(&record, x->result);
		}
		or_ledger_write(&record);
	}
}

/*
 * Send a batch with the current role's key, and wipe the key from memory
 * afterwards, whatever happens.
 */
void
or_send(OrExchange **exchanges, int count, int max_in_flight)
{
	OrClientConfig config;

	if (count == 0)
		return;
	config = or_resolve_client_config();
	PG_TRY();
	{
		or_perform(exchanges, count, max_in_flight, &config);
	}
	PG_FINALLY();
	{
		or_wipe_string(config.api_key);
		/* also when a failure or a cancel cut the batch short */
		if (or_ledger_active())
			record_usage(exchanges, count);
	}
	PG_END_TRY();
}
