/*
 * progress.c
 *		Progress reports of long operations (openrouter_backfill, computed
 *		columns over many rows, openrouter_chat_batch): one format for all,
 *		  NOTICE:  what: 1500 of 10000 rows (15%), 2 errors
 *		  DETAIL:  180.3 rows/s, about 47 s left
 *
 * Rules this file keeps:
 * - The numbers that vary from run to run (rate, time left) are in the
 *   DETAIL only, so that `\set VERBOSITY terse` shows a reproducible line.
 * - Small operations say nothing; a big one reports at most once per
 *   OR_PROGRESS_INTERVAL_MS (the first time when that much has passed since
 *   it started) and always its end: an operation quicker than that says
 *   only how it ended.  One started with always (a batch job whose steps
 *   commit) reports every size and its first step at once.
 * - One operation of a backend reports at a time: one started while another
 *   is reporting (a computed column recomputed for a backfill's chunk, say)
 *   stays silent, and the outer one counts.
 * It reads no setting; the outermost operation is also published for other
 * sessions to see (progress_board.c, the view openrouter_progress).
 */
#include "progress.h"
#include "progress_board.h"

#include <math.h>

#include "access/xact.h"

/* the operation reporting now, or NULL, and the transaction level it began in */
static OrProgress *reporting = NULL;
static int	reporting_level = 0;

/* an operation that ended in an error never finished: forget it */
static void
forget_on_abort(XactEvent event, void *arg)
{
	if ((event == XACT_EVENT_ABORT || event == XACT_EVENT_PARALLEL_ABORT) && reporting != NULL)
	{
		reporting = NULL;
		or_progress_board_clear();
	}
}

static void
forget_on_subabort(SubXactEvent event, SubTransactionId mySubid,
				   SubTransactionId parentSubid, void *arg)
{
	if (event == SUBXACT_EVENT_ABORT_SUB && reporting != NULL &&
		reporting_level >= GetCurrentTransactionNestLevel())
	{
		reporting = NULL;
		or_progress_board_clear();
	}
}

static void
report(OrProgress *progress, TimestampTz now)
{
	double		seconds = Max((now - progress->started) / 1000000.0, 0.001);
	double		rate = progress->done / seconds;
	double		left = progress->total > progress->done
		? (double) (progress->total - progress->done) : 0.0;

	progress->last_report = now;
	ereport(NOTICE,
			(errmsg("%s: " UINT64_FORMAT " of " UINT64_FORMAT " %s (%.0f%%), " UINT64_FORMAT " errors",
					progress->what, progress->done, progress->total, progress->unit,
					progress->total > 0 ? floor(100.0 * progress->done / progress->total) : 100.0,
					progress->errors),
			 errdetail("%.1f %s/s, about %.0f s left", rate, progress->unit,
					   left / Max(rate, 0.001))));
}

void
or_progress_start(OrProgress *progress, const char *what, const char *unit,
				  uint64 total, bool always)
{
	memset(progress, 0, sizeof(OrProgress));
	progress->what = what;
	progress->unit = unit;
	progress->total = total;
	progress->started = GetCurrentTimestamp();
	progress->first_at_once = always;
	progress->active = reporting == NULL && (always || total >= OR_PROGRESS_MIN_ITEMS);
	if (progress->active)
	{
		static bool registered = false;

		if (!registered)
		{
			RegisterXactCallback(forget_on_abort, NULL);
			RegisterSubXactCallback(forget_on_subabort, NULL);
			registered = true;
		}
		reporting = progress;
		reporting_level = GetCurrentTransactionNestLevel();
		or_progress_board_publish(what, unit, total, progress->started);
	}
}

void
or_progress_add(OrProgress *progress, uint64 done, uint64 errors)
{
	TimestampTz now;

	progress->done += done;
	progress->errors += errors;
	if (!progress->active)
		return;
	or_progress_board_update(progress->done, progress->errors);
	now = GetCurrentTimestamp();
	if (progress->done >= progress->total)
		return;					/* the end is or_progress_finish's */
	if (progress->last_report == 0 ? progress->first_at_once ||
		TimestampDifferenceExceeds(progress->started, now, OR_PROGRESS_INTERVAL_MS)
		: TimestampDifferenceExceeds(progress->last_report, now, OR_PROGRESS_INTERVAL_MS))
		report(progress, now);
}

void
or_progress_finish(OrProgress *progress)
{
	if (!progress->active)
		return;
	report(progress, GetCurrentTimestamp());
	progress->active = false;
	if (reporting == progress)
	{
		reporting = NULL;
		or_progress_board_clear();
	}
}

void
or_progress_error_context(void *arg)
{
	const OrProgress *progress = (const OrProgress *) arg;

	errcontext("%s: " UINT64_FORMAT " of " UINT64_FORMAT " %s done",
			   progress->what, progress->done, progress->total, progress->unit);
}
