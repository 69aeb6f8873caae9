-- Tools: SQL functions as OpenRouter tools.  openrouter_tools() makes the
-- specs, openrouter_invoke_tools() runs what the model asked for,
-- openrouter_tool_messages() makes the follow-up messages.
-- (Computed columns that fill themselves are another feature; here the
-- columns are filled with UPDATE, which is what they compute.)
\set hi '[{"role": "user", "content": "hi"}]'
SET TimeZone = 'UTC';
SET DateStyle = 'ISO, YMD';
SET IntervalStyle = 'postgres';

-- The stand-in answers with the tool calls its model name spells out:
-- standin/tool_calls=NAME:BASE64URL(ARGUMENTS),...  (ids call_0_standin, ...)
CREATE FUNCTION tool_calls_model(VARIADIC calls text[]) RETURNS text
LANGUAGE sql IMMUTABLE AS $$
  SELECT 'standin/tool_calls=' || string_agg(calls[i] || ':' ||
           rtrim(translate(encode(convert_to(calls[i + 1], 'UTF8'), 'base64'), E'+/\n', '-_'), '='),
           ',' ORDER BY i)
  FROM generate_series(1, cardinality(calls), 2) AS i $$;

-- a response whose model called those tools
CREATE FUNCTION tool_response(VARIADIC calls text[]) RETURNS jsonb
LANGUAGE sql AS $$
  SELECT openrouter_chat('[{"role": "user", "content": "go"}]', tool_calls_model(VARIADIC calls)) $$;

-- how a statement failed (or 'ok'), for tables of outcomes
CREATE FUNCTION failure(statement text, OUT state text, OUT message text, OUT detail text, OUT hint text)
LANGUAGE plpgsql AS $$
BEGIN
  EXECUTE statement;
  state := 'ok';
EXCEPTION WHEN OTHERS THEN
  GET STACKED DIAGNOSTICS state = RETURNED_SQLSTATE, message = MESSAGE_TEXT,
                          detail = PG_EXCEPTION_DETAIL, hint = PG_EXCEPTION_HINT;
END $$;

--
-- The seed's calculator example, end to end
--
CREATE FUNCTION calculator(operation text, a float8, b float8) RETURNS jsonb
LANGUAGE plpgsql AS $$
BEGIN
  RETURN jsonb_build_object('result', CASE operation
    WHEN 'add' THEN to_jsonb(a + b)
    WHEN 'subtract' THEN to_jsonb(a - b)
    WHEN 'multiply' THEN to_jsonb(a * b)
    WHEN 'divide' THEN CASE WHEN b <> 0 THEN to_jsonb(a / b) ELSE '"Error: Division by zero"' END
    ELSE '"Error: Unknown operation"' END);
END $$;
COMMENT ON FUNCTION calculator(text, float8, float8) IS 'Perform basic arithmetic operations';

-- tools = pxt.func.Tools([calculator]); tools.tool_specs
SELECT jsonb_pretty(openrouter_tools('calculator(text,float8,float8)')) AS tool_specs;

-- the model column scripts the stand-in (in the seed it is 'openai/gpt-4o-mini')
CREATE TABLE tool_demo (id serial PRIMARY KEY, prompt text, model text);
INSERT INTO tool_demo (prompt, model) VALUES
  ('What is 2 + 2?',
   tool_calls_model('calculator', '{"operation": "add", "a": 2, "b": 2}')),
  ('What is 6 times 7, and 1 divided by 0?',
   tool_calls_model('calculator', '{"operation": "multiply", "a": 6, "b": 7}',
                    'calculator', '{"operation": "divide", "a": 1, "b": 0}')),
  ('What is the capital of France?', 'openai/gpt-4o-mini');

-- t.add_computed_column(tool_response=openrouter.chat_completions(messages, ..., tools=tools.tool_specs, tool_choice=...))
ALTER TABLE tool_demo ADD COLUMN tool_response jsonb;
UPDATE tool_demo SET tool_response = openrouter_chat(
  jsonb_build_array(jsonb_build_object('role', 'user', 'content', prompt)),
  model => model,
  tools => openrouter_tools('calculator(text,float8,float8)'),
  tool_choice => '{"auto": true, "required": false, "tool": null, "parallel_tool_calls": true}');
SELECT id, tool_response->'choices'->0->>'finish_reason' AS finish_reason,
       jsonb_path_query_array(tool_response, '$.choices[0].message.tool_calls[*].function') AS tool_calls
FROM tool_demo ORDER BY id;

-- t.add_computed_column(tool_results=openrouter.invoke_tools(tools, t.tool_response))
ALTER TABLE tool_demo ADD COLUMN tool_results jsonb;
UPDATE tool_demo SET tool_results = openrouter_invoke_tools(
  openrouter_tools('calculator(text,float8,float8)'), tool_response);
SELECT prompt, tool_results FROM tool_demo ORDER BY id;

