/*
 * definition_cache.h
 *		The backend's copy of the computed-column definitions, per table
 *		(definition_cache.c).
 */
#ifndef OPENROUTER_DEFINITION_CACHE_H
#define OPENROUTER_DEFINITION_CACHE_H

#include "postgres.h"

#include "nodes/pg_list.h"

/*
 * definitions: the OID of the definitions table the list was read from.
 * lookup sets *columns to copies (in the current memory context) and returns
 * true when the table's definitions are cached; store keeps copies of what
 * was read (unless the definitions table is 1.0's, which announces no
 * change).
 */
extern bool or_definition_cache_lookup(Oid definitions, Oid relid, List **columns);
extern void or_definition_cache_store(Oid definitions, Oid relid, const List *columns);

#endif							/* OPENROUTER_DEFINITION_CACHE_H */
