/*
 * transport.c
 *		The per-backend transfer engine: one libcurl multi handle that carries
 *		every request this backend sends to OpenRouter.
 *
 * What it owns:
 *	- connection and TLS session reuse across calls (the multi handle's
 *	  connection cache, a share handle for TLS sessions and DNS, and a pool of
 *	  easy handles), HTTP/2 multiplexing where the server offers it;
 *	- many requests in flight at once in this one thread (a single call is a
 *	  batch of one: one code path);
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
	WaitEventSet *wait_set;
} Engine;

static Engine engine;

typedef enum TransferState
{
	TRANSFER_WAITING,			/* not started, or waiting to be retried */
	TRANSFER_IN_FLIGHT,
	TRANSFER_DONE
} TransferState;

/* per-exchange state, private to this file */
typedef struct Transfer
{
	OrExchange *exchange;
	TransferState state;
	TimestampTz not_before;		/* retry time; 0: now */
	CURL	   *easy;
	struct curl_slist *headers;
	/* written by callbacks: malloc'd, never palloc'd */
	char	   *body;
	size_t		body_len;
	size_t		body_capacity;
	size_t		body_limit;
	bool		too_large;
	bool		out_of_memory;
	char		retry_after[64];
	char		ratelimit_reset[64];
	char		error_buffer[CURL_ERROR_SIZE];
} Transfer;

/* ---------- libcurl callbacks: no ereport, no palloc ---------- */

static size_t
write_callback(char *data, size_t size, size_t nmemb, void *userdata)
{
	Transfer   *t = (Transfer *) userdata;
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
	Transfer   *t = (Transfer *) userdata;
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

static void
engine_shutdown(int code, Datum arg)
{
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
	on_proc_exit(engine_shutdown, 0);
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

static void
append_header(Transfer *t, const char *name, const char *value)
{
	char	   *line = psprintf("%s: %s", name, value);
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
	t->headers = curl_slist_append(t->headers, "Expect:");
	if (t->headers == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_OUT_OF_MEMORY),
				 errmsg("out of memory")));
}

/* free what curl and the callbacks allocated; wipe the key from memory */
static void
release_transfer(Transfer *t)
{
	if (t->easy != NULL)
	{
		curl_multi_remove_handle(engine.multi, t->easy);
		return_easy_handle(t->easy);
		t->easy = NULL;
	}
	for (struct curl_slist *h = t->headers; h != NULL; h = h->next)
		explicit_bzero(h->data, strlen(h->data));
	curl_slist_free_all(t->headers);
	t->headers = NULL;
	free(t->body);
	t->body = NULL;
	t->body_len = t->body_capacity = 0;
}

static void
configure_easy_handle(Transfer *t, CURL *easy, const char *url)
{
	const OrHttpRequest *req = &t->exchange->request;

	curl_easy_setopt(easy, CURLOPT_URL, url);
	curl_easy_setopt(easy, CURLOPT_PRIVATE, t);
	curl_easy_setopt(easy, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(easy, CURLOPT_SHARE, engine.share);
	curl_easy_setopt(easy, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(easy, CURLOPT_FOLLOWLOCATION, 0L);
	curl_easy_setopt(easy, CURLOPT_HTTP_VERSION, (long) CURL_HTTP_VERSION_2TLS);
	curl_easy_setopt(easy, CURLOPT_PIPEWAIT, 1L);
	curl_easy_setopt(easy, CURLOPT_TCP_KEEPALIVE, 1L);
	curl_easy_setopt(easy, CURLOPT_USERAGENT, OR_USER_AGENT);
	curl_easy_setopt(easy, CURLOPT_ACCEPT_ENCODING, "");
	curl_easy_setopt(easy, CURLOPT_HTTPHEADER, t->headers);
	curl_easy_setopt(easy, CURLOPT_POST, 1L);
	curl_easy_setopt(easy, CURLOPT_POSTFIELDS, req->body);
	curl_easy_setopt(easy, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t) req->body_len);
	curl_easy_setopt(easy, CURLOPT_TIMEOUT_MS, (long) or_timeout_ms);
	curl_easy_setopt(easy, CURLOPT_CONNECTTIMEOUT_MS, (long) or_connect_timeout_ms);
	curl_easy_setopt(easy, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t) t->body_limit);
	curl_easy_setopt(easy, CURLOPT_WRITEFUNCTION, write_callback);
	curl_easy_setopt(easy, CURLOPT_WRITEDATA, t);
	curl_easy_setopt(easy, CURLOPT_HEADERFUNCTION, header_callback);
	curl_easy_setopt(easy, CURLOPT_HEADERDATA, t);
	curl_easy_setopt(easy, CURLOPT_ERRORBUFFER, t->error_buffer);
	curl_easy_setopt(easy, CURLOPT_OPENSOCKETFUNCTION, open_socket_callback);
	curl_easy_setopt(easy, CURLOPT_CLOSESOCKETFUNCTION, close_socket_callback);
	if (or_ca_file && or_ca_file[0] != '\0')
		curl_easy_setopt(easy, CURLOPT_CAINFO, or_ca_file);
	if (or_proxy && or_proxy[0] != '\0')
		curl_easy_setopt(easy, CURLOPT_PROXY, or_proxy);
}

