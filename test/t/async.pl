# Asynchronous computed columns (issue 10): an INSERT or UPDATE leaves the
# cell pending and the database's background worker computes it after the
# commit, as the table's owner, many requests in flight, exactly once per
# input change; pending work survives restarts and crashes; drops while in
# flight leave nothing behind; failures, pause/resume, chains, the view and
# the server log; max_concurrency shared by the workers of every database.
use strict;
use warnings;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(usleep time);
use OpenRouterTest;

my $node = new_openrouter_node('async',
	conf => "restart_after_crash = on\nopenrouter.max_concurrency = 32\n");

# the stand-in's failure counters live as long as it does: keys of this run
my $run = $$ . '-' . time();

# requests the stand-in received between two calls (the stats call itself not counted)
sub requests { return standin_stats($node)->{requests}; }
sub sent_since { my ($before) = @_; return requests() - $before - 1; }

sub sql { return $node->safe_psql('postgres', $_[0]); }

# no cell left to compute (in a database, or of one table)
sub computed_query
{
	my ($table) = @_;
	my $which = defined $table ? "WHERE table_name = '$table'::regclass" : '';
	return qq{SELECT coalesce(sum(pending_rows), 0) = 0 FROM openrouter_computed_columns $which};
}

sub log_position { return -s $node->logfile; }
sub log_since
{
	my ($position) = @_;
	my $log = slurp_file($node->logfile);
	return substr($log, $position);
}

sql(q{CREATE TABLE t (id int PRIMARY KEY, prompt text, model text NOT NULL DEFAULT 'standin/echo')});
sql(q{INSERT INTO t (id, prompt) SELECT i, 'old ' || i FROM generate_series(1, 3) i});

# ---- adding an async column: existing rows are queued, not computed by the statement
my $before = requests();
is(sql(q{SELECT openrouter_add_computed_column('t', 'r',
	$$openrouter_chat(openrouter_messages(prompt), model)$$, on_error => 'ignore', mode => 'async')}),
	'3', 'adding an async column queues the existing rows');
ok($node->poll_query_until('postgres', q{SELECT count(*) = 3 FROM t WHERE r ? 'choices'}),
	'the worker computes them');
is(sent_since($before), 3, 'one request per cell');

# ---- an INSERT commits without waiting for the model; picked up within a second
my $t0 = time();
sql(q{INSERT INTO t (id, prompt, model) VALUES (10, 'slow', 'standin/latency=3000;echo')});
my $insert_seconds = time() - $t0;
ok($insert_seconds < 2, "the INSERT commits without waiting for the model ($insert_seconds s)");
is(sql(q{SELECT r IS NULL FROM t WHERE id = 10}), 't', 'its cell is pending after the commit');
is(sql(q{SELECT pending_rows FROM openrouter_computed_columns WHERE column_name = 'r'}), '1',
	'the view counts it as pending');
ok($node->poll_query_until('postgres',
	q{SELECT count(*) = 1 FROM pg_stat_activity WHERE backend_type = 'openrouter worker' AND query LIKE 'computing 1 cells of column "r" of public.t'}),
	'the worker reports what it does in pg_stat_activity');
is(sql(q{SELECT in_flight FROM openrouter_computed_columns WHERE column_name = 'r'}), '1',
	'the view shows the cell in flight');
ok($node->poll_query_until('postgres', q{SELECT r ? 'choices' FROM t WHERE id = 10}), 'and then computed');

$t0 = time();
sql(q{INSERT INTO t (id, prompt) VALUES (11, 'quick')});
ok($node->poll_query_until('postgres', q{SELECT r IS NOT NULL FROM t WHERE id = 11}), 'a new row is computed');
my $pickup = time() - $t0;
ok($pickup < 1.5, "within a second of its commit ($pickup s; the worker is woken at commit)");

