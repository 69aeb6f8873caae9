/*
 * json_check.h
 *		Whether PostgreSQL's JSON input can take a text without raising
 *		(json_check.c): a body from the network is checked before jsonb_in
 *		sees it, so that what the server sent is the response's failure,
 *		never the statement's.
 */
#ifndef OPENROUTER_JSON_CHECK_H
#define OPENROUTER_JSON_CHECK_H

#include "postgres.h"

#include "utils/jsonb.h"

/* deepest nesting of arrays and objects accepted */
#define OR_JSON_MAX_DEPTH 1000

/*
 * Check JSON text in the database encoding (text[len] must be '\0') for
 * what makes jsonb_in raise although the grammar is right: nesting deeper
 * than OR_JSON_MAX_DEPTH, a number numeric cannot hold, a \u escape the
 * database encoding cannot hold (or \u0000, or a lone surrogate), a string
 * longer than jsonb holds.  Returns NULL when it is fine, else why not (a
 * sentence).  Grammar is not checked here: pg_parse_json does that.
 */
/* UTF-8 text in the database encoding, or NULL when it cannot be */
extern char *or_utf8_to_server(const char *utf8, size_t len);

extern char *or_json_check(const char *text, size_t len);

typedef enum OrJsonProblem
{
	OR_JSON_OK,
	OR_JSON_INVALID,			/* not JSON */
	OR_JSON_TRUNCATED,			/* the text ended before the JSON did */
	OR_JSON_UNHOLDABLE			/* JSON, but not what jsonb can hold */
} OrJsonProblem;

/*
 * The text as jsonb, or NULL with *problem and *why (a sentence) set when it
 * is not JSON that jsonb can hold.  Never raises for the text's content.
 */
extern Jsonb *or_json_parse(const char *text, size_t len, OrJsonProblem *problem,
							char **why);

#endif							/* OPENROUTER_JSON_CHECK_H */
