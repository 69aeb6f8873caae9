/*
 * tool_invoke.c
 *		openrouter_invoke_tools(): run the tool calls of a chat completions
 *		response against the SQL functions declared as tools; and
 *		openrouter_tool_messages(): the messages of the follow-up request.
 *
 * Which function a tool name means.  A spec carries nothing but the name,
 * description and parameters the API knows, so the function is found again
 * the way an unqualified call finds it: among the functions of that name
 * visible through search_path, the one whose spec, generated now by
 * openrouter_tools()'s own code, has the declared name, description and
 * parameters.  None, or more than one, is an error.  All declared tools are
 * resolved before any call runs; the model's tool names are only ever looked
 * up among them, so a name the model makes up never reaches the catalog.
 *
 * How arguments reach the function.  The model's arguments are data: each
 * JSON value is turned into a Const of the parameter's type through that
 * type's input function (a string's text, a number's or boolean's text, an
 * object's or array's JSON text; json and jsonb parameters get the JSON
 * value itself; arrays given as JSON arrays are built element by element; a
 * JSON null is SQL NULL).  Missing arguments take the function's default
 * expressions from pg_proc.  The call is a FuncExpr of the resolved OID,
 * wrapped in to_jsonb(), evaluated by the executor: so the EXECUTE privilege
 * of the calling role is checked (42501), SECURITY DEFINER and SET clauses
 * work as usual, and no SQL text is ever built.
 *
 * Errors.  With on_error => 'abort', every call's arguments are checked
 * before the first call runs, and the first failure is raised (with a
 * CONTEXT line naming the tool call).  With 'ignore', each call runs in its
 * own subtransaction; a failing call leaves {"error": {...}} in its place
 * and has no effects, and the other calls still run.
 */
#include "openrouter.h"

#include "access/htup_details.h"
#include "access/xact.h"
#include "catalog/namespace.h"
#include "catalog/pg_collation.h"
#include "catalog/pg_proc.h"
#include "catalog/pg_type.h"
#include "executor/executor.h"
#include "funcapi.h"
#include "mb/pg_wchar.h"
#include "nodes/makefuncs.h"
#include "nodes/nodeFuncs.h"
#include "nodes/value.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/lsyscache.h"
#include "utils/regproc.h"
#include "utils/resowner.h"
#include "utils/syscache.h"

#include "jsonb_util.h"
#include "tools.h"

PG_FUNCTION_INFO_V1(openrouter_invoke_tools);
PG_FUNCTION_INFO_V1(openrouter_tool_messages);

#define TOOLS_HINT "Pass the specs that openrouter_tools() returns."

/*
 * One key of the result: a declared tool (funcoid valid), or, with
 * on_error => 'ignore', a name the model called that was not declared.
 */
typedef struct ToolSlot
{
	char	   *name;
	Oid			funcoid;		/* InvalidOid: not declared */
	Oid			rettype;
	Oid			inputcollid;
	int			nargs;
	Oid		   *argtypes;
	char	  **argnames;
	int			first_default;	/* arguments from here on have defaults */
	List	   *defaults;		/* their default expressions */
	bool		called;
	List	   *results;		/* Jsonb * per call, in call order; NULL: null */
} ToolSlot;

/* One entry of choices[0].message.tool_calls. */
typedef struct ToolCall
{
	int			position;		/* 1-based */
	char	   *id;				/* or NULL */
	char	   *name;			/* or NULL when the call names no tool */
	JsonbValue *arguments;		/* or NULL when absent */
	ToolSlot   *tool;			/* or NULL: not declared */
	List	   *args;			/* argument expressions, once prepared */
} ToolCall;

/* ---------- small jsonb helpers ---------- */

/* the JSON text of any value (strings quoted) */
static char *
json_text(JsonbValue *v)
{
	if (v->type == jbvBinary)
		return JsonbToCString(NULL, v->val.binary.data, v->val.binary.len);
	return JsonbToCString(NULL, &JsonbValueToJsonb(v)->root, 0);
}

static bool
is_container(JsonbValue *v, bool array)
{
	return v != NULL && v->type == jbvBinary &&
		(array ? JsonContainerIsArray(v->val.binary.data)
		 : JsonContainerIsObject(v->val.binary.data));
}

static const char *
root_type_name(Jsonb *value)
{
	if (JB_ROOT_IS_SCALAR(value))
	{
		JsonbValue	v;

		JsonbExtractScalar(&value->root, &v);
		return jb_type_name(&v);
	}
	return JB_ROOT_IS_ARRAY(value) ? "an array" : "an object";
}

/* the elements of an array container, as a list of JsonbValue * */
static List *
array_elements(JsonbContainer *array)
{
	List	   *elements = NIL;
	JsonbIterator *it = JsonbIteratorInit(array);
	JsonbValue	v;
	JsonbIteratorToken tok;

	while ((tok = JsonbIteratorNext(&it, &v, true)) != WJB_DONE)
		if (tok == WJB_ELEM)
			elements = lappend(elements, memcpy(palloc(sizeof(JsonbValue)), &v,
												sizeof(JsonbValue)));
	return elements;
}

/* ---------- the declared tools ---------- */

