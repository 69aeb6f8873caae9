/*
 * worker.c
 *		The background workers: the work of the extension that lives outside
 *		any caller's transaction.
 *
 * One launcher per server (registered at startup when the library is in
 * shared_preload_libraries) looks at the server's databases and starts a
 * worker in each one that has the extension; each database worker then does
 * that database's work in a loop: it moves the usage ledger's spooled
 * records into their table (ledger.c) as soon as a backend wakes it, and
 * removes expired ones once an hour; and it computes the queued cells of
 * asynchronous computed columns (async_columns.c), one chunk per round,
 * going round again at once while cells are due.
 *
 * Rules kept here, as pg_cron and the autovacuum launcher do:
 *	- SIGTERM stops a worker at once (die: an ERROR-safe FATAL), postmaster
 *	  death too (WL_EXIT_ON_PM_DEATH), SIGHUP rereads the configuration;
 *	- a worker that fails exits; the launcher starts it again after a delay
 *	  that doubles with each consecutive failure (up to five minutes), so a
 *	  persistent error never becomes a restart storm, and the log gets one
 *	  line per failure, not one per loop;
 *	- a database without the extension (or with a version before 1.1) gets
 *	  no worker: its worker exits at once, and the launcher looks again
 *	  every few minutes, or at once when CREATE EXTENSION or ALTER EXTENSION
 *	  UPDATE wakes it;
 *	- workers connect as the bootstrap superuser and run only the
 *	  extension's own statements; they never run user code as a superuser
 *	  (an asynchronous column's expression runs as its table's owner).
 */
#include "postgres.h"

#include "access/heapam.h"
#include "access/htup_details.h"
#include "access/table.h"
#include "access/xact.h"
#include "catalog/pg_database.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "postmaster/bgworker.h"
#include "postmaster/interrupt.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "storage/proc.h"
#include "tcop/tcopprot.h"
#include "utils/backend_status.h"
#include "utils/guc.h"
#include "utils/memutils.h"
#include "utils/snapmgr.h"
#include "utils/timestamp.h"
#include "utils/wait_event.h"

#include "async_columns.h"
#include "ledger.h"
#include "response_cache.h"
#include "models.h"
#include "shared_state.h"
#include "worker.h"

#define LAUNCHER_NAP_MS (10 * 1000)
#define DATABASE_WORKER_NAP_MS 1000
#define WAKE_COALESCE_MS 50
#define ABSENT_RECHECK_MS (5 * 60 * 1000)
#define RESTART_DELAY_FIRST_MS 1000
#define RESTART_DELAY_MAX_MS (5 * 60 * 1000)
#define EXPIRE_INTERVAL_MS (60 * 60 * 1000)
#define HOLD_OFF_MS (10 * 1000)
#define STOP_WAIT_MS (5 * 1000)

/* exit code of a database worker that found no extension in its database */
#define EXIT_NO_EXTENSION 2

/* ---------- the launcher ---------- */

/* what the launcher knows of one database (its own memory) */
typedef struct KnownDatabase
{
	Oid			database;
	BackgroundWorkerHandle *handle; /* while a worker runs */
	TimestampTz not_before;		/* no new worker before this */
	int			failures;		/* consecutive */
	uint64		started_at_wake;	/* wake_count when its worker was started */
	bool		seen;			/* still exists (this round) */
} KnownDatabase;

static KnownDatabase known[OR_MAX_DATABASE_WORKERS];
static int	n_known = 0;
static uint64 seen_wake_count = 0;

void
or_register_launcher(void)
{
	BackgroundWorker worker;

	memset(&worker, 0, sizeof(worker));
	worker.bgw_flags = BGWORKER_SHMEM_ACCESS | BGWORKER_BACKEND_DATABASE_CONNECTION;
	worker.bgw_start_time = BgWorkerStart_RecoveryFinished;
	worker.bgw_restart_time = 10;
	snprintf(worker.bgw_library_name, BGW_MAXLEN, "openrouter");
	snprintf(worker.bgw_function_name, BGW_MAXLEN, "openrouter_launcher_main");
	snprintf(worker.bgw_name, BGW_MAXLEN, "openrouter launcher");
	snprintf(worker.bgw_type, BGW_MAXLEN, "openrouter launcher");
	RegisterBackgroundWorker(&worker);
}