# ---- many requests in flight: 100 rows at 500 ms each
sql(q{SELECT openrouter_chat('[{"role":"user","content":"x"}]', 'standin/stats_reset')});
$before = requests();
sql(q{INSERT INTO t (id, prompt, model) SELECT i, 'many ' || i, 'standin/latency=500;echo' FROM generate_series(100, 199) i});
ok($node->poll_query_until('postgres', computed_query('t')), '100 rows computed');
is(sql(q{SELECT count(*) FROM openrouter_async_queue WHERE table_oid = 't'::regclass}), '0',
	'inserted rows need no queue entry (their empty cells are the pending work)');
my $stats = standin_stats($node);
ok($stats->{max_in_flight} >= 30, "with up to max_concurrency requests in flight ($stats->{max_in_flight})");
is($stats->{requests} - $before - 1, 100, 'each cell once');

# ---- openrouter.max_concurrency is one limit for the workers of every database
$node->safe_psql('postgres', 'CREATE DATABASE other');
$node->safe_psql('other', q{
	CREATE EXTENSION openrouter; SELECT openrouter_configure_client('sk-or-v1-tap-test-key');});
for my $db ('postgres', 'other')
{
	$node->safe_psql($db, q{
		CREATE TABLE shared_limit (id int PRIMARY KEY, prompt text);
		SELECT openrouter_add_computed_column('shared_limit', 'r',
		  $$openrouter_chat(openrouter_messages(prompt), 'standin/latency=700;echo')$$, mode => 'async');
		SELECT openrouter_pause('shared_limit', 'r');
		INSERT INTO shared_limit SELECT i, 'limit ' || i FROM generate_series(1, 48) i;});
}
sql(q{ALTER SYSTEM SET openrouter.max_concurrency = 12; SELECT pg_reload_conf()});
sleep 1;	# the workers read the new value at their next loop
sql(q{SELECT openrouter_chat('[{"role":"user","content":"x"}]', 'standin/stats_reset')});
$node->safe_psql($_, q{SELECT openrouter_resume('shared_limit', 'r')}) for ('postgres', 'other');
ok($node->poll_query_until($_, computed_query('shared_limit')), "the worker of database $_ computed its cells")
	for ('postgres', 'other');
$stats = standin_stats($node);
cmp_ok($stats->{max_in_flight}, '<=', 12,
	"two databases' workers together kept at most max_concurrency = 12 requests in flight ($stats->{max_in_flight})");
cmp_ok($stats->{max_in_flight}, '>=', 10, '... and used them');
sql(q{ALTER SYSTEM RESET openrouter.max_concurrency; SELECT pg_reload_conf()});
$node->safe_psql('other', 'DROP EXTENSION openrouter CASCADE');
sql(q{SELECT openrouter_drop_computed_column('shared_limit', 'r'); DROP TABLE shared_limit});

# ---- an UPDATE of an input queues the cell again; of another column, not
$before = requests();
sql(q{UPDATE t SET prompt = 'changed' WHERE id = 1});
ok($node->poll_query_until('postgres', q{SELECT r->'choices'->0->'message'->>'content' LIKE '%changed%' FROM t WHERE id = 1}),
	'an UPDATE of an input gets the answer to the new input');
sql(q{ALTER TABLE t ADD COLUMN note text});
sql(q{UPDATE t SET note = 'n' WHERE id = 2});
sleep 1;
is(sent_since($before), 1, 'an UPDATE of another column sends nothing');

# ---- a row updated again while its request is in flight gets the answer to its new input
$before = requests();
sql(q{INSERT INTO t (id, prompt, model) VALUES (20, 'first input', 'standin/latency=2000;echo')});
ok($node->poll_query_until('postgres',
	q{SELECT in_flight = 1 FROM openrouter_computed_columns WHERE column_name = 'r'}), 'its request is in flight');
sql(q{UPDATE t SET prompt = 'second input' WHERE id = 20});
ok($node->poll_query_until('postgres', computed_query('t')), 'computed');
like(sql(q{SELECT r->'choices'->0->'message'->>'content' FROM t WHERE id = 20}), qr/second input/,
	'the answer is to the new input, never the stale one');
