-- AI functions in SQL: typed answers, if / classify / agg, embeddings, rerank,
-- images and documents from the table.  First the README's examples, as
-- written; then every type of answer with a fitting and a non-fitting answer,
-- bad input, the wire, computed and generated columns, prefetch and the cache.
\set SHOW_CONTEXT never

-- what went over the wire: the stand-in's request log (one JSON line per
-- request), $OR_WORK/standin.log next to the cluster's $OR_WORK/data (test/lib.sh)
CREATE TABLE standin_log_file (path text);
INSERT INTO standin_log_file SELECT current_setting('data_directory') || '/../standin.log';
CREATE FUNCTION wire(marker text) RETURNS jsonb LANGUAGE sql AS $$
  SELECT l::jsonb FROM standin_log_file,
         regexp_split_to_table(pg_read_file(path), E'\n') WITH ORDINALITY AS t(l, n)
  WHERE l LIKE '%' || marker || '%' ORDER BY n DESC LIMIT 1 $$;
-- one statement's outcome: its value, or its SQLSTATE and message
CREATE FUNCTION outcome_of(query text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE result text;
BEGIN
  EXECUTE query INTO result;
  RETURN coalesce(result, 'NULL');
EXCEPTION WHEN OTHERS THEN
  RETURN SQLSTATE || ': ' || SQLERRM;
END $$;

--
-- The README's section "AI functions in SQL", as written
--
SELECT openrouter_text(openrouter_chat('[{"role": "user", "content": "What is the capital of France?"}]',
                                       model => 'openai/gpt-4o-mini'));

CREATE TABLE reviews (id int PRIMARY KEY, body text, photo bytea);
INSERT INTO reviews VALUES
  (1, 'Great phone, the battery lasts two days.', NULL),
  (2, 'The screen arrived broken.', NULL),
  (3, 'Fast delivery, works as described.', '\x89504e470d0a1a0a0000000d49484452'::bytea);
SET openrouter.default_model = 'openai/gpt-4o-mini';

SELECT id, openrouter_generate('How many words are in this review? ' || body, NULL::int) AS words
FROM reviews ORDER BY id;

CREATE TYPE sentiment AS ENUM ('positive', 'negative');
CREATE TYPE review_facts AS (summary text, stars int, sentiment sentiment, reviewed date);
SELECT id, facts.* FROM reviews, openrouter_generate(body, NULL::review_facts) AS facts ORDER BY id;

SELECT id, body FROM reviews WHERE openrouter_if('Is this review positive? ' || body) ORDER BY id;

CREATE TABLE topics (name text PRIMARY KEY);
INSERT INTO topics VALUES ('battery'), ('screen');
SELECT r.id, t.name FROM reviews r
JOIN topics t ON openrouter_if('Is this review about the ' || t.name || '? ' || r.body)
ORDER BY r.id, t.name;

SELECT id, openrouter_classify(body, ARRAY['battery', 'screen', 'delivery']) AS topic
FROM reviews ORDER BY id;

SELECT openrouter_agg(body, 'What do these reviews have in common?' ORDER BY id) FROM reviews;

SET openrouter.default_embedding_model = 'openai/text-embedding-3-small';
SELECT id, array_length(openrouter_embed(body), 1) AS dimensions FROM reviews ORDER BY id;
SELECT index, array_length(embedding, 1) AS dimensions
FROM openrouter_embed(ARRAY['battery life', 'screen quality'], dimensions => 256);

SET openrouter.default_rerank_model = 'cohere/rerank-v3.5';
SELECT ids[r.index] AS id, r.score
FROM (SELECT array_agg(id ORDER BY id) AS ids, array_agg(body ORDER BY id) AS bodies FROM reviews) AS d,
     openrouter_rerank('battery lasts', d.bodies) AS r;

SELECT id, openrouter_generate('Describe this photo.', NULL::text,
                               parts => ARRAY[openrouter_content_part(photo, 'image/png')]) AS description
FROM reviews WHERE photo IS NOT NULL;

--
-- openrouter_text
--
SELECT openrouter_text(openrouter_chat(openrouter_messages('hi'), 'standin/status=400', on_error => 'ignore')) IS NULL AS error_is_null,
       openrouter_text('{"choices": [{"message": {"role": "assistant", "content": [{"type": "text", "text": "a"}, {"type": "text", "text": "b"}]}}]}') AS parts,
       openrouter_text('{"choices": [{"message": {"role": "assistant", "content": null, "tool_calls": []}}]}') IS NULL AS tool_calls_only,
       openrouter_text('[1, 2]') IS NULL AS not_a_completion,
       openrouter_text(NULL) IS NULL AS null_is_null;

--
-- openrouter_generate: every supported type, with an answer that fits, one that
-- does not (misfit: every value is the string "misfit"), one that is not JSON
-- (misfit_json), and one that does not fit with on_error => 'ignore'
--
CREATE TYPE feeling AS ENUM ('happy', 'sad', 'neutral');
CREATE DOMAIN few_words AS int CHECK (VALUE < 100);
CREATE DOMAIN many_words AS int CHECK (VALUE > 100);
CREATE DOMAIN short_text AS text CHECK (length(VALUE) < 10);
CREATE TYPE person AS (name text, age int, feeling feeling, born date, tags text[]);
CREATE TABLE answer_types (t text PRIMARY KEY);
INSERT INTO answer_types VALUES ('text'), ('varchar'), ('person'), ('feeling'), ('boolean'),
  ('smallint'), ('integer'), ('bigint'), ('numeric'), ('real'), ('double precision'),
  ('date'), ('timestamp'), ('timestamptz'), ('time'), ('interval'), ('uuid'),
  ('integer[]'), ('feeling[]'), ('person[]'), ('few_words'), ('many_words'), ('short_text');
SELECT t AS type,
       outcome_of(format($$SELECT openrouter_generate('I am sad and my tea is cold', NULL::%s, 'openai/gpt-4o-mini')::text$$, t)) AS fits,
       outcome_of(format($$SELECT openrouter_generate('I am sad and my tea is cold', NULL::%s, 'standin/misfit')::text$$, t)) AS misfit,
       outcome_of(format($$SELECT openrouter_generate('I am sad and my tea is cold', NULL::%s, 'standin/misfit_json')::text$$, t)) AS not_json,
       outcome_of(format($$SELECT openrouter_generate('I am sad and my tea is cold', NULL::%s, 'standin/misfit', on_error => 'ignore')::text$$, t)) AS ignored
FROM answer_types ORDER BY t;
-- a domain's constraint applies with named arguments too
SELECT outcome_of($$SELECT openrouter_generate(prompt => 'a b c', returns => NULL::many_words,
                                               model => 'openai/gpt-4o-mini')::text$$) AS named_domain;
-- the failure, whole
SELECT openrouter_generate('I am sad', NULL::person, 'standin/misfit');
SELECT openrouter_generate('I am sad', NULL::integer, 'standin/misfit_json');
-- the type's value, not a text: fields, arithmetic, comparison
SELECT (openrouter_generate('one two three', NULL::person, 'openai/gpt-4o-mini')).age + 1 AS age_plus_one,
       openrouter_generate('one two three', NULL::int, 'openai/gpt-4o-mini') * 2 AS doubled,
       openrouter_generate('one two three', NULL::feeling[], 'openai/gpt-4o-mini') AS moods;

-- the request: strict structured output with the type's JSON Schema (the
-- mapping of openrouter_tools), a composite at the root, anything else wrapped
SELECT openrouter_generate('wire: composite', NULL::person, 'openai/gpt-4o-mini') IS NOT NULL AS answered;
SELECT jsonb_pretty(wire('wire: composite')->'body'->'response_format');
SELECT openrouter_generate('wire: integer', NULL::few_words, 'openai/gpt-4o-mini') AS answer;
SELECT jsonb_pretty(wire('wire: integer')->'body'->'response_format');
SELECT openrouter_generate('wire: text', NULL::text, 'openai/gpt-4o-mini',
                           system => 'Be brief.', model_kwargs => '{"temperature": 0}') AS answer;
