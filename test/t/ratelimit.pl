# One pacing per API key for the whole server (limiter.c), shown by the
# stand-in's own counts and request log:
#   - four sessions sending at once with one key to a server that allows
#     R requests a second (429 beyond, naming no wait): every request is
#     answered and at most 5% of the attempts got a 429;
#   - a 429 that names its wait, seen by one session, holds back every other
#     session with the same key (no request with it reaches the stand-in
#     before the wait is over), not a session with another key; a session
#     whose openrouter.max_retry_wait is shorter than the wait fails at once
#     with OR429 (a transient failure) and sends nothing;
#   - the limiter shows keys by a digest, each role its own;
#   - without shared_preload_libraries the pacing is per session.
use strict;
use warnings;
use IPC::Run;
use PostgreSQL::Test::Utils;
use Test::More;
use OpenRouterTest;

my $node = new_openrouter_node('ratelimit', no_key => 1);
my $run = "$$-" . time;
my %key = (alice => "sk-or-v1-alice-ratelimit-$run", bob => "sk-or-v1-bob-ratelimit-$run");
$node->safe_psql('postgres', q{
	CREATE ROLE alice LOGIN; CREATE ROLE bob LOGIN; CREATE ROLE carol LOGIN;
	GRANT pg_read_all_stats TO carol;});
for my $role (qw(alice bob))
{
	$node->safe_psql('postgres', "SELECT openrouter_configure_client('$key{$role}')",
		extra_params => [ '-U', $role ]);
}

# start psql as a role in the background: (harness, \stdout, \stderr)
sub start_session
{
	my ($n, $role, $sql) = @_;
	my ($out, $err) = ('', '');
	my $h = IPC::Run::start(
		[ 'psql', '-X', '-q', '-At', '-d', $n->connstr('postgres') . " user=$role", '-c', $sql ],
		'>', \$out, '2>', \$err);
	return [ $h, \$out, \$err ];
}

sub finish_session
{
	my ($s) = @_;
	$s->[0]->finish;
	diag(${ $s->[2] }) if ${ $s->[2] } ne '';
	chomp(my $out = ${ $s->[1] });
	return $out;
}

# the stand-in's request log from a byte offset: [time_ms, model] per request
sub log_since
{
	my ($offset) = @_;
	open(my $log, '<', $ENV{STANDIN_LOG}) or die "cannot read the stand-in log: $!";
	seek($log, $offset, 0);
	my @requests;
	while (my $line = <$log>)
	{
		push @requests, [ $1, $2 ] if $line =~ /"time":(\d+).*"model":"([^"]+)"/;
	}
	close $log;
	return @requests;
}

my $hi = q{'[{"role": "user", "content": "hi"}]'};

# --- four sessions, one key, a server allowing 40 requests a second
my $rate_key = "share-$run";
my $batch = qq{SET openrouter.max_concurrency = 4;
	SET openrouter.max_retries = 20;
	SET openrouter.max_retry_wait = '10s';
	SELECT count(*) FILTER (WHERE r ? 'choices') FROM openrouter_chat_batch(array(
	  SELECT jsonb_build_object('messages', jsonb_build_array(jsonb_build_object('role', 'user', 'content', 'q' || i)),
	                            'model', 'standin/ratelimit=40;latency=20;key=$rate_key')
	  FROM generate_series(1, 100) AS i), on_error => 'ignore') AS r};
my @sessions = map { start_session($node, 'alice', $batch) } 1 .. 4;
my @answered = map { finish_session($_) } @sessions;
is("@answered", '100 100 100 100', 'every session got every answer');
my $counts = $node->safe_psql('postgres',
	qq{SELECT openrouter_chat($hi, 'standin/ratelimit_stats;key=$rate_key')->'choices'->0->'message'->>'content'},
	extra_params => [ '-U', 'bob' ]);
my ($allowed) = $counts =~ /"allowed":(\d+)/;
my ($limited) = $counts =~ /"limited":(\d+)/;
is($allowed, 400, 'the stand-in allowed each request once');
cmp_ok($limited / ($allowed + $limited), '<=', 0.05,
	"at most 5% of the attempts got a 429 ($limited of " . ($allowed + $limited) . ')');
my $row = $node->safe_psql('postgres', qq{
	SELECT requests, rate_limited, adaptive_per_minute IS NOT NULL FROM openrouter_rate_limits
	WHERE key_id = left(encode(sha256(convert_to('$key{alice}', 'UTF8')), 'hex'), 16)});
is($row, ($allowed + $limited) . "|$limited|t",
	"openrouter_rate_limits counts the key's attempts and 429s, and shows the pace it found");

# --- a 429 naming its wait holds back the other sessions with the same key
my $pause_key = "pause-$run";
my $log_start = -s $ENV{STANDIN_LOG};
my $first = start_session($node, 'alice', qq{SET openrouter.max_retry_wait = '10s';
	SELECT openrouter_chat($hi, 'standin/status=429;retry_after=4;times=1;key=$pause_key') ? 'choices'});
