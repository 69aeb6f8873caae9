# Keys outside one session: OPENROUTER_API_KEY in the server's environment,
# keys that survive a restart, and keys that never reach dumps or logs.
use strict;
use warnings;
use PostgreSQL::Test::Utils;
use Test::More;
use OpenRouterTest;

my $env_key = 'sk-or-v1-from-the-server-environment';
my $role_key = 'sk-or-v1-stored-role-key-0123456789';
my $auth = q{(openrouter_chat('[{"role":"user","content":"hi"}]', 'standin/echo')->'choices'->0->'message'->>'content')::jsonb->'headers'->>'authorization'};

local $ENV{OPENROUTER_API_KEY} = $env_key;
my $node = new_openrouter_node('keys', no_key => 1,
	conf => "log_statement = none\nlog_min_messages = debug1\n");

is($node->safe_psql('postgres', "SELECT $auth"), standin_auth_hint($env_key),
	'without a stored or session key, OPENROUTER_API_KEY from the server environment is used');
is($node->safe_psql('postgres', 'SELECT key_source FROM openrouter_client()'), 'environment',
	'openrouter_client() names the environment as the source');

$node->safe_psql('postgres', qq{
	CREATE ROLE regress_carol LOGIN;
	SET ROLE regress_carol;
	SELECT openrouter_configure_client('$role_key');});
is($node->safe_psql('postgres', "SET ROLE regress_carol; SELECT $auth"), standin_auth_hint($role_key),
	'a stored key takes precedence over the environment');
is($node->safe_psql('postgres', "SET ROLE regress_carol; SET openrouter.api_key = 'sk-or-v1-session'; SELECT $auth"),
	standin_auth_hint('sk-or-v1-session'), 'a session key takes precedence over the stored key');

$node->restart;
is($node->safe_psql('postgres', "SET ROLE regress_carol; SELECT $auth"), standin_auth_hint($role_key),
	'the stored key survives a restart');

# a failing call's error and statement go to the log; the key does not
# (statement logging, log_statement = 'all', would log the literal text of
# the openrouter_configure_client() call itself: see README, "Security")
$node->psql('postgres', "SET ROLE regress_carol; SET openrouter.max_retries = 0; SELECT openrouter_chat('[{\"role\":\"user\",\"content\":\"hi\"}]', 'standin/status=401')");

# pg_dump, as a superuser and as the role itself, writes no key out
my $dump_file = $node->basedir . '/dump.sql';
$node->command_ok([ 'pg_dump', '-d', $node->connstr('postgres'), '-f', $dump_file ],
	'pg_dump as superuser');
my $dump = slurp_file($dump_file);
like($dump, qr/CREATE EXTENSION IF NOT EXISTS openrouter/, 'the dump has the extension');
unlike($dump, qr/stored-role-key/, 'a superuser\'s dump holds no stored key');

my ($stdout, $stderr);
IPC::Run::run([ 'pg_dump', '-d', $node->connstr('postgres') . ' user=regress_carol', '-t', 'openrouter_api_key' ],
	'>', \$stdout, '2>', \$stderr);
unlike($stdout . $stderr, qr/stored-role-key/, 'the role\'s own dump of the key table holds no key');

my $log = slurp_file($node->logfile);
like($log, qr/ERROR:  openrouter returned HTTP 401/, 'the failing call\'s error was logged');
like($log, qr/STATEMENT:  .*standin\/status=401/, 'and its statement');
unlike($log, qr/stored-role-key/, 'the stored key is not in the server log');
unlike($log, qr/from-the-server-environment/, 'the environment key is not in the server log');

$node->stop;
done_testing();
