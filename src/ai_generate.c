/*
 * ai_generate.c
 *		Typed answers: openrouter_generate (the answer as a value of any
 *		supported type), openrouter_if (a boolean, for WHERE and JOIN ON) and
 *		openrouter_classify (one of the given labels).
 *
 * A type other than text asks for strict structured output: the request's
 * response_format is {"type": "json_schema", "json_schema": {"name",
 * "strict": true, "schema"}} with the schema json_types.c gives the type
 * (the same mapping as tool parameters).  Providers want an object at the
 * root, so a composite type is the schema itself and every other type is
 * wrapped as {"value": <its schema>}.  The answer's text is read as JSON
 * (a ```json fence around it is tolerated) and converted by json_types.c
 * (composite fields by name, enum labels, domains' constraints).  text asks
 * for plain text (a domain over text still applies its constraints).
 *
 * An answer that does not fit (not JSON, a value the type refuses, a label
 * that is not one) is a failure of its own, ORA01, carrying the response:
 * raised with on_error 'abort', NULL with 'ignore'.  Bad input (a pseudo-type
 * or a composite without fields as returns, an empty or duplicate label,
 * response_format in model_kwargs, no model) is an ERROR before anything is
 * sent.  Requests go through or_call() (ai_call.c), like openrouter_chat's:
 * collected by openrouter_prefetch (computed columns), cached for the
 * transaction, sent through or_send (the usage ledger).
 */
#include "openrouter.h"

#include "catalog/pg_type.h"
#include "funcapi.h"
#include "mb/pg_wchar.h"
#include "nodes/nodeFuncs.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/typcache.h"

#include "ai.h"
#include "concurrent.h"
#include "json_check.h"
#include "json_types.h"
#include "jsonb_util.h"
#include "request.h"

PG_FUNCTION_INFO_V1(openrouter_generate);
OR_CONCURRENT_FUNCTION(openrouter_generate);
PG_FUNCTION_INFO_V1(openrouter_if);
OR_CONCURRENT_FUNCTION(openrouter_if);
PG_FUNCTION_INFO_V1(openrouter_classify);
OR_CONCURRENT_FUNCTION(openrouter_classify);

#define IF_SYSTEM "Answer the user's question with true or false."
#define CLASSIFY_SYSTEM "Classify the user's input: answer with exactly one of these labels: %s."

/* what answer a call wants */
typedef struct AnswerSpec
{
	Oid			typid;			/* the type of the value (a domain kept) */
	bool		plain;			/* plain text, no response_format */
	bool		wrapped;		/* the schema is {"value": ...} */
	char	  **labels;			/* openrouter_classify: the labels */
	int			nlabels;
} AnswerSpec;

/* one call's arguments */
typedef struct GenerateCall
{
	text	   *prompt;
	ArrayType  *parts;
	text	   *system;
	text	   *model;
	Jsonb	   *model_kwargs;
	text	   *on_error;
} GenerateCall;

#define ARG_TEXT(n) (PG_ARGISNULL(n) ? NULL : PG_GETARG_TEXT_PP(n))
#define ARG_JSONB(n) (PG_ARGISNULL(n) ? NULL : PG_GETARG_JSONB_P(n))
#define ARG_ARRAY(n) (PG_ARGISNULL(n) ? NULL : PG_GETARG_ARRAYTYPE_P(n))

/* ---------- the type asked for ---------- */

/*
 * The type of "returns" as written: a domain passed to anyelement arrives
 * as its base type, so the argument expression is looked through.
 */
static Oid
returning_type(FunctionCallInfo fcinfo, int argno)
{
	Node	   *expr = fcinfo->flinfo ? fcinfo->flinfo->fn_expr : NULL;

	if (expr != NULL && IsA(expr, FuncExpr) &&
		list_length(((FuncExpr *) expr)->args) > argno)
	{
		Node	   *arg = list_nth(((FuncExpr *) expr)->args, argno);

		if (arg != NULL && IsA(arg, NamedArgExpr))
			arg = (Node *) ((NamedArgExpr *) arg)->arg;
		while (arg != NULL && IsA(arg, RelabelType))
			arg = (Node *) ((RelabelType *) arg)->arg;
		if (arg != NULL)
			return exprType(arg);
	}
	return get_fn_expr_argtype(fcinfo->flinfo, argno);
}

