/*
 * ai_embed.c
 *		openrouter_embed: embeddings (POST /embeddings) as real[].
 *
 *   openrouter_embed(input text, model, dimensions, on_error) RETURNS real[]
 *   openrouter_embed(inputs text[], model, dimensions, on_error)
 *		RETURNS TABLE (index int, embedding real[])   -- one request for all
 *
 * The body is {"model", "input": a string or an array of strings,
 * "dimensions"?}; the answer's data[] holds {"embedding": [numbers],
 * "index"} per input (index 0-based on the wire, 1-based here, as SQL
 * arrays are).  The request goes through or_call() with the endpoint
 * OR_ENDPOINT_EMBEDDINGS: collected by openrouter_prefetch, cached for the
 * transaction (the cache key includes the endpoint), recorded in the usage
 * ledger.  Bad input (an empty input, no inputs, a NULL among them,
 * dimensions below 1, no model) is an ERROR before anything is sent; an
 * answer without embeddings is ORB01.  A failure gives NULL (or no rows)
 * with on_error 'ignore'.
 */
#include "openrouter.h"

#include "catalog/pg_type.h"
#include "funcapi.h"
#include "utils/array.h"
#include "utils/builtins.h"

#include "ai.h"
#include "concurrent.h"
#include "jsonb_util.h"

PG_FUNCTION_INFO_V1(openrouter_embed);
OR_CONCURRENT_FUNCTION(openrouter_embed);
PG_FUNCTION_INFO_V1(openrouter_embed_many);

/* build the request; inputs are checked */
static void
embeddings_request(OrExchange *exchange, text *model, text *single,
				   Datum *inputs, bool *nulls, int count, bool dimensions_given,
				   int32 dimensions)
{
	JsonbParseState *state = NULL;
	char	   *model_name;

	model_name = text_to_cstring(or_model_or_default(model, or_default_embedding_model,
													 "default_embedding_model"));
	if (dimensions_given && dimensions < 1)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("dimensions must be at least 1"),
				 errhint("Pass NULL for the model's own number of dimensions.")));
	if (single == NULL && count == 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("inputs must not be empty"),
				 errdetail("Nothing was sent.")));
	for (int i = 0; i < count; i++)
		if (nulls[i])
			ereport(ERROR,
					(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
					 errmsg("input %d is null", i + 1),
					 errdetail("Nothing was sent."),
					 errhint("Leave NULLs out of the array (array_remove(inputs, NULL)).")));
	for (int i = 0; i < (single ? 1 : count); i++)
		if (VARSIZE_ANY_EXHDR(single ? single : DatumGetTextPP(inputs[i])) == 0)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("input %d is empty", i + 1),
					 errdetail("An empty text has no embedding; nothing was sent.")));

	pushJsonbValue(&state, WJB_BEGIN_OBJECT, NULL);
	jb_push_key(&state, "model");
	jb_push_string(&state, model_name);
	jb_push_key(&state, "input");
	if (single != NULL)
		jb_push_string(&state, text_to_cstring(single));
	else
	{
		pushJsonbValue(&state, WJB_BEGIN_ARRAY, NULL);
		for (int i = 0; i < count; i++)
			jb_push_string(&state, TextDatumGetCString(inputs[i]));
		pushJsonbValue(&state, WJB_END_ARRAY, NULL);
	}
	if (dimensions_given)
	{
		jb_push_key(&state, "dimensions");
		jb_push_int(&state, dimensions);
	}
	or_set_request_body(&exchange->request,
						JsonbValueToJsonb(pushJsonbValue(&state, WJB_END_OBJECT, NULL)));
	exchange->request.endpoint = OR_ENDPOINT_EMBEDDINGS;
	exchange->request.model = model_name;
}


/*
 * The embeddings of the answer, by input (1-based index); a failure when
 * the answer is not shaped so.
 */
