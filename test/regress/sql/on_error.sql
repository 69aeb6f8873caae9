-- on_error => 'ignore': failures become {"error": ...} values, so a batch carries on.
-- (429s slow every session using a key down: this test provokes them with a key of its own)
SET openrouter.api_key = 'sk-or-v1-regression-throttled';
\set hi '[{"role": "user", "content": "hi"}]'
SET openrouter.max_retries = 0;

-- OpenRouter's error object as it came, plus status, sqlstate, retryable and attempts
SELECT jsonb_pretty(openrouter_chat(:'hi', 'standin/status=402', on_error => 'ignore'));

-- transport failures get a code name and a null status
SELECT jsonb_pretty(openrouter_chat(:'hi', 'standin/reset', on_error => 'ignore'));

-- a failed choice keeps the partial (paid) answer under "response"
SELECT r->'error'->>'sqlstate' AS sqlstate, r->'error'->>'message' AS message,
       r->'response'->'choices'->0->'message'->>'content' AS partial_answer
FROM openrouter_chat(:'hi', 'standin/choice_error', on_error => 'ignore') AS r;

-- successes are returned unchanged
SELECT openrouter_chat(:'hi', 'openai/gpt-4o-mini', on_error => 'ignore') ? 'choices' AS answered;

-- a batch with failing rows carries on; failed rows are found with ? 'error'
CREATE TEMP TABLE questions (id int, model text);
INSERT INTO questions VALUES (1, 'openai/gpt-4o-mini'), (2, 'standin/status=429'),
  (3, 'anthropic/claude-3-haiku'), (4, 'standin/garbage'), (5, 'google/gemini-pro');
ALTER TABLE questions ADD COLUMN response jsonb;
UPDATE questions SET response = openrouter_chat(
  jsonb_build_array(jsonb_build_object('role', 'user', 'content', 'question ' || id)),
  model, on_error => 'ignore');
SELECT id, response ? 'error' AS failed, response->'error'->>'sqlstate' AS sqlstate,
       response->'choices'->0->'message'->>'content' AS answer
FROM questions ORDER BY id;

-- with the default on_error => 'abort' the first failure fails the statement
UPDATE questions SET response = openrouter_chat(
  jsonb_build_array(jsonb_build_object('role', 'user', 'content', 'question ' || id)), model);
RESET openrouter.api_key;
