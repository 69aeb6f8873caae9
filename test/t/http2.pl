# HTTP/2 when the server offers it: through nghttpx, a TLS front end that
# speaks HTTP/2 (ALPN h2) and forwards to the stand-in, the extension
# negotiates h2 and multiplexes a batch's requests over one connection.
use strict;
use warnings;
use File::Basename;
use IPC::Run;
use Time::HiRes qw(sleep);
use PostgreSQL::Test::Utils;
use Test::More;
use OpenRouterTest;

my $nghttpx = (grep { -x $_ } ('/usr/sbin/nghttpx', '/usr/bin/nghttpx'))[0];
plan skip_all => 'nghttpx (Debian package nghttp2-proxy) is not installed' unless $nghttpx;

my $node = new_openrouter_node('http2');
my $tls = dirname($ENV{STANDIN_CA});
my ($backend) = $ENV{STANDIN_URL} =~ m{//([\d.]+:\d+)/};
$backend =~ s/:/,/;
my $port = PostgreSQL::Test::Cluster::get_free_port();
my $access_log = $node->basedir . '/nghttpx-access.log';
our $proxy;
END { $proxy->kill_kill if $proxy && $proxy->pumpable; }	# also when a check dies
$proxy = IPC::Run::start(
	[ $nghttpx, '--conf=/dev/null', '--no-ocsp', "--frontend=127.0.0.1,$port", "--backend=$backend", '--workers=1',
	  '--accesslog-file=' . $access_log,
	  '--accesslog-format=$alpn $remote_port $request',
	  '--errorlog-file=' . $node->basedir . '/nghttpx-error.log',
	  "$tls/server.key", "$tls/server.pem" ],
	'>', \my $out, '2>', \my $err);
sleep 0.5;

my $setup = "SET openrouter.base_url = 'https://127.0.0.1:$port/api/v1'; SET openrouter.ca_file = '$ENV{STANDIN_CA}';";
my $via = $node->safe_psql('postgres', qq{$setup
	SELECT (openrouter_chat('[{"role":"user","content":"hi"}]', 'standin/echo')
	        ->'choices'->0->'message'->>'content')::jsonb->'headers'->>'via'});
like($via, qr/^2 nghttpx/, "the request went over HTTP/2 (Via: $via)");

is($node->safe_psql('postgres', qq{$setup
	SET openrouter.max_concurrency = 20;
	SELECT count(*) FROM openrouter_chat_batch(array(
	  SELECT jsonb_build_object('messages', openrouter_messages('q' || i), 'model', 'standin/latency=200;key=h2batch')
	  FROM generate_series(1, 20) AS i)) AS r WHERE r ? 'choices'}),
	'20', 'a batch of 20 concurrent requests over HTTP/2 was answered');

$proxy->signal('TERM');
$proxy->finish;
# the first line is the echo call's (another session); the others, the batch's
my (undef, @batch) = split /\n/, slurp_file($access_log);
is(scalar(@batch), 20, 'nghttpx saw the 20 requests');
is(scalar(grep { !/^h2 / } @batch), 0, 'all of them negotiated h2');
my %ports = map { (split / /)[1] => 1 } @batch;
is(scalar(keys %ports), 1, 'and were multiplexed over one connection');

$node->stop;
done_testing();
