/*
 * openrouter.h
 *		Declarations shared by the SQL-facing files of the openrouter
 *		extension.  The layers (see README.md, "Code layout" and "Design"),
 *		each depending only on those below it:
 *
 *   chat.c batch.c prefetch.c tool_*.c ai_*.c   SQL entry points (ai.h)
 *   ai_call.c    one row-at-a-time request: collect mode, cache, or_send
 *   computed.c   computed columns (computed.h)
 *   async_columns.c  the worker's step for asynchronous computed columns
 *   send.c       settings and the statement's key -> an OrSchedule
 *   request.c    JSON body and HTTP headers from a call's arguments (request.h)
 *   request_cache.c  the transaction's request cache (request_cache.h)
 *   api_key.c    where the API key comes from, and the per-role key store
 *   scheduler.c  concurrency, pacing, 429s, retries        (scheduler.h)
 *   completion.c what came back: an answer or a failure    (completion.h)
 *   http.c       the libcurl engine: the wire and the waits (http.h)
 *   json_check.c JSON from the network as jsonb, never an ERROR
 *   failure.c    the one failure type: ERROR or {"error": ...} (failure.h)
 *   guc.c        settings (settings.h); errcodes.h: every SQLSTATE
 */
#ifndef OPENROUTER_H
#define OPENROUTER_H

#include "postgres.h"

#include "lib/stringinfo.h"
#include "utils/jsonb.h"

#include "errcodes.h"
#include "failure.h"
#include "scheduler.h"
#include "settings.h"

/* ---------- api_key.c ---------- */

extern OrClientConfig or_resolve_client_config(void);
extern const OrClientConfig *or_statement_client_config(void);
extern void or_forget_statement_client_config(void);
extern void or_wipe_string(char *secret);
/* the background worker's exception to ORK02 (async_columns.c), see api_key.c */
extern void or_worker_pays_begin(Oid owner, int sec_context);
extern void or_worker_pays_end(void);

/* ---------- send.c ---------- */

extern void or_schedule_from_settings(OrSchedule *schedule, int max_in_flight);
extern int	or_send(OrExchange **exchanges, int count, int max_in_flight);
struct OrProgress;				/* progress.h */
extern int	or_send_reporting(OrExchange **exchanges, int count, int max_in_flight,
							  struct OrProgress *progress);

/* ---------- request.c (the arguments and building: request.h) ---------- */

extern const char *or_header_unsafe_char(const char *value, bool allow_spaces);

#endif							/* OPENROUTER_H */
