/*
 * async_queue.h
 *		Queueing the cells of inserted rows of an asynchronous computed
 *		column, straight into the queue table (async_queue.c).
 */
#ifndef OPENROUTER_ASYNC_QUEUE_H
#define OPENROUTER_ASYNC_QUEUE_H

#include "postgres.h"

/*
 * Write an entry of openrouter_async_queue (queue_relid, versions from the
 * sequence versions_relid) for each key (a text[] of stored keys) of the
 * given table and column that has none.  Returns the keys that have one (or
 * every key, when the queue's shape is not the known one) as a text[], for
 * INSERT ... ON CONFLICT; (Datum) 0 and *nrest = 0 when none is left.
 */
extern Datum or_async_queue_add_new(Oid queue_relid, Oid versions_relid, Oid relid,
									const char *column, Datum keys, int *nrest);

/*
 * Whether the queue has an entry, committed or in progress, for the key (a
 * stored key, text) of the given table and column; true too when the
 * queue's shape is not the known one (the caller then takes the SQL way).
 */
extern bool or_async_queue_has_entry(Oid queue_relid, Oid relid, const char *column,
									 Datum key);

/* Whether the queue has any entry for the column (same look, same caveat). */
extern bool or_async_queue_has_entries(Oid queue_relid, Oid relid, const char *column);

#endif							/* OPENROUTER_ASYNC_QUEUE_H */
