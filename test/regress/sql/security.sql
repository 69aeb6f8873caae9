-- Security properties of 1.1 (issue 7): what no other role can read, and
-- who pays.
\set VERBOSITY default

-- No planner statistic holds a copy of a key: ANALYZE skips every column of
-- the key table (which holds the suite's key, stored by setup).
SELECT count(*) > 0 AS has_keys FROM openrouter_api_key;
ANALYZE openrouter_api_key;
SELECT count(*) AS statistic_rows FROM pg_statistic
WHERE starelid = 'openrouter_api_key'::regclass;
SELECT attname, attstattarget FROM pg_attribute
WHERE attrelid = 'openrouter_api_key'::regclass AND attnum > 0 ORDER BY attnum;

-- Maintenance commands never send requests: they run as the table's owner,
-- whoever starts them.
CREATE TABLE paid_rows (id int PRIMARY KEY, prompt text);
INSERT INTO paid_rows VALUES (1, 'hi');
SELECT (standin_stats()->>'requests')::int AS requests_before \gset
-- building an index over a paid call sends nothing
CREATE INDEX ON paid_rows ((openrouter_chat(openrouter_messages(prompt), 'standin/echo')));
-- and such an index is refused even where there is nothing to build
CREATE TABLE paid_empty (id int PRIMARY KEY, prompt text);
CREATE INDEX ON paid_empty ((openrouter_chat(openrouter_messages(prompt), 'standin/echo')));
CREATE INDEX ON paid_empty (id) WHERE openrouter_chat(openrouter_messages(prompt), 'standin/echo') IS NOT NULL;
-- a materialized view is refreshed as its owner, in a restricted context
CREATE MATERIALIZED VIEW paid_view AS
  SELECT openrouter_chat(openrouter_messages(prompt), 'standin/echo', on_error => 'ignore') FROM paid_rows;
-- an index that exists anyway (made with the event trigger disabled, on an
-- empty table): ANALYZE and REINDEX refuse to pay for it
ALTER EVENT TRIGGER openrouter_refuse_paid_indexes DISABLE;
CREATE TABLE paid_later (id int PRIMARY KEY, prompt text);
CREATE INDEX paid_later_answer ON paid_later ((openrouter_chat(openrouter_messages(prompt), 'standin/echo')));
ALTER EVENT TRIGGER openrouter_refuse_paid_indexes ENABLE;
CREATE TABLE paid_like (LIKE paid_later INCLUDING INDEXES);   -- a copy is refused
INSERT INTO paid_later VALUES (1, 'hi');    -- paid by the inserting role, as any expression
ANALYZE paid_later;
REINDEX TABLE paid_later;
-- two requests: the INSERT's, and the stats call itself
SELECT (standin_stats()->>'requests')::int - :requests_before AS requests_sent;
DROP TABLE paid_rows, paid_later, paid_empty;
