/*
 * completion.h
 *		What came back (completion.c): one reader of a chat completion, used
 *		by chat classification and by the tool functions alike, and the
 *		classifier that turns one finished HTTP transfer into a jsonb answer
 *		or a typed failure.
 */
#ifndef OPENROUTER_COMPLETION_H
#define OPENROUTER_COMPLETION_H

#include "postgres.h"

#include "nodes/pg_list.h"
#include "utils/jsonb.h"

#include "failure.h"
#include "http.h"
#include "scheduler.h"

typedef enum OrCompletionKind
{
	OR_COMPLETION,				/* an answer (maybe without choices) */
	OR_COMPLETION_ERROR,		/* {"error": ...}, or a choice that failed */
	OR_COMPLETION_MALFORMED		/* not shaped like a chat completion */
} OrCompletionKind;

/* What a completion says, read once. */
typedef struct OrCompletionView
{
	OrCompletionKind kind;
	JsonbValue *error;			/* the error value (top level, or the failed
								 * choice's), or NULL */
	int			failed_choice;	/* index of the failed choice; -1: none */
	char	   *why;			/* error or malformation, in words (capped) */
	JsonbContainer *message;	/* choices[0].message, or NULL */
	List	   *tool_calls;		/* its tool_calls entries (JsonbValue *) */
} OrCompletionView;

/* Read a completion (any jsonb: a non-object is MALFORMED). */
extern void or_read_completion(Jsonb *response, OrCompletionView *view);

/* What the classifier needs to know of the request that was sent. */
typedef struct OrClassifyContext
{
	const char *secret;			/* never passed on: redacted from failures */
	int			timeout_ms;		/* named in hints */
	int			max_response_kb;
} OrClassifyContext;

/*
 * Interpret one finished transfer to an endpoint: a chat completion must
 * read as one (or_read_completion), any other endpoint's answer must be a
 * JSON object without an "error".  Returns NULL and sets *result on
 * success, or returns the failure (retryable set).  *reset_text is the
 * X-RateLimit-Reset that an error body's metadata names, or NULL.
 */
extern OrFailure *or_classify(const OrHttpResult *http, OrEndpoint endpoint,
							  const OrClassifyContext *context,
							  Jsonb **result, char **reset_text);

#endif							/* OPENROUTER_COMPLETION_H */
