-- The transaction's request cache: openrouter_chat is IMMUTABLE and the
-- planner relies on it, so an identical request (same body, headers and key)
-- is sent once per transaction and its answer reused.
\set hi '[{"role": "user", "content": "cached?"}]'
SELECT 'run' || (random() * 1e9)::bigint AS run \gset
CREATE TEMP TABLE three AS SELECT i, 'question ' || i AS q FROM generate_series(1, 3) AS i;

-- a subquery's result read three times: the planner evaluates the call three
-- times per row; one request per row
SELECT (standin_stats()->>'requests')::int AS before \gset
SELECT r->'choices' IS NOT NULL AS choices, r->'usage' IS NOT NULL AS usage, r->>'model' AS model
FROM (SELECT openrouter_chat(openrouter_messages(q), 'openai/gpt-4o-mini') AS r FROM three) s;
SELECT (standin_stats()->>'requests')::int - :before - 1 AS requests_sent;

-- a CTE referenced twice: one request per row
SELECT (standin_stats()->>'requests')::int AS before \gset
WITH c AS NOT MATERIALIZED (
  SELECT i, openrouter_chat(openrouter_messages(q || ' (cte)'), 'openai/gpt-4o-mini') AS r FROM three)
SELECT count(*) AS answered FROM c a JOIN c b USING (i) WHERE a.r->>'id' = b.r->>'id';
SELECT (standin_stats()->>'requests')::int - :before - 1 AS requests_sent;

-- within a transaction the same request gets the same answer; other headers
-- or another key make another request; a new transaction sends again
BEGIN;
SELECT openrouter_chat(:'hi', 'openai/gpt-4o-mini')->>'id' AS first_id \gset
SELECT openrouter_chat(:'hi', 'openai/gpt-4o-mini')->>'id' = :'first_id' AS same_answer;
SELECT openrouter_chat(:'hi', 'openai/gpt-4o-mini', site_name => 'Other')->>'id' <> :'first_id' AS other_headers;
SET LOCAL openrouter.api_key = 'sk-or-v1-another-key';
SELECT openrouter_chat(:'hi', 'openai/gpt-4o-mini')->>'id' <> :'first_id' AS other_key;
RESET openrouter.api_key;
SELECT openrouter_chat(:'hi', 'openai/gpt-4o-mini')->>'id' = :'first_id' AS first_key_again;
COMMIT;
SELECT openrouter_chat(:'hi', 'openai/gpt-4o-mini')->>'id' <> :'first_id' AS new_transaction;

-- a failure that would fail again is reused (the stand-in would answer the
-- second request); a retryable one is not
SET openrouter.max_retries = 0;
BEGIN;
SELECT openrouter_chat(:'hi', 'standin/status=400;times=1;key=c400-' || :'run', on_error => 'ignore')->'error'->>'sqlstate' AS first_call;
SELECT openrouter_chat(:'hi', 'standin/status=400;times=1;key=c400-' || :'run', on_error => 'ignore')->'error'->>'sqlstate' AS second_call;
SELECT openrouter_chat(:'hi', 'standin/status=503;times=1;key=c503-' || :'run', on_error => 'ignore')->'error'->>'sqlstate' AS first_call;
SELECT openrouter_chat(:'hi', 'standin/status=503;times=1;key=c503-' || :'run', on_error => 'ignore') ? 'choices' AS second_call_answered;
COMMIT;
RESET openrouter.max_retries;

-- openrouter_chat_batch shares the cache, and sends identical requests once
BEGIN;
SELECT (standin_stats()->>'requests')::int AS before \gset
SELECT count(*) AS answered FROM openrouter_chat_batch(ARRAY[
  jsonb_build_object('messages', :'hi'::jsonb, 'model', 'openai/gpt-4o-mini'),
  jsonb_build_object('messages', openrouter_messages('batch ' || :'run'), 'model', 'openai/gpt-4o-mini'),
  jsonb_build_object('messages', openrouter_messages('batch ' || :'run'), 'model', 'openai/gpt-4o-mini')]) AS r
WHERE r ? 'choices';
SELECT (standin_stats()->>'requests')::int - :before - 1 AS requests_sent;
COMMIT;

-- the cache's memory is bounded: past openrouter.request_cache_size the
-- oldest answers are forgotten (each answer here is about 30 kB)
SET openrouter.request_cache_size = '64kB';
BEGIN;
SELECT count(*) AS answered FROM generate_series(1, 3) AS i,
  openrouter_chat(openrouter_messages('big ' || i || :'run'), 'standin/big=30000') AS r WHERE r ? 'choices';
SELECT (standin_stats()->>'requests')::int AS before \gset
SELECT openrouter_chat(openrouter_messages('big 3' || :'run'), 'standin/big=30000') ? 'choices' AS newest_kept;
SELECT (standin_stats()->>'requests')::int - :before - 1 AS requests_sent;
SELECT (standin_stats()->>'requests')::int AS before \gset
SELECT openrouter_chat(openrouter_messages('big 1' || :'run'), 'standin/big=30000') ? 'choices' AS oldest_sent_again;
SELECT (standin_stats()->>'requests')::int - :before - 1 AS requests_sent;
COMMIT;
RESET openrouter.request_cache_size;

-- openrouter_chat_batch in a prefetch's collect pass collects its requests
-- like openrouter_chat, and evaluating it again sends nothing
BEGIN;
SELECT (standin_stats()->>'requests')::int AS before \gset
SELECT openrouter_prefetch(format($$SELECT r FROM openrouter_chat_batch(ARRAY[
  jsonb_build_object('messages', openrouter_messages('collected 1 ' || %L), 'model', 'openai/gpt-4o-mini'),
  NULL,
  jsonb_build_object('messages', openrouter_messages('collected 2 ' || %L), 'model', 'openai/gpt-4o-mini')]) AS r$$,
  :'run', :'run')) AS sent;
SELECT (standin_stats()->>'requests')::int - :before - 1 AS requests_sent;
SELECT n, left(r->'choices'->0->'message'->>'content', 31) AS answer FROM openrouter_chat_batch(ARRAY[
  jsonb_build_object('messages', openrouter_messages('collected 1 ' || :'run'), 'model', 'openai/gpt-4o-mini'),
  NULL,
  jsonb_build_object('messages', openrouter_messages('collected 2 ' || :'run'), 'model', 'openai/gpt-4o-mini')])
  WITH ORDINALITY AS b(r, n);
SELECT (standin_stats()->>'requests')::int - :before - 2 AS requests_sent;
COMMIT;

-- a prefetch plans again only what its collect pass folded: other cached
-- plans are kept (planned() says when it is evaluated by the planner)
CREATE FUNCTION planned() RETURNS int IMMUTABLE LANGUAGE plpgsql AS $$
BEGIN
  RAISE NOTICE 'planning';
  RETURN 1;
END $$;
PREPARE kept AS SELECT planned() AS one;
EXECUTE kept;
EXECUTE kept;
SELECT openrouter_prefetch($$SELECT openrouter_chat('[{"role": "user", "content": "folded"}]', 'openai/gpt-4o-mini')$$) AS sent;
EXECUTE kept;
DEALLOCATE kept;
DROP FUNCTION planned();
