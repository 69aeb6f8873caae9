-- The rate limiter's view (limiter.c): one row per API key, shown by a
-- digest, each role its own rows; requests_per_minute paces a key.
\set hi '[{"role": "user", "content": "hi"}]'
CREATE ROLE regress_paced;
SET ROLE regress_paced;
SET openrouter.api_key = 'sk-or-v1-regression-paced';

-- the README's example
SET openrouter.requests_per_minute = 600;
SELECT openrouter_chat('[{"role": "user", "content": "hi"}]', 'openai/gpt-4o-mini') ? 'choices' AS answered;
SELECT key_id, role, requests_per_minute, adaptive_per_minute, concurrency, paused_until, rate_limited
FROM openrouter_rate_limits;

-- the key_id is the start of the key's SHA-256 digest, not the key
SELECT key_id = left(encode(sha256('sk-or-v1-regression-paced'), 'hex'), 16) AS digest
FROM openrouter_rate_limits;

-- two statements of a session share the key's pace: 600 a minute is one
-- start per 100 ms, across statements
SELECT clock_timestamp() AS t0 \gset
SELECT openrouter_chat(:'hi', 'm1') ? 'choices' AS a1;
SELECT openrouter_chat(:'hi', 'm2') ? 'choices' AS a2;
SELECT openrouter_chat(:'hi', 'm3') ? 'choices' AS a3;
SELECT clock_timestamp() - :'t0'::timestamptz >= interval '200 ms' AS paced;

RESET openrouter.requests_per_minute;
RESET openrouter.api_key;
RESET ROLE;
DROP ROLE regress_paced;
