-- Every example of Pixeltable's OpenRouter document, in SQL.
-- (Computed columns that fill themselves are a later feature; here the
-- columns are filled with UPDATE, which is what they compute.)

-- Configuration: pxt.configure_client('openrouter', api_key=...)
SELECT openrouter_configure_client(api_key => 'sk-or-v1-regression-test-key');

-- Chat completions: the chat_demo table
CREATE TABLE chat_demo (id serial PRIMARY KEY, prompt text);
INSERT INTO chat_demo (prompt) VALUES
  ('What is the capital of France?'),
  ('Explain quantum computing in simple terms');

CREATE FUNCTION demo_messages(prompt text) RETURNS jsonb
LANGUAGE sql IMMUTABLE AS $$
  SELECT jsonb_build_array(
    jsonb_build_object('role', 'system', 'content', 'You are a helpful assistant.'),
    jsonb_build_object('role', 'user', 'content', prompt)) $$;

ALTER TABLE chat_demo ADD COLUMN response jsonb;
UPDATE chat_demo SET response = openrouter_chat(demo_messages(prompt), model => 'openai/gpt-4o-mini');

SELECT prompt AS "Q", response->'choices'->0->'message'->>'content' AS "A"
FROM chat_demo ORDER BY id;

-- Using different model providers
ALTER TABLE chat_demo ADD COLUMN gpt_response jsonb, ADD COLUMN claude_response jsonb,
  ADD COLUMN llama_response jsonb, ADD COLUMN gemini_response jsonb;
UPDATE chat_demo SET
  gpt_response    = openrouter_chat(demo_messages(prompt), model => 'openai/gpt-4o'),
  claude_response = openrouter_chat(demo_messages(prompt), model => 'anthropic/claude-3-sonnet'),
  llama_response  = openrouter_chat(demo_messages(prompt), model => 'meta-llama/llama-3.1-70b-instruct'),
  gemini_response = openrouter_chat(demo_messages(prompt), model => 'google/gemini-pro');
SELECT id, gpt_response->>'model' AS gpt, claude_response->>'model' AS claude,
       llama_response->>'model' AS llama, gemini_response->>'model' AS gemini
FROM chat_demo ORDER BY id;

-- Site attribution
ALTER TABLE chat_demo ADD COLUMN attributed_response jsonb;
UPDATE chat_demo SET attributed_response = openrouter_chat(demo_messages(prompt),
  model => 'openai/gpt-4o-mini', site_url => 'https://yourapp.com', site_name => 'Your App Name');
SELECT count(*) AS attributed FROM chat_demo WHERE attributed_response ? 'choices';
-- (what the service received, through the stand-in's echo model)
SELECT e->'headers'->>'http-referer' AS "HTTP-Referer", e->'headers'->>'x-title' AS "X-Title",
       e->'headers'->>'x-openrouter-title' AS "X-OpenRouter-Title"
FROM sent(openrouter_chat(demo_messages('What is the capital of France?'), model => 'standin/echo',
     site_url => 'https://yourapp.com', site_name => 'Your App Name')) AS e;

-- Custom model parameters
ALTER TABLE chat_demo ADD COLUMN creative_response jsonb;
UPDATE chat_demo SET creative_response = openrouter_chat(demo_messages(prompt),
  model => 'openai/gpt-4o-mini',
  model_kwargs => '{"temperature": 0.9, "max_tokens": 500, "top_p": 0.9, "frequency_penalty": 0.1}');
SELECT count(*) AS creative FROM chat_demo WHERE creative_response ? 'choices';
SELECT (sent(openrouter_chat(demo_messages('Explain quantum computing in simple terms'), model => 'standin/echo',
  model_kwargs => '{"temperature": 0.9, "max_tokens": 500, "top_p": 0.9, "frequency_penalty": 0.1}'))->'body') - 'messages' AS body;

-- Tool usage: the tool spec and tool_choice of the calculator example
SELECT (sent(openrouter_chat(demo_messages('What is 2 + 2?'), model => 'standin/echo',
  tools => '[{"type": "function", "function": {"name": "calculator",
              "description": "Perform basic arithmetic operations",
              "parameters": {"type": "object",
                             "properties": {"operation": {"type": "string"}, "a": {"type": "number"}, "b": {"type": "number"}},
                             "required": ["operation", "a", "b"]}}}]',
  tool_choice => '{"auto": true, "required": false, "tool": null, "parallel_tool_calls": true}'))->'body')
  - 'messages' - 'tools' AS body;

-- Model fallbacks: name several models
SELECT sent(openrouter_chat(demo_messages('Hi'), model => 'standin/echo',
  model_kwargs => '{"models": ["openai/gpt-4o-mini", "meta-llama/llama-3.1-8b-instruct:free"]}'))->'body'->'models' AS models;

DROP TABLE chat_demo;
DROP FUNCTION demo_messages(text);
