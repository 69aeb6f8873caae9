/*
 * jsonb_util.h
 *		Small helpers for building and reading jsonb values in C.
 */
#ifndef OPENROUTER_JSONB_UTIL_H
#define OPENROUTER_JSONB_UTIL_H

#include "postgres.h"

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
extern Jsonb *jb_value_to_jsonb(JsonbValue *value);
extern char *jb_value_to_text(JsonbValue *value);
extern const char *jb_type_name(JsonbValue *value);
extern const char *jb_root_type_name(Jsonb *value);

#endif
