/*
 * tool_arguments.c
 *		Preparing one tool call: checking that it names a declared tool and
 *		turning the model's JSON arguments into the argument expressions of
 *		the call.
 *
 * The model's arguments are data: each JSON value is turned into a Const of
 * the parameter's type by json_types.c (the mapping openrouter_tools()
 * described them with; a JSON null is SQL NULL).  Missing arguments
 * take the function's default expressions from pg_proc.  What is wrong is
 * raised: a call naming no tool or an undeclared one (ORT01), arguments that
 * are not a JSON object (ORT02), an argument the tool does not have, a
 * missing one without a default, or a value its type rejects (ORT03).  The
 * model's JSON is data: whatever a parser or an input function says about it
 * (a data exception, or a limit such as JSON nested too deep for the stack)
 * is one of these, never the statement's own error.
 */
#include "postgres.h"

#include "mb/pg_wchar.h"
#include "nodes/makefuncs.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"

#include "json_types.h"
#include "jsonb_util.h"
#include "tools.h"

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
		OrToolSlot *slot = lfirst(lc);

		if (OidIsValid(slot->funcoid))
			names[count++] = psprintf("\"%s\"", slot->name);
	}
	return name_list(names, count, "none");
}

/* the JSON text the model gave, cut to 100 bytes for messages */
static char *
clipped_json(JsonbValue *v)
{
	char	   *given = jb_value_to_json(v);

	if (strlen(given) > 100)
		given = psprintf("%.*s...", pg_mbcliplen(given, strlen(given), 100), given);
	return given;
}

/*
 * The Const of one argument.  A value the type does not accept (a data
 * exception or a domain's constraint) is reported as ORT03; any other error
 * (a cancel, say) goes on unchanged.
 */
static Const *
argument_const(OrToolCall *call, int i, JsonbValue *v)
{
	Oid			typid = call->tool->argtypes[i];
	Datum		value;
	bool		isnull;
	char	   *why;
	int16		typlen;
	bool		typbyval;

	if (!or_json_read_value(v, typid, &value, &isnull, &why))
		ereport(ERROR,
				(errcode(ERRCODE_OR_TOOL_ARGUMENTS_FIT),
				 errmsg("argument \"%s\" of tool \"%s\" is not a valid %s",
						call->tool->argnames[i], call->tool->name, format_type_be(typid)),
				 errdetail("The model gave %s: %s.", clipped_json(v), why)));

	get_typlenbyval(typid, &typlen, &typbyval);
	return makeConst(typid, -1, get_typcollation(typid), typlen, value, isnull,
					 typbyval);
}

typedef struct ParseJson
{
	char	   *text;
	Jsonb	   *parsed;
} ParseJson;

static void
parse_json(void *arg)
{
	ParseJson  *p = arg;

	p->parsed = DatumGetJsonbP(DirectFunctionCall1(jsonb_in, CStringGetDatum(p->text)));
}

/* the call's arguments as a JSON object (ORT02 when they are not one) */
static JsonbContainer *
arguments_object(OrToolCall *call)
{
	JsonbValue *v = call->arguments;
	ParseJson	p = {0};
	Jsonb	   *parsed;
	char	   *why;

	/* absent, null or empty: no arguments (some models send "" or nothing) */
	if (v == NULL || v->type == jbvNull)
		return NULL;
	if (jb_is_object(v))
		return v->val.binary.data;	/* an object instead of its text: fine */
	if (v->type != jbvString)
		ereport(ERROR,
				(errcode(ERRCODE_OR_TOOL_ARGUMENTS_JSON),
				 errmsg("arguments of a call to tool \"%s\" are not a JSON text", call->name),
				 errdetail("They are a JSON %s.", jb_type_name(v))));
	p.text = pnstrdup(v->val.string.val, v->val.string.len);
	if (strspn(p.text, " \t\r\n") == strlen(p.text))
		return NULL;

	if (!or_try_value(parse_json, &p, &why))
		ereport(ERROR,
				(errcode(ERRCODE_OR_TOOL_ARGUMENTS_JSON),
				 errmsg("arguments of a call to tool \"%s\" are not valid JSON", call->name),
				 errdetail("The model gave %s: %s.", clipped_json(v), why)));
	parsed = p.parsed;

	if (JB_ROOT_IS_SCALAR(parsed) || !JB_ROOT_IS_OBJECT(parsed))
		ereport(ERROR,
				(errcode(ERRCODE_OR_TOOL_ARGUMENTS_JSON),
				 errmsg("arguments of a call to tool \"%s\" are not a JSON object", call->name),
				 errdetail("The model gave %s.", clipped_json(v))));
	return &parsed->root;
}

/* check the call and build its argument expressions; raise what is wrong */
void
or_prepare_tool_call(OrToolCall *call, List *slots)
{
	OrToolSlot *tool = call->tool;
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

	/* a tool that ran before may have dropped it, or one of its types */
	or_lock_tool_function(tool);

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
		Node	   *arg = NULL;

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
