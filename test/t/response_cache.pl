# The response cache (issue 9, "never pay twice"): an identical request is
# answered from the durable cache instead of being sent again, across
# sessions, rollbacks and restarts; a failed 1,000-row backfill, fixed and
# run again, sends only what was not answered; roles never read each
# other's answers; refresh sends again; failures are not cached; without
# shared_preload_libraries the built-in default is inert and a value set on
# purpose is an error.  Requests are counted in the stand-in's log, by a
# marker in their messages.
use strict;
use warnings;
use PostgreSQL::Test::Utils;
use Test::More;
use OpenRouterTest;

my $node = new_openrouter_node('response_cache', response_cache => 1);
my $run = "rc$$";

# requests whose body contains the marker, as the stand-in logged them
sub sent
{
	my ($marker) = @_;
	open(my $log, '<', $ENV{STANDIN_LOG}) or die "no stand-in log: $!";
	my $n = grep { index($_, $marker) >= 0 } <$log>;
	close $log;
	return $n;
}

# the prompts "<marker>-<n>" the stand-in received, in order
sub sent_prompts
{
	my ($marker) = @_;
	open(my $log, '<', $ENV{STANDIN_LOG}) or die "no stand-in log: $!";
	my @prompts = map { /"content":"(\Q$marker\E-\d+)"/ ? ($1) : () } <$log>;
	close $log;
	return @prompts;
}

sub chat
{
	my ($marker, %opt) = @_;
	my $model = $opt{model} // 'openai/gpt-4o-mini';
	my $extra = $opt{extra} // '';
	return qq{openrouter_chat(openrouter_messages('$run-$marker'), '$model'$extra)};
}

is($node->safe_psql('postgres', 'SHOW openrouter.cache'), 'on', 'the cache is on by default');

# --- two sessions, one request
my $id1 = $node->safe_psql('postgres', 'SELECT ' . chat('two') . "->>'id'");
my $id2 = $node->safe_psql('postgres', 'SELECT ' . chat('two') . "->>'id'");
is(sent("$run-two"), 1, 'the same call in two sessions is sent once');
is($id2, $id1, 'and the second session gets the first one\'s answer');

# attribution headers are not part of the identity
$node->safe_psql('postgres', 'SELECT ' . chat('two', extra => ", site_name => 'Other App'"));
is(sent("$run-two"), 1, 'a call that differs only by its attribution headers is not sent again');
# every body field is
$node->safe_psql('postgres', 'SELECT ' . chat('two', extra => q{, model_kwargs => '{"temperature": 0.5}'}));
is(sent("$run-two"), 2, 'a call with another body field is sent');

# --- a rolled-back answer is reused
my $rolled = $node->safe_psql('postgres', 'BEGIN; SELECT ' . chat('rollback') . "->>'id'; ROLLBACK;");
is($node->safe_psql('postgres', 'SELECT ' . chat('rollback') . "->>'id'"), $rolled,
	'an answer paid for in a transaction that rolled back is reused');
is(sent("$run-rollback"), 1, 'and not sent again');

# --- an answer the worker has not moved yet is found in the spool: the
# worker is held up by a lock on its progress table
my $holder = $node->background_psql('postgres');
$holder->query_safe('BEGIN; LOCK openrouter_ledger_spool IN ACCESS EXCLUSIVE MODE');
my $spooled = $node->safe_psql('postgres', 'SELECT ' . chat('spooled') . "->>'id'");
is($node->safe_psql('postgres', 'SELECT ' . chat('spooled') . "->>'id'"), $spooled,
	'an answer still in the spool (the worker blocked) is found by an identical request');
is($node->safe_psql('postgres', q{SELECT count(*) FROM openrouter_response_cache WHERE model = 'openai/gpt-4o-mini'
	AND response->>'id' = '} . $spooled . q{'}), '0', '(it was not in the table yet)');
