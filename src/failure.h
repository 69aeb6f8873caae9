/*
 * failure.h
 *		The one failure type of the extension (failure.c): what went wrong with
 *		a request or a tool call, raised as an ERROR (on_error => 'abort') or
 *		returned as {"error": ...} (on_error => 'ignore').
 */
#ifndef OPENROUTER_FAILURE_H
#define OPENROUTER_FAILURE_H

#include "postgres.h"

#include "utils/jsonb.h"

#include "errcodes.h"
#include "settings.h"			/* OrOnError */

/* at most this many bytes of server text go into an errmsg, errdetail or errhint */
#define OR_MESSAGE_CAP 4096

/*
 * Everything that can go wrong with one request, in one shape.  Strings are
 * palloc'd.  message, detail and hint are complete (the {"error": ...} value
 * keeps them whole); or_failure_raise caps them.
 */
typedef struct OrFailure
{
	int			sqlerrcode;		/* an ERRCODE_OR_... (errcodes.h) or PostgreSQL's */
	int			http_status;	/* 0 when no HTTP status was received */
	const char *code_name;		/* error.code for failures without a status */
	bool		retryable;		/* would a later attempt possibly succeed? */
	int			attempts;		/* attempts made (0: nothing was sent) */
	char	   *message;		/* errmsg text (without trailing period) */
	char	   *detail;			/* errdetail, or NULL */
	char	   *hint;			/* errhint, or NULL */
	Jsonb	   *service_error;	/* the service's own "error" object, or NULL */
	Jsonb	   *response;		/* a 200 response that carried the error */
	bool		tool_call;		/* a tool call's failure: has "tool_call_id" */
	const char *tool_call_id;	/* its id, or NULL */
} OrFailure;

extern OrOnError or_effective_on_error(text *on_error);
extern int	or_swap_context_on_error(int on_error);	/* -1: no context */

/* fmt is translated (gettext), like an errmsg literal */
extern OrFailure *or_failure_new(int sqlerrcode, const char *code_name,
								 bool retryable, const char *fmt,...) pg_attribute_printf(4, 5);
extern void or_failure_add_detail(OrFailure *failure, const char *fmt,...) pg_attribute_printf(2, 3);
extern OrFailure *or_failure_from_error(const ErrorData *edata, const char *code_name);
extern void or_failure_raise(const OrFailure *failure) pg_attribute_noreturn();
extern Jsonb *or_failure_to_jsonb(const OrFailure *failure);
extern OrFailure *or_failure_copy(const OrFailure *failure);

/* text with every occurrence of secret replaced; text itself when none */
extern char *or_redact(const char *text, size_t len, const char *secret,
					   size_t *redacted_len);
/* at most max bytes of text (whole characters), saying how much was cut */
extern char *or_capped_text(const char *text, size_t max);

#endif							/* OPENROUTER_FAILURE_H */
