/*
 * tool_specs.c
 *		openrouter_tools(): SQL functions as OpenAI-style tool specs.
 *
 * A function becomes
 *	 {"type": "function",
 *	  "function": {"name": <its name>,
 *				   "description": <its COMMENT ON FUNCTION text, whole>,
 *				   "parameters": <a JSON Schema object of its arguments>}}
 * which is what OpenRouter's ChatFunctionTool accepts.  The parameters
 * schema has one property per argument, by name; arguments without a default
 * are "required"; "additionalProperties" is false, since a model's extra
 * argument could not be passed anyway.
 *
 * Types map to JSON Schema after looking through domains: text types become
 * "string", integer types "integer", real/double/numeric "number", boolean
 * "boolean", json/jsonb any value ({}), arrays an "array" of their element's
 * schema, enums a "string" with "enum" listing the labels in order, dates and
 * times a "string" with a "format" (date, time, date-time, duration for
 * interval, uuid for uuid), any other base type a "string" that the type's
 * input function reads.  Pseudo-types and composite types are not supported.
 *
 * The same code serves openrouter_invoke_tools(): tool_resolve.c finds the
 * function behind a declared tool by generating specs again.
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "catalog/pg_enum.h"
#include "catalog/pg_proc.h"
#include "catalog/pg_type.h"
#include "commands/comment.h"
#include "fmgr.h"
#include "funcapi.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/catcache.h"
#include "utils/lsyscache.h"
#include "utils/regproc.h"
#include "utils/syscache.h"

#include "jsonb_util.h"
#include "tools.h"

PG_FUNCTION_INFO_V1(openrouter_tools);

#define SUPPORTED_TYPES_HINT \
	"Use text, integer, numeric, boolean, json, jsonb, enum, date and time types, arrays of them, or domains over them; pass anything else as jsonb."

bool
or_tool_name_is_valid(const char *name, size_t len)
{
	if (len < 1 || len > OR_TOOL_NAME_MAX)
		return false;
	for (size_t i = 0; i < len; i++)
	{
		char		c = name[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
			  (c >= '0' && c <= '9') || c == '_' || c == '-'))
			return false;
	}
	return true;
}

OrToolTypeKind
or_tool_type_kind(Oid typid)
{
	Oid			base = getBaseType(typid);
	Oid			element = get_element_type(base);
	char		typtype;

	if (OidIsValid(element))
	{
		OrToolTypeKind element_kind = or_tool_type_kind(element);

		if (element_kind == OR_TOOL_TYPE_UNSUPPORTED)
			return OR_TOOL_TYPE_UNSUPPORTED;
		return OR_TOOL_TYPE_ARRAY;
	}

	switch (base)
	{
		case INT2OID:
		case INT4OID:
		case INT8OID:
			return OR_TOOL_TYPE_INTEGER;
		case FLOAT4OID:
		case FLOAT8OID:
		case NUMERICOID:
			return OR_TOOL_TYPE_NUMBER;
		case BOOLOID:
			return OR_TOOL_TYPE_BOOLEAN;
		case JSONOID:
		case JSONBOID:
			return OR_TOOL_TYPE_JSON;
		default:
			break;
	}

	typtype = get_typtype(base);
	if (typtype == TYPTYPE_ENUM)
		return OR_TOOL_TYPE_ENUM;
	if (typtype == TYPTYPE_BASE || typtype == TYPTYPE_RANGE ||
		typtype == TYPTYPE_MULTIRANGE)
		return OR_TOOL_TYPE_STRING;
	return OR_TOOL_TYPE_UNSUPPORTED;
}

/* the JSON Schema "format" of a string type, or NULL */
static const char *
string_format(Oid base)
{
	switch (base)
	{
		case DATEOID:
			return "date";
		case TIMEOID:
		case TIMETZOID:
			return "time";
		case TIMESTAMPOID:
		case TIMESTAMPTZOID:
			return "date-time";
		case INTERVALOID:
			return "duration";
		case UUIDOID:
			return "uuid";
		default:
			return NULL;
	}
}

typedef struct EnumLabel
{
	float4		sort_order;
	char	   *label;
} EnumLabel;

