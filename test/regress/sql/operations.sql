-- Operations: what a user should not have to guess (README "Operations").
-- Progress NOTICEs keep their varying numbers (rate, time left) in the
-- DETAIL, which terse verbosity leaves out.
\set VERBOSITY terse

-- A typo in an openrouter.* setting is an error when it is SET (the library
-- is loaded: the prefix is reserved), not a warning at the next call.
SET openrouter.tiemout = '5s';
SET openrouter.timeout = '5s';
RESET openrouter.timeout;

-- Progress of a big openrouter_chat_batch (500 requests or more): done /
-- total, %, errors; a small one says nothing.
SELECT count(*) AS answers
FROM openrouter_chat_batch(ARRAY(SELECT jsonb_build_object('messages', openrouter_messages('q' || i),
                                                           'model', 'openai/gpt-4o-mini')
                                 FROM generate_series(1, 10) i));
SELECT count(*) FILTER (WHERE r ? 'error') AS errors, count(*) AS answers
FROM openrouter_chat_batch(ARRAY(SELECT jsonb_build_object('messages', openrouter_messages('batch ' || i),
                                                           'model', CASE WHEN i % 100 = 0 THEN 'standin/status=400'
                                                                         ELSE 'openai/gpt-4o-mini' END)
                                 FROM generate_series(1, 600) i), on_error => 'ignore') AS r;

-- Progress of computed columns: adding one over existing rows, a big
-- INSERT, openrouter_recompute
CREATE TABLE ops_docs (id int PRIMARY KEY, body text);
INSERT INTO ops_docs SELECT i, 'doc ' || i FROM generate_series(1, 600) i;
SELECT openrouter_add_computed_column('ops_docs', 'answer',
  $$openrouter_chat(openrouter_messages(body), 'openai/gpt-4o-mini')->'choices'->0->'message'->>'content'$$);
INSERT INTO ops_docs SELECT i, 'doc ' || i FROM generate_series(601, 1200) i;
SELECT openrouter_recompute('ops_docs', 'answer');
SELECT count(*) FILTER (WHERE answer = 'Stand-in answer to: ' || body) AS answered FROM ops_docs;

-- openrouter_backfill commits: inside a transaction block it refuses before
-- doing any work (nothing is sent, nothing is computed)
UPDATE ops_docs SET body = body || '!' WHERE id <= 3;   -- (computed again by the trigger)
SELECT openrouter_add_computed_column('ops_docs', 'shout',
  $$openrouter_chat(openrouter_messages(upper(body)), 'openai/gpt-4o-mini')->'choices'->0->'message'->>'content'$$,
  backfill => false);
SELECT (standin_stats()->>'requests')::int AS requests_before \gset
BEGIN;
CALL openrouter_backfill('ops_docs', 'shout');
ROLLBACK;
BEGIN;
DO $$ BEGIN CALL openrouter_backfill('ops_docs', 'shout'); END $$;
ROLLBACK;
SELECT (standin_stats()->>'requests')::int - :requests_before - 1 AS requests_sent,
       count(shout) AS computed
FROM ops_docs;

-- Outside one, each chunk is found through the key's index, continuing after
-- the previous chunk's last key, however few pending cells the planner
-- guesses (with no statistics on the new column: 0.5% of the rows, 6 here,
-- fewer than a chunk, for which it would otherwise scan and sort the whole
-- table for every chunk): 13 index scans, 12 chunks of 100 and the one that
-- finds no more.
SELECT pg_stat_force_next_flush();
SELECT idx_scan AS idx_before FROM pg_stat_user_tables WHERE relid = 'ops_docs'::regclass \gset
SET client_min_messages = warning;
CALL openrouter_backfill('ops_docs', 'shout', chunk_size => 100);
RESET client_min_messages;
SELECT pg_stat_force_next_flush();
SELECT idx_scan - :idx_before AS index_scans FROM pg_stat_user_tables WHERE relid = 'ops_docs'::regclass;
SELECT count(*) FILTER (WHERE shout = 'Stand-in answer to: ' || upper(body)) AS computed FROM ops_docs;
SELECT openrouter_drop_computed_column('ops_docs', 'shout');
DROP TABLE ops_docs;

