-- Computed columns: Pixeltable's add_computed_column, in PostgreSQL.
\set SHOW_CONTEXT never
\set hi '[{"role": "user", "content": "hi"}]'
SELECT 'run' || (random() * 1e9)::bigint AS run \gset

-- the seed's chat_demo, with its response as a computed column
CREATE TABLE chat_demo (id serial PRIMARY KEY, prompt text);
INSERT INTO chat_demo (prompt) VALUES
  ('What is the capital of France?'), ('Explain quantum computing in simple terms');
SELECT openrouter_add_computed_column('chat_demo', 'response', $$
  openrouter_chat(jsonb_build_array(
      jsonb_build_object('role', 'system', 'content', 'You are a helpful assistant.'),
      jsonb_build_object('role', 'user', 'content', prompt)),
    model => 'openai/gpt-4o-mini') $$) AS filled;
SELECT prompt AS "Q", response->'choices'->0->'message'->>'content' AS "A"
FROM chat_demo ORDER BY id;

-- a text column computed from another computed column
SELECT openrouter_add_computed_column('chat_demo', 'answer',
  $$openrouter_text(response)$$) AS filled;
SELECT format_type(atttypid, atttypmod) AS type FROM pg_attribute
WHERE attrelid = 'chat_demo'::regclass AND attname = 'answer';

-- every new row is computed, a multi-row INSERT with its calls in flight together
SET openrouter.max_concurrency = 8;
SELECT standin_stats_reset() IS NOT NULL AS reset;
ALTER TABLE chat_demo ADD COLUMN note text;
SELECT openrouter_add_computed_column('chat_demo', 'slow_response', $$
  openrouter_chat(jsonb_build_array(jsonb_build_object('role', 'user', 'content', prompt)),
                  model => 'standin/latency=100') $$) AS filled;
INSERT INTO chat_demo (prompt) SELECT 'question ' || i FROM generate_series(1, 24) AS i;
SELECT standin_stats()->'max_in_flight' AS max_in_flight;
SELECT count(*) AS rows, count(response) AS responses, count(answer) AS answers,
       count(*) FILTER (WHERE slow_response->'choices'->0->'message'->>'content' = 'Stand-in answer to: ' || prompt) AS slow_answers
FROM chat_demo;
RESET openrouter.max_concurrency;

-- updating an input column computes the row again; updating another column does not
-- (the one request counted is the stats call itself)
SELECT (standin_stats()->>'requests')::int AS before \gset
UPDATE chat_demo SET note = 'reviewed' WHERE id = 1;
SELECT (standin_stats()->>'requests')::int - :before AS requests_sent_for_note;
UPDATE chat_demo SET prompt = 'What is the capital of Italy?' WHERE id = 1;
SELECT answer FROM chat_demo WHERE id = 1;

-- the status view
SELECT table_name, column_name, on_error, input_columns, total_rows, error_rows, pending_rows
FROM openrouter_computed_columns ORDER BY column_name;

-- on_error => 'ignore': failed cells hold the error, every other row its answer
CREATE TABLE questions (id int PRIMARY KEY, model text);
INSERT INTO questions VALUES (1, 'openai/gpt-4o-mini'),
  (2, 'standin/status=503;retry_after=0;times=10;key=q2-' || :'run'),
  (3, 'anthropic/claude-3-haiku');
SET openrouter.max_retries = 1;
SELECT openrouter_add_computed_column('questions', 'response',
  $$openrouter_chat(jsonb_build_array(jsonb_build_object('role', 'user', 'content', 'q' || id)), model)$$,
  on_error => 'ignore') AS filled;
SELECT id, response ? 'error' AS failed, response->'error'->>'sqlstate' AS sqlstate FROM questions ORDER BY id;
SELECT column_name, error_rows FROM openrouter_computed_columns WHERE table_name = 'questions'::regclass;
-- recompute only the failed cells (the stand-in now answers key q2 after 10 failures)
SET openrouter.max_retries = 8;
SELECT openrouter_recompute('questions', 'response', errors_only => true) AS recomputed;
SELECT id, response ? 'error' AS failed FROM questions ORDER BY id;
SELECT openrouter_recompute('questions', 'response') AS recomputed;
RESET openrouter.max_retries;