-- what the request carried: the specs, tool_choice, and parallel_tool_calls
-- (which Pixeltable's own integration drops)
SELECT jsonb_pretty((sent(openrouter_chat(:'hi', 'standin/echo',
  tools => openrouter_tools('calculator(text,float8,float8)'),
  tool_choice => '{"auto": true, "required": false, "tool": null, "parallel_tool_calls": true}'))->'body')
  - 'messages') AS body;
SELECT c AS tool_choice, b->'tool_choice' AS sent_tool_choice, b->'parallel_tool_calls' AS sent_parallel_tool_calls
FROM unnest(ARRAY['{"auto": true, "parallel_tool_calls": false}',
                  '{"required": true, "parallel_tool_calls": true}',
                  '{"tool": "calculator", "parallel_tool_calls": false}']::jsonb[]) AS c,
     LATERAL (SELECT sent(openrouter_chat(:'hi', 'standin/echo',
              tools => openrouter_tools('calculator(text,float8,float8)'), tool_choice => c))->'body' AS b) AS e;

-- the second turn: the messages of the follow-up request
ALTER TABLE tool_demo ADD COLUMN follow_up jsonb;
UPDATE tool_demo SET follow_up = openrouter_tool_messages(
  jsonb_build_array(jsonb_build_object('role', 'user', 'content', prompt)), tool_response, tool_results);
SELECT jsonb_pretty(follow_up) AS follow_up FROM tool_demo WHERE id = 2;
SELECT id, jsonb_array_length(follow_up) AS messages,
       follow_up->-1->>'role' AS last_role FROM tool_demo ORDER BY id;
-- it goes out as is, and gets an answer
SELECT id, sent(openrouter_chat(follow_up, 'standin/echo',
                tools => openrouter_tools('calculator(text,float8,float8)')))->'body'->'messages' = follow_up AS sent_as_is
FROM tool_demo ORDER BY id;
SELECT openrouter_chat(follow_up, 'openai/gpt-4o-mini',
         tools => openrouter_tools('calculator(text,float8,float8)'))->'choices'->0->'message'->>'content' AS answer
FROM tool_demo WHERE id = 2;

--
-- Pixeltable's own tool test: stock_price and weather
--
CREATE FUNCTION stock_price(ticker text) RETURNS float8
LANGUAGE sql AS $$
  SELECT CASE ticker WHEN 'NVDA' THEN 131.17 WHEN 'UAL' THEN 82.88 ELSE 0.0 END::float8 $$;
COMMENT ON FUNCTION stock_price(text) IS 'Get today''s stock price for a given ticker symbol.';
CREATE FUNCTION weather(city text) RETURNS text
LANGUAGE sql AS $$
  SELECT CASE WHEN city = 'San Francisco' THEN 'Cloudy with a chance of meatballs' ELSE 'Unknown city' END $$;
COMMENT ON FUNCTION weather(text) IS 'Get today''s weather forecast for a given city.';

SELECT jsonb_pretty(openrouter_tools('stock_price(text)', 'weather(text)')) AS tool_specs;

CREATE TABLE pxt_tools (id serial PRIMARY KEY, prompt text, model text, response jsonb, tool_results jsonb);
INSERT INTO pxt_tools (prompt, model) VALUES
  ('What is the stock price of NVDA today?',
   tool_calls_model('stock_price', '{"ticker": "NVDA"}')),
  ('What is the stock price of NVDA and UAL today?',
   tool_calls_model('stock_price', '{"ticker": "NVDA"}', 'stock_price', '{"ticker": "UAL"}')),
  ('What is the weather in San Francisco?',
   tool_calls_model('weather', '{"city": "San Francisco"}')),
  ('What is the stock price of UAL, and the weather in San Francisco?',
   tool_calls_model('stock_price', '{"ticker": "UAL"}', 'weather', '{"city": "San Francisco"}')),
  ('How many grams are in a pound?', 'openai/gpt-4o-mini');
UPDATE pxt_tools SET response = openrouter_chat(
  jsonb_build_array(jsonb_build_object('role', 'user', 'content', prompt)), model,
  tools => openrouter_tools('stock_price(text)', 'weather(text)'),
  tool_choice => '{"auto": true, "required": false, "tool": null, "parallel_tool_calls": true}');
UPDATE pxt_tools SET tool_results = openrouter_invoke_tools(
  openrouter_tools('stock_price(text)', 'weather(text)'), response);
SELECT prompt, tool_results FROM pxt_tools ORDER BY id;

--
-- Every type mapping, and what the model's JSON becomes
--
CREATE TYPE tool_mood AS ENUM ('sad', 'ok', 'happy');
ALTER TYPE tool_mood ADD VALUE 'meh' BEFORE 'ok';
CREATE DOMAIN tool_positive AS integer CHECK (VALUE > 0);
CREATE DOMAIN tool_tags AS text[] CHECK (cardinality(VALUE) <= 3);
CREATE DOMAIN tool_doc AS jsonb CHECK (jsonb_typeof(VALUE) = 'object');
CREATE FUNCTION every_type(
  t text, vc varchar, bp char(3), nm name, i2 smallint, i4 integer, i8 bigint,
  f4 real, f8 double precision, n numeric, b boolean, j json, jb jsonb,
  ta text[], ia integer[], ja jsonb[], m tool_mood, ma tool_mood[], p tool_positive, tg tool_tags, doc tool_doc,
  d date, tm time, ttz timetz, ts timestamp, tstz timestamptz, iv interval,
  u uuid, r int4range, ip inet,
  opt text DEFAULT 'default text', opt_n integer DEFAULT 40 + 2)
RETURNS jsonb LANGUAGE sql AS $$
  SELECT jsonb_build_object('t', t, 'vc', vc, 'bp', bp, 'nm', nm, 'i2', i2, 'i4', i4, 'i8', i8,
    'f4', f4, 'f8', f8, 'n', n, 'b', b, 'j', j, 'jb', jb, 'ta', ta, 'ia', ia, 'ja', ja, 'm', m, 'ma', ma,
    'p', p, 'tg', tg, 'doc', doc, 'd', d, 'tm', tm, 'ttz', ttz, 'ts', ts, 'tstz', tstz, 'iv', iv,
    'u', u, 'r', r, 'ip', ip, 'opt', opt, 'opt_n', opt_n) $$;
COMMENT ON FUNCTION every_type IS $$Takes one argument of every kind.
The description is the whole comment, lines and all.$$;
SELECT oid::regprocedure AS every_type FROM pg_proc WHERE proname = 'every_type' \gset
SELECT a.name AS argument, format_type(a.type, NULL) AS sql_type,
       p.properties->a.name AS json_schema, p.required ? a.name AS required
FROM (SELECT s->'function'->'parameters'->'properties' AS properties,
             s->'function'->'parameters'->'required' AS required
      FROM jsonb_array_elements(openrouter_tools(:'every_type')) AS s) AS p,
     pg_proc, unnest(proargtypes::oid[], proargnames) WITH ORDINALITY AS a(type, name, n)
WHERE pg_proc.oid = :'every_type'::regprocedure
ORDER BY a.n;
SELECT s->'function'->>'description' AS description,
       s->'function'->'parameters'->'additionalProperties' AS additional_properties
FROM jsonb_array_elements(openrouter_tools(:'every_type')) AS s;

\set every_type_args '{"t": "Ünïcödé \\"quoted\\"", "vc": "varchar", "bp": "ab", "nm": "a_name", "i2": 7, "i4": 2.0, "i8": "9007199254740993", "f4": 1.5, "f8": 1e-3, "n": 12345678901234567890.123, "b": true, "j": {"k": [1, "two", null]}, "jb": "just a string", "ta": ["a", "b,c", "d\\"e", "{}", null], "ia": [1, null, 3], "ja": [{"x": 1}, [2], "three", null], "m": "meh", "ma": ["sad", "happy"], "p": 5, "tg": ["x", "y"], "doc": {"title": "T"}, "d": "2024-02-29", "tm": "13:45:00", "ttz": "13:45:00+02:00", "ts": "2024-02-29T13:45:00", "tstz": "2024-02-29T13:45:00Z", "iv": "P1DT2H30M", "u": "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11", "r": "[1,5)", "ip": "192.168.0.1/24"}'
SELECT jsonb_pretty(openrouter_invoke_tools(openrouter_tools(:'every_type'),
  tool_response('every_type', :'every_type_args'))->'every_type'->0) AS converted;

-- other JSON for the same parameters: numbers and booleans as text, text as
-- numbers, an object as text, arrays as PostgreSQL array text, null as NULL;
-- json/jsonb parameters get the JSON value itself
SELECT jsonb_pretty((r->'every_type'->0) - '{u,r,ip,d,tm,ttz,ts,tstz,iv,doc,ja,tg,p,m,ma,f4,f8,n,nm,vc,bp}'::text[]) AS converted
FROM openrouter_invoke_tools(openrouter_tools(:'every_type'), tool_response('every_type',
  (:'every_type_args'::jsonb
    || '{"t": {"an": "object"}, "i2": "8", "i4": -3, "i8": 10, "b": "yes", "j": null, "jb": null,
        "ta": "{a,\"b c\"}", "ia": "{4,5}", "opt": null, "opt_n": 1}')::text)) AS r;

-- JSON null: SQL NULL, except for json and jsonb, which get JSON's null
CREATE FUNCTION show_nulls(t text, j json, jb jsonb) RETURNS jsonb LANGUAGE sql AS $$
  SELECT jsonb_build_object('t', coalesce(t, 'SQL NULL'), 'j', coalesce(j::text, 'SQL NULL'),
                            'jb', coalesce(jb::text, 'SQL NULL')) $$;
SELECT openrouter_invoke_tools(openrouter_tools('show_nulls(text,json,jsonb)'),
  tool_response('show_nulls', '{"t": null, "j": null, "jb": null}')) AS results;

-- defaults: missing optional arguments take their default expressions
CREATE FUNCTION greet(name text, greeting text DEFAULT 'Hello', punctuation text DEFAULT repeat('!', 2)) RETURNS text
LANGUAGE sql AS $$ SELECT greeting || ', ' || name || punctuation $$;
SELECT s->'function'->'parameters' AS parameters FROM jsonb_array_elements(openrouter_tools('greet(text,text,text)')) AS s;
SELECT openrouter_invoke_tools(openrouter_tools('greet(text,text,text)'), tool_response(
  'greet', '{"name": "Ada"}', 'greet', '{"name": "Bob", "punctuation": "?"}',
  'greet', '{"punctuation": ".", "greeting": "Bye", "name": "Cy"}')) AS results;

-- no arguments, no comment; arguments "" or absent (as some models send them)
CREATE FUNCTION dice() RETURNS integer LANGUAGE sql AS $$ SELECT 4 $$;
SELECT openrouter_tools('dice()') AS spec;
SELECT openrouter_invoke_tools(openrouter_tools('dice()'), tool_response('dice', '', 'dice', '{}', 'dice', ' ')) AS results;
SELECT openrouter_invoke_tools(openrouter_tools('dice()'),
  '{"choices": [{"message": {"role": "assistant", "tool_calls": [
     {"id": "toolu_1", "type": "function", "function": {"name": "dice"}},
     {"id": "toolu_2", "type": "function", "function": {"name": "dice", "arguments": {}}}]}}]}') AS results;

