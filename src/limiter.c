/*
 * limiter.c
 *		Pacing per API key: when an attempt may start, how many of a batch
 *		may run at once, and what a 429 changes, for every session that
 *		sends with the same key.
 *
 * What it owns:
 *	- one state per key in a small fixed table: in shared memory when the
 *	  library is preloaded (one pacing for the whole server: every backend
 *	  and background worker), else in the backend (one per session);
 *	- openrouter.requests_per_minute as the spacing of starts per key;
 *	- the adaptive rate: unpaced until a 429 that names no wait arrives
 *	  while requests were going out together; then every start with the
 *	  key waits until the attempts in flight have come back, and starts are
 *	  spaced at 90% of the successes from a second before the 429 until
 *	  then, growing again with every
 *	  success (about 3% a second while the rate is used up), cut again by
 *	  a later 429 (at most once a second), forgotten a minute after the
 *	  last 429;
 *	- pauses: a 429 that names its wait (Retry-After, X-RateLimit-Reset),
 *	  or a lone one (backoff), holds back every start with the key until
 *	  the retry time;
 *	- concurrency: a 429 naming no wait among concurrent requests also
 *	  halves how many requests each batch with the key keeps in flight
 *	  (at most once a second), grown back by successes and lifted 5 s
 *	  after the last 429;
 *	- the background workers' attempts in flight, counted together: a
 *	  schedule with max_in_flight_shared starts an attempt only while fewer
 *	  than its max_in_flight are running in all such schedules of the server
 *	  (openrouter.max_concurrency is one limit for every database's worker);
 *	  a process's own count is given back when it exits (a crash resets
 *	  shared memory anyway);
 *	- openrouter_rate_limits(): the table as a set of rows.
 *
 * It implements the scheduler's OrPacer (scheduler.h) and reads no
 * setting: send.c hands it the schedule, whose client key it digests.
 *
 * Rules kept here: the table holds a SHA-256 digest of each key, never the
 * key nor any part of it; every access to the shared table is under its
 * one LWLock and takes a few instructions (no allocation, no ERROR while it
 * is held); entries not used for 10 minutes, or the least recently used one
 * when all are taken, are reused.
 */
#include "postgres.h"

#include <math.h>

#include "catalog/pg_authid.h"
#include "common/cryptohash.h"
#include "common/sha2.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "storage/ipc.h"
#include "storage/lwlock.h"
#include "storage/shmem.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/timestamp.h"

#include "limiter.h"

#define LIMITER_SLOTS 64
#define ENTRY_EXPIRE_SECS 600	/* an unused key's state is forgotten */
#define RATE_FORGET_SECS 60		/* no 429 for so long: unpaced again */
#define CONCURRENCY_QUIET_SECS 5	/* no 429 for so long: no cap */
#define CUT_GUARD_USECS USECS_PER_SEC	/* at most one cut a second */
#define RATE_CUT 0.9			/* of the successes of the last second */
#define RATE_STEP 0.03			/* starts/s gained per success */
#define MIN_RATE (1.0 / 60.0)	/* starts/s: one a minute */
#define MEASURE_MAX_USECS (5 * USECS_PER_SEC)	/* a measurement's longest wait */
#define MEASURE_POLL_USECS (20 * 1000)	/* how often a hold is looked at again */
#define MAX_CONCURRENCY 256		/* openrouter.max_concurrency's maximum */

typedef struct LimiterEntry
{
	bool		used;
	uint8		digest[PG_SHA256_DIGEST_LENGTH];	/* of the key */
	Oid			role;			/* the role that last sent with it */
	int			requests_per_minute;	/* of the last start; 0: none */
	TimestampTz last_used;
	TimestampTz last_start;		/* requests_per_minute spaces starts from it */
	TimestampTz next_start;		/* the adaptive rate's next start */
	TimestampTz paused_until;	/* a 429's pause */
	double		rate;			/* adaptive starts per second; 0: unpaced */
	int			concurrency;	/* per batch after a 429; 0: no cap */
	int			concurrency_successes;
	TimestampTz last_429;
	TimestampTz last_cut;
	bool		measuring;		/* a first 429: counting what the service allowed */
	int			ok_measured;	/* successes since a second before it */
	TimestampTz measuring_since;
	int			outstanding;	/* attempts started and not yet finished */
	int64		second;			/* successes per second, this one and the last */
	int			ok_this_second;
	int			ok_last_second;
	int64		starts;
	int64		rate_limited;
} LimiterEntry;

typedef struct LimiterShared
{
	LWLock	   *lock;
	int			shared_in_flight;	/* of schedules with max_in_flight_shared */
	LimiterEntry entries[LIMITER_SLOTS];
} LimiterShared;