SELECT wire('wire: text')->'body' AS plain_text_request;
-- the same mapping as tool parameters
CREATE FUNCTION meet(who person) RETURNS text LANGUAGE sql AS $$ SELECT who.name $$;
SELECT openrouter_tools('meet(person)')->0->'function'->'parameters'->'properties'->'who'
     = wire('wire: composite')->'body'->'response_format'->'json_schema'->'schema' AS same_schema;
SELECT openrouter_invoke_tools(openrouter_tools('meet(person)'),
  '{"choices": [{"message": {"role": "assistant", "content": null, "tool_calls": [{"id": "c1", "type": "function",
     "function": {"name": "meet", "arguments": "{\"who\": {\"name\": \"Ann\", \"age\": 3, \"feeling\": \"happy\", \"born\": \"2020-01-01\", \"tags\": []}}"}}]}}]}') AS tool_result;

-- bad input: an error before anything is sent
SELECT (standin_stats()->>'requests')::int AS before \gset
CREATE TYPE nothing AS ();
SELECT openrouter_generate('x', NULL::record, 'openai/gpt-4o-mini');
SELECT openrouter_generate('x', NULL::nothing, 'openai/gpt-4o-mini');
SELECT openrouter_generate('x', NULL::void, 'openai/gpt-4o-mini');
SELECT openrouter_generate('x', NULL::int, 'openai/gpt-4o-mini', model_kwargs => '{"response_format": {"type": "json_object"}}');
SELECT openrouter_generate('x', NULL::int, 'openai/gpt-4o-mini', model_kwargs => '{"messages": []}');
SELECT openrouter_generate('x', NULL::int, 'openai/gpt-4o-mini', parts => ARRAY['"not a part"'::jsonb]);
SELECT openrouter_generate(NULL, NULL::int, 'openai/gpt-4o-mini') IS NULL AS null_prompt_is_null;
SELECT (standin_stats()->>'requests')::int - :before - 1 AS requests_sent;