-- VARIADIC: an array parameter; results of other types; void and NULL results
CREATE FUNCTION total(VARIADIC amounts numeric[]) RETURNS numeric LANGUAGE sql AS $$ SELECT sum(a) FROM unnest(amounts) a $$;
CREATE TYPE tool_point AS (x int, y int);
CREATE FUNCTION make_point(x int, y int) RETURNS tool_point LANGUAGE sql AS $$ SELECT ROW(x, y)::tool_point $$;
CREATE FUNCTION nothing(x int) RETURNS void LANGUAGE sql AS $$ SELECT $$;
CREATE FUNCTION strict_echo(x text) RETURNS text LANGUAGE sql STRICT AS $$ SELECT x $$;
SELECT s->'function'->>'name' AS name, s->'function'->'parameters'->'properties' AS properties
FROM jsonb_array_elements(openrouter_tools('total(numeric[])', 'make_point(integer,integer)', 'nothing(integer)', 'strict_echo(text)')) AS s;
SELECT openrouter_invoke_tools(openrouter_tools('total(numeric[])', 'make_point(integer,integer)', 'nothing(integer)', 'strict_echo(text)'),
  tool_response('total', '{"amounts": [1.5, 2.25, 3]}', 'make_point', '{"x": 1, "y": -2}',
                'nothing', '{"x": 1}', 'strict_echo', '{"x": null}', 'strict_echo', '{"x": "hi"}')) AS results;

