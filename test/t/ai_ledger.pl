# The AI functions in SQL (issue 11) send through the same path as
# openrouter_chat: every request they make is in the usage ledger, with the
# model it named and what its answer says it cost, for chat completions,
# /embeddings and /rerank alike, and for each round of openrouter_agg.
use strict;
use warnings;
use PostgreSQL::Test::Utils;
use Test::More;
use OpenRouterTest;

my $node = new_openrouter_node('ai_ledger');

sub ledger_count
{
	my ($condition) = @_;
	return $node->safe_psql('postgres', "SELECT count(*) FROM openrouter_usage WHERE $condition");
}

$node->safe_psql('postgres', q{
	SELECT openrouter_generate('one two three', NULL::int, 'openai/gpt-4o-mini');
	SELECT openrouter_if('is it fine?', 'openai/gpt-4o-mini');
	SELECT openrouter_classify('a fan', ARRAY['fan', 'belt'], 'openai/gpt-4o-mini');
	SELECT openrouter_embed('hello', 'openai/text-embedding-3-small', 8);
	SELECT count(*) FROM openrouter_embed(ARRAY['a', 'b', 'c'], 'openai/text-embedding-3-small', 8);
	SELECT count(*) FROM openrouter_rerank('apple', ARRAY['apple pie', 'car'], 'cohere/rerank-v3.5');
	SELECT openrouter_agg('Ticket ' || i || ': the printer on floor ' || i % 5 || ' jams when printing.',
	                      'What do these tickets have in common?', 'standin/context=300' ORDER BY i)
	FROM generate_series(1, 40) AS i;
});

ok($node->poll_query_until('postgres',
	q{SELECT count(*) >= 12 FROM openrouter_usage}),
	'the requests reach the ledger');
is(ledger_count(q{model_requested = 'openai/gpt-4o-mini' AND http_status = 200 AND cost > 0}), '3',
	'generate, if and classify: one request each, with a cost');
is(ledger_count(q{model_requested = 'openai/text-embedding-3-small' AND http_status = 200 AND cost > 0 AND prompt_tokens > 0}), '2',
	'embeddings of one and of many inputs: one request each, with tokens and a cost');
is(ledger_count(q{model_requested = 'cohere/rerank-v3.5' AND http_status = 200 AND cost > 0}), '1',
	'a rerank: one request, with a cost');
is($node->safe_psql('postgres', q{SELECT string_agg(coalesce(failure, 'ok') || ' ' || http_status, ', ' ORDER BY finished_at)
	FROM openrouter_usage WHERE model_requested = 'standin/context=300'}),
	'OR400 400, ok 200, ok 200, ok 200, ok 200, ok 200',
	'openrouter_agg past the context window: the refused request, four map requests and one combine');

$node->stop;
done_testing();