/* one batch's view: which key, and the settings that came with it */
typedef struct LimiterHandle
{
	uint8		digest[PG_SHA256_DIGEST_LENGTH];
	Oid			role;
	int			requests_per_minute;
	int64		max_hold_usecs;	/* the schedule's max_retry_wait: no longer
								 * held back for another session's measurement */
	int			shared_max_in_flight;	/* 0: the batch's own max_in_flight only */
} LimiterHandle;

static LimiterShared *shared = NULL;	/* preloaded */
static LimiterEntry local_entries[LIMITER_SLOTS];	/* otherwise */
static int	local_shared_in_flight;	/* without the preload: this process's */
static int	my_shared_in_flight;	/* this process's part of shared_in_flight */
static bool exit_callback_registered = false;

/* ---------- shared memory ---------- */

Size
or_limiter_shmem_size(void)
{
	return MAXALIGN(sizeof(LimiterShared));
}

void
or_limiter_shmem_request(void)
{
	RequestAddinShmemSpace(or_limiter_shmem_size());
	RequestNamedLWLockTranche("openrouter_limiter", 1);
}

/* caller holds AddinShmemInitLock */
void
or_limiter_shmem_attach(void)
{
	bool		found;

	shared = ShmemInitStruct("openrouter_limiter", or_limiter_shmem_size(), &found);
	if (!found)
	{
		memset(shared, 0, or_limiter_shmem_size());
		shared->lock = &(GetNamedLWLockTranche("openrouter_limiter"))->lock;
	}
}

static LimiterEntry *
lock_table(LWLockMode mode)
{
	if (shared == NULL)
		return local_entries;
	LWLockAcquire(shared->lock, mode);
	return shared->entries;
}

static void
unlock_table(void)
{
	if (shared != NULL)
		LWLockRelease(shared->lock);
}

/* where the count of the shared schedules' attempts is (the lock held) */
static int *
shared_in_flight(void)
{
	return (shared != NULL) ? &shared->shared_in_flight : &local_shared_in_flight;
}

/* a process that exits gives back the attempts it still counted */
static void
give_back_in_flight(int code, Datum arg)
{
	if (my_shared_in_flight == 0)
		return;
	lock_table(LW_EXCLUSIVE);
	*shared_in_flight() = Max(0, *shared_in_flight() - my_shared_in_flight);
	my_shared_in_flight = 0;
	unlock_table();
}

/* ---------- entries ---------- */

static void
reset_entry(LimiterEntry *e, const uint8 *digest)
{
	memset(e, 0, sizeof(LimiterEntry));
	e->used = true;
	memcpy(e->digest, digest, PG_SHA256_DIGEST_LENGTH);
}

/* the key's entry, taken over from the least recently used one if new */
static LimiterEntry *
find_entry(LimiterEntry *table, const LimiterHandle *h, TimestampTz now)
{
	LimiterEntry *oldest = NULL;
	LimiterEntry *e;

	for (int i = 0; i < LIMITER_SLOTS; i++)
	{
		e = &table[i];
		if (e->used && memcmp(e->digest, h->digest, PG_SHA256_DIGEST_LENGTH) == 0)
		{
			if (now - e->last_used > ENTRY_EXPIRE_SECS * USECS_PER_SEC)
				reset_entry(e, h->digest);
			return e;
		}
		if (oldest == NULL || !e->used ||
			(oldest->used && e->last_used < oldest->last_used))
			oldest = e;
	}
	reset_entry(oldest, h->digest);
	oldest->last_used = now;
	return oldest;
}

/* what a long time without a 429 undoes */
static void
relax(LimiterEntry *e, TimestampTz now)
{
	if (e->concurrency > 0 && now - e->last_429 > CONCURRENCY_QUIET_SECS * USECS_PER_SEC)
		e->concurrency = 0;
	if (e->rate > 0 && now - e->last_429 > RATE_FORGET_SECS * USECS_PER_SEC)
		e->rate = 0;
}

/* successes counted per second, for the estimate of what the service allows */
static void
roll_seconds(LimiterEntry *e, TimestampTz now)
{
	int64		second = now / USECS_PER_SEC;

	if (second == e->second)
		return;
	e->ok_last_second = (second == e->second + 1) ? e->ok_this_second : 0;
	e->ok_this_second = 0;
	e->second = second;
}

/* successes in the last second (the previous second prorated) */
static double
recent_successes(const LimiterEntry *e, TimestampTz now)
{
	double		elapsed = (double) (now % USECS_PER_SEC) / USECS_PER_SEC;

	return e->ok_this_second + e->ok_last_second * (1.0 - elapsed);
}

/*
 * The end of a measurement: once the pause is over and every attempt that
 * was in flight has come back (or after MEASURE_MAX_USECS: a backend that
 * exited mid-transfer never reports), the successes from a second before
 * the first 429 until then are what the service allows in a second.
 */
