-- Cost control: the models catalog, key status, budgets.
\set hi '[{"role": "user", "content": "hi"}]'

-- an empty catalog knows no model: no NOTICE
SELECT count(*) AS catalog_rows FROM openrouter_model_catalog;
SELECT r->>'model' AS model FROM openrouter_chat(:'hi', 'openai/gpt-4o-typo2') AS r;

-- the catalog: refreshed by hand; every price as numeric
SELECT openrouter_refresh_models() AS models;
SELECT id, context_length, max_completion_tokens, prompt_price, completion_price, request_price,
       prices->'prompt' AS prompt_json, input_modalities, output_modalities, supported_parameters
FROM openrouter_model_catalog ORDER BY id;
SELECT count(*) = (SELECT count(*) FROM openrouter_model_catalog) AS same FROM openrouter_models();

-- a model the catalog does not know: one NOTICE per session and model
SELECT r->>'model' AS model FROM openrouter_chat(:'hi', 'openai/gpt-4o-typo') AS r;
SELECT r->>'model' AS model FROM openrouter_chat(:'hi', 'openai/gpt-4o-typo') AS r;
SELECT r->>'model' AS model FROM openrouter_chat(:'hi', 'openai/gpt-4o-mini') AS r;

-- key status: GET /key with the role's key
SELECT label, "limit", limit_remaining, limit_reset, usage, usage_daily, usage_weekly,
       usage_monthly, is_free_tier FROM openrouter_key_status();
-- a free-tier key has no limit
SET openrouter.api_key = 'sk-or-v1-free-tier';
SELECT "limit", limit_remaining, is_free_tier FROM openrouter_key_status();
RESET openrouter.api_key;

-- budgets: a role that is not a superuser cannot set or change one, nor see another's
CREATE ROLE analyst;
GRANT USAGE ON SCHEMA public TO analyst;
SET ROLE analyst;
SELECT openrouter_set_budget('analyst', 100);
INSERT INTO openrouter_role_budgets VALUES ('analyst'::regrole, 100, 'day');
RESET ROLE;

-- the session's cap (0.0001 USD from now on)
SET openrouter.max_spend = 0.0001;
-- worst case: body bytes * prompt price + max_tokens * completion price
SELECT r->'usage'->>'cost' AS cost
FROM openrouter_chat(:'hi', 'openai/gpt-4o-mini', model_kwargs => '{"max_tokens": 100}') AS r;
-- 1000 tokens at 0.0000006 USD is more than 0.0001 USD: refused, nothing sent
SELECT r->'error'->>'sqlstate' AS sqlstate, r->'error'->>'message' AS message,
       r->'error'->>'attempts' AS attempts
FROM openrouter_chat(:'hi', 'openai/gpt-4o-mini', model_kwargs => '{"max_tokens": 1000}',
                     on_error => 'ignore') AS r;
\set VERBOSITY default
SELECT openrouter_chat(:'hi', 'openai/gpt-4o-mini', model_kwargs => '{"max_tokens": 1000}');
\set VERBOSITY terse
RESET openrouter.max_spend;

-- a role's budget (a role of its own: its spending today starts at zero)
SELECT openrouter_set_budget('analyst', 0.0001, 'day');
SET ROLE analyst;
SELECT openrouter_configure_client('sk-or-v1-budget-user-key');
-- the session cap can only lower it, never raise it
SET openrouter.max_spend = 1000;
SELECT r->'error'->>'sqlstate' AS sqlstate
FROM openrouter_chat(:'hi', 'openai/gpt-4o-mini', model_kwargs => '{"max_tokens": 1000}',
                     on_error => 'ignore') AS r;
SELECT r->'usage'->>'cost' IS NOT NULL AS answered
FROM openrouter_chat(:'hi', 'openai/gpt-4o-mini', model_kwargs => '{"max_tokens": 10}') AS r;
RESET openrouter.max_spend;

