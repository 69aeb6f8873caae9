# What pg_dump/restore and logical replication do with model answers:
# computed columns are plain data (a restore calls nothing); stored generated
# columns are computed again on restore and on a subscriber, paying again.
use strict;
use warnings;
use PostgreSQL::Test::Utils;
use Test::More;
use OpenRouterTest;

my $node = new_openrouter_node('dump_source',
	conf => "wal_level = logical\nmax_wal_senders = 10\nmax_replication_slots = 10\n");
my $setup = q{
	CREATE TABLE gen (id int PRIMARY KEY, prompt text,
	  response jsonb GENERATED ALWAYS AS (openrouter_chat(openrouter_messages(prompt), 'openai/gpt-4o-mini')) STORED);
	INSERT INTO gen VALUES (1, 'first'), (2, 'second'), (3, 'third');
	CREATE TABLE comp (id int PRIMARY KEY, prompt text);
	INSERT INTO comp VALUES (1, 'first'), (2, 'second'), (3, 'third');
	SELECT openrouter_add_computed_column('comp', 'response',
	  $$openrouter_chat(openrouter_messages(prompt), 'openai/gpt-4o-mini')$$);};
$node->safe_psql('postgres', $setup);
my $answer_ids = q{SELECT string_agg(response->>'id', ',' ORDER BY id) FROM };
my $gen_ids = $node->safe_psql('postgres', "$answer_ids gen");
my $comp_ids = $node->safe_psql('postgres', "$answer_ids comp");

# dump, then restore into a new database
my $dump = $node->basedir . '/answers.sql';
$node->command_ok([ 'pg_dump', '-d', $node->connstr('postgres'), '-f', $dump ], 'pg_dump');
$node->safe_psql('postgres', 'CREATE DATABASE restored');
$node->safe_psql('restored', "SELECT 1");
my $before = standin_stats($node)->{requests};
# keys are never dumped: the restoring session brings its own (connection option)
{
	local $ENV{PGOPTIONS} = '-c openrouter.api_key=sk-or-v1-restore-session';
	$node->command_ok([ 'psql', '-X', '-q', '-v', 'ON_ERROR_STOP=1', '-d', $node->connstr('restored'), '-f', $dump ],
		'restore');
}
my $after = standin_stats($node)->{requests};
is($after - $before - 1, 3, 'restoring the generated column sent one request per row');

is($node->safe_psql('restored', "$answer_ids comp WHERE id <= 3"), $comp_ids,
	'the computed column was restored as data: the same answers');
isnt($node->safe_psql('restored', "$answer_ids gen"), $gen_ids,
	'the generated column was computed again: new answers');
is($node->safe_psql('restored', 'SELECT count(*) FROM openrouter_computed_columns'), '1',
	'the computed column\'s definition was restored');
is($node->safe_psql('restored', 'SELECT expression FROM openrouter_computed_columns'),
	$node->safe_psql('postgres', 'SELECT expression FROM openrouter_computed_columns'),
	'with its bound expression');
$node->safe_psql('restored', q{
	SET openrouter.api_key = 'sk-or-v1-restore-session';
	INSERT INTO comp VALUES (4, 'fourth');});
is($node->safe_psql('restored', q{SELECT response->'choices'->0->'message'->>'content' FROM comp WHERE id = 4}),
	'Stand-in answer to: fourth', 'and computes rows inserted after the restore');

# DROP EXTENSION ... CASCADE leaves nothing behind but the data (a generated
# column that calls openrouter_chat goes with it, as CASCADE says)
my ($drop_out, $drop_err);
$node->psql('restored', 'DROP EXTENSION openrouter CASCADE', stdout => \$drop_out, stderr => \$drop_err,
	on_error_die => 1);
like($drop_err, qr/NOTICE:  dropping extension openrouter deletes 0 stored API keys and 1 computed-column definitions/,
	'DROP EXTENSION says first what it deletes');
is($node->safe_psql('restored', q{
	SELECT (SELECT count(*) FROM pg_trigger WHERE tgname LIKE 'openrouter%')
	     + (SELECT count(*) FROM pg_proc WHERE proname LIKE 'openrouter%')
	     + (SELECT count(*) FROM pg_class WHERE relname LIKE 'openrouter%')
	     + (SELECT count(*) FROM pg_event_trigger WHERE evtname LIKE 'openrouter%')}),
	'0', 'DROP EXTENSION CASCADE leaves no trigger, function, table or event trigger');
