/*
 * prefetch.h
 *		openrouter_prefetch()'s collect mode (prefetch.c), as the entry points
 *		that make requests see it.
 */
#ifndef OPENROUTER_PREFETCH_H
#define OPENROUTER_PREFETCH_H

#include "openrouter.h"

#include "request_cache.h"

/* is openrouter_prefetch() collecting requests (send nothing, return NULL)? */
extern bool or_prefetch_collecting(void);

/*
 * In collect mode, every call that would make a request reports it here
 * (request NULL: the call has no request, e.g. a bad argument); the request
 * goes out with the others unless the cache already has its answer.
 */
extern void or_prefetch_collect(const OrHttpRequest *request,
								const OrClientIdentity *client,
								const OrRequestKey *key, bool abort_on_failure);

/*
 * Collect mode for a caller of its own (concurrent.c, computed.c): start
 * collecting (in a memory context made under parent), evaluate the calls,
 * stop (also on error: PG_FINALLY), then send what was collected.
 * or_prefetch_send() returns how many requests it sent and, when pinned is
 * not NULL, the keys of every request collected, whose answers it pinned in
 * the request cache: unpin each with or_cache_unpin() once its answer was
 * read.  With raise_failures, the first failure of a call with on_error
 * 'abort' is raised at once (openrouter_prefetch, computed columns);
 * without, it is kept for the call's own evaluation, which raises it in row
 * order.
 */
extern void or_prefetch_start(MemoryContext parent);
extern void or_prefetch_stop(void);
extern int	or_prefetch_send(bool raise_failures, OrRequestKey **pinned, int *npinned);

/*
 * Rows, for errors: a caller that evaluates row by row numbers its rows and
 * says which one the calls it evaluates next are for (-1: none; collect mode
 * starts and stops with none).  While or_prefetch_send() raises a request's
 * failure, or_prefetch_failed_row() is the row that request was collected
 * for (the first row that asked for it, or the first that aborts on its
 * failure), else -1: for an error context callback.
 */
extern void or_prefetch_set_row(int row);
extern int	or_prefetch_failed_row(void);

/* the planner hook that marks plans made while collecting (_PG_init) */
extern void or_prefetch_init(void);

#endif							/* OPENROUTER_PREFETCH_H */
