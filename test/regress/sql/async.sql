-- Asynchronous computed columns: the README's example, and the checks of
-- the new arguments (test/t/async.pl has the worker's behaviour).
\set SHOW_CONTEXT never

-- wait (up to 30 s) until the background worker has computed a table's pending cells
CREATE FUNCTION wait_for_worker(tbl regclass) RETURNS boolean LANGUAGE plpgsql AS $$
BEGIN
  FOR i IN 1 .. 300 LOOP
    IF NOT EXISTS (SELECT 1 FROM openrouter_computed_columns
                   WHERE table_name = tbl AND pending_rows > 0) THEN
      RETURN true;
    END IF;
    PERFORM pg_sleep(0.1);
  END LOOP;
  RETURN false;
END $$;

CREATE TABLE async_demo (id serial PRIMARY KEY, prompt text);

-- the README's example
SELECT openrouter_add_computed_column('async_demo', 'response', $$
  openrouter_chat(openrouter_messages(prompt), model => 'openai/gpt-4o-mini') $$,
  on_error => 'ignore', mode => 'async');
INSERT INTO async_demo (prompt) VALUES ('What is the capital of France?');  -- returns at once
\o /dev/null
SELECT mode, pending_rows, in_flight, done_rows, error_rows, rate, time_left
FROM openrouter_computed_columns WHERE table_name = 'async_demo'::regclass;
\o
-- (pending or done, whichever the worker got to first)
SELECT mode, pending_rows + done_rows AS rows, error_rows
FROM openrouter_computed_columns WHERE table_name = 'async_demo'::regclass;
SELECT wait_for_worker('async_demo');
SELECT openrouter_pause('async_demo', 'response');      -- and openrouter_resume(...)
SELECT openrouter_alter_computed_column('async_demo', 'response', mode => 'sync');

SELECT prompt, response->'choices'->0->'message'->>'content' AS answer FROM async_demo;
SELECT mode, paused, pending_rows, done_rows, error_rows
FROM openrouter_computed_columns WHERE table_name = 'async_demo'::regclass;

-- back to async: paused rows stay queued until resumed
SELECT openrouter_alter_computed_column('async_demo', 'response', mode => 'async');
SELECT openrouter_pause('async_demo', 'response');
INSERT INTO async_demo (prompt) VALUES ('Explain quantum computing in simple terms');
SELECT pg_sleep(1.5);
SELECT mode, paused, pending_rows FROM openrouter_computed_columns WHERE table_name = 'async_demo'::regclass;
SELECT openrouter_resume('async_demo', 'response');
SELECT wait_for_worker('async_demo');
SELECT count(*) AS answered FROM async_demo WHERE response ? 'choices';

-- on_error changes, answers kept
SELECT md5(response::text) AS kept FROM async_demo WHERE id = 1 \gset
SELECT openrouter_alter_computed_column('async_demo', 'response', on_error => 'abort');
SELECT on_error FROM openrouter_computed_columns WHERE table_name = 'async_demo'::regclass;
SELECT md5(response::text) = :'kept' AS kept FROM async_demo WHERE id = 1;

-- recompute of an async column queues its cells
SELECT openrouter_recompute('async_demo', 'response') AS queued;
SELECT wait_for_worker('async_demo');

-- bad arguments: an error before anything changes
SELECT openrouter_add_computed_column('async_demo', 'other', $$prompt$$, mode => 'later');
SELECT openrouter_add_computed_column('async_demo', 'other', $$prompt$$, mode => NULL);
SELECT openrouter_alter_computed_column('async_demo', 'response', mode => 'sometimes');
SELECT openrouter_alter_computed_column('async_demo', 'prompt', mode => 'sync');
SELECT openrouter_add_computed_column('async_demo', 'shout', $$upper(prompt)$$);
SELECT openrouter_pause('async_demo', 'shout');
SELECT openrouter_pause('async_demo', 'nothing');
CREATE ROLE async_stranger;
SET ROLE async_stranger;
SELECT openrouter_pause('async_demo', 'response');
SELECT openrouter_alter_computed_column('async_demo', 'response', mode => 'sync');
RESET ROLE;
DROP ROLE async_stranger;

-- a role sees only the queue entries of its own tables
SELECT openrouter_pause('async_demo', 'response');
UPDATE async_demo SET prompt = prompt || '!';
CREATE ROLE async_reader;
SET ROLE async_reader;
SELECT count(*) AS visible_entries FROM openrouter_async_queue;
INSERT INTO openrouter_async_queue (table_oid, column_name, row_key) VALUES (1, 'x', '{1}');
RESET ROLE;
DROP ROLE async_reader;
SELECT count(*) AS own_entries FROM openrouter_async_queue;

-- a column added with backfill => false leaves the existing rows alone and
-- queues the inserted ones: one entry per row, with the table's defaults; a
-- key queued already (its row deleted and inserted again before the worker
-- got to it) gets a new version, not a second entry
CREATE TABLE async_keys (a int, b text, prompt text, PRIMARY KEY (a, b));
INSERT INTO async_keys VALUES (0, 'old', 'left alone');
SELECT openrouter_add_computed_column('async_keys', 'r', $$openrouter_chat(openrouter_messages(prompt), 'openai/gpt-4o-mini')$$,
                                      mode => 'async', backfill => false);
SELECT openrouter_pause('async_keys', 'r');
INSERT INTO async_keys VALUES (1, 'x', 'one'), (2, 'a "quoted", text', 'two');
SELECT row_key, attempts, not_before FROM openrouter_async_queue
WHERE table_oid = 'async_keys'::regclass ORDER BY row_key;
SELECT version AS first_version FROM openrouter_async_queue
WHERE table_oid = 'async_keys'::regclass AND row_key = '{1,x}' \gset
DELETE FROM async_keys WHERE a = 1;
INSERT INTO async_keys VALUES (1, 'x', 'one again');
SELECT count(*) AS entries, bool_and(version > :first_version) AS new_version
FROM openrouter_async_queue WHERE table_oid = 'async_keys'::regclass AND row_key = '{1,x}';
BEGIN;
INSERT INTO async_keys VALUES (3, 'y', 'rolled back');
ROLLBACK;
SELECT count(*) AS entries FROM openrouter_async_queue WHERE table_oid = 'async_keys'::regclass;
SELECT pending_rows FROM openrouter_computed_columns WHERE table_name = 'async_keys'::regclass;
DROP TABLE async_keys;

-- a column that fills its rows has every empty cell pending: an INSERT
-- writes no queue entry (the worker finds the cell through a partial index),
-- its AFTER INSERT row trigger refuses a value for the column, and an entry
-- an earlier row with the same key left (a cell left empty) gets a new
-- version, so that it stands for the new row
CREATE TABLE async_nulls (id int PRIMARY KEY, prompt text);
SELECT openrouter_add_computed_column('async_nulls', 'r', $$openrouter_chat(openrouter_messages(prompt), 'openai/gpt-4o-mini')$$,
                                      mode => 'async') AS pending;
SELECT openrouter_pause('async_nulls', 'r');
INSERT INTO async_nulls VALUES (1, 'one');
SELECT tgname, tgtype FROM pg_trigger WHERE tgrelid = 'async_nulls'::regclass ORDER BY tgname;
SELECT indexrelid::regclass AS index, pg_get_expr(indpred, indrelid) AS predicate
FROM pg_index WHERE indrelid = 'async_nulls'::regclass AND indpred IS NOT NULL;
INSERT INTO async_nulls VALUES (2, 'two'), (3, 'three');
SELECT count(*) AS entries FROM openrouter_async_queue WHERE table_oid = 'async_nulls'::regclass;
SELECT pending_rows, done_rows FROM openrouter_computed_columns WHERE table_name = 'async_nulls'::regclass;
INSERT INTO async_nulls VALUES (4, 'hand-written', '{}');
INSERT INTO openrouter_async_queue (table_oid, column_name, row_key, version, not_before)
VALUES ('async_nulls'::regclass, 'r', '{5}', 0, 'infinity');
SELECT pending_rows FROM openrouter_computed_columns WHERE table_name = 'async_nulls'::regclass;
INSERT INTO async_nulls VALUES (5, 'a key used before');
SELECT row_key, version > 0 AS new_version, not_before FROM openrouter_async_queue
WHERE table_oid = 'async_nulls'::regclass;
SELECT pending_rows FROM openrouter_computed_columns WHERE table_name = 'async_nulls'::regclass;
-- a row INSERT ... ON CONFLICT DO NOTHING skips is no new row: its entry stays as it is
SELECT version AS entry_version FROM openrouter_async_queue WHERE table_oid = 'async_nulls'::regclass \gset
INSERT INTO async_nulls VALUES (5, 'skipped') ON CONFLICT DO NOTHING;
SELECT version = :entry_version AS same_entry FROM openrouter_async_queue WHERE table_oid = 'async_nulls'::regclass;
-- computed by the worker: nothing pending, nothing queued
SELECT openrouter_resume('async_nulls', 'r');
SELECT wait_for_worker('async_nulls');
SELECT count(*) FILTER (WHERE r ? 'choices') AS answered, count(*) AS rows FROM async_nulls;
SELECT count(*) AS entries FROM openrouter_async_queue WHERE table_oid = 'async_nulls'::regclass;
-- to sync: the statement trigger again, and no partial index of the
-- extension's (a user's own index with the same predicate stays)
CREATE INDEX users_own ON async_nulls (prompt) WHERE r IS NULL;
SELECT openrouter_alter_computed_column('async_nulls', 'r', mode => 'sync');
SELECT tgname, tgtype FROM pg_trigger WHERE tgrelid = 'async_nulls'::regclass ORDER BY tgname;
SELECT indexrelid::regclass AS partial_indexes FROM pg_index WHERE indrelid = 'async_nulls'::regclass AND indpred IS NOT NULL;
DROP TABLE async_nulls;

DROP TABLE async_demo;
DROP FUNCTION wait_for_worker(regclass);