-- what the specs look like passes OpenRouter's official schema (ChatFunctionTool):
-- type "function", a name of 1 to 64 [A-Za-z0-9_-], a string description,
-- parameters an object; and nothing else
SELECT count(*) AS specs,
       bool_and(s->>'type' = 'function' AND (SELECT array_agg(k ORDER BY k) FROM jsonb_object_keys(s) k) = '{function,type}') AS shape,
       bool_and(s->'function'->>'name' ~ '^[A-Za-z0-9_-]{1,64}$') AS names,
       bool_and(coalesce(jsonb_typeof(s->'function'->'description'), 'string') = 'string') AS descriptions,
       bool_and(jsonb_typeof(s->'function'->'parameters') = 'object'
                AND s->'function'->'parameters'->>'type' = 'object') AS parameters,
       bool_and((SELECT array_agg(k) FROM jsonb_object_keys(s->'function') k) <@ '{name,description,parameters}') AS function_keys
FROM jsonb_array_elements(openrouter_tools('calculator(text,float8,float8)', 'stock_price(text)', 'weather(text)',
       :'every_type', 'greet(text,text,text)', 'dice()', 'total(numeric[])', 'make_point(integer,integer)',
       'nothing(integer)', 'strict_echo(text)', 'show_nulls(text,json,jsonb)')) AS s;

-- and they go out as they are (the spec check validates these requests)
SELECT sent(openrouter_chat(:'hi', 'standin/echo', tools => t))->'body'->'tools' = t AS sent_as_is
FROM openrouter_tools('calculator(text,float8,float8)', 'stock_price(text)', 'weather(text)',
       :'every_type', 'greet(text,text,text)', 'dice()', 'total(numeric[])', 'make_point(integer,integer)',
       'nothing(integer)', 'strict_echo(text)', 'show_nulls(text,json,jsonb)') AS t;

--
-- What cannot be a tool
--
CREATE FUNCTION unnamed_arg(integer, label text) RETURNS integer LANGUAGE sql AS $$ SELECT $1 $$;
CREATE PROCEDURE tool_proc(x integer) LANGUAGE sql AS $$ SELECT 1 $$;
CREATE FUNCTION tool_srf(n integer) RETURNS SETOF integer LANGUAGE sql AS $$ SELECT generate_series(1, n) $$;
CREATE FUNCTION tool_table(n integer) RETURNS TABLE (i integer) LANGUAGE sql AS $$ SELECT generate_series(1, n) $$;
CREATE FUNCTION tool_out(x integer, OUT doubled integer) LANGUAGE sql AS $$ SELECT x * 2 $$;
CREATE FUNCTION tool_inout(INOUT x integer) LANGUAGE sql AS $$ SELECT x * 2 $$;
CREATE FUNCTION tool_poly(x anyelement) RETURNS anyelement LANGUAGE sql AS $$ SELECT x $$;
CREATE FUNCTION tool_any(x anyelement) RETURNS text LANGUAGE sql AS $$ SELECT x::text $$;
CREATE FUNCTION tool_composite(p tool_point) RETURNS integer LANGUAGE sql AS $$ SELECT p.x $$;
CREATE FUNCTION tool_trigger() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RETURN NULL; END $$;
CREATE FUNCTION "get weather"(city text) RETURNS text LANGUAGE sql AS $$ SELECT city $$;
CREATE FUNCTION "wetter_für"(city text) RETURNS text LANGUAGE sql AS $$ SELECT city $$;
CREATE FUNCTION weather(city text, day date) RETURNS text LANGUAGE sql AS $$ SELECT city $$;
SELECT f AS functions, (failure(format('SELECT openrouter_tools(%s)', f))).*
FROM unnest(ARRAY[
  $$'unnamed_arg(integer, text)'$$,
  $$'tool_proc(integer)'$$,
  $$'sum(integer)'$$,
  $$'row_number()'$$,
  $$'tool_srf(integer)'$$,
  $$'tool_table(integer)'$$,
  $$'tool_out(integer)'$$,
  $$'tool_inout(integer)'$$,
  $$'tool_poly(anyelement)'$$,
  $$'tool_any(anyelement)'$$,
  $$'tool_composite(tool_point)'$$,
  $$'tool_trigger()'$$,
  $$'"get weather"(text)'$$,
  $$'"wetter_für"(text)'$$,
  $$'weather(text)', 'weather(text, date)'$$,
  $$'calculator(text,float8,float8)', 'calculator(text,float8,float8)'$$,
  $$VARIADIC ARRAY['dice()', NULL]::regprocedure[]$$,
  $$'no_such_function(text)'$$]) AS f;