static void
end_measuring(LimiterEntry *e, TimestampTz now)
{
	if (!e->measuring || now < e->paused_until ||
		(e->outstanding > 0 && now - e->measuring_since < MEASURE_MAX_USECS))
		return;
	e->measuring = false;
	e->rate = Max(MIN_RATE, (e->ok_measured > 0 ? e->ok_measured : 1) * RATE_CUT);
	e->next_start = now;
	e->last_cut = now;
}

/*
 * The earliest start: requests_per_minute after the last start, and the
 * adaptive rate's next start.
 */
static TimestampTz
start_gate(const LimiterEntry *e, int requests_per_minute)
{
	TimestampTz gate = 0;

	if (requests_per_minute > 0 && e->last_start != 0)
		gate = e->last_start + (int64) (60.0 * USECS_PER_SEC / requests_per_minute);
	if (e->rate > 0)
		gate = Max(gate, e->next_start);
	return gate;
}

/* ---------- the pacer ---------- */

static void *
limiter_open(const OrSchedule *schedule)
{
	LimiterHandle *h = palloc0(sizeof(LimiterHandle));
	const char *key = schedule->client.api_key ? schedule->client.api_key : "";
	pg_cryptohash_ctx *ctx = pg_cryptohash_create(PG_SHA256);

	if (ctx == NULL || pg_cryptohash_init(ctx) < 0 ||
		pg_cryptohash_update(ctx, (const uint8 *) key, strlen(key)) < 0 ||
		pg_cryptohash_final(ctx, h->digest, sizeof(h->digest)) < 0)
		elog(ERROR, "could not compute a SHA-256 digest: %s", pg_cryptohash_error(ctx));
	pg_cryptohash_free(ctx);
	h->role = GetUserId();
	h->requests_per_minute = schedule->requests_per_minute;
	h->max_hold_usecs = (int64) schedule->max_retry_wait_ms * 1000;
	if (schedule->max_in_flight_shared)
	{
		h->shared_max_in_flight = schedule->max_in_flight;
		if (!exit_callback_registered)
		{
			before_shmem_exit(give_back_in_flight, (Datum) 0);
			exit_callback_registered = true;
		}
	}
	return h;
}

static OrPaceAdmission
limiter_admit(void *handle, int in_flight, TimestampTz *wake)
{
	LimiterHandle *h = handle;
	TimestampTz now = GetCurrentTimestamp();
	LimiterEntry *table = lock_table(LW_EXCLUSIVE);
	LimiterEntry *e = find_entry(table, h, now);
	OrPaceAdmission verdict = OR_PACE_HELD;
	TimestampTz gate;

	relax(e, now);
	end_measuring(e, now);
	gate = start_gate(e, h->requests_per_minute);
	*wake = 0;
	if (e->paused_until > now)
		*wake = e->paused_until;
	else if (e->measuring && now - e->measuring_since < Max(h->max_hold_usecs, MEASURE_POLL_USECS))
		*wake = now + MEASURE_POLL_USECS;	/* answers of other sessions to come */
	else if (e->concurrency > 0 && in_flight >= e->concurrency)
		verdict = OR_PACE_WAIT; /* until one of the batch finishes */
	else if (h->shared_max_in_flight > 0 && *shared_in_flight() >= h->shared_max_in_flight)
	{
		verdict = OR_PACE_WAIT; /* until one of this batch or another finishes */
		if (in_flight == 0)
			*wake = now + MEASURE_POLL_USECS;
	}
	else if (gate > now)
	{
		*wake = gate;
		if (e->rate <= 0 || gate > e->next_start)
			verdict = OR_PACE_WAIT; /* requests_per_minute's spacing */
	}
	else
	{
		if (e->rate > 0)
		{
			/* a late wake-up may catch up half an interval, no more */
			int64		gap = (int64) (USECS_PER_SEC / e->rate);

			e->next_start = Max(e->next_start, now - gap / 2) + gap;
		}
		e->last_start = now;
		e->starts++;
		e->outstanding++;
		e->role = h->role;
		e->requests_per_minute = h->requests_per_minute;
		if (h->shared_max_in_flight > 0)
		{
			(*shared_in_flight())++;
			my_shared_in_flight++;
		}
		verdict = OR_PACE_START;
	}
	e->last_used = now;
	unlock_table();
	return verdict;
}

