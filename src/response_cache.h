/*
 * response_cache.h
 *		The durable response cache (response_cache.c): an identical request
 *		is answered from the table openrouter_response_cache instead of
 *		being sent and paid again.
 */
#ifndef OPENROUTER_RESPONSE_CACHE_H
#define OPENROUTER_RESPONSE_CACHE_H

#include "openrouter.h"

/* openrouter.cache */
typedef enum OrResponseCacheMode
{
	OR_RESPONSE_CACHE_OFF,
	OR_RESPONSE_CACHE_ON,
	OR_RESPONSE_CACHE_REFRESH
} OrResponseCacheMode;

extern int	or_response_cache_mode;
extern bool or_response_cache_mode_explicit;	/* not the built-in default */
extern int	or_response_cache_max_age;	/* openrouter.cache_max_age, minutes; 0: none */
extern int	or_response_cache_max_size; /* openrouter.cache_max_size, MB; 0: none */

/* from _PG_init, while shared_preload_libraries are being loaded */
extern void or_response_cache_install_hooks(void);

/*
 * The pre-send step (send.c): answer from the cache what it holds (each hit
 * is recorded in the usage ledger as from_cache), move the exchanges still
 * to send to the front of the array and return how many there are; and
 * chain onto schedule->on_done so that every answer that arrives is kept.
 */
extern int	or_response_cache_answer(OrExchange **exchanges, int count,
									 OrSchedule *schedule);

/* for the database's worker: remove what the age and size limits exclude */
extern int64 or_response_cache_expire(void);

#endif							/* OPENROUTER_RESPONSE_CACHE_H */
