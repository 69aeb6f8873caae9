/*
 * http.c
 *		The per-backend HTTP engine: one libcurl multi handle that carries
 *		every transfer this backend makes.
 *
 * What it owns:
 *	- connection and TLS session reuse across calls (the multi handle's
 *	  connection cache, a share handle for TLS sessions and DNS, and a pool
 *	  of idle easy handles), HTTP/2 multiplexing where the server offers it;
 *	- many transfers at once in this one thread;
 *	- waiting on the curl sockets and the process latch together, so that
 *	  pg_cancel_backend, statement_timeout and pg_terminate_backend act at
 *	  once, with PostgreSQL's own errors;
 *	- the sockets' place in PostgreSQL's file descriptor budget;
 *	- bounded memory: a few connections to a host that multiplexes, 32 idle
 *	  easy handles, the heap trimmed after a transaction of many transfers.
 *
 * It knows nothing of OpenRouter, keys, settings or SPI (scheduler.c decides
 * what to send and when; completion.c reads what came back).
 *
 * Rules kept here: libcurl callbacks never ereport or palloc (they only touch
 * malloc'd buffers and flags); every easy handle, header list and buffer is
 * released on every path: the caller releases after an ERROR
 * (or_http_release_all in its PG_FINALLY), and a FATAL exit, which unwinds
 * nothing, releases here (before_shmem_exit).  Header lines are wiped before
 * they are freed, since they may carry credentials.
 */
#include "postgres.h"

#ifdef __GLIBC__
#include <malloc.h>
#endif

#include <curl/curl.h>

#include "access/xact.h"
#include "miscadmin.h"
#include "storage/fd.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"
#include "utils/wait_event.h"

#include "http.h"

/* idle easy handles kept for reuse (each holds libcurl's buffers) */
#define MAX_IDLE_EASY_HANDLES 32
/* connections kept open between transfers (HTTP/1.1: one per transfer in flight) */
#define MAX_CACHED_CONNECTIONS 256
/* connections to one host once it multiplexes (HTTP/2): each carries ~100 streams */
#define MAX_MULTIPLEXED_CONNECTIONS 4
/* a transaction that released this many transfers gives free memory back */
#define TRIM_AFTER_TRANSFERS 1000

/* a socket libcurl asked us to watch */
typedef struct WatchedSocket
{
	curl_socket_t fd;
	int			what;			/* CURL_POLL_IN, _OUT or _INOUT */
} WatchedSocket;

/* One transfer.  Everything the callbacks touch is malloc'd, never palloc'd. */
struct OrHttpCall
{
	struct OrHttpCall *prev;	/* the engine's list of started transfers */
	struct OrHttpCall *next;
	void	   *owner;
	CURL	   *easy;
	struct curl_slist *headers;
	char	   *body;
	size_t		body_len;
	size_t		body_capacity;
	size_t		body_limit;
	bool		too_large;
	bool		out_of_memory;
	char		retry_after[64];
	char		ratelimit_reset[64];
	char		error_buffer[CURL_ERROR_SIZE];
};

typedef struct Engine
{
	CURLM	   *multi;
	CURLSH	   *share;
	CURL	   *idle[MAX_IDLE_EASY_HANDLES];	/* easy handles ready for reuse */
	int			n_idle;
	OrHttpCall *started;		/* every transfer not yet released */
	WatchedSocket *sockets;		/* malloc'd: grown inside a callback */
	int			n_sockets;
	int			sockets_capacity;
	bool		sockets_changed;
	bool		callback_out_of_memory;
	TimestampTz curl_deadline;	/* when libcurl wants a timeout call; 0: none */
	WaitEventSet *wait_set;
	int			released;		/* transfers released in this transaction */
	bool		multiplexing;	/* the last answer came over HTTP/2 or later */
} Engine;

static Engine engine;

/* ---------- libcurl callbacks: no ereport, no palloc ---------- */