/* which of name, description and parameters of two function objects differ */
static char *
spec_difference(JsonbContainer *declared, JsonbContainer *generated)
{
	static const char *const keys[] = {"description", "parameters"};

	for (size_t i = 0; i < lengthof(keys); i++)
	{
		JsonbValue *a = jb_object_get(declared, keys[i]);
		JsonbValue *b = jb_object_get(generated, keys[i]);

		if (a == NULL || b == NULL)
		{
			if (a != b)
				return psprintf(a ? "the function has no %s, the spec has one"
								: "the function has a %s, the spec has none", keys[i]);
			continue;
		}
		if (compareJsonbContainers(&jb_value_to_jsonb(a)->root,
								   &jb_value_to_jsonb(b)->root) != 0)
			return psprintf("its %s differ%s", keys[i], i == 0 ? "s" : "");
	}
	return pstrdup("its spec differs");
}

/* the declared spec's name, description and parameters, as one object */
static Jsonb *
comparable_spec(JsonbContainer *function)
{
	static const char *const keys[] = {"name", "description", "parameters"};
	JsonbParseState *state = NULL;

	pushJsonbValue(&state, WJB_BEGIN_OBJECT, NULL);
	for (size_t i = 0; i < lengthof(keys); i++)
	{
		JsonbValue *v = jb_object_get(function, keys[i]);

		if (v == NULL)
			continue;
		jb_push_key(&state, keys[i]);
		jb_push_jsonb_value(&state, v);
	}
	return JsonbValueToJsonb(pushJsonbValue(&state, WJB_END_OBJECT, NULL));
}

/* what a call needs to know about the resolved function */
static void
load_function(ToolSlot *tool, Oid funcoid)
{
	HeapTuple	tuple = SearchSysCache1(PROCOID, ObjectIdGetDatum(funcoid));
	Form_pg_proc proc;
	char	   *argmodes;
	bool		isnull;
	Datum		defaults;

	if (!HeapTupleIsValid(tuple))
		elog(ERROR, "cache lookup failed for function %u", funcoid);
	proc = (Form_pg_proc) GETSTRUCT(tuple);

	tool->funcoid = funcoid;
	tool->rettype = proc->prorettype;
	tool->nargs = get_func_arg_info(tuple, &tool->argtypes, &tool->argnames,
									&argmodes);
	tool->first_default = proc->pronargs - proc->pronargdefaults;
	tool->defaults = NIL;
	defaults = SysCacheGetAttr(PROCOID, tuple, Anum_pg_proc_proargdefaults,
							   &isnull);
	if (!isnull)
	{
		tool->defaults = castNode(List, stringToNode(TextDatumGetCString(defaults)));
		fix_opfuncids((Node *) tool->defaults);
	}
	ReleaseSysCache(tuple);

	/* the collation an ordinary call would use: its arguments' */
	tool->inputcollid = InvalidOid;
	for (int i = 0; i < tool->nargs && !OidIsValid(tool->inputcollid); i++)
		tool->inputcollid = get_typcollation(tool->argtypes[i]);
}

/*
 * Find the function a declared tool means: among the functions of that name
 * visible in search_path, the one whose generated spec is the declared one.
 */
static void
resolve_tool(ToolSlot *tool, JsonbContainer *function)
{
	Jsonb	   *declared = comparable_spec(function);
	FuncCandidateList candidate;
	Oid			found = InvalidOid;
	Oid			mismatch = InvalidOid;
	char	   *difference = NULL;

	candidate = FuncnameGetCandidates(list_make1(makeString(tool->name)), -1,
									  NIL, false, false, false, true);
	for (; candidate != NULL; candidate = candidate->next)
	{
		OrToolProblem problem = {0};
		Jsonb	   *spec = or_tool_spec(candidate->oid, &problem);
		JsonbContainer *generated;

		if (spec == NULL)
			continue;			/* cannot be a tool, so it is not this one */
		generated = jb_object_get_container(&spec->root, "function");
		if (compareJsonbContainers(&declared->root, generated) != 0)
		{
			mismatch = candidate->oid;
			difference = spec_difference(&declared->root, generated);
			continue;
		}
		if (OidIsValid(found))
			ereport(ERROR,
					(errcode(ERRCODE_AMBIGUOUS_FUNCTION),
					 errmsg("tool \"%s\" matches more than one function", tool->name),
					 errdetail("Functions %s and %s have the same spec.",
							   format_procedure(found), format_procedure(candidate->oid)),
					 errhint("Give the tools different names or descriptions.")));
		found = candidate->oid;
	}

	if (!OidIsValid(found))
	{
		if (OidIsValid(mismatch))
			ereport(ERROR,
					(errcode(ERRCODE_UNDEFINED_FUNCTION),
					 errmsg("no function matches tool \"%s\"", tool->name),
					 errdetail("Function %s does not match the declared spec: %s.",
							   format_procedure(mismatch), difference),
					 errhint("Pass the specs that openrouter_tools() returns now; regenerate them after changing a function or its comment.")));
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_FUNCTION),
				 errmsg("no function matches tool \"%s\"", tool->name),
				 errdetail("No function named \"%s\" that can be a tool is visible in search_path.",
						   tool->name),
				 errhint("A tool runs the function of its name found through search_path, as an unqualified call would.")));
	}
	load_function(tool, found);
}

