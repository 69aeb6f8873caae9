-- Plain SQL is concurrent: the planner adds "OpenRouter Concurrent" nodes that
-- fetch a window of rows' answers at once (openrouter.max_concurrency).
-- Shown by the stand-in's counts: requests and max_in_flight.
CREATE TABLE prompts (id int PRIMARY KEY, prompt text, answer text);
INSERT INTO prompts SELECT i, 'prompt ' || i FROM generate_series(1, 40) AS i;
CREATE TABLE answers (id int, answer text);
-- what the stand-in did since the last reset (minus the stats call itself)
CREATE FUNCTION sent_since_reset(OUT requests int, OUT max_in_flight int)
LANGUAGE sql AS $$
  SELECT (s->>'requests')::int - (SELECT (current_setting('test.before'))::int) - 1,
         (s->>'max_in_flight')::int
  FROM standin_stats() AS s $$;
CREATE FUNCTION reset_counts() RETURNS void
LANGUAGE sql AS $$ SELECT set_config('test.before', (standin_stats_reset()->>'requests'), false) $$;
SET openrouter.max_concurrency = 8;

-- UPDATE t SET r = openrouter_chat(...)
EXPLAIN (COSTS OFF)
UPDATE prompts SET answer = openrouter_chat(openrouter_messages(prompt), 'standin/latency=30')->'choices'->0->'message'->>'content';
SELECT reset_counts();
UPDATE prompts SET answer = openrouter_chat(openrouter_messages(prompt), 'standin/latency=30')->'choices'->0->'message'->>'content';
SELECT * FROM sent_since_reset();
SELECT count(*) AS answered FROM prompts WHERE answer = 'Stand-in answer to: ' || prompt;

-- SELECT openrouter_chat(...) FROM t: the same rows in the same order as row at a time
EXPLAIN (COSTS OFF)
SELECT id, openrouter_chat(openrouter_messages(prompt), 'standin/latency=30')->'id' FROM prompts;
SELECT reset_counts();
CREATE TEMP TABLE fetched_ahead AS
  SELECT id, openrouter_chat(openrouter_messages(prompt || '!'), 'standin/latency=10')->'choices' AS r FROM prompts;
SET openrouter.concurrent_calls = off;
SELECT reset_counts();
CREATE TEMP TABLE one_at_a_time AS
  SELECT id, openrouter_chat(openrouter_messages(prompt || '!'), 'standin/latency=10')->'choices' AS r FROM prompts;
SELECT * FROM sent_since_reset();
RESET openrouter.concurrent_calls;
SELECT reset_counts();
-- above aggregates and window functions too (their arguments stay row at a time)
EXPLAIN (COSTS OFF)
SELECT row_number() OVER (), openrouter_chat(openrouter_messages(prompt), 'm') FROM prompts;
CREATE TEMP TABLE numbered AS
  SELECT row_number() OVER () AS n, id, openrouter_chat(openrouter_messages(prompt || '?'), 'standin/latency=10')->'choices' AS r FROM prompts;
SELECT * FROM sent_since_reset();
SELECT count(*) FILTER (WHERE r->0->'message'->>'content' = 'Stand-in answer to: prompt ' || id || '?') AS answered FROM numbered;
SELECT count(*) AS rows, count(*) FILTER (WHERE c.id = o.id AND c.r = o.r) AS identical
FROM (SELECT row_number() OVER (ORDER BY ctid) AS n, * FROM fetched_ahead) AS c
FULL JOIN (SELECT row_number() OVER (ORDER BY ctid) AS n, * FROM one_at_a_time) AS o USING (n);

-- INSERT INTO t2 SELECT ..., openrouter_chat(...) FROM t
EXPLAIN (COSTS OFF)
INSERT INTO answers SELECT id, openrouter_chat(openrouter_messages(prompt), 'standin/latency=30')->>'id' FROM prompts;
SELECT reset_counts();
INSERT INTO answers SELECT id, openrouter_chat(openrouter_messages(prompt || '#'), 'standin/latency=30')->'choices'->0->'message'->>'content' FROM prompts;
SELECT * FROM sent_since_reset();
SELECT count(*) AS answered FROM answers JOIN prompts USING (id) WHERE answers.answer = 'Stand-in answer to: ' || prompt || '#';

