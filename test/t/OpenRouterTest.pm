# OpenRouterTest.pm: helpers shared by the TAP tests in test/t/.
#
# Each test gets its own throwaway cluster (PostgreSQL::Test::Cluster) whose
# openrouter.base_url points at the stand-in started by test/run-tests.sh
# (STANDIN_URL), with the library preloaded (no_preload => 1: not), the
# response cache off (response_cache => 1: left at its default), the
# extension created and a test key stored (no_key => 1: not).
package OpenRouterTest;

use strict;
use warnings;
use Exporter 'import';
use File::Basename;
use IPC::Run;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(sleep);

our @EXPORT = qw(new_openrouter_node standin_stats start_query start_h2_proxy standin_auth_hint);

sub new_openrouter_node
{
	my ($name, %opts) = @_;
	plan skip_all => 'STANDIN_URL is not set: run through test/run-tests.sh'
	  unless $ENV{STANDIN_URL};

	my $node = PostgreSQL::Test::Cluster->new($name);
	$node->init;
	$node->append_conf('postgresql.conf',
		"openrouter.base_url = '$ENV{STANDIN_URL}'\n"
		  . "openrouter.models_refresh_interval = 0\n"
		  . ($opts{no_preload} ? '' : "shared_preload_libraries = 'openrouter'\n")
		  # the suites count requests at the stand-in: the response cache is
		  # off unless a test asks for the built-in default (response_cache => 1)
		  . ($opts{response_cache} ? '' : "openrouter.cache = off\n")
		  . ($opts{conf} // ''));
	$node->start;
	$node->safe_psql('postgres', 'CREATE EXTENSION openrouter');
	$node->safe_psql('postgres',
		"SELECT openrouter_configure_client('sk-or-v1-tap-test-key')")
	  unless $opts{no_key};
	return $node;
}

# the stand-in's counters, asked through the extension from a fresh session
sub standin_stats
{
	my ($node) = @_;
	my $json = $node->safe_psql('postgres',
		q{SELECT openrouter_chat('[{"role":"user","content":"stats"}]', 'standin/stats')->'choices'->0->'message'->>'content'});
	my %stats = $json =~ /"(\w+)":\s*(\d+)/g;
	return \%stats;
}

# Run $sql through psql in the background; returns (harness, \stdout, \stderr).
sub start_query
{
	my ($node, $sql) = @_;
	my ($out, $err) = ('', '');
	my $h = IPC::Run::start(
		[ 'psql', '-X', '-At', '-d', $node->connstr('postgres'), '-c', $sql ],
		'>', \$out, '2>', \$err);
	return ($h, \$out, \$err);
}

# what standin/echo reports as the Authorization header for a key (a hint,
# never the key: see test/standin/README.md, "echo")
sub standin_auth_hint
{
	my ($key) = @_;
	my $n = length $key;
	return 'Bearer ' . ($n >= 16 ? substr($key, 0, 9) . '...' . substr($key, -6)
		: '...' . substr($key, $n - int($n / 2)));
}

# nghttpx in front of the stand-in: TLS with HTTP/2 (ALPN h2).  Skips the
# test when nghttpx (Debian package nghttp2-proxy) is not installed.  Returns
# the IPC::Run handle and the base URL; extra nghttpx options may follow.
sub start_h2_proxy
{
	my ($node, @options) = @_;
	my $nghttpx = (grep { -x $_ } ('/usr/sbin/nghttpx', '/usr/bin/nghttpx'))[0];
	plan skip_all => 'nghttpx (Debian package nghttp2-proxy) is not installed' unless $nghttpx;

	my $tls = dirname($ENV{STANDIN_CA});
	my ($backend) = $ENV{STANDIN_URL} =~ m{//([\d.]+:\d+)/};
	$backend =~ s/:/,/;
	my $port = PostgreSQL::Test::Cluster::get_free_port();
	my $proxy = IPC::Run::start(
		[ $nghttpx, '--conf=/dev/null', '--no-ocsp', "--frontend=127.0.0.1,$port", "--backend=$backend", '--workers=1',
		  '--errorlog-file=' . $node->basedir . '/nghttpx-error.log', @options,
		  "$tls/server.key", "$tls/server.pem" ],
		'>', \my $out, '2>', \my $err);
	sleep 0.5;
	return ($proxy, "https://127.0.0.1:$port/api/v1");
}

1;