static int
compare_enum_labels(const void *a, const void *b)
{
	float4		x = ((const EnumLabel *) a)->sort_order;
	float4		y = ((const EnumLabel *) b)->sort_order;

	return (x > y) - (x < y);
}

/* push the enum's labels, in the enum's order, as an array */
static void
push_enum_labels(JsonbParseState **state, Oid enum_type)
{
	CatCList   *list = SearchSysCacheList1(ENUMTYPOIDNAME,
										   ObjectIdGetDatum(enum_type));
	EnumLabel  *labels = palloc(sizeof(EnumLabel) * Max(list->n_members, 1));

	for (int i = 0; i < list->n_members; i++)
	{
		Form_pg_enum e = (Form_pg_enum) GETSTRUCT(&list->members[i]->tuple);

		labels[i].sort_order = e->enumsortorder;
		labels[i].label = pstrdup(NameStr(e->enumlabel));
	}
	qsort(labels, list->n_members, sizeof(EnumLabel), compare_enum_labels);

	pushJsonbValue(state, WJB_BEGIN_ARRAY, NULL);
	for (int i = 0; i < list->n_members; i++)
		jb_push_string(state, labels[i].label);
	pushJsonbValue(state, WJB_END_ARRAY, NULL);
	ReleaseSysCacheList(list);
}

/* push the JSON Schema of a supported type as the next value */
static void
push_type_schema(JsonbParseState **state, Oid typid)
{
	Oid			base = getBaseType(typid);
	OrToolTypeKind kind = or_tool_type_kind(base);
	const char *format;

	pushJsonbValue(state, WJB_BEGIN_OBJECT, NULL);
	switch (kind)
	{
		case OR_TOOL_TYPE_INTEGER:
			jb_push_key(state, "type");
			jb_push_string(state, "integer");
			break;
		case OR_TOOL_TYPE_NUMBER:
			jb_push_key(state, "type");
			jb_push_string(state, "number");
			break;
		case OR_TOOL_TYPE_BOOLEAN:
			jb_push_key(state, "type");
			jb_push_string(state, "boolean");
			break;
		case OR_TOOL_TYPE_JSON:
			/* any JSON value: the empty schema */
			break;
		case OR_TOOL_TYPE_ENUM:
			jb_push_key(state, "type");
			jb_push_string(state, "string");
			jb_push_key(state, "enum");
			push_enum_labels(state, base);
			break;
		case OR_TOOL_TYPE_ARRAY:
			jb_push_key(state, "type");
			jb_push_string(state, "array");
			jb_push_key(state, "items");
			push_type_schema(state, get_element_type(base));
			break;
		case OR_TOOL_TYPE_STRING:
			jb_push_key(state, "type");
			jb_push_string(state, "string");
			if ((format = string_format(base)) != NULL)
			{
				jb_push_key(state, "format");
				jb_push_string(state, format);
			}
			break;
		case OR_TOOL_TYPE_UNSUPPORTED:
			elog(ERROR, "type %u cannot be a tool parameter", typid);
	}
	pushJsonbValue(state, WJB_END_OBJECT, NULL);
}

/* why the function cannot be a tool, as a failure (message already formatted) */
static Jsonb *
problem(OrFailure **p, int sqlerrcode, char *message, char *detail,
		char *hint)
{
	*p = or_failure_new(sqlerrcode, "not_a_tool", false, "%s", message);
	(*p)->detail = detail;
	(*p)->hint = hint;
	return NULL;
}

