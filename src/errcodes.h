/*
 * errcodes.h
 *		Every SQLSTATE of the extension, defined once (class OR; see README.md,
 *		"Errors").  Users catch these: never renumber one.
 *
 * An HTTP error status nnn from OpenRouter becomes ORnnn (or_http_errcode).
 */
#ifndef OPENROUTER_ERRCODES_H
#define OPENROUTER_ERRCODES_H

#include "utils/elog.h"

/* the class: PL/pgSQL catches all of them WHEN SQLSTATE 'OR000' */
#define ERRCODE_OR_HTTP_STATUS			MAKE_SQLSTATE('O','R','0','0','0')

/* ORnnn for HTTP status (or error.code) nnn, 100..999 */
#define or_http_errcode(status) \
	MAKE_SQLSTATE('O', 'R', '0' + ((status) / 100) % 10, \
				  '0' + ((status) / 10) % 10, '0' + (status) % 10)

/* the service answered with an error */
#define ERRCODE_OR_SERVICE_ERROR		MAKE_SQLSTATE('O','R','E','0','1')
#define ERRCODE_OR_CHOICE_FAILED		MAKE_SQLSTATE('O','R','E','0','2')

/* the body */
#define ERRCODE_OR_INVALID_RESPONSE		MAKE_SQLSTATE('O','R','B','0','1')
#define ERRCODE_OR_TRUNCATED_RESPONSE	MAKE_SQLSTATE('O','R','B','0','2')
#define ERRCODE_OR_EMPTY_RESPONSE		MAKE_SQLSTATE('O','R','B','0','3')
#define ERRCODE_OR_RESPONSE_TOO_LARGE	MAKE_SQLSTATE('O','R','B','0','4')

/* the network */
#define ERRCODE_OR_CONNECTION_FAILED	MAKE_SQLSTATE('O','R','N','0','1')
#define ERRCODE_OR_TIMEOUT				MAKE_SQLSTATE('O','R','N','0','2')
#define ERRCODE_OR_TLS_FAILURE			MAKE_SQLSTATE('O','R','N','0','3')
#define ERRCODE_OR_TRANSPORT_FAILURE	MAKE_SQLSTATE('O','R','N','0','9')

/* keys */
#define ERRCODE_OR_NO_API_KEY			MAKE_SQLSTATE('O','R','K','0','1')

/* spending (budget.c) */
#define ERRCODE_OR_BUDGET_EXCEEDED		MAKE_SQLSTATE('O','R','C','0','1')
#define ERRCODE_OR_PRICE_UNKNOWN		MAKE_SQLSTATE('O','R','C','0','2')

/* tool calls */
#define ERRCODE_OR_UNDECLARED_TOOL		MAKE_SQLSTATE('O','R','T','0','1')
#define ERRCODE_OR_TOOL_ARGUMENTS_JSON	MAKE_SQLSTATE('O','R','T','0','2')
#define ERRCODE_OR_TOOL_ARGUMENTS_FIT	MAKE_SQLSTATE('O','R','T','0','3')
#define ERRCODE_OR_TOOL_RESPONSE_ERROR	MAKE_SQLSTATE('O','R','T','0','4')
#define ERRCODE_OR_TOOL_DROPPED			MAKE_SQLSTATE('O','R','T','0','5')

/* the AI functions in SQL (ai_*.c) */
#define ERRCODE_OR_ANSWER_DOES_NOT_FIT	MAKE_SQLSTATE('O','R','A','0','1')
#define ERRCODE_OR_NO_MODEL				MAKE_SQLSTATE('O','R','A','0','2')
#define ERRCODE_OR_CANNOT_REDUCE		MAKE_SQLSTATE('O','R','A','0','3')

#endif							/* OPENROUTER_ERRCODES_H */
