/* openrouter--1.0.sql: OpenRouter chat completions from SQL */

\echo Use "CREATE EXTENSION openrouter" to load this file. \quit

-- Per-role API keys and attribution defaults (openrouter_configure_client).
-- Only the extension's owner may read it; the extension's C code reads and
-- writes the current role's row on its behalf.  It is deliberately not
-- registered with pg_extension_config_dump: keys never go into dumps.
CREATE TABLE openrouter_api_key (
    role_id    oid PRIMARY KEY,
    role_name  name NOT NULL,
    api_key    text NOT NULL,
    site_url   text,
    site_name  text,
    updated_at timestamptz NOT NULL DEFAULT now()
);
REVOKE ALL ON openrouter_api_key FROM PUBLIC;
COMMENT ON TABLE openrouter_api_key IS
'Private to the openrouter extension: API keys stored by openrouter_configure_client(). Readable by superusers only; never dumped.';

CREATE FUNCTION openrouter_chat(
    messages     jsonb,
    model        text,
    model_kwargs jsonb DEFAULT NULL,
    tools        jsonb DEFAULT NULL,
    tool_choice  jsonb DEFAULT NULL,
    provider     jsonb DEFAULT NULL,
    transforms   jsonb DEFAULT NULL,
    site_url     text  DEFAULT NULL,
    site_name    text  DEFAULT NULL,
    on_error     text  DEFAULT 'abort')
RETURNS jsonb
AS 'MODULE_PATHNAME', 'openrouter_chat'
LANGUAGE C VOLATILE PARALLEL RESTRICTED;

COMMENT ON FUNCTION openrouter_chat(jsonb, text, jsonb, jsonb, jsonb, jsonb, jsonb, text, text, text) IS
$$Sends one chat completions request to OpenRouter (POST {openrouter.base_url}/chat/completions) and returns the response body as jsonb.
messages: a non-empty JSON array of {"role", "content"} objects (content may be a string or an array of text, image_url, file or input_audio parts). NULL messages return NULL and send nothing.
model: e.g. 'openai/gpt-4o-mini'.
model_kwargs: any further request fields (temperature, max_tokens, top_p, frequency_penalty, seed, stop, response_format, reasoning, models, plugins, ...); a key that has an argument of its own is an error.
tools: OpenAI-style tool specs. tool_choice: "auto", "none", "required", {"type": "function", ...} or Pixeltable's {"auto", "required", "tool", "parallel_tool_calls"}.
provider, transforms: OpenRouter routing preferences and transforms, sent as given.
site_url, site_name: attribution (HTTP-Referer, X-OpenRouter-Title and X-Title); default to openrouter.site_url and openrouter.site_name, then to the role's stored defaults.
on_error: 'abort' raises (SQLSTATE class OR, see the README's error table); 'ignore' returns {"error": {..., "status", "sqlstate", "retryable", "attempts"}}.
Transient failures (HTTP 408, 429, 500, 502, 503, 504, 524, 529, transport) are retried up to openrouter.max_retries times.$$;

CREATE FUNCTION openrouter_chat_batch(
    requests jsonb[],
    on_error text DEFAULT 'abort')
RETURNS SETOF jsonb
AS 'MODULE_PATHNAME', 'openrouter_chat_batch'
LANGUAGE C VOLATILE PARALLEL RESTRICTED ROWS 100;

COMMENT ON FUNCTION openrouter_chat_batch(jsonb[], text) IS
$$Sends many chat completions requests at once and returns their responses in request order (use WITH ORDINALITY to join them back). Each request is an object with the keys of openrouter_chat's arguments: messages, model, model_kwargs, tools, tool_choice, provider, transforms, site_url, site_name. Up to openrouter.max_concurrency requests are in flight at once, paced by openrouter.requests_per_minute; a 429 slows the whole batch down. A NULL request, or one without messages, gives NULL. on_error 'abort' fails the call at the first failure; 'ignore' returns each failure as {"error": ...} in its place.$$;

CREATE FUNCTION openrouter_configure_client(
    api_key   text,
    site_url  text DEFAULT NULL,
    site_name text DEFAULT NULL)
RETURNS void
AS 'MODULE_PATHNAME', 'openrouter_configure_client'
LANGUAGE C VOLATILE PARALLEL UNSAFE;

COMMENT ON FUNCTION openrouter_configure_client(text, text, text) IS
$$Stores the OpenRouter API key, and optional attribution defaults, of the current role. It survives reconnects and restarts, no other role except superusers can read it, and pg_dump never writes it out. A NULL api_key forgets the stored key. A key set with SET openrouter.api_key in a session takes precedence; OPENROUTER_API_KEY in the server's environment is the last resort.$$;

CREATE FUNCTION openrouter_client(
    OUT key_source text,
    OUT key_hint   text,
    OUT site_url   text,
    OUT site_name  text,
    OUT base_url   text)
RETURNS record
AS 'MODULE_PATHNAME', 'openrouter_client'
LANGUAGE C STABLE PARALLEL RESTRICTED;

COMMENT ON FUNCTION openrouter_client() IS
$$Shows what openrouter_chat would use now for the current role: where the key comes from ('session', 'role' or 'environment'; NULL when none is set), a hint of it (its first and last characters, never the key), the attribution defaults and the base URL.$$;

-- ---- concurrency for row-at-a-time SQL ----

CREATE FUNCTION openrouter_prefetch(query text)
RETURNS bigint
AS 'MODULE_PATHNAME', 'openrouter_prefetch'
LANGUAGE C VOLATILE STRICT PARALLEL UNSAFE;

COMMENT ON FUNCTION openrouter_prefetch(text) IS
$$Runs a read-only query in collect mode: every openrouter_chat() call it evaluates records its request (and returns NULL) instead of sending it. The collected requests are then sent together, up to openrouter.max_concurrency at once, and their answers kept until the end of the transaction or the next prefetch: evaluating the same calls again (e.g. in an UPDATE) sends nothing. Returns how many requests were sent. Example: SELECT openrouter_prefetch('SELECT openrouter_chat(m, ''openai/gpt-4o-mini'') FROM t'); UPDATE t SET r = openrouter_chat(m, 'openai/gpt-4o-mini');$$;