-- INSERT ... RETURNING shows a synchronously computed column as NULL: the
-- statement-level trigger computes it after the rows are inserted (and
-- returned); the row has its answer when the statement ends.
CREATE TABLE ops_returning (id int PRIMARY KEY, prompt text);
SELECT openrouter_add_computed_column('ops_returning', 'answer',
  $$openrouter_chat(openrouter_messages(prompt), 'openai/gpt-4o-mini')->'choices'->0->'message'->>'content'$$);
INSERT INTO ops_returning VALUES (1, 'What is the capital of France?') RETURNING id, answer;
SELECT id, answer FROM ops_returning;
DROP TABLE ops_returning;

-- Each synchronous computed column writes every row once more: 100 rows
-- inserted are 100 updates (100 dead tuples).  With the default fillfactor
-- (100) the updated versions rarely fit on the same page, so most updates
-- are not HOT (each adds index entries too).  Leaving room on each page for
-- the new version (here the answer is longer than the rest of the row, and
-- the old version stays until the transaction ends) makes them HOT.
CREATE TABLE ops_ff100 (id int PRIMARY KEY, body text);
CREATE TABLE ops_ff70 (id int PRIMARY KEY, body text) WITH (fillfactor = 70);
CREATE TABLE ops_ff40 (id int PRIMARY KEY, body text) WITH (fillfactor = 40);
CREATE TABLE ops_ff30 (id int PRIMARY KEY, body text) WITH (fillfactor = 30);
SELECT count(openrouter_add_computed_column(t, 'answer',
  $$openrouter_chat(openrouter_messages(body), 'openai/gpt-4o-mini')->'choices'->0->'message'->>'content'$$))
FROM unnest(ARRAY['ops_ff100', 'ops_ff70', 'ops_ff40', 'ops_ff30']::regclass[]) t;
BEGIN;
INSERT INTO ops_ff100 SELECT i, repeat('x', 40) || i FROM generate_series(1, 100) i;
INSERT INTO ops_ff70 SELECT i, repeat('x', 40) || i FROM generate_series(1, 100) i;
INSERT INTO ops_ff40 SELECT i, repeat('x', 40) || i FROM generate_series(1, 100) i;
INSERT INTO ops_ff30 SELECT i, repeat('x', 40) || i FROM generate_series(1, 100) i;
SELECT relname, n_tup_ins AS inserted, n_tup_upd AS updated, n_tup_hot_upd AS hot_updates,
       pg_relation_size(relid) / current_setting('block_size')::int AS pages
FROM pg_stat_xact_user_tables WHERE relname LIKE 'ops_ff%' ORDER BY n_tup_hot_upd;
COMMIT;
DROP TABLE ops_ff100, ops_ff70, ops_ff40, ops_ff30;

-- An error while computing cells names the table, the column and the failing
-- row's primary key, and nothing of the extension's internals
-- (computed_errors.sql has every path)
\set VERBOSITY default
\set SHOW_CONTEXT always
CREATE TABLE ops_fail (id int PRIMARY KEY, model text);
SELECT openrouter_add_computed_column('ops_fail', 'answer',
  $$openrouter_chat(openrouter_messages('hi'), model)->'choices'->0->'message'->>'content'$$);
INSERT INTO ops_fail VALUES (1, 'openai/gpt-4o-mini'), (2, 'standin/status=402');
DROP TABLE ops_fail;
\set SHOW_CONTEXT errors
\set VERBOSITY terse

-- Keys are stored per role (per database: test/t/operations.pl): another
-- role has none until it stores its own
CREATE ROLE regress_ops_carol;
SET ROLE regress_ops_carol;
SELECT key_source FROM openrouter_client();
RESET ROLE;
SELECT key_source FROM openrouter_client();
DROP ROLE regress_ops_carol;

-- README "Operations": sessions waiting on OpenRouter (none here; the
-- extension's own workers wait on the same event, but not active)
SELECT pid, now() - query_start AS running_for, query
FROM pg_stat_activity WHERE wait_event_type = 'Extension' AND state = 'active';
