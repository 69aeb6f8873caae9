# Computed columns where the extension lives in a schema of its own, and
# computed columns made by 1.0 after ALTER EXTENSION openrouter UPDATE.
use strict;
use warnings;
use PostgreSQL::Test::Utils;
use Test::More;
use OpenRouterTest;

my $node = new_openrouter_node('computed');
my $answer = q{->'choices'->0->'message'->>'content'};

# --- CREATE EXTENSION openrouter SCHEMA x
$node->safe_psql('postgres', 'CREATE DATABASE in_schema');
$node->safe_psql('in_schema', q{
	CREATE SCHEMA ai;
	CREATE EXTENSION openrouter SCHEMA ai;
	SELECT ai.openrouter_configure_client('sk-or-v1-tap-test-key');});
is($node->safe_psql('in_schema',
		q{SELECT count(*) FROM pg_proc WHERE proname LIKE 'openrouter%' AND pronamespace <> 'ai'::regnamespace}),
	'0', 'every function of the extension is in schema ai');
$node->safe_psql('in_schema', qq{
	CREATE TABLE notes (id int PRIMARY KEY, body text);
	INSERT INTO notes VALUES (1, 'first');
	SELECT ai.openrouter_add_computed_column('notes', 'summary',
	  \$\$ai.openrouter_chat(ai.openrouter_messages(body), 'openai/gpt-4o-mini')$answer\$\$);
	INSERT INTO notes VALUES (2, 'second');
	UPDATE notes SET body = 'first, edited' WHERE id = 1;});
is($node->safe_psql('in_schema', q{SELECT string_agg(summary, ' | ' ORDER BY id) FROM notes}),
	'Stand-in answer to: first, edited | Stand-in answer to: second',
	'a computed column works with the extension in schema ai (not on the search_path)');