static void
spec_for_type(Oid typid, AnswerSpec *spec)
{
	Oid			base = getBaseType(typid);

	memset(spec, 0, sizeof(*spec));
	spec->typid = typid;
	if (!OidIsValid(typid))
		ereport(ERROR,
				(errcode(ERRCODE_INDETERMINATE_DATATYPE),
				 errmsg("could not determine the type of returns")));
	if (get_typtype(base) == TYPTYPE_PSEUDO)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("returns cannot be of pseudo-type %s", format_type_be(typid)),
				 errdetail("returns names the type of the answer by a value of it; nothing was sent."),
				 errhint("Pass a NULL of the type you want, such as NULL::integer or NULL::my_composite_type.")));
	if (get_typtype(base) == TYPTYPE_COMPOSITE &&
		or_json_type_kind(base) == OR_JSON_TYPE_UNSUPPORTED)
	{
		TupleDesc	desc = lookup_rowtype_tupdesc(base, -1);
		int			fields = 0;

		for (int i = 0; i < desc->natts; i++)
			fields += TupleDescAttr(desc, i)->attisdropped ? 0 : 1;
		ReleaseTupleDesc(desc);
		if (fields == 0)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("composite type %s has no fields", format_type_be(typid)),
					 errdetail("An answer of this type would carry nothing; nothing was sent."),
					 errhint("Add fields to the type (ALTER TYPE ... ADD ATTRIBUTE).")));
	}
	if (or_json_type_kind(base) == OR_JSON_TYPE_UNSUPPORTED)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("an answer cannot be of type %s", format_type_be(typid)),
				 errdetail("Nothing was sent."),
				 errhint("%s", OR_JSON_TYPES_HINT)));
	spec->plain = (base == TEXTOID);
	spec->wrapped = (or_json_type_kind(base) != OR_JSON_TYPE_OBJECT);
}

