# Upgrades in place (issue 13): a database made with 1.0 (keys, computed
# columns with answers, a generated column, a tool) keeps all of it across
# ALTER EXTENSION openrouter UPDATE, works with the new library both before
# and after the upgrade, and ends up with the same objects as a fresh
# install of the new version.
use strict;
use warnings;
use PostgreSQL::Test::Utils;
use Test::More;
use OpenRouterTest;

my $node = new_openrouter_node('upgrade', no_key => 1);
my $auth = q{(openrouter_chat('[{"role":"user","content":"hi"}]', 'standin/echo')->'choices'->0->'message'->>'content')::jsonb->'headers'->>'authorization'};
my $new_version = $node->safe_psql('postgres',
	"SELECT default_version FROM pg_available_extensions WHERE name = 'openrouter'");

$node->safe_psql('postgres', 'DROP EXTENSION openrouter');
$node->safe_psql('postgres', q{
	CREATE EXTENSION openrouter VERSION '1.0';
	SELECT openrouter_configure_client('sk-or-v1-admin-key');
	CREATE ROLE regress_erin LOGIN;
	CREATE ROLE regress_fred LOGIN;
	GRANT CREATE ON SCHEMA public TO regress_erin;
	SET ROLE regress_erin;
	SELECT openrouter_configure_client('sk-or-v1-erin-key', site_name => 'Erin''s app');
	SET ROLE regress_fred;
	SELECT openrouter_configure_client('sk-or-v1-fred-key');
	RESET ROLE;
	ANALYZE openrouter_api_key;});
is($node->safe_psql('postgres', "SELECT extversion FROM pg_extension WHERE extname = 'openrouter'"),
	'1.0', 'version 1.0 installed');

# 1.0's SQL with the new library: every kind of object works
$node->safe_psql('postgres', q{
	SET ROLE regress_erin;
	CREATE TABLE docs (id int PRIMARY KEY, prompt text);
	INSERT INTO docs VALUES (1, 'one'), (2, 'two');
	SELECT openrouter_add_computed_column('docs', 'answer',
	  $$openrouter_chat(openrouter_messages(prompt), 'openai/gpt-4o-mini')$$);
	SELECT openrouter_add_computed_column('docs', 'answer_text',
	  $$answer->'choices'->0->'message'->>'content'$$);
	CREATE TABLE gen (id int PRIMARY KEY, prompt text,
	  response jsonb GENERATED ALWAYS AS (openrouter_chat(openrouter_messages(prompt), 'openai/gpt-4o-mini')) STORED);
	INSERT INTO gen VALUES (1, 'first');
	CREATE FUNCTION weather(city text) RETURNS text LANGUAGE sql AS $$ SELECT 'sunny in ' || city $$;
	COMMENT ON FUNCTION weather(text) IS 'The weather in a city.';});
is($node->safe_psql('postgres', "SET ROLE regress_erin; INSERT INTO docs VALUES (3, 'three'); SELECT count(answer_text) FROM docs"),
	'3', 'with 1.0\'s SQL and the new library, computed columns are filled on insert');
is($node->safe_psql('postgres', "SET ROLE regress_erin; SELECT $auth"), standin_auth_hint('sk-or-v1-erin-key'),
	'and calls use the role\'s stored key');
is($node->safe_psql('postgres', q{SET ROLE regress_erin;
	SELECT count(*) FROM openrouter_chat_batch(ARRAY['{"messages": [{"role": "user", "content": "x"}], "model": "m"}'::jsonb,
	  '{"messages": [{"role": "user", "content": "y"}], "model": "m"}'])}),
	'2', 'batches work');
is($node->safe_psql('postgres', q{SET ROLE regress_erin;
	SELECT openrouter_invoke_tools(openrouter_tools('weather(text)'),
	  openrouter_chat('[{"role":"user","content":"weather?"}]', 'standin/tool_calls=weather:eyJjaXR5IjoiUGFyaXMifQ',
	                  tools => openrouter_tools('weather(text)')))->'weather'->>0}),
	'sunny in Paris', 'tools work');
is($node->safe_psql('postgres', q{SET ROLE regress_erin; BEGIN;
	SELECT openrouter_prefetch($$SELECT openrouter_chat(openrouter_messages(prompt), 'm') FROM docs$$); COMMIT;}),
	'3', 'prefetch works');

my $answers_before = $node->safe_psql('postgres',
	q{SELECT string_agg(id || ':' || (answer->>'id') || ':' || answer_text, ',' ORDER BY id) FROM docs});
my $gen_before = $node->safe_psql('postgres', q{SELECT response->>'id' FROM gen});
ok($node->safe_psql('postgres',
	"SELECT count(*) FROM pg_statistic WHERE starelid = 'openrouter_api_key'::regclass") > 0,
	'1.0 let ANALYZE copy key-table values into pg_statistic');

# the upgrade
my $requests = standin_stats($node)->{requests};
$node->safe_psql('postgres', 'ALTER EXTENSION openrouter UPDATE');
is(standin_stats($node)->{requests} - $requests, 1, 'the upgrade sent no request (the one counted is the stats call)');
is($node->safe_psql('postgres', "SELECT extversion FROM pg_extension WHERE extname = 'openrouter'"),
	$new_version, "upgraded to $new_version");

