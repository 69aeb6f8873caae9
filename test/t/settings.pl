# The superuser-only settings (openrouter.base_url, proxy, ca_file) keep the
# administrator's value when a role that may not set them tries to at
# connection time, before the library is loaded (issue 7, point 3): the
# refused value must not leave the built-in default in force.
use strict;
use warnings;
use PostgreSQL::Test::Utils;
use Test::More;
use OpenRouterTest;

# (not preloaded: the values at stake are given before the library loads)
my $node = new_openrouter_node('settings', no_preload => 1);
my $standin = $ENV{STANDIN_URL};

# the administrator's choices: base_url in the configuration file (written by
# new_openrouter_node), the proxy and CA file per database and per role
$node->safe_psql('postgres', q{
	CREATE ROLE regress_dave LOGIN;
	GRANT CREATE ON SCHEMA public TO regress_dave;
	ALTER DATABASE postgres SET openrouter.proxy = 'http://127.0.0.1:9';
	ALTER ROLE regress_dave SET openrouter.ca_file = '/nonexistent/admin-ca.pem';});
$node->safe_psql('postgres', q{ALTER DATABASE postgres SET openrouter.proxy = 'http://127.0.0.1:1'});
$node->safe_psql('postgres', "SET ROLE regress_dave; SELECT openrouter_configure_client('sk-or-v1-dave')");

sub as_dave_with_options
{
	my ($options, $sql) = @_;
	local $ENV{PGOPTIONS} = $options;
	my ($stdout, $stderr);
	$node->psql('postgres', $sql, stdout => \$stdout, stderr => \$stderr,
		extra_params => [ '-U', 'regress_dave' ]);
	return ($stdout, $stderr);
}

my $show = q{SELECT current_setting('openrouter.base_url') || ' ' || current_setting('openrouter.proxy') || ' ' || current_setting('openrouter.ca_file') FROM openrouter_client()};
my ($out, $err) = as_dave_with_options('', $show);
is($out, "$standin http://127.0.0.1:1 /nonexistent/admin-ca.pem",
	'without connection options, the administrator\'s values are in force');

($out, $err) = as_dave_with_options(
	'-c openrouter.base_url=http://attacker.invalid/ -c openrouter.proxy= -c openrouter.ca_file=',
	$show);
like($err, qr/permission denied to set parameter "openrouter.proxy"/,
	'a non-superuser\'s connection-time value is refused with a warning');
is($out, "$standin http://127.0.0.1:1 /nonexistent/admin-ca.pem",
	'and the administrator\'s values stay in force (file, database and role settings)');

# the request really goes through the administrator's proxy (nothing listens
# on port 1: the connection to it fails)
($out, $err) = as_dave_with_options('-c openrouter.proxy=',
	q{SET openrouter.max_retries = 0;
	  SELECT openrouter_chat('[{"role":"user","content":"hi"}]', 'standin/echo', on_error => 'ignore')->'error'->>'sqlstate'});
is($out, 'ORN01', 'a request goes to the administrator\'s proxy, not around it');

# a superuser may still choose per session
$node->safe_psql('postgres', 'ALTER DATABASE postgres RESET openrouter.proxy');
{
	local $ENV{PGOPTIONS} = '-c openrouter.proxy=http://127.0.0.1:2';
	is($node->safe_psql('postgres', 'SELECT base_url FROM openrouter_client(); SHOW openrouter.proxy'),
		"$standin\nhttp://127.0.0.1:2", 'a superuser\'s connection-time value is accepted');
}

$node->stop;
done_testing();
