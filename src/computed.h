/*
 * computed.h
 *		Computed columns (computed.c): what a caller outside the SQL entry points
 *		needs to compute cells, e.g. the background worker of a later release.
 */
#ifndef OPENROUTER_COMPUTED_H
#define OPENROUTER_COMPUTED_H

#include "openrouter.h"

#include "nodes/pg_list.h"
#include "storage/itemptr.h"

/* One computed column, as its definition row stores it. */
typedef struct OrComputedColumn
{
	Oid			relid;			/* the table */
	char	   *column;			/* the computed column's name */
	char	   *expression;		/* bound SQL text: every name resolved and qualified */
	char	   *search_path;	/* search_path the expression runs under */
	OrOnError	on_error;		/* the default of the calls in the expression */
	int			position;		/* creation order: the order its triggers fire in */
	bool		whole_row;		/* reads the whole row: every column is an input */
	int			ninputs;		/* the columns it reads (transitively) */
	char	  **inputs;
} OrComputedColumn;

/* What one computation did. */
typedef struct OrComputeCounts
{
	uint64		computed;		/* cells written */
	uint64		failed;			/* of those, failures ({"error": ...} or NULL) */
} OrComputeCounts;

/*
 * Compute the cells of one column for the rows at the given ctids, in this
 * transaction: rows another transaction holds are skipped, the others are
 * locked before any request goes out.  Returns the ctids of the rows written
 * (their new versions, palloc'd; *nwritten of them) and adds to *counts.
 * Needs a transaction and a snapshot; runs the expression as the current
 * user under the column's recorded search_path, with its on_error.
 */
extern ItemPointerData *or_compute_cells(const OrComputedColumn *cc,
										 const ItemPointerData *ctids, int nctids,
										 int *nwritten, OrComputeCounts *counts);

/* The computed columns of a table (all, or the one named), by position. */
extern List *or_computed_columns(Oid ns, Oid relid, const char *column);

#endif							/* OPENROUTER_COMPUTED_H */
