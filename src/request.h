/*
 * request.h
 *		openrouter_chat()'s arguments, described once, and the request they
 *		make (request.c).
 *
 * The descriptor table or_chat_arguments[] is the one list of the
 * arguments: their names and types (the SQL signature's, in its order: a
 * regression test compares them with pg_proc), which of them are keys of an
 * openrouter_chat_batch() request object, which go into the request body
 * (and so may not be repeated in model_kwargs), and how each is checked and
 * sent.  openrouter_chat() reads its arguments through it, batch.c reads
 * request objects through it, and or_build_chat_request() builds the body
 * and headers from it.
 */
#ifndef OPENROUTER_REQUEST_H
#define OPENROUTER_REQUEST_H

#include "openrouter.h"

#include "fmgr.h"

/* positions of openrouter_chat()'s arguments (0-based, as in fcinfo) */
typedef enum OrChatArg
{
	OR_CHAT_MESSAGES,
	OR_CHAT_MODEL,
	OR_CHAT_MODEL_KWARGS,
	OR_CHAT_TOOLS,
	OR_CHAT_TOOL_CHOICE,
	OR_CHAT_PROVIDER,
	OR_CHAT_TRANSFORMS,
	OR_CHAT_SITE_URL,
	OR_CHAT_SITE_NAME,
	OR_CHAT_ON_ERROR,
	OR_CHAT_NARGS
} OrChatArg;

/* how an argument is checked and where it goes */
typedef enum OrChatArgKind
{
	OR_ARG_MESSAGES,			/* a non-empty array of messages with roles */
	OR_ARG_MODEL,				/* a model name: not NULL, not empty */
	OR_ARG_MODEL_KWARGS,		/* an object whose members join the body */
	OR_ARG_ARRAY,				/* a JSON array, sent as given */
	OR_ARG_OBJECT,				/* a JSON object, sent as given */
	OR_ARG_TOOL_CHOICE,			/* the API's forms, or Pixeltable's translated */
	OR_ARG_HEADER,				/* an attribution header */
	OR_ARG_ON_ERROR				/* what a failure does: not part of the request */
} OrChatArgKind;

typedef struct OrChatArgument
{
	const char *name;			/* SQL argument name, batch key, body key */
	Oid			type;			/* JSONBOID or TEXTOID */
	OrChatArgKind kind;
	bool		batch_key;		/* a key of openrouter_chat_batch's requests */
	bool		in_body;		/* a key of the body (not in model_kwargs) */
	const char *example;		/* a valid value, for hints */
	char	  **setting;		/* a header's default (openrouter.*), or NULL */
	size_t		header;			/* a header's place in OrHttpRequest */
} OrChatArgument;

extern const OrChatArgument or_chat_arguments[OR_CHAT_NARGS];

/* One call's arguments: Jsonb * or text *, NULL when SQL NULL or absent. */
typedef struct OrChatArgs
{
	void	   *value[OR_CHAT_NARGS];
} OrChatArgs;

#define OR_CHAT_JSONB(args, arg) ((Jsonb *) (args)->value[(arg)])
#define OR_CHAT_TEXT(args, arg) ((text *) (args)->value[(arg)])

/* openrouter_chat()'s own arguments */
extern void or_chat_args_from_call(FunctionCallInfo fcinfo, OrChatArgs *args);

/*
 * The arguments of an openrouter_chat_batch() request object (number
 * "position"); NULL, or the failure of an object that is not one.
 */
extern OrFailure *or_chat_args_from_object(Jsonb *request, int position,
										   OrChatArgs *args);

/* the request the arguments make, or the failure of a bad argument */
extern OrFailure *or_build_chat_request(const OrChatArgs *args,
										OrHttpRequest *out);

#endif							/* OPENROUTER_REQUEST_H */
