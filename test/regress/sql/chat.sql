-- What openrouter_chat sends and returns.
\set hi '[{"role": "user", "content": "hi"}]'

-- the response body comes back as jsonb, unchanged
SELECT r->>'object' AS object, r->>'model' AS model, r->>'provider' AS provider,
       r->'choices'->0->'message'->>'content' AS content,
       r->'choices'->0->>'finish_reason' AS finish_reason,
       r->'usage'->>'total_tokens' AS total_tokens
FROM openrouter_chat(:'hi', 'openai/gpt-4o-mini') AS r;

-- the request: method, path, headers and body
SELECT e->>'method' AS method, e->>'path' AS path,
       e->'headers'->>'content-type' AS content_type,
       e->'headers'->>'accept' AS accept,
       e->'headers'->>'authorization' = 'Bearer sk-or-v1-...st-key' AS bearer_key,
       e->'headers'->>'user-agent' AS user_agent,
       e->'headers' ? 'http-referer' AS has_referer,
       e->'body' AS body
FROM sent(openrouter_chat(:'hi', 'standin/echo')) AS e;

-- model_kwargs: every key goes into the body (the seed's custom parameters and more)
SELECT jsonb_pretty(sent(openrouter_chat(:'hi', 'standin/echo',
  model_kwargs => '{"temperature": 0.9, "max_tokens": 500, "top_p": 0.9, "frequency_penalty": 0.1,
                    "seed": 7, "stop": ["\n\n"], "response_format": {"type": "json_object"},
                    "reasoning": {"effort": "low"}, "models": ["openai/gpt-4o", "anthropic/claude-3-haiku"],
                    "plugins": [{"id": "web"}], "user": "row-17", "stream": false}'))->'body');

-- provider routing and transforms go into the body as given
SELECT (sent(openrouter_chat(:'hi', 'standin/echo',
  provider => '{"order": ["openai", "together"], "allow_fallbacks": false, "sort": "price"}',
  transforms => '["middle-out"]'))->'body') - 'messages' AS body;

-- content parts pass through untouched
SELECT sent(openrouter_chat('[{"role": "system", "content": "Be brief."},
  {"role": "user", "content": [{"type": "text", "text": "What is this?"},
    {"type": "image_url", "image_url": {"url": "https://example.com/cat.png", "detail": "low"}},
    {"type": "file", "file": {"filename": "a.pdf", "file_data": "data:application/pdf;base64,JVBERi0="}},
    {"type": "input_audio", "input_audio": {"data": "UklGRg==", "format": "wav"}}]}]',
  'standin/echo'))->'body'->'messages' AS messages;

-- tools pass through; tool_choice in the API's forms passes through
SELECT (sent(openrouter_chat(:'hi', 'standin/echo',
  tools => '[{"type": "function", "function": {"name": "calculator", "description": "Perform basic arithmetic operations",
             "parameters": {"type": "object", "properties": {"operation": {"type": "string"}}, "required": ["operation"]}}}]',
  tool_choice => '"none"'))->'body') - 'messages' AS body;
SELECT c AS tool_choice, sent(openrouter_chat(:'hi', 'standin/echo', tool_choice => c))->'body'->'tool_choice' AS sent
FROM unnest(ARRAY['"auto"', '"required"', '{"type": "function", "function": {"name": "calculator"}}']::jsonb[]) AS c;

-- Pixeltable's tool_choice dictionary is translated, parallel_tool_calls included
SELECT c AS pixeltable_tool_choice,
       sent(openrouter_chat(:'hi', 'standin/echo', tool_choice => c))->'body'->'tool_choice' AS tool_choice,
       sent(openrouter_chat(:'hi', 'standin/echo', tool_choice => c))->'body'->'parallel_tool_calls' AS parallel_tool_calls
FROM unnest(ARRAY[
  '{"auto": true, "required": false, "tool": null, "parallel_tool_calls": true}',
  '{"auto": false, "required": true, "tool": null, "parallel_tool_calls": false}',
  '{"auto": false, "required": false, "tool": "calculator", "parallel_tool_calls": false}',
  '{"tool": "calculator"}']::jsonb[]) AS c;

-- site attribution: HTTP-Referer, X-OpenRouter-Title and X-Title
SELECT e->'headers'->>'http-referer' AS http_referer,
       e->'headers'->>'x-openrouter-title' AS x_openrouter_title,
       e->'headers'->>'x-title' AS x_title
FROM sent(openrouter_chat(:'hi', 'standin/echo', site_url => 'https://yourapp.com', site_name => 'Your App Name')) AS e;

-- defaults from openrouter.site_url and openrouter.site_name; arguments win
SET openrouter.site_url = 'https://default.example';
SET openrouter.site_name = 'Default Name';
SELECT e->'headers'->>'http-referer' AS http_referer, e->'headers'->>'x-title' AS x_title
FROM sent(openrouter_chat(:'hi', 'standin/echo')) AS e;
SELECT e->'headers'->>'http-referer' AS http_referer, e->'headers'->>'x-title' AS x_title
FROM sent(openrouter_chat(:'hi', 'standin/echo', site_name => 'Argument Name')) AS e;
RESET openrouter.site_url;
RESET openrouter.site_name;

-- a body padded with leading whitespace (as OpenRouter sends it) is valid JSON
SELECT openrouter_chat(:'hi', 'standin/pad')->'choices'->0->'message'->>'content' AS padded_answer;

-- over TLS, verified against openrouter.ca_file
\getenv tls_url STANDIN_TLS_URL
\getenv ca_file STANDIN_CA
SET openrouter.base_url = :'tls_url';
SET openrouter.ca_file = :'ca_file';
SELECT openrouter_chat(:'hi', 'openai/gpt-4o-mini')->'choices'->0->'message'->>'content' AS over_tls;
RESET openrouter.ca_file;
RESET openrouter.base_url;

-- a trailing slash in the base URL is fine
\getenv plain_url STANDIN_URL
SELECT set_config('openrouter.base_url', :'plain_url' || '/', false) IS NOT NULL AS set;
SELECT sent(openrouter_chat(:'hi', 'standin/echo'))->>'path' AS path;
RESET openrouter.base_url;
