# Waiting for OpenRouter never blocks PostgreSQL's interrupts:
# pg_cancel_backend, statement_timeout and pg_terminate_backend end a slow
# request at once, with PostgreSQL's own errors, during a transfer and during
# a retry's wait; and the session (or server) is fine afterwards.
use strict;
use warnings;
use Time::HiRes qw(time sleep);
use IPC::Run;
use PostgreSQL::Test::Utils;
use Test::More;
use OpenRouterTest;

my $node = new_openrouter_node('interrupts');
my $hi = q{'[{"role":"user","content":"hi"}]'};

# pid of the backend waiting in the extension on the given model
sub waiting_backend
{
	my ($model) = @_;
	my $pid;
	for (1 .. 200)
	{
		$pid = $node->safe_psql('postgres',
			"SELECT pid FROM pg_stat_activity WHERE wait_event = 'Extension' AND query LIKE '%$model%'");
		return $pid if $pid;
		sleep 0.05;
	}
	return undef;
}

# Run $model's call, interrupt it with $how once it waits, and return
# (seconds from interrupt to the client's exit, stderr).
sub interrupt_after_wait
{
	my ($sql, $model, $how) = @_;
	my ($h, $out, $err) = start_query($node, $sql);
	my $pid = waiting_backend($model);
	ok($pid, "backend is waiting in the extension ($model)");
	my $t0 = time;
	$node->safe_psql('postgres', "SELECT $how($pid)") if $how;
	$h->finish;
	return (time - $t0, $$err);
}

my ($elapsed, $err);

# cancel during a slow transfer
($elapsed, $err) = interrupt_after_wait(
	"SELECT openrouter_chat($hi, 'standin/latency=30000;key=cancel1')",
	'latency=30000;key=cancel1', 'pg_cancel_backend');
like($err, qr/canceling statement due to user request/, 'cancel: PostgreSQL\'s own error');
cmp_ok($elapsed, '<', 2, sprintf('cancel during a transfer returns at once (%.3f s)', $elapsed));
note(sprintf('cancel latency: %.0f ms', $elapsed * 1000));

# cancel during a retry's wait (Retry-After: 30); with a key of its own, as the
# 429 holds back every request with its key for 30 s (limiter.c)
($elapsed, $err) = interrupt_after_wait(
	"SET openrouter.api_key = 'sk-or-v1-interrupts-paused'; SELECT openrouter_chat($hi, 'standin/status=429;retry_after=30;key=cancel2')",
	'retry_after=30;key=cancel2', 'pg_cancel_backend');
like($err, qr/canceling statement due to user request/, 'cancel during a retry wait');
cmp_ok($elapsed, '<', 2, sprintf('cancel during a retry wait returns at once (%.3f s)', $elapsed));

# statement_timeout: 57014 after the timeout, not after the 30 s answer
my $t0 = time;
my ($ret, $stdout, $stderr) = $node->psql('postgres',
	"SET statement_timeout = '500ms'; SELECT openrouter_chat($hi, 'standin/latency=30000;key=timeout1')");
my $took = time - $t0;
like($stderr, qr/canceling statement due to statement timeout/, 'statement_timeout: PostgreSQL\'s own error');
cmp_ok($took, '<', 3, sprintf('statement_timeout of 500 ms ends the call (%.3f s in all)', $took));

# the SQLSTATE is 57014 for both
my $states = $node->safe_psql('postgres', qq{
	SET statement_timeout = '300ms';
	DO \$\$ BEGIN
	  PERFORM openrouter_chat($hi, 'standin/latency=30000;key=timeout2');
	EXCEPTION WHEN query_canceled THEN RAISE NOTICE 'sqlstate %', SQLSTATE;
	END \$\$;
	SELECT 'after';});
is($states, 'after', 'statement_timeout is catchable as query_canceled (57014)');

# the same session works afterwards (no leaked transfer, no stale state)
is($node->safe_psql('postgres', qq{
	SET statement_timeout = '300ms';
	DO \$\$ BEGIN
	  PERFORM openrouter_chat($hi, 'standin/latency=30000;key=timeout3');
	EXCEPTION WHEN query_canceled THEN NULL;
	END \$\$;
	RESET statement_timeout;
	SELECT openrouter_chat($hi, 'openai/gpt-4o-mini')->'choices'->0->'message'->>'content';}),
	'Stand-in answer to: hi', 'a call after a cancelled one in the same session works');

# terminate during a transfer: the backend exits at once, the server lives on
($elapsed, $err) = interrupt_after_wait(
	"SELECT openrouter_chat($hi, 'standin/latency=30000;key=term1')",
	'latency=30000;key=term1', 'pg_terminate_backend');
like($err, qr/terminating connection due to administrator command/, 'terminate: PostgreSQL\'s own error');
cmp_ok($elapsed, '<', 2, sprintf('terminate during a transfer returns at once (%.3f s)', $elapsed));
is($node->safe_psql('postgres', 'SELECT 1'), '1', 'the server keeps running after a terminate');
unlike(slurp_file($node->logfile), qr/server process .* was terminated by signal|PANIC/,
	'no backend crashed');

$node->stop;
done_testing();
