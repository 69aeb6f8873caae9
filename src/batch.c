/*
 * batch.c
 *		openrouter_chat_batch(): many chat completions requests from one call,
 *		sent concurrently through the transfer engine, answered in order.
 *
 * Each element of the array is an object whose keys are openrouter_chat's
 * arguments but on_error (the descriptor table's batch keys, request.h); an
 * unknown key is a failure of that request.  Up to openrouter.max_concurrency
 * requests are in flight at once.  A NULL element, or one without messages,
 * gives NULL.  Requests the transaction's request cache has an answer to
 * are not sent, and identical requests of one batch are sent once.  With
 * on_error => 'abort' the first failure ends the call (and stops the
 * transfers still running); with 'ignore' each failure is returned in its
 * request's place.  While openrouter_prefetch() collects, the requests are
 * collected like openrouter_chat()'s and every element gives NULL.
 */
#include "openrouter.h"

#include "catalog/pg_type.h"
#include "funcapi.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/hsearch.h"
#include "utils/lsyscache.h"
#include "utils/tuplestore.h"

#include "prefetch.h"
#include "progress.h"
#include "request.h"
#include "request_cache.h"

PG_FUNCTION_INFO_V1(openrouter_chat_batch);

/* one element of the batch */
typedef struct BatchItem
{
	bool		skipped;		/* NULL, or no messages: NULL */
	OrFailure  *failure;		/* a bad request, or a cached failure */
	OrExchange	exchange;
	OrRequestKey key;
	int			same_as;		/* an earlier identical request, or -1 */
	bool		answered;		/* the cache answered it */
} BatchItem;

typedef struct FirstOfKey
{
	OrRequestKey key;			/* hash key */
	int			index;
} FirstOfKey;

/* Turn request number "position" into an exchange, or a failure. */
static OrFailure *
prepare_exchange(Jsonb *request, int position, OrExchange *exchange, bool *skip)
{
	OrChatArgs	args;
	OrFailure  *failure;

	*skip = false;
	if ((failure = or_chat_args_from_object(request, position, &args)) != NULL)
		return failure;
	if (OR_CHAT_JSONB(&args, OR_CHAT_MESSAGES) == NULL)
	{
		*skip = true;			/* like openrouter_chat(NULL, ...) */
		return NULL;
	}
	return or_build_chat_request(&args, &exchange->request);
}

/* mark the requests that repeat an earlier one of the batch */
static void
find_repeats(BatchItem *items, int count)
{
	HASHCTL		ctl;
	HTAB	   *first;

	memset(&ctl, 0, sizeof(ctl));
	ctl.keysize = sizeof(OrRequestKey);
	ctl.entrysize = sizeof(FirstOfKey);
	ctl.hcxt = CurrentMemoryContext;
	first = hash_create("openrouter batch requests", Max(count, 16), &ctl,
						HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
	for (int i = 0; i < count; i++)
	{
		FirstOfKey *entry;
		bool		found;

		items[i].same_as = -1;
		if (items[i].skipped || items[i].failure || items[i].answered)
			continue;
		entry = hash_search(first, &items[i].key, HASH_ENTER, &found);
		if (found)
			items[i].same_as = entry->index;
		else
			entry->index = i;
	}
	hash_destroy(first);
}

/*
 * openrouter_chat_batch(requests jsonb[], on_error text) RETURNS SETOF jsonb
 */
Datum
openrouter_chat_batch(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	OrOnError	on_error = or_effective_on_error(PG_ARGISNULL(1) ? NULL : PG_GETARG_TEXT_PP(1));
	bool		collecting = or_prefetch_collecting();
	ArrayType  *requests;
	Datum	   *elements;
	bool	   *nulls;
	int			count;
	BatchItem  *items;
	OrExchange **to_send;
	int			n_to_send = 0;
	OrClientIdentity client;
	bool		have_client = false;
	OrProgress	progress;

	InitMaterializedSRF(fcinfo, MAT_SRF_USE_EXPECTED_DESC);
	if (PG_ARGISNULL(0))
		return (Datum) 0;

	requests = PG_GETARG_ARRAYTYPE_P(0);
	if (ARR_NDIM(requests) > 1)
		ereport(ERROR,
				(errcode(ERRCODE_ARRAY_SUBSCRIPT_ERROR),
				 errmsg("requests must be a one-dimensional array")));
	deconstruct_array(requests, JSONBOID, -1, false, TYPALIGN_INT,
					  &elements, &nulls, &count);

	items = palloc0(Max(count, 1) * sizeof(BatchItem));
	to_send = palloc(Max(count, 1) * sizeof(OrExchange *));

	for (int i = 0; i < count; i++)
	{
		BatchItem  *item = &items[i];

		item->exchange.abort_on_failure = (on_error == OR_ON_ERROR_ABORT);
		if (nulls[i])
		{
			item->skipped = true;
			continue;
		}
		item->failure = prepare_exchange(DatumGetJsonbP(elements[i]), i + 1,
										 &item->exchange, &item->skipped);
		if (item->failure != NULL || item->skipped)
		{
			/* collect mode reports nothing: the evaluation for real will */
			if (item->failure != NULL && on_error == OR_ON_ERROR_ABORT && !collecting)
				or_failure_raise(item->failure);
			continue;
		}
		if (!have_client)
		{
			or_client_identity(&client);
			have_client = true;
		}
		or_request_key(&item->exchange.request, &client, &item->key);
		if (collecting)
			or_prefetch_collect(&item->exchange.request, &client, &item->key,
								item->exchange.abort_on_failure);
		else if ((item->answered = or_cache_lookup(&item->key, &item->exchange.result,
												   &item->failure)) &&
				 item->failure != NULL && on_error == OR_ON_ERROR_ABORT)
			or_failure_raise(item->failure);
	}

	if (collecting)
	{
		/* openrouter_prefetch() is collecting requests: a NULL for each */
		for (int i = 0; i < count; i++)
		{
			Datum		value = (Datum) 0;
			bool		isnull = true;

			tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, &value, &isnull);
		}
		return (Datum) 0;
	}

	find_repeats(items, count);
	for (int i = 0; i < count; i++)
		if (!items[i].skipped && !items[i].failure && !items[i].answered &&
			items[i].same_as < 0)
			to_send[n_to_send++] = &items[i].exchange;

	or_progress_start(&progress, "openrouter_chat_batch", "requests", n_to_send, false);
	or_send_reporting(to_send, n_to_send, or_max_concurrency, &progress);
	or_progress_finish(&progress);

	for (int i = 0; i < count; i++)
	{
		BatchItem  *item = &items[i];
		BatchItem  *sent = item->same_as >= 0 ? &items[item->same_as] : item;
		Datum		value = (Datum) 0;
		bool		isnull = item->skipped;
		OrFailure  *failure;

		if (item == sent && !item->skipped && !item->failure && !item->answered)
			or_cache_store(&item->key, &item->exchange, false);
		failure = item->failure ? item->failure : sent->exchange.failure;
		if (!isnull)
			value = JsonbPGetDatum(failure ? or_failure_to_jsonb(failure)
								   : sent->exchange.result);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, &value, &isnull);
	}
	return (Datum) 0;
}
