/*
 * counters.c - the stand-in's shared, thread-safe counters:
 *   - TCP connections accepted, requests received, requests in flight and
 *     the high-water mark of in-flight requests (the "stats" directive);
 *   - per-key hit counters behind "times=K;key=ID";
 *   - the token buckets behind "ratelimit=R" (one per key and bearer token)
 *     and what they answered;
 *   - the generation counter that makes response ids.
 * One mutex guards everything; all critical sections are a few
 * instructions long.
 */
#include "standin.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define KEY_BUCKETS 256

struct key_counter
{
	struct key_counter *next;
	long long	hits;
	char		key[];
};

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static long long n_connections;
static long long n_requests;
static long long n_in_flight;
static long long n_max_in_flight;
static long long n_generations;
static struct key_counter *buckets[KEY_BUCKETS];

struct rate_bucket
{
	struct rate_bucket *next;
	double		tokens;
	long long	refilled_us;	/* when tokens was last brought up to date */
	long long	allowed;
	long long	limited;
	char	   *token;
	char		key[];
};

static struct rate_bucket *rate_buckets;

void
counters_init(void)
{
	memset(buckets, 0, sizeof(buckets));
}

void
counters_destroy(void)
{
	for (int i = 0; i < KEY_BUCKETS; i++)
	{
		struct key_counter *k = buckets[i];

		while (k)
		{
			struct key_counter *next = k->next;

			free(k);
			k = next;
		}
		buckets[i] = NULL;
	}
	while (rate_buckets)
	{
		struct rate_bucket *next = rate_buckets->next;

		free(rate_buckets->token);
		free(rate_buckets);
		rate_buckets = next;
	}
}

void
counters_connection_opened(void)
{
	pthread_mutex_lock(&mu);
	n_connections++;
	pthread_mutex_unlock(&mu);
}

void
counters_request_received(void)
{
	pthread_mutex_lock(&mu);
	n_requests++;
	pthread_mutex_unlock(&mu);
}

void
counters_in_flight_enter(void)
{
	pthread_mutex_lock(&mu);
	n_in_flight++;
	if (n_in_flight > n_max_in_flight)
		n_max_in_flight = n_in_flight;
	pthread_mutex_unlock(&mu);
}

void
counters_in_flight_leave(void)
{
	pthread_mutex_lock(&mu);
	n_in_flight--;
	pthread_mutex_unlock(&mu);
}

/* A snapshot; with reset_max, max_in_flight restarts from the current
 * in-flight count (after the snapshot was taken). */
struct stats_snapshot
counters_stats(bool reset_max)
{
	struct stats_snapshot s;

	pthread_mutex_lock(&mu);
	s.connections = n_connections;
	s.requests = n_requests;
	s.in_flight = n_in_flight;
	s.max_in_flight = n_max_in_flight;
	if (reset_max)
		n_max_in_flight = n_in_flight;
	pthread_mutex_unlock(&mu);
	return s;
}

static unsigned int
hash_key(const char *key)
{
	unsigned int h = 2166136261u;

	for (; *key; key++)
		h = (h ^ (unsigned char) *key) * 16777619u;
	return h % KEY_BUCKETS;
}

long long
counters_key_hit(const char *key)
{
	unsigned int b = hash_key(key);
	struct key_counter *k;
	long long	hits;

	pthread_mutex_lock(&mu);
	for (k = buckets[b]; k; k = k->next)
		if (strcmp(k->key, key) == 0)
			break;
	if (k == NULL)
	{
		size_t		len = strlen(key) + 1;

		k = xmalloc(sizeof(*k) + len);
		memcpy(k->key, key, len);
		k->hits = 0;
		k->next = buckets[b];
		buckets[b] = k;
	}
	hits = ++k->hits;
	pthread_mutex_unlock(&mu);
	return hits;
}

static long long
now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long) ts.tv_sec * 1000000LL + ts.tv_nsec / 1000;
}

bool
counters_rate_take(const char *key, const char *token, long long per_second)
{
	struct rate_bucket *b;
	long long	now = now_us();
	bool		taken;

	pthread_mutex_lock(&mu);
	for (b = rate_buckets; b; b = b->next)
		if (strcmp(b->key, key) == 0 && strcmp(b->token, token) == 0)
			break;
	if (b == NULL)
	{
		size_t		len = strlen(key) + 1;

		b = xmalloc(sizeof(*b) + len);
		memcpy(b->key, key, len);
		b->token = xstrdup(token);
		b->tokens = (double) per_second;	/* starts full: a burst of R */
		b->refilled_us = now;
		b->allowed = b->limited = 0;
		b->next = rate_buckets;
		rate_buckets = b;
	}
	b->tokens += (double) (now - b->refilled_us) * (double) per_second / 1e6;
	if (b->tokens > (double) per_second)
		b->tokens = (double) per_second;
	b->refilled_us = now;
	taken = b->tokens >= 1.0;
	if (taken)
	{
		b->tokens -= 1.0;
		b->allowed++;
	}
	else
		b->limited++;
	pthread_mutex_unlock(&mu);
	return taken;
}

struct rate_counts
counters_rate_counts(const char *key)
{
	struct rate_counts c = {0, 0};

	pthread_mutex_lock(&mu);
	for (struct rate_bucket *b = rate_buckets; b; b = b->next)
		if (strcmp(b->key, key) == 0)
		{
			c.allowed += b->allowed;
			c.limited += b->limited;
		}
	pthread_mutex_unlock(&mu);
	return c;
}

long long
counters_next_generation(void)
{
	long long	n;

	pthread_mutex_lock(&mu);
	n = ++n_generations;
	pthread_mutex_unlock(&mu);
	return n;
}