/* a JSON Schema name: letters, digits, _ and -, at most 64 */
static char *
schema_name(Oid typid)
{
	char	   *name = pstrdup(format_type_be(typid));
	int			len = 0;

	for (char *c = name; *c && len < 64; c++)
		if ((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') ||
			(*c >= '0' && *c <= '9') || *c == '_' || *c == '-')
			name[len++] = *c;
		else if (*c == ' ' || *c == '[' || *c == '.')
			name[len++] = '_';
	name[len] = '\0';
	return len > 0 ? name : "answer";
}

/* the response_format the spec asks for */
static Jsonb *
response_format(const AnswerSpec *spec)
{
	JsonbParseState *state = NULL;

	pushJsonbValue(&state, WJB_BEGIN_OBJECT, NULL);
	jb_push_key(&state, "type");
	jb_push_string(&state, "json_schema");
	jb_push_key(&state, "json_schema");
	pushJsonbValue(&state, WJB_BEGIN_OBJECT, NULL);
	jb_push_key(&state, "name");
	jb_push_string(&state, spec->labels ? "label" : schema_name(spec->typid));
	jb_push_key(&state, "strict");
	jb_push_bool(&state, true);
	jb_push_key(&state, "schema");
	if (spec->wrapped)
	{
		pushJsonbValue(&state, WJB_BEGIN_OBJECT, NULL);
		jb_push_key(&state, "type");
		jb_push_string(&state, "object");
		jb_push_key(&state, "properties");
		pushJsonbValue(&state, WJB_BEGIN_OBJECT, NULL);
		jb_push_key(&state, "value");
	}
	if (spec->labels)
	{
		pushJsonbValue(&state, WJB_BEGIN_OBJECT, NULL);
		jb_push_key(&state, "type");
		jb_push_string(&state, "string");
		jb_push_key(&state, "enum");
		pushJsonbValue(&state, WJB_BEGIN_ARRAY, NULL);
		for (int i = 0; i < spec->nlabels; i++)
			jb_push_string(&state, spec->labels[i]);
		pushJsonbValue(&state, WJB_END_ARRAY, NULL);
		pushJsonbValue(&state, WJB_END_OBJECT, NULL);
	}
	else
		or_push_type_schema(&state, spec->typid);
	if (spec->wrapped)
	{
		pushJsonbValue(&state, WJB_END_OBJECT, NULL);
		jb_push_key(&state, "required");
		pushJsonbValue(&state, WJB_BEGIN_ARRAY, NULL);
		jb_push_string(&state, "value");
		pushJsonbValue(&state, WJB_END_ARRAY, NULL);
		jb_push_key(&state, "additionalProperties");
		jb_push_bool(&state, false);
		pushJsonbValue(&state, WJB_END_OBJECT, NULL);
	}
	pushJsonbValue(&state, WJB_END_OBJECT, NULL);
	return JsonbValueToJsonb(pushJsonbValue(&state, WJB_END_OBJECT, NULL));
}

/* model_kwargs with response_format added (it may not set its own) */
static Jsonb *
kwargs_with_format(Jsonb *kwargs, Jsonb *format)
{
	JsonbParseState *state = NULL;

	if (kwargs != NULL && (JB_ROOT_IS_SCALAR(kwargs) || !JB_ROOT_IS_OBJECT(kwargs)))
		return kwargs;			/* request.c says what is wrong with it */
	if (kwargs != NULL && jb_object_get(&kwargs->root, "response_format") != NULL)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("model_kwargs must not set response_format here"),
				 errdetail("The type of the answer sets it; nothing was sent."),
				 errhint("Use openrouter_chat() to send a response_format of your own.")));

	pushJsonbValue(&state, WJB_BEGIN_OBJECT, NULL);
	if (kwargs != NULL)
	{
		JsonbIterator *it = JsonbIteratorInit(&kwargs->root);
		JsonbValue	v;
		JsonbIteratorToken tok;

		while ((tok = JsonbIteratorNext(&it, &v, true)) != WJB_DONE)
			if (tok == WJB_KEY || tok == WJB_VALUE)
				pushJsonbValue(&state, tok, &v);
	}
	jb_push_key(&state, "response_format");
	jb_push_jsonb(&state, format);
	return JsonbValueToJsonb(pushJsonbValue(&state, WJB_END_OBJECT, NULL));
}

/* ---------- reading the answer ---------- */

/* the answer does not fit: ORA01, with the response */
static OrFailure *
misfit(const AnswerSpec *spec, Jsonb *response, const char *answer,
	   const char *fmt, const char *why)
{
	OrFailure  *failure;
	char	   *given = answer ? pstrdup(answer) : NULL;

	failure = or_failure_new(ERRCODE_OR_ANSWER_DOES_NOT_FIT, "answer_does_not_fit", false,
							 "the answer does not fit type %s: %s",
							 format_type_be(spec->typid), psprintf(fmt, why));
	if (given != NULL && strlen(given) > 200)
		given = psprintf("%.*s...", pg_mbcliplen(given, strlen(given), 200), given);
	if (given != NULL)
		failure->detail = psprintf("The model answered: %s", given);
	failure->hint = pstrdup("Try another model or a clearer prompt; on_error => 'ignore' gives NULL instead.");
	failure->response = response;
	failure->attempts = 1;
	return failure;
}

/* the answer's JSON text without a ``` fence around it */
static char *
unfenced(char *answer)
{
	char	   *start = answer;
	char	   *end;

	while (*start == ' ' || *start == '\n' || *start == '\r' || *start == '\t')
		start++;
	if (strncmp(start, "```", 3) != 0)
		return start;
	start += strcspn(start, "\n");
	end = strstr(start, "```");
	if (end != NULL)
		*end = '\0';
	return start;
}

