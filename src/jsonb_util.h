/*
 * jsonb_util.h
 *		The extension's jsonb helpers, in one place: building values in C,
 *		reading members and elements, and naming types for messages.  They use
 *		nothing of the extension, so every other file may use them.
 */
#ifndef OPENROUTER_JSONB_UTIL_H
#define OPENROUTER_JSONB_UTIL_H

#include "postgres.h"

#include "nodes/pg_list.h"
#include "utils/jsonb.h"

/* building: each pushes one key or value into an open object/array */
extern void jb_push_key(JsonbParseState **state, const char *key);
extern void jb_push_string(JsonbParseState **state, const char *value);
extern void jb_push_int(JsonbParseState **state, int64 value);
extern void jb_push_bool(JsonbParseState **state, bool value);
extern void jb_push_null(JsonbParseState **state);
extern void jb_push_jsonb(JsonbParseState **state, Jsonb *value);
extern void jb_push_jsonb_value(JsonbParseState **state, JsonbValue *value);

/* reading: NULL when the container is not an object or lacks the key */
extern JsonbValue *jb_object_get(JsonbContainer *container, const char *key);
extern char *jb_object_get_string(JsonbContainer *container, const char *key);
extern JsonbContainer *jb_object_get_container(JsonbContainer *container,
											   const char *key);
extern bool jb_is_object(JsonbValue *value);
extern bool jb_is_array(JsonbValue *value);
extern List *jb_array_elements(JsonbContainer *array);
extern Jsonb *jb_value_to_jsonb(JsonbValue *value);
extern char *jb_value_to_text(JsonbValue *value);
extern char *jb_value_to_json(JsonbValue *value);
extern const char *jb_type_name(JsonbValue *value);
extern const char *jb_root_type_name(Jsonb *value);

#endif
