/*
 * ai_rerank.c
 *		openrouter_rerank(query text, documents text[], model text,
 *						  top_n int, on_error text)
 *		RETURNS TABLE (index int, score float8): POST /rerank.
 *
 * The body is {"model", "query", "documents": [strings], "top_n"?}; the
 * answer's results[] hold {"index", "relevance_score", "document"}, most
 * relevant first, and come back in that order, index 1-based (documents[index]
 * is the document).  The request goes through or_call() with the endpoint
 * OR_ENDPOINT_RERANK (collected, cached for the transaction, recorded in the
 * usage ledger).  Bad input (no documents, a NULL one, top_n below 1, no
 * model) is an ERROR before anything is sent; an answer without results is
 * ORB01; a failure gives no rows with on_error 'ignore'.
 */
#include "openrouter.h"

#include "catalog/pg_type.h"
#include "funcapi.h"
#include "utils/array.h"
#include "utils/builtins.h"

#include "ai.h"
#include "jsonb_util.h"

PG_FUNCTION_INFO_V1(openrouter_rerank);


static void
rerank_request(OrExchange *exchange, text *query, Datum *documents, bool *nulls,
			   int count, text *model, bool top_n_given, int32 top_n)
{
	JsonbParseState *state = NULL;
	char	   *model_name = text_to_cstring(or_model_or_default(model, or_default_rerank_model,
																 "default_rerank_model"));

	if (count == 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("documents must not be empty"),
				 errdetail("There is nothing to rank; nothing was sent.")));
	for (int i = 0; i < count; i++)
		if (nulls[i])
			ereport(ERROR,
					(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
					 errmsg("document %d is null", i + 1),
					 errdetail("Nothing was sent.")));
	if (top_n_given && top_n < 1)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("top_n must be at least 1")));

	pushJsonbValue(&state, WJB_BEGIN_OBJECT, NULL);
	jb_push_key(&state, "model");
	jb_push_string(&state, model_name);
	jb_push_key(&state, "query");
	jb_push_string(&state, text_to_cstring(query));
	jb_push_key(&state, "documents");
	pushJsonbValue(&state, WJB_BEGIN_ARRAY, NULL);
	for (int i = 0; i < count; i++)
		jb_push_string(&state, TextDatumGetCString(documents[i]));
	pushJsonbValue(&state, WJB_END_ARRAY, NULL);
	if (top_n_given)
	{
		jb_push_key(&state, "top_n");
		jb_push_int(&state, top_n);
	}
	or_set_request_body(&exchange->request,
						JsonbValueToJsonb(pushJsonbValue(&state, WJB_END_OBJECT, NULL)));
	exchange->request.endpoint = OR_ENDPOINT_RERANK;
	exchange->request.model = model_name;
}

/* the results as rows; a failure when the answer is not shaped so */
static OrFailure *
read_results(Jsonb *response, int count, Tuplestorestate *store, TupleDesc desc)
{
	JsonbContainer *results = jb_object_get_container(&response->root, "results");
	List	   *rows = NIL;
	ListCell   *lc;

	if (results == NULL || !JsonContainerIsArray(results))
		return or_malformed_answer(response, "rerank", "has no \"results\" array");
	foreach(lc, jb_array_elements(results))
	{
		JsonbValue *item = lfirst(lc);
		JsonbValue *index;
		JsonbValue *score;
		Datum	   *values = palloc(sizeof(Datum) * 2);
		int			i;

		if (!jb_is_object(item) ||
			(index = jb_object_get(item->val.binary.data, "index")) == NULL ||
			index->type != jbvNumeric ||
			(score = jb_object_get(item->val.binary.data, "relevance_score")) == NULL ||
			score->type != jbvNumeric)
			return or_malformed_answer(response, "rerank", "has a result without a numeric \"index\" and \"relevance_score\"");
		i = DatumGetInt32(DirectFunctionCall1(numeric_int4, NumericGetDatum(index->val.numeric)));
		if (i < 0 || i >= count)
			return or_malformed_answer(response, "rerank", "has a result of an unknown index");
		values[0] = Int32GetDatum(i + 1);
		values[1] = DirectFunctionCall1(numeric_float8, NumericGetDatum(score->val.numeric));
		rows = lappend(rows, values);
	}
	/* all read: only now do rows go out */
	foreach(lc, rows)
	{
		bool		isnull[2] = {false, false};

		tuplestore_putvalues(store, desc, lfirst(lc), isnull);
	}
	return NULL;
}

Datum
openrouter_rerank(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	OrOnError	on_error = or_effective_on_error(PG_ARGISNULL(4) ? NULL : PG_GETARG_TEXT_PP(4));
	OrExchange	exchange = {0};
	OrExchange *batch[1] = {&exchange};
	Datum	   *documents;
	bool	   *nulls;
	int			count;
	ArrayType  *array;

	InitMaterializedSRF(fcinfo, 0);
	if (PG_ARGISNULL(0) || PG_ARGISNULL(1))
		return (Datum) 0;
	array = PG_GETARG_ARRAYTYPE_P(1);
	if (ARR_NDIM(array) > 1)
		ereport(ERROR,
				(errcode(ERRCODE_ARRAY_SUBSCRIPT_ERROR),
				 errmsg("documents must be a one-dimensional array")));
	deconstruct_array(array, TEXTOID, -1, false, TYPALIGN_INT, &documents, &nulls, &count);
	rerank_request(&exchange, PG_GETARG_TEXT_PP(0), documents, nulls, count,
				   PG_ARGISNULL(2) ? NULL : PG_GETARG_TEXT_PP(2),
				   !PG_ARGISNULL(3), PG_ARGISNULL(3) ? 0 : PG_GETARG_INT32(3));

	exchange.abort_on_failure = (on_error == OR_ON_ERROR_ABORT);
	if (!or_call(fcinfo->flinfo, batch, 1, 1))
		return (Datum) 0;		/* openrouter_prefetch() is collecting */
	if (exchange.failure == NULL)
		exchange.failure = read_results(exchange.result, count, rsinfo->setResult,
										rsinfo->setDesc);
	if (exchange.failure != NULL && on_error == OR_ON_ERROR_ABORT)
		or_failure_raise(exchange.failure);
	return (Datum) 0;
}