/* the value as the type, or ORA01 with what the type's input says */
static OrFailure *
convert(const AnswerSpec *spec, Jsonb *response, const char *answer,
		JsonbValue *value, Datum *result, bool *isnull)
{
	char	   *why;

	if (!or_json_read_value(value, spec->typid, result, isnull, &why))
		return misfit(spec, response, answer, "%s", why);
	return NULL;
}

static OrFailure *
read_answer(const AnswerSpec *spec, Jsonb *response, Datum *result, bool *isnull)
{
	char	   *answer = or_answer_text(response);
	Jsonb	   *parsed;
	JsonbValue	root;
	JsonbValue *value;
	OrJsonProblem problem;
	char	   *why;
	char	   *json;

	if (answer == NULL)
		return misfit(spec, response, NULL, "%s", "it has no text");
	if (spec->plain)
	{
		JsonbValue	string = {.type = jbvString};

		string.val.string.val = answer;
		string.val.string.len = strlen(answer);
		return convert(spec, response, answer, &string, result, isnull);
	}

	json = unfenced(pstrdup(answer));
	parsed = or_json_parse(json, strlen(json), &problem, &why);
	if (parsed == NULL)
		return misfit(spec, response, answer, "it is not JSON (%s)", why);
	if (JB_ROOT_IS_SCALAR(parsed))
	{
		JsonbExtractScalar(&parsed->root, &root);
		value = &root;
	}
	else
	{
		root.type = jbvBinary;
		root.val.binary.data = &parsed->root;
		root.val.binary.len = VARSIZE(parsed) - VARHDRSZ;
		value = &root;
	}
	if (spec->wrapped)
	{
		if (!jb_is_object(value) ||
			(value = jb_object_get(value->val.binary.data, "value")) == NULL)
			return misfit(spec, response, answer, "%s", "it is not an object with a \"value\"");
	}
	if (spec->labels)
	{
		char	   *label = value->type == jbvString
			? pnstrdup(value->val.string.val, value->val.string.len) : NULL;

		for (int i = 0; label != NULL && i < spec->nlabels; i++)
			if (strcmp(label, spec->labels[i]) == 0)
			{
				*result = CStringGetTextDatum(label);
				*isnull = false;
				return NULL;
			}
		return misfit(spec, response, answer, "%s", "it is not one of the labels");
	}
	return convert(spec, response, answer, value, result, isnull);
}

/* ---------- the call ---------- */

static Datum
generate(FunctionCallInfo fcinfo, const GenerateCall *call, const AnswerSpec *spec)
{
	OrOnError	on_error = or_effective_on_error(call->on_error);
	OrChatArgs	args;
	OrExchange	exchange = {0};
	OrExchange *batch[1] = {&exchange};
	Datum		result = (Datum) 0;
	bool		isnull = true;
	OrFailure  *failure;

	if (call->prompt == NULL)
		PG_RETURN_NULL();

	memset(&args, 0, sizeof(args));
	args.value[OR_CHAT_MODEL] = or_model_or_default(call->model, or_default_model,
													"default_model");
	args.value[OR_CHAT_MESSAGES] = or_user_messages(call->prompt, call->parts, call->system);
	args.value[OR_CHAT_MODEL_KWARGS] = spec->plain ? call->model_kwargs
		: kwargs_with_format(call->model_kwargs, response_format(spec));

	exchange.abort_on_failure = (on_error == OR_ON_ERROR_ABORT);
	exchange.failure = or_build_chat_request(&args, &exchange.request);
	if (!or_call(fcinfo->flinfo, batch, 1, 1))
		PG_RETURN_NULL();		/* openrouter_prefetch() is collecting */

	failure = exchange.failure;
	if (failure == NULL)
		failure = read_answer(spec, exchange.result, &result, &isnull);
	if (failure != NULL)
	{
		if (on_error == OR_ON_ERROR_ABORT)
			or_failure_raise(failure);
		PG_RETURN_NULL();
	}
	if (isnull)
		PG_RETURN_NULL();
	return result;
}