static size_t
write_callback(char *data, size_t size, size_t nmemb, void *userdata)
{
	OrHttpCall *c = (OrHttpCall *) userdata;
	size_t		n = size * nmemb;

	if (c->body_len + n > c->body_limit)
	{
		c->too_large = true;
		return 0;				/* makes libcurl abort with CURLE_WRITE_ERROR */
	}
	if (c->body_len + n + 1 > c->body_capacity)
	{
		size_t		capacity = Max(c->body_capacity * 2, c->body_len + n + 1);
		char	   *grown;

		capacity = Max(capacity, 4096);
		grown = realloc(c->body, capacity);
		if (grown == NULL)
		{
			c->out_of_memory = true;
			return 0;
		}
		c->body = grown;
		c->body_capacity = capacity;
	}
	memcpy(c->body + c->body_len, data, n);
	c->body_len += n;
	c->body[c->body_len] = '\0';
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
	OrHttpCall *c = (OrHttpCall *) userdata;
	size_t		n = size * nitems;
	static const char retry_after[] = "retry-after:";
	static const char reset[] = "x-ratelimit-reset:";

	if (n >= 5 && strncmp(line, "HTTP/", 5) == 0)
	{
		/* a new response (after a 1xx): forget what an earlier one said */
		c->retry_after[0] = '\0';
		c->ratelimit_reset[0] = '\0';
	}
	else if (n > sizeof(retry_after) - 1 &&
			 pg_strncasecmp(line, retry_after, sizeof(retry_after) - 1) == 0)
		copy_header_value(c->retry_after, sizeof(c->retry_after),
						  line + sizeof(retry_after) - 1, n - (sizeof(retry_after) - 1));
	else if (n > sizeof(reset) - 1 &&
			 pg_strncasecmp(line, reset, sizeof(reset) - 1) == 0)
		copy_header_value(c->ratelimit_reset, sizeof(c->ratelimit_reset),
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

/*
 * At backend exit.  A FATAL error (pg_terminate_backend, postmaster death)
 * does not unwind the stack, so transfers still started are released here.
 */
static void
engine_shutdown(int code, Datum arg)
{
	or_http_release_all();
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

/*
 * At the end of a transaction that made many transfers.  libcurl's small,
 * long-lived allocations (connections, TLS and HTTP/2 state, idle handles)
 * are spread through the heap among the query's freed memory, so malloc
 * cannot shrink the heap by itself: without this, a backend kept 60-100 MB
 * after a batch of 10,000 requests over HTTP/2 (see README.md, "Performance").
 */
static void
engine_after_transaction(XactEvent event, void *arg)
{
	if (event != XACT_EVENT_COMMIT && event != XACT_EVENT_ABORT &&
		event != XACT_EVENT_PREPARE)
		return;
	if (engine.released >= TRIM_AFTER_TRANSFERS)
	{
#ifdef __GLIBC__
		malloc_trim(0);
#endif
	}
	engine.released = 0;
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
	curl_multi_setopt(engine.multi, CURLMOPT_MAXCONNECTS, (long) MAX_CACHED_CONNECTIONS);
	before_shmem_exit(engine_shutdown, 0);
	RegisterXactCallback(engine_after_transaction, NULL);
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
	return curl_easy_init();
}

static void
return_easy_handle(CURL *easy)
{
	if (engine.n_idle < MAX_IDLE_EASY_HANDLES)
		engine.idle[engine.n_idle++] = easy;
	else
		curl_easy_cleanup(easy);
}

static void
configure_easy_handle(OrHttpCall *c, const OrHttpOptions *o)
{
	CURL	   *easy = c->easy;

	curl_easy_setopt(easy, CURLOPT_URL, o->url);
	curl_easy_setopt(easy, CURLOPT_PRIVATE, c);
	curl_easy_setopt(easy, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(easy, CURLOPT_SHARE, engine.share);
	curl_easy_setopt(easy, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(easy, CURLOPT_FOLLOWLOCATION, 0L);
	curl_easy_setopt(easy, CURLOPT_HTTP_VERSION, (long) CURL_HTTP_VERSION_2TLS);
	/* over TLS, wait to learn (by ALPN) whether HTTP/2 can multiplex
	 * before opening more connections; plain HTTP is always HTTP/1.1 here */
	curl_easy_setopt(easy, CURLOPT_PIPEWAIT, (long) (strncmp(o->url, "https:", 6) == 0));
	curl_easy_setopt(easy, CURLOPT_TCP_KEEPALIVE, 1L);
	curl_easy_setopt(easy, CURLOPT_USERAGENT, o->user_agent);
	curl_easy_setopt(easy, CURLOPT_ACCEPT_ENCODING, "");
	curl_easy_setopt(easy, CURLOPT_HTTPHEADER, c->headers);
	if (o->body != NULL)
	{
		curl_easy_setopt(easy, CURLOPT_POST, 1L);
		curl_easy_setopt(easy, CURLOPT_POSTFIELDS, o->body);
		curl_easy_setopt(easy, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t) o->body_len);
	}
	else
		curl_easy_setopt(easy, CURLOPT_HTTPGET, 1L);
	curl_easy_setopt(easy, CURLOPT_TIMEOUT_MS, o->timeout_ms);
	curl_easy_setopt(easy, CURLOPT_CONNECTTIMEOUT_MS, o->connect_timeout_ms);
	curl_easy_setopt(easy, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t) c->body_limit);
	curl_easy_setopt(easy, CURLOPT_WRITEFUNCTION, write_callback);
	curl_easy_setopt(easy, CURLOPT_WRITEDATA, c);
	curl_easy_setopt(easy, CURLOPT_HEADERFUNCTION, header_callback);
	curl_easy_setopt(easy, CURLOPT_HEADERDATA, c);
	curl_easy_setopt(easy, CURLOPT_ERRORBUFFER, c->error_buffer);
	curl_easy_setopt(easy, CURLOPT_OPENSOCKETFUNCTION, open_socket_callback);
	curl_easy_setopt(easy, CURLOPT_CLOSESOCKETFUNCTION, close_socket_callback);
	if (o->ca_file && o->ca_file[0] != '\0')
		curl_easy_setopt(easy, CURLOPT_CAINFO, o->ca_file);
	if (o->proxy && o->proxy[0] != '\0')
		curl_easy_setopt(easy, CURLOPT_PROXY, o->proxy);
}

OrHttpCall *
or_http_start(const OrHttpOptions *options, void *owner)
{
	OrHttpCall *c;
	CURLMcode	rc;

	engine_start();
	c = calloc(1, sizeof(OrHttpCall));
	if (c == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_OUT_OF_MEMORY),
				 errmsg("out of memory")));
	/* on the list first: whatever fails below, or_http_release_all frees it */
	c->next = engine.started;
	if (engine.started)
		engine.started->prev = c;
	engine.started = c;
	c->owner = owner;
	c->body_limit = options->max_body;

	for (int i = 0; i < options->n_headers; i++)
	{
		struct curl_slist *list = curl_slist_append(c->headers, options->headers[i]);

		if (list == NULL)
			ereport(ERROR,
					(errcode(ERRCODE_OUT_OF_MEMORY),
					 errmsg("out of memory")));
		c->headers = list;
	}
	c->easy = take_easy_handle();
	if (c->easy == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_OUT_OF_MEMORY),
				 errmsg("out of memory"),
				 errdetail("Could not create a libcurl handle.")));
	configure_easy_handle(c, options);

	rc = curl_multi_add_handle(engine.multi, c->easy);
	if (rc != CURLM_OK)
	{
		return_easy_handle(c->easy);
		c->easy = NULL;
		ereport(ERROR,
				(errcode(ERRCODE_SYSTEM_ERROR),
				 errmsg("could not start an HTTP request"),
				 errdetail("libcurl: %s.", curl_multi_strerror(rc))));
	}
	return c;
}