SELECT openrouter_tools(VARIADIC NULL::regprocedure[]) IS NULL AS null_gives_null,
       openrouter_tools(VARIADIC '{}'::regprocedure[]) AS no_functions;
-- the errors as they are raised
SELECT openrouter_tools('unnamed_arg(integer, text)');
SELECT openrouter_tools('weather(text)', 'weather(text, date)');
DROP FUNCTION weather(text, date);

--
-- Only the declared functions can run
--
CREATE TABLE missile_log (target text, at timestamptz DEFAULT now());
CREATE FUNCTION launch_missiles(target text) RETURNS text
LANGUAGE sql AS $$ INSERT INTO missile_log (target) VALUES (target) RETURNING 'launched at ' || target $$;
COMMENT ON FUNCTION launch_missiles(text) IS 'Never to be called by a model.';
-- the model names an existing function that tools does not declare
SELECT openrouter_invoke_tools(openrouter_tools('calculator(text,float8,float8)'),
  tool_response('calculator', '{"operation": "add", "a": 1, "b": 1}', 'launch_missiles', '{"target": "moon"}'));
SELECT jsonb_pretty(openrouter_invoke_tools(openrouter_tools('calculator(text,float8,float8)'),
  tool_response('calculator', '{"operation": "add", "a": 1, "b": 1}', 'launch_missiles', '{"target": "moon"}'),
  on_error => 'ignore')) AS results;
-- nor a schema-qualified name, nor another spelling of a declared name; and a
-- spec that does not describe the function of its name runs nothing
SELECT openrouter_invoke_tools(openrouter_tools('weather(text)'),
  tool_response('public.launch_missiles', '{"target": "moon"}', 'WEATHER', '{"city": "Paris"}'), on_error => 'ignore') AS results;
SELECT (failure($$SELECT openrouter_invoke_tools('[{"type": "function", "function": {"name": "weather",
  "description": "Never to be called by a model.", "parameters": {"type": "object", "properties": {"target": {"type": "string"}},
  "required": ["target"], "additionalProperties": false}}}]', tool_response('weather', '{"target": "moon"}'))$$)).*;
SELECT count(*) AS missiles_launched FROM missile_log;

--
-- Calls that fail: abort raises, ignore leaves an error in the call's place
--
CREATE TABLE tool_log (message text);
CREATE FUNCTION log_message(message text, fail boolean DEFAULT false) RETURNS text
LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO tool_log VALUES (message);
  IF fail THEN
    RAISE EXCEPTION 'could not log "%"', message USING DETAIL = 'The tool was told to fail.', HINT = 'Do not pass fail.';
  END IF;
  RETURN 'logged ' || message;
END $$;
CREATE FUNCTION ratio(a integer, b integer) RETURNS integer LANGUAGE sql AS $$ SELECT a / b $$;
\set log_tools 'openrouter_tools(''log_message(text,boolean)'', ''calculator(text,float8,float8)'', ''ratio(integer,integer)'')'
SELECT c.what, (failure(format('SELECT openrouter_invoke_tools(%s, %L)', :'log_tools', c.response))).*
FROM (VALUES
  ('arguments not JSON', tool_response('calculator', '{"operation": "add", "a": 1,')),
  ('arguments a JSON array', tool_response('calculator', '[1, 2]')),
  ('arguments with a NUL character', tool_response('calculator', '{"operation": "\u0000"}')),
  ('arguments a number', '{"choices": [{"message": {"tool_calls": [{"id": "x", "type": "function", "function": {"name": "calculator", "arguments": 5}}]}}]}'::jsonb),
  ('an argument too many', tool_response('calculator', '{"operation": "add", "a": 1, "b": 2, "c": 3}')),
  ('an argument missing', tool_response('calculator', '{"operation": "add", "a": 1}')),
  ('a number as text', tool_response('calculator', '{"operation": "add", "a": "one", "b": 2}')),
  ('a boolean as a number', tool_response('calculator', '{"operation": "add", "a": true, "b": 2}')),
  ('a call naming no tool', '{"choices": [{"message": {"tool_calls": [{"id": "x", "type": "function", "function": {}}]}}]}'),
  ('a tool that raises', tool_response('log_message', '{"message": "m1", "fail": true}')),
  ('a tool raising division_by_zero', tool_response('log_message', '{"message": "m2"}', 'ratio', '{"a": 1, "b": 0}'))
) AS c(what, response);
-- the type errors of every kind of parameter
SELECT c.args, (failure(format('SELECT openrouter_invoke_tools(openrouter_tools(%L), %L)', :'every_type',
                               tool_response('every_type', (:'every_type_args'::jsonb || c.args::jsonb)::text)))).*