--
-- openrouter_if: WHERE and JOIN ON
--
CREATE TABLE parts_list (id int PRIMARY KEY, part text);
INSERT INTO parts_list VALUES (1, 'a bad fan'), (2, 'a new fan'), (3, 'a broken belt'), (4, 'a belt');
SELECT id, part FROM parts_list WHERE openrouter_if('Is it usable? ' || part) ORDER BY id;
SELECT id, part FROM parts_list WHERE NOT openrouter_if('Is it usable? ' || part) ORDER BY id;
CREATE TABLE machines (name text PRIMARY KEY);
INSERT INTO machines VALUES ('dryer'), ('slow press');
SELECT m.name, p.part FROM machines m JOIN parts_list p
  ON openrouter_if('Does ' || m.name || ' need ' || p.part || '?')
ORDER BY m.name, p.id;
SELECT outcome_of($$SELECT openrouter_if('x', 'standin/misfit')::text$$) AS misfit,
       openrouter_if('x', 'standin/misfit', on_error => 'ignore') IS NULL AS ignored;
SELECT wire('Does dryer need a new fan?')->'body'->'messages'->0 AS if_system_message;

--
-- openrouter_classify; an enum through openrouter_generate
--
SELECT part, openrouter_classify(part, ARRAY['fan', 'belt', 'other']) AS label FROM parts_list ORDER BY id;
SELECT jsonb_pretty(wire('a broken belt')->'body'->'response_format');
SELECT part, openrouter_generate(part, NULL::feeling) AS feeling FROM parts_list ORDER BY id;
SELECT outcome_of($$SELECT openrouter_classify('x', ARRAY['a', 'b'], 'standin/misfit')$$) AS misfit,
       openrouter_classify('x', ARRAY['a', 'b'], 'standin/misfit', on_error => 'ignore') IS NULL AS ignored;
