/*
 * async_queue.c
 *		Queueing the cells of rows an INSERT added to a table with an
 *		asynchronous computed column, written straight into
 *		openrouter_async_queue and its primary-key index.
 *
 * Why it exists: the trigger of an asynchronous column runs for every
 * single-row INSERT of an application, and its cost is the difference
 * between a table with the column and one without.  The general way
 * (INSERT ... ON CONFLICT through SPI, computed.c) costs several times what
 * writing one tuple and one index entry does.
 *
 * What it owns: or_async_queue_add_new(), which writes an entry for each
 * key that has none (a look into the primary key with a dirty snapshot:
 * entries of other transactions in progress count, so do rows being
 * deleted) and hands every other key back, for the caller's INSERT ... ON
 * CONFLICT to give it a new version; or_async_queue_has_entry() and
 * or_async_queue_has_entries(), the same look for one key, or for any key
 * of a column (the row trigger of a column whose empty cells are pending
 * writes nothing unless an earlier row with the key left an entry).  The entry written is the one the
 * table's defaults make (openrouter--1.0--1.1.sql): a version from
 * openrouter_async_version, attempts 0, not_before -infinity.
 *
 * Rules kept here: the queue is written only in the shape this file knows
 * (its six columns by name and type, one index: the primary key on the
 * first three); any other shape, e.g. a later version's, makes it write
 * nothing and hand back every key.  An entry appearing between the look and
 * the write meets the index's own unique check (which waits for a
 * transaction in progress), never a silent duplicate.  Like the SQL way, it
 * writes as the extension, whatever the caller's privileges on the queue:
 * the keys come from rows the caller has just inserted.
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/heapam.h"
#include "access/htup_details.h"
#include "access/stratnum.h"
#include "access/table.h"
#include "catalog/index.h"
#include "catalog/pg_type.h"
#include "commands/sequence.h"
#include "executor/tuptable.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/datetime.h"
#include "utils/fmgroids.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"

#include "async_queue.h"

/* the queue's columns, in order, as the 1.1 script creates them */
static const struct
{
	const char *name;
	Oid			type;
}			queue_columns[] = {
	{"table_oid", OIDOID},
	{"column_name", TEXTOID},
	{"row_key", TEXTOID},
	{"version", INT8OID},
	{"attempts", INT4OID},
	{"not_before", TIMESTAMPTZOID},
};

#define QUEUE_NATTS ((int) lengthof(queue_columns))
#define QUEUE_KEY_NATTS 3

static bool has_entries(Oid queue_relid, Oid relid, const char *column, Datum key, int nkeys);

/* the queue's only index, when the queue has the known shape; else NULL */
static Relation
open_known_shape(Relation queue, LOCKMODE mode)
{
	TupleDesc	desc = RelationGetDescr(queue);
	List	   *indexes;
	Relation	index;
	bool		known;

	if (desc->natts != QUEUE_NATTS)
		return NULL;
	for (int i = 0; i < QUEUE_NATTS; i++)
	{
		Form_pg_attribute attr = TupleDescAttr(desc, i);

		if (attr->attisdropped || attr->atttypid != queue_columns[i].type ||
			strcmp(NameStr(attr->attname), queue_columns[i].name) != 0)
			return NULL;
	}
	indexes = RelationGetIndexList(queue);
	if (list_length(indexes) != 1)
		return NULL;
	index = index_open(linitial_oid(indexes), mode);
	known = index->rd_index->indisprimary && index->rd_index->indisvalid &&
		index->rd_index->indnatts == QUEUE_KEY_NATTS &&
		RelationGetIndexExpressions(index) == NIL &&
		RelationGetIndexPredicate(index) == NIL;
	for (int i = 0; known && i < QUEUE_KEY_NATTS; i++)
		known = index->rd_index->indkey.values[i] == i + 1;
	if (!known)
	{
		index_close(index, mode);
		return NULL;
	}
	return index;
}

/*
 * Is there an entry, committed or in progress, whose first nkeys key columns
 * are these (all three: the entry of one cell; two: any of one column)?
 */
