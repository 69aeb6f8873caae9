# Batches and batch jobs: a cancel stops every transfer of a batch; a 429
# holds back the whole batch; openrouter_backfill() commits chunk by chunk,
# loses one chunk at most when stopped, resumes when called again, keeps its
# memory flat over hundreds of chunks, and runs as a pg_cron job (Debian's
# pg_cron 1.4 runs jobs once a minute at most).
use strict;
use warnings;
use Time::HiRes qw(time sleep);
use IPC::Run;
use PostgreSQL::Test::Utils;
use Test::More;
use OpenRouterTest;

my $node = new_openrouter_node('batch_jobs',
	conf => "shared_preload_libraries = 'openrouter, pg_cron'\ncron.database_name = 'postgres'\n"
	  . "cron.use_background_workers = on\nmax_worker_processes = 20\n");
$node->safe_psql('postgres', 'CREATE EXTENSION pg_cron');

sub stats { return standin_stats($node) }

# --- a cancel stops all the transfers of a batch at once
my $batch = q{SET openrouter.max_concurrency = 40;
	SELECT count(*) FROM openrouter_chat_batch(array(
	  SELECT jsonb_build_object('messages', jsonb_build_array(jsonb_build_object('role', 'user', 'content', 'q' || i)),
	                            'model', 'standin/latency=20000;key=cancelbatch')
	  FROM generate_series(1, 40) AS i))};
my ($out, $err) = ('', '');
my $h = IPC::Run::start([ 'psql', '-X', '-d', $node->connstr('postgres'), '-c', $batch ],
	'>', \$out, '2>', \$err);
my $in_flight = 0;
for (1 .. 100)
{
	$in_flight = stats()->{in_flight};
	last if $in_flight >= 40;
	sleep 0.05;
}
is($in_flight, 40, 'the batch has 40 requests in flight at once');
my $t0 = time;
$node->safe_psql('postgres',
	"SELECT pg_cancel_backend(pid) FROM pg_stat_activity WHERE query LIKE '%key=cancelbatch%' AND pid <> pg_backend_pid()");
$h->finish;
my $cancel_time = time - $t0;
like($err, qr/canceling statement due to user request/, 'the batch was cancelled');
cmp_ok($cancel_time, '<', 2, sprintf('the cancel took effect at once (%.3f s)', $cancel_time));
for (1 .. 40)
{
	$in_flight = stats()->{in_flight};
	last if $in_flight == 0;
	sleep 0.05;
}
is($in_flight, 0, 'no transfer of the cancelled batch is left running');

# --- a 429 holds back the whole batch, not just the request that got it
my $log_before = -s $ENV{STANDIN_LOG};
my $key = "pause429-$$-" . int(time);	# the stand-in counts failures per key
my $result = $node->safe_psql('postgres', qq{
	SET openrouter.max_concurrency = 4;
	SELECT count(*) FILTER (WHERE r ? 'choices') FROM openrouter_chat_batch(array(
	  SELECT jsonb_build_object('messages', jsonb_build_array(jsonb_build_object('role', 'user', 'content', 'p' || i)),
	                            'model', CASE WHEN i = 1 THEN 'standin/status=429;retry_after=1;times=1;key=$key'
	                                          ELSE 'standin/latency=50;key=$key-other' END)
	  FROM generate_series(1, 24) AS i)) AS r});
is($result, '24', 'every request of the batch was answered');
open(my $log, '<', $ENV{STANDIN_LOG}) or die "no stand-in log: $!";
seek($log, $log_before, 0);
my ($t429, @later);
while (my $line = <$log>)
{
	next unless $line =~ /"time":(\d+).*"model":"standin\/([^"]+)"/;
	my ($ms, $model) = ($1, $2);
	if ($model =~ /key=\Q$key\E$/) { $t429 //= $ms; }
	elsif ($model =~ /key=\Q$key\E-other/ && defined $t429) { push @later, $ms - $t429; }
}
close $log;
ok(defined $t429, 'the stand-in answered 429 once');
my @during_pause = grep { $_ > 60 && $_ < 900 } @later;
is(scalar(@during_pause), 0,
	'no new request started while the batch waited out Retry-After: 1 s')
  or diag("starts after the 429 (ms): @later");

