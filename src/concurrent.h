/*
 * concurrent.h
 *		Plain SQL made concurrent (concurrent.c): the mark a SQL-callable C
 *		function carries so that the planner may evaluate its calls a window
 *		of rows at a time, and the module's setup.
 */
#ifndef OPENROUTER_CONCURRENT_H
#define OPENROUTER_CONCURRENT_H

#include "openrouter.h"

/*
 * OR_CONCURRENT_FUNCTION(fn), next to PG_FUNCTION_INFO_V1(fn), marks fn as a
 * function whose calls may be made concurrent.  Its contract: while
 * or_prefetch_collecting() (prefetch.h) it reports its request(s) with
 * or_prefetch_collect() and returns without sending; otherwise it takes the
 * answer the transaction's request cache has (request_cache.h) before
 * sending; and its answer depends on its arguments and that answer only.
 * The planner recognises a marked function by this exported symbol.
 */
#define OR_CONCURRENT_SYMBOL_PREFIX "or_concurrent_"
#define OR_CONCURRENT_FUNCTION(fn) \
	extern PGDLLEXPORT const int or_concurrent_##fn; \
	const int	or_concurrent_##fn = 1

/* the planner hook and the plan node's methods (_PG_init) */
extern void or_concurrent_init(void);

#endif							/* OPENROUTER_CONCURRENT_H */
