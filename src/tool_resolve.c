/*
 * tool_resolve.c
 *		Which SQL function a declared tool means: the function tools of
 *		openrouter_invoke_tools()'s "tools" argument, each resolved to a
 *		function, with what a call needs to know about that function.
 *
 * A spec carries nothing but the name, description and parameters the API
 * knows, so the function is found again the way an unqualified call finds
 * it: among the functions of that name visible through search_path, the one
 * whose spec, generated now by openrouter_tools()'s own code (tool_specs.c),
 * has the declared name, description and parameters.  None, or more than
 * one, is an error.  All declared tools are resolved before any call runs;
 * the model's tool names are only ever looked up among them, so a name the
 * model makes up never reaches the catalog.
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "catalog/namespace.h"
#include "catalog/pg_proc.h"
#include "funcapi.h"
#include "nodes/nodeFuncs.h"
#include "nodes/value.h"
#include "storage/lmgr.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/regproc.h"
#include "utils/syscache.h"

#include "jsonb_util.h"
#include "tools.h"

#define TOOLS_HINT "Pass the specs that openrouter_tools() returns."

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

void
or_lock_tool_function(OrToolSlot *tool)
{
	LockDatabaseObject(ProcedureRelationId, tool->funcoid, 0, AccessShareLock);
	if (!SearchSysCacheExists1(PROCOID, ObjectIdGetDatum(tool->funcoid)))
		ereport(ERROR,
				(errcode(ERRCODE_OR_TOOL_DROPPED),
				 errmsg("the function of tool \"%s\" was dropped", tool->name),
				 errdetail("It was dropped after openrouter_invoke_tools found it, e.g. by a tool that ran before."),
				 errhint("A tool that drops or replaces another declared tool makes that tool's later calls fail.")));
}

/* what a call needs to know about the resolved function */
static void
load_function(OrToolSlot *tool, Oid funcoid)
{
	HeapTuple	tuple;
	Form_pg_proc proc;
	char	   *argmodes;
	bool		isnull;
	Datum		defaults;

	tool->funcoid = funcoid;
	or_lock_tool_function(tool);
	tuple = SearchSysCache1(PROCOID, ObjectIdGetDatum(funcoid));
	if (!HeapTupleIsValid(tuple))	/* checked just above */
		elog(ERROR, "cache lookup failed for function %u", funcoid);
	proc = (Form_pg_proc) GETSTRUCT(tuple);

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
resolve_tool(OrToolSlot *tool, JsonbContainer *function)
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
		OrFailure  *problem = NULL;
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
List *
or_resolve_declared_tools(Jsonb *tools)
{
	List	   *slots = NIL;
	ListCell   *lc;
	int			position = 0;

	if (JB_ROOT_IS_SCALAR(tools) || !JB_ROOT_IS_ARRAY(tools))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("tools must be a JSON array of tool specs, not %s",
						jb_root_type_name(tools)),
				 errhint(TOOLS_HINT)));

	foreach(lc, jb_array_elements(&tools->root))
	{
		JsonbValue *element = lfirst(lc);
		JsonbContainer *spec;
		JsonbContainer *function;
		char	   *type;
		char	   *name;
		OrToolSlot *tool;
		ListCell   *prev;

		position++;
		if (!jb_is_object(element))
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
			if (strcmp(((OrToolSlot *) lfirst(prev))->name, name) == 0)
				ereport(ERROR,
						(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						 errmsg("tools declares \"%s\" twice", name),
						 errhint("A model calls tools by name: declare one function per name.")));

		tool = palloc0(sizeof(OrToolSlot));
		tool->name = name;
		resolve_tool(tool, function);
		slots = lappend(slots, tool);
	}
	return slots;
}
