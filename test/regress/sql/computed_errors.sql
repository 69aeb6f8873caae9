-- Errors while computing cells (on_error => 'abort') name the table, the
-- column and the failing row by its primary key, as PostgreSQL names rows
-- ("(id)=(7)"), and nothing of the extension's internals: for the trigger
-- (INSERT, UPDATE), the backfill of openrouter_add_computed_column,
-- CALL openrouter_backfill, openrouter_recompute, and
-- openrouter_alter_computed_column switching to 'sync'.  SQLSTATE, message,
-- detail and hint are the failure's own; only the CONTEXT names the row.
\set VERBOSITY default
\set SHOW_CONTEXT always
SET openrouter.max_retries = 0;
SET openrouter.max_concurrency = 8;

-- the statement's requests are in flight together; the row whose request
-- failed is named
CREATE TABLE e (id int PRIMARY KEY, p text);
INSERT INTO e VALUES (1, 'a'), (2, 'b');
SELECT openrouter_add_computed_column('e', 'r', $$openrouter_chat(openrouter_messages(p),
  CASE WHEN id = 7 THEN 'standin/status=402' ELSE 'standin/echo' END)$$) AS filled;
INSERT INTO e VALUES (7, 'x');
INSERT INTO e SELECT i, 'p' || i FROM generate_series(3, 10) i;
UPDATE e SET id = 7 WHERE id = 2;         -- a new key: computed again
-- (the SQLSTATE is the failure's own)
\set VERBOSITY sqlstate
INSERT INTO e VALUES (7, 'x');
\set VERBOSITY default
SELECT id FROM e ORDER BY id;

-- of eight rows in flight, the failing one answers last (the others were done first)
CREATE TABLE rk (id int PRIMARY KEY, prompt text, model text);
SELECT openrouter_add_computed_column('rk', 'answer',
  $$openrouter_chat(openrouter_messages(prompt), model)->'choices'->0->'message'->>'content'$$) AS filled;
INSERT INTO rk SELECT i, 'q' || i,
  CASE WHEN i = 6 THEN 'standin/status=402;latency=300' ELSE 'standin/latency=20' END
FROM generate_series(1, 8) i;
SELECT count(*) AS inserted FROM rk;
INSERT INTO rk SELECT i, 'q' || i, 'openai/gpt-4o-mini' FROM generate_series(1, 4) i;

-- UPDATE: the rows whose inputs changed are computed; the failing one is named
UPDATE rk SET model = CASE id WHEN 3 THEN 'standin/status=402' ELSE model END,
              prompt = prompt || '!';
SELECT id, answer FROM rk ORDER BY id;

-- an error of the expression itself names its row: in the pass that collects
-- the requests (10 / n), and in the pass that reads the answers (the answer's
-- length divided by id - 2: NULL while collecting)
CREATE TABLE calc (id int PRIMARY KEY, n int);
INSERT INTO calc VALUES (1, 1), (2, 0), (3, 3);
SELECT openrouter_add_computed_column('calc', 'tenth', $$10 / n$$);
SELECT openrouter_add_computed_column('calc', 'ratio',
  $$length(openrouter_chat(openrouter_messages('n=' || n), 'openai/gpt-4o-mini')->'choices'->0->'message'->>'content') / (id - 2)$$);
-- a function of the user's in the expression keeps its own context line
CREATE FUNCTION picky(n int) RETURNS int LANGUAGE plpgsql AS $$
BEGIN
  IF n = 3 THEN RAISE EXCEPTION 'three is not welcome' USING HINT = 'Pick another number.'; END IF;
  RETURN n;
END $$;
SELECT openrouter_add_computed_column('calc', 'picked', $$picky(n)$$);

-- a composite key, with columns that need quoting: (a, b)=(1, x)
CREATE TABLE "odd keys" ("a, b" int, n text, prompt text, PRIMARY KEY ("a, b", n));
SELECT openrouter_add_computed_column('"odd keys"', 'answer',
  $$openrouter_chat(openrouter_messages(prompt), CASE WHEN prompt = 'bad' THEN 'standin/status=402' ELSE 'standin/echo' END)->>'id'$$) AS filled;
INSERT INTO "odd keys" VALUES (1, 'x', 'bad'), (1, 'y', 'good'), (2, 'x', 'good');
INSERT INTO "odd keys" VALUES (1, 'y', 'good'), (1, 'x', 'fine');
UPDATE "odd keys" SET prompt = 'bad' WHERE n = 'y';
-- a long key value is cut, as PostgreSQL cuts a failing row's values (64 bytes)
CREATE TABLE long_keys (k text PRIMARY KEY, prompt text);
SELECT openrouter_add_computed_column('long_keys', 'answer',
  $$openrouter_chat(openrouter_messages(prompt), 'standin/status=402')$$) AS filled;
INSERT INTO long_keys VALUES (repeat('k', 100), 'hi');

-- the backfill of openrouter_add_computed_column
CREATE TABLE bf (id int PRIMARY KEY, model text);
INSERT INTO bf VALUES (1, 'openai/gpt-4o-mini'), (2, 'openai/gpt-4o-mini'),
  (3, 'standin/status=402'), (4, 'openai/gpt-4o-mini'), (5, 'openai/gpt-4o-mini');
SELECT openrouter_add_computed_column('bf', 'answer',
  $$openrouter_chat(openrouter_messages('hi'), model)->'choices'->0->'message'->>'content'$$);
-- CALL openrouter_backfill: the chunks before the failing row's are kept
SELECT openrouter_add_computed_column('bf', 'answer',
  $$openrouter_chat(openrouter_messages('hi'), model)->'choices'->0->'message'->>'content'$$,
  backfill => false) AS filled;
SET client_min_messages = warning;     -- (progress notices show rates)
CALL openrouter_backfill('bf', 'answer', chunk_size => 2);
RESET client_min_messages;
SELECT id, answer IS NOT NULL AS answered FROM bf ORDER BY id;
-- openrouter_recompute: a failure kept under 'ignore', recomputed under 'abort'
SELECT openrouter_alter_computed_column('bf', 'answer', on_error => 'ignore');
SELECT openrouter_recompute('bf', 'answer', errors_only => true) AS recomputed;
SELECT openrouter_alter_computed_column('bf', 'answer', on_error => 'abort');
SELECT openrouter_recompute('bf', 'answer', errors_only => true) AS recomputed;
SELECT openrouter_recompute('bf', 'answer') AS recomputed;

-- openrouter_alter_computed_column to 'sync' computes the queued cells now
CREATE TABLE later (id int PRIMARY KEY, model text);
SELECT openrouter_add_computed_column('later', 'answer',
  $$openrouter_chat(openrouter_messages('hi'), model)$$, mode => 'async', backfill => false) AS filled;
SELECT openrouter_pause('later', 'answer');
INSERT INTO later VALUES (1, 'openai/gpt-4o-mini'), (2, 'standin/status=402'), (3, 'openai/gpt-4o-mini');
SELECT openrouter_alter_computed_column('later', 'answer', mode => 'sync');
SELECT mode, paused, pending_rows FROM openrouter_computed_columns WHERE table_name = 'later'::regclass;

-- a request that is no row's own (constant arguments: evaluated once, when
-- the statement is planned) names no row, only how far the statement got
CREATE TABLE same (id int PRIMARY KEY);
SELECT openrouter_add_computed_column('same', 'answer',
  $$openrouter_chat(openrouter_messages('the same for all'), 'standin/status=402')$$) AS filled;
INSERT INTO same VALUES (1), (2);

-- on_error => 'ignore' is unchanged: each failure stays in its cell
SELECT openrouter_alter_computed_column('rk', 'answer', on_error => 'ignore');
INSERT INTO rk VALUES (9, 'q9', 'standin/status=402');
SELECT id, answer FROM rk WHERE id = 9;

\set SHOW_CONTEXT errors
DROP TABLE e, rk, calc, "odd keys", long_keys, bf, later, same;
DROP FUNCTION picky(int);
RESET openrouter.max_retries;
RESET openrouter.max_concurrency;
