/*
 * tools.h
 *		Declarations shared by the tool files (see README.md, "Code layout"):
 *   tool_specs.c      SQL functions as OpenAI-style tool specs (openrouter_tools)
 *   tool_resolve.c    which function a declared tool means
 *   tool_response.c   a response's tool calls (completion.c reads the response)
 *   tool_arguments.c  a call's JSON arguments as the function's arguments
 *   tool_invoke.c     running the calls (openrouter_invoke_tools)
 *   tool_messages.c   the follow-up messages (openrouter_tool_messages)
 * (their jsonb helpers are in jsonb_util.h)
 */
#ifndef OPENROUTER_TOOLS_H
#define OPENROUTER_TOOLS_H

#include "postgres.h"

#include "nodes/pg_list.h"
#include "utils/jsonb.h"

#include "errcodes.h"			/* ERRCODE_OR_UNDECLARED_TOOL ... */
#include "failure.h"

/* OpenRouter's rule for function names: [A-Za-z0-9_-]{1,64} */
#define OR_TOOL_NAME_MAX 64

/* ---------- tool_specs.c ---------- */

/*
 * The tool spec of one function, {"type": "function", "function": {"name",
 * "description", "parameters"}}, or NULL with *problem set to why the
 * function cannot be a tool (an OrFailure, so that openrouter_tools() can
 * raise it and openrouter_invoke_tools() can pass over such a function while
 * it looks for the one a spec describes).
 */
extern Jsonb *or_tool_spec(Oid funcoid, OrFailure **problem);
extern bool or_tool_name_is_valid(const char *name, size_t len);

/* ---------- tool_resolve.c ---------- */

/*
 * One key of the result: a declared tool (funcoid valid), or, with
 * on_error => 'ignore', a name the model called that was not declared.
 */
typedef struct OrToolSlot
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
} OrToolSlot;

/* the function tools of "tools", resolved (OrToolSlot *); others are skipped */
extern List *or_resolve_declared_tools(Jsonb *tools);

/*
 * Lock the tool's function against a concurrent DROP and make sure it is
 * still there (a tool that ran before may have dropped it): ORT05 if not.
 */
extern void or_lock_tool_function(OrToolSlot *tool);

/* ---------- tool_response.c ---------- */

typedef enum OrResponseKind
{
	OR_RESPONSE_COMPLETION,
	OR_RESPONSE_ERROR,			/* {"error": ...}, or a choice that failed */
	OR_RESPONSE_MALFORMED		/* not shaped like a chat completion */
} OrResponseKind;

/* One entry of choices[0].message.tool_calls. */
typedef struct OrToolCall
{
	int			position;		/* 1-based */
	char	   *id;				/* or NULL */
	char	   *name;			/* or NULL when the call names no tool */
	JsonbValue *arguments;		/* or NULL when absent */
	OrToolSlot *tool;			/* or NULL: not declared */
	List	   *args;			/* argument expressions, once prepared */
} OrToolCall;

/* the first choice's message and its tool_calls entries (JsonbValue *) */
extern OrResponseKind or_read_response(Jsonb *response, JsonbContainer **message,
									   List **calls, char **why);
extern OrToolCall *or_read_tool_call(JsonbValue *entry, int position);

/* ---------- tool_arguments.c ---------- */

/* check the call and build call->args; raise what is wrong */
extern void or_prepare_tool_call(OrToolCall *call, List *slots);

#endif							/* OPENROUTER_TOOLS_H */