/* the function tools of "tools", resolved; other kinds of tools are skipped */
static List *
declared_tools(Jsonb *tools)
{
	List	   *slots = NIL;
	ListCell   *lc;
	int			position = 0;

	if (JB_ROOT_IS_SCALAR(tools) || !JB_ROOT_IS_ARRAY(tools))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("tools must be a JSON array of tool specs, not %s",
						root_type_name(tools)),
				 errhint(TOOLS_HINT)));

	foreach(lc, array_elements(&tools->root))
	{
		JsonbValue *element = lfirst(lc);
		JsonbContainer *spec;
		JsonbContainer *function;
		char	   *type;
		char	   *name;
		ToolSlot   *tool;
		ListCell   *prev;

		position++;
		if (!is_container(element, false))
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("element %d of tools is not a tool spec", position),
					 errhint(TOOLS_HINT)));
		spec = element->val.binary.data;
		type = jb_object_get_string(spec, "type");
		if (type == NULL)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("element %d of tools has no \"type\"", position),
					 errhint(TOOLS_HINT)));
		if (strcmp(type, "function") != 0)
			continue;			/* a server tool: OpenRouter runs those */

		function = jb_object_get_container(spec, "function");
		name = function ? jb_object_get_string(function, "name") : NULL;
		if (function == NULL || !JsonContainerIsObject(function) || name == NULL)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("element %d of tools has no function name", position),
					 errhint(TOOLS_HINT)));
		if (!or_tool_name_is_valid(name, strlen(name)))
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("\"%s\" is not a valid tool name", name),
					 errdetail("OpenRouter accepts 1 to 64 letters (a-z, A-Z), digits, underscores and dashes.")));
		foreach(prev, slots)
			if (strcmp(((ToolSlot *) lfirst(prev))->name, name) == 0)
				ereport(ERROR,
						(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						 errmsg("tools declares \"%s\" twice", name),
						 errhint("A model calls tools by name: declare one function per name.")));

		tool = palloc0(sizeof(ToolSlot));
		tool->name = name;
		resolve_tool(tool, function);
		slots = lappend(slots, tool);
	}
	return slots;
}

static ToolSlot *
find_slot(List *slots, const char *name)
{
	ListCell   *lc;

	foreach(lc, slots)
	{
		ToolSlot   *slot = lfirst(lc);

		if (strcmp(slot->name, name) == 0)
			return slot;
	}
	return NULL;
}

/* "a, b and c", or the given text when there are none */
static char *
name_list(char **names, int count, const char *none)
{
	StringInfoData buf;

	if (count == 0)
		return pstrdup(none);
	initStringInfo(&buf);
	for (int i = 0; i < count; i++)
		appendStringInfo(&buf, "%s%s", i == 0 ? "" : (i == count - 1 ? " and " : ", "),
						 names[i]);
	return buf.data;
}

static char *
declared_names(List *slots)
{
	char	  **names = palloc(sizeof(char *) * Max(list_length(slots), 1));
	int			count = 0;
	ListCell   *lc;

	foreach(lc, slots)
	{
		ToolSlot   *slot = lfirst(lc);

		if (OidIsValid(slot->funcoid))
			names[count++] = psprintf("\"%s\"", slot->name);
	}
	return name_list(names, count, "none");
}

/* ---------- the response ---------- */

typedef enum ResponseKind
{
	RESPONSE_COMPLETION,
	RESPONSE_ERROR,				/* {"error": ...}, or choices[0].error */
	RESPONSE_MALFORMED			/* not shaped like a chat completion */
} ResponseKind;

/*
 * The first choice's message (NULL when there is none) and its tool calls
 * (NIL when none).  For an error or a malformed response, *why says what is
 * wrong.
 */
static ResponseKind
read_response(Jsonb *response, JsonbContainer **message, List **calls,
			  char **why)
{
	JsonbContainer *root = &response->root;
	JsonbValue *v;
	JsonbContainer *choice;

	*message = NULL;
	*calls = NIL;
	*why = NULL;

	if (JB_ROOT_IS_SCALAR(response) || !JB_ROOT_IS_OBJECT(response))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("response must be a JSON object, not %s", root_type_name(response)),
				 errhint("Pass the response of openrouter_chat().")));

	if ((v = jb_object_get(root, "error")) != NULL && v->type != jbvNull)
	{
		char	   *text = is_container(v, false)
			? jb_object_get_string(v->val.binary.data, "message") : NULL;

		*why = text ? text : json_text(v);
		return RESPONSE_ERROR;
	}

	v = jb_object_get(root, "choices");
	if (v == NULL || v->type == jbvNull)
		return RESPONSE_COMPLETION;
	if (!is_container(v, true))
	{
		*why = pstrdup("Its \"choices\" is not an array.");
		return RESPONSE_MALFORMED;
	}
	if (JsonContainerSize(v->val.binary.data) == 0)
		return RESPONSE_COMPLETION;
	v = getIthJsonbValueFromContainer(v->val.binary.data, 0);
	if (!is_container(v, false))
	{
		*why = pstrdup("Its first choice is not an object.");
		return RESPONSE_MALFORMED;
	}
	choice = v->val.binary.data;

	if ((v = jb_object_get(choice, "error")) != NULL && v->type != jbvNull)
	{
		char	   *text = is_container(v, false)
			? jb_object_get_string(v->val.binary.data, "message") : NULL;

		*why = text ? text : json_text(v);
		return RESPONSE_ERROR;
	}

	v = jb_object_get(choice, "message");
	if (v == NULL || v->type == jbvNull)
		return RESPONSE_COMPLETION;
	if (!is_container(v, false))
	{
		*why = pstrdup("Its first choice's \"message\" is not an object.");
		return RESPONSE_MALFORMED;
	}
	*message = v->val.binary.data;

	v = jb_object_get(*message, "tool_calls");
	if (v == NULL || v->type == jbvNull)
		return RESPONSE_COMPLETION;
	if (!is_container(v, true))
	{
		*why = pstrdup("Its \"tool_calls\" is not an array.");
		return RESPONSE_MALFORMED;
	}
	*calls = array_elements(v->val.binary.data);
	return RESPONSE_COMPLETION;
}