static OrFailure *
read_embeddings(Jsonb *response, int count, Datum *embeddings)
{
	JsonbContainer *data = jb_object_get_container(&response->root, "data");
	ListCell   *lc;

	if (data == NULL || !JsonContainerIsArray(data))
		return or_malformed_answer(response, "embeddings", "has no \"data\" array");
	foreach(lc, jb_array_elements(data))
	{
		JsonbValue *item = lfirst(lc);
		JsonbValue *index;
		JsonbValue *vector;
		List	   *numbers;
		Datum	   *values;
		int			i;
		ListCell   *ln;

		if (!jb_is_object(item) ||
			(vector = jb_object_get(item->val.binary.data, "embedding")) == NULL ||
			!jb_is_array(vector))
			return or_malformed_answer(response, "embeddings", "has an entry without an \"embedding\" array");
		index = jb_object_get(item->val.binary.data, "index");
		i = index != NULL && index->type == jbvNumeric
			? DatumGetInt32(DirectFunctionCall1(numeric_int4, NumericGetDatum(index->val.numeric)))
			: foreach_current_index(lc);
		if (i < 0 || i >= count || embeddings[i] != (Datum) 0)
			return or_malformed_answer(response, "embeddings", "has an entry of an unknown or repeated index");
		numbers = jb_array_elements(vector->val.binary.data);
		values = palloc(sizeof(Datum) * Max(list_length(numbers), 1));
		foreach(ln, numbers)
		{
			JsonbValue *number = lfirst(ln);

			if (number->type != jbvNumeric)
				return or_malformed_answer(response, "embeddings", "has an embedding that is not an array of numbers");
			values[foreach_current_index(ln)] =
				DirectFunctionCall1(numeric_float4, NumericGetDatum(number->val.numeric));
		}
		embeddings[i] = PointerGetDatum(construct_array(values, list_length(numbers), FLOAT4OID,
														sizeof(float4), true, TYPALIGN_INT));
	}
	for (int i = 0; i < count; i++)
		if (embeddings[i] == (Datum) 0)
			return or_malformed_answer(response, "embeddings", psprintf("has no embedding for input %d", i + 1));
	return NULL;
}

/* send; the embeddings, or NULL after a failure that on_error ignores */
static Datum *
embed(FunctionCallInfo fcinfo, OrExchange *exchange, text *on_error_arg, int count,
	  bool *collected)
{
	OrOnError	on_error = or_effective_on_error(on_error_arg);
	OrExchange *batch[1] = {exchange};
	Datum	   *embeddings = palloc0(sizeof(Datum) * Max(count, 1));

	exchange->abort_on_failure = (on_error == OR_ON_ERROR_ABORT);
	*collected = !or_call(fcinfo->flinfo, batch, 1, 1);
	if (*collected)
		return NULL;
	if (exchange->failure == NULL)
		exchange->failure = read_embeddings(exchange->result, count, embeddings);
	if (exchange->failure != NULL)
	{
		if (on_error == OR_ON_ERROR_ABORT)
			or_failure_raise(exchange->failure);
		return NULL;
	}
	return embeddings;
}

/* openrouter_embed(input text, model text, dimensions int, on_error text) */
Datum
openrouter_embed(PG_FUNCTION_ARGS)
{
	OrExchange	exchange = {0};
	Datum	   *embeddings;
	bool		collected;

	if (PG_ARGISNULL(0))
		PG_RETURN_NULL();
	embeddings_request(&exchange, PG_ARGISNULL(1) ? NULL : PG_GETARG_TEXT_PP(1),
					   PG_GETARG_TEXT_PP(0), NULL, NULL, 0,
					   !PG_ARGISNULL(2), PG_ARGISNULL(2) ? 0 : PG_GETARG_INT32(2));
	embeddings = embed(fcinfo, &exchange, PG_ARGISNULL(3) ? NULL : PG_GETARG_TEXT_PP(3), 1,
					   &collected);
	if (embeddings == NULL)
		PG_RETURN_NULL();
	PG_RETURN_DATUM(embeddings[0]);
}

/*
 * openrouter_embed(inputs text[], model text, dimensions int, on_error text)
 *		RETURNS TABLE (index int, embedding real[])
 */
Datum
openrouter_embed_many(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	OrExchange	exchange = {0};
	ArrayType  *inputs;
	Datum	   *elements;
	bool	   *nulls;
	int			count;
	Datum	   *embeddings;
	bool		collected;

	InitMaterializedSRF(fcinfo, 0);
	if (PG_ARGISNULL(0))
		return (Datum) 0;
	inputs = PG_GETARG_ARRAYTYPE_P(0);
	if (ARR_NDIM(inputs) > 1)
		ereport(ERROR,
				(errcode(ERRCODE_ARRAY_SUBSCRIPT_ERROR),
				 errmsg("inputs must be a one-dimensional array")));
	deconstruct_array(inputs, TEXTOID, -1, false, TYPALIGN_INT, &elements, &nulls, &count);
	embeddings_request(&exchange, PG_ARGISNULL(1) ? NULL : PG_GETARG_TEXT_PP(1),
					   NULL, elements, nulls, count,
					   !PG_ARGISNULL(2), PG_ARGISNULL(2) ? 0 : PG_GETARG_INT32(2));
	embeddings = embed(fcinfo, &exchange, PG_ARGISNULL(3) ? NULL : PG_GETARG_TEXT_PP(3),
					   count, &collected);
	for (int i = 0; embeddings != NULL && i < count; i++)
	{
		Datum		values[2] = {Int32GetDatum(i + 1), embeddings[i]};
		bool		isnull[2] = {false, false};

		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, isnull);
	}
	return (Datum) 0;
}
