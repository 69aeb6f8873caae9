/*
 * json_types.h
 *		SQL types as JSON (json_types.c): the JSON Schema of a type and a JSON
 *		value read as a value of the type.  The one type mapping of the
 *		extension: tool parameters (openrouter_tools, openrouter_invoke_tools)
 *		and typed answers (openrouter_generate and its siblings) both use it.
 */
#ifndef OPENROUTER_JSON_TYPES_H
#define OPENROUTER_JSON_TYPES_H

#include "postgres.h"

#include "utils/jsonb.h"

/*
 * What JSON a type takes, after looking through domains.  Every kind but
 * arrays given as JSON arrays and composites given as JSON objects is read
 * through the declared type's input function.
 */
typedef enum OrJsonTypeKind
{
	OR_JSON_TYPE_UNSUPPORTED,	/* pseudo-types, composites without fields */
	OR_JSON_TYPE_STRING,		/* text types, dates and times, other base types */
	OR_JSON_TYPE_INTEGER,		/* smallint, integer, bigint */
	OR_JSON_TYPE_NUMBER,		/* real, double precision, numeric */
	OR_JSON_TYPE_BOOLEAN,
	OR_JSON_TYPE_JSON,			/* json, jsonb: any JSON value */
	OR_JSON_TYPE_ENUM,			/* a string among the enum's labels */
	OR_JSON_TYPE_ARRAY,			/* an array of a supported element type */
	OR_JSON_TYPE_OBJECT			/* a composite type: an object, by field name */
} OrJsonTypeKind;

#define OR_JSON_TYPES_HINT \
	"Use text, integer, numeric, boolean, json, jsonb, enum, date and time types, composite types of them, arrays of them, or domains over them."

extern OrJsonTypeKind or_json_type_kind(Oid typid);

/*
 * Push the JSON Schema of a supported type as the next value: "string",
 * "integer", "number", "boolean", {} for json, an "enum" of the labels,
 * "array" of "items", dates and times as a "string" with a "format", and a
 * composite as an "object" whose fields are all "required", with
 * "additionalProperties": false (what strict structured output asks for).
 */
extern void or_push_type_schema(JsonbParseState **state, Oid typid);

/*
 * A JSON value as a value of typid (a domain's constraints apply).  What the
 * value makes the type's input function say is raised as it is (a data
 * exception, a constraint): callers that read a model's JSON catch it and
 * check or_is_fault_of_the_value().
 */
extern Datum or_json_to_datum(JsonbValue *value, Oid typid, bool *isnull);

/*
 * or_json_to_datum() for a value from a model: false, with *why set to what
 * the type's input function said, when the value does not fit (a data
 * exception, a constraint, a limit); any other error is raised.
 */
extern bool or_json_read_value(JsonbValue *value, Oid typid, Datum *result,
							   bool *isnull, char **why);

/*
 * Run step(arg); false, with *why set to the error's message, when it raised
 * what a value makes a parser or input function say (a data exception, a
 * constraint, a limit); any other error goes on.
 */
typedef void (*OrValueStep) (void *arg);
extern bool or_try_value(OrValueStep step, void *arg, char **why);

/* Is this error what a JSON value made a parser or input function say? */
extern bool or_is_fault_of_the_value(int sqlerrcode);

#endif							/* OPENROUTER_JSON_TYPES_H */