/* one entry of tool_calls; whatever is missing or of the wrong type is NULL */
static ToolCall *
read_call(JsonbValue *entry, int position)
{
	ToolCall   *call = palloc0(sizeof(ToolCall));

	call->position = position;
	if (is_container(entry, false))
	{
		JsonbContainer *object = entry->val.binary.data;
		JsonbContainer *function = jb_object_get_container(object, "function");

		call->id = jb_object_get_string(object, "id");
		if (function != NULL && JsonContainerIsObject(function))
		{
			call->name = jb_object_get_string(function, "name");
			call->arguments = jb_object_get(function, "arguments");
		}
	}
	return call;
}

/* ---------- preparing a call: the model's arguments as Consts ---------- */

/* text for the type's input function */
static char *
input_text(JsonbValue *v, OrToolTypeKind kind)
{
	char	   *text;
	char	   *dot;

	if (kind == OR_TOOL_TYPE_JSON)
		return json_text(v);
	text = jb_value_to_text(v);

	/* 2.0 is a fine integer in JSON */
	if (kind == OR_TOOL_TYPE_INTEGER && v->type == jbvNumeric &&
		(dot = strchr(text, '.')) != NULL &&
		strspn(dot + 1, "0") == strlen(dot + 1))
		*dot = '\0';
	return text;
}

static Datum convert_value(JsonbValue *v, Oid typid, bool *isnull);

/* a JSON array into an array of the (possibly domain) type typid */
static Datum
convert_array(JsonbValue *v, Oid typid)
{
	Oid			base = getBaseType(typid);
	Oid			element = get_element_type(base);
	List	   *elements = array_elements(v->val.binary.data);
	int			count = list_length(elements);
	Datum	   *values = palloc(sizeof(Datum) * Max(count, 1));
	bool	   *nulls = palloc(sizeof(bool) * Max(count, 1));
	int			dims[1] = {count};
	int			lbs[1] = {1};
	int16		typlen;
	bool		typbyval;
	char		typalign;
	ArrayType  *array;
	ListCell   *lc;

	foreach(lc, elements)
		values[foreach_current_index(lc)] =
			convert_value(lfirst(lc), element, &nulls[foreach_current_index(lc)]);

	get_typlenbyvalalign(element, &typlen, &typbyval, &typalign);
	if (count == 0)
		array = construct_empty_array(element);
	else
		array = construct_md_array(values, nulls, 1, dims, lbs, element,
								   typlen, typbyval, typalign);
	if (base != typid)
		domain_check(PointerGetDatum(array), false, typid, NULL, CurrentMemoryContext);
	return PointerGetDatum(array);
}

static Datum
convert_value(JsonbValue *v, Oid typid, bool *isnull)
{
	OrToolTypeKind kind = or_tool_type_kind(typid);
	Oid			typinput;
	Oid			typioparam;

	*isnull = false;
	if (v->type == jbvNull && kind != OR_TOOL_TYPE_JSON)
	{
		*isnull = true;
		/* a domain may reject NULL */
		if (getBaseType(typid) != typid)
			domain_check((Datum) 0, true, typid, NULL, CurrentMemoryContext);
		return (Datum) 0;
	}
	if (kind == OR_TOOL_TYPE_ARRAY && is_container(v, true))
		return convert_array(v, typid);

	getTypeInputInfo(typid, &typinput, &typioparam);
	return OidInputFunctionCall(typinput, input_text(v, kind), typioparam, -1);
}

/*
 * The Const of one argument.  A value the type does not accept (a data
 * exception or a domain's constraint) is reported as ORT03; any other error
 * (a cancel, say) goes on unchanged.
 */
