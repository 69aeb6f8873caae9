/*
 * progress_board.h
 *		Operations in progress, published in shared memory so that another
 *		session can see them (progress_board.c; view openrouter_progress).
 */
#ifndef OPENROUTER_PROGRESS_BOARD_H
#define OPENROUTER_PROGRESS_BOARD_H

#include "postgres.h"

#include "datatype/timestamp.h"

extern void or_progress_board_shmem_request(void);
extern void or_progress_board_shmem_attach(void);

/* this backend's operation: published, updated, taken down */
extern void or_progress_board_publish(const char *what, const char *unit, uint64 total,
									  TimestampTz started);
extern void or_progress_board_update(uint64 done, uint64 errors);
extern void or_progress_board_clear(void);

#endif							/* OPENROUTER_PROGRESS_BOARD_H */