like($node->safe_psql('in_schema', q{SELECT expression FROM ai.openrouter_computed_columns}),
	qr/^\(+ai\.openrouter_chat\(ai\.openrouter_messages\(body\), 'openai\/gpt-4o-mini'::text\)/,
	'its expression is stored with every name qualified');
$node->safe_psql('in_schema', q{
	INSERT INTO notes VALUES (3, 'third');
	SELECT ai.openrouter_recompute('notes', 'summary', errors_only => true);});
my ($ret, $out, $err) = $node->psql('in_schema', q{
	UPDATE notes SET summary = NULL WHERE id = 3;});
like($err, qr/column "summary" of relation notes is a computed column/, 'hand edits are refused there too');
$node->safe_psql('in_schema', q{SELECT ai.openrouter_drop_computed_column('notes', 'summary')});
is($node->safe_psql('in_schema', q{SELECT count(*) FROM ai.openrouter_computed_column}),
	'0', 'dropping it forgets its definition');

# --- computed columns of 1.0, updated to 1.1
$node->safe_psql('postgres', 'CREATE DATABASE old');
$node->safe_psql('old', qq{
	CREATE EXTENSION openrouter VERSION '1.0';
	SELECT openrouter_configure_client('sk-or-v1-tap-test-key');
	CREATE TABLE q (id int PRIMARY KEY, prompt text, model text);
	INSERT INTO q VALUES (1, 'one', 'openai/gpt-4o-mini'), (2, 'two', 'standin/status=402');
	SELECT openrouter_add_computed_column('q', 'response',
	  \$\$openrouter_chat(openrouter_messages(prompt), model)\$\$, on_error => 'ignore');
	SELECT openrouter_add_computed_column('q', 'answer', \$\$response$answer\$\$);
	CREATE TABLE w (id int PRIMARY KEY, a text);
	INSERT INTO w VALUES (1, 'x');
	SELECT openrouter_add_computed_column('w', 'r',
	  \$\$openrouter_chat(openrouter_messages((to_jsonb(w) - 'r')::text), 'openai/gpt-4o-mini')$answer\$\$);});
my $before = $node->safe_psql('old', q{SELECT string_agg(coalesce(answer, response->'error'->>'sqlstate'), ',' ORDER BY id) FROM q});
is($before, 'Stand-in answer to: one,OR402',
	'1.0 computed the columns with this library (openrouter.on_error keeps its 1.0 meaning there)');

$node->safe_psql('old', 'ALTER EXTENSION openrouter UPDATE');
is($node->safe_psql('old', q{SELECT extversion FROM pg_extension WHERE extname = 'openrouter'}),
	'1.1', 'updated to 1.1');
is($node->safe_psql('old', q{SELECT string_agg(coalesce(answer, response->'error'->>'sqlstate'), ',' ORDER BY id) FROM q}),
	$before, 'the answers stay');
is($node->safe_psql('old', q{SELECT string_agg(expression, ' | ' ORDER BY position) FROM openrouter_computed_column WHERE table_oid = 'q'::regclass}),
	q{public.openrouter_chat(public.openrouter_messages(prompt), model) | ((((response -> 'choices'::text) -> 0) -> 'message'::text) ->> 'content'::text)},
	'the definitions are bound');
$node->safe_psql('old', q{
	INSERT INTO q VALUES (3, 'three', 'openai/gpt-4o-mini'), (4, 'four', 'standin/status=402');
	UPDATE q SET prompt = 'uno' WHERE id = 1;
	UPDATE w SET a = 'y';});
is($node->safe_psql('old', q{SELECT string_agg(coalesce(answer, response->'error'->>'sqlstate'), ',' ORDER BY id) FROM q}),
	'Stand-in answer to: uno,OR402,Stand-in answer to: three,OR402',
	'the existing triggers compute inserted and updated rows, with the column\'s on_error');
is($node->safe_psql('old', q{SELECT r FROM w}), 'Stand-in answer to: {"a": "y", "id": 1}',
	'a 1.0 column that reads the whole row is recomputed when any column changes');
$node->safe_psql('old', q{CREATE ROLE regress_someone});
($ret, $out, $err) = $node->psql('old', q{SET ROLE regress_someone; DELETE FROM openrouter_computed_column});
like($err, qr/permission denied for table openrouter_computed_column/, 'PUBLIC can no longer write the definitions');
is($node->safe_psql('old', q{SELECT count(*) FROM pg_proc WHERE proname IN ('openrouter_compute_rows', 'openrouter_computed_column_guard')}),
	'0', '1.0\'s internal helpers are gone');

# --- each backend's copy of the definitions follows the changes of every session
$node->safe_psql('postgres', q{
	CREATE TABLE followed (id int PRIMARY KEY, body text);
	SELECT openrouter_add_computed_column('followed', 'r',
	  $$openrouter_chat(openrouter_messages(body), 'openai/gpt-4o-mini')->'choices'->0->'message'->>'content'$$);});
my $writer = $node->background_psql('postgres');
$writer->query_safe(q{INSERT INTO followed VALUES (1, 'one')});	# reads (and keeps) the definitions
$node->safe_psql('postgres', q{
	SELECT openrouter_alter_computed_column('followed', 'r', mode => 'async');
	SELECT openrouter_pause('followed', 'r');});
$writer->query_safe(q{INSERT INTO followed VALUES (2, 'two')});
is($node->safe_psql('postgres', q{
	SELECT string_agg(id || ':' || coalesce(r, 'NULL'), ' ' ORDER BY id) || ' / pending ' ||
	       (SELECT pending_rows FROM openrouter_computed_columns WHERE table_name = 'followed'::regclass)
	FROM followed}),
	'1:Stand-in answer to: one 2:NULL / pending 1',
	'a session that read the definitions before another session made the column async (and paused it) leaves its next INSERT pending');
$writer->query_safe(q{BEGIN});
$writer->query_safe(q{SELECT openrouter_alter_computed_column('followed', 'r', mode => 'sync')});
$writer->query_safe(q{ROLLBACK});
$writer->query_safe(q{INSERT INTO followed VALUES (3, 'three')});
is($node->safe_psql('postgres', q{SELECT coalesce(r, 'NULL') FROM followed WHERE id = 3}),
	'NULL', 'a change rolled back is forgotten by the session that made it');
$node->safe_psql('postgres', q{SELECT openrouter_drop_computed_column('followed', 'r')});
$writer->query_safe(q{ALTER TABLE followed ADD COLUMN r text});
$writer->query_safe(q{INSERT INTO followed VALUES (4, 'four')});
is($node->safe_psql('postgres', q{SELECT count(*) FROM openrouter_async_queue WHERE table_oid = 'followed'::regclass AND row_key = '{4}'}),
	'0', 'nor does it queue rows of a column dropped by another session');
$writer->quit;

$node->stop;
done_testing();
