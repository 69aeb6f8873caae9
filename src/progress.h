/*
 * progress.h
 *		Progress of long operations (progress.c): "what: done of total unit
 *		(%), errors" NOTICEs, with the rate and the time left in the DETAIL.
 */
#ifndef OPENROUTER_PROGRESS_H
#define OPENROUTER_PROGRESS_H

#include "postgres.h"

#include "utils/timestamp.h"

/* operations smaller than this report nothing (unless started with always) */
#define OR_PROGRESS_MIN_ITEMS 500
/* at most one report this often (the last one always comes) */
#define OR_PROGRESS_INTERVAL_MS 2000

typedef struct OrProgress
{
	const char *what;			/* "openrouter_chat_batch", "computing t.c", ... */
	const char *unit;			/* "rows", "requests" */
	uint64		total;
	uint64		done;
	uint64		errors;
	TimestampTz started;
	TimestampTz last_report;	/* 0: none yet */
	bool		active;			/* reports (big enough, and not nested) */
	bool		first_at_once;	/* the first step is reported at once */
} OrProgress;

/*
 * Start reporting an operation of total items.  Inactive (silent) when total
 * is below OR_PROGRESS_MIN_ITEMS, unless always (which also reports the first
 * step at once), or when another operation of this backend is reporting
 * already (its outer operation speaks for it).
 */
extern void or_progress_start(OrProgress *progress, const char *what, const char *unit,
							  uint64 total, bool always);
/* items finished (and of those, failed); reports when due */
extern void or_progress_add(OrProgress *progress, uint64 done, uint64 errors);
/* the last report (when anything was reported or always); stops reporting */
extern void or_progress_finish(OrProgress *progress);

/*
 * An error context callback (arg: the OrProgress) naming the operation and
 * how far it got, e.g. "computing t.c: 1000 of 1200 rows done"; pushed by
 * the caller around the operation, whether or not it reports, or called by
 * the caller's own callback when it has nothing more precise to say (the
 * failing row of a computed column: computed.c).
 */
extern void or_progress_error_context(void *arg);

#endif							/* OPENROUTER_PROGRESS_H */
