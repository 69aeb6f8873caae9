# Progress of a long job, seen from another session (issue 14): the view
# openrouter_progress shows a running backfill (done, total, rate, time
# left) to its role and to pg_read_all_stats, and nothing once it is over.
use strict;
use warnings;
use PostgreSQL::Test::Utils;
use Test::More;
use OpenRouterTest;

my $node = new_openrouter_node('progress');
$node->safe_psql('postgres', q{
	CREATE ROLE regress_ivy LOGIN;
	CREATE ROLE regress_jon LOGIN;
	CREATE ROLE regress_kim LOGIN;
	GRANT pg_read_all_stats TO regress_kim;
	CREATE TABLE slow (id int PRIMARY KEY, prompt text);
	INSERT INTO slow SELECT i, 'question ' || i FROM generate_series(1, 200) i;
	SELECT openrouter_add_computed_column('slow', 'answer',
	  $$openrouter_chat(openrouter_messages(prompt), 'standin/latency=150')$$, backfill => false);});

is($node->safe_psql('postgres', 'SELECT count(*) FROM openrouter_progress'), '0', 'nothing in progress');

# a backfill in chunks of 20 rows, each chunk's answers taking 150 ms
my $backfill = IPC::Run::start(
	[ 'psql', '-X', '-q', '-d', $node->connstr('postgres'), '-c', 'SET openrouter.max_concurrency = 10',
	  '-c', q{CALL openrouter_backfill('slow', 'answer', chunk_size => 20)} ],
	'>', \my $out, '2>', \my $err);
ok($node->poll_query_until('postgres',
	q{SELECT count(*) = 1 FROM openrouter_progress WHERE operation = 'openrouter_backfill' AND done > 0 AND done < total}),
	'another session sees the backfill part way');
my $row = $node->safe_psql('postgres',
	q{SELECT unit || ' ' || total || ' ' || (rate > 0) || ' ' || (seconds_left >= 0) || ' ' || database || ' ' || role
	  || ' ' || (pid IN (SELECT pid FROM pg_stat_activity WHERE query LIKE 'CALL openrouter_backfill%'))
	  FROM openrouter_progress});
is($row, 'rows 200 true true postgres postgres true', 'with its unit, total, rate, time left, database, role and pid');
is($node->safe_psql('postgres', 'SET ROLE regress_jon; SELECT count(*) FROM openrouter_progress'), '0',
	'a role without pg_read_all_stats does not see another role\'s job');
is($node->safe_psql('postgres', 'SET ROLE regress_kim; SELECT count(*) FROM openrouter_progress'), '1',
	'a member of pg_read_all_stats does');
$backfill->finish;
like($err, qr/openrouter_backfill: 200 of 200 rows/, 'the backfill finished');
is($node->safe_psql('postgres', 'SELECT count(*) FROM openrouter_progress'), '0', 'and is gone from the view');

# an operation that fails leaves nothing behind either
$node->psql('postgres', q{SET openrouter.max_retries = 0;
	SELECT count(*) FROM openrouter_chat_batch(array(
	  SELECT jsonb_build_object('messages', openrouter_messages('q' || i), 'model', 'standin/status=400')
	  FROM generate_series(1, 600) i))});
is($node->safe_psql('postgres', 'SELECT count(*) FROM openrouter_progress'), '0', 'a failed batch is gone too');

$node->stop;
done_testing();
