/*
 * computed.h
 *		Computed columns (computed.c): what a caller outside the SQL entry points
 *		needs to compute cells: the background worker's asynchronous columns
 *		(async_columns.c).
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
	bool		async;			/* computed by the background worker (async_columns.c) */
	bool		paused;			/* async: left alone by the worker for now */
	bool		nulls_pending;	/* async: every NULL cell is pending by itself */
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

/* The computed columns of a table (all, or the one named), by position: copies. */
extern List *or_computed_columns(Oid ns, Oid relid, const char *column);

/*
 * After cc was written for the rows at these ctids: compute the computed
 * columns that read it (queue the asynchronous ones).
 */
extern void or_compute_dependents(Oid ns, const OrComputedColumn *cc,
								  ItemPointerData *ctids, int n);

/*
 * Queue the cells of an asynchronous column for the rows at these ctids
 * (their keys read as the current user; the queue written as the extension's
 * owner), and wake the worker at commit.  Returns how many were queued.
 */
extern uint64 or_enqueue_cells(Oid ns, const OrComputedColumn *cc,
							   const ItemPointerData *ctids, int n);

/*
 * SQL over a table's primary key: the key as the queue stores it (text),
 * and the condition that a row of the table (alias) has a stored key.
 */
extern char *or_key_text_sql(Oid relid, const char *alias);
extern char *or_key_match_sql(Oid relid, const char *alias, const char *key_text);

#endif							/* OPENROUTER_COMPUTED_H */