-- on_error => 'abort': the first failure fails the statement and changes nothing
CREATE TABLE strict_questions (id int PRIMARY KEY, model text);
INSERT INTO strict_questions VALUES (1, 'openai/gpt-4o-mini');
SELECT openrouter_add_computed_column('strict_questions', 'response',
  $$openrouter_chat(jsonb_build_array(jsonb_build_object('role', 'user', 'content', 'q' || id)), model)$$) AS filled;
SET openrouter.max_retries = 0;
INSERT INTO strict_questions VALUES (2, 'mistral/x'), (3, 'standin/status=402');
SELECT id FROM strict_questions ORDER BY id;
RESET openrouter.max_retries;

-- Pixeltable's chain: a column computed from another computed column's answer
CREATE TABLE chain (id int PRIMARY KEY, topic text);
SELECT openrouter_add_computed_column('chain', 'question',
  $$openrouter_chat(jsonb_build_array(jsonb_build_object('role', 'user', 'content', topic)), 'openai/gpt-4o-mini')
    ->'choices'->0->'message'->>'content'$$) AS filled;
SELECT openrouter_add_computed_column('chain', 'second_answer',
  $$openrouter_chat(jsonb_build_array(jsonb_build_object('role', 'user', 'content', question)), 'openai/gpt-4o-mini')
    ->'choices'->0->'message'->>'content'$$) AS filled;
INSERT INTO chain VALUES (1, 'tides'), (2, 'comets');
SELECT * FROM chain ORDER BY id;
UPDATE chain SET topic = 'volcanoes' WHERE id = 2;
SELECT * FROM chain ORDER BY id;
SELECT column_name, input_columns FROM openrouter_computed_columns WHERE table_name = 'chain'::regclass;

-- Pixeltable's tool chain as computed columns: tool_response, then tool_results
CREATE TABLE calc_log (operation text);
CREATE FUNCTION calc(operation text, a float8, b float8) RETURNS jsonb
LANGUAGE sql AS $$
  INSERT INTO calc_log VALUES (operation);   -- a tool with a side effect
  SELECT jsonb_build_object('result', CASE operation WHEN 'add' THEN a + b WHEN 'multiply' THEN a * b END) $$;
COMMENT ON FUNCTION calc(text, float8, float8) IS 'Perform basic arithmetic operations';
CREATE TABLE tool_demo (id int PRIMARY KEY, prompt text, scripted_model text);
SELECT openrouter_add_computed_column('tool_demo', 'tool_response', $$
  openrouter_chat(openrouter_messages(prompt), model => scripted_model,
                  tools => openrouter_tools('calc(text,float8,float8)'),
                  tool_choice => '{"auto": true, "required": false, "tool": null, "parallel_tool_calls": true}') $$) AS filled;
SELECT openrouter_add_computed_column('tool_demo', 'tool_results',
  $$openrouter_invoke_tools(openrouter_tools('calc(text,float8,float8)'), tool_response)$$) AS filled;
-- (the stand-in answers with the tool calls its model name scripts: add 2 and 2; multiply 6 by 7)
INSERT INTO tool_demo VALUES
  (1, 'What is 2 + 2?', 'standin/tool_calls=calc:eyJvcGVyYXRpb24iOiJhZGQiLCJhIjoyLCJiIjoyfQ'),
  (2, 'What is 6 times 7?', 'standin/tool_calls=calc:' || translate(rtrim(encode(convert_to('{"operation":"multiply","a":6,"b":7}', 'UTF8'), 'base64'), '='), '+/', '-_'));
SELECT id, tool_response->'choices'->0->>'finish_reason' AS finish_reason, tool_results FROM tool_demo ORDER BY id;
-- each tool ran once per call
SELECT operation, count(*) FROM calc_log GROUP BY 1 ORDER BY 1;

