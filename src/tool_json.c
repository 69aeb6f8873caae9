/*
 * tool_json.c
 *		Small jsonb readers shared by the tool files: a value's JSON text,
 *		whether a value is an object or an array, a document's type for error
 *		messages, and an array's elements.
 */
#include "postgres.h"

#include "jsonb_util.h"
#include "tools.h"

/* the JSON text of any value (strings quoted) */
char *
or_json_text(JsonbValue *v)
{
	if (v->type == jbvBinary)
		return JsonbToCString(NULL, v->val.binary.data, v->val.binary.len);
	return JsonbToCString(NULL, &JsonbValueToJsonb(v)->root, 0);
}

bool
or_json_is_container(JsonbValue *v, bool array)
{
	return v != NULL && v->type == jbvBinary &&
		(array ? JsonContainerIsArray(v->val.binary.data)
		 : JsonContainerIsObject(v->val.binary.data));
}

/* the elements of an array container, as a list of JsonbValue * */
List *
or_json_array_elements(JsonbContainer *array)
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
