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
-- no policy: only its owner sees a row, not even members of pg_read_all_data
ALTER TABLE openrouter_api_key ENABLE ROW LEVEL SECURITY;
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
LANGUAGE C IMMUTABLE PARALLEL RESTRICTED;

COMMENT ON FUNCTION openrouter_chat(jsonb, text, jsonb, jsonb, jsonb, jsonb, jsonb, text, text, text) IS
$$Sends one chat completions request to OpenRouter (POST {openrouter.base_url}/chat/completions) and returns the response body as jsonb.
messages: a non-empty JSON array of {"role", "content"} objects (content may be a string or an array of text, image_url, file or input_audio parts). NULL messages return NULL and send nothing.
model: e.g. 'openai/gpt-4o-mini'.
model_kwargs: any further request fields (temperature, max_tokens, top_p, frequency_penalty, seed, stop, response_format, reasoning, models, plugins, ...); a key that has an argument of its own is an error.
tools: OpenAI-style tool specs. tool_choice: "auto", "none", "required", {"type": "function", ...} or Pixeltable's {"auto", "required", "tool", "parallel_tool_calls"}.
provider, transforms: OpenRouter routing preferences and transforms, sent as given.
site_url, site_name: attribution (HTTP-Referer, X-OpenRouter-Title and X-Title); default to openrouter.site_url and openrouter.site_name, then to the role's stored defaults.
on_error: 'abort' raises (SQLSTATE class OR, see the README's error table); 'ignore' returns {"error": {..., "status", "sqlstate", "retryable", "attempts"}}.
Marked IMMUTABLE so that it can define a stored generated column: PostgreSQL then evaluates a call whose arguments are all constants once, when the statement is planned (EXPLAIN without ANALYZE included). An answer fetched by openrouter_prefetch() in the same transaction is used instead of a new request.
Transient failures (HTTP 408, 429, 500, 502, 503, 504, 524, 529, transport) are retried up to openrouter.max_retries times.$$;

CREATE FUNCTION openrouter_messages(prompt text, system text DEFAULT NULL)
RETURNS jsonb
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
  SELECT CASE
    WHEN prompt IS NULL THEN NULL
    WHEN system IS NULL THEN jsonb_build_array(jsonb_build_object('role', 'user', 'content', prompt))
    ELSE jsonb_build_array(jsonb_build_object('role', 'system', 'content', system),
                           jsonb_build_object('role', 'user', 'content', prompt))
  END
$$;

COMMENT ON FUNCTION openrouter_messages(text, text) IS
$$Builds the messages array of a one-question chat: [{"role": "system", "content": system}, {"role": "user", "content": prompt}] (no system message when system is NULL; NULL when prompt is NULL, so that openrouter_chat sends nothing). IMMUTABLE, so it may be used in generated columns and index expressions.$$;

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

-- ---- tools (openrouter_tools, openrouter_invoke_tools, openrouter_tool_messages) ----

CREATE FUNCTION openrouter_tools(VARIADIC functions regprocedure[])
RETURNS jsonb
AS 'MODULE_PATHNAME', 'openrouter_tools'
LANGUAGE C STABLE STRICT PARALLEL SAFE;

COMMENT ON FUNCTION openrouter_tools(regprocedure[]) IS
$$Returns the tool specs of SQL functions, to pass as openrouter_chat(..., tools => ...): for each function {"type": "function", "function": {"name", "description", "parameters"}}. name is the function's name (1 to 64 letters, digits, underscores, dashes); description its COMMENT ON FUNCTION text, whole; parameters a JSON Schema object of its named arguments: text types -> string, integer types -> integer, real/double precision/numeric -> number, boolean -> boolean, json/jsonb -> any value, arrays -> array, enums -> string with enum, domains -> their base type, date/time/timestamp/interval -> string with format date/time/date-time/duration. Arguments without a default are required. Procedures, aggregates, set-returning functions, OUT parameters, unnamed arguments and two tools of one name are errors.
Example: openrouter_tools('calculator(text,float8,float8)', 'weather(text)').$$;

CREATE FUNCTION openrouter_invoke_tools(
    tools    jsonb,
    response jsonb,
    on_error text DEFAULT 'abort')
RETURNS jsonb
AS 'MODULE_PATHNAME', 'openrouter_invoke_tools'
LANGUAGE C VOLATILE PARALLEL UNSAFE;

COMMENT ON FUNCTION openrouter_invoke_tools(jsonb, jsonb, text) IS
$$Runs the tool calls of an openrouter_chat() response (choices[0].message.tool_calls) and returns one key per declared tool: the list of its results (to_jsonb of each return value) in call order, or null when it was not called; e.g. {"weather": null, "stock_price": [131.17, 82.88]}.
tools: the specs openrouter_tools() returned. Each declared name runs the function of that name visible in search_path whose spec is the declared one; the model can run nothing else.
The model's arguments are converted through each parameter type's input function; missing arguments take their defaults; functions run as the calling role (EXECUTE is checked).
on_error: 'abort' raises (ORT01 undeclared tool, ORT02 arguments not a JSON object, ORT03 arguments that do not fit, the tool's own error, ORT04 a response that is an error); 'ignore' puts {"error": {...}} in a failed call's place, runs the other calls, and gives nulls for an error response. A response without tool calls gives all nulls. NULL tools or response return NULL.$$;

CREATE FUNCTION openrouter_tool_messages(
    messages     jsonb,
    response     jsonb,
    tool_results jsonb)
RETURNS jsonb
AS 'MODULE_PATHNAME', 'openrouter_tool_messages'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

COMMENT ON FUNCTION openrouter_tool_messages(jsonb, jsonb, jsonb) IS
$$Returns the messages of the follow-up request after tool calls: messages, then the response's assistant message with its tool_calls, then one {"role": "tool", "tool_call_id", "content"} message per call, whose content is the call's result from tool_results (what openrouter_invoke_tools() returned) as JSON text. NULL when the response is an error.
Example: openrouter_chat(openrouter_tool_messages(messages, tool_response, tool_results), model => 'openai/gpt-4o-mini', tools => ...).$$;