static KnownDatabase *
known_database(Oid database)
{
	for (int i = 0; i < n_known; i++)
		if (known[i].database == database)
			return &known[i];
	if (n_known == OR_MAX_DATABASE_WORKERS)
		return NULL;
	memset(&known[n_known], 0, sizeof(KnownDatabase));
	known[n_known].database = database;
	return &known[n_known++];
}

/* mark the databases that accept connections as seen */
static void
list_databases(void)
{
	Relation	rel;
	TableScanDesc scan;
	HeapTuple	tuple;

	for (int i = 0; i < n_known; i++)
		known[i].seen = false;
	StartTransactionCommand();
	(void) GetTransactionSnapshot();
	rel = table_open(DatabaseRelationId, AccessShareLock);
	scan = table_beginscan_catalog(rel, 0, NULL);
	while ((tuple = heap_getnext(scan, ForwardScanDirection)) != NULL)
	{
		Form_pg_database db = (Form_pg_database) GETSTRUCT(tuple);
		KnownDatabase *k;

		if (!db->datallowconn || db->datistemplate)
			continue;
		k = known_database(db->oid);
		if (k != NULL)
			k->seen = true;
	}
	table_endscan(scan);
	table_close(rel, AccessShareLock);
	CommitTransactionCommand();
}

static void
start_database_worker(KnownDatabase *k)
{
	BackgroundWorker worker;

	memset(&worker, 0, sizeof(worker));
	worker.bgw_flags = BGWORKER_SHMEM_ACCESS | BGWORKER_BACKEND_DATABASE_CONNECTION;
	worker.bgw_start_time = BgWorkerStart_RecoveryFinished;
	worker.bgw_restart_time = BGW_NEVER_RESTART;
	worker.bgw_main_arg = ObjectIdGetDatum(k->database);
	worker.bgw_notify_pid = MyProcPid;
	k->started_at_wake = seen_wake_count;
	snprintf(worker.bgw_library_name, BGW_MAXLEN, "openrouter");
	snprintf(worker.bgw_function_name, BGW_MAXLEN, "openrouter_database_worker_main");
	snprintf(worker.bgw_name, BGW_MAXLEN, "openrouter worker for database %u", k->database);
	snprintf(worker.bgw_type, BGW_MAXLEN, "openrouter worker");
	if (!RegisterDynamicBackgroundWorker(&worker, &k->handle))
	{
		/* no free slot (max_worker_processes): try again later */
		k->handle = NULL;
		k->not_before = TimestampTzPlusMilliseconds(GetCurrentTimestamp(), LAUNCHER_NAP_MS);
	}
}