-- CREATE TABLE ... AS
EXPLAIN (COSTS OFF)
CREATE TABLE made AS SELECT id, openrouter_chat(openrouter_messages(prompt), 'standin/latency=30') AS r FROM prompts;
SELECT reset_counts();
CREATE TABLE made AS SELECT id, openrouter_chat(openrouter_messages(prompt || '%'), 'standin/latency=30') AS r FROM prompts;
SELECT * FROM sent_since_reset();
SELECT count(*) FILTER (WHERE r ? 'choices') AS answered FROM made;

-- WHERE <a boolean expression over openrouter_chat>: each filter conjunct with
-- calls is a node of its own, so a call is fetched ahead only for the rows
-- that reach it: 40 + 11 requests (prompts 1 and 10 to 19 pass the first)
EXPLAIN (COSTS OFF)
SELECT id FROM prompts
WHERE openrouter_chat(openrouter_messages(prompt || '1'), 'standin/latency=30')->'choices'->0->'message'->>'content' LIKE '%prompt 1%'
  AND openrouter_chat(openrouter_messages(prompt || '2'), 'standin/latency=30')->'choices'->0->'message'->>'content' LIKE '%2';
SELECT reset_counts();
SELECT array_agg(id) AS passed FROM (
  SELECT id FROM prompts
  WHERE openrouter_chat(openrouter_messages(prompt || '1'), 'standin/latency=30')->'choices'->0->'message'->>'content' LIKE '%prompt 1%'
    AND openrouter_chat(openrouter_messages(prompt || '2'), 'standin/latency=30')->'choices'->0->'message'->>'content' LIKE '%2') AS s;
SELECT * FROM sent_since_reset();

-- the window's answers are pinned in the request cache until read: even with
-- no cache at all, nothing is sent twice
SET openrouter.request_cache_size = 0;
SELECT reset_counts();
CREATE TEMP TABLE uncached AS
  SELECT openrouter_chat(openrouter_messages(prompt || '&'), 'standin/latency=10') AS r FROM prompts;
SELECT * FROM sent_since_reset();
SELECT count(*) FILTER (WHERE r ? 'choices') AS answered FROM uncached;
RESET openrouter.request_cache_size;

-- LIMIT 10 pays for ten rows
EXPLAIN (COSTS OFF)
SELECT openrouter_chat(openrouter_messages(prompt), 'm') FROM prompts LIMIT 10;
SELECT reset_counts();
SELECT array_agg(a) IS NOT NULL AS read FROM (
  SELECT openrouter_chat(openrouter_messages(prompt || 'L'), 'standin/latency=10') AS a FROM prompts LIMIT 10) AS s;
SELECT * FROM sent_since_reset();
SELECT reset_counts();
SELECT count(*) FROM (SELECT id FROM prompts
  WHERE openrouter_chat(openrouter_messages(prompt || 'W'), 'standin/latency=10') ? 'choices' LIMIT 10 OFFSET 5) AS s;
SELECT * FROM sent_since_reset();

-- a cursor reads a window at a time: FETCH 10 pays for two windows of 8
BEGIN;
SELECT reset_counts();
DECLARE c CURSOR FOR
  SELECT id, openrouter_chat(openrouter_messages(prompt || 'C'), 'standin/latency=10')->'choices'->0->'message'->>'content' AS answer FROM prompts;
FETCH 10 FROM c;
SELECT * FROM sent_since_reset();
-- (and the first stats call: 17) rows 11 to 13 were fetched already
FETCH 3 FROM c;
SELECT * FROM sent_since_reset();
COMMIT;

-- row at a time where fetching ahead would change the meaning:
-- a volatile function in the statement
SELECT reset_counts();
EXPLAIN (COSTS OFF)
SELECT openrouter_chat(openrouter_messages(prompt || random()::text), 'm') FROM prompts;
CREATE TEMP TABLE volatile_too AS
  SELECT id, openrouter_chat(openrouter_messages(prompt || 'V'), 'standin/latency=10'), nextval('standin_stats_calls') FROM prompts;