static Const *
argument_const(ToolCall *call, int i, JsonbValue *v)
{
	MemoryContext context = CurrentMemoryContext;
	Oid			typid = call->tool->argtypes[i];
	volatile Datum value = (Datum) 0;
	volatile bool isnull = false;
	int16		typlen;
	bool		typbyval;

	PG_TRY();
	{
		bool		null;

		value = convert_value(v, typid, &null);
		isnull = null;
	}
	PG_CATCH();
	{
		ErrorData  *edata;
		int			category;
		char	   *given;

		MemoryContextSwitchTo(context);
		edata = CopyErrorData();
		category = ERRCODE_TO_CATEGORY(edata->sqlerrcode);
		if (category != ERRCODE_DATA_EXCEPTION &&
			category != ERRCODE_INTEGRITY_CONSTRAINT_VIOLATION)
			PG_RE_THROW();
		FlushErrorState();

		given = json_text(v);
		if (strlen(given) > 100)
			given = psprintf("%.*s...", pg_mbcliplen(given, strlen(given), 100), given);
		ereport(ERROR,
				(errcode(ERRCODE_OR_TOOL_ARGUMENTS_FIT),
				 errmsg("argument \"%s\" of tool \"%s\" is not a valid %s",
						call->tool->argnames[i], call->tool->name, format_type_be(typid)),
				 errdetail("The model gave %s: %s.", given, edata->message)));
	}
	PG_END_TRY();

	get_typlenbyval(typid, &typlen, &typbyval);
	return makeConst(typid, -1, get_typcollation(typid), typlen, value, isnull,
					 typbyval);
}

/* the call's arguments as a JSON object (ORT02 when they are not one) */
static JsonbContainer *
arguments_object(ToolCall *call)
{
	JsonbValue *v = call->arguments;
	MemoryContext context = CurrentMemoryContext;
	Jsonb	   *volatile parsed = NULL;
	char	   *text;

	/* absent, null or empty: no arguments (some models send "" or nothing) */
	if (v == NULL || v->type == jbvNull)
		return NULL;
	if (is_container(v, false))
		return v->val.binary.data;	/* an object instead of its text: fine */
	if (v->type != jbvString)
		ereport(ERROR,
				(errcode(ERRCODE_OR_TOOL_ARGUMENTS_JSON),
				 errmsg("arguments of a call to tool \"%s\" are not a JSON text", call->name),
				 errdetail("They are a JSON %s.", jb_type_name(v))));
	text = pnstrdup(v->val.string.val, v->val.string.len);
	if (strspn(text, " \t\r\n") == strlen(text))
		return NULL;

	PG_TRY();
	{
		parsed = DatumGetJsonbP(DirectFunctionCall1(jsonb_in, CStringGetDatum(text)));
	}
	PG_CATCH();
	{
		ErrorData  *edata;

		MemoryContextSwitchTo(context);
		edata = CopyErrorData();
		if (ERRCODE_TO_CATEGORY(edata->sqlerrcode) != ERRCODE_DATA_EXCEPTION)
			PG_RE_THROW();
		FlushErrorState();
		ereport(ERROR,
				(errcode(ERRCODE_OR_TOOL_ARGUMENTS_JSON),
				 errmsg("arguments of a call to tool \"%s\" are not valid JSON", call->name),
				 errdetail("The model gave %s: %s.", json_text(v), edata->message)));
	}
	PG_END_TRY();

	if (JB_ROOT_IS_SCALAR(parsed) || !JB_ROOT_IS_OBJECT(parsed))
		ereport(ERROR,
				(errcode(ERRCODE_OR_TOOL_ARGUMENTS_JSON),
				 errmsg("arguments of a call to tool \"%s\" are not a JSON object", call->name),
				 errdetail("The model gave %s.", json_text(v))));
	return &parsed->root;
}

/* check the call and build its argument expressions; raise what is wrong */
static void
prepare_call(ToolCall *call, List *slots)
{
	ToolSlot   *tool = call->tool;
	JsonbContainer *object;
	JsonbValue **given;
	char	  **quoted;

	if (call->name == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_OR_UNDECLARED_TOOL),
				 errmsg("tool call %d of the response names no tool", call->position)));
	if (tool == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_OR_UNDECLARED_TOOL),
				 errmsg("the model called tool \"%s\", which is not declared", call->name),
				 errdetail("Declared tools: %s.", declared_names(slots)),
				 errhint("Only the functions declared in tools can run.")));

	given = palloc0(sizeof(JsonbValue *) * Max(tool->nargs, 1));
	quoted = palloc(sizeof(char *) * Max(tool->nargs, 1));
	for (int i = 0; i < tool->nargs; i++)
		quoted[i] = psprintf("\"%s\"", tool->argnames[i]);

	object = arguments_object(call);
	if (object != NULL)
	{
		JsonbIterator *it = JsonbIteratorInit(object);
		JsonbValue	v;
		JsonbIteratorToken tok;
		char	   *key = NULL;

		while ((tok = JsonbIteratorNext(&it, &v, true)) != WJB_DONE)
		{
			int			i;

			if (tok == WJB_KEY)
			{
				key = pnstrdup(v.val.string.val, v.val.string.len);
				continue;
			}
			if (tok != WJB_VALUE)
				continue;
			for (i = 0; i < tool->nargs; i++)
				if (strcmp(tool->argnames[i], key) == 0)
					break;
			if (i == tool->nargs)
				ereport(ERROR,
						(errcode(ERRCODE_OR_TOOL_ARGUMENTS_FIT),
						 errmsg("tool \"%s\" has no argument \"%s\"", tool->name, key),
						 tool->nargs == 0
						 ? errdetail("It takes no arguments.")
						 : errdetail("Its arguments are %s.", name_list(quoted, tool->nargs, ""))));
			given[i] = memcpy(palloc(sizeof(JsonbValue)), &v, sizeof(JsonbValue));
		}
	}

	call->args = NIL;
	for (int i = 0; i < tool->nargs; i++)
	{
		Node	   *arg;

		if (given[i] != NULL)
			arg = (Node *) argument_const(call, i, given[i]);
		else if (i >= tool->first_default)
			arg = list_nth(tool->defaults, i - tool->first_default);
		else
			ereport(ERROR,
					(errcode(ERRCODE_OR_TOOL_ARGUMENTS_FIT),
					 errmsg("a call to tool \"%s\" lacks argument \"%s\"",
							tool->name, tool->argnames[i]),
					 errdetail("The argument has no default.")));
		call->args = lappend(call->args, arg);
	}
}