/* true, with *p filled in, when the routine itself cannot be a tool */
static bool
routine_problem(Form_pg_proc proc, const char *signature, OrFailure **p)
{
	switch (proc->prokind)
	{
		case PROKIND_PROCEDURE:
			problem(p, ERRCODE_WRONG_OBJECT_TYPE,
					psprintf(_("%s cannot be a tool because it is a procedure"), signature),
					pstrdup(_("A tool must return its result to the model.")),
					pstrdup(_("Write a function that calls the procedure and returns a result.")));
			return true;
		case PROKIND_AGGREGATE:
			problem(p, ERRCODE_WRONG_OBJECT_TYPE,
					psprintf(_("%s cannot be a tool because it is an aggregate function"), signature),
					NULL, NULL);
			return true;
		case PROKIND_WINDOW:
			problem(p, ERRCODE_WRONG_OBJECT_TYPE,
					psprintf(_("%s cannot be a tool because it is a window function"), signature),
					NULL, NULL);
			return true;
		default:
			break;
	}
	if (proc->proretset)
	{
		problem(p, ERRCODE_FEATURE_NOT_SUPPORTED,
				psprintf(_("%s cannot be a tool because it returns a set"), signature),
				pstrdup(_("A tool's result is one value.")),
				pstrdup(_("Return an array or jsonb instead.")));
		return true;
	}
	if (get_typtype(proc->prorettype) == TYPTYPE_PSEUDO &&
		proc->prorettype != VOIDOID && proc->prorettype != RECORDOID)
	{
		problem(p, ERRCODE_FEATURE_NOT_SUPPORTED,
				psprintf(_("%s cannot be a tool because it returns type %s"),
						 signature, format_type_be(proc->prorettype)),
				NULL,
				pstrdup(_("Return jsonb, or any type that to_jsonb() accepts.")));
		return true;
	}
	return false;
}

Jsonb *
or_tool_spec(Oid funcoid, OrFailure **p)
{
	HeapTuple	tuple;
	Form_pg_proc proc;
	char	   *signature;
	char	   *name;
	char	   *description;
	Oid		   *argtypes;
	char	  **argnames;
	char	   *argmodes;
	int			nargs;
	int			first_default;
	JsonbParseState *state = NULL;
	JsonbValue *done;

	tuple = SearchSysCache1(PROCOID, ObjectIdGetDatum(funcoid));
	if (!HeapTupleIsValid(tuple))
		return problem(p, ERRCODE_UNDEFINED_FUNCTION,
					   psprintf(_("function with OID %u does not exist"), funcoid),
					   NULL, NULL);
	proc = (Form_pg_proc) GETSTRUCT(tuple);
	signature = format_procedure(funcoid);
	name = pstrdup(NameStr(proc->proname));

	if (routine_problem(proc, signature, p))
	{
		ReleaseSysCache(tuple);
		return NULL;
	}

	nargs = get_func_arg_info(tuple, &argtypes, &argnames, &argmodes);
	first_default = proc->pronargs - proc->pronargdefaults;
	ReleaseSysCache(tuple);

	if (!or_tool_name_is_valid(name, strlen(name)))
		return problem(p, ERRCODE_INVALID_NAME,
					   psprintf(_("function name \"%s\" cannot be a tool name"), name),
					   pstrdup(_("OpenRouter accepts 1 to 64 letters (a-z, A-Z), digits, underscores and dashes.")),
					   pstrdup(_("Wrap the function in one whose name has only those characters.")));

	for (int i = 0; i < nargs; i++)
	{
		char		mode = argmodes ? argmodes[i] : PROARGMODE_IN;

		if (mode != PROARGMODE_IN && mode != PROARGMODE_VARIADIC)
			return problem(p, ERRCODE_FEATURE_NOT_SUPPORTED,
						   psprintf(_("%s cannot be a tool because it has OUT parameters"), signature),
						   pstrdup(_("A tool's arguments come from the model and its result is the function's return value.")),
						   pstrdup(_("Return a composite type or jsonb instead.")));
		if (argnames == NULL || argnames[i] == NULL || argnames[i][0] == '\0')
			return problem(p, ERRCODE_INVALID_FUNCTION_DEFINITION,
						   psprintf(_("%s cannot be a tool because its argument %d has no name"), signature, i + 1),
						   pstrdup(_("A model passes a tool's arguments by name.")),
						   pstrdup(_("Give every argument a name (CREATE OR REPLACE FUNCTION can add names).")));
		if (or_tool_type_kind(argtypes[i]) == OR_TOOL_TYPE_UNSUPPORTED)
			return problem(p, ERRCODE_FEATURE_NOT_SUPPORTED,
						   psprintf(_("%s cannot be a tool because its argument \"%s\" has type %s"),
									signature, argnames[i], format_type_be(argtypes[i])),
						   NULL, pstrdup(SUPPORTED_TYPES_HINT));
	}

	description = GetComment(funcoid, ProcedureRelationId, 0);

	pushJsonbValue(&state, WJB_BEGIN_OBJECT, NULL);
	jb_push_key(&state, "type");
	jb_push_string(&state, "function");
	jb_push_key(&state, "function");
	pushJsonbValue(&state, WJB_BEGIN_OBJECT, NULL);
	jb_push_key(&state, "name");
	jb_push_string(&state, name);
	if (description != NULL)
	{
		jb_push_key(&state, "description");
		jb_push_string(&state, description);
	}
	jb_push_key(&state, "parameters");
	pushJsonbValue(&state, WJB_BEGIN_OBJECT, NULL);
	jb_push_key(&state, "type");
	jb_push_string(&state, "object");
	jb_push_key(&state, "properties");
	pushJsonbValue(&state, WJB_BEGIN_OBJECT, NULL);
	for (int i = 0; i < nargs; i++)
	{
		jb_push_key(&state, argnames[i]);
		push_type_schema(&state, argtypes[i]);
	}
	pushJsonbValue(&state, WJB_END_OBJECT, NULL);
	if (first_default > 0)
	{
		jb_push_key(&state, "required");
		pushJsonbValue(&state, WJB_BEGIN_ARRAY, NULL);
		for (int i = 0; i < first_default; i++)
			jb_push_string(&state, argnames[i]);
		pushJsonbValue(&state, WJB_END_ARRAY, NULL);
	}
	jb_push_key(&state, "additionalProperties");
	jb_push_bool(&state, false);
	pushJsonbValue(&state, WJB_END_OBJECT, NULL);	/* parameters */
	pushJsonbValue(&state, WJB_END_OBJECT, NULL);	/* function */
	done = pushJsonbValue(&state, WJB_END_OBJECT, NULL);
	return JsonbValueToJsonb(done);
}

