-- Generated columns: openrouter_chat in GENERATED ALWAYS AS (...) STORED, and
-- what a user must know about them.
\set hi '[{"role": "user", "content": "hi"}]'

-- openrouter_messages builds a one-question conversation, immutably
SELECT openrouter_messages('What is the capital of France?', system => 'You are a helpful assistant.');
SELECT openrouter_messages('Hello');
SELECT openrouter_messages(NULL) IS NULL AS null_prompt_null_messages;

-- the card's generated column works as written
CREATE TABLE gen_demo (
  id int PRIMARY KEY,
  prompt text,
  note text,
  response jsonb GENERATED ALWAYS AS (
    openrouter_chat(openrouter_messages(prompt, 'You are a helpful assistant.'), model => 'openai/gpt-4o-mini')) STORED);
INSERT INTO gen_demo (id, prompt) VALUES (1, 'What is the capital of France?'),
  (2, 'Explain quantum computing in simple terms'), (3, NULL);
SELECT id, response->'choices'->0->'message'->>'content' AS answer FROM gen_demo ORDER BY id;

-- PostgreSQL recomputes it when an input column changes ...
SELECT (standin_stats()->>'requests')::int AS before \gset
UPDATE gen_demo SET prompt = 'What is the capital of Italy?' WHERE id = 1;
SELECT (standin_stats()->>'requests')::int - :before - 1 AS requests_for_input_update;
SELECT response->'choices'->0->'message'->>'content' AS answer FROM gen_demo WHERE id = 1;
-- ... and not when another column changes
SELECT (standin_stats()->>'requests')::int AS before \gset
UPDATE gen_demo SET note = 'checked';
SELECT (standin_stats()->>'requests')::int - :before - 1 AS requests_for_other_update;
-- (pg_dump/restore and logical replication subscribers recompute it too, which
-- pays for every answer again: test/t/dump_restore.pl shows it)

-- IMMUTABLE means a call with constant arguments is made once, when the
-- statement is planned: three rows, one request, one answer
SELECT (standin_stats()->>'requests')::int AS before \gset
SELECT count(DISTINCT r->>'id') AS distinct_answers
FROM generate_series(1, 3), openrouter_chat(:'hi', 'openai/gpt-4o-mini') AS r;
SELECT (standin_stats()->>'requests')::int - :before - 1 AS requests_sent;
-- ... and EXPLAIN without ANALYZE makes it too
SELECT (standin_stats()->>'requests')::int AS before \gset
EXPLAIN (COSTS OFF) SELECT openrouter_chat('[{"role": "user", "content": "explain me"}]', 'openai/gpt-4o-mini') IS NOT NULL;
SELECT (standin_stats()->>'requests')::int - :before - 1 AS requests_sent_by_explain;

DROP TABLE gen_demo;