void
or_http_release(OrHttpCall *c)
{
	if (c->easy != NULL)
	{
		curl_multi_remove_handle(engine.multi, c->easy);
		return_easy_handle(c->easy);
	}
	for (struct curl_slist *h = c->headers; h != NULL; h = h->next)
		explicit_bzero(h->data, strlen(h->data));
	curl_slist_free_all(c->headers);
	free(c->body);
	engine.released++;
	if (c->prev)
		c->prev->next = c->next;
	else
		engine.started = c->next;
	if (c->next)
		c->next->prev = c->prev;
	free(c);
}

void
or_http_release_all(void)
{
	while (engine.started != NULL)
		or_http_release(engine.started);
	if (engine.wait_set != NULL)
	{
		FreeWaitEventSet(engine.wait_set);
		engine.wait_set = NULL;
	}
}

time_t
or_http_parse_date(const char *text)
{
	return curl_getdate(text, NULL);
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
				 errmsg("the HTTP transfer engine failed"),
				 errdetail("libcurl: %s.", curl_multi_strerror(rc))));
	if (engine.callback_out_of_memory)
	{
		engine.callback_out_of_memory = false;
		ereport(ERROR,
				(errcode(ERRCODE_OUT_OF_MEMORY),
				 errmsg("out of memory")));
	}
}

