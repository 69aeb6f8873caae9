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
 * Argument types map to JSON Schema as json_types.c says (the one mapping,
 * shared with the typed answers of openrouter_generate); a type it does not
 * support makes the function unfit to be a tool.
 *
 * The same code serves openrouter_invoke_tools(): tool_resolve.c finds the
 * function behind a declared tool by generating specs again.
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "catalog/pg_proc.h"
#include "catalog/pg_type.h"
#include "commands/comment.h"
#include "fmgr.h"
#include "funcapi.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/regproc.h"
#include "utils/syscache.h"

#include "json_types.h"
#include "jsonb_util.h"
#include "tools.h"

PG_FUNCTION_INFO_V1(openrouter_tools);

#define SUPPORTED_TYPES_HINT OR_JSON_TYPES_HINT " Pass anything else as jsonb."

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
		if (or_json_type_kind(argtypes[i]) == OR_JSON_TYPE_UNSUPPORTED)
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
		or_push_type_schema(&state, argtypes[i]);
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