FROM (VALUES ('{"i2": 40000}'), ('{"i4": 1.5}'), ('{"i8": {"a": 1}}'), ('{"b": "maybe"}'), ('{"n": "lots"}'),
             ('{"m": "angry"}'), ('{"ma": ["sad", "angry"]}'), ('{"p": 0}'), ('{"p": null}'),
             ('{"tg": ["a", "b", "c", "d"]}'), ('{"doc": [1]}'), ('{"ia": [1, "two"]}'), ('{"ia": [[1, 2], [3, 4]]}'),
             ('{"ta": "not an array"}'), ('{"d": "2024-02-30"}'), ('{"iv": "forever"}'), ('{"u": "not-a-uuid"}'),
             ('{"r": "[5,1)"}')) AS c(args);
-- as raised, with the tool call in the context
SELECT openrouter_invoke_tools(openrouter_tools('calculator(text,float8,float8)'),
  tool_response('calculator', '{"operation": "add", "a": "one", "b": 2}'));
SELECT openrouter_invoke_tools(:log_tools, tool_response('log_message', '{"message": "m1", "fail": true}'));
-- abort checks every call's arguments before running any
SELECT openrouter_invoke_tools(:log_tools,
  tool_response('log_message', '{"message": "m3"}', 'calculator', '{"operation": "add"}'));
SELECT count(*) AS logged FROM tool_log;
-- ignore: the other calls run; a failed call's effects are undone
SELECT jsonb_pretty(openrouter_invoke_tools(:log_tools,
  tool_response('log_message', '{"message": "first"}', 'log_message', '{"message": "second", "fail": true}',
                'calculator', '{"operation": "add", "a": "one", "b": 2}', 'log_message', '{"message": "third"}',
                'calculator', '{"operation": "subtract", "a": 5, "b": 3}', 'launch_missiles', '{"target": "moon"}'),
  on_error => 'ignore')) AS results;
-- a call that names no tool is listed under ""
SELECT openrouter_invoke_tools(openrouter_tools('dice()'),
  '{"choices": [{"message": {"tool_calls": [{"id": "x", "type": "function", "function": {}},
                                            {"id": "y", "type": "function", "function": {"name": "dice"}}]}}]}',
  on_error => 'ignore') AS results;
SELECT message FROM tool_log ORDER BY message;
SELECT count(*) AS missiles_launched FROM missile_log;

-- a cancel is never turned into an error entry
CREATE FUNCTION slow_tool(seconds float8) RETURNS text LANGUAGE sql AS $$ SELECT pg_sleep(seconds)::text $$;
SELECT tool_response('slow_tool', '{"seconds": 5}') AS slow_call \gset
SET statement_timeout = '200ms';
SELECT openrouter_invoke_tools(openrouter_tools('slow_tool(float8)'), :'slow_call', on_error => 'ignore');
RESET statement_timeout;

--
-- Responses without tool calls, and responses that are errors
--
SET openrouter.max_retries = 0;
SELECT what, openrouter_invoke_tools(openrouter_tools('stock_price(text)', 'weather(text)'), response) AS results
FROM (VALUES
  ('an answer', openrouter_chat(:'hi', 'openai/gpt-4o-mini')),
  ('empty tool_calls', '{"choices": [{"message": {"role": "assistant", "content": "", "tool_calls": []}}]}'),
  ('no choices', '{"choices": []}'),
  ('not even choices', '{}')) AS r(what, response);
SET openrouter.api_key = 'sk-or-v1-regression-throttled';   -- its 429 slows only this key
SELECT what, openrouter_invoke_tools(openrouter_tools('stock_price(text)', 'weather(text)'), response, on_error => 'ignore') AS ignored,
       (failure(format('SELECT openrouter_invoke_tools(openrouter_tools(''stock_price(text)'', ''weather(text)''), %L)', response))).*
FROM (VALUES
  ('an error response', openrouter_chat(:'hi', 'standin/status=429', on_error => 'ignore')),
  ('a failed choice', openrouter_chat(:'hi', 'standin/choice_error', on_error => 'ignore')),
  ('OpenRouter''s error body', '{"error": {"code": 502, "message": "Provider returned error"}}'),
  ('choices not an array', '{"choices": {}}'),
  ('tool_calls not an array', '{"choices": [{"message": {"tool_calls": "calculator"}}]}')) AS r(what, response);
RESET openrouter.api_key;
RESET openrouter.max_retries;