-- unknown prices are refused under a budget: openrouter/auto's "-1", a model not in the catalog
SELECT r->'error'->>'sqlstate' AS sqlstate, r->'error'->>'message' AS message
FROM openrouter_chat(:'hi', 'openrouter/auto', on_error => 'ignore') AS r;
SELECT r->'error'->>'sqlstate' AS sqlstate
FROM openrouter_chat(:'hi', 'openai/gpt-4o-typo', on_error => 'ignore') AS r;
-- provider.max_price (USD per million tokens) gives the request a price
SELECT r->>'model' AS model
FROM openrouter_chat(:'hi', 'openrouter/auto', model_kwargs => '{"max_tokens": 10}',
                     provider => '{"max_price": {"prompt": "0.1", "completion": "0.1"}}') AS r;
-- a role cannot allow unknown prices for itself; a superuser can
SET openrouter.budget_allow_unknown_price = on;
RESET ROLE;
SET openrouter.budget_allow_unknown_price = on;
SET ROLE analyst;
SELECT r->>'model' AS model FROM openrouter_chat(:'hi', 'openrouter/auto', model_kwargs => '{"max_tokens": 10}') AS r;
RESET ROLE;
RESET openrouter.budget_allow_unknown_price;
SELECT openrouter_set_budget('analyst', NULL);

-- a computed column's budget stops a backfill; the failures say why
CREATE TABLE budget_notes (id int PRIMARY KEY, note text);
INSERT INTO budget_notes SELECT i, 'note ' || i FROM generate_series(1, 20) i;
SELECT openrouter_add_computed_column('budget_notes', 'summary',
    $$openrouter_chat(openrouter_messages(note), 'openai/gpt-4o-mini', model_kwargs => '{"max_tokens": 50}')$$,
    on_error => 'ignore', backfill => false);
SELECT openrouter_set_column_budget('budget_notes', 'summary', 0.00007, 'day');
SELECT (standin_stats()->>'requests')::int AS requests_before \gset
SELECT openrouter_recompute('budget_notes', 'summary');
-- only the answers were sent (the stats call itself is one more)
SELECT (standin_stats()->>'requests')::int - :requests_before - 1 AS requests_sent;
SELECT CASE WHEN summary ? 'choices' THEN 'answer' ELSE coalesce(summary->'error'->>'sqlstate', summary::text) END AS outcome,
       count(*) FROM budget_notes GROUP BY 1 ORDER BY 1;
SELECT openrouter_set_column_budget('budget_notes', 'summary', NULL);
DROP TABLE budget_notes;

-- the worked example of the README ("Cost control")
-- a superuser gives roles budgets in USD per day (or month), and a computed column its own:
SELECT openrouter_set_budget('analyst', 5, 'day');
SELECT openrouter_set_budget(current_user::regrole, 20, 'month');
CREATE TABLE feedback (id int PRIMARY KEY, body text);
INSERT INTO feedback VALUES (1, 'Great value.'), (2, 'Arrived broken.');
SELECT openrouter_set_column_budget('feedback', 'sentiment', 1, 'month');
SELECT openrouter_add_computed_column('feedback', 'sentiment',
    $$openrouter_chat(openrouter_messages('Sentiment of: ' || body), 'openai/gpt-4o-mini',
                      model_kwargs => '{"max_tokens": 5}')$$,
    on_error => 'ignore');
-- what applies, what is spent, what is left
SELECT scope, role, table_name, column_name, usd, per, spent > 0 AS spent, in_flight, remaining < usd AS used
FROM openrouter_budgets ORDER BY scope, role;
-- the role sees its own budget only, and may lower it for its session
SET ROLE analyst;
SELECT scope, role, usd, per FROM openrouter_budgets WHERE scope = 'role';
SELECT count(*) AS budget_rows_seen FROM openrouter_role_budgets;
SET openrouter.max_spend = 0.50;
RESET openrouter.max_spend;
RESET ROLE;
SELECT openrouter_set_budget('analyst', NULL), openrouter_set_budget(current_user::regrole, NULL);
DROP TABLE feedback;

-- leave the catalog empty for the tests after this one (no NOTICEs there)
DELETE FROM openrouter_model_catalog;
REVOKE USAGE ON SCHEMA public FROM analyst;
DROP ROLE analyst;
