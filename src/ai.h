/*
 * ai.h
 *		Declarations shared by the AI functions in SQL (see README.md, "AI
 *		functions in SQL" and "Code layout"):
 *   ai_call.c      sending the requests of a row-at-a-time function (collect
 *                  mode, the transaction's cache, or_send), the model to use
 *   ai_text.c      openrouter_text(): the text of an answer
 *   ai_parts.c     content parts (images, PDFs) and the user message
 *   ai_generate.c  openrouter_generate, openrouter_if, openrouter_classify
 *   ai_agg.c       openrouter_agg: map, then combine in rounds
 *   ai_embed.c     openrouter_embed (POST /embeddings)
 *   ai_rerank.c    openrouter_rerank (POST /rerank)
 */
#ifndef OPENROUTER_AI_H
#define OPENROUTER_AI_H

#include "openrouter.h"

#include "fmgr.h"
#include "utils/array.h"

/* ---------- ai_call.c ---------- */

/*
 * Send requests the way openrouter_chat() does.  An exchange whose failure
 * is already set (a bad argument) is left alone.  While
 * openrouter_prefetch() collects, the requests are reported to it, nothing
 * is sent, and false is returned.  Otherwise each request takes the answer
 * the transaction's request cache has, or is sent (up to max_in_flight at
 * once, through or_send: the usage ledger records it) and its answer kept
 * in the cache; true is returned and every exchange has its result or its
 * failure.  flinfo (or NULL) keeps the identity of who pays for the call
 * site.
 */
extern bool or_call(FmgrInfo *flinfo, OrExchange **exchanges, int count,
					int max_in_flight);

/*
 * The model of a call: the argument, else the setting (openrouter.<name>),
 * else an ORA02 error that says to set one of them.  Empty counts as unset.
 */
extern text *or_model_or_default(text *model, const char *setting,
								 const char *setting_name);

/* a request body (JSON text in the database encoding) as the wire wants it */
extern void or_set_request_body(OrHttpRequest *request, Jsonb *body);

/*
 * An answer of another endpoint that is not shaped as it should be: ORB01
 * ("the <endpoint> answer <why>"), carrying the response.
 */
extern OrFailure *or_malformed_answer(Jsonb *response, const char *endpoint,
									  const char *why);

/* ---------- ai_text.c ---------- */

/* the text of a chat completion's first choice, or NULL when it has none */
extern char *or_answer_text(Jsonb *response);

/* ---------- ai_parts.c ---------- */

/*
 * The messages of a one-question chat: a system message (when system is
 * not NULL) and a user message whose content is the prompt, or, with parts,
 * an array of a text part and the parts (checked: objects with a "type").
 */
extern Jsonb *or_user_messages(text *prompt, ArrayType *parts, text *system);

#endif							/* OPENROUTER_AI_H */
