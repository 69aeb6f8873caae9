# Operations (README "Operations"): what a user should not have to guess.
# Progress of a long batch between its start and its end, retries and long
# waits in the logs, a session waiting on OpenRouter in pg_stat_activity,
# keys per database, typos in settings with and without the preload entry,
# and the regression suite saying what it needs.
use strict;
use warnings;
use File::Basename qw(dirname);
use IPC::Run;
use Time::HiRes qw(time sleep);
use PostgreSQL::Test::Utils;
use Test::More;
use OpenRouterTest;

my $node = new_openrouter_node('operations');

# --- progress: a batch longer than the report interval reports in between
my $start = time;
my ($ret, $out, $err) = $node->psql('postgres', q{
	SET openrouter.max_concurrency = 32;
	SELECT count(*) FROM openrouter_chat_batch(ARRAY(
	  SELECT jsonb_build_object('messages', openrouter_messages('slow ' || i), 'model', 'standin/latency=200')
	  FROM generate_series(1, 600) i));});
my $seconds = time - $start;
is($out, '600', 'a batch of 600 slow requests is answered');
my @lines = $err =~ /openrouter_chat_batch: (\d+) of 600 requests \((\d+)%\), 0 errors/g;
my @done = @lines[ grep { $_ % 2 == 0 } 0 .. $#lines ];
ok(@done >= 2 && $done[0] > 0 && $done[0] < 600,
	"it reported its progress before the end ($done[0] of 600)") or diag($err);
is($done[-1], 600, 'and its end');
ok(@done <= $seconds / 2 + 2, sprintf('at most one report per 2 s (%d in %.1f s)', scalar(@done), $seconds));
like($err, qr/DETAIL:  [\d.]+ requests\/s, about \d+ s left/, 'with the rate and the time left');

# --- retries: a DEBUG1 line each, a LOG line for a wait of a few seconds
($ret, $out, $err) = $node->psql('postgres', q{
	SET client_min_messages = debug1;
	SELECT openrouter_chat(openrouter_messages('hi'), 'standin/status=503;times=1;key=ops-retry')->'object';});
is($ret, 0, 'a request that fails once succeeds on its retry');
like($err, qr/DEBUG:  openrouter: retrying a request to model "standin\/status=503;times=1;key=ops-retry" in \d+ ms \(attempt 2 of 4\): /,
	'the retry is a DEBUG1 line');
my $log_offset = -s $node->logfile;
($ret, $out, $err) = $node->psql('postgres', q{
	SELECT openrouter_chat(openrouter_messages('hi'), 'standin/status=429;retry_after=4;times=1;key=ops-wait')->'object';});
is($ret, 0, 'a request told to wait 4 s succeeds after the wait');
like(slurp_file($node->logfile, $log_offset),
	qr/LOG:  openrouter: retrying a request to model "[^"]*key=ops-wait" in \d{4} ms \(attempt 2 of 4\)/,
	'a wait of seconds is a LOG line in the server log');

# --- a session waiting on OpenRouter, in pg_stat_activity
my ($bout, $berr) = ('', '');
my $h = IPC::Run::start(
	[ 'psql', '-X', '-At', '-d', $node->connstr('postgres'), '-c',
	  q{SELECT openrouter_chat(openrouter_messages('slow'), 'standin/latency=1500')->'object'} ],
	'>', \$bout, '2>', \$berr);
my $activity = '';
for (1 .. 100)
{
	$activity = $node->safe_psql('postgres', q{
		SELECT state || ' ' || wait_event_type || ' ' || wait_event FROM pg_stat_activity
		WHERE query LIKE '%standin/latency=1500%' AND pid <> pg_backend_pid()});
	last if $activity =~ /Extension/;
	sleep 0.05;
}
is($activity, 'active Extension Extension',
	'a session waiting on OpenRouter is active, waiting on wait_event_type Extension');
$h->finish;

# --- keys are stored per role per database
$node->safe_psql('postgres', 'CREATE DATABASE other');
$node->safe_psql('other', 'CREATE EXTENSION openrouter');
is($node->safe_psql('postgres', 'SELECT key_source FROM openrouter_client()'), 'role',
	'the role has its key in the database where it stored it');
is($node->safe_psql('other', q{SELECT coalesce(key_source, 'none') FROM openrouter_client()}), 'none',
	'and none in another database');

# --- a typo in a setting: an error at SET with the preload entry ...
($ret, $out, $err) = $node->psql('postgres', q{SET openrouter.tiemout = '5s'});
like($err, qr/ERROR:  invalid configuration parameter name "openrouter.tiemout"/,
	'with the library preloaded, a misspelt openrouter.* setting is an error at SET');
# ... and accepted silently without it (until the library loads)
my $plain = new_openrouter_node('operations_no_preload', no_preload => 1);
($ret, $out, $err) = $plain->psql('postgres', q{SET openrouter.tiemout = '5s'; SHOW openrouter.tiemout});
is($out, '5s', 'without it, a fresh session accepts the typo (a placeholder)');

# --- the regression suite says clearly what it needs
$plain->safe_psql('postgres', q{ALTER SYSTEM SET openrouter.base_url = 'http://127.0.0.1:9/api/v1'});
$plain->reload;
my $setup = dirname(__FILE__) . '/../regress/sql/setup.sql';
($ret, $out, $err) = $plain->psql('postgres', undef, extra_params => [ '-f', $setup ]);
like($err, qr/ERROR:  the regression suite needs the OpenRouter stand-in at openrouter.base_url\n.*DETAIL:  openrouter.base_url = http:\/\/127.0.0.1:9\/api\/v1 does not answer as test\/standin does.\n.*HINT:  Start test\/standin\/openrouter-standin/s,
	'setup.sql against a server without the stand-in says what it needs');

done_testing();