is(sent_since($before), 2, 'two requests: one per input');

# ---- deleted row, dropped column, dropped table while in flight: nothing left, nothing raised
my $log_at = log_position();
sql(q{INSERT INTO t (id, prompt, model) VALUES (30, 'to delete', 'standin/latency=1500;echo')});
ok($node->poll_query_until('postgres',
	q{SELECT in_flight = 1 FROM openrouter_computed_columns WHERE column_name = 'r'}), 'in flight');
sql(q{DELETE FROM t WHERE id = 30});
ok($node->poll_query_until('postgres', q{SELECT count(*) = 0 FROM openrouter_async_queue}),
	'a row deleted while in flight leaves no queue entry');

# a table with 5 cells in flight (1.5 s each)
sub in_flight_table
{
	my ($table) = @_;
	sql(qq{CREATE TABLE $table (id int PRIMARY KEY, prompt text)});
	sql(qq{SELECT openrouter_add_computed_column('$table', 'r',
		\$\$openrouter_chat(openrouter_messages(prompt), 'standin/latency=1500;echo')\$\$, mode => 'async')});
	sql(qq{INSERT INTO $table SELECT i, 'p' || i FROM generate_series(1, 5) i});
	ok($node->poll_query_until('postgres',
		qq{SELECT in_flight = 5 FROM openrouter_computed_columns WHERE table_name = '$table'::regclass}), 'in flight');
}
in_flight_table('d');
sql(q{DROP TABLE d});
ok($node->poll_query_until('postgres',
	q{SELECT count(*) = 0 FROM openrouter_async_queue WHERE table_oid NOT IN (SELECT oid FROM pg_class)}),
	'a table dropped while in flight leaves no queue entry');
in_flight_table('e');
sql(q{ALTER TABLE e DROP COLUMN r});
ok($node->poll_query_until('postgres',
	q{SELECT count(*) = 0 FROM openrouter_async_queue WHERE table_oid = 'e'::regclass}),
	'a column dropped while in flight leaves no queue entry');
unlike(log_since($log_at), qr/openrouter worker: computing column .* failed|stopped; starting it again/,
	'and nothing is raised in the worker');

# ---- failures: transient ones retried, permanent ones kept per cell and retried by recompute
sql(q{CREATE TABLE f (id int PRIMARY KEY, model text)});
sql(q{SELECT openrouter_add_computed_column('f', 'r',
	$$openrouter_chat(openrouter_messages('hi'), model)$$, on_error => 'ignore', mode => 'async')});
$before = requests();
sql(qq{INSERT INTO f VALUES (1, 'standin/status=503;times=2;key=async-transient-$run'),
                         (2, 'standin/status=400;times=1;key=async-permanent-$run')});
ok($node->poll_query_until('postgres', q{SELECT count(*) = 2 FROM f WHERE r IS NOT NULL}), 'both computed');
is(sql(q{SELECT r ? 'choices' FROM f WHERE id = 1}), 't', 'a transient failure is retried and answered');
is(sql(q{SELECT r->'error'->>'status' FROM f WHERE id = 2}), '400', 'a permanent one is kept in its cell');
is(sql(q{SELECT error_rows || ' ' || pending_rows FROM openrouter_computed_columns WHERE table_name = 'f'::regclass}),
	'1 0', 'and counted as an error');
is(sent_since($before), 4, 'three attempts for the first, one for the second');
is(sql(q{SELECT openrouter_recompute('f', 'r', errors_only => true)}), '1', 'recompute errors_only queues the failed cell');
ok($node->poll_query_until('postgres', q{SELECT r ? 'choices' FROM f WHERE id = 2}), 'which the worker computes again');