SELECT * FROM sent_since_reset();
-- a data-modifying WITH
SELECT reset_counts();
EXPLAIN (COSTS OFF)
WITH d AS (DELETE FROM answers WHERE id < 0 RETURNING id)
SELECT openrouter_chat(openrouter_messages(prompt), 'm') FROM prompts;
WITH d AS (DELETE FROM answers WHERE id < 0 RETURNING id)
INSERT INTO answers SELECT id, openrouter_chat(openrouter_messages(prompt || 'D'), 'standin/latency=10')->>'id' FROM prompts;
SELECT * FROM sent_since_reset();
-- calls evaluated for some rows only (a CASE branch) are not fetched ahead: 20 requests
SELECT reset_counts();
CREATE TEMP TABLE some_rows AS
  SELECT CASE WHEN id % 2 = 0 THEN openrouter_chat(openrouter_messages(prompt || 'E'), 'standin/latency=10') END AS r FROM prompts;
SELECT * FROM sent_since_reset();

-- a failure is raised in row order: row 3's, although row 6's came back first
SELECT reset_counts();
SELECT id, openrouter_chat(openrouter_messages(prompt || 'F'),
         'standin/' || CASE id WHEN 3 THEN 'status=404;latency=300' WHEN 6 THEN 'status=404' ELSE 'latency=10' END)->'id' IS NOT NULL AS answered
FROM prompts;
SELECT requests AS "one window" FROM sent_since_reset();

-- above joins and GROUP BY, and in CTEs
EXPLAIN (COSTS OFF)
SELECT p.id, openrouter_chat(openrouter_messages(p.prompt || a.answer), 'm') FROM prompts AS p JOIN answers AS a USING (id);
EXPLAIN (COSTS OFF)
SELECT length(prompt), openrouter_chat(openrouter_messages(string_agg(prompt, ',')), 'm') FROM prompts GROUP BY 1;
EXPLAIN (COSTS OFF)
WITH c AS MATERIALIZED (SELECT id, openrouter_chat(openrouter_messages(prompt), 'm') AS r FROM prompts)
SELECT * FROM c;

-- calls inside aggregate arguments are evaluated by the aggregate, row at a
-- time; computed in a subquery with OFFSET 0 they are concurrent
EXPLAIN (COSTS OFF)
SELECT string_agg(openrouter_chat(openrouter_messages(prompt), 'm')->>'id', ',') FROM prompts;
EXPLAIN (COSTS OFF)
SELECT string_agg(r->>'id', ',') FROM (SELECT openrouter_chat(openrouter_messages(prompt), 'm') AS r FROM prompts OFFSET 0) AS s;

-- nested calls: the inner ones are fetched ahead, the outer ones (whose
-- request needs the inner answer) go one at a time
EXPLAIN (COSTS OFF)
SELECT openrouter_chat(openrouter_messages(openrouter_chat(openrouter_messages(prompt), 'm')->'choices'->0->'message'->>'content'), 'm') FROM prompts;
SELECT reset_counts();
CREATE TEMP TABLE nested AS
  SELECT openrouter_chat(openrouter_messages(openrouter_chat(openrouter_messages(prompt || 'N'), 'standin/latency=10')
                                             ->'choices'->0->'message'->>'content'), 'standin/latency=10')
           ->'choices'->0->'message'->>'content' AS r
  FROM prompts;
SELECT * FROM sent_since_reset();
SELECT count(*) FILTER (WHERE r LIKE 'Stand-in answer to: Stand-in answer to: prompt %N') AS answered FROM nested;

-- README examples
UPDATE prompts SET answer = openrouter_chat(openrouter_messages(prompt), 'openai/gpt-4o-mini')->'choices'->0->'message'->>'content';
EXPLAIN (COSTS OFF)
UPDATE prompts SET answer = openrouter_chat(openrouter_messages(prompt), 'openai/gpt-4o-mini')->'choices'->0->'message'->>'content';
EXPLAIN (COSTS OFF)
SELECT id FROM prompts WHERE openrouter_chat(openrouter_messages('Is this about cats? ' || prompt), 'openai/gpt-4o-mini')->'choices'->0->'message'->>'content' LIKE 'Yes%';

-- the setting turns it off
SET openrouter.concurrent_calls = off;
EXPLAIN (COSTS OFF)
SELECT openrouter_chat(openrouter_messages(prompt), 'm') FROM prompts;
RESET openrouter.concurrent_calls;

DROP TABLE made;
DROP TABLE answers;
DROP TABLE prompts;
DROP FUNCTION sent_since_reset();
DROP FUNCTION reset_counts();
RESET openrouter.max_concurrency;