-- rows inserted by another table's trigger are computed too
CREATE TABLE inbox (id int PRIMARY KEY, prompt text);
CREATE FUNCTION inbox_to_chain() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN INSERT INTO chain VALUES (NEW.id, NEW.prompt); RETURN NEW; END $$;
CREATE TRIGGER forward AFTER INSERT ON inbox FOR EACH ROW EXECUTE FUNCTION inbox_to_chain();
INSERT INTO inbox VALUES (10, 'forwarded');
SELECT id, question, second_answer FROM chain WHERE id = 10;
DROP TABLE inbox;
DROP FUNCTION inbox_to_chain();

-- an UPDATE that changes the key recomputes the row
UPDATE chain SET id = 11, topic = 'moved' WHERE id = 10;
SELECT id, question FROM chain WHERE id = 11;

-- a computed column cannot be written by hand: UPDATE and INSERT are refused
UPDATE chain SET question = 'edited by hand' WHERE id = 1;
UPDATE chain SET topic = 'tides again', second_answer = 'edited by hand' WHERE id = 1;
INSERT INTO chain (id, topic, question) VALUES (20, 'typed in', 'a hand-made question');
SELECT id, topic, question FROM chain WHERE id IN (1, 20) ORDER BY id;
UPDATE chain SET question = question WHERE id = 1;   -- writing the same value is no edit

-- recomputing a column recomputes the columns that read it (two requests per row)
SELECT (standin_stats()->>'requests')::int AS before \gset
SELECT openrouter_recompute('chain', 'question') AS recomputed;
SELECT (standin_stats()->>'requests')::int - :before - 1 AS requests_sent;
SELECT question, second_answer FROM chain WHERE id = 1;