/* what became of a database's worker, and whether to start one */
static void
look_after(KnownDatabase *k, TimestampTz now)
{
	if (k->handle != NULL)
	{
		pid_t		pid;
		BgwHandleStatus status = GetBackgroundWorkerPid(k->handle, &pid);

		if (status == BGWH_STARTED || status == BGWH_NOT_YET_STARTED)
			return;
		pfree(k->handle);
		k->handle = NULL;

		/*
		 * The worker published why it stopped in its slot: no extension here,
		 * or a failure (anything else).
		 */
		LWLockAcquire(or_shared->lock, LW_EXCLUSIVE);
		{
			OrDatabaseWorker *slot = or_database_worker_slot(k->database, false);
			bool		absent = (slot != NULL && slot->pid == -EXIT_NO_EXTENSION);
			TimestampTz hold_until = slot ? slot->hold_until : 0;

			if (slot != NULL)
			{
				slot->pid = 0;
				slot->latch = NULL;
			}
			LWLockRelease(or_shared->lock);
			if (hold_until > now)
			{
				/* stopped on purpose, for a command that needs the database */
				k->not_before = hold_until;
			}
			else if (absent)
			{
				/* unless a CREATE EXTENSION came after it started: look again now */
				k->failures = 0;
				k->not_before = (k->started_at_wake == seen_wake_count) ?
					TimestampTzPlusMilliseconds(now, ABSENT_RECHECK_MS) : 0;
			}
			else
			{
				int			delay = RESTART_DELAY_FIRST_MS;

				for (int i = 0; i < k->failures && delay < RESTART_DELAY_MAX_MS; i++)
					delay *= 2;
				delay = Min(delay, RESTART_DELAY_MAX_MS);
				k->failures++;
				k->not_before = TimestampTzPlusMilliseconds(now, delay);
				if (!ShutdownRequestPending)
					ereport(LOG,
							(errmsg("openrouter worker of database %u stopped; starting it again in %d ms",
									k->database, delay)));
			}
		}
	}
	if (k->seen && now >= k->not_before)
	{
		OrDatabaseWorker *slot;
		TimestampTz hold_until;

		LWLockAcquire(or_shared->lock, LW_SHARED);
		slot = or_database_worker_slot(k->database, false);
		hold_until = slot ? slot->hold_until : 0;
		LWLockRelease(or_shared->lock);
		if (hold_until > now)
			k->not_before = hold_until;
		else
			start_database_worker(k);
	}
}

/*
 * Stop a database's worker, and keep the launcher from starting it again
 * for a while: DROP DATABASE and its kind need the database alone
 * (database_commands.c).  Waits, interruptibly, until the worker is gone.
 */
void
or_stop_database_worker(Oid database)
{
	OrDatabaseWorker *slot;
	pid_t		pid = 0;

	if (or_shared == NULL)
		return;
	LWLockAcquire(or_shared->lock, LW_EXCLUSIVE);
	slot = or_database_worker_slot(database, true);
	if (slot != NULL)
	{
		slot->hold_until = TimestampTzPlusMilliseconds(GetCurrentTimestamp(), HOLD_OFF_MS);
		pid = slot->pid;
	}
	LWLockRelease(or_shared->lock);
	if (pid <= 0)
		return;
	(void) kill(pid, SIGTERM);
	for (int waited = 0; waited < STOP_WAIT_MS; waited += 10)
	{
		bool		gone;

		LWLockAcquire(or_shared->lock, LW_SHARED);
		gone = (slot->pid != pid);
		LWLockRelease(or_shared->lock);
		if (gone)
			return;
		(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH, 10,
						 PG_WAIT_EXTENSION);
		ResetLatch(MyLatch);
		CHECK_FOR_INTERRUPTS();
	}
}

/*
 * Signals and identity of both kinds of worker: SIGTERM as given, SIGHUP
 * rereads the configuration; connected to a database (or none: InvalidOid).
 */
static void
start_as_worker(pqsigfunc on_sigterm, Oid database, const char *name)
{
	pqsignal(SIGTERM, on_sigterm);
	pqsignal(SIGHUP, SignalHandlerForConfigReload);
	BackgroundWorkerUnblockSignals();
	BackgroundWorkerInitializeConnectionByOid(database, InvalidOid, 0);
	pgstat_report_appname(name);
}

