-- demo/chat_demo.sql: the chat_demo table of Pixeltable's OpenRouter guide, in SQL.
\set ON_ERROR_STOP on
\pset pager off
CREATE EXTENSION IF NOT EXISTS openrouter;

DROP TABLE IF EXISTS chat_demo;
CREATE TABLE chat_demo (id serial PRIMARY KEY, prompt text NOT NULL);
INSERT INTO chat_demo (prompt) VALUES
  ('What is the capital of France?'),
  ('Explain quantum computing in simple terms');

-- the model's answer to each row: filled now for the existing rows, and from
-- now on for every new row (t.add_computed_column(response=...) in Pixeltable)
SELECT openrouter_add_computed_column('chat_demo', 'response', $$
  openrouter_chat(openrouter_messages(prompt, system => 'You are a helpful assistant.'),
                  model => 'openai/gpt-4o-mini', site_name => 'openrouter PostgreSQL demo') $$) AS rows_filled;

INSERT INTO chat_demo (prompt) VALUES ('Name three uses of PostgreSQL');

SELECT prompt AS "Q",
       coalesce(response->'choices'->0->'message'->>'content', response->'error'->>'message') AS "A",
       response->'usage'->>'total_tokens' AS tokens
FROM chat_demo ORDER BY id;

SELECT column_name, total_rows, error_rows, pending_rows FROM openrouter_computed_columns;

-- the same answers in async mode: the INSERTs return at once, and the
-- database's background worker fills the cells right after each commit
DROP TABLE IF EXISTS chat_async;
CREATE TABLE chat_async (id serial PRIMARY KEY, prompt text NOT NULL);
SELECT openrouter_add_computed_column('chat_async', 'response', $$
  openrouter_chat(openrouter_messages(prompt), model => 'openai/gpt-4o-mini',
                  site_name => 'openrouter PostgreSQL demo') $$,
  on_error => 'ignore', mode => 'async') AS rows_pending;
\echo 'inserting 3 batches of 10 rows, 0.3 s apart, each committed at once; the worker fills them meanwhile:'
INSERT INTO chat_async (prompt) SELECT 'Tell me fact number ' || i || ' about Paris' FROM generate_series(1, 10) i;
SELECT clock_timestamp()::time(2) AS "time", total_rows, pending_rows, in_flight, done_rows
FROM openrouter_computed_columns WHERE table_name = 'chat_async'::regclass;
SELECT pg_sleep(0.3) \g /dev/null
INSERT INTO chat_async (prompt) SELECT 'Tell me fact number ' || i || ' about Rome' FROM generate_series(1, 10) i;
SELECT clock_timestamp()::time(2) AS "time", total_rows, pending_rows, in_flight, done_rows
FROM openrouter_computed_columns WHERE table_name = 'chat_async'::regclass;
SELECT pg_sleep(0.3) \g /dev/null
INSERT INTO chat_async (prompt) SELECT 'Tell me fact number ' || i || ' about Oslo' FROM generate_series(1, 10) i;
SELECT clock_timestamp()::time(2) AS "time", total_rows, pending_rows, in_flight, done_rows
FROM openrouter_computed_columns WHERE table_name = 'chat_async'::regclass;
SELECT pg_sleep(1.5) \g /dev/null
SELECT clock_timestamp()::time(2) AS "time", total_rows, pending_rows, in_flight, done_rows, error_rows
FROM openrouter_computed_columns WHERE table_name = 'chat_async'::regclass;
SELECT prompt AS "Q",
       left(coalesce(response->'choices'->0->'message'->>'content', response->'error'->>'message'), 60) AS "A"
FROM chat_async ORDER BY id LIMIT 3;
