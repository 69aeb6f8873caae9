/*
 * request_cache.h
 *		The transaction's request cache (request_cache.c): an identical
 *		request is sent once per transaction and its answer reused.
 */
#ifndef OPENROUTER_REQUEST_CACHE_H
#define OPENROUTER_REQUEST_CACHE_H

#include "openrouter.h"

#include "common/sha2.h"
#include "fmgr.h"

/* Who pays: a digest of the key and the role's stored attribution. */
typedef struct OrClientIdentity
{
	uint8		digest[PG_SHA256_DIGEST_LENGTH];
} OrClientIdentity;

/* One request as the cache knows it: a digest, never the key itself. */
typedef struct OrRequestKey
{
	uint8		digest[PG_SHA256_DIGEST_LENGTH];
} OrRequestKey;

/* the identity of the current role's client configuration */
extern void or_client_identity(OrClientIdentity *out);

/*
 * The same, resolved once per call site and statement (kept in
 * flinfo->fn_extra, for the current user): what a row-at-a-time caller uses.
 */
extern void or_client_identity_cached(FmgrInfo *flinfo, OrClientIdentity *out);

extern void or_request_key(const OrHttpRequest *request,
						   const OrClientIdentity *client, OrRequestKey *out);

/*
 * The cached answer to a request: sets *result or *failure (copies in the
 * caller's memory context) and returns true, or returns false.
 */
extern bool or_cache_lookup(const OrRequestKey *key, Jsonb **result,
							OrFailure **failure);

/*
 * Keep what an exchange got: an answer, or a failure that would fail again
 * (retryable failures are not kept).  A pinned entry is not evicted before
 * or_cache_unpin_all(): openrouter_prefetch() pins the answers it fetched.
 */
extern void or_cache_store(const OrRequestKey *key, const OrExchange *exchange,
						   bool pin);
extern bool or_cache_pin(const OrRequestKey *key);
extern void or_cache_unpin(const OrRequestKey *key);

/* keep transient failures too (the background worker's chunks) */
extern bool or_cache_keeps_retryable;
extern void or_cache_unpin_all(void);

#endif							/* OPENROUTER_REQUEST_CACHE_H */
