# Beyond one machine (issue 14, docs/scale-out.md): a table sharded over two
# servers with postgres_fdw.  Each shard holds its rows and a computed column
# of its own; rows inserted through the coordinator's partitioned table of
# foreign tables are computed where they land, concurrently within each
# shard's statement, once each, and the coordinator reads every answer.
use strict;
use warnings;
use PostgreSQL::Test::Utils;
use Test::More;
use OpenRouterTest;

my @shards = map { new_openrouter_node("shard$_") } (1, 2);
for my $shard (@shards)
{
	$shard->safe_psql('postgres', q{
		CREATE TABLE docs (id int PRIMARY KEY, prompt text);
		SELECT openrouter_add_computed_column('docs', 'answer',
		  $$openrouter_chat(openrouter_messages(prompt), 'standin/latency=100')$$);});
}

# the coordinator: the first shard's server, in a database of its own
my $coordinator = $shards[0];
$coordinator->safe_psql('postgres', 'CREATE DATABASE coordinator');
my $servers = '';
for my $i (0, 1)
{
	my ($host, $port) = ($shards[$i]->host, $shards[$i]->port);
	$servers .= qq{
		CREATE SERVER shard$i FOREIGN DATA WRAPPER postgres_fdw
		  OPTIONS (host '$host', port '$port', dbname 'postgres', batch_size '100');
		CREATE USER MAPPING FOR CURRENT_USER SERVER shard$i;
		CREATE FOREIGN TABLE docs_$i PARTITION OF docs FOR VALUES WITH (MODULUS 2, REMAINDER $i)
		  SERVER shard$i OPTIONS (table_name 'docs');};
}
$coordinator->safe_psql('coordinator', qq{
	CREATE EXTENSION postgres_fdw;
	CREATE TABLE docs (id int, prompt text, answer jsonb) PARTITION BY HASH (id);
	$servers});

my $before = standin_stats($coordinator);
$coordinator->safe_psql('coordinator',
	q{INSERT INTO docs (id, prompt) SELECT i, 'question ' || i FROM generate_series(1, 200) i});
my $after = standin_stats($coordinator);

is($after->{requests} - $before->{requests} - 1, 200,
	'200 rows inserted through the coordinator: 200 requests, one per row, sent by the shards');
ok($after->{max_in_flight} > 10,
	"each shard computed a statement's rows concurrently (at most $after->{max_in_flight} in flight)");
my @counts = map { $_->safe_psql('postgres', 'SELECT count(*) || \' \' || count(answer) FROM docs') } @shards;
ok($counts[0] =~ /^(\d+) \1$/ && $1 > 0 && $counts[1] =~ /^(\d+) \1$/ && $1 > 0,
	"the rows were split between the shards, and every shard computed the rows that landed on it ($counts[0]; $counts[1])");
is($coordinator->safe_psql('coordinator',
	q{SELECT count(*) FILTER (WHERE answer->'choices'->0->'message'->>'content' LIKE 'Stand-in answer to: question %') FROM docs}),
	'200', 'the coordinator reads every answer through the foreign tables');

# a backfill runs on each shard at once, each for its own rows
for my $shard (@shards)
{
	$shard->safe_psql('postgres', q{UPDATE docs SET prompt = prompt || '?' WHERE id <= 40});
}
is($coordinator->safe_psql('coordinator', q{SELECT count(*) FROM docs WHERE answer->'choices'->0->'message'->>'content' LIKE '%?'}),
	'40', 'an input changed on a shard is recomputed there');

$_->stop for @shards;
done_testing();