static void
limiter_outcome(void *handle, OrPaceOutcome outcome, bool named,
				TimestampTz retry_at, int in_flight)
{
	LimiterHandle *h = handle;
	TimestampTz now = GetCurrentTimestamp();
	LimiterEntry *table = lock_table(LW_EXCLUSIVE);
	LimiterEntry *e = find_entry(table, h, now);

	roll_seconds(e, now);
	e->outstanding = Max(0, e->outstanding - 1);
	if (h->shared_max_in_flight > 0 && my_shared_in_flight > 0)
	{
		*shared_in_flight() = Max(0, *shared_in_flight() - 1);
		my_shared_in_flight--;
	}
	if (outcome == OR_PACE_SUCCESS)
	{
		e->ok_this_second++;
		e->ok_measured++;
		if (e->rate > 0)
			e->rate += RATE_STEP;
		if (e->concurrency > 0 && ++e->concurrency_successes >= e->concurrency)
		{
			e->concurrency = (e->concurrency + 1 >= MAX_CONCURRENCY) ? 0 : e->concurrency + 1;
			e->concurrency_successes = 0;
		}
	}
	else if (outcome == OR_PACE_RATE_LIMITED)
	{
		/* requests going out together, or already paced: a rate to find */
		bool		crowded = !named && (in_flight >= 2 || e->rate > 0);

		e->rate_limited++;
		e->last_429 = now;
		if (crowded && e->rate <= 0 && !e->measuring)
		{
			/*
			 * Unpaced until now: hold back every start until the retry time,
			 * and count what the service allowed meanwhile (the answers in
			 * flight arrive), from a second before this 429.
			 */
			e->measuring = true;
			e->measuring_since = now;
			e->ok_measured = (int) recent_successes(e, now);
		}
		if ((!crowded || e->measuring) && retry_at > e->paused_until)
			e->paused_until = retry_at;
		if (crowded && now - e->last_cut >= CUT_GUARD_USECS)
		{
			int			running = (e->concurrency > 0) ? Min(e->concurrency, in_flight) : in_flight;

			e->concurrency = Max(1, running / 2);
			e->concurrency_successes = 0;
			if (!e->measuring)
			{
				double		allowed = recent_successes(e, now);
				double		base = e->rate;

				if (allowed > 0)
					base = (base > 0) ? Min(base, allowed) : allowed;
				else if (base <= 0)
					base = 1.0;
				e->rate = Max(MIN_RATE, base * RATE_CUT);
				e->next_start = Max(e->next_start, now + (int64) (USECS_PER_SEC / e->rate));
			}
			e->last_cut = now;
		}
	}
	e->last_used = now;
	unlock_table();
}

static void
limiter_close(void *handle)
{
	pfree(handle);
}

const OrPacer or_limiter_pacer = {
	.open = limiter_open,
	.admit = limiter_admit,
	.outcome = limiter_outcome,
	.close = limiter_close,
};

/* ---------- openrouter_rate_limits() ---------- */

PG_FUNCTION_INFO_V1(openrouter_rate_limits);

/*
 * One row per key the limiter knows: the roles' own rows, every row for
 * members of pg_read_all_stats (and superusers).
 */
Datum
openrouter_rate_limits(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	bool		see_all = has_privs_of_role(GetUserId(), ROLE_PG_READ_ALL_STATS);
	TimestampTz now = GetCurrentTimestamp();
	LimiterEntry *copy = palloc(sizeof(LimiterEntry) * LIMITER_SLOTS);
	LimiterEntry *table;

	InitMaterializedSRF(fcinfo, 0);
	table = lock_table(LW_SHARED);
	memcpy(copy, table, sizeof(LimiterEntry) * LIMITER_SLOTS);
	unlock_table();

	for (int i = 0; i < LIMITER_SLOTS; i++)
	{
		LimiterEntry *e = &copy[i];
		Datum		values[10];
		bool		nulls[10] = {0};
		char		hex[17];

		if (!e->used || e->starts == 0 ||
			now - e->last_used > ENTRY_EXPIRE_SECS * USECS_PER_SEC)
			continue;
		if (!see_all && e->role != GetUserId())
			continue;
		relax(e, now);
		hex_encode((const char *) e->digest, 8, hex);
		hex[16] = '\0';
		values[0] = CStringGetTextDatum(hex);
		values[1] = ObjectIdGetDatum(e->role);
		values[2] = Int32GetDatum(e->requests_per_minute);
		nulls[2] = (e->requests_per_minute == 0);
		values[3] = Float8GetDatum(round(e->rate * 60.0 * 10.0) / 10.0);
		nulls[3] = (e->rate <= 0);
		values[4] = Int32GetDatum(e->concurrency);
		nulls[4] = (e->concurrency == 0);
		values[5] = TimestampTzGetDatum(e->paused_until);
		nulls[5] = (e->paused_until <= now);
		values[6] = Int64GetDatum(e->starts);
		values[7] = Int64GetDatum(e->rate_limited);
		values[8] = TimestampTzGetDatum(e->last_429);
		nulls[8] = (e->last_429 == 0);
		values[9] = TimestampTzGetDatum(e->last_used);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	pfree(copy);
	return (Datum) 0;
}