# a transient failure beyond the retries: queued again with a backoff, not counted as an error
sql(q{ALTER SYSTEM SET openrouter.max_retries = 0});
sql(q{SELECT pg_reload_conf()});
sleep 1;
sql(qq{INSERT INTO f VALUES (3, 'standin/status=503;times=1;key=async-later-$run')});
ok($node->poll_query_until('postgres',
	q{SELECT attempts = 1 AND not_before > now() FROM openrouter_async_queue WHERE table_oid = 'f'::regclass}),
	'a transient failure after the last retry leaves the cell queued, due later');
is(sql(q{SELECT error_rows || ' ' || pending_rows FROM openrouter_computed_columns WHERE table_name = 'f'::regclass}),
	'0 1', 'pending, not an error');
ok($node->poll_query_until('postgres', q{SELECT r ? 'choices' FROM f WHERE id = 3}), 'and computed after the backoff');
sql(q{ALTER SYSTEM RESET openrouter.max_retries});
sql(q{SELECT pg_reload_conf()});

# a cell computed empty (a failure in a text column, or a NULL answer) is left
# alone, not computed again and again; a new row with its key, or recompute, is
sql(q{CREATE TABLE n (id int PRIMARY KEY, model text)});
sql(q{SELECT openrouter_add_computed_column('n', 'answer',
	$$openrouter_chat(openrouter_messages('hi'), model)->'choices'->0->'message'->>'content'$$,
	on_error => 'ignore', mode => 'async')});
$before = requests();
sql(q{INSERT INTO n VALUES (1, 'standin/status=400')});
ok($node->poll_query_until('postgres',
	q{SELECT not_before = 'infinity' FROM openrouter_async_queue WHERE table_oid = 'n'::regclass}),
	'a cell computed empty is left alone (an entry due never)');
sleep 2;
is(sent_since($before), 1, 'and not computed again');
is(sql(q{SELECT pending_rows || ' ' || error_rows FROM openrouter_computed_columns WHERE table_name = 'n'::regclass}), '0 1',
	'counted as an error, not as pending');
$before = requests();
sql(q{DELETE FROM n; INSERT INTO n VALUES (1, 'standin/status=400')});
ok($node->poll_query_until('postgres',
	q{SELECT not_before = 'infinity' AND version > 0 FROM openrouter_async_queue WHERE table_oid = 'n'::regclass}),
	'a new row with the same key is computed');
sleep 1;
is(sent_since($before), 1, 'once');
$before = requests();
sql(q{UPDATE n SET model = 'standin/echo'});
ok($node->poll_query_until('postgres', q{SELECT answer IS NOT NULL FROM n}), 'an UPDATE of its input computes it again');
is(sql(q{SELECT count(*) FROM openrouter_async_queue WHERE table_oid = 'n'::regclass}), '0', 'and forgets the entry');
is(sent_since($before), 1, 'once');
sql(q{INSERT INTO n VALUES (2, 'standin/status=400')});
ok($node->poll_query_until('postgres',
	q{SELECT count(*) = 1 FROM openrouter_async_queue WHERE table_oid = 'n'::regclass AND not_before = 'infinity'}),
	'another cell left alone');
sql(q{DELETE FROM n WHERE id = 2});
ok($node->poll_query_until('postgres', q{SELECT count(*) = 0 FROM openrouter_async_queue WHERE table_oid = 'n'::regclass}),
	'its row deleted, the worker forgets its entry');

# on_error 'abort': the first permanent failure pauses the column
$log_at = log_position();
sql(q{SELECT openrouter_alter_computed_column('f', 'r', on_error => 'abort')});
sql(q{INSERT INTO f VALUES (4, 'standin/status=402')});
ok($node->poll_query_until('postgres', q{SELECT paused FROM openrouter_computed_columns WHERE table_name = 'f'::regclass}),
	'under on_error abort a permanent failure pauses the column');
like(log_since($log_at), qr/computed column "r" of public.f paused after a failure/, 'with a line in the server log');