/* ---------- running a call ---------- */

/* the function's result as jsonb (NULL for SQL NULL or void) */
static Jsonb *
execute_call(ToolCall *call)
{
	ToolSlot   *tool = call->tool;
	MemoryContext caller = CurrentMemoryContext;
	Oid			result_collation = get_typcollation(tool->rettype);
	Expr	   *expr;
	EState	   *estate;
	ExprState  *state;
	Datum		value;
	bool		isnull;
	Jsonb	   *result = NULL;

	expr = (Expr *) makeFuncExpr(tool->funcoid, tool->rettype, call->args,
								 result_collation, tool->inputcollid,
								 COERCE_EXPLICIT_CALL);
	if (tool->rettype != VOIDOID)
		expr = (Expr *) makeFuncExpr(F_TO_JSONB, JSONBOID, list_make1(expr),
									 InvalidOid, result_collation,
									 COERCE_EXPLICIT_CALL);

	estate = CreateExecutorState();
	MemoryContextSwitchTo(estate->es_query_cxt);
	state = ExecInitExpr(expr, NULL);	/* checks EXECUTE (42501) */
	MemoryContextSwitchTo(caller);
	value = ExecEvalExprSwitchContext(state, GetPerTupleExprContext(estate),
									  &isnull);
	MemoryContextSwitchTo(caller);
	if (!isnull && tool->rettype != VOIDOID)
		result = DatumGetJsonbPCopy(value);
	FreeExecutorState(estate);
	return result;
}

static void
call_context(void *arg)
{
	ToolCall   *call = arg;

	if (call->name == NULL)
		errcontext("tool call %d", call->position);
	else if (call->id == NULL)
		errcontext("tool call %d to \"%s\"", call->position, call->name);
	else
		errcontext("tool call %d (id \"%s\") to \"%s\"", call->position, call->id,
				   call->name);
}

/* what a failed call leaves in its place with on_error => 'ignore' */
static Jsonb *
error_entry(ErrorData *edata, ToolCall *call)
{
	JsonbParseState *state = NULL;
	const char *code;

	if (edata->sqlerrcode == ERRCODE_OR_UNDECLARED_TOOL)
		code = "undeclared_tool";
	else if (edata->sqlerrcode == ERRCODE_OR_TOOL_ARGUMENTS_JSON)
		code = "invalid_json";
	else if (edata->sqlerrcode == ERRCODE_OR_TOOL_ARGUMENTS_FIT)
		code = "invalid_arguments";
	else if (edata->sqlerrcode == ERRCODE_INSUFFICIENT_PRIVILEGE)
		code = "permission_denied";
	else
		code = "tool_failed";

	pushJsonbValue(&state, WJB_BEGIN_OBJECT, NULL);
	jb_push_key(&state, "error");
	pushJsonbValue(&state, WJB_BEGIN_OBJECT, NULL);
	jb_push_key(&state, "code");
	jb_push_string(&state, code);
	jb_push_key(&state, "message");
	jb_push_string(&state, edata->message ? edata->message : "");
	jb_push_key(&state, "sqlstate");
	jb_push_string(&state, unpack_sql_state(edata->sqlerrcode));
	if (edata->detail)
	{
		jb_push_key(&state, "detail");
		jb_push_string(&state, edata->detail);
	}
	if (edata->hint)
	{
		jb_push_key(&state, "hint");
		jb_push_string(&state, edata->hint);
	}
	jb_push_key(&state, "tool_call_id");
	if (call->id)
		jb_push_string(&state, call->id);
	else
		jb_push_null(&state);
	pushJsonbValue(&state, WJB_END_OBJECT, NULL);
	return JsonbValueToJsonb(pushJsonbValue(&state, WJB_END_OBJECT, NULL));
}

/* prepare and run one call in a subtransaction; a failure becomes its entry */
static Jsonb *
run_isolated(ToolCall *call, List *slots)
{
	MemoryContext context = CurrentMemoryContext;
	ResourceOwner owner = CurrentResourceOwner;
	Jsonb	   *volatile result = NULL;

	BeginInternalSubTransaction(NULL);
	MemoryContextSwitchTo(context);
	PG_TRY();
	{
		ErrorContextCallback callback = {error_context_stack, call_context, call};

		error_context_stack = &callback;
		prepare_call(call, slots);
		result = execute_call(call);
		error_context_stack = callback.previous;

		ReleaseCurrentSubTransaction();
		MemoryContextSwitchTo(context);
		CurrentResourceOwner = owner;
	}
	PG_CATCH();
	{
		ErrorData  *edata;

		MemoryContextSwitchTo(context);
		edata = CopyErrorData();
		FlushErrorState();
		RollbackAndReleaseCurrentSubTransaction();
		MemoryContextSwitchTo(context);
		CurrentResourceOwner = owner;

		/* a cancel or statement_timeout stops everything */
		if (edata->sqlerrcode == ERRCODE_QUERY_CANCELED)
			ReThrowError(edata);
		result = error_entry(edata, call);
	}
	PG_END_TRY();
	return result;
}

