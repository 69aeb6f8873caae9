-- Every failure is a typed error: SQLSTATE class OR (see README, "Errors").
-- (429s slow every session using a key down: this test provokes them with a key of its own)
SET openrouter.api_key = 'sk-or-v1-regression-throttled';
\set hi '[{"role": "user", "content": "hi"}]'
SET openrouter.max_retries = 0;

-- HTTP statuses, with OpenRouter's real error bodies
SELECT s AS status, (outcome('standin/status=' || s)).*
FROM unnest(ARRAY[400, 401, 402, 403, 404, 408, 413, 422, 429, 500, 502, 503, 504, 524, 529]) AS s;

-- a status without OpenRouter's JSON body
SELECT (outcome('standin/status=503;garbage')).*;

-- HTTP 200 whose whole body is an error object: classified by its code
SELECT (outcome('standin/error200')).*;
SELECT (outcome('standin/error200=429')).*;

-- HTTP 200 whose choice failed part way (finish_reason "error")
SELECT (outcome('standin/choice_error')).*;

-- bodies that are not an answer
SELECT 'empty' AS body, (outcome('standin/empty')).*
UNION ALL SELECT 'garbage', (outcome('standin/garbage')).*
UNION ALL SELECT 'truncated', (outcome('standin/truncate')).*;

-- transport: reset connection, timeout, refused connection, TLS failure
SELECT state, message, hint FROM outcome('standin/reset');
SET openrouter.timeout = '200ms';
SELECT state, message, hint FROM outcome('standin/latency=3000');
RESET openrouter.timeout;
SET openrouter.base_url = 'http://127.0.0.1:9/api/v1';
SELECT state, message, hint FROM outcome('openai/gpt-4o-mini');
\getenv tls_url STANDIN_TLS_URL
SET openrouter.base_url = :'tls_url';
SELECT state, message, detail, hint FROM outcome('openai/gpt-4o-mini');
RESET openrouter.base_url;

-- a body over openrouter.max_response_size
SET openrouter.max_response_size = '64kB';
SELECT state, message, hint FROM outcome('standin/big=100000');
SELECT openrouter_chat(:'hi', 'standin/big=50000')->'usage' IS NOT NULL AS under_the_cap_is_fine;
RESET openrouter.max_response_size;

-- the errors as psql shows them
SELECT openrouter_chat(:'hi', 'standin/status=401');
SELECT openrouter_chat(:'hi', 'standin/status=502');

-- a whole error class can be caught in PL/pgSQL
DO $$
BEGIN
  PERFORM openrouter_chat('[{"role": "user", "content": "hi"}]', 'standin/status=404');
EXCEPTION WHEN SQLSTATE 'OR000' THEN
  RAISE NOTICE 'caught % as an openrouter failure', SQLSTATE;
END $$;
RESET openrouter.api_key;
