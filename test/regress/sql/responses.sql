-- What a response holds is the response's failure, never the statement's:
-- on_error => 'ignore' keeps it as a value, and a batch keeps its other rows.
-- Text from the server never carries the key, and an ERROR carries at most a
-- few kB of it.
\set hi '[{"role": "user", "content": "hi"}]'
SET openrouter.max_retries = 0;

-- valid JSON that jsonb cannot hold, a body that is not an object, an error
-- that is only a string, garbage after a complete value (not JSON, and not
-- "cut short": retrying would not help)
SELECT m AS model, r->'error'->>'sqlstate' AS sqlstate, r->'error'->>'message' AS message,
       split_part(r->'error'->>'detail', ' Received', 1) AS detail
FROM unnest(ARRAY['standin/odd=deep', 'standin/odd=exp', 'standin/odd=digits',
                  'standin/odd=error_string', 'standin/odd=array', 'standin/odd=trailing']) AS m,
     openrouter_chat(:'hi', m, on_error => 'ignore') AS r;

-- raised with on_error => 'abort': the extension's SQLSTATEs, not 54001 or 22003
SELECT m AS model, o.state, o.message
FROM unnest(ARRAY['standin/odd=deep', 'standin/odd=exp', 'standin/odd=digits',
                  'standin/odd=error_string', 'standin/odd=array']) AS m,
     LATERAL outcome(m) AS o;

-- a batch: the odd rows fail, the others are answered
SELECT coalesce(r->'error'->>'sqlstate', 'ok') AS outcome
FROM openrouter_chat_batch(ARRAY[
       '{"messages": [{"role": "user", "content": "a"}], "model": "standin/odd=deep"}',
       '{"messages": [{"role": "user", "content": "b"}], "model": "openai/gpt-4o-mini"}',
       '{"messages": [{"role": "user", "content": "c"}], "model": "standin/odd=digits"}']::jsonb[],
     on_error => 'ignore') AS r;

-- an upstream that echoes the Authorization header: the key is in no message,
-- detail or value (the server log is checked in test/t/upstream_errors.pl)
SELECT o.state, o.message, o.detail FROM outcome('standin/auth_error') AS o;
SELECT r::text LIKE '%regression-test-key%' AS key_in_value,
       r->'error'->>'message' AS message, r->'error'->'metadata'->>'raw' AS raw
FROM openrouter_chat(:'hi', 'standin/auth_error', on_error => 'ignore') AS r;

-- the key echoed in a successful answer (its content, its model, a tool call's
-- arguments), or written with \u escapes that a byte search of the body
-- misses: every answer, success or failure, reads [REDACTED] instead
SELECT m AS model, r::text LIKE '%regression-test-key%' AS key_in_value,
       coalesce(r->'error'->>'sqlstate', 'ok') AS outcome,
       coalesce(r->'error'->>'message',
                concat_ws(' / ', r->>'model',
                          coalesce(r->'choices'->0->'message'->'tool_calls'->0->'function'->>'arguments',
                                   r->'choices'->0->'message'->>'content'))) AS text
FROM unnest(ARRAY['standin/echo_key=content', 'standin/echo_key=model', 'standin/echo_key=arguments',
                  'standin/echo_key=arguments_escaped', 'standin/echo_key=escaped',
                  'standin/echo_key=escaped_error']) AS m,
     openrouter_chat(:'hi', m, on_error => 'ignore') AS r;
-- a tool is given the redacted arguments, never the key (also where the
-- arguments text, JSON inside a JSON string, has it \u-escaped)
CREATE FUNCTION echo_key(key text) RETURNS text LANGUAGE sql AS 'SELECT key';
SELECT m AS model,
       openrouter_invoke_tools(openrouter_tools('echo_key(text)'),
                               openrouter_chat(:'hi', m, tools => openrouter_tools('echo_key(text)'))) AS results
FROM unnest(ARRAY['standin/echo_key=arguments', 'standin/echo_key=arguments_escaped']) AS m;
DROP FUNCTION echo_key(text);
-- raised: the message (and so the server log) does not have it either
SELECT o.state, o.message FROM outcome('standin/echo_key=escaped_error') AS o;

-- a 15 MB error message: the ERROR carries a few kB and says what was cut;
-- the value keeps all of it
SELECT o.state, length(o.message) < 5000 AS short, right(o.message, 68) AS ending
FROM outcome('standin/error_bytes=15000000') AS o;
SELECT r->'error'->>'sqlstate' AS sqlstate, length(r->'error'->>'message') AS message_bytes
FROM openrouter_chat(:'hi', 'standin/error_bytes=15000000', on_error => 'ignore') AS r;

-- the tools read a completion as chat does: an error in any choice is an error
SELECT openrouter_invoke_tools('[]',
  '{"choices": [{"message": {"role": "assistant", "content": "x"}},
                {"error": {"code": 502, "message": "second choice failed"}}]}');
SELECT openrouter_invoke_tools('[]',
  '{"choices": [{"message": {"role": "assistant", "content": "x"}},
                {"error": {"code": 502, "message": "second choice failed"}}]}',
  on_error => 'ignore');
