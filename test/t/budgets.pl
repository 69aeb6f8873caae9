# Budgets shared by the sessions of one role (shared memory), the worker's
# refresh of the models catalog, refusals recorded in the usage ledger, and
# budgets without the preload entry.
use strict;
use warnings;
use PostgreSQL::Test::Utils;
use Test::More;
use IPC::Run;
use OpenRouterTest;

# the catalog refresh step runs in the worker (an empty catalog: at once)
my $node = new_openrouter_node('budgets', conf => "openrouter.models_refresh_interval = 60\n");
ok($node->poll_query_until('postgres', 'SELECT count(*) = 5 FROM openrouter_model_catalog'),
	'the database worker fills the empty models catalog from GET /models');
is($node->safe_psql('postgres',
		q{SELECT prompt_price || ' ' || completion_price || ' ' || max_completion_tokens
		  FROM openrouter_model_catalog WHERE id = 'standin/latency=200'}),
	'0.0000001 0.0000004 1024', 'with prices (numeric USD per token) and limits');

# one role, a budget of 0.0002 USD a day, two sessions sending 50 requests each
my $budget = 0.0002;
$node->safe_psql('postgres', qq{
	CREATE ROLE regress_spender LOGIN;
	SET ROLE regress_spender; SELECT openrouter_configure_client('sk-or-v1-spender'); RESET ROLE;
	SELECT openrouter_set_budget('regress_spender', $budget, 'day');});
my $stats_before = standin_stats($node);

my $connstr = $node->connstr('postgres') . ' user=regress_spender';
my (@h, @out, @err);
for my $s (0 .. 1)
{
	$out[$s] = '';
	$err[$s] = '';
	my $batch = qq{SET openrouter.max_concurrency = 8;
	  SELECT count(*) FILTER (WHERE r ? 'choices') || ' '
	      || count(*) FILTER (WHERE r->'error'->>'sqlstate' = 'ORC01') || ' '
	      || coalesce(sum((r->'usage'->>'cost')::numeric), 0)
	  FROM openrouter_chat_batch(array(
	    SELECT jsonb_build_object('messages', jsonb_build_array(jsonb_build_object('role', 'user', 'content', 's$s-' || i)),
	                              'model', 'standin/latency=200', 'model_kwargs', '{"max_tokens": 10}'::jsonb)
	    FROM generate_series(1, 50) AS i), 'ignore') AS r};
	$h[$s] = IPC::Run::start([ 'psql', '-X', '-At', '-d', $connstr, '-c', $batch ],
		'>', \$out[$s], '2>', \$err[$s]);
}
$_->finish for @h;
my @got = map { [ split / /, (split /\n/, $_)[-1] ] } @out;
note "stderr: $_" for grep { $_ ne "" } @err;
note "session 1: answered, refused, cost: @{$got[0]}; session 2: @{$got[1]}";
my $answered = $got[0][0] + $got[1][0];
my $refused = $got[0][1] + $got[1][1];
my $spent = $got[0][2] + $got[1][2];
my $stats_after = standin_stats($node);

ok($got[0][0] > 0 && $got[1][0] > 0, 'both sessions had answers');
is($answered + $refused, 100, 'every request was answered or refused for the budget');
ok($refused > 0, "the budget stopped the spending: $refused requests refused");
cmp_ok($stats_after->{max_in_flight}, '>=', 2, 'requests were in flight at once');
is($stats_after->{requests} - $stats_before->{requests} - 1, $answered,
	'refused requests were never sent');
my $overshoot = $spent - $budget;
note sprintf('spent %.9f USD of %.9f: overshoot %.9f USD', $spent, $budget, $overshoot);
cmp_ok($overshoot, '<=', 0, 'the two sessions together spent no more than the budget');
# the worst case of a request is about 0.000018 USD (130 bytes at 0.0000001, 10 tokens
# at 0.0000004): refusals start once what is left is less than that, in flight included
cmp_ok($spent, '>', $budget / 2, 'and used most of it');
is($node->safe_psql('postgres', qq{
	SELECT abs(spent - $spent) < 0.000000001 AND in_flight = 0
	FROM openrouter_budgets WHERE role = 'regress_spender'::regrole}),
	't', 'openrouter_budgets shows what the sessions spent, nothing in flight');
my $ledger_refusals = qq{SELECT count(*) FROM openrouter_usage
	WHERE role = 'regress_spender'::regrole AND failure = 'ORC01' AND attempts = 0};
$node->poll_query_until('postgres', "SELECT ($ledger_refusals) >= $refused");
is($node->safe_psql('postgres', $ledger_refusals), $refused,
	'the usage ledger records each refusal (ORC01, no attempt)')
  or diag $node->safe_psql('postgres', q{SELECT failure, attempts, count(*) FROM openrouter_usage
	WHERE role = 'regress_spender'::regrole GROUP BY 1, 2}) . "\n"
  . $node->safe_psql('postgres', q{SELECT * FROM openrouter_ledger_spool});

# reservations are released when the statement fails (nothing left in flight)
$node->psql('postgres', q{SET ROLE regress_spender; SET statement_timeout = '300ms';
	SELECT openrouter_chat(jsonb_build_array(jsonb_build_object('role', 'user', 'content', 'slow' || i)),
	                       'standin/latency=200', model_kwargs => '{"max_tokens": 10}')
	FROM generate_series(1, 3) AS i});
is($node->safe_psql('postgres',
		q{SELECT in_flight FROM openrouter_budgets WHERE role = 'regress_spender'::regrole}),
	'0', 'a cancelled statement leaves no reservation behind');

# without the preload entry a role budget says what it needs
my $plain = new_openrouter_node('budgets_plain', no_preload => 1);
$plain->safe_psql('postgres', q{
	INSERT INTO openrouter_model_catalog (id, prompt_price, completion_price, request_price, max_completion_tokens)
	VALUES ('openai/gpt-4o-mini', 0.00000015, 0.0000006, 0, 16384);
	SELECT openrouter_set_budget(current_user::regrole, 1, 'day');});
my ($rc, $stdout, $stderr) = $plain->psql('postgres',
	q{SELECT openrouter_chat('[{"role":"user","content":"hi"}]', 'openai/gpt-4o-mini')});
like($stderr, qr/budgets needs the openrouter background worker.*\n.*\n.*shared_preload_libraries/s,
	'a role budget without shared_preload_libraries: a clear error naming the setting');
# the session cap needs no shared memory
like($plain->safe_psql('postgres', q{SELECT openrouter_set_budget(current_user::regrole, NULL);
	SET openrouter.max_spend = 0.000001;
	SELECT openrouter_chat('[{"role":"user","content":"hi"}]', 'openai/gpt-4o-mini', on_error => 'ignore')->'error'->>'sqlstate'}),
	qr/ORC01/, 'openrouter.max_spend works without it');

done_testing();