void
or_http_kick(void)
{
	engine_start();
	drive_curl(CURL_SOCKET_TIMEOUT, 0);
}

void
or_http_wait(TimestampTz wake)
{
	WaitEvent	events[64];
	TimestampTz now = GetCurrentTimestamp();
	long		timeout_ms;
	int			n;

	engine_start();
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

/*
 * Follow the protocol of the last answer.  Over HTTP/2 a few connections
 * carry every transfer, but libcurl 7.88 opens a new connection for each
 * transfer beyond a connection's stream limit (157 for a batch of 256 behind
 * nghttpx, about 100 kB each, all kept): once the host is known to
 * multiplex, further transfers wait for a stream instead, and the idle
 * connections beyond a few are closed.  Over HTTP/1.1 each transfer in flight
 * needs its own connection, and they are kept for the next batch.
 */
static void
follow_protocol(long http_version)
{
	bool		multiplexing = (http_version >= CURL_HTTP_VERSION_2_0);

	if (http_version == 0 || multiplexing == engine.multiplexing)
		return;
	engine.multiplexing = multiplexing;
	curl_multi_setopt(engine.multi, CURLMOPT_MAX_HOST_CONNECTIONS,
					  multiplexing ? (long) MAX_MULTIPLEXED_CONNECTIONS : 0L);
	curl_multi_setopt(engine.multi, CURLMOPT_MAXCONNECTS,
					  multiplexing ? (long) MAX_MULTIPLEXED_CONNECTIONS : (long) MAX_CACHED_CONNECTIONS);
}

OrHttpCall *
or_http_finished(void **owner, OrHttpResult *result)
{
	CURLMsg    *msg;
	int			left;

	if (engine.multi == NULL)
		return NULL;
	while ((msg = curl_multi_info_read(engine.multi, &left)) != NULL)
	{
		OrHttpCall *c;
		CURLcode	code;
		long		http_version = 0;

		if (msg->msg != CURLMSG_DONE)
			continue;
		code = msg->data.result;
		curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **) &c);
		if (c->out_of_memory)
			ereport(ERROR,
					(errcode(ERRCODE_OUT_OF_MEMORY),
					 errmsg("out of memory"),
					 errdetail("Could not buffer a response of %zu bytes.", c->body_len)));

		memset(result, 0, sizeof(OrHttpResult));
		result->curl_code = code;
		curl_easy_getinfo(c->easy, CURLINFO_RESPONSE_CODE, &result->http_status);
		result->curl_error = (code != CURLE_OK) ?
			(c->error_buffer[0] ? c->error_buffer : curl_easy_strerror(code)) : NULL;
		result->too_large = c->too_large;
		result->body = c->body ? c->body : "";
		result->body_len = c->body_len;
		result->retry_after = c->retry_after;
		result->ratelimit_reset = c->ratelimit_reset;
		curl_easy_getinfo(c->easy, CURLINFO_HTTP_VERSION, &http_version);
		follow_protocol(http_version);
		*owner = c->owner;
		return c;
	}
	return NULL;
}
