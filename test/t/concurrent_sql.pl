# Plain SQL made concurrent (src/concurrent.c): a concurrent UPDATE keeps
# openrouter.max_concurrency requests in flight; cancel and statement_timeout
# stop all of them at once; a row updated by another transaction meanwhile is
# evaluated again with its new values (EvalPlanQual through the plan node).
use strict;
use warnings;
use Time::HiRes qw(time sleep);
use IPC::Run;
use PostgreSQL::Test::Utils;
use Test::More;
use OpenRouterTest;

my $node = new_openrouter_node('concurrent_sql');
$node->safe_psql('postgres', q{
	CREATE TABLE t (id int PRIMARY KEY, prompt text, r text);
	INSERT INTO t SELECT i, 'prompt ' || i, NULL FROM generate_series(1, 100) AS i;
	ALTER SYSTEM SET openrouter.max_concurrency = 16;
	SELECT pg_reload_conf();});

# wait until the stand-in has $n requests in flight; returns how many it has
sub wait_in_flight
{
	my ($n) = @_;
	my $stats;
	for (1 .. 200)
	{
		$stats = standin_stats($node);
		return $stats->{in_flight} if $stats->{in_flight} >= $n;
		sleep 0.05;
	}
	return $stats->{in_flight};
}

# seconds until the stand-in has nothing in flight
sub time_to_idle
{
	my $t0 = time;
	for (1 .. 100)
	{
		return time - $t0 if standin_stats($node)->{in_flight} == 0;
		sleep 0.02;
	}
	return 99;
}

my $update = q{UPDATE t SET r = openrouter_chat(openrouter_messages(prompt),
	'standin/latency=30000;key=%s')->'choices'->0->'message'->>'content'};

# cancel: 16 requests in flight, all stopped at once
my ($h, $out, $err) = start_query($node, sprintf($update, 'sqlconc-cancel'));
is(wait_in_flight(16), 16, 'a plain UPDATE has max_concurrency requests in flight');
my $pid = $node->safe_psql('postgres',
	q{SELECT pid FROM pg_stat_activity WHERE query LIKE 'UPDATE t SET r%' AND pid <> pg_backend_pid()});
my $t0 = time;
$node->safe_psql('postgres', "SELECT pg_cancel_backend($pid)");
$h->finish;
my $elapsed = time - $t0;
like($$err, qr/canceling statement due to user request/, 'cancel: PostgreSQL\'s own error');
cmp_ok($elapsed, '<', 0.2, sprintf('cancel ends the statement within 200 ms (%.0f ms)', $elapsed * 1000));
my $idle = time_to_idle();
cmp_ok($idle, '<', 0.5, sprintf('and every request of the window is dropped (%.0f ms after)', $idle * 1000));
is($node->safe_psql('postgres', 'SELECT count(r) FROM t'), '0', 'nothing was updated');

# statement_timeout: the same, with PostgreSQL's own error
$t0 = time;
my ($ret, $stdout, $stderr) = $node->psql('postgres',
	"SET statement_timeout = '500ms'; " . sprintf($update, 'sqlconc-timeout'));
my $took = time - $t0;
like($stderr, qr/canceling statement due to statement timeout/, 'statement_timeout: PostgreSQL\'s own error');
cmp_ok($took, '<', 0.7, sprintf('statement_timeout of 500 ms ends it within 200 ms (%.0f ms in all)', $took * 1000));
$idle = time_to_idle();
cmp_ok($idle, '<', 0.5, sprintf('and every request is dropped (%.0f ms after)', $idle * 1000));

# EvalPlanQual: a row another transaction changed while the UPDATE waited
# for its lock is evaluated again, with its new prompt
my ($locker) = start_query($node, q{BEGIN; UPDATE t SET prompt = 'prompt 5+' WHERE id = 5;
	SELECT pg_sleep(1.5); COMMIT;});
sleep 0.5;
$node->safe_psql('postgres', q{UPDATE t SET r = openrouter_chat(openrouter_messages(prompt),
	'standin/latency=20')->'choices'->0->'message'->>'content'});
$locker->finish;
is($node->safe_psql('postgres', q{SELECT count(*) FROM t WHERE r = 'Stand-in answer to: ' || prompt}),
	'100', 'every row has the answer to its prompt');
is($node->safe_psql('postgres', q{SELECT r FROM t WHERE id = 5}),
	'Stand-in answer to: prompt 5+', 'the row updated meanwhile got the answer to its new prompt');

unlike(slurp_file($node->logfile), qr/server process .* was terminated by signal|PANIC/,
	'no backend crashed');
$node->stop;
done_testing();