/* the result object: one key per slot, a list of results or null */
static Jsonb *
results_object(List *slots)
{
	JsonbParseState *state = NULL;
	ListCell   *lc;

	pushJsonbValue(&state, WJB_BEGIN_OBJECT, NULL);
	foreach(lc, slots)
	{
		ToolSlot   *slot = lfirst(lc);
		ListCell   *rc;

		jb_push_key(&state, slot->name);
		if (!slot->called)
		{
			jb_push_null(&state);
			continue;
		}
		pushJsonbValue(&state, WJB_BEGIN_ARRAY, NULL);
		foreach(rc, slot->results)
		{
			if (lfirst(rc) == NULL)
				jb_push_null(&state);
			else
				jb_push_jsonb(&state, lfirst(rc));
		}
		pushJsonbValue(&state, WJB_END_ARRAY, NULL);
	}
	return JsonbValueToJsonb(pushJsonbValue(&state, WJB_END_OBJECT, NULL));
}

static void
add_result(List **slots, ToolCall *call, Jsonb *result)
{
	ToolSlot   *slot = call->tool;

	if (slot == NULL)
	{
		/* with on_error => 'ignore': the entry goes under the name called */
		const char *name = call->name ? call->name : "";

		slot = find_slot(*slots, name);
		if (slot == NULL)
		{
			slot = palloc0(sizeof(ToolSlot));
			slot->name = pstrdup(name);
			*slots = lappend(*slots, slot);
		}
	}
	slot->called = true;
	slot->results = lappend(slot->results, result);
}

/*
 * openrouter_invoke_tools(tools jsonb, response jsonb, on_error text)
 *		RETURNS jsonb
 */
Datum
openrouter_invoke_tools(PG_FUNCTION_ARGS)
{
	OrOnError	on_error = or_effective_on_error(PG_ARGISNULL(2) ? NULL : PG_GETARG_TEXT_PP(2));
	List	   *slots;
	List	   *entries;
	List	   *calls = NIL;
	JsonbContainer *message;
	ResponseKind kind;
	char	   *why;
	ListCell   *lc;

	if (PG_ARGISNULL(0) || PG_ARGISNULL(1))
		PG_RETURN_NULL();
	/* openrouter_prefetch() only collects requests: run no tool in its pass */
	if (or_prefetch_collecting())
		PG_RETURN_NULL();

	slots = declared_tools(PG_GETARG_JSONB_P(0));
	kind = read_response(PG_GETARG_JSONB_P(1), &message, &entries, &why);
	if (kind != RESPONSE_COMPLETION)
	{
		if (on_error == OR_ON_ERROR_IGNORE)
			PG_RETURN_JSONB_P(results_object(slots));
		ereport(ERROR,
				(errcode(ERRCODE_OR_TOOL_RESPONSE_ERROR),
				 kind == RESPONSE_ERROR
				 ? errmsg("the response is an error, not tool calls")
				 : errmsg("the response is not a chat completion"),
				 kind == RESPONSE_ERROR
				 ? errdetail("The response's error: %s", why)
				 : errdetail_internal("%s", why),
				 errhint("Pass on_error => 'ignore' to get null results for such responses.")));
	}

	foreach(lc, entries)
	{
		ToolCall   *call = read_call(lfirst(lc), foreach_current_index(lc) + 1);

		call->tool = call->name ? find_slot(slots, call->name) : NULL;
		calls = lappend(calls, call);
	}

	if (on_error == OR_ON_ERROR_IGNORE)
	{
		foreach(lc, calls)
		{
			ToolCall   *call = lfirst(lc);

			add_result(&slots, call, run_isolated(call, slots));
		}
	}
	else
	{
		ErrorContextCallback callback = {error_context_stack, call_context, NULL};

		/* every call's arguments are checked before any call runs */
		error_context_stack = &callback;
		foreach(lc, calls)
		{
			callback.arg = lfirst(lc);
			prepare_call(lfirst(lc), slots);
		}
		foreach(lc, calls)
		{
			callback.arg = lfirst(lc);
			add_result(&slots, lfirst(lc), execute_call(lfirst(lc)));
		}
		error_context_stack = callback.previous;
	}

	PG_RETURN_JSONB_P(results_object(slots));
}

/* ---------- the follow-up messages ---------- */

/* the call as the assistant message of a request carries it */
static void
push_tool_call(JsonbParseState **state, ToolCall *call)
{
	JsonbValue *v = call->arguments;

	pushJsonbValue(state, WJB_BEGIN_OBJECT, NULL);
	jb_push_key(state, "id");
	jb_push_string(state, call->id);
	jb_push_key(state, "type");
	jb_push_string(state, "function");
	jb_push_key(state, "function");
	pushJsonbValue(state, WJB_BEGIN_OBJECT, NULL);
	jb_push_key(state, "name");
	jb_push_string(state, call->name);
	jb_push_key(state, "arguments");
	if (v == NULL || v->type == jbvNull)
		jb_push_string(state, "{}");
	else if (v->type == jbvString)
		jb_push_jsonb_value(state, v);
	else
		jb_push_string(state, json_text(v));
	pushJsonbValue(state, WJB_END_OBJECT, NULL);
	pushJsonbValue(state, WJB_END_OBJECT, NULL);
}

