-- Shared setup of the regression suite: a stored test key for the role that
-- runs the suite, and helpers that show what went over the wire.
\set VERBOSITY default
SELECT openrouter_configure_client('sk-or-v1-regression-test-key');
SELECT key_source, key_hint FROM openrouter_client();

-- The suite needs the local OpenRouter stand-in (test/standin) at
-- openrouter.base_url: say so clearly when the server is set up otherwise.
DO $$
DECLARE
  answer jsonb;
BEGIN
  BEGIN
    answer := (openrouter_chat(openrouter_messages('are you the stand-in?'), 'standin/stats')
               ->'choices'->0->'message'->>'content')::jsonb;
  EXCEPTION WHEN OTHERS THEN
    answer := NULL;
  END;
  IF answer IS NULL OR NOT answer ? 'max_in_flight' THEN
    RAISE EXCEPTION 'the regression suite needs the OpenRouter stand-in at openrouter.base_url'
      USING DETAIL = format('openrouter.base_url = %s does not answer as test/standin does.',
                            current_setting('openrouter.base_url')),
            HINT = 'Start test/standin/openrouter-standin --port 18431, set openrouter.base_url = ''http://127.0.0.1:18431/api/v1'' in postgresql.conf and reload, or run bash test/run-tests.sh, which does both.';
  END IF;
END $$;

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