-- SET openrouter.computing (1.0's internal switch) no longer suppresses recomputation
SET openrouter.computing = on;
UPDATE chain SET topic = 'glaciers' WHERE id = 1;
RESET openrouter.computing;
SELECT question FROM chain WHERE id = 1;

-- a role that may insert (and select and update) the table gets its rows computed
CREATE ROLE regress_writer;
GRANT SELECT, INSERT, UPDATE ON chain TO regress_writer;
SET ROLE regress_writer;
SELECT openrouter_configure_client('sk-or-v1-writer-key');
INSERT INTO chain VALUES (12, 'from the writer');
RESET ROLE;
SELECT id, question FROM chain WHERE id = 12;

-- inheritance children are left alone
CREATE TABLE chain_child () INHERITS (chain);
INSERT INTO chain_child (id, topic) VALUES (1, 'child row, same key');
SELECT openrouter_recompute('chain', 'question') AS recomputed_parent_rows;
SELECT topic, question FROM chain_child;
DROP TABLE chain_child;

-- errors
SELECT openrouter_add_computed_column('chain', 'question', $$'x'$$);
SELECT openrouter_add_computed_column('chain', 'bad', $$no_such_column$$);
SELECT openrouter_add_computed_column('chain', 'bad', $$topic$$, on_error => 'skip');
CREATE TABLE parted (id int PRIMARY KEY, prompt text) PARTITION BY RANGE (id);
SELECT openrouter_add_computed_column('parted', 'response', $$prompt$$);
DROP TABLE parted;
CREATE TABLE no_key (prompt text);
SELECT openrouter_add_computed_column('no_key', 'response', $$prompt$$);
SELECT openrouter_recompute('chain', 'topic');
SELECT openrouter_drop_computed_column('chain', 'question');
CREATE ROLE regress_mallory;
SET ROLE regress_mallory;
SELECT openrouter_add_computed_column('chain', 'stolen', $$topic$$);
DELETE FROM openrouter_computed_column;
CREATE VIEW pg_temp.bait AS SELECT 1 AS col;
INSERT INTO openrouter_computed_column VALUES ('pg_temp.bait', 'col', '1', 'abort', '{}', 1);
UPDATE openrouter_computed_column SET on_error = 'ignore';
SELECT 1 FROM openrouter_computed_column FOR UPDATE;
SELECT 1 FROM openrouter_computed_column FOR KEY SHARE;
SELECT count(*) AS visible_in_status FROM openrouter_computed_columns;
DROP VIEW pg_temp.bait;
-- a column on mallory's own temporary table, and a DROP of it, stay hers
CREATE TEMPORARY TABLE mine (id int PRIMARY KEY, prompt text);
SELECT openrouter_add_computed_column('mine', 'upper_prompt', $$upper(prompt)$$) AS filled;
RESET ROLE;
CREATE TABLE unrelated (id int);
DROP TABLE unrelated;                  -- other roles' definitions never block a DROP
SET ROLE regress_mallory;
ALTER TABLE mine DROP COLUMN upper_prompt;
SELECT count(*) AS mallorys_definitions FROM openrouter_computed_column WHERE table_oid = 'mine'::regclass;
DROP TABLE mine;
RESET ROLE;
-- a row that names no live column (only a superuser can write one) is left out of the view
INSERT INTO openrouter_computed_column (table_oid, column_name, expression, on_error, input_columns, position)
VALUES ('pg_class', 'no_such', '1', 'abort', '{}', 1);
SELECT count(*) AS bogus_in_status FROM openrouter_computed_columns WHERE table_name = 'pg_class'::regclass;
DELETE FROM openrouter_computed_column WHERE table_oid = 'pg_class'::regclass;
SELECT count(*) AS definitions_left FROM openrouter_computed_column WHERE table_oid = 'chain'::regclass;
DROP ROLE regress_mallory;
DROP OWNED BY regress_writer;
DROP ROLE regress_writer;

-- on_error: the column's is the default of the calls that pass none; an
-- explicit one in the expression keeps its meaning; openrouter.on_error is a
-- default, never an override
CREATE TABLE explicit (id int PRIMARY KEY, prompt text);
SELECT openrouter_add_computed_column('explicit', 'kept_error',
  $$openrouter_chat(openrouter_messages(prompt), 'standin/status=402', on_error => 'ignore')$$) AS filled;
INSERT INTO explicit VALUES (1, 'pay me');
SELECT kept_error->'error'->>'sqlstate' AS sqlstate FROM explicit;
SELECT openrouter_add_computed_column('explicit', 'strict',
  $$openrouter_chat(openrouter_messages(prompt), 'standin/status=402', on_error => 'abort')$$,
  on_error => 'ignore') AS filled;
SELECT count(*) AS columns FROM openrouter_computed_columns WHERE table_name = 'explicit'::regclass;
SET openrouter.on_error = 'ignore';
SELECT openrouter_chat(:'hi', 'standin/status=402', on_error => 'abort');
SELECT openrouter_chat(:'hi', 'standin/status=402')->'error'->>'sqlstate' AS defaulted;
RESET openrouter.on_error;
DROP TABLE explicit;

-- expressions mean what they meant when defined: names are bound then
CREATE SCHEMA regress_evil;
CREATE FUNCTION shout(t text) RETURNS text LANGUAGE sql IMMUTABLE AS $$ SELECT upper(t) || '!' $$;
CREATE TABLE shouts (id int PRIMARY KEY, msg text);
SELECT openrouter_add_computed_column('shouts', 'loud', $$shout(msg) || ' ' || length(msg)$$) AS filled;
SELECT expression FROM openrouter_computed_columns WHERE table_name = 'shouts'::regclass;
-- created later, and first in the inserting session's search_path
CREATE FUNCTION regress_evil.shout(t text) RETURNS text LANGUAGE sql IMMUTABLE AS $$ SELECT 'evil' $$;
CREATE FUNCTION regress_evil.length(t text) RETURNS int LANGUAGE sql IMMUTABLE AS $$ SELECT -1 $$;
SET search_path = regress_evil, public;
INSERT INTO shouts VALUES (1, 'hi');
UPDATE shouts SET msg = 'hey' WHERE id = 1;
INSERT INTO shouts VALUES (2, 'ho');
RESET search_path;
SELECT id, loud FROM shouts ORDER BY id;
DROP TABLE shouts;
DROP SCHEMA regress_evil CASCADE;
DROP FUNCTION shout(text);

-- an expression that reads the whole row has every column as input
CREATE TABLE wr (id int PRIMARY KEY, a text, b text);
INSERT INTO wr VALUES (1, 'x', 'y');
SELECT openrouter_add_computed_column('wr', 'r',
  $$openrouter_chat(openrouter_messages((to_jsonb(wr) - 'r')::text), 'openai/gpt-4o-mini')
    ->'choices'->0->'message'->>'content'$$) AS filled;
SELECT input_columns FROM openrouter_computed_columns WHERE table_name = 'wr'::regclass;
UPDATE wr SET b = 'z';
SELECT r FROM wr;
-- (the bound expression calls the row openrouter_row: renaming the table breaks nothing)
SELECT expression FROM openrouter_computed_columns WHERE table_name = 'wr'::regclass;
ALTER TABLE wr RENAME TO wr_renamed;
UPDATE wr_renamed SET a = 'w';
SELECT r FROM wr_renamed;
DROP TABLE wr_renamed;

-- any legal identifier: keys named n, "a, b", with quotes and upper case;
-- user tables named like the triggers' transition tables
CREATE TABLE openrouter_new_rows (x int);
CREATE TABLE openrouter_old_rows (x int);
CREATE TABLE "odd ""keys""" ("a, b" int, "N" text, n int, prompt text, PRIMARY KEY ("a, b", n));
SELECT openrouter_add_computed_column('"odd ""keys"""', 'answer',
  $$openrouter_chat(openrouter_messages(prompt), 'openai/gpt-4o-mini')->'choices'->0->'message'->>'content'$$,
  backfill => false) AS filled;
INSERT INTO "odd ""keys""" VALUES (1, 'x', 1, 'p1'), (1, 'y', 2, 'p2'), (2, 'z', 1, NULL);
UPDATE "odd ""keys""" SET prompt = 'p3' WHERE n = 2;
UPDATE "odd ""keys""" SET prompt = 'p4' WHERE "a, b" = 2;
SELECT * FROM "odd ""keys""" ORDER BY 1, 3;
CREATE TABLE n_key (n int PRIMARY KEY, prompt text);
INSERT INTO n_key SELECT i, 'n' || i FROM generate_series(1, 5) AS i;
SELECT openrouter_add_computed_column('n_key', 'answer',
  $$openrouter_chat(openrouter_messages(prompt), 'openai/gpt-4o-mini')->'choices'->0->'message'->>'content'$$,
  backfill => false) AS filled;
SET client_min_messages = warning;     -- (progress notices show rates)
CALL openrouter_backfill('n_key', 'answer', chunk_size => 2);
RESET client_min_messages;
SELECT count(*) FILTER (WHERE answer = 'Stand-in answer to: ' || prompt) AS answered FROM n_key;
DROP TABLE "odd ""keys""", n_key, openrouter_new_rows, openrouter_old_rows;

-- adopt => true: an existing column becomes a computed column, keeping its values
CREATE TABLE adopted (id int PRIMARY KEY, prompt text, answer text, flag boolean);
INSERT INTO adopted VALUES (1, 'kept', 'an answer paid for earlier'), (2, 'missing', NULL);
SELECT openrouter_add_computed_column('adopted', 'answer',
  $$openrouter_chat(openrouter_messages(prompt), 'openai/gpt-4o-mini')->'choices'->0->'message'->>'content'$$);
SELECT (standin_stats()->>'requests')::int AS before \gset
SELECT openrouter_add_computed_column('adopted', 'answer',
  $$openrouter_chat(openrouter_messages(prompt), 'openai/gpt-4o-mini')->'choices'->0->'message'->>'content'$$,
  adopt => true) AS filled;
SELECT (standin_stats()->>'requests')::int - :before - 1 AS requests_sent;
SELECT id, answer FROM adopted ORDER BY id;
UPDATE adopted SET prompt = 'kept, changed' WHERE id = 1;
SELECT id, answer FROM adopted ORDER BY id;
SELECT openrouter_add_computed_column('adopted', 'answer', $$prompt$$, adopt => true);
SELECT openrouter_add_computed_column('adopted', 'nothing', $$prompt$$, adopt => true);
SELECT openrouter_add_computed_column('adopted', 'flag', $$prompt$$, adopt => true);
SELECT openrouter_add_computed_column('adopted', 'prompt', $$upper(prompt)$$, adopt => true);
DROP TABLE adopted;
-- an adopted column of a composite type computed from an anonymous row
CREATE TYPE regress_pair AS (a int, b text);
CREATE TABLE adopted_rows (id int PRIMARY KEY, p text, c regress_pair);
INSERT INTO adopted_rows VALUES (1, 'x', NULL);
SELECT openrouter_add_computed_column('adopted_rows', 'c', $$ROW(id, p)$$, adopt => true) AS filled;
INSERT INTO adopted_rows VALUES (2, 'y');
SELECT * FROM adopted_rows ORDER BY id;
DROP TABLE adopted_rows;
DROP TYPE regress_pair;

-- only the documented API is callable by PUBLIC: of the functions described as
-- internal, only the trigger functions (which cannot be called directly)
SELECT p.oid::regprocedure AS internal_callable_by_public
FROM pg_proc p JOIN pg_depend d ON d.classid = 'pg_proc'::regclass AND d.objid = p.oid
WHERE d.refclassid = 'pg_extension'::regclass AND d.deptype = 'e'
  AND d.refobjid = (SELECT oid FROM pg_extension WHERE extname = 'openrouter')
  AND obj_description(p.oid, 'pg_proc') LIKE 'Internal%'
  AND EXISTS (SELECT 1 FROM aclexplode(coalesce(p.proacl, acldefault('f', p.proowner))) a
              WHERE a.grantee = 0 AND a.privilege_type = 'EXECUTE')
ORDER BY 1::text;
SELECT openrouter_computed_column_trigger();
-- every table, view and view column of the extension has a comment
SELECT c.oid::regclass AS uncommented, a.attname
FROM pg_class c JOIN pg_depend d ON d.classid = 'pg_class'::regclass AND d.objid = c.oid
LEFT JOIN pg_attribute a ON c.relkind = 'v' AND a.attrelid = c.oid AND a.attnum > 0
WHERE d.refclassid = 'pg_extension'::regclass AND d.deptype = 'e'
  AND d.refobjid = (SELECT oid FROM pg_extension WHERE extname = 'openrouter')
  AND (obj_description(c.oid, 'pg_class') IS NULL
       OR (a.attnum IS NOT NULL AND col_description(c.oid, a.attnum) IS NULL));
-- and so has every other object of the extension (functions, types, event triggers, ...)
SELECT pg_describe_object(d.classid, d.objid, 0) AS uncommented
FROM pg_depend d
WHERE d.refclassid = 'pg_extension'::regclass AND d.deptype = 'e'
  AND d.refobjid = (SELECT oid FROM pg_extension WHERE extname = 'openrouter')
  AND obj_description(d.objid, d.classid::regclass::name) IS NULL;

-- dropping a computed column takes its triggers; dropping the table, its definitions
SELECT openrouter_drop_computed_column('chain', 'second_answer');
SELECT tgname FROM pg_trigger WHERE tgrelid = 'chain'::regclass ORDER BY 1;
ALTER TABLE chain DROP COLUMN question;
SELECT count(*) AS triggers_left FROM pg_trigger WHERE tgrelid = 'chain'::regclass;
INSERT INTO chain VALUES (3, 'still works');
DROP TABLE chat_demo, questions, strict_questions, chain, no_key, tool_demo;
DROP FUNCTION calc(text, float8, float8);
DROP TABLE calc_log;
SELECT count(*) AS definitions_left FROM openrouter_computed_column;