static bool
entry_exists(Relation queue, Relation index, TupleTableSlot *slot, const Datum *key, int nkeys)
{
	static const RegProcedure equal[QUEUE_KEY_NATTS] = {F_OIDEQ, F_TEXTEQ, F_TEXTEQ};
	ScanKeyData scankeys[QUEUE_KEY_NATTS];
	SnapshotData dirty;
	IndexScanDesc scan;
	bool		found;

	for (int i = 0; i < nkeys; i++)
		ScanKeyEntryInitialize(&scankeys[i], 0, i + 1, BTEqualStrategyNumber, InvalidOid,
							   index->rd_indcollation[i], equal[i], key[i]);
	InitDirtySnapshot(dirty);
	scan = index_beginscan(queue, index, &dirty, nkeys, 0);
	index_rescan(scan, scankeys, nkeys, NULL, 0);
	found = index_getnext_slot(scan, ForwardScanDirection, slot);
	index_endscan(scan);
	return found;
}

Datum
or_async_queue_add_new(Oid queue_relid, Oid versions_relid, Oid relid,
					   const char *column, Datum keys, int *nrest)
{
	Relation	queue = table_open(queue_relid, RowExclusiveLock);
	Relation	index = open_known_shape(queue, RowExclusiveLock);
	IndexInfo  *info;
	TupleTableSlot *slot;
	Datum		column_name;
	Datum	   *elems;
	int			nelems;
	Datum	   *rest;

	deconstruct_array(DatumGetArrayTypeP(keys), TEXTOID, -1, false, TYPALIGN_INT,
					  &elems, NULL, &nelems);
	*nrest = 0;
	if (index == NULL)
	{
		table_close(queue, RowExclusiveLock);
		*nrest = nelems;
		return keys;
	}
	info = BuildIndexInfo(index);
	slot = table_slot_create(queue, NULL);
	column_name = CStringGetTextDatum(column);
	rest = palloc(sizeof(Datum) * Max(nelems, 1));
	for (int i = 0; i < nelems; i++)
	{
		Datum		values[QUEUE_NATTS];
		bool		nulls[QUEUE_NATTS] = {0};
		HeapTuple	tuple;

		values[0] = ObjectIdGetDatum(relid);
		values[1] = column_name;
		values[2] = elems[i];
		if (entry_exists(queue, index, slot, values, QUEUE_KEY_NATTS))
		{
			rest[(*nrest)++] = elems[i];
			continue;
		}
		values[3] = Int64GetDatum(nextval_internal(versions_relid, false));
		values[4] = Int32GetDatum(0);
		values[5] = TimestampTzGetDatum(DT_NOBEGIN);
		tuple = heap_form_tuple(RelationGetDescr(queue), values, nulls);
		simple_heap_insert(queue, tuple);
		(void) index_insert(index, values, nulls, &tuple->t_self, queue,
							UNIQUE_CHECK_YES, false, info);
		heap_freetuple(tuple);
	}
	ExecDropSingleTupleTableSlot(slot);
	/* (the locks are kept until the transaction ends, as a statement's are) */
	index_close(index, NoLock);
	table_close(queue, NoLock);
	if (*nrest == 0)
		return (Datum) 0;
	return PointerGetDatum(construct_array(rest, *nrest, TEXTOID, -1, false, TYPALIGN_INT));
}

bool
or_async_queue_has_entry(Oid queue_relid, Oid relid, const char *column, Datum key)
{
	return has_entries(queue_relid, relid, column, key, QUEUE_KEY_NATTS);
}

bool
or_async_queue_has_entries(Oid queue_relid, Oid relid, const char *column)
{
	return has_entries(queue_relid, relid, column, (Datum) 0, QUEUE_KEY_NATTS - 1);
}

static bool
has_entries(Oid queue_relid, Oid relid, const char *column, Datum key, int nkeys)
{
	Relation	queue = table_open(queue_relid, AccessShareLock);
	Relation	index = open_known_shape(queue, AccessShareLock);
	bool		found = true;

	if (index != NULL)
	{
		TupleTableSlot *slot = table_slot_create(queue, NULL);
		Datum		values[QUEUE_KEY_NATTS];

		values[0] = ObjectIdGetDatum(relid);
		values[1] = CStringGetTextDatum(column);
		values[2] = key;
		found = entry_exists(queue, index, slot, values, nkeys);
		ExecDropSingleTupleTableSlot(slot);
		index_close(index, NoLock);
	}
	table_close(queue, NoLock);
	return found;
}

