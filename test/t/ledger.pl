# The usage ledger (issue 9): every request is recorded, with what the
# answer says it cost, even when the transaction that sent it rolls back,
# is cancelled, or its backend is killed after the answer arrived; a role
# sees its own rows, pg_read_all_stats all of them; old rows expire.
use strict;
use warnings;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(usleep);
use OpenRouterTest;

my $node = new_openrouter_node('ledger',
	conf => "restart_after_crash = on\n");
my $hi = q{'[{"role":"user","content":"hi"}]'};

# the worker of this database is running and shows itself
ok($node->poll_query_until('postgres',
	q{SELECT count(*) = 1 FROM pg_stat_activity WHERE backend_type = 'openrouter worker' AND datname = 'postgres'}),
	'the database\'s worker runs and shows up in pg_stat_activity');
is($node->safe_psql('postgres', q{SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'openrouter launcher'}),
	'1', 'so does the launcher');

sub ledger_has
{
	my ($condition) = @_;
	return $node->poll_query_until('postgres', "SELECT count(*) > 0 FROM openrouter_usage WHERE $condition");
}

# a rolled-back answer is recorded, with its usage
my $id = $node->safe_psql('postgres', "BEGIN; SELECT openrouter_chat($hi, 'openai/gpt-4o-mini')->>'id'; ROLLBACK;");
ok(ledger_has("generation_id = '$id'"), 'an answer whose transaction rolled back is in the ledger');
is($node->safe_psql('postgres', qq{SELECT model_served || ' ' || provider || ' ' || prompt_tokens || ' ' || completion_tokens
	|| ' ' || (cost > 0) || ' ' || attempts || ' ' || http_status || ' ' || (failure IS NULL) || ' ' || from_cache
	|| ' ' || role FROM openrouter_usage WHERE generation_id = '$id'}),
	'openai/gpt-4o-mini Standin 1 6 true 1 200 true false postgres',
	'with the served model, provider, tokens, cost, attempts and status');

# a cancelled statement: its first call had its answer
my ($stdout, $stderr);
$node->psql('postgres', qq{SET statement_timeout = '1s';
	SELECT openrouter_chat('[{"role":"user","content":"cancelled"}]', 'openai/gpt-4o-mini')->>'id', pg_sleep(5)},
	stdout => \$stdout, stderr => \$stderr);
like($stderr, qr/canceling statement due to statement timeout/, 'a statement cancelled after its answer arrived');
ok($node->poll_query_until('postgres',
	q{SELECT count(*) = 2 FROM openrouter_usage WHERE model_served = 'openai/gpt-4o-mini'}),
	'its answer is in the ledger');

# a failure is recorded with its SQLSTATE and status, retries counted
$node->psql('postgres', qq{SET openrouter.max_retries = 0; SELECT openrouter_chat($hi, 'standin/status=402')});
ok(ledger_has(q{failure = 'OR402' AND http_status = 402 AND attempts = 1}), 'a failure is recorded with its SQLSTATE and status');
$node->psql('postgres', qq{SELECT openrouter_chat($hi, 'standin/status=503;times=2;key=ledger$$', on_error => 'ignore')});
ok(ledger_has(q{attempts = 3 AND failure IS NULL AND http_status = 200}), 'an answer after two retries counts three attempts');

# kill -9 of the backend after the answer arrived
my $psql = $node->background_psql('postgres');
$psql->query_safe(q{BEGIN});
my $killed_id = $psql->query_safe(qq{SELECT openrouter_chat('[{"role":"user","content":"killed"}]', 'openai/gpt-4o-mini')->>'id'});
my $pid = $psql->query_safe(q{SELECT pg_backend_pid()});
kill 'KILL', $pid;
$psql->{run}->finish;
$node->poll_query_until('postgres', 'SELECT true') or die 'the server did not come back';
ok(ledger_has("generation_id = '$killed_id'"), 'an answer whose backend was killed (kill -9) is in the ledger');
is($node->safe_psql('postgres', "SELECT count(*) FROM openrouter_usage WHERE generation_id = '$killed_id'"),
	'1', 'exactly once');

# who sees what
$node->safe_psql('postgres', q{
	CREATE ROLE regress_gina LOGIN; CREATE ROLE regress_hank LOGIN;
	GRANT pg_read_all_stats TO regress_hank;
	SET ROLE regress_gina; SELECT openrouter_configure_client('sk-or-v1-gina');});
$node->safe_psql('postgres', qq{SET ROLE regress_gina; SELECT openrouter_chat($hi, 'openai/gpt-4o-mini')});
ok(ledger_has(q{role = 'regress_gina'::regrole}), 'gina\'s request is recorded under her role');
is($node->safe_psql('postgres', q{SET ROLE regress_gina; SELECT string_agg(DISTINCT role::text, ',') FROM openrouter_usage}),
	'regress_gina', 'gina sees only her own rows');
