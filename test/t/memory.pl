# A backend's private memory after big batches stays bounded, over TLS with
# HTTP/2 (nghttpx in front of the stand-in) and over plain HTTP/1.1: it was
# 60-100 MB after a second batch of 10,000 requests over HTTP/2: a connection
# per stream beyond the server's limit, and free memory malloc kept between
# libcurl's long-lived allocations (see README.md, "Performance").  One session runs three batches; RssAnon is read from
# /proc after each, in the next statement.
use strict;
use warnings;
use PostgreSQL::Test::Utils;
use Test::More;
use OpenRouterTest;

my $node = new_openrouter_node('memory');
my $access_log = $node->basedir . '/nghttpx-access.log';
our $proxy;
END { $proxy->kill_kill if $proxy && $proxy->pumpable; }	# also when a check dies
($proxy, my $h2_url) = start_h2_proxy($node,
	'--accesslog-file=' . $access_log, '--accesslog-format=$remote_port');

sub rss_after_batches
{
	my ($url) = @_;
	my $batch = q{SELECT count(*) FROM openrouter_chat_batch(array(
		SELECT jsonb_build_object('messages', openrouter_messages('q' || i), 'model', 'openai/gpt-4o-mini')
		FROM generate_series(1, 10000) AS i)) AS r WHERE r ? 'choices';};
	my $rss = q{SELECT substring(pg_read_file('/proc/self/status') from 'RssAnon:\s+(\d+)');};
	my $out = $node->safe_psql('postgres', qq{
		SET openrouter.base_url = '$url'; SET openrouter.ca_file = '$ENV{STANDIN_CA}';
		SET openrouter.max_concurrency = 256;
		$batch $rss $batch $rss $batch $rss});
	my @lines = split /\n/, $out;
	is(join(',', @lines[0, 2, 4]), '10000,10000,10000', "every request of the batches over $url was answered");
	return @lines[1, 3, 5];
}

my @h2 = rss_after_batches($h2_url);
my @plain = rss_after_batches($ENV{STANDIN_URL});
diag("RssAnon after each batch of 10,000: HTTP/2 over TLS @h2 kB; HTTP/1.1 @plain kB");
cmp_ok($h2[1], '<', 40000, "HTTP/2: under 40 MB after the second batch ($h2[1] kB)");
cmp_ok($h2[2], '<', 40000, "HTTP/2: under 40 MB after the third batch ($h2[2] kB)");
cmp_ok($plain[2], '<', 40000, "HTTP/1.1: under 40 MB after the third batch ($plain[2] kB)");

$proxy->signal('TERM');
$proxy->finish;
# once the host is known to multiplex, a few connections carry a whole batch
my @ports = split /\n/, slurp_file($access_log);
my %last_batch = map { $_ => 1 } @ports[-10000 .. -1];
cmp_ok(scalar(keys %last_batch), '<=', 4,
	'the third HTTP/2 batch went over at most 4 connections (' . scalar(keys %last_batch) . ')');
$node->stop;
done_testing();
