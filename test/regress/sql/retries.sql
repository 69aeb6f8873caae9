-- Retries: transient failures are tried again, others never.
-- (429s slow every session using a key down: this test provokes them with a key of its own)
SET openrouter.api_key = 'sk-or-v1-regression-throttled';
\set hi '[{"role": "user", "content": "hi"}]'
-- the stand-in counts failures per key: make this run's keys unique
SELECT 'run' || (random() * 1e9)::bigint AS run \gset

-- each retryable status is tried 1 + openrouter.max_retries times
SET openrouter.max_retries = 2;
SELECT s AS status, r->'error'->'attempts' AS attempts, r->'error'->'retryable' AS retryable
FROM unnest(ARRAY[408, 429, 500, 502, 503, 504, 524, 529]) AS s,
     openrouter_chat(:'hi', 'standin/retry_after=0;status=' || s, on_error => 'ignore') AS r;

-- ... and the others only once
SELECT s AS status, r->'error'->'attempts' AS attempts, r->'error'->'retryable' AS retryable
FROM unnest(ARRAY[400, 401, 402, 403, 404, 413, 422]) AS s,
     openrouter_chat(:'hi', 'standin/status=' || s, on_error => 'ignore') AS r;

-- transport failures are retried too (backoff, no Retry-After: one retry here)
SET openrouter.max_retries = 1;
SELECT f AS failure, r->'error'->'attempts' AS attempts, r->'error'->>'sqlstate' AS sqlstate
FROM unnest(ARRAY['reset', 'truncate', 'empty']) AS f,
     openrouter_chat(:'hi', 'standin/' || f, on_error => 'ignore') AS r;

SET openrouter.max_retries = 2;

-- fail twice, then succeed: the caller sees only the answer
SELECT openrouter_chat(:'hi', 'standin/status=503;retry_after=0;times=2;key=fail-twice-' || :'run')
       ->'choices'->0->'message'->>'content' AS answer;
-- (the stand-in's counter for that key is used up: the next call succeeds at once)
SELECT openrouter_chat(:'hi', 'standin/status=503;times=2;key=fail-twice-' || :'run', on_error => 'ignore') ? 'error' AS failed;

-- too many failures: the error says how often it tried
SELECT state, message, detail FROM outcome('standin/status=429;retry_after=0;times=5;key=five-' || :'run');
RESET openrouter.max_retries;

-- without Retry-After: exponential backoff with jitter (first wait 250-500 ms)
SELECT clock_timestamp() AS t0 \gset
SELECT openrouter_chat(:'hi', 'standin/status=502;times=1;key=backoff-' || :'run') ? 'choices' AS answered;
SELECT clock_timestamp() - :'t0'::timestamptz >= interval '250 ms' AS waited_for_backoff;

-- Retry-After in seconds is honoured
SELECT clock_timestamp() AS t0 \gset
SELECT openrouter_chat(:'hi', 'standin/status=429;retry_after=1;times=1;key=ra1-' || :'run') ? 'choices' AS answered;
SELECT clock_timestamp() - :'t0'::timestamptz >= interval '1 s' AS waited_for_retry_after;

-- ... and as an HTTP date; X-RateLimit-Reset (epoch ms) in a header or in the body
SELECT clock_timestamp() AS t0 \gset
SELECT openrouter_chat(:'hi', 'standin/status=503;retry_after_date=2;times=1;key=rad-' || :'run') ? 'choices' AS answered;
SELECT clock_timestamp() - :'t0'::timestamptz >= interval '1 s' AS waited_for_retry_after_date;
SELECT clock_timestamp() AS t0 \gset
SELECT openrouter_chat(:'hi', 'standin/status=429;ratelimit_reset_ms=1200;reset_in=header;times=1;key=rlh-' || :'run') ? 'choices' AS answered;
SELECT clock_timestamp() - :'t0'::timestamptz >= interval '1 s' AS waited_for_reset_header;
SELECT clock_timestamp() AS t0 \gset
SELECT openrouter_chat(:'hi', 'standin/status=429;ratelimit_reset_ms=1200;reset_in=body;times=1;key=rlb-' || :'run') ? 'choices' AS answered;
SELECT clock_timestamp() - :'t0'::timestamptz >= interval '1 s' AS waited_for_reset_in_body;

-- a wait longer than openrouter.max_retry_wait fails at once, saying why
SET openrouter.max_retry_wait = '500ms';
SELECT state, detail LIKE '%asked to wait 3000 ms%max_retry_wait (500 ms)%' AS says_why
FROM outcome('standin/status=429;retry_after=3');
SELECT state, detail LIKE '%asked to wait%longer than openrouter.max_retry_wait%' AS says_why
FROM outcome('standin/status=429;ratelimit_reset_ms=5000;reset_in=body');
RESET openrouter.max_retry_wait;

-- a retry that could not start before statement_timeout is not attempted
SET statement_timeout = '2s';
SELECT state, detail LIKE '%would start after statement_timeout%' AS says_why
FROM outcome('standin/status=503;retry_after=10');
RESET statement_timeout;

-- max_retries = 0: one attempt
SET openrouter.max_retries = 0;
SELECT openrouter_chat(:'hi', 'standin/status=503;retry_after=0', on_error => 'ignore')->'error'->'attempts' AS attempts;
RESET openrouter.max_retries;
RESET openrouter.api_key;