static void
start_attempt(Transfer *t, const char *url)
{
	CURL	   *easy = take_easy_handle();
	CURLMcode	rc;

	t->body_len = 0;
	t->too_large = false;
	t->out_of_memory = false;
	t->retry_after[0] = '\0';
	t->ratelimit_reset[0] = '\0';
	t->error_buffer[0] = '\0';
	configure_easy_handle(t, easy, url);

	rc = curl_multi_add_handle(engine.multi, easy);
	if (rc != CURLM_OK)
	{
		return_easy_handle(easy);
		ereport(ERROR,
				(errcode(ERRCODE_SYSTEM_ERROR),
				 errmsg("could not start a request to openrouter"),
				 errdetail("libcurl: %s.", curl_multi_strerror(rc))));
	}
	t->easy = easy;
	t->state = TRANSFER_IN_FLIGHT;
	t->exchange->attempts++;
}

/* milliseconds to wait as the response's headers ask; <0 when they don't */
static double
header_retry_delay_ms(const Transfer *t)
{
	double		now_ms = (double) time(NULL) * 1000.0;

	if (t->retry_after[0] != '\0')
	{
		char	   *end;
		double		seconds = strtod(t->retry_after, &end);

		if (end != t->retry_after && *end == '\0' && seconds >= 0)
			return seconds * 1000.0;
		else
		{
			time_t		when = curl_getdate(t->retry_after, NULL);

			if (when != (time_t) -1)
				return Max(0.0, (double) when * 1000.0 - now_ms);
		}
	}
	if (t->ratelimit_reset[0] != '\0')
	{
		char	   *end;
		double		reset = strtod(t->ratelimit_reset, &end);

		if (end != t->ratelimit_reset && reset > 0)
		{
			/* OpenRouter sends epoch milliseconds; accept epoch seconds too */
			if (reset < 1e11)
				reset *= 1000.0;
			return Max(0.0, reset - now_ms);
		}
	}
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

static void
append_detail(OrFailure *failure, const char *fmt,...) pg_attribute_printf(2, 3);

static void
append_detail(OrFailure *failure, const char *fmt,...)
{
	StringInfoData buf;

	initStringInfo(&buf);
	if (failure->detail)
		appendStringInfo(&buf, "%s ", failure->detail);
	for (;;)
	{
		va_list		args;
		int			needed;

		va_start(args, fmt);
		needed = appendStringInfoVA(&buf, fmt, args);
		va_end(args);
		if (needed == 0)
			break;
		enlargeStringInfo(&buf, needed);
	}
	failure->detail = buf.data;
}

/*
 * Decide whether a failed attempt is tried again.  Returns true and sets
 * t->not_before when it is; otherwise says in the failure why not.
 */
static bool
schedule_retry(Transfer *t, OrFailure *failure, double service_delay_ms)
{
	int			attempts = t->exchange->attempts;
	double		delay_ms;
	TimestampTz retry_at;

	if (!failure->retryable)
		return false;
	if (attempts > or_max_retries)
	{
		if (or_max_retries > 0)
			append_detail(failure, "Gave up after %d attempts (openrouter.max_retries = %d).",
						  attempts, or_max_retries);
		return false;
	}

	delay_ms = header_retry_delay_ms(t);
	if (delay_ms < 0)
		delay_ms = service_delay_ms;
	if (delay_ms < 0)
		delay_ms = backoff_delay_ms(attempts);
	else if (delay_ms > or_max_retry_wait_ms)
	{
		append_detail(failure, "OpenRouter asked to wait %.0f ms before retrying, longer than openrouter.max_retry_wait (%d ms).",
					  delay_ms, or_max_retry_wait_ms);
		return false;
	}
	delay_ms = Min(delay_ms, (double) or_max_retry_wait_ms);

	retry_at = TimestampTzPlusMilliseconds(GetCurrentTimestamp(), (int64) delay_ms);
	if (get_timeout_active(STATEMENT_TIMEOUT) &&
		retry_at >= get_timeout_finish_time(STATEMENT_TIMEOUT))
	{
		append_detail(failure, "A retry in %.0f ms would start after statement_timeout expires.",
					  delay_ms);
		return false;
	}
	t->not_before = retry_at;
	return true;
}

static void
finish_attempt(Transfer *t, CURLcode code)
{
	OrHttpResult http;
	OrFailure  *failure;
	Jsonb	   *result = NULL;
	double		service_delay_ms = -1;

	memset(&http, 0, sizeof(http));
	http.curl_code = code;
	curl_easy_getinfo(t->easy, CURLINFO_RESPONSE_CODE, &http.http_status);
	http.curl_error = (code != CURLE_OK) ?
		(t->error_buffer[0] ? t->error_buffer : (char *) curl_easy_strerror(code)) : NULL;
	http.too_large = t->too_large;
	http.body = t->body ? t->body : "";
	http.body_len = t->body_len;

	curl_multi_remove_handle(engine.multi, t->easy);
	return_easy_handle(t->easy);
	t->easy = NULL;

	if (t->out_of_memory)
		ereport(ERROR,
				(errcode(ERRCODE_OUT_OF_MEMORY),
				 errmsg("out of memory"),
				 errdetail("Could not buffer a response of %zu bytes.", t->body_len)));

	failure = or_interpret_response(&http, &result, &service_delay_ms);
	if (failure == NULL)
	{
		t->exchange->result = result;
		t->state = TRANSFER_DONE;
	}
	else if (schedule_retry(t, failure, service_delay_ms))
		t->state = TRANSFER_WAITING;
	else
	{
		failure->attempts = t->exchange->attempts;
		t->exchange->failure = failure;
		t->state = TRANSFER_DONE;
	}
	if (t->state == TRANSFER_DONE)
	{
		free(t->body);
		t->body = NULL;
		t->body_capacity = 0;
	}
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

/* Wait for socket activity, curl's timer, a retry time or an interrupt. */
static void
wait_for_activity(TimestampTz next_retry)
{
	WaitEvent	events[16];
	TimestampTz now = GetCurrentTimestamp();
	TimestampTz wake = engine.curl_deadline;
	long		timeout_ms;
	int			n;

	if (next_retry != 0 && (wake == 0 || next_retry < wake))
		wake = next_retry;
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
		Transfer   *t;

		if (msg->msg != CURLMSG_DONE)
			continue;
		curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **) &t);
		finish_attempt(t, msg->data.result);
	}
}

