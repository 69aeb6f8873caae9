# One transfer engine per backend: connections (and TLS sessions) are reused
# across calls; the stand-in counts the TCP connections it accepted.
use strict;
use warnings;
use PostgreSQL::Test::Utils;
use Test::More;
use OpenRouterTest;

my $node = new_openrouter_node('connections');
my $hi = q{'[{"role":"user","content":"hi"}]'};
my $stats = q{(openrouter_chat('[{"role":"user","content":"s"}]', 'standin/stats')->'choices'->0->'message'->>'content')::jsonb};

# stats, 25 calls and stats again, all in one session
sub connections_used
{
	my ($setup) = @_;
	return $node->safe_psql('postgres', qq{
		$setup
		CREATE TEMP TABLE s AS SELECT $stats AS before;
		SELECT count(*) FROM generate_series(1, 25) AS i,
		  openrouter_chat(jsonb_build_array(jsonb_build_object('role', 'user', 'content', 'q' || i)),
		                  'openai/gpt-4o-mini') AS r WHERE r ? 'choices';
		SELECT ($stats->>'connections')::int - (before->>'connections')::int FROM s;});
}

is(connections_used(''), "25\n0",
	'25 calls over HTTP in one session open no new connection');

my $tls = $ENV{STANDIN_TLS_URL};
my $ca = $ENV{STANDIN_CA};
is(connections_used("SET openrouter.base_url = '$tls'; SET openrouter.ca_file = '$ca';"), "25\n0",
	'25 calls over HTTPS in one session open no new connection (TLS session reused)');

# each backend has its own engine: a new session opens its own connection
my $before = standin_stats($node)->{connections};
my $after = standin_stats($node)->{connections};
is($after - $before, 1, 'a new session opens one connection of its own');

# a transfer aborted by a cancel drops only its own connection
is($node->safe_psql('postgres', qq{
	CREATE TEMP TABLE s AS SELECT $stats AS before;
	SET statement_timeout = '200ms';
	DO \$\$ BEGIN
	  PERFORM openrouter_chat($hi, 'standin/latency=5000');
	EXCEPTION WHEN query_canceled THEN NULL;
	END \$\$;
	RESET statement_timeout;
	SELECT openrouter_chat($hi, 'openai/gpt-4o-mini') ? 'choices';
	SELECT ($stats->>'connections')::int - (before->>'connections')::int FROM s;}),
	"t\n1", 'after a cancelled transfer one new connection replaces the aborted one');

$node->stop;
done_testing();
