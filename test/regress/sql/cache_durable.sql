-- The durable response cache (README, "Cost control", "Response cache").
-- The suite's cluster runs with openrouter.cache = off (it counts requests
-- at the stand-in); this file turns it on, and runs the README's example.
\set VERBOSITY default

-- wait (up to 10 s) until the worker has moved n records of a model into the ledger
CREATE FUNCTION wait_for_ledger(model text, n int) RETURNS boolean
LANGUAGE plpgsql AS $$
BEGIN
  FOR i IN 1 .. 100 LOOP
    IF (SELECT count(*) FROM openrouter_usage WHERE model_requested = model) >= n THEN
      RETURN true;
    END IF;
    PERFORM pg_sleep(0.1);
  END LOOP;
  RETURN false;
END $$;

SELECT (standin_stats()->>'requests')::int AS before \gset

-- README: the example of "Response cache"
SET openrouter.cache = on;   -- the default
SELECT openrouter_chat(openrouter_messages('Name a prime number.'), 'mistralai/mistral-small')
       ->'choices'->0->'message'->>'content' AS answer;
-- the same call, in another session or after a ROLLBACK: from the cache
BEGIN;
SELECT openrouter_chat(openrouter_messages('Name a prime number.'), 'mistralai/mistral-small')
       ->'choices'->0->'message'->>'content' AS answer;
ROLLBACK;
-- a fresh sample, which replaces the cached answer
SET openrouter.cache = refresh;
SELECT openrouter_chat(openrouter_messages('Name a prime number.'), 'mistralai/mistral-small')
       ->'choices'->0->'message'->>'content' AS answer;
RESET openrouter.cache;
-- (the worker moves the records into the ledger)
SELECT wait_for_ledger('mistralai/mistral-small', 3);
-- what it cost, and what the cache saved
SELECT model, requests, cost, cost_saved
FROM openrouter_spend WHERE model = 'mistralai/mistral-small';
-- what is cached for you, and forgetting it
SELECT role, endpoint, model FROM openrouter_cached_responses WHERE model = 'mistralai/mistral-small';
SELECT openrouter_cache_clear();
-- README: end of the example

SELECT (standin_stats()->>'requests')::int - :before - 1 AS requests_sent;

-- across sessions, and after a rollback
SET openrouter.cache = on;
BEGIN;
SELECT openrouter_chat(openrouter_messages('durable 1'), 'openai/gpt-4o-mini')->>'id' AS first_id \gset
ROLLBACK;
\c
SET openrouter.cache = on;
SELECT (standin_stats()->>'requests')::int AS before \gset
SELECT openrouter_chat(openrouter_messages('durable 1'), 'openai/gpt-4o-mini')->>'id' = :'first_id' AS same_answer;
-- failures are not cached, and openrouter.cache = off sends each call
SELECT openrouter_chat(openrouter_messages('durable 2'), 'standin/status=400', on_error => 'ignore')->'error'->>'sqlstate' AS failure;
SELECT openrouter_chat(openrouter_messages('durable 2'), 'standin/status=400', on_error => 'ignore')->'error'->>'sqlstate' AS failure;
SET openrouter.cache = off;
SELECT openrouter_chat(openrouter_messages('durable 1'), 'openai/gpt-4o-mini')->>'id' = :'first_id' AS same_answer;
SELECT (standin_stats()->>'requests')::int - :before - 1 AS requests_sent;
-- openrouter_prefetch counts what it sent, not what the cache answered
SET openrouter.cache = on;
SELECT openrouter_prefetch($$SELECT openrouter_chat(openrouter_messages('durable 1'), 'openai/gpt-4o-mini'),
                                   openrouter_chat(openrouter_messages('durable 3'), 'openai/gpt-4o-mini')$$) AS sent;

-- the settings
SELECT name, setting, unit, context FROM pg_settings WHERE name LIKE 'openrouter.cache%' ORDER BY name;
SET openrouter.cache = sometimes;
-- only superusers clear every role's answers
CREATE ROLE regress_cache_role;
SET ROLE regress_cache_role;
SELECT openrouter_cache_clear(all_roles => true);
SELECT openrouter_cache_clear();
RESET ROLE;
DROP ROLE regress_cache_role;