static void
run_transfers(Transfer *transfers, int count, int max_in_flight, const char *url)
{
	for (;;)
	{
		TimestampTz now = GetCurrentTimestamp();
		TimestampTz next_retry = 0;
		int			in_flight = 0;
		int			unfinished = 0;
		bool		started = false;

		for (int i = 0; i < count; i++)
		{
			Transfer   *t = &transfers[i];

			if (t->state == TRANSFER_IN_FLIGHT)
				in_flight++;
			if (t->state != TRANSFER_DONE)
				unfinished++;
		}
		if (unfinished == 0)
			break;

		for (int i = 0; i < count && in_flight < max_in_flight; i++)
		{
			Transfer   *t = &transfers[i];

			if (t->state != TRANSFER_WAITING)
				continue;
			if (t->not_before > now)
			{
				if (next_retry == 0 || t->not_before < next_retry)
					next_retry = t->not_before;
				continue;
			}
			start_attempt(t, url);
			in_flight++;
			started = true;
		}
		if (started)
			drive_curl(CURL_SOCKET_TIMEOUT, 0);
		else
			wait_for_activity(next_retry);
		collect_finished();
	}
}

void
or_perform(OrExchange **exchanges, int count, int max_in_flight,
		   const OrClientConfig *config)
{
	Transfer   *transfers;
	char	   *url;
	size_t		base_len;
	size_t		body_limit = (size_t) or_max_response_kb * 1024;

	if (count == 0)
		return;
	engine_start();

	base_len = strlen(or_base_url);
	while (base_len > 0 && or_base_url[base_len - 1] == '/')
		base_len--;
	url = psprintf("%.*s/chat/completions", (int) base_len, or_base_url);

	transfers = palloc0(count * sizeof(Transfer));
	PG_TRY();
	{
		for (int i = 0; i < count; i++)
		{
			transfers[i].exchange = exchanges[i];
			transfers[i].state = TRANSFER_WAITING;
			transfers[i].body_limit = body_limit;
			exchanges[i]->attempts = 0;
			exchanges[i]->result = NULL;
			exchanges[i]->failure = NULL;
			build_headers(&transfers[i], config);
		}
		run_transfers(transfers, count, Max(1, max_in_flight), url);
	}
	PG_FINALLY();
	{
		for (int i = 0; i < count; i++)
			release_transfer(&transfers[i]);
		if (engine.wait_set != NULL)
		{
			FreeWaitEventSet(engine.wait_set);
			engine.wait_set = NULL;
		}
	}
	PG_END_TRY();
	pfree(transfers);
}