SELECT (standin_stats()->>'requests')::int AS before \gset
SELECT openrouter_classify('x', ARRAY[]::text[]);
SELECT openrouter_classify('x', NULL);
SELECT openrouter_classify('x', ARRAY['a', NULL]);
SELECT openrouter_classify('x', ARRAY['a', 'a']);
SELECT openrouter_classify('x', ARRAY['a', '']);
SELECT (standin_stats()->>'requests')::int - :before - 1 AS requests_sent;

--
-- the default model
--
RESET openrouter.default_model;
RESET openrouter.default_rerank_model;
SELECT openrouter_generate('x', NULL::int);
SELECT openrouter_if('x');
SELECT openrouter_agg(part, 'x') FROM parts_list;
RESET openrouter.default_embedding_model;
SELECT openrouter_embed('x', model => '');
SELECT * FROM openrouter_rerank('x', ARRAY['y']);
SET openrouter.default_embedding_model = 'openai/text-embedding-3-small';
SET openrouter.default_model = 'standin/echo';
SELECT openrouter_generate('default model', NULL::text)::jsonb->'body'->>'model' AS model_sent;

--
-- openrouter_agg: one request when the rows fit; map, then combine in rounds
-- when they exceed the context window (the stand-in's context=N: 400 with
-- OpenRouter's "maximum context length is N tokens" beyond N tokens)
--
SELECT (standin_stats()->>'requests')::int AS before \gset
SELECT openrouter_agg(part, 'Which parts are broken?', 'openai/gpt-4o-mini' ORDER BY id) FROM parts_list;
SELECT (standin_stats()->>'requests')::int - :before - 1 AS requests_sent;
CREATE TABLE tickets (id int PRIMARY KEY, body text);
INSERT INTO tickets SELECT i, 'Ticket ' || i || ': the printer on floor ' || i % 5 || ' jams when printing.' FROM generate_series(1, 40) AS i;
SELECT sum(length(body)) AS characters, sum(length(body)) / 4 AS about_tokens FROM tickets;
SELECT 'What do these tickets have in common? (run ' || md5(random()::text) || ')' AS task \gset
SELECT (standin_stats()->>'requests')::int AS before \gset
SELECT openrouter_agg(body, :'task', 'standin/context=300' ORDER BY id) FROM tickets;
SELECT (standin_stats()->>'requests')::int - :before - 1 AS requests_sent;
-- the rounds: one refused request, the map requests (each part of the rows),
-- then the combine requests
SELECT count(*) FILTER (WHERE l::jsonb->'body'->'messages'->0->>'content' LIKE 'You are given a task and a list%') AS refused,
       count(*) FILTER (WHERE l::jsonb->'body'->'messages'->0->>'content' LIKE 'You are given a task and part %') AS map,
       count(*) FILTER (WHERE l::jsonb->'body'->'messages'->0->>'content' LIKE 'You are given a task and answers%') AS combine
FROM standin_log_file, regexp_split_to_table(pg_read_file(path), E'\n') AS l
WHERE l LIKE '%standin/context=300%' AND strpos(l, :'task') > 0;
-- the requests of a round are in flight together (the stand-in counts them)
SELECT standin_stats_reset() IS NOT NULL AS reset;
SELECT openrouter_agg(body, :'task' || ' together', 'standin/context=300;latency=200' ORDER BY id) IS NOT NULL AS answered
FROM tickets;
SELECT (standin_stats()->>'max_in_flight')::int > 1 AS several_in_flight;
-- a row larger than half the window cannot be sent
SELECT openrouter_agg(repeat('long ', 100), 'x', 'standin/context=100');
SELECT openrouter_agg(NULL::text, 'x', 'openai/gpt-4o-mini') IS NULL AS no_rows_no_answer;
SELECT openrouter_agg(part, NULL, 'openai/gpt-4o-mini') FROM parts_list;
SELECT openrouter_agg(part, part, 'openai/gpt-4o-mini') FROM parts_list;

--
-- openrouter_embed: one input, many inputs in one request, a chosen dimension
--
SELECT (standin_stats()->>'requests')::int AS before \gset
SELECT array_length(openrouter_embed('hello'), 1) AS default_dimensions,
       array_length(openrouter_embed('hello', dimensions => 8), 1) AS eight,
       openrouter_embed('hello', dimensions => 8) = openrouter_embed('hello', dimensions => 8) AS deterministic,
       openrouter_embed('hello', dimensions => 8) <> openrouter_embed('world', dimensions => 8) AS distinct_inputs,
       round((SELECT sum(x * x) FROM unnest(openrouter_embed('hello', dimensions => 8)) AS x)::numeric, 3) AS unit_length,
       pg_typeof(openrouter_embed('hello')) AS type;
SELECT (standin_stats()->>'requests')::int - :before - 1 AS requests_sent;
SELECT array_length(openrouter_embed('wire: embedding', dimensions => 8), 1) AS dimensions;
SELECT wire('wire: embedding')->>'path' AS path, wire('wire: embedding')->'body' AS body;
SELECT (standin_stats()->>'requests')::int AS before \gset
SELECT index, array_length(embedding, 1) AS dimensions,
       embedding = openrouter_embed(input, dimensions => 4) AS same_as_one_by_one
FROM openrouter_embed(ARRAY['one', 'two', 'three'], dimensions => 4)
JOIN unnest(ARRAY['one', 'two', 'three']) WITH ORDINALITY AS i(input, n) ON n = index ORDER BY index;
SELECT (standin_stats()->>'requests')::int - :before - 1 AS requests_sent;
SELECT wire('"input":["one","two","three"]')->'body' AS many_body;
SELECT (standin_stats()->>'requests')::int AS before \gset
SELECT openrouter_embed('');
SELECT openrouter_embed('x', dimensions => 0);
SELECT * FROM openrouter_embed(ARRAY[]::text[]);
SELECT * FROM openrouter_embed(ARRAY['a', NULL]);
SELECT openrouter_embed(NULL::text) IS NULL AS null_is_null;
SELECT (standin_stats()->>'requests')::int - :before - 1 AS requests_sent;
-- a failure ('ignore': NULL): the stand-in refuses a body without input only;
-- here the base URL has no such endpoint
SET openrouter.base_url = 'http://127.0.0.1:1/api/v1';
SET openrouter.max_retries = 0;
SELECT openrouter_embed('unreachable', on_error => 'ignore') IS NULL AS ignored;
SELECT count(*) AS rows FROM openrouter_embed(ARRAY['unreachable'], on_error => 'ignore');
SELECT count(*) AS rows FROM openrouter_rerank('q', ARRAY['unreachable'], on_error => 'ignore');
RESET openrouter.base_url;
RESET openrouter.max_retries;

--
-- openrouter_rerank: most relevant first
--
SET openrouter.default_rerank_model = 'cohere/rerank-v3.5';
SELECT index, score FROM openrouter_rerank('red apple pie',
  ARRAY['a blue car', 'apple pie with red apples', 'an apple', 'red paint']);
SELECT index, score FROM openrouter_rerank('red apple pie',
  ARRAY['a blue car', 'apple pie with red apples', 'an apple', 'red paint'], top_n => 2);
SELECT wire('red apple pie')->>'path' AS path, wire('red apple pie')->'body' AS body;
SELECT * FROM openrouter_rerank('q', ARRAY[]::text[]);
SELECT * FROM openrouter_rerank('q', ARRAY['a', NULL]);
SELECT * FROM openrouter_rerank('q', ARRAY['a'], top_n => 0);

--
-- images and documents from the table
--
SELECT openrouter_content_part('\x89504e47'::bytea, 'image/png') AS image,
       openrouter_content_part('%PDF-1.4'::bytea, 'application/pdf', 'manual.pdf') AS pdf,
       openrouter_content_part_url('https://example.com/cat.jpg') AS image_url,
       openrouter_content_part_url('https://example.com/docs/guide.pdf?v=2') AS pdf_url,
       openrouter_content_part(NULL, 'image/png') IS NULL AS null_is_null;
SELECT openrouter_content_part('\x00'::bytea, 'text/html');
SELECT openrouter_content_part('\x00'::bytea, NULL);
SELECT openrouter_content_part_url('ftp://example.com/a.png');
SELECT openrouter_messages('What is in the picture?', ARRAY[openrouter_content_part('\xff'::bytea, 'image/jpeg')],
                           system => 'Be brief.');
-- an image from a bytea column reaches the wire as a data URL
SELECT openrouter_generate('Describe this photo.', NULL::text, 'standin/echo',
         parts => ARRAY[openrouter_content_part(photo, 'image/png')])::jsonb->'body'->'messages' AS sent
FROM reviews WHERE id = 3;
SELECT decode(split_part(wire('Describe this photo.')->'body'->'messages'->0->'content'->1->'image_url'->>'url', ',', 2), 'base64')
       = (SELECT photo FROM reviews WHERE id = 3) AS same_bytes;

--
-- in a computed column, in a generated column, through openrouter_prefetch
-- and the transaction's request cache
--
SET openrouter.default_model = 'openai/gpt-4o-mini';
CREATE TABLE notes (id int PRIMARY KEY, body text);
INSERT INTO notes VALUES (1, 'the fan is broken'), (2, 'all good here');
SELECT openrouter_add_computed_column('notes', 'words', $$openrouter_generate(body, NULL::int)$$) AS filled;
SELECT openrouter_add_computed_column('notes', 'fine', $$openrouter_if('Is all well? ' || body)$$) AS filled;
SELECT openrouter_add_computed_column('notes', 'odd', $$openrouter_generate(body, NULL::int, 'standin/misfit')$$,
                                      on_error => 'ignore') AS filled;
INSERT INTO notes VALUES (3, 'one two three four five six');
SELECT id, words, fine, odd FROM notes ORDER BY id;
SELECT column_name, format_type(atttypid, atttypmod) AS type, error_rows, pending_rows
FROM openrouter_computed_columns c JOIN pg_attribute a ON a.attrelid = c.table_name AND a.attname = c.column_name
WHERE table_name = 'notes'::regclass ORDER BY column_name;
CREATE TABLE docs (id int PRIMARY KEY, body text,
  embedding real[] GENERATED ALWAYS AS (openrouter_embed(body, 'openai/text-embedding-3-small', 4)) STORED);
INSERT INTO docs (id, body) VALUES (1, 'hello'), (2, NULL);
SELECT id, array_length(embedding, 1) AS dimensions,
       embedding = openrouter_embed('hello', 'openai/text-embedding-3-small', 4) AS same
FROM docs ORDER BY id;
-- prefetch collects the calls and sends them together; the evaluation for
-- real sends nothing
BEGIN;
SELECT openrouter_prefetch($$SELECT openrouter_generate('prefetched ' || part, NULL::int),
                                    openrouter_embed('prefetched ' || part)
                             FROM parts_list$$) AS sent;
SELECT (standin_stats()->>'requests')::int AS before \gset
SELECT id, openrouter_generate('prefetched ' || part, NULL::int) AS words,
       array_length(openrouter_embed('prefetched ' || part), 1) AS dimensions
FROM parts_list ORDER BY id;
SELECT (standin_stats()->>'requests')::int - :before - 1 AS requests_sent;
COMMIT;
RESET openrouter.default_model;
RESET openrouter.default_embedding_model;
RESET openrouter.default_rerank_model;
