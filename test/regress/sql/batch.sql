-- openrouter_chat_batch and openrouter_prefetch: many requests in flight at once.
\set hi '[{"role": "user", "content": "hi"}]'
SELECT 'run' || (random() * 1e9)::bigint AS run \gset

-- answers come back in request order; NULL requests give NULL
SELECT n, r->'choices'->0->'message'->>'content' AS answer
FROM openrouter_chat_batch(ARRAY[
  '{"messages": [{"role": "user", "content": "one"}], "model": "standin/latency=150"}',
  NULL,
  '{"messages": [{"role": "user", "content": "three"}], "model": "openai/gpt-4o-mini"}',
  '{"model": "openai/gpt-4o-mini"}',
  '{"messages": [{"role": "user", "content": "five"}], "model": "standin/latency=50",
    "site_name": "Batch", "model_kwargs": {"temperature": 0}}']::jsonb[]) WITH ORDINALITY AS b(r, n);

-- every argument of openrouter_chat is a key of a request
SELECT (sent(r)->'body') - 'messages' AS body, sent(r)->'headers'->>'x-title' AS x_title
FROM openrouter_chat_batch(ARRAY[jsonb_build_object(
  'messages', :'hi'::jsonb, 'model', 'standin/echo', 'model_kwargs', '{"seed": 1}'::jsonb,
  'tools', '[]'::jsonb, 'tool_choice', '"none"'::jsonb, 'provider', '{"sort": "price"}'::jsonb,
  'transforms', '["middle-out"]'::jsonb, 'site_url', 'https://b.example', 'site_name', 'B')]) AS r;

-- bad requests
SELECT * FROM openrouter_chat_batch(ARRAY['{"messages": [], "model": "m"}']::jsonb[]);
SELECT * FROM openrouter_chat_batch(ARRAY['{"messages": [{"role": "user"}], "modle": "m"}']::jsonb[]);
SELECT * FROM openrouter_chat_batch(ARRAY['[1]', '{"messages": [{"role": "user"}], "model": 7}']::jsonb[],
                                    on_error => 'ignore');
SELECT * FROM openrouter_chat_batch(ARRAY[ARRAY['{}'::jsonb]]);
SELECT count(*) FROM openrouter_chat_batch(NULL);
SELECT count(*) FROM openrouter_chat_batch('{}');

-- failures: in their place with 'ignore', the first one fails the call with 'abort'
SET openrouter.max_retries = 0;
SELECT n, r ? 'error' AS failed, r->'error'->>'sqlstate' AS sqlstate
FROM openrouter_chat_batch(ARRAY[
  '{"messages": [{"role": "user", "content": "a"}], "model": "m1"}',
  '{"messages": [{"role": "user", "content": "b"}], "model": "standin/status=404"}',
  '{"messages": [{"role": "user", "content": "c"}], "model": "m3"}']::jsonb[],
  on_error => 'ignore') WITH ORDINALITY AS b(r, n);
SELECT count(*) FROM openrouter_chat_batch(ARRAY[
  '{"messages": [{"role": "user", "content": "a"}], "model": "m1"}',
  '{"messages": [{"role": "user", "content": "b"}], "model": "standin/status=404"}']::jsonb[]);
RESET openrouter.max_retries;

-- up to openrouter.max_concurrency requests in flight, counted by the stand-in
SET openrouter.max_concurrency = 7;
SELECT standin_stats_reset() IS NOT NULL AS reset;
SELECT count(*) AS answered FROM openrouter_chat_batch(array(
  SELECT jsonb_build_object('messages', jsonb_build_array(jsonb_build_object('role', 'user', 'content', 'q' || i)),
                            'model', 'standin/latency=100')
  FROM generate_series(1, 30) AS i)) AS r WHERE r ? 'choices';
SELECT standin_stats()->'max_in_flight' AS max_in_flight;
SET openrouter.max_concurrency = 1;
SELECT standin_stats_reset() IS NOT NULL AS reset;
SELECT count(*) AS answered FROM openrouter_chat_batch(array(
  SELECT jsonb_build_object('messages', jsonb_build_array(jsonb_build_object('role', 'user', 'content', 'q' || i)),
                            'model', 'standin/latency=20')
  FROM generate_series(1, 5) AS i)) AS r WHERE r ? 'choices';
SELECT standin_stats()->'max_in_flight' AS max_in_flight;
RESET openrouter.max_concurrency;

-- openrouter.requests_per_minute spaces the starts (600/min: one per 100 ms)
SET openrouter.requests_per_minute = 600;
SELECT clock_timestamp() AS t0 \gset
SELECT count(*) AS answered FROM openrouter_chat_batch(array(
  SELECT jsonb_build_object('messages', openrouter_messages('paced ' || i), 'model', 'openai/gpt-4o-mini')
  FROM generate_series(1, 6) AS i)) AS r WHERE r ? 'choices';
SELECT clock_timestamp() - :'t0'::timestamptz >= interval '500 ms' AS paced;
RESET openrouter.requests_per_minute;

-- a batch carries on through 429s: every request still gets its answer
-- (with a key of its own: 429s slow every session using a key down)
SET openrouter.api_key = 'sk-or-v1-regression-throttled';
SELECT count(*) FILTER (WHERE r ? 'choices') AS answered, count(*) FILTER (WHERE r ? 'error') AS failed
FROM openrouter_chat_batch(array(
  SELECT jsonb_build_object('messages', openrouter_messages('q' || i),
                            'model', 'standin/status=429;retry_after=0;times=3;key=b429-' || :'run')
  FROM generate_series(1, 12) AS i)) AS r;
RESET openrouter.api_key;

-- openrouter_prefetch: a row-at-a-time UPDATE whose calls all went out together
CREATE TEMP TABLE prompts (id int PRIMARY KEY, prompt text, answer text);
INSERT INTO prompts SELECT i, 'prompt ' || i FROM generate_series(1, 40) AS i;
SET openrouter.max_concurrency = 10;
SELECT (standin_stats_reset()->>'requests')::int AS requests_before \gset
BEGIN;
SELECT openrouter_prefetch($$
  SELECT openrouter_chat(jsonb_build_array(jsonb_build_object('role', 'user', 'content', prompt)), 'standin/latency=50')
  FROM prompts $$) AS sent;
SELECT (standin_stats()->>'requests')::int - :requests_before AS requests_sent,
       standin_stats()->'max_in_flight' AS max_in_flight;
UPDATE prompts SET answer = openrouter_chat(jsonb_build_array(jsonb_build_object('role', 'user', 'content', prompt)),
                                            'standin/latency=50')->'choices'->0->'message'->>'content';
-- the UPDATE sent nothing: the two new requests are the stats calls
SELECT (standin_stats()->>'requests')::int - :requests_before AS requests_sent;
COMMIT;
SELECT count(*) AS answered FROM prompts WHERE answer = 'Stand-in answer to: ' || prompt;
-- the answers are kept until the end of the transaction only: sent again (plus one stats call)
SELECT openrouter_prefetch($$SELECT openrouter_chat('[{"role": "user", "content": "kept?"}]', 'm')$$) AS sent;
SELECT (standin_stats()->>'requests')::int AS before \gset
SELECT openrouter_chat('[{"role": "user", "content": "kept?"}]', 'm') ? 'choices' AS answered;
SELECT (standin_stats()->>'requests')::int - :before AS requests_sent;
-- identical requests are sent once
SELECT openrouter_prefetch($$SELECT openrouter_chat('[{"role": "user", "content": "same"}]', 'm') FROM prompts$$) AS sent;
-- only SELECT queries can be prefetched, and they run read-only
SELECT openrouter_prefetch('DELETE FROM prompts');
SELECT openrouter_prefetch('SELECT 1 FROM prompts FOR UPDATE');
RESET openrouter.max_concurrency;

-- a prefetch cut short by an error, caught by a savepoint, leaves no half answer behind
SET openrouter.max_retries = 0;
BEGIN;
SAVEPOINT s;
SELECT openrouter_prefetch($$SELECT openrouter_chat(openrouter_messages(i::text), 'standin/latency=300')
                             FROM generate_series(1, 3) AS i
                             UNION ALL SELECT openrouter_chat(openrouter_messages('hi'), 'standin/status=400')$$);
ROLLBACK TO SAVEPOINT s;
SELECT openrouter_chat(openrouter_messages('hi'), 'standin/status=400', on_error => 'ignore')->'error'->>'sqlstate' AS sqlstate;
SELECT openrouter_chat(openrouter_messages('1'), 'standin/latency=300')->'choices'->0->'message'->>'content' AS answer;
COMMIT;
RESET openrouter.max_retries;

-- a constant call planned while a prefetch collected requests is not stuck at
-- the NULL that collect mode returns (openrouter_chat is IMMUTABLE)
CREATE FUNCTION fixed_answer() RETURNS text LANGUAGE plpgsql AS $$
BEGIN
  RETURN openrouter_chat('[{"role": "user", "content": "fixed"}]', 'openai/gpt-4o-mini')
         ->'choices'->0->'message'->>'content';
END $$;
SELECT openrouter_prefetch('SELECT fixed_answer()') AS sent;
SELECT fixed_answer();
DROP FUNCTION fixed_answer();