# keys survive
is($node->safe_psql('postgres', "SET ROLE regress_erin; SELECT $auth"), standin_auth_hint('sk-or-v1-erin-key'),
	'erin\'s key survived');
is($node->safe_psql('postgres', "SET ROLE regress_fred; SELECT $auth"), standin_auth_hint('sk-or-v1-fred-key'),
	'fred\'s key survived');
is($node->safe_psql('postgres', "SET ROLE regress_erin; SELECT key_source || ' ' || site_name FROM openrouter_client()"),
	"role Erin's app", 'with its attribution defaults');
is($node->safe_psql('postgres',
	"SELECT count(*) FROM pg_statistic WHERE starelid = 'openrouter_api_key'::regclass"),
	'0', 'the key table\'s statistics are gone');

# answers and definitions survive, and the columns keep being computed
is($node->safe_psql('postgres',
	q{SELECT string_agg(id || ':' || (answer->>'id') || ':' || answer_text, ',' ORDER BY id) FROM docs}),
	$answers_before, 'stored answers are unchanged');
is($node->safe_psql('postgres', q{SELECT response->>'id' FROM gen}), $gen_before,
	'the generated column is unchanged');
is($node->safe_psql('postgres',
	q{SET ROLE regress_erin; SELECT string_agg(column_name || '=' || total_rows || '/' || pending_rows, ',' ORDER BY column_name) FROM openrouter_computed_columns}),
	'answer=3/0,answer_text=3/0', 'the definitions survived');
is($node->safe_psql('postgres', q{SET ROLE regress_erin;
	INSERT INTO docs VALUES (4, 'four');
	UPDATE docs SET prompt = 'ONE' WHERE id = 1;
	SELECT count(answer_text) FROM docs}), '4', 'inserted rows are computed after the upgrade');
isnt($node->safe_psql('postgres', q{SELECT (answer->>'id') FROM docs WHERE id = 1}),
	(split /:/, (split /,/, $answers_before)[0])[1], 'and updated inputs recomputed');
is($node->safe_psql('postgres', q{SET ROLE regress_erin; SELECT openrouter_recompute('docs', 'answer')}),
	'4', 'openrouter_recompute works');
is($node->safe_psql('postgres', q{SET ROLE regress_erin;
	DO $$ BEGIN PERFORM openrouter_drop_computed_column('docs', 'answer_text'); END $$;
	SELECT count(*) FROM openrouter_computed_columns}), '1', 'openrouter_drop_computed_column works');

# a fresh install of the new version has the same objects as the upgraded one
my $objects = q{
	SELECT pg_describe_object(d.classid, d.objid, 0)
	       || coalesce(' -- ' || obj_description(d.objid, d.classid::regclass::name), '')
	       || coalesce(E'\n' || CASE WHEN d.classid = 'pg_proc'::regclass
	                               THEN CASE WHEN p.prokind = 'a'   -- an aggregate: its support functions
	                                         THEN (SELECT aggtransfn::regprocedure || ' ' || aggfinalfn::regprocedure
	                                               FROM pg_aggregate WHERE aggfnoid = d.objid)
	                                         ELSE pg_get_functiondef(d.objid) END
	                                    || ' ' || coalesce(p.proacl::text, '') END, '')
	       || coalesce(E'\n' || CASE WHEN d.classid = 'pg_class'::regclass
	                               THEN coalesce(c.relacl::text, '') || ' ' || c.relrowsecurity
	                                    || coalesce(' ' || pg_get_viewdef(d.objid), '') END, '')
	FROM pg_depend d
	LEFT JOIN pg_proc p ON d.classid = 'pg_proc'::regclass AND p.oid = d.objid
	LEFT JOIN pg_class c ON d.classid = 'pg_class'::regclass AND c.oid = d.objid
	WHERE d.refclassid = 'pg_extension'::regclass AND d.deptype = 'e'
	  AND d.refobjid = (SELECT oid FROM pg_extension WHERE extname = 'openrouter')
	ORDER BY 1};
my $columns = q{
	SELECT string_agg(a.attrelid::regclass || '.' || a.attname || ' ' || format_type(a.atttypid, a.atttypmod)
	                  || ' ' || a.attstattarget || coalesce(' -- ' || col_description(a.attrelid, a.attnum), ''),
	                  E'\n' ORDER BY a.attrelid::regclass::text, a.attnum)
	FROM pg_attribute a JOIN pg_depend d ON d.classid = 'pg_class'::regclass AND d.objid = a.attrelid
	WHERE d.refclassid = 'pg_extension'::regclass AND d.deptype = 'e' AND a.attnum > 0 AND NOT a.attisdropped
	  AND d.refobjid = (SELECT oid FROM pg_extension WHERE extname = 'openrouter')};
$node->safe_psql('postgres', 'CREATE DATABASE fresh');
$node->safe_psql('fresh', 'CREATE EXTENSION openrouter');
my $upgraded_objects = $node->safe_psql('postgres', $objects);
is($node->safe_psql('fresh', $objects), $upgraded_objects,
	'a fresh install and the upgraded one have the same objects, definitions, comments and privileges');
is($node->safe_psql('fresh', $columns), $node->safe_psql('postgres', $columns),
	'and the same table and view columns');
unlike($upgraded_objects, qr/sk-or-v1/, '(the listing holds no key)');

$node->stop;
done_testing();