# ---- pause and resume, and pending work across a restart
sql(q{SELECT openrouter_pause('t', 'r')});
sql(q{INSERT INTO t (id, prompt) SELECT i, 'paused ' || i FROM generate_series(40, 44) i});
sleep 2;
is(sql(q{SELECT pending_rows || ' ' || paused FROM openrouter_computed_columns WHERE table_name = 't'::regclass}),
	'5 true', 'a paused column is left alone');
$node->restart;
is(sql(q{SELECT pending_rows FROM openrouter_computed_columns WHERE table_name = 't'::regclass}), '5',
	'pending work survives a restart');
$before = requests();
sql(q{SELECT openrouter_resume('t', 'r')});
ok($node->poll_query_until('postgres', q{SELECT count(*) = 5 FROM t WHERE id BETWEEN 40 AND 44 AND r ? 'choices'}),
	'resumed, the worker computes it');
is(sent_since($before), 5, 'once each');

# ---- a crash while requests are in flight: the queued cells are computed after it
sql(q{INSERT INTO t (id, prompt, model) SELECT i, 'crash ' || i, 'standin/latency=2000;echo' FROM generate_series(50, 59) i});
ok($node->poll_query_until('postgres',
	q{SELECT in_flight = 10 FROM openrouter_computed_columns WHERE table_name = 't'::regclass}), 'in flight');
my $worker = sql(q{SELECT pid FROM pg_stat_activity WHERE backend_type = 'openrouter worker'});
kill 'KILL', $worker;
ok($node->poll_query_until('postgres', q{SELECT count(*) = 10 FROM t WHERE id BETWEEN 50 AND 59 AND r ? 'choices'}),
	'after a crash of the worker, the queued cells are computed');

# ---- whose key pays: the table's owner, as the owner, never a superuser
sql(q{CREATE ROLE alice LOGIN; CREATE ROLE bob LOGIN; GRANT CREATE ON SCHEMA public TO alice});
$node->safe_psql('postgres', q{SELECT openrouter_configure_client('sk-or-v1-alice-key')}, extra_params => [ '-U', 'alice' ]);
$node->safe_psql('postgres', q{
	CREATE TABLE owned (id int PRIMARY KEY, prompt text);
	GRANT SELECT, INSERT, UPDATE ON owned TO bob;
	SELECT openrouter_add_computed_column('owned', 'r',
		$$openrouter_chat(openrouter_messages(prompt), 'standin/echo')$$, mode => 'async');
	SELECT openrouter_add_computed_column('owned', 'who',
		$$prompt || ' ' || current_user || ' ' || (SELECT rolsuper FROM pg_roles WHERE rolname = current_user)$$, mode => 'async');},
	extra_params => [ '-U', 'alice' ]);
$node->safe_psql('postgres', q{INSERT INTO owned VALUES (1, 'from bob')}, extra_params => [ '-U', 'bob' ]);
ok($node->poll_query_until('postgres', q{SELECT r IS NOT NULL AND who IS NOT NULL FROM owned}),
	'a row inserted by a role without a key is computed');
my $alice_hint = standin_auth_hint('sk-or-v1-alice-key');
like(sql(q{SELECT r->'choices'->0->'message'->>'content' FROM owned}), qr/\Q$alice_hint\E/,
	"with the table owner's key");
is(sql(q{SELECT who FROM owned}), 'from bob alice false', "the expression runs as the owner, who is not a superuser");
ok($node->poll_query_until('postgres', q{SELECT count(*) = 1 FROM openrouter_usage WHERE role::text = 'alice'}),
	'the ledger records the request as the owner\'s');

# ---- chains: each link as soon as its input is there
sql(q{SELECT openrouter_resume('f', 'r')});
sql(q{CREATE TABLE c (id int PRIMARY KEY, prompt text)});
sql(q{SELECT openrouter_add_computed_column('c', 'response',
	$$openrouter_chat(openrouter_messages(prompt), 'standin/echo')$$, mode => 'async')});
sql(q{SELECT openrouter_add_computed_column('c', 'answer',
	$$response->'choices'->0->'message'->>'content'$$, mode => 'async')});
