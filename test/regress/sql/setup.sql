-- Shared setup of the regression suite: a stored test key for the role that
-- runs the suite, and helpers that show what went over the wire.
\set VERBOSITY default
SELECT openrouter_configure_client('sk-or-v1-regression-test-key');
SELECT key_source, key_hint FROM openrouter_client();

-- the stand-in's "echo" model answers with the request it received
CREATE FUNCTION sent(response jsonb) RETURNS jsonb
LANGUAGE sql AS $$ SELECT (response->'choices'->0->'message'->>'content')::jsonb $$;

-- the stand-in's counters (connections, requests, max_in_flight); each call
-- is a request of its own, which the transaction's request cache never answers
CREATE SEQUENCE standin_stats_calls;
CREATE FUNCTION standin_stats() RETURNS jsonb
LANGUAGE sql AS $$
  SELECT (openrouter_chat(openrouter_messages('stats ' || nextval('standin_stats_calls')), 'standin/stats')
          ->'choices'->0->'message'->>'content')::jsonb $$;

CREATE FUNCTION standin_stats_reset() RETURNS jsonb
LANGUAGE sql AS $$
  SELECT (openrouter_chat(openrouter_messages('stats ' || nextval('standin_stats_calls')), 'standin/stats_reset')
          ->'choices'->0->'message'->>'content')::jsonb $$;

-- run one call and report how it failed (or 'ok'), for tables of outcomes
CREATE FUNCTION outcome(model text, kwargs jsonb DEFAULT NULL,
                        OUT state text, OUT message text, OUT detail text, OUT hint text)
LANGUAGE plpgsql AS $$
BEGIN
  PERFORM openrouter_chat('[{"role":"user","content":"hi"}]', model, model_kwargs => kwargs);
  state := 'ok';
EXCEPTION WHEN OTHERS THEN
  GET STACKED DIAGNOSTICS state = RETURNED_SQLSTATE, message = MESSAGE_TEXT,
                          detail = PG_EXCEPTION_DETAIL, hint = PG_EXCEPTION_HINT;
END $$;

\set hi '[{"role": "user", "content": "hi"}]'
SELECT openrouter_chat(:'hi', 'openai/gpt-4o-mini')->'choices'->0->'message'->>'content' AS answer;
