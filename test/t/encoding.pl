# A database whose encoding is not UTF-8: requests go out as UTF-8, answers
# come back converted, and an answer the encoding cannot hold is a failure
# that on_error => 'ignore' keeps (not an error from deep inside).
use strict;
use warnings;
use PostgreSQL::Test::Utils;
use Test::More;
use OpenRouterTest;

my $node = new_openrouter_node('encoding');
$node->safe_psql('postgres',
	"CREATE DATABASE latin1 ENCODING 'LATIN1' LC_COLLATE 'C' LC_CTYPE 'C' TEMPLATE template0");
$node->safe_psql('latin1', q{CREATE EXTENSION openrouter;
	SELECT openrouter_configure_client('sk-or-v1-latin1-test');});

my $sent = $node->safe_psql('latin1', q{
	SELECT (openrouter_chat(openrouter_messages('caf' || chr(233)), 'standin/echo')
	        ->'choices'->0->'message'->>'content')::jsonb->'body'->'messages'->0->>'content'
	       = 'caf' || chr(233)});
is($sent, 't', 'a Latin-1 prompt reaches the service and comes back intact');

my $title = $node->safe_psql('latin1', q{
	SELECT (openrouter_chat(openrouter_messages('x'), 'standin/echo', site_name => 'Caf' || chr(233))
	        ->'choices'->0->'message'->>'content')::jsonb->'headers'->>'x-title' = 'Caf' || chr(233)});
is($title, 't', 'a Latin-1 site name goes out as UTF-8 in the headers');

my $answer = $node->safe_psql('latin1', q{
	SELECT openrouter_chat(openrouter_messages('caf' || chr(233)), 'openai/gpt-4o-mini')
	       ->'choices'->0->'message'->>'content' = 'Stand-in answer to: caf' || chr(233)});
is($answer, 't', 'an answer in Latin-1 characters is converted');

# a tool call whose arguments hold a snowman, which Latin-1 cannot
my $snowman = 'standin/tool_calls=weather:eyJjaXR5Ijoi4piDIn0';
my $failed = $node->safe_psql('latin1', qq{
	SELECT r->'error'->>'sqlstate' || ': ' || (r->'error'->>'detail')
	FROM openrouter_chat(openrouter_messages('x'), '$snowman', on_error => 'ignore') AS r});
like($failed, qr/^ORB01: The body has characters that the database encoding LATIN1 cannot hold/,
	'an answer the encoding cannot hold is an ignorable ORB01');

# the same character as a JSON escape: still the response's failure, not a 22P05
my $escaped = $node->safe_psql('latin1', q{
	SELECT r->'error'->>'sqlstate' || ': ' || (r->'error'->>'detail')
	FROM openrouter_chat(openrouter_messages('x'), 'standin/odd=escape', on_error => 'ignore') AS r});
like($escaped, qr/^ORB01: It has the escape of a character \(U\+4E2D\) that the database encoding LATIN1 cannot hold/,
	'an escaped character the encoding cannot hold is an ignorable ORB01');

# ... in a batch too: the other rows are kept
my $batch = $node->safe_psql('latin1', q{
	SELECT string_agg(coalesce(r->'error'->>'sqlstate', 'ok'), ',')
	FROM openrouter_chat_batch(ARRAY[
	       '{"messages": [{"role": "user", "content": "a"}], "model": "standin/odd=escape"}',
	       '{"messages": [{"role": "user", "content": "b"}], "model": "openai/gpt-4o-mini"}']::jsonb[],
	     on_error => 'ignore') AS r});
is($batch, 'ORB01,ok', 'a batch keeps its other answers');

# in a UTF-8 database the escape is simply the character
my $utf8 = $node->safe_psql('postgres', q{
	SELECT openrouter_chat(openrouter_messages('x'), 'standin/odd=escape')
	       ->'choices'->0->'message'->>'content' = U&'\4E2D'});
is($utf8, 't', 'in a UTF-8 database the escape is the character');

$node->stop;
done_testing();
