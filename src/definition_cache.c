/*
 * definition_cache.c
 *		The backend's copy of the computed-column definitions it has read,
 *		per table, so that a trigger firing for every single-row INSERT does
 *		not query the definitions table each time.
 *
 * What it owns:
 *	- a hash from a table's OID to copies of its definitions (a List of
 *	  OrComputedColumn, computed.h), in one memory context under
 *	  CacheMemoryContext;
 *	- openrouter_computed_column_changed(), the statement trigger of the
 *	  definitions table (version 1.1): every INSERT, UPDATE, DELETE or
 *	  TRUNCATE of it, whoever runs it (the extension's functions, the
 *	  worker pausing a column, a restore), empties this backend's cache at
 *	  once and sends a relcache invalidation of the table, which empties
 *	  every other backend's cache when the change commits (and this one's
 *	  again if it rolls back);
 *	- a relcache callback: the invalidation of the definitions table, of a
 *	  cached table, or of every relation empties the cache.
 *
 * Rules kept here: only a definitions table that has the trigger is cached
 * (with 1.0's SQL, which has none, every call reads the table as before);
 * callers get copies in their own memory context, never the cached ones;
 * nothing here runs SPI or reads the table: computed.c does, and hands
 * what it read to or_definition_cache_store().
 */
#include "postgres.h"

#include "access/table.h"
#include "commands/trigger.h"
#include "nodes/pg_list.h"
#include "utils/hsearch.h"
#include "utils/inval.h"
#include "utils/memutils.h"
#include "utils/rel.h"

#include "computed.h"
#include "definition_cache.h"

#define CHANGE_TRIGGER "openrouter_computed_column_changed"

typedef struct CachedDefinitions
{
	Oid			relid;			/* hash key */
	List	   *columns;		/* of OrComputedColumn, in cache_context */
} CachedDefinitions;

static MemoryContext cache_context = NULL;
static HTAB *cache = NULL;
static Oid	cached_definitions_table = InvalidOid;
static bool callback_registered = false;

static void
forget_all(void)
{
	if (cache_context != NULL)
		MemoryContextReset(cache_context);
	cache = NULL;
	cached_definitions_table = InvalidOid;
}

static void
relcache_changed(Datum arg, Oid relid)
{
	if (cache == NULL)
		return;
	if (!OidIsValid(relid) || relid == cached_definitions_table ||
		hash_search(cache, &relid, HASH_FIND, NULL) != NULL)
		forget_all();
}

static OrComputedColumn *
copy_definition(const OrComputedColumn *from)
{
	OrComputedColumn *to = palloc(sizeof(OrComputedColumn));

	*to = *from;
	to->column = pstrdup(from->column);
	to->expression = pstrdup(from->expression);
	to->search_path = pstrdup(from->search_path);
	to->inputs = palloc(sizeof(char *) * Max(from->ninputs, 1));
	for (int i = 0; i < from->ninputs; i++)
		to->inputs[i] = pstrdup(from->inputs[i]);
	return to;
}

/* copies of a list of definitions, in the current memory context */
static List *
copy_definitions(const List *columns)
{
	List	   *copy = NIL;
	ListCell   *lc;

	foreach(lc, columns)
		copy = lappend(copy, copy_definition(lfirst(lc)));
	return copy;
}

/* does the definitions table send the invalidations this cache relies on? */
static bool
table_announces_changes(Oid definitions)
{
	Relation	rel = table_open(definitions, AccessShareLock);
	bool		found = false;

	for (int i = 0; rel->trigdesc != NULL && i < rel->trigdesc->numtriggers; i++)
		if (strcmp(rel->trigdesc->triggers[i].tgname, CHANGE_TRIGGER) == 0 &&
			rel->trigdesc->triggers[i].tgenabled != TRIGGER_DISABLED)
			found = true;
	table_close(rel, AccessShareLock);
	return found;
}

bool
or_definition_cache_lookup(Oid definitions, Oid relid, List **columns)
{
	CachedDefinitions *entry;

	if (cache == NULL || definitions != cached_definitions_table)
		return false;
	entry = hash_search(cache, &relid, HASH_FIND, NULL);
	if (entry == NULL)
		return false;
	*columns = copy_definitions(entry->columns);
	return true;
}

void
or_definition_cache_store(Oid definitions, Oid relid, const List *columns)
{
	CachedDefinitions *entry;
	MemoryContext old;
	bool		found;

	if (!callback_registered)
	{
		CacheRegisterRelcacheCallback(relcache_changed, (Datum) 0);
		callback_registered = true;
	}
	if (cache_context == NULL)
		cache_context = AllocSetContextCreate(CacheMemoryContext,
											  "openrouter computed-column definitions",
											  ALLOCSET_SMALL_SIZES);
	if (cache != NULL && definitions != cached_definitions_table)
		forget_all();
	if (cache == NULL)
	{
		HASHCTL		ctl;

		if (!table_announces_changes(definitions))
			return;				/* 1.0's table: read it every time */
		ctl.keysize = sizeof(Oid);
		ctl.entrysize = sizeof(CachedDefinitions);
		ctl.hcxt = cache_context;
		cache = hash_create("openrouter computed-column definitions", 16, &ctl,
							HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
		cached_definitions_table = definitions;
	}
	old = MemoryContextSwitchTo(cache_context);
	entry = hash_search(cache, &relid, HASH_ENTER, &found);
	entry->columns = copy_definitions(columns);
	MemoryContextSwitchTo(old);
}

PG_FUNCTION_INFO_V1(openrouter_computed_column_changed);

/*
 * openrouter_computed_column_changed(): AFTER INSERT OR UPDATE OR DELETE OR
 * TRUNCATE, FOR EACH STATEMENT, on the definitions table.
 */
Datum
openrouter_computed_column_changed(PG_FUNCTION_ARGS)
{
	TriggerData *trigger = (TriggerData *) fcinfo->context;

	if (!CALLED_AS_TRIGGER(fcinfo) || !TRIGGER_FIRED_FOR_STATEMENT(trigger->tg_event))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("openrouter_computed_column_changed() must be a statement trigger"),
				 errhint("It belongs to the extension's table of computed columns, where the extension creates it.")));
	forget_all();
	CacheInvalidateRelcacheByRelid(RelationGetRelid(trigger->tg_relation));
	return PointerGetDatum(NULL);
}