/*
 * openrouter_generate(prompt text, returns anyelement, model text,
 *					   system text, parts jsonb[], model_kwargs jsonb,
 *					   on_error text) RETURNS anyelement
 */
Datum
openrouter_generate(PG_FUNCTION_ARGS)
{
	GenerateCall call = {ARG_TEXT(0), ARG_ARRAY(4), ARG_TEXT(3), ARG_TEXT(2),
	ARG_JSONB(5), ARG_TEXT(6)};
	AnswerSpec	spec;

	spec_for_type(returning_type(fcinfo, 1), &spec);
	return generate(fcinfo, &call, &spec);
}

/*
 * openrouter_if(prompt text, model text, system text, parts jsonb[],
 *				 model_kwargs jsonb, on_error text) RETURNS boolean
 */
Datum
openrouter_if(PG_FUNCTION_ARGS)
{
	GenerateCall call = {ARG_TEXT(0), ARG_ARRAY(3), ARG_TEXT(2), ARG_TEXT(1),
	ARG_JSONB(4), ARG_TEXT(5)};
	AnswerSpec	spec;

	if (call.system == NULL)
		call.system = cstring_to_text(IF_SYSTEM);
	spec_for_type(BOOLOID, &spec);
	return generate(fcinfo, &call, &spec);
}

/* the labels: a non-empty array of distinct, non-empty strings */
static void
read_labels(ArrayType *array, AnswerSpec *spec)
{
	Datum	   *elements;
	bool	   *nulls;
	int			count;

	if (array == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("labels must not be null"),
				 errhint("Pass the labels to choose from, such as ARRAY['positive', 'negative'].")));
	if (ARR_NDIM(array) > 1)
		ereport(ERROR,
				(errcode(ERRCODE_ARRAY_SUBSCRIPT_ERROR),
				 errmsg("labels must be a one-dimensional array")));
	deconstruct_array(array, TEXTOID, -1, false, TYPALIGN_INT, &elements, &nulls, &count);
	if (count == 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("labels must not be empty"),
				 errdetail("There is nothing to choose from; nothing was sent."),
				 errhint("Pass the labels to choose from, such as ARRAY['positive', 'negative'].")));
	spec->labels = palloc(sizeof(char *) * count);
	spec->nlabels = count;
	for (int i = 0; i < count; i++)
	{
		if (nulls[i])
			ereport(ERROR,
					(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
					 errmsg("label %d is null", i + 1)));
		spec->labels[i] = TextDatumGetCString(elements[i]);
		if (spec->labels[i][0] == '\0')
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("label %d is empty", i + 1)));
		for (int j = 0; j < i; j++)
			if (strcmp(spec->labels[j], spec->labels[i]) == 0)
				ereport(ERROR,
						(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						 errmsg("label \"%s\" is given twice", spec->labels[i])));
	}
}

/*
 * openrouter_classify(input text, labels text[], model text, system text,
 *					   model_kwargs jsonb, on_error text) RETURNS text
 */
Datum
openrouter_classify(PG_FUNCTION_ARGS)
{
	GenerateCall call = {ARG_TEXT(0), NULL, ARG_TEXT(3), ARG_TEXT(2),
	ARG_JSONB(4), ARG_TEXT(5)};
	AnswerSpec	spec;

	spec_for_type(TEXTOID, &spec);
	spec.plain = false;
	spec.wrapped = true;
	read_labels(ARG_ARRAY(1), &spec);
	if (call.system == NULL)
	{
		StringInfoData list;

		initStringInfo(&list);
		for (int i = 0; i < spec.nlabels; i++)
			appendStringInfo(&list, "%s%s", i ? ", " : "", spec.labels[i]);
		call.system = cstring_to_text(psprintf(CLASSIFY_SYSTEM, list.data));
	}
	return generate(fcinfo, &call, &spec);
}
