# OpenRouterTest.pm: helpers shared by the TAP tests in test/t/.
#
# Each test gets its own throwaway cluster (PostgreSQL::Test::Cluster) whose
# openrouter.base_url points at the stand-in started by test/run-tests.sh
# (STANDIN_URL), with the extension created and a test key stored.
package OpenRouterTest;

use strict;
use warnings;
use Exporter 'import';
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

our @EXPORT = qw(new_openrouter_node standin_stats);

sub new_openrouter_node
{
	my ($name, %opts) = @_;
	plan skip_all => 'STANDIN_URL is not set: run through test/run-tests.sh'
	  unless $ENV{STANDIN_URL};

	my $node = PostgreSQL::Test::Cluster->new($name);
	$node->init;
	$node->append_conf('postgresql.conf',
		"openrouter.base_url = '$ENV{STANDIN_URL}'\n" . ($opts{conf} // ''));
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

1;