$holder->query_safe('ROLLBACK');
$holder->quit;
ok($node->poll_query_until('postgres', q{SELECT count(*) = 1 FROM openrouter_cached_responses WHERE response->>'id' = '}
	. $spooled . q{'}), 'the worker moves it into the table once unblocked');
is(sent("$run-spooled"), 1, 'sent once');

# --- the cache hit in the usage ledger: from_cache, with the original cost
ok($node->poll_query_until('postgres', q{SELECT count(*) = 3 FROM openrouter_usage WHERE generation_id = '} . $id1 . q{'}),
	'cache hits are recorded in the usage ledger');
is($node->safe_psql('postgres', q{SELECT string_agg(from_cache || ' ' || (cost > 0) || ' ' || attempts, ',' ORDER BY from_cache)
	FROM openrouter_usage WHERE generation_id = '} . $id1 . q{'}),
	'false true 1,true true 0,true true 0', 'as from_cache, with the cost of the original request and no attempt');
is($node->safe_psql('postgres', q{SELECT cost_saved = 2 * cost FROM
	(SELECT sum(cost) FILTER (WHERE NOT from_cache) AS cost, sum(cost) FILTER (WHERE from_cache) AS cost_saved
	 FROM openrouter_usage WHERE generation_id = '} . $id1 . q{') s}), 't',
	'so the saved cost (openrouter_spend.cost_saved) is what the answer had cost');

# --- restarts
$node->restart;
is($node->safe_psql('postgres', 'SELECT ' . chat('rollback') . "->>'id'"), $rolled, 'after a restart the answer is reused');
is(sent("$run-rollback"), 1, 'and still not sent again');

# --- refresh sends again and replaces the entry
my $fresh = $node->safe_psql('postgres', 'SET openrouter.cache = refresh; SELECT ' . chat('rollback') . "->>'id'");
isnt($fresh, $rolled, 'openrouter.cache = refresh sends the request again');
is(sent("$run-rollback"), 2, '(sent)');
is($node->safe_psql('postgres', 'SELECT ' . chat('rollback') . "->>'id'"), $fresh, 'and its answer replaces the cached one');
$node->safe_psql('postgres', 'SET openrouter.cache = off; SELECT ' . chat('rollback'));
is(sent("$run-rollback"), 3, 'openrouter.cache = off sends every call');

# --- failures are not cached
$node->safe_psql('postgres', 'SELECT ' . chat('fail', model => 'standin/status=400', extra => ", on_error => 'ignore'"))
  for 1 .. 2;
is(sent("$run-fail"), 2, 'a failure (even one that is not retryable) is not cached: the call is sent again');

# --- the age limit: an older answer is not used, and the worker removes it
$node->safe_psql('postgres', q{UPDATE openrouter_response_cache SET created_at = created_at - interval '2 days'
	WHERE response->'choices'->0->'message'->>'content' LIKE '%} . "$run-two" . q{'});
$node->append_conf('postgresql.conf', "openrouter.cache_max_age = '1d'\n");
$node->reload;
$node->safe_psql('postgres', 'SELECT ' . chat('two'));
is(sent("$run-two"), 3, 'an answer older than openrouter.cache_max_age is not used');
$node->restart;    # the worker removes expired answers when it starts, then hourly
ok($node->poll_query_until('postgres', q{SELECT count(*) = 0 FROM openrouter_response_cache
	WHERE created_at < now() - interval '1 day'}), 'the worker removes the answers past the age limit');

# --- roles never read each other's answers
$node->safe_psql('postgres', q{
	CREATE ROLE regress_ann LOGIN; CREATE ROLE regress_ben LOGIN;
	SET ROLE regress_ann; SELECT openrouter_configure_client('sk-or-v1-ann');
	RESET ROLE; SET ROLE regress_ben; SELECT openrouter_configure_client('sk-or-v1-ben');});
my $ann = $node->safe_psql('postgres', 'SET ROLE regress_ann; SELECT ' . chat('roles') . "->>'id'");
my $ben = $node->safe_psql('postgres', 'SET ROLE regress_ben; SELECT ' . chat('roles') . "->>'id'");
isnt($ben, $ann, 'another role\'s identical request is sent, not answered with the first role\'s answer');
is($node->safe_psql('postgres', 'SET ROLE regress_ann; SELECT ' . chat('roles') . "->>'id'"), $ann,
	'each role gets its own answer');
is(sent("$run-roles"), 2, '(two requests)');
ok($node->poll_query_until('postgres', q{SELECT count(*) = 2 FROM openrouter_cached_responses
	WHERE role IN ('regress_ann', 'regress_ben')}), 'both answers are in the table');
is($node->safe_psql('postgres', q{SET ROLE regress_ann; SELECT string_agg(DISTINCT role::text, ',') FROM openrouter_cached_responses}),
	'regress_ann', 'a role sees only its own cached answers');
my ($ret, $out, $err) = $node->psql('postgres', q{SET ROLE regress_ann; SELECT count(*) FROM openrouter_response_cache});
like($err, qr/permission denied for table openrouter_response_cache/, 'the table itself is private');
($ret, $out, $err) = $node->psql('postgres', q{SET ROLE regress_ann; SELECT openrouter_cache_clear(all_roles => true)});
like($err, qr/permission denied to clear the cached answers of every role/, 'only a superuser clears every role\'s answers');
is($node->safe_psql('postgres', q{SET ROLE regress_ann; SELECT openrouter_cache_clear()}), '1', 'a role clears its own answers');
$node->safe_psql('postgres', 'SET ROLE regress_ann; SELECT ' . chat('roles'));
$node->safe_psql('postgres', 'SET ROLE regress_ben; SELECT ' . chat('roles'));
is(sent("$run-roles"), 3, 'its next identical request is sent again; the other role\'s answer stays');

# clearing also covers answers still in the spool
$holder = $node->background_psql('postgres');
$holder->query_safe('BEGIN; LOCK openrouter_ledger_spool IN ACCESS EXCLUSIVE MODE');
$node->safe_psql('postgres', 'SELECT ' . chat('cleared'));
is($node->safe_psql('postgres', q{SELECT openrouter_cache_clear(all_roles => true) > 0}), 't',
	'a superuser clears every role\'s answers');
$holder->query_safe('ROLLBACK');
$holder->quit;
$node->safe_psql('postgres', 'SELECT ' . chat('cleared'));
is(sent("$run-cleared"), 2, 'an answer still in the spool when it was cleared is not used');
ok($node->poll_query_until('postgres', q{SELECT count(*) = 1 FROM openrouter_cached_responses
	WHERE response->'choices'->0->'message'->>'content' LIKE '%} . "$run-cleared" . q{'}),
	'nor moved into the table after the clear (only the answer sent after it is)');

# --- a 1,000-row backfill that fails at row 900, fixed and run again
$node->safe_psql('postgres', qq{
	CREATE TABLE backfill (id int PRIMARY KEY, prompt text, model text);
	INSERT INTO backfill SELECT i, '$run-row-' || i,
	  CASE WHEN i = 900 THEN 'standin/status=400' ELSE 'openai/gpt-4o-mini' END
	FROM generate_series(1, 1000) AS i;});
($ret, $out, $err) = $node->psql('postgres', q{SET openrouter.max_concurrency = 1;
	SELECT openrouter_add_computed_column('backfill', 'answer',
	  $$openrouter_chat(openrouter_messages(prompt), model)$$, on_error => 'abort')});
like($err, qr/ERROR/, 'the backfill fails at the permanent error of row 900');
is($node->safe_psql('postgres', q{SELECT count(*) FROM information_schema.columns WHERE table_name = 'backfill' AND column_name = 'answer'}),
	'0', 'and rolls back: no column, no answers in the table');
my @first = sent_prompts("$run-row");
ok(@first >= 1 && $first[-1] eq "$run-row-900", 'the first run stopped at row 900 (' . scalar(@first) . ' requests)');
$node->safe_psql('postgres', q{UPDATE backfill SET model = 'openai/gpt-4o-mini' WHERE id = 900});
my $hits_before = $node->safe_psql('postgres', q{SELECT count(*) FROM openrouter_usage WHERE from_cache});
$node->safe_psql('postgres', q{SELECT openrouter_add_computed_column('backfill', 'answer',
	  $$openrouter_chat(openrouter_messages(prompt), model)$$, on_error => 'abort')});
my @all = sent_prompts("$run-row");
my @second = @all[scalar(@first) .. $#all];
my %answered = map { $_ => 1 } @first[0 .. $#first - 1];
is(scalar(@second), 1000 - (scalar(@first) - 1), 'the second run sends only the requests the first did not get answered');
is(scalar(grep { $answered{$_} } @second), 0, 'none of the answered ones');
is($node->safe_psql('postgres', q{SELECT count(*) FROM backfill WHERE answer->'choices'->0->'message'->>'content' = 'Stand-in answer to: ' || prompt}),
	'1000', 'and every row has its answer');
ok($node->poll_query_until('postgres', 'SELECT count(*) = ' . ($hits_before + scalar(@first) - 1)
	. ' FROM openrouter_usage WHERE from_cache'), 'the usage ledger shows the reused answers as cache hits');

# --- a failure to move answers into the cache does not stop the usage ledger
$node->safe_psql('postgres', q{ALTER TABLE openrouter_response_cache ADD CONSTRAINT regress_refuse CHECK (false) NOT VALID});
my $log_offset = -s $node->logfile;
my $refused = $node->safe_psql('postgres', 'SELECT ' . chat('refused') . "->>'id'");
ok($node->poll_query_until('postgres', q{SELECT count(*) = 1 FROM openrouter_usage WHERE generation_id = '} . $refused . q{'}),
	'when the cache table refuses an answer, the usage ledger still records the request');
ok($node->wait_for_log(qr/WARNING:  could not move 1 answer into the response cache/, $log_offset),
	'and the worker says why, in a WARNING');
$node->safe_psql('postgres', q{ALTER TABLE openrouter_response_cache DROP CONSTRAINT regress_refuse});

# --- the size limit: past it the worker removes the oldest answers
$node->safe_psql('postgres', q{UPDATE openrouter_response_cache SET bytes = 400000});
my $newest = $node->safe_psql('postgres', q{SELECT fingerprint FROM openrouter_response_cache ORDER BY created_at DESC, fingerprint LIMIT 2});
$node->append_conf('postgresql.conf', "openrouter.cache_max_size = '1MB'\n");
$node->restart;
ok($node->poll_query_until('postgres', q{SELECT count(*) = 2 FROM openrouter_response_cache}),
	'past openrouter.cache_max_size the worker removes answers');
is($node->safe_psql('postgres', q{SELECT fingerprint FROM openrouter_response_cache ORDER BY created_at DESC, fingerprint}),
	$newest, 'the oldest ones');

$node->stop;

# --- without shared_preload_libraries
my $plain = new_openrouter_node('response_cache_plain', no_preload => 1, response_cache => 1);
$plain->safe_psql('postgres', 'SELECT ' . chat('plain')) for 1 .. 2;
is(sent("$run-plain"), 2, 'without the preload the built-in default is inert: every call is sent');
($ret, $out, $err) = $plain->psql('postgres', 'SET openrouter.cache = on; SELECT ' . chat('plain'));
like($err, qr/the response cache \(openrouter.cache\) needs the openrouter background worker/,
	'openrouter.cache = on set on purpose is an error');
like($err, qr/HINT:  Add openrouter to shared_preload_libraries/, 'with the hint naming the setting');
is($plain->safe_psql('postgres', 'SET openrouter.cache = off; SELECT ' . chat('plain') . ' IS NOT NULL'), 't',
	'openrouter.cache = off works as before');
$plain->stop;

done_testing();
