/*
 * progress_board.c
 *		The board of long operations in progress: one slot per backend in
 *		shared memory, written by the backend's outermost reporting operation
 *		(progress.c: a backfill, a computed column over many rows, a batch)
 *		and read by openrouter_progress() from any session, as
 *		pg_stat_progress_* views are.
 *
 * Rules kept here: a backend writes only its own slot, each under the slot's
 * spinlock (a few stores: never an ERROR or a palloc while held); readers
 * copy a slot under the same spinlock.  A role sees its own operations,
 * members of pg_read_all_stats (and superusers) all of them.  Without the
 * library in shared_preload_libraries there is no board: publishing does
 * nothing and openrouter_progress() says what it needs.
 */
#include "postgres.h"

#include "catalog/pg_authid.h"
#include "fmgr.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "storage/backendid.h"
#include "storage/ipc.h"
#include "storage/shmem.h"
#include "storage/spin.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/timestamp.h"

#include "progress_board.h"
#include "shared_state.h"

#define WHAT_LENGTH 128
#define UNIT_LENGTH 16

typedef struct BoardSlot
{
	slock_t		mutex;
	pid_t		pid;			/* 0: no operation */
	Oid			database;
	Oid			role;
	char		what[WHAT_LENGTH];
	char		unit[UNIT_LENGTH];
	uint64		total;
	uint64		done;
	uint64		errors;
	TimestampTz started;
} BoardSlot;

static BoardSlot *board = NULL;	/* MaxBackends + 1 slots, by BackendId */

static Size
board_size(void)
{
	return mul_size(MaxBackends + 1, sizeof(BoardSlot));
}

void
or_progress_board_shmem_request(void)
{
	RequestAddinShmemSpace(board_size());
}

/* from shared_state.c's startup hook, AddinShmemInitLock held */
void
or_progress_board_shmem_attach(void)
{
	bool		found;

	board = ShmemInitStruct("openrouter progress", board_size(), &found);
	if (!found)
	{
		memset(board, 0, board_size());
		for (int i = 0; i <= MaxBackends; i++)
			SpinLockInit(&board[i].mutex);
	}
}

static BoardSlot *
my_slot(void)
{
	if (board == NULL || MyBackendId == InvalidBackendId)
		return NULL;
	return &board[MyBackendId];
}

void
or_progress_board_publish(const char *what, const char *unit, uint64 total,
						  TimestampTz started)
{
	BoardSlot  *slot = my_slot();

	if (slot == NULL)
		return;
	SpinLockAcquire(&slot->mutex);
	slot->pid = MyProcPid;
	slot->database = MyDatabaseId;
	slot->role = GetUserId();
	strlcpy(slot->what, what, WHAT_LENGTH);
	strlcpy(slot->unit, unit, UNIT_LENGTH);
	slot->total = total;
	slot->done = 0;
	slot->errors = 0;
	slot->started = started;
	SpinLockRelease(&slot->mutex);
}

void
or_progress_board_update(uint64 done, uint64 errors)
{
	BoardSlot  *slot = my_slot();

	if (slot == NULL)
		return;
	SpinLockAcquire(&slot->mutex);
	slot->done = done;
	slot->errors = errors;
	SpinLockRelease(&slot->mutex);
}

void
or_progress_board_clear(void)
{
	BoardSlot  *slot = my_slot();

	if (slot == NULL)
		return;
	SpinLockAcquire(&slot->mutex);
	slot->pid = 0;
	SpinLockRelease(&slot->mutex);
}

PG_FUNCTION_INFO_V1(openrouter_progress);

/*
 * openrouter_progress(): the operations in progress that the caller may see:
 * pid, database, role, operation, unit, done, total, errors, started, rate
 * (per second) and seconds left.
 */
Datum
openrouter_progress(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	bool		see_all = has_privs_of_role(GetUserId(), ROLE_PG_READ_ALL_STATS);
	TimestampTz now = GetCurrentTimestamp();

	or_require_shared_state("openrouter_progress");
	InitMaterializedSRF(fcinfo, 0);
	for (int i = 0; i <= MaxBackends; i++)
	{
		BoardSlot	copy;
		Datum		values[11];
		bool		nulls[11] = {0};
		double		seconds;
		double		rate;

		SpinLockAcquire(&board[i].mutex);
		copy = board[i];
		SpinLockRelease(&board[i].mutex);
		if (copy.pid == 0 || (!see_all && copy.role != GetUserId()))
			continue;
		copy.what[WHAT_LENGTH - 1] = '\0';
		copy.unit[UNIT_LENGTH - 1] = '\0';
		seconds = Max((now - copy.started) / 1000000.0, 0.001);
		rate = copy.done / seconds;
		values[0] = Int32GetDatum(copy.pid);
		values[1] = ObjectIdGetDatum(copy.database);
		values[2] = ObjectIdGetDatum(copy.role);
		values[3] = CStringGetTextDatum(copy.what);
		values[4] = CStringGetTextDatum(copy.unit);
		values[5] = Int64GetDatum((int64) copy.done);
		values[6] = Int64GetDatum((int64) copy.total);
		values[7] = Int64GetDatum((int64) copy.errors);
		values[8] = TimestampTzGetDatum(copy.started);
		values[9] = Float8GetDatum(rate);
		if (copy.done > 0 && copy.total >= copy.done)
			values[10] = Float8GetDatum((copy.total - copy.done) / Max(rate, 0.001));
		else
			nulls[10] = true;
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	return (Datum) 0;
}