/* the result of the call-th call (0-based among those of its tool) */
static char *
tool_result_text(JsonbContainer *results, ToolCall *call, int nth)
{
	JsonbValue *list = jb_object_get(results, call->name);
	JsonbValue *result;

	if (!is_container(list, true) ||
		(int) JsonContainerSize(list->val.binary.data) <= nth)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("tool_results has no result for tool call %d (id \"%s\") to \"%s\"",
						call->position, call->id, call->name),
				 errhint("Pass what openrouter_invoke_tools() returned for this response.")));
	result = getIthJsonbValueFromContainer(list->val.binary.data, nth);
	return json_text(result);
}

/*
 * openrouter_tool_messages(messages jsonb, response jsonb, tool_results jsonb)
 *		RETURNS jsonb
 *
 * messages, then the response's assistant message with its tool calls, then
 * one {"role": "tool", "tool_call_id", "content"} message per call, whose
 * content is the call's result as JSON text.  NULL for an error response.
 */
Datum
openrouter_tool_messages(PG_FUNCTION_ARGS)
{
	Jsonb	   *messages = PG_GETARG_JSONB_P(0);
	Jsonb	   *response = PG_GETARG_JSONB_P(1);
	Jsonb	   *results = PG_GETARG_JSONB_P(2);
	JsonbContainer *message;
	List	   *entries;
	List	   *calls = NIL;
	char	   *why;
	ResponseKind kind;
	JsonbParseState *state = NULL;
	JsonbValue *v;
	ListCell   *lc;

	if (JB_ROOT_IS_SCALAR(messages) || !JB_ROOT_IS_ARRAY(messages))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("messages must be a JSON array, not %s", root_type_name(messages)),
				 errhint("Pass the messages of the request that got the response.")));
	if (JB_ROOT_IS_SCALAR(results) || !JB_ROOT_IS_OBJECT(results))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("tool_results must be a JSON object, not %s", root_type_name(results)),
				 errhint("Pass what openrouter_invoke_tools() returned for this response.")));

	kind = read_response(response, &message, &entries, &why);
	if (kind == RESPONSE_ERROR)
		PG_RETURN_NULL();
	if (kind == RESPONSE_MALFORMED || message == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("the response is not a chat completion"),
				 why ? errdetail_internal("%s", why)
				 : errdetail("Its first choice has no message."),
				 errhint("Pass the response of openrouter_chat().")));

	foreach(lc, entries)
	{
		ToolCall   *call = read_call(lfirst(lc), foreach_current_index(lc) + 1);

		if (call->name == NULL || call->id == NULL)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("tool call %d of the response has no %s",
							call->position, call->id == NULL ? "id" : "function name")));
		calls = lappend(calls, call);
	}

	pushJsonbValue(&state, WJB_BEGIN_ARRAY, NULL);
	foreach(lc, array_elements(&messages->root))
		jb_push_jsonb_value(&state, lfirst(lc));

	/* the assistant message */
	pushJsonbValue(&state, WJB_BEGIN_OBJECT, NULL);
	jb_push_key(&state, "role");
	jb_push_string(&state, "assistant");
	jb_push_key(&state, "content");
	if ((v = jb_object_get(message, "content")) != NULL)
		jb_push_jsonb_value(&state, v);
	else
		jb_push_null(&state);
	if (calls != NIL)
	{
		jb_push_key(&state, "tool_calls");
		pushJsonbValue(&state, WJB_BEGIN_ARRAY, NULL);
		foreach(lc, calls)
			push_tool_call(&state, lfirst(lc));
		pushJsonbValue(&state, WJB_END_ARRAY, NULL);
	}
	/* reasoning models continue from their reasoning */
	if ((v = jb_object_get(message, "reasoning_details")) != NULL && v->type != jbvNull)
	{
		jb_push_key(&state, "reasoning_details");
		jb_push_jsonb_value(&state, v);
	}
	pushJsonbValue(&state, WJB_END_OBJECT, NULL);

	/* one tool message per call */
	foreach(lc, calls)
	{
		ToolCall   *call = lfirst(lc);
		int			nth = 0;

		for (int j = 0; j < foreach_current_index(lc); j++)
			if (strcmp(((ToolCall *) list_nth(calls, j))->name, call->name) == 0)
				nth++;

		pushJsonbValue(&state, WJB_BEGIN_OBJECT, NULL);
		jb_push_key(&state, "role");
		jb_push_string(&state, "tool");
		jb_push_key(&state, "tool_call_id");
		jb_push_string(&state, call->id);
		jb_push_key(&state, "content");
		jb_push_string(&state, tool_result_text(&results->root, call, nth));
		pushJsonbValue(&state, WJB_END_OBJECT, NULL);
	}

	PG_RETURN_JSONB_P(JsonbValueToJsonb(pushJsonbValue(&state, WJB_END_ARRAY, NULL)));
}
