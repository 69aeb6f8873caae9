/*
 * shared_state.c
 *		The extension's one shared-memory area, for what lives outside any
 *		one backend: the background workers' whereabouts (so that a backend
 *		can wake its database's worker) and the backends' spool files (so
 *		that a worker knows which ones are still being written).
 *
 * It exists only when the library is in shared_preload_libraries: the area
 * is requested by shmem_request_hook and attached by shmem_startup_hook, as
 * pg_stat_statements does.  Without the preload entry or_shared stays NULL;
 * everything that does not need a worker works as before, and what does
 * calls or_require_shared_state(), which says so with a hint naming the
 * setting.
 *
 * The rate limiter's table (limiter.c) and the board of operations in
 * progress (progress_board.c) are requested and attached from the
 * same hooks, in an area and under a lock of its own.
 *
 * Rules kept here: every field is read and written under the one LWLock;
 * nothing here knows what the workers do.
 */
#include "postgres.h"

#include "miscadmin.h"
#include "storage/ipc.h"
#include "storage/shmem.h"

#include "limiter.h"
#include "progress_board.h"
#include "shared_state.h"

OrSharedState *or_shared = NULL;

static shmem_request_hook_type previous_shmem_request_hook = NULL;
static shmem_startup_hook_type previous_shmem_startup_hook = NULL;

static Size
shared_state_size(void)
{
	return add_size(offsetof(OrSharedState, spool_writers),
					mul_size(MaxBackends + 1, sizeof(OrSpoolWriter)));
}

static void
request_shared_state(void)
{
	if (previous_shmem_request_hook)
		previous_shmem_request_hook();
	RequestAddinShmemSpace(shared_state_size());
	RequestNamedLWLockTranche("openrouter", 1);
	or_limiter_shmem_request();
	or_progress_board_shmem_request();
}

static void
attach_shared_state(void)
{
	bool		found;

	if (previous_shmem_startup_hook)
		previous_shmem_startup_hook();

	LWLockAcquire(AddinShmemInitLock, LW_EXCLUSIVE);
	or_shared = ShmemInitStruct("openrouter", shared_state_size(), &found);
	if (!found)
	{
		memset(or_shared, 0, shared_state_size());
		or_shared->lock = &(GetNamedLWLockTranche("openrouter"))->lock;
		or_shared->n_spool_writers = MaxBackends + 1;
	}
	or_limiter_shmem_attach();
	or_progress_board_shmem_attach();
	LWLockRelease(AddinShmemInitLock);
}

/* from _PG_init, while shared_preload_libraries are being loaded */
void
or_shared_state_install_hooks(void)
{
	previous_shmem_request_hook = shmem_request_hook;
	shmem_request_hook = request_shared_state;
	previous_shmem_startup_hook = shmem_startup_hook;
	shmem_startup_hook = attach_shared_state;
}

/* raise the error of a feature that needs the preloaded library */
void
or_require_shared_state(const char *feature)
{
	if (or_shared == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("%s needs the openrouter background worker", feature),
				 errdetail("The library was not loaded at server start."),
				 errhint("Add openrouter to shared_preload_libraries in postgresql.conf and restart the server.")));
}

/*
 * The worker slot of a database, or NULL.  With create, an unused slot is
 * taken for it (NULL when all are taken).  Caller holds the lock
 * exclusively when creating.
 */
OrDatabaseWorker *
or_database_worker_slot(Oid database, bool create)
{
	OrDatabaseWorker *unused = NULL;

	for (int i = 0; i < OR_MAX_DATABASE_WORKERS; i++)
	{
		OrDatabaseWorker *slot = &or_shared->workers[i];

		if (slot->database == database)
			return slot;
		if (slot->database == InvalidOid && unused == NULL)
			unused = slot;
	}
	if (create && unused != NULL)
	{
		unused->database = database;
		unused->pid = 0;
		unused->latch = NULL;
		unused->hold_until = 0;
		unused->async_relid = InvalidOid;
		unused->async_in_flight = 0;
		return unused;
	}
	return NULL;
}

/* wake a database's worker, if it runs (it then looks for new work at once) */
void
or_wake_database_worker(Oid database)
{
	OrDatabaseWorker *slot;

	if (or_shared == NULL)
		return;
	LWLockAcquire(or_shared->lock, LW_SHARED);
	slot = or_database_worker_slot(database, false);
	if (slot != NULL && slot->latch != NULL)
		SetLatch(slot->latch);
	LWLockRelease(or_shared->lock);
}

/*
 * Wake the launcher, and have it look again at databases it found without
 * the extension (CREATE EXTENSION calls this).
 */
void
or_wake_launcher(void)
{
	if (or_shared == NULL)
		return;
	LWLockAcquire(or_shared->lock, LW_EXCLUSIVE);
	or_shared->wake_count++;
	if (or_shared->launcher_latch != NULL)
		SetLatch(or_shared->launcher_latch);
	LWLockRelease(or_shared->lock);
}
