/*
 * models.h
 *		OpenRouter's models catalog and key status (models.c).
 */
#ifndef OPENROUTER_MODELS_H
#define OPENROUTER_MODELS_H

#include "postgres.h"

#include "datatype/timestamp.h"

extern int	or_models_refresh_minutes;	/* openrouter.models_refresh_interval */

/* the database worker's step: refresh the catalog when it is due */
extern void or_models_refresh_step(TimestampTz *next);

#endif							/* OPENROUTER_MODELS_H */