void
openrouter_launcher_main(Datum arg)
{
	start_as_worker(SignalHandlerForShutdownRequest, InvalidOid, "openrouter launcher");

	LWLockAcquire(or_shared->lock, LW_EXCLUSIVE);
	or_shared->launcher_pid = MyProcPid;
	or_shared->launcher_latch = MyLatch;
	LWLockRelease(or_shared->lock);

	while (!ShutdownRequestPending)
	{
		TimestampTz now;

		if (ConfigReloadPending)
		{
			ConfigReloadPending = false;
			ProcessConfigFile(PGC_SIGHUP);
		}
		list_databases();
		now = GetCurrentTimestamp();
		LWLockAcquire(or_shared->lock, LW_SHARED);
		if (or_shared->wake_count != seen_wake_count)
		{
			seen_wake_count = or_shared->wake_count;
			for (int i = 0; i < n_known; i++)
				if (known[i].failures == 0)
					known[i].not_before = 0;
		}
		LWLockRelease(or_shared->lock);
		for (int i = 0; i < n_known; i++)
			look_after(&known[i], now);

		(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
						 LAUNCHER_NAP_MS, PG_WAIT_EXTENSION);
		ResetLatch(MyLatch);
		CHECK_FOR_INTERRUPTS();
	}

	LWLockAcquire(or_shared->lock, LW_EXCLUSIVE);
	or_shared->launcher_pid = 0;
	or_shared->launcher_latch = NULL;
	LWLockRelease(or_shared->lock);
	proc_exit(0);
}

/* ---------- a database's worker ---------- */

static OrDatabaseWorker *my_slot = NULL;

static void
leave_slot(int code, Datum arg)
{
	LWLockAcquire(or_shared->lock, LW_EXCLUSIVE);
	if (my_slot != NULL && my_slot->pid == MyProcPid)
	{
		my_slot->pid = 0;
		my_slot->latch = NULL;
	}
	LWLockRelease(or_shared->lock);
}

/* tell the launcher not to start us again soon, and stop */
static void
exit_no_extension(void)
{
	LWLockAcquire(or_shared->lock, LW_EXCLUSIVE);
	my_slot->pid = -EXIT_NO_EXTENSION;
	my_slot->latch = NULL;
	LWLockRelease(or_shared->lock);
	proc_exit(0);
}

void
openrouter_database_worker_main(Datum arg)
{
	Oid			database = DatumGetObjectId(arg);
	TimestampTz next_expiry = 0;
	TimestampTz next_models_refresh = 0;

	start_as_worker(die, database, "openrouter worker");

	LWLockAcquire(or_shared->lock, LW_EXCLUSIVE);
	my_slot = or_database_worker_slot(database, true);
	if (my_slot != NULL)
	{
		my_slot->pid = MyProcPid;
		my_slot->latch = MyLatch;
	}
	LWLockRelease(or_shared->lock);
	if (my_slot == NULL)
		proc_exit(1);
	before_shmem_exit(leave_slot, 0);

	for (;;)
	{
		TimestampTz now;
		bool		busy;

		CHECK_FOR_INTERRUPTS();
		if (ConfigReloadPending)
		{
			ConfigReloadPending = false;
			ProcessConfigFile(PGC_SIGHUP);
		}
		/* (the ledger's tables are there from version 1.1 on) */
		pgstat_report_activity(STATE_RUNNING, "moving usage records into openrouter_usage_log");
		if (or_ledger_ingest() < 0)
			exit_no_extension();
		now = GetCurrentTimestamp();
		if (now >= next_expiry)
		{
			pgstat_report_activity(STATE_RUNNING, "removing expired usage records");
			(void) or_ledger_expire();
			(void) or_response_cache_expire();
			next_expiry = TimestampTzPlusMilliseconds(now, EXPIRE_INTERVAL_MS);
		}
		or_models_refresh_step(&next_models_refresh);
		/* one chunk of the asynchronous computed columns (async_columns.c) */
		busy = or_async_columns_step() > 0;
		pgstat_report_activity(STATE_IDLE, NULL);

		/*
		 * With more cells due, go round again at once; else wait for a wake,
		 * but not at once: the commits of a stream of single-row INSERTs then
		 * wake it once per WAKE_COALESCE_MS, not once each.
		 */
		if (!busy)
			(void) WaitLatch(NULL, WL_TIMEOUT | WL_EXIT_ON_PM_DEATH, WAKE_COALESCE_MS,
							 PG_WAIT_EXTENSION);
		(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
						 busy ? 0 : DATABASE_WORKER_NAP_MS, PG_WAIT_EXTENSION);
		ResetLatch(MyLatch);
	}
}