sql(q{INSERT INTO c VALUES (1, 'chained')});
ok($node->poll_query_until('postgres', q{SELECT answer LIKE '%chained%' FROM c}), 'a chain of async columns is computed');
sql(q{UPDATE c SET prompt = 'chained again'});
ok($node->poll_query_until('postgres', q{SELECT answer LIKE '%chained again%' FROM c}), 'and again after an UPDATE');

# a queued link (added with backfill => false) waits for its input's empty cell too
sql(q{CREATE TABLE cq (id int PRIMARY KEY, prompt text)});
sql(q{SELECT openrouter_add_computed_column('cq', 'response',
	$$openrouter_chat(openrouter_messages(prompt), 'standin/echo')->'choices'->0->'message'->>'content'$$,
	mode => 'async')});
sql(q{SELECT openrouter_add_computed_column('cq', 'again',
	$$openrouter_chat(openrouter_messages(coalesce(response, 'nothing yet')), 'standin/echo')->'choices'->0->'message'->>'content'$$,
	mode => 'async', backfill => false)});
sql(q{SELECT openrouter_pause('cq', 'response')});
$before = requests();
sql(q{INSERT INTO cq VALUES (1, 'linked')});
sleep 2;
is(sql(q{SELECT again IS NULL FROM cq}), 't', 'a queued link is not computed while its input is still empty');
sql(q{SELECT openrouter_resume('cq', 'response')});
ok($node->poll_query_until('postgres', q{SELECT again LIKE '%linked%' FROM cq}), 'but once it is there');
is(sent_since($before), 2, 'one request per link');

# an async column read by a sync one: the worker computes both once, and a
# cell that stays empty is left alone even though the sync one rewrote its row
sql(q{CREATE TABLE cs (id int PRIMARY KEY, model text)});
sql(q{SELECT openrouter_add_computed_column('cs', 'answer',
	$$openrouter_chat(openrouter_messages('hi'), model)->'choices'->0->'message'->>'content'$$,
	on_error => 'ignore', mode => 'async')});
sql(q{SELECT openrouter_add_computed_column('cs', 'shout', $$upper(coalesce(answer, 'none'))$$)});
$before = requests();
sql(q{INSERT INTO cs VALUES (1, 'standin/echo'), (2, 'standin/status=400')});
ok($node->poll_query_until('postgres', q{SELECT count(*) = 2 FROM cs WHERE shout IS NOT NULL AND shout <> 'NONE' OR id = 2 AND shout = 'NONE'}),
	'an async link followed by a sync one');
sleep 2;
is(sent_since($before), 2, 'each cell once, the one left empty too');

# ---- odd composite keys: an INSERT and an UPDATE name the same pending cell
sql(q{CREATE TABLE k (a text, b char(4), c int, prompt text, PRIMARY KEY (a, b, c))});
sql(q{SELECT openrouter_add_computed_column('k', 'r',
	$$openrouter_chat(openrouter_messages(prompt), 'standin/echo')$$, mode => 'async')});
sql(q{SELECT openrouter_pause('k', 'r')});
sql(q{INSERT INTO k VALUES ('x, "y" {z}', 'ab', 1, 'first'), (E'back\\slash', '', -2, 'second')});
sql(q{UPDATE k SET prompt = prompt || ' again'});
is(sql(q{SELECT count(*) FROM openrouter_async_queue WHERE table_oid = 'k'::regclass}), '2',
	'an UPDATE of a pending row queues no second entry, whatever its key');
sql(q{SELECT openrouter_resume('k', 'r')});
ok($node->poll_query_until('postgres',
	q{SELECT count(*) = 2 FROM k WHERE r->'choices'->0->'message'->>'content' LIKE '%again%'}),
	'both computed, for their new input');

