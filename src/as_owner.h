/*
 * as_owner.h
 *		Running the extension's own statements on its private tables as the
 *		tables' owner (as_owner.c).
 */
#ifndef OPENROUTER_AS_OWNER_H
#define OPENROUTER_AS_OWNER_H

#include "postgres.h"

/* what runs as the owner, connected to SPI */
typedef void (*OrOwnerWork) (void *arg);

extern void or_run_as_owner(Oid owner, OrOwnerWork work, void *arg);

#endif							/* OPENROUTER_AS_OWNER_H */
