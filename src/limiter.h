/*
 * limiter.h
 *		Pacing per API key (limiter.c): when requests may start, how many
 *		at once, and what a 429 changes, for every session of the server
 *		that sends with the same key (per session without the preload).
 */
#ifndef OPENROUTER_LIMITER_H
#define OPENROUTER_LIMITER_H

#include "postgres.h"

#include "scheduler.h"

/* the pacer send.c hands the scheduler (OrSchedule.pacer) */
extern const OrPacer or_limiter_pacer;

/* shared memory, from shared_state.c's hooks (preloaded library only) */
extern Size or_limiter_shmem_size(void);
extern void or_limiter_shmem_request(void);
extern void or_limiter_shmem_attach(void);

#endif							/* OPENROUTER_LIMITER_H */
