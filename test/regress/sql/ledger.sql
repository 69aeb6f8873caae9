-- The usage ledger's views (the README's "Cost control" examples, as
-- written).  What they hold depends on the background worker, which moves
-- records in as they come (test/t/ledger.pl checks the contents); here they
-- must run, and show nothing of other roles.
\o /dev/null
-- what the current role spent, per day and model
SELECT day, model, requests, failures, prompt_tokens, completion_tokens, cost
FROM openrouter_spend ORDER BY day DESC, cost DESC;

-- its last requests
SELECT finished_at, model_served, provider, prompt_tokens, completion_tokens, cost, latency_ms, failure
FROM openrouter_usage ORDER BY finished_at DESC LIMIT 5;
\o

-- a role without rights sees only its own rows: none
CREATE ROLE regress_ledger_reader;
SET ROLE regress_ledger_reader;
SELECT count(*) AS rows_seen FROM openrouter_usage;
SELECT count(*) AS rows_seen FROM openrouter_spend;
SELECT count(*) FROM openrouter_usage_log;
RESET ROLE;
DROP ROLE regress_ledger_reader;

-- the README's progress query (no operation is running now)
SELECT pid, operation, done, total, percent, errors, rate, seconds_left FROM openrouter_progress;