--
-- Bad arguments of openrouter_invoke_tools
--
CREATE FUNCTION twin(x integer) RETURNS integer LANGUAGE sql AS $$ SELECT x $$;
CREATE FUNCTION twin(x bigint) RETURNS integer LANGUAGE sql AS $$ SELECT 2 $$;
CREATE SCHEMA tool_elsewhere;
CREATE FUNCTION tool_elsewhere.hidden(x integer) RETURNS integer LANGUAGE sql AS $$ SELECT x $$;
SELECT openrouter_tools('tool_elsewhere.hidden(integer)') AS spec_of_a_function_outside_search_path;
SELECT what, (failure(format('SELECT openrouter_invoke_tools(%s, tool_response(''weather'', ''{"city": "Paris"}''))', tools))).*
FROM (VALUES
  ('not an array', $$'{"type": "function"}'$$),
  ('an element not an object', $$'["weather"]'$$),
  ('no type', $$'[{"function": {"name": "weather"}}]'$$),
  ('no function name', $$'[{"type": "function", "function": {"description": "x"}}]'$$),
  ('an invalid name', $$'[{"type": "function", "function": {"name": "public.weather"}}]'$$),
  ('declared twice', $$openrouter_tools('weather(text)') || openrouter_tools('weather(text)')$$),
  ('no such function', $$'[{"type": "function", "function": {"name": "nowhere"}}]'$$),
  ('not in search_path', $$openrouter_tools('tool_elsewhere.hidden(integer)')$$),
  ('another description', $$jsonb_set(openrouter_tools('weather(text)'), '{0,function,description}', '"Rain, always."')$$),
  ('no description', $$openrouter_tools('weather(text)') #- '{0,function,description}'$$),
  ('other parameters', $$jsonb_set(openrouter_tools('weather(text)'), '{0,function,parameters,required}', '[]')$$),
  ('the same spec twice', $$'[{"type": "function", "function": {"name": "twin", "parameters": {"type": "object", "properties": {"x": {"type": "integer"}}, "required": ["x"], "additionalProperties": false}}}]'$$)
) AS t(what, tools);
-- a spec with extra fields the API knows (strict, cache_control) still matches;
-- server tools are left to OpenRouter
SELECT openrouter_invoke_tools(
  jsonb_set(openrouter_tools('weather(text)'), '{0,function,strict}', 'false')
    || '[{"type": "openrouter:web_search"}]',
  tool_response('weather', '{"city": "San Francisco"}')) AS results;
-- a function becomes visible with its schema in search_path
SET search_path = public, tool_elsewhere;
SELECT openrouter_invoke_tools(openrouter_tools('tool_elsewhere.hidden(integer)'), tool_response('hidden', '{"x": 7}')) AS results;
RESET search_path;
SELECT (failure($$SELECT openrouter_invoke_tools(openrouter_tools('weather(text)'), '[]')$$)).*;
SELECT (failure($$SELECT openrouter_invoke_tools(openrouter_tools('weather(text)'), '{}', on_error => 'sometimes')$$)).*;
SELECT (failure($$SELECT openrouter_invoke_tools(openrouter_tools('weather(text)'), '{}', on_error => NULL)$$)).*;
SELECT openrouter_invoke_tools(NULL, '{}') IS NULL AS null_tools, openrouter_invoke_tools('[]', NULL) IS NULL AS null_response;
SELECT openrouter_invoke_tools('[]', tool_response('weather', '{"city": "Paris"}'), on_error => 'ignore') AS no_tools_declared;
SELECT openrouter_invoke_tools(openrouter_tools('twin(integer)'), '{}');

--
-- Privileges: tools run as the calling role
--
CREATE ROLE regress_tool_user;
CREATE ROLE regress_tool_owner;
CREATE TABLE tool_secret (secret text);
INSERT INTO tool_secret VALUES ('the secret');
ALTER TABLE tool_secret OWNER TO regress_tool_owner;
CREATE FUNCTION whoami(label text) RETURNS text LANGUAGE sql AS $$ SELECT label || ': ' || current_user $$;
CREATE FUNCTION whoami_definer(label text) RETURNS text LANGUAGE sql SECURITY DEFINER AS $$ SELECT label || ': ' || current_user $$;
ALTER FUNCTION whoami_definer(text) OWNER TO regress_tool_owner;
CREATE FUNCTION read_secret(label text) RETURNS text LANGUAGE sql AS $$ SELECT label || ': ' || secret FROM tool_secret $$;
CREATE FUNCTION read_secret_definer(label text) RETURNS text LANGUAGE sql SECURITY DEFINER AS $$ SELECT label || ': ' || secret FROM tool_secret $$;
ALTER FUNCTION read_secret_definer(text) OWNER TO regress_tool_owner;
CREATE FUNCTION forbidden(label text) RETURNS text LANGUAGE sql AS $$ SELECT 'ran' $$;
REVOKE EXECUTE ON FUNCTION forbidden(text) FROM PUBLIC;
\set priv_tools 'openrouter_tools(''whoami(text)'', ''whoami_definer(text)'', ''read_secret(text)'', ''read_secret_definer(text)'', ''forbidden(text)'')'
SELECT :priv_tools AS priv_specs \gset
SELECT tool_response('whoami', '{"label": "a"}', 'whoami_definer', '{"label": "b"}', 'read_secret_definer', '{"label": "c"}') AS allowed_calls,
       tool_response('forbidden', '{"label": "d"}') AS forbidden_call,
       tool_response('read_secret', '{"label": "e"}') AS secret_call \gset
SET ROLE regress_tool_user;
SELECT current_user;
SELECT openrouter_invoke_tools(:'priv_specs', :'allowed_calls') AS results;
SELECT openrouter_invoke_tools(:'priv_specs', :'forbidden_call');
SELECT openrouter_invoke_tools(:'priv_specs', :'secret_call');
SELECT openrouter_invoke_tools(:'priv_specs', :'forbidden_call'::jsonb, on_error => 'ignore')->'forbidden'->0->'error' AS forbidden,
       openrouter_invoke_tools(:'priv_specs', :'secret_call'::jsonb, on_error => 'ignore')->'read_secret'->0->'error' AS secret;
RESET ROLE;
GRANT EXECUTE ON FUNCTION forbidden(text) TO regress_tool_user;
SET ROLE regress_tool_user;
SELECT openrouter_invoke_tools(:'priv_specs', :'forbidden_call') AS granted;
RESET ROLE;

--
-- openrouter_tool_messages: arguments and edge cases
--
SELECT jsonb_pretty(openrouter_tool_messages(:'hi', response, tool_results)) AS no_tool_calls
FROM pxt_tools WHERE id = 5;
SELECT jsonb_pretty(openrouter_tool_messages('[{"role": "user", "content": "go"}]', response, tool_results)) AS two_calls
FROM pxt_tools WHERE id = 2;
-- errors in ignore mode reach the model as the tool's content
SELECT m->>'content' AS content
FROM jsonb_array_elements(openrouter_tool_messages(:'hi', tool_response('nope', '{}'),
       openrouter_invoke_tools(openrouter_tools('weather(text)'), tool_response('nope', '{}'), on_error => 'ignore'))) AS m
WHERE m->>'role' = 'tool';
-- only what a request's assistant message takes is kept: reasoning_details (for
-- reasoning models), not refusal or a call's index; absent arguments become "{}"
SELECT jsonb_pretty(openrouter_tool_messages(:'hi',
  '{"choices": [{"message": {"role": "assistant", "content": null, "refusal": null, "reasoning": "Roll it.",
     "reasoning_details": [{"type": "reasoning.text", "text": "Roll it."}],
     "tool_calls": [{"id": "toolu_1", "index": 0, "type": "function", "function": {"name": "dice"}}]}}]}',
  '{"dice": [4]}')) AS messages;