is($node->safe_psql('restored', "$answer_ids comp WHERE id <= 3"), $comp_ids,
	'and the computed column\'s answers stay, as plain data');

# an asynchronous column: its pending cells are its empty cells, so they come
# through a dump and are computed after the restore; its answers are data
$node->safe_psql('postgres', 'CREATE DATABASE asrc');
$node->safe_psql('asrc', q{
	CREATE EXTENSION openrouter;
	SELECT openrouter_configure_client('sk-or-v1-async-dump');
	CREATE TABLE acomp (id int PRIMARY KEY, prompt text);
	SELECT openrouter_add_computed_column('acomp', 'response',
	  $$openrouter_chat(openrouter_messages(prompt), 'openai/gpt-4o-mini')$$, mode => 'async');
	INSERT INTO acomp VALUES (1, 'first'), (2, 'second');});
ok($node->poll_query_until('asrc', q{SELECT count(*) = 2 FROM acomp WHERE response ? 'choices'}),
	'async: the worker answered two rows');
$node->safe_psql('asrc', q{
	SELECT openrouter_pause('acomp', 'response');
	INSERT INTO acomp VALUES (3, 'third');});
my $async_dump = $node->basedir . '/async.sql';
$node->command_ok([ 'pg_dump', '-d', $node->connstr('asrc'), '-f', $async_dump ], 'pg_dump of an async column');
$node->safe_psql('postgres', 'CREATE DATABASE adst');
$node->command_ok([ 'psql', '-X', '-q', '-v', 'ON_ERROR_STOP=1', '-d', $node->connstr('adst'), '-f', $async_dump ],
	'restore of an async column');
is($node->safe_psql('adst', q{SELECT mode || ' ' || paused || ' ' || pending_rows FROM openrouter_computed_columns}),
	'async true 1', 'restored: asynchronous, paused, the empty cell pending');
is($node->safe_psql('adst', q{
	SELECT count(*) FROM pg_depend d JOIN pg_index i ON i.indexrelid = d.objid
	WHERE i.indrelid = 'acomp'::regclass AND d.refclassid = 'pg_extension'::regclass AND d.deptype = 'x'}),
	'1', 'with its partial index, which depends on the extension');
$before = standin_stats($node)->{requests};
$node->safe_psql('adst', q{
	SELECT openrouter_configure_client('sk-or-v1-async-dump');
	SELECT openrouter_resume('acomp', 'response');});
ok($node->poll_query_until('adst', q{SELECT response ? 'choices' FROM acomp WHERE id = 3}),
	'resumed after the restore, the worker computes the pending cell');
$after = standin_stats($node)->{requests};
is($after - $before - 1, 1, 'and only that one: the restored answers are data');
is($node->safe_psql('adst', "$answer_ids acomp WHERE id <= 2"),
	$node->safe_psql('asrc', "$answer_ids acomp WHERE id <= 2"), 'the same answers as before the dump');
$node->safe_psql('adst', 'DROP EXTENSION openrouter CASCADE');
is($node->safe_psql('adst', q{SELECT count(*) FROM pg_index WHERE indrelid = 'acomp'::regclass}), '1',
	'DROP EXTENSION removes the partial index (the primary key stays)');

# logical replication: the subscriber computes generated columns itself
my $sub = new_openrouter_node('subscriber');
$sub->safe_psql('postgres', q{
	CREATE TABLE gen (id int PRIMARY KEY, prompt text,
	  response jsonb GENERATED ALWAYS AS (openrouter_chat(openrouter_messages(prompt), 'openai/gpt-4o-mini')) STORED);});
$node->safe_psql('postgres', 'CREATE PUBLICATION answers FOR TABLE gen');
$before = standin_stats($node)->{requests};
$sub->safe_psql('postgres',
	"CREATE SUBSCRIPTION answers CONNECTION 'port=" . $node->port . " host=" . $node->host
	  . " dbname=postgres' PUBLICATION answers");
$sub->wait_for_subscription_sync($node, 'answers');
$after = standin_stats($node)->{requests};
is($after - $before - 1, 3, 'the subscriber sent one request per replicated row');
isnt($sub->safe_psql('postgres', "$answer_ids gen"), $gen_ids,
	'and holds answers of its own');

$sub->stop;
$node->stop;
done_testing();
