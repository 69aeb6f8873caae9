/*
 * jsonb_util.c
 *		The extension's jsonb helpers: building values in C, reading members
 *		and elements, a value's text, and type names for messages, so that the
 *		rest of the extension reads as what it does, not as JsonbValue plumbing.
 *		The bottom layer: it uses nothing else of the extension.
 */
#include "jsonb_util.h"

#include "utils/builtins.h"
#include "utils/numeric.h"

void
jb_push_key(JsonbParseState **state, const char *key)
{
	JsonbValue	v;

	v.type = jbvString;
	v.val.string.val = (char *) key;
	v.val.string.len = strlen(key);
	pushJsonbValue(state, WJB_KEY, &v);
}

/* push a scalar as an object value or an array element, whichever is open */
static void
push_scalar(JsonbParseState **state, JsonbValue *v)
{
	JsonbIteratorToken tok = ((*state)->contVal.type == jbvArray) ? WJB_ELEM : WJB_VALUE;

	pushJsonbValue(state, tok, v);
}

void
jb_push_string(JsonbParseState **state, const char *value)
{
	JsonbValue	v;

	v.type = jbvString;
	v.val.string.val = (char *) value;
	v.val.string.len = strlen(value);
	push_scalar(state, &v);
}

void
jb_push_int(JsonbParseState **state, int64 value)
{
	JsonbValue	v;

	v.type = jbvNumeric;
	v.val.numeric = int64_to_numeric(value);
	push_scalar(state, &v);
}

void
jb_push_bool(JsonbParseState **state, bool value)
{
	JsonbValue	v;

	v.type = jbvBool;
	v.val.boolean = value;
	push_scalar(state, &v);
}

void
jb_push_null(JsonbParseState **state)
{
	JsonbValue	v;

	v.type = jbvNull;
	push_scalar(state, &v);
}

void
jb_push_jsonb(JsonbParseState **state, Jsonb *value)
{
	JsonbValue	v;

	if (JB_ROOT_IS_SCALAR(value))
	{
		/* a raw scalar is stored as a one-element array: unwrap it */
		JsonbExtractScalar(&value->root, &v);
	}
	else
	{
		v.type = jbvBinary;
		v.val.binary.data = &value->root;
		v.val.binary.len = VARSIZE(value) - VARHDRSZ;
	}
	push_scalar(state, &v);
}

void
jb_push_jsonb_value(JsonbParseState **state, JsonbValue *value)
{
	push_scalar(state, value);
}

JsonbValue *
jb_object_get(JsonbContainer *container, const char *key)
{
	if (container == NULL || !JsonContainerIsObject(container))
		return NULL;
	return getKeyJsonValueFromContainer(container, key, strlen(key), NULL);
}

char *
jb_object_get_string(JsonbContainer *container, const char *key)
{
	JsonbValue *v = jb_object_get(container, key);

	if (v == NULL || v->type != jbvString)
		return NULL;
	return pnstrdup(v->val.string.val, v->val.string.len);
}

JsonbContainer *
jb_object_get_container(JsonbContainer *container, const char *key)
{
	JsonbValue *v = jb_object_get(container, key);

	if (v == NULL || v->type != jbvBinary)
		return NULL;
	return v->val.binary.data;
}

Jsonb *
jb_value_to_jsonb(JsonbValue *value)
{
	return JsonbValueToJsonb(value);
}

/* a container value (jbvBinary) that is an object */
bool
jb_is_object(JsonbValue *value)
{
	return value != NULL && value->type == jbvBinary &&
		JsonContainerIsObject(value->val.binary.data);
}

/* a container value (jbvBinary) that is an array */
bool
jb_is_array(JsonbValue *value)
{
	return value != NULL && value->type == jbvBinary &&
		JsonContainerIsArray(value->val.binary.data);
}

/* the elements of an array container, as a list of JsonbValue * */
List *
jb_array_elements(JsonbContainer *array)
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

/* the JSON text of any value (strings quoted) */
char *
jb_value_to_json(JsonbValue *value)
{
	if (value->type == jbvBinary)
		return JsonbToCString(NULL, value->val.binary.data, value->val.binary.len);
	return JsonbToCString(NULL, &JsonbValueToJsonb(value)->root, 0);
}

/* the text of a value: a string's own text, anything else as JSON */
char *
jb_value_to_text(JsonbValue *value)
{
	if (value->type == jbvString)
		return pnstrdup(value->val.string.val, value->val.string.len);
	return jb_value_to_json(value);
}

const char *
jb_type_name(JsonbValue *value)
{
	switch (value->type)
	{
		case jbvNull:
			return "null";
		case jbvString:
			return "string";
		case jbvNumeric:
			return "number";
		case jbvBool:
			return "boolean";
		case jbvBinary:
			return JsonContainerIsArray(value->val.binary.data) ? "array" : "object";
		case jbvArray:
			return "array";
		case jbvObject:
			return "object";
		default:
			return "unknown";
	}
}

/* "object", "array", "string", ...: what a jsonb value is, for messages */
const char *
jb_root_type_name(Jsonb *value)
{
	if (JB_ROOT_IS_SCALAR(value))
	{
		JsonbValue	v;

		JsonbExtractScalar(&value->root, &v);
		return jb_type_name(&v);
	}
	return JB_ROOT_IS_ARRAY(value) ? "array" : "object";
}