# a table of ROWS rows whose computed column "summary" (the text of MODEL's
# answer to the row's body) is pending
sub pending_table
{
	my ($table, $rows, $model) = @_;
	$node->safe_psql('postgres', qq{
	CREATE TABLE $table (id int PRIMARY KEY, body text);
	INSERT INTO $table SELECT i, '$table ' || i FROM generate_series(1, $rows) AS i;
	SELECT openrouter_add_computed_column('$table', 'summary',
	  \$\$openrouter_chat(openrouter_messages(body), '$model')->'choices'->0->'message'->>'content'\$\$,
	  backfill => false);});
}

# --- openrouter_backfill: chunk by chunk, resumable
pending_table('docs', 300, 'standin/latency=150');
my ($ret, $stdout, $stderr) = $node->psql('postgres', q{
	SET openrouter.max_concurrency = 25;
	SET statement_timeout = '1500ms';
	CALL openrouter_backfill('docs', 'summary', chunk_size => 50);});
like($stderr, qr/canceling statement due to statement timeout/, 'a backfill stopped part way');
like($stderr, qr/openrouter_backfill: 50 of 300 rows/, 'it reported its progress');
my $filled = $node->safe_psql('postgres', 'SELECT count(summary) FROM docs');
ok($filled > 0 && $filled < 300 && $filled % 50 == 0,
	"the chunks done before the stop were kept ($filled rows)");
($ret, $stdout, $stderr) = $node->psql('postgres', q{
	SET openrouter.max_concurrency = 25;
	CALL openrouter_backfill('docs', 'summary', chunk_size => 50);});
is($ret, 0, 'calling it again finishes the job');
like($stderr, qr/openrouter_backfill: @{[300 - $filled]} rows of docs.summary to compute/,
	'it resumed with the rows still pending');
is($node->safe_psql('postgres', q{SELECT count(*) FROM docs WHERE summary = 'Stand-in answer to: ' || body}),
	'300', 'every row has its answer');

# --- a long backfill's memory stays flat: nothing a chunk allocates outlives
# it (the backend's memory contexts, logged after 50 and after 350 chunks)
pending_table('long_docs', 4000, 'standin/latency=20');
my ($long_out, $long_err) = ('', '');
my $long = IPC::Run::start(
	[
		'psql', '-X', '-d', $node->connstr('postgres'),
		'-c', q{SET application_name = 'long_backfill'}, '-c', 'SET openrouter.max_concurrency = 10',
		'-c', q{CALL openrouter_backfill('long_docs', 'summary', chunk_size => 10)}
	],
	'>', \$long_out, '2>', \$long_err);

sub memory_contexts_total		# pid -> the bytes of its memory contexts
{
	my ($pid) = @_;
	my $offset = -s $node->logfile;
	$node->safe_psql('postgres', "SELECT pg_log_backend_memory_contexts($pid)");
	for (1 .. 100)
	{
		return $1 if slurp_file($node->logfile, $offset) =~ /\[$pid\].*Grand total: (\d+) bytes/;
		sleep 0.1;
	}
	return undef;
}
ok($node->poll_query_until('postgres', 'SELECT count(summary) >= 500 FROM long_docs'),
	'the long backfill is under way');
my $long_pid = $node->safe_psql('postgres',
	q{SELECT pid FROM pg_stat_activity WHERE application_name = 'long_backfill'});
my $early = memory_contexts_total($long_pid);
ok($node->poll_query_until('postgres', 'SELECT count(summary) >= 3500 FROM long_docs'),
	'the long backfill went on');
