/*
 * async_columns.h
 *		Asynchronous computed columns: the database worker's step
 *		(async_columns.c).
 */
#ifndef OPENROUTER_ASYNC_COLUMNS_H
#define OPENROUTER_ASYNC_COLUMNS_H

#include "postgres.h"

/*
 * Compute one chunk of the queued cells of one asynchronous column, in
 * transactions of its own (call it outside a transaction).  Returns 1 when
 * cells were computed (more may be due: call again soon), 0 when nothing
 * was due, -1 when the database has no extension at 1.1.  Never raises an
 * ERROR of a column's own: it is logged and the column waits.
 */
extern int	or_async_columns_step(void);

#endif							/* OPENROUTER_ASYNC_COLUMNS_H */
