/* openrouter--1.0--1.1.sql: upgrade from 1.0 to 1.1 */

\echo Use "ALTER EXTENSION openrouter UPDATE TO '1.1'" to load this file. \quit

-- ======================================================================
-- Keys
-- ======================================================================

-- No planner statistic may hold a copy of a key: ANALYZE (and autovacuum)
-- would copy key values into pg_statistic, which pg_read_all_data reads.
-- A statistics target of 0 makes ANALYZE skip a column; statistics that 1.0
-- let it gather are removed.
ALTER TABLE openrouter_api_key
    ALTER COLUMN role_id SET STATISTICS 0,
    ALTER COLUMN role_name SET STATISTICS 0,
    ALTER COLUMN api_key SET STATISTICS 0,
    ALTER COLUMN site_url SET STATISTICS 0,
    ALTER COLUMN site_name SET STATISTICS 0,
    ALTER COLUMN updated_at SET STATISTICS 0;
DELETE FROM pg_catalog.pg_statistic WHERE starelid = 'openrouter_api_key'::regclass;

-- ======================================================================
-- openrouter_chat's arguments
-- ======================================================================

-- The C descriptor table of openrouter_chat's arguments (request.c), which
-- drives argument checking, openrouter_chat_batch's request keys and the
-- request body; the regression suite compares it with pg_proc.
CREATE FUNCTION openrouter_chat_arguments(
    OUT "position" integer, OUT name text, OUT type regtype,
    OUT batch_key boolean, OUT in_body boolean)
RETURNS SETOF record
LANGUAGE C STABLE PARALLEL SAFE
AS 'MODULE_PATHNAME', 'openrouter_chat_arguments';
REVOKE EXECUTE ON FUNCTION openrouter_chat_arguments() FROM PUBLIC;
COMMENT ON FUNCTION openrouter_chat_arguments() IS
$$Internal: the extension's table of openrouter_chat's arguments, in order: name, type, whether it is a key of openrouter_chat_batch's request objects, whether it goes into the request body (and so may not appear in model_kwargs). The regression suite compares it with pg_proc.$$;

-- ======================================================================
-- The transaction's request cache
-- ======================================================================

COMMENT ON FUNCTION openrouter_chat(jsonb, text, jsonb, jsonb, jsonb, jsonb, jsonb, text, text, text) IS
$$Sends one chat completions request to OpenRouter (POST {openrouter.base_url}/chat/completions) and returns the response body as jsonb.
messages: a non-empty JSON array of {"role", "content"} objects (content may be a string or an array of text, image_url, file or input_audio parts). NULL messages return NULL and send nothing.
model: e.g. 'openai/gpt-4o-mini'.
model_kwargs: any further request fields (temperature, max_tokens, top_p, frequency_penalty, seed, stop, response_format, reasoning, models, plugins, ...); a key that has an argument of its own is an error.
tools: OpenAI-style tool specs. tool_choice: "auto", "none", "required", {"type": "function", ...} or Pixeltable's {"auto", "required", "tool", "parallel_tool_calls"}.
provider, transforms: OpenRouter routing preferences and transforms, sent as given.
site_url, site_name: attribution (HTTP-Referer, X-OpenRouter-Title and X-Title); default to openrouter.site_url and openrouter.site_name, then to the role's stored defaults.
on_error: 'abort' raises (SQLSTATE class OR, see the README's error table); 'ignore' returns {"error": {..., "status", "sqlstate", "retryable", "attempts"}}.
Marked IMMUTABLE so that it can define a stored generated column: PostgreSQL then evaluates a call whose arguments are all constants once, when the statement is planned (EXPLAIN without ANALYZE included). Within a transaction an identical request (same body, headers and key) is sent once and its answer (or a failure that is not retryable) reused, including answers fetched by openrouter_prefetch(); openrouter.request_cache_size bounds the memory this takes.
Transient failures (HTTP 408, 429, 500, 502, 503, 504, 524, 529, transport) are retried up to openrouter.max_retries times.$$;

COMMENT ON FUNCTION openrouter_chat_batch(jsonb[], text) IS
$$Sends many chat completions requests at once and returns their responses in request order (use WITH ORDINALITY to join them back). Each request is an object with the keys of openrouter_chat's arguments but on_error: messages, model, model_kwargs, tools, tool_choice, provider, transforms, site_url, site_name; another key is an error (22023) of that request. Up to openrouter.max_concurrency requests are in flight at once, paced by openrouter.requests_per_minute; a 429 slows the whole batch down. Identical requests are sent once, and requests answered earlier in the transaction not at all. A NULL request, or one without messages, gives NULL. on_error 'abort' fails the call at the first failure; 'ignore' returns each failure as {"error": ...} in its place. Inside openrouter_prefetch's query its requests are collected like openrouter_chat's.$$;

COMMENT ON FUNCTION openrouter_prefetch(text) IS
$$Runs a read-only query in collect mode: every openrouter_chat() call (and every request of an openrouter_chat_batch() call) it evaluates records its request (and returns NULL) instead of sending it. The collected requests are then sent together, up to openrouter.max_concurrency at once, and their answers kept in the transaction's request cache, not evicted before the next prefetch: evaluating the same calls again (e.g. in an UPDATE) sends nothing. Returns how many requests were sent. Example: SELECT openrouter_prefetch('SELECT openrouter_chat(m, ''openai/gpt-4o-mini'') FROM t'); UPDATE t SET r = openrouter_chat(m, 'openai/gpt-4o-mini');$$;