my $late = memory_contexts_total($long_pid);
$long->finish;
is($node->safe_psql('postgres', 'SELECT count(summary) FROM long_docs'), '4000', 'it computed every row');
ok(defined $early && defined $late && $late - $early < 1_000_000,
	'300 chunks later its memory contexts hold less than 1 MB more')
  or diag('memory contexts: ' . ($early // 'none') . ' then ' . ($late // 'none') . " bytes\n$long_err");

# --- as a pg_cron job
pending_table('cron_docs', 40, 'openai/gpt-4o-mini');
$node->safe_psql('postgres', q{
	SELECT cron.schedule('fill-cron-docs', '* * * * *',
	  $$CALL openrouter_backfill('cron_docs', 'summary', chunk_size => 10)$$);});
ok($node->poll_query_until('postgres', 'SELECT count(summary) = 40 FROM cron_docs'),
	'a pg_cron job filled the column');
is($node->safe_psql('postgres',
	q{SELECT count(*) > 0 FROM cron.job_run_details WHERE status = 'succeeded' AND command LIKE '%openrouter_backfill%'}),
	't', 'pg_cron recorded the job as succeeded');
$node->safe_psql('postgres', q{SELECT cron.unschedule('fill-cron-docs')});

# --- concurrent runs on one column: each cell is paid for once, counts are exact
pending_table('race', 3000, 'standin/latency=20');

# two sessions wait for one advisory lock, then start together
sub run_together
{
	my ($sql) = @_;
	my $gate = $node->background_psql('postgres');
	$gate->query_safe('SELECT pg_advisory_lock(4242)');
	my @runs;
	for my $i (0, 1)
	{
		my %run = (out => '', err => '');
		$run{h} = IPC::Run::start(
			[ 'psql', '-X', '-At', '-d', $node->connstr('postgres'), '-c',
			  "SELECT pg_advisory_lock_shared(4242)", '-c', 'SET openrouter.max_concurrency = 16', '-c', $sql ],
			'>', \$run{out}, '2>', \$run{err});
		push @runs, \%run;
	}
	# both are waiting for the gate
	$node->poll_query_until('postgres',
		q{SELECT count(*) = 2 FROM pg_locks WHERE locktype = 'advisory' AND NOT granted});
	$gate->query_safe('SELECT pg_advisory_unlock(4242)');
	$gate->quit;
	$_->{h}->finish for @runs;
	return @runs;
}

my $before = stats()->{requests};
my @runs = run_together(q{SELECT openrouter_recompute('race', 'summary')});
my $after = stats()->{requests};
my ($n1, $n2) = map { (split /\n/, $_->{out})[-1] } @runs;
is($n1 + $n2, 3000, "two concurrent recomputes computed 3000 rows between them ($n1 + $n2)");
is($after - $before - 1, 3000, 'and sent 3000 requests: none twice');
is($node->safe_psql('postgres', q{SELECT count(*) FROM race WHERE summary = 'Stand-in answer to: ' || body}),
	'3000', 'every row has its answer');

$node->safe_psql('postgres', q{
	SELECT openrouter_drop_computed_column('race', 'summary');
	SELECT openrouter_add_computed_column('race', 'summary',
	  $$openrouter_chat(openrouter_messages(body), 'standin/latency=20')->'choices'->0->'message'->>'content'$$,
	  backfill => false);});
$before = stats()->{requests};
@runs = run_together(q{CALL openrouter_backfill('race', 'summary', chunk_size => 100)});
$after = stats()->{requests};
my ($done, $errors) = (0, 0);
for my $run (@runs)
{
	my @progress = $run->{err} =~ /openrouter_backfill: (\d+) of \d+ rows \(\d+%\), (\d+) errors/g;
	ok(@progress >= 2, 'a backfill reported its progress') or diag($run->{err});
	$done += $progress[-2] // 0;
	$errors += $progress[-1] // 0;
}
is($done, 3000, 'the two concurrent backfills report 3000 rows computed between them');
is($errors, 0, 'and no errors, since no cell failed');
is($after - $before - 1, 3000, 'they sent 3000 requests: none twice');
is($node->safe_psql('postgres', q{SELECT count(*) FROM race WHERE summary = 'Stand-in answer to: ' || body}),
	'3000', 'every row has its answer');

$node->stop;
done_testing();
