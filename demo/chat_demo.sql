-- demo/chat_demo.sql: the chat_demo table of Pixeltable's OpenRouter guide, in SQL.
\set ON_ERROR_STOP on
\pset pager off
CREATE EXTENSION IF NOT EXISTS openrouter;

DROP TABLE IF EXISTS chat_demo;
CREATE TABLE chat_demo (id serial PRIMARY KEY, prompt text NOT NULL);
INSERT INTO chat_demo (prompt) VALUES
  ('What is the capital of France?'),
  ('Explain quantum computing in simple terms');

-- the model's answer to each row, from OpenAI's GPT-4o-mini through OpenRouter
ALTER TABLE chat_demo ADD COLUMN response jsonb;
UPDATE chat_demo SET response = openrouter_chat(
  jsonb_build_array(
    jsonb_build_object('role', 'system', 'content', 'You are a helpful assistant.'),
    jsonb_build_object('role', 'user', 'content', prompt)),
  model => 'openai/gpt-4o-mini',
  site_name => 'openrouter PostgreSQL demo');

SELECT prompt AS "Q",
       response->'choices'->0->'message'->>'content' AS "A",
       response->'usage'->>'total_tokens' AS tokens
FROM chat_demo ORDER BY id;