my $paused = 0;
for (1 .. 50)	# the 429 comes at once: then 1 s at most, so that the next session starts well within the pause
{
	$paused = $node->safe_psql('postgres',
		"SELECT count(*) FROM openrouter_rate_limits WHERE role = 'alice'::regrole AND paused_until > now()");
	last if $paused;
	select(undef, undef, undef, 0.02);
}
is($paused, 1, 'the 429 paused the key (openrouter_rate_limits.paused_until)');
# a session that may not wait that long fails at once as rate-limited, sending nothing
is($node->safe_psql('postgres', qq{SET openrouter.max_retry_wait = '1s';
	SELECT r->'error'->>'code', r->'error'->>'retryable', r->'error'->>'message'
	FROM openrouter_chat($hi, 'standin/key=$pause_key-impatient', on_error => 'ignore') AS r},
		extra_params => [ '-U', 'alice' ]),
	'rate_limited|true|openrouter is rate-limiting requests with this API key',
	'held past its own max_retry_wait, a request fails as a transient rate limit (on_error => ignore)');
my ($rc, $stdout, $stderr) = $node->psql('postgres', qq{\\set VERBOSITY verbose
	SET openrouter.max_retry_wait = '1s';
	SELECT openrouter_chat($hi, 'standin/key=$pause_key-impatient')},
	extra_params => [ '-U', 'alice' ]);
like($stderr, qr/OR429: openrouter is rate-limiting requests with this API key.*DETAIL:  Requests with this key are held back for \d+ ms after a 429 answer/s,
	'... and raises OR429 saying why (on_error => abort)');
my $same = start_session($node, 'alice', qq{SELECT openrouter_chat($hi, 'standin/key=$pause_key-same') ? 'choices'});
my $other = start_session($node, 'bob', qq{SELECT openrouter_chat($hi, 'standin/key=$pause_key-other') ? 'choices'});
is(finish_session($_), 't', 'every session got its answer') for ($first, $same, $other);

my ($t429, $t_retry, $t_same, $t_other);
for my $r (log_since($log_start))
{
	my ($ms, $model) = @$r;
	if ($model =~ /key=\Q$pause_key\E$/) { if (defined $t429) { $t_retry //= $ms } else { $t429 = $ms } }
	$t_same //= $ms if $model =~ /key=\Q$pause_key\E-same$/;
	$t_other //= $ms if $model =~ /key=\Q$pause_key\E-other$/;
}
ok(defined $t429 && defined $t_retry && defined $t_same && defined $t_other, 'the stand-in saw every request');
cmp_ok($t_same - $t429, '>=', 3900,
	'another session with the same key sent nothing until Retry-After: 4 s was over');
ok(!grep({ $_->[1] =~ /-impatient$/ } log_since($log_start)), 'the requests that could not wait were not sent');
cmp_ok($t_other - $t429, '<', 3900,
	'a session with another key was not held back (each key has its own pace)');

# --- keys are shown by a digest, each role its own
is($node->safe_psql('postgres', 'SELECT string_agg(role::text, \',\' ORDER BY role::text) FROM openrouter_rate_limits',
		extra_params => [ '-U', 'bob' ]),
	'bob', 'a role sees only the keys it sent with');
is($node->safe_psql('postgres', q{SELECT count(*) FROM openrouter_rate_limits WHERE role IN ('alice', 'bob')},
		extra_params => [ '-U', 'carol' ]),
	'2', 'members of pg_read_all_stats see every key');
is($node->safe_psql('postgres', qq{SELECT count(*) FROM openrouter_rate_limits r
		WHERE r::text LIKE '%ratelimit-$run%' OR key_id = left(encode(sha256(convert_to('$key{bob}', 'UTF8')), 'hex'), 16)}),
	'1', "a key is shown as its digest's first 16 hex digits, and no part of it");

# --- without the preload: one pace per session
my $solo = new_openrouter_node('ratelimit_solo', no_preload => 1);
my $solo_key = "solo-$run";
$log_start = -s $ENV{STANDIN_LOG};
$first = start_session($solo, 'postgres', qq{SET openrouter.max_retry_wait = '10s';
	SELECT openrouter_chat($hi, 'standin/status=429;retry_after=3;times=1;key=$solo_key') ? 'choices'});
sleep 1;
is($solo->safe_psql('postgres', qq{SELECT openrouter_chat($hi, 'standin/key=$solo_key-same') ? 'choices'}),
	't', 'without the preload, another session answered');
is(finish_session($first), 't', '... and so did the paused one');
($t429, $t_same) = (undef, undef);
for my $r (log_since($log_start))
{
	$t429 //= $r->[0] if $r->[1] =~ /key=\Q$solo_key\E$/;
	$t_same //= $r->[0] if $r->[1] =~ /key=\Q$solo_key\E-same$/;
}
cmp_ok($t_same - $t429, '<', 2900, '... without waiting for the other session\'s pause (pacing is per session)');

done_testing();
