/*
 * batch.c
 *		openrouter_chat_batch(): many chat completions requests from one call,
 *		sent concurrently through the transfer engine, answered in order.
 *
 * Each element of the array is an object with the keys of openrouter_chat's
 * arguments (messages, model, model_kwargs, tools, tool_choice, provider,
 * transforms, site_url, site_name).  Up to openrouter.max_concurrency
 * requests are in flight at once.  A NULL element, or one without messages,
 * gives NULL.  With on_error => 'abort' the first failure ends the call (and
 * stops the transfers still running); with 'ignore' each failure is returned
 * in its request's place.
 */
#include "openrouter.h"

#include "catalog/pg_type.h"
#include "funcapi.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/tuplestore.h"

#include "jsonb_util.h"

PG_FUNCTION_INFO_V1(openrouter_chat_batch);

static const char *const request_keys[] = {
	"messages", "model", "model_kwargs", "tools", "tool_choice", "provider",
	"transforms", "site_url", "site_name"
};

static OrFailure *
batch_failure(int position, const char *fmt, const char *what)
{
	OrFailure  *failure = or_failure_new(ERRCODE_INVALID_PARAMETER_VALUE, "invalid_argument", false, fmt, position, what);

	failure->hint = pstrdup("Each request is an object with the keys of openrouter_chat's arguments: messages, model, model_kwargs, tools, tool_choice, provider, transforms, site_url, site_name.");
	return failure;
}

/* a jsonb argument from the request object: NULL when absent or JSON null */
static Jsonb *
jsonb_member(JsonbContainer *request, const char *key)
{
	JsonbValue *v = jb_object_get(request, key);

	if (v == NULL || v->type == jbvNull)
		return NULL;
	return jb_value_to_jsonb(v);
}

/* a text argument: must be a JSON string when present */
static bool
text_member(JsonbContainer *request, const char *key, text **out)
{
	JsonbValue *v = jb_object_get(request, key);

	*out = NULL;
	if (v == NULL || v->type == jbvNull)
		return true;
	if (v->type != jbvString)
		return false;
	*out = cstring_to_text_with_len(v->val.string.val, v->val.string.len);
	return true;
}

/* Turn request number "position" into an exchange, or a failure. */
static OrFailure *
prepare_exchange(Jsonb *request, int position, OrExchange *exchange, bool *skip)
{
	OrChatArgs	args;
	JsonbIterator *it;
	JsonbValue	v;
	JsonbIteratorToken tok;

	*skip = false;
	if (JB_ROOT_IS_SCALAR(request) || !JB_ROOT_IS_OBJECT(request))
		return batch_failure(position, "request %d is not a JSON %s", "object");

	it = JsonbIteratorInit(&request->root);
	while ((tok = JsonbIteratorNext(&it, &v, true)) != WJB_DONE)
	{
		bool		known = false;

		if (tok != WJB_KEY)
			continue;
		for (int i = 0; i < (int) lengthof(request_keys); i++)
			if (strlen(request_keys[i]) == (size_t) v.val.string.len &&
				strncmp(request_keys[i], v.val.string.val, v.val.string.len) == 0)
				known = true;
		if (!known)
			return batch_failure(position, "request %d has an unknown key \"%s\"",
								 pnstrdup(v.val.string.val, v.val.string.len));
	}

	memset(&args, 0, sizeof(args));
	args.messages = jsonb_member(&request->root, "messages");
	if (args.messages == NULL)
	{
		*skip = true;			/* like openrouter_chat(NULL, ...) */
		return NULL;
	}
	if (!text_member(&request->root, "model", &args.model))
		return batch_failure(position, "request %d: \"%s\" must be a string", "model");
	if (!text_member(&request->root, "site_url", &args.site_url))
		return batch_failure(position, "request %d: \"%s\" must be a string", "site_url");
	if (!text_member(&request->root, "site_name", &args.site_name))
		return batch_failure(position, "request %d: \"%s\" must be a string", "site_name");
	args.model_kwargs = jsonb_member(&request->root, "model_kwargs");
	args.tools = jsonb_member(&request->root, "tools");
	args.tool_choice = jsonb_member(&request->root, "tool_choice");
	args.provider = jsonb_member(&request->root, "provider");
	args.transforms = jsonb_member(&request->root, "transforms");

	return or_build_chat_request(&args, &exchange->request);
}

/*
 * openrouter_chat_batch(requests jsonb[], on_error text) RETURNS SETOF jsonb
 */
Datum
openrouter_chat_batch(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	OrOnError	on_error = or_effective_on_error(PG_ARGISNULL(1) ? NULL : PG_GETARG_TEXT_PP(1));
	ArrayType  *requests;
	Datum	   *elements;
	bool	   *nulls;
	int			count;
	OrExchange *exchanges;
	OrFailure **failures;
	bool	   *skipped;
	OrExchange **to_send;
	int			n_to_send = 0;

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

	exchanges = palloc0(count * sizeof(OrExchange));
	failures = palloc0(count * sizeof(OrFailure *));
	skipped = palloc0(count * sizeof(bool));
	to_send = palloc(count * sizeof(OrExchange *));

	for (int i = 0; i < count; i++)
	{
		if (nulls[i])
		{
			skipped[i] = true;
			continue;
		}
		failures[i] = prepare_exchange(DatumGetJsonbP(elements[i]), i + 1,
									   &exchanges[i], &skipped[i]);
		if (failures[i] != NULL && on_error == OR_ON_ERROR_ABORT)
			or_failure_raise(failures[i]);
		if (failures[i] == NULL && !skipped[i])
		{
			exchanges[i].abort_on_failure = (on_error == OR_ON_ERROR_ABORT);
			to_send[n_to_send++] = &exchanges[i];
		}
	}

	or_send(to_send, n_to_send, or_max_concurrency);

	for (int i = 0; i < count; i++)
	{
		Datum		value = (Datum) 0;
		bool		isnull = skipped[i];
		OrFailure  *failure = failures[i] ? failures[i] : exchanges[i].failure;

		if (!isnull)
			value = JsonbPGetDatum(failure ? or_failure_to_jsonb(failure)
								   : exchanges[i].result);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, &value, &isnull);
	}
	return (Datum) 0;
}
