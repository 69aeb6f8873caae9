/*
 * tools.h
 *		Declarations shared by the tool files: tool_specs.c, which turns SQL
 *		functions into OpenAI-style tool specs (openrouter_tools), and
 *		tool_invoke.c, which runs the tool calls of a response against the
 *		functions those specs describe (openrouter_invoke_tools) and builds
 *		the follow-up messages (openrouter_tool_messages).
 */
#ifndef OPENROUTER_TOOLS_H
#define OPENROUTER_TOOLS_H

#include "postgres.h"

#include "utils/jsonb.h"

/* SQLSTATEs of tool calls (class OR, like every failure of the extension) */
#define ERRCODE_OR_UNDECLARED_TOOL		MAKE_SQLSTATE('O','R','T','0','1')
#define ERRCODE_OR_TOOL_ARGUMENTS_JSON	MAKE_SQLSTATE('O','R','T','0','2')
#define ERRCODE_OR_TOOL_ARGUMENTS_FIT	MAKE_SQLSTATE('O','R','T','0','3')
#define ERRCODE_OR_TOOL_RESPONSE_ERROR	MAKE_SQLSTATE('O','R','T','0','4')

/* OpenRouter's rule for function names: [A-Za-z0-9_-]{1,64} */
#define OR_TOOL_NAME_MAX 64

/*
 * What JSON a parameter type takes, after looking through domains.  Every
 * supported kind is read through the declared type's input function, except
 * arrays given as JSON arrays, which are built element by element.
 */
typedef enum OrToolTypeKind
{
	OR_TOOL_TYPE_UNSUPPORTED,	/* pseudo-types, composite types */
	OR_TOOL_TYPE_STRING,		/* text types, dates and times, other base types */
	OR_TOOL_TYPE_INTEGER,		/* smallint, integer, bigint */
	OR_TOOL_TYPE_NUMBER,		/* real, double precision, numeric */
	OR_TOOL_TYPE_BOOLEAN,
	OR_TOOL_TYPE_JSON,			/* json, jsonb: any JSON value */
	OR_TOOL_TYPE_ENUM,			/* a string among the enum's labels */
	OR_TOOL_TYPE_ARRAY			/* an array of a supported element type */
} OrToolTypeKind;

extern OrToolTypeKind or_tool_type_kind(Oid typid);

/*
 * Why a function cannot be a tool, kept as data so that openrouter_tools()
 * can raise it and openrouter_invoke_tools() can pass over such a function
 * while it looks for the one a spec describes.
 */
typedef struct OrToolProblem
{
	int			sqlerrcode;
	char	   *message;
	char	   *detail;			/* or NULL */
	char	   *hint;			/* or NULL */
} OrToolProblem;

/*
 * The tool spec of one function, {"type": "function", "function": {"name",
 * "description", "parameters"}}, or NULL with *problem filled in.
 */
extern Jsonb *or_tool_spec(Oid funcoid, OrToolProblem *problem);
extern void or_tool_problem_raise(const OrToolProblem *problem) pg_attribute_noreturn();
extern bool or_tool_name_is_valid(const char *name, size_t len);

#endif							/* OPENROUTER_TOOLS_H */