/*
 * openrouter_tools(VARIADIC functions regprocedure[]) RETURNS jsonb
 *
 * The specs of the given functions, in order, as a JSON array.
 */
Datum
openrouter_tools(PG_FUNCTION_ARGS)
{
	ArrayType  *functions = PG_GETARG_ARRAYTYPE_P(0);
	Datum	   *oids;
	bool	   *nulls;
	int			count;
	char	  **names;
	Oid		   *seen;
	JsonbParseState *state = NULL;
	JsonbValue *done;

	deconstruct_array(functions, REGPROCEDUREOID, sizeof(Oid), true,
					  TYPALIGN_INT, &oids, &nulls, &count);
	names = palloc0(sizeof(char *) * Max(count, 1));
	seen = palloc0(sizeof(Oid) * Max(count, 1));

	pushJsonbValue(&state, WJB_BEGIN_ARRAY, NULL);
	for (int i = 0; i < count; i++)
	{
		OrFailure  *p = NULL;
		Jsonb	   *spec;

		if (nulls[i])
			ereport(ERROR,
					(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
					 errmsg("the functions of openrouter_tools() must not be null")));

		spec = or_tool_spec(DatumGetObjectId(oids[i]), &p);
		if (spec == NULL)
			or_failure_raise(p);
		seen[i] = DatumGetObjectId(oids[i]);
		names[i] = jb_object_get_string(jb_object_get_container(&spec->root, "function"),
										"name");
		for (int j = 0; j < i; j++)
			if (strcmp(names[j], names[i]) == 0)
				ereport(ERROR,
						(errcode(ERRCODE_DUPLICATE_OBJECT),
						 errmsg("two tools are named \"%s\"", names[i]),
						 seen[j] == seen[i]
						 ? errdetail("Function %s is given twice.", format_procedure(seen[i]))
						 : errdetail("Functions %s and %s have the same name.",
									 format_procedure(seen[j]), format_procedure(seen[i])),
						 errhint("A model calls tools by name: pass one function per name.")));
		jb_push_jsonb(&state, spec);
	}
	done = pushJsonbValue(&state, WJB_END_ARRAY, NULL);
	PG_RETURN_JSONB_P(JsonbValueToJsonb(done));
}