is($node->safe_psql('postgres', q{SET ROLE regress_gina; SELECT sum(requests) FROM openrouter_spend}),
	'1', 'and only her own spend');
is($node->safe_psql('postgres', q{SET ROLE regress_hank; SELECT count(DISTINCT role) FROM openrouter_usage}),
	'2', 'a member of pg_read_all_stats sees everyone\'s');
$node->psql('postgres', q{SET ROLE regress_gina; SELECT * FROM openrouter_usage_log}, stderr => \$stderr);
like($stderr, qr/permission denied for table openrouter_usage_log/, 'the table itself is private');
$node->psql('postgres', q{SET ROLE regress_gina; SET openrouter.usage_ledger = off}, stderr => \$stderr);
like($stderr, qr/cannot be changed now/, 'no role can stop its own requests from being recorded');

# spend per day, model and role
is($node->safe_psql('postgres', q{SELECT requests || ' ' || failures || ' ' || (cost > 0) FROM openrouter_spend
	WHERE role = 'postgres'::regrole AND model = 'openai/gpt-4o-mini'}),
	'3 0 true', 'openrouter_spend sums requests, failures and cost per day, role and model');

# retention: the worker removes old rows
$node->safe_psql('postgres', q{UPDATE openrouter_usage_log SET finished_at = now() - interval '10 days' WHERE role_id = 'regress_gina'::regrole});
$node->append_conf('postgresql.conf', "openrouter.usage_retention = 5\n");
$node->restart;
ok($node->poll_query_until('postgres',
	q{SELECT count(*) = 0 FROM openrouter_usage_log WHERE role_id = 'regress_gina'::regrole}),
	'rows older than openrouter.usage_retention days are removed by the worker');
ok($node->safe_psql('postgres', q{SELECT count(*) FROM openrouter_usage_log}) > 0, 'newer rows stay');

# no spool file is left behind once its backend is gone
ok($node->poll_query_until('postgres',
	q{SELECT count(*) = 0 FROM pg_ls_dir('pg_openrouter/spool') f WHERE f NOT LIKE '%.' || pg_backend_pid() || '.%'}),
	'spool files of ended sessions are removed once moved into the ledger');

# a database without the extension gets no worker; CREATE EXTENSION starts one
$node->safe_psql('postgres', 'CREATE DATABASE other');
usleep(1_500_000);
is($node->safe_psql('postgres', q{SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'openrouter worker' AND datname = 'other'}),
	'0', 'a database without the extension has no worker');
$node->safe_psql('other', 'CREATE EXTENSION openrouter');
ok($node->poll_query_until('postgres',
	q{SELECT count(*) = 1 FROM pg_stat_activity WHERE backend_type = 'openrouter worker' AND datname = 'other'}),
	'CREATE EXTENSION starts one at once');

# commands that need a database alone are not stopped by its worker
my ($ok, $out, $err);
$node->safe_psql('postgres', 'CREATE DATABASE template_source');
$node->safe_psql('template_source', 'CREATE EXTENSION openrouter');
ok($node->poll_query_until('postgres',
	q{SELECT count(*) = 1 FROM pg_stat_activity WHERE backend_type = 'openrouter worker' AND datname = 'template_source'}),
	'a new database with the extension has its worker');
$node->psql('postgres', 'CREATE DATABASE copied TEMPLATE template_source', stderr => \$err);
is($err, '', 'CREATE DATABASE ... TEMPLATE of a database with a worker works');
$node->psql('postgres', 'ALTER DATABASE template_source RENAME TO renamed_source', stderr => \$err);
is($err, '', 'ALTER DATABASE ... RENAME too');
$node->psql('postgres', 'DROP DATABASE renamed_source', stderr => \$err);
is($err, '', 'and DROP DATABASE, without FORCE');
$node->psql('postgres', 'DROP DATABASE copied', stderr => \$err);
is($err, '', '(the copy too)');

# a worker that is terminated is started again, without a restart storm
my $worker = $node->safe_psql('postgres', q{SELECT pid FROM pg_stat_activity WHERE backend_type = 'openrouter worker' AND datname = 'postgres'});
$node->safe_psql('postgres', "SELECT pg_terminate_backend($worker)");
ok($node->poll_query_until('postgres',
	qq{SELECT count(*) = 1 FROM pg_stat_activity WHERE backend_type = 'openrouter worker' AND datname = 'postgres' AND pid <> $worker}),
	'a terminated worker is started again');
like(slurp_file($node->logfile), qr/openrouter worker of database \d+ stopped; starting it again in 1000 ms/,
	'after a delay, said once in the log');

$node->stop;
done_testing();