# ---- switching modes keeps the stored answers
my $kept = sql(q{SELECT md5(r::text) FROM t WHERE id = 1});
is(sql(q{SELECT openrouter_alter_computed_column('t', 'r', mode => 'sync')}), '0', 'to sync: nothing pending');
is(sql(q{SELECT md5(r::text) FROM t WHERE id = 1}), $kept, 'the stored answers are kept');
sql(q{INSERT INTO t (id, prompt) VALUES (60, 'sync again')});
is(sql(q{SELECT r ? 'choices' FROM t WHERE id = 60}), 't', 'in sync mode the INSERT computes the cell');
sql(q{SELECT openrouter_alter_computed_column('t', 'r', mode => 'async')});
is(sql(q{SELECT md5(r::text) FROM t WHERE id = 1}), $kept, 'back to async, still kept');

# ---- four sessions inserting, updating, deleting and re-inserting the same
# keys while the worker computes: every cell ends with the answer to its
# row's last input, none empty, nothing left in the queue
sql(q{CREATE TABLE busy (id int PRIMARY KEY, prompt text, note text)});
sql(q{SELECT openrouter_add_computed_column('busy', 'r',
	$$openrouter_chat(openrouter_messages(prompt), 'standin/latency=50;echo')->'choices'->0->'message'->>'content'$$,
	on_error => 'ignore', mode => 'async')});
my $script = $node->basedir . '/busy.sql';
open(my $fh, '>', $script) or die;
print $fh <<'SCRIPT';
\set k random(1, 200)
\set op random(1, 10)
\set v random(1, 1000000)
BEGIN;
INSERT INTO busy (id, prompt) VALUES (:k, 'p' || :v) ON CONFLICT (id) DO NOTHING;
UPDATE busy SET prompt = 'u' || :v WHERE id = :k AND :op BETWEEN 5 AND 7;
UPDATE busy SET note = 'n' || :v WHERE id = :k AND :op = 8;
DELETE FROM busy WHERE id = :k AND :op >= 9;
COMMIT;
SCRIPT
close $fh;
$node->command_ok([ 'pgbench', '-n', '-c', '4', '-T', '8', '-f', $script, $node->connstr('postgres') ],
	'four sessions writing the same keys for 8 s');
ok($node->poll_query_until('postgres', computed_query('busy')), 'the worker catches up');
is(sql(q{SELECT count(*) FILTER (WHERE r IS NULL) || ' ' || count(*) FILTER (WHERE r NOT LIKE '%' || prompt || '%')
	FROM busy}), '0 0', 'every cell answers its row\'s last input: none empty, none stale');
is(sql(q{SELECT count(*) FROM openrouter_async_queue WHERE table_oid = 'busy'::regclass}), '0', 'and the queue is empty');

# ---- the server log: one line per state change, not one per row
$log_at = log_position();
sql(q{INSERT INTO t (id, prompt) SELECT i, 'log ' || i FROM generate_series(1000, 1299) i});
ok($node->poll_query_until('postgres', computed_query('t')), '300 rows computed');
my $lines = () = log_since($log_at) =~ /openrouter worker:/g;
is($lines, 2, 'two lines in the server log: started and caught up');

# ---- DROP EXTENSION while requests are in flight
sql(q{INSERT INTO t (id, prompt, model) SELECT i, 'drop ' || i, 'standin/latency=1500;echo' FROM generate_series(2000, 2004) i});
ok($node->poll_query_until('postgres',
	q{SELECT in_flight = 5 FROM openrouter_computed_columns WHERE table_name = 't'::regclass}), 'in flight');
$log_at = log_position();
sql(q{DROP EXTENSION openrouter CASCADE});
sleep 2;
my $after_drop = log_since($log_at);
unlike($after_drop, qr/ERROR|stopped; starting it again/, 'DROP EXTENSION while in flight raises nothing in the worker');
is(sql(q{SELECT count(*) FROM pg_class WHERE relname LIKE 'openrouter%'}), '0', 'and leaves nothing behind');
is(sql(q{SELECT count(*) FROM pg_index WHERE indrelid = 't'::regclass AND indpred IS NOT NULL}), '0',
	'not even the partial index of the pending cells');

done_testing();