SELECT openrouter_tool_messages(:'hi', openrouter_chat(:'hi', 'standin/status=400', on_error => 'ignore'), '{}') IS NULL AS error_response;
SELECT openrouter_tool_messages('{"role": "user"}', tool_response('weather', '{}'), '{}');
SELECT openrouter_tool_messages(:'hi', tool_response('weather', '{}'), '[]');
SELECT openrouter_tool_messages(:'hi', tool_response('weather', '{}', 'weather', '{}'), '{"weather": ["one result"]}');
SELECT openrouter_tool_messages(:'hi', '{"choices": [{"message": "hi"}]}', '{}');
SELECT openrouter_tool_messages(:'hi', '{"choices": []}', '{}');
SELECT openrouter_tool_messages(:'hi', '{"choices": [{"message": {"tool_calls": [{"function": {"name": "weather"}}]}}]}', '{}');

--
-- The model's JSON never becomes the statement's error: arguments nested too
-- deep for the parser are ORT02, like any other bad arguments
--
CREATE FUNCTION one_call(name text, arguments jsonb) RETURNS jsonb LANGUAGE sql IMMUTABLE AS $$
  SELECT jsonb_build_object('choices', jsonb_build_array(jsonb_build_object('message', jsonb_build_object(
    'role', 'assistant', 'tool_calls', jsonb_build_array(jsonb_build_object(
      'id', 'call_1', 'type', 'function',
      'function', jsonb_build_object('name', name, 'arguments', arguments)))))))
$$;
SELECT to_jsonb('{"city": ' || repeat('[', 100000) || repeat(']', 100000) || '}') AS deep_text \gset
SELECT (failure(format($$SELECT openrouter_invoke_tools(openrouter_tools('weather(text)'), one_call('weather', %L))$$,
                       :'deep_text'))).state AS deep_arguments;
SELECT openrouter_invoke_tools(openrouter_tools('weather(text)'), one_call('weather', :'deep_text'), on_error => 'ignore')
       #- '{weather,0,error,detail}' AS ignored;
--
-- A tool that drops another declared tool: the dropped tool's later calls
-- fail with ORT05 (ignorable), never with an internal error
--
CREATE FUNCTION victim() RETURNS text LANGUAGE sql AS $$ SELECT 'alive' $$;
CREATE FUNCTION dropper() RETURNS text LANGUAGE plpgsql AS $$
BEGIN
  DROP FUNCTION victim();
  RETURN 'dropped';
END $$;
SELECT openrouter_tools('victim()', 'dropper()') AS drop_specs \gset
SELECT (failure(format($$SELECT openrouter_invoke_tools(%L, tool_response('dropper', '{}', 'victim', '{}'))$$, :'drop_specs'))).*;
SELECT openrouter_invoke_tools(:'drop_specs', tool_response('dropper', '{}', 'victim', '{}'), on_error => 'ignore') AS ignored;
-- (the dropping call's subtransaction committed: the function is gone, and
-- the specs name a function that no longer exists)
SELECT (failure(format($$SELECT openrouter_invoke_tools(%L, tool_response('victim', '{}'))$$, :'drop_specs'))).state AS next_call;
-- a tool that drops a type another tool takes (and so, by CASCADE, that tool)
CREATE TYPE mood AS ENUM ('happy', 'sad');
CREATE FUNCTION feel(m mood) RETURNS text LANGUAGE sql AS $$ SELECT m::text $$;
CREATE FUNCTION type_dropper() RETURNS text LANGUAGE plpgsql AS $$
BEGIN
  SET LOCAL client_min_messages = warning;
  DROP TYPE mood CASCADE;
  RETURN 'dropped';
END $$;
SELECT openrouter_invoke_tools(openrouter_tools('type_dropper()', 'feel(mood)'),
  tool_response('type_dropper', '{}', 'feel', '{"m": "happy"}'), on_error => 'ignore')->'feel'->0->'error'->>'sqlstate' AS ignored;
DROP FUNCTION dropper(), type_dropper(), one_call(text, jsonb);

DROP TABLE tool_demo, pxt_tools, missile_log, tool_log, tool_secret;
DROP SCHEMA tool_elsewhere CASCADE;
DROP FUNCTION whoami, whoami_definer, read_secret, read_secret_definer, forbidden;
DROP ROLE regress_tool_user, regress_tool_owner;
