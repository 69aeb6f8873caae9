# HTTP/2 when the server offers it: through nghttpx, a TLS front end that
# speaks HTTP/2 (ALPN h2) and forwards to the stand-in, the extension
# negotiates h2 and multiplexes a batch's requests over one connection.
use strict;
use warnings;
use PostgreSQL::Test::Utils;
use Test::More;
use OpenRouterTest;

my $node = new_openrouter_node('http2');
my $access_log = $node->basedir . '/nghttpx-access.log';
our $proxy;
END { $proxy->kill_kill if $proxy && $proxy->pumpable; }	# also when a check dies
($proxy, my $url) = start_h2_proxy($node,
	'--accesslog-file=' . $access_log,
	'--accesslog-format=$alpn $remote_port $request');

my $setup = "SET openrouter.base_url = '$url'; SET openrouter.ca_file = '$ENV{STANDIN_CA}';";
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
