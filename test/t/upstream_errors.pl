# Text that an upstream sends back reaches the server log only redacted and
# capped: an error body that echoes the Authorization header (verbatim or
# \u-escaped) leaves no key in the log, and a 15 MB error message leaves a few kB, not 30 MB.
use strict;
use warnings;
use PostgreSQL::Test::Utils;
use Test::More;
use OpenRouterTest;

my $node = new_openrouter_node('upstream_errors', conf => "openrouter.max_retries = 0\n");
my $key = 'sk-or-v1-tap-test-key';
# the harness logs every statement, the one that stored the key too: read on from here
my $start = -s $node->logfile;

my ($rc, $out, $err) = $node->psql('postgres',
	q{SELECT openrouter_chat(openrouter_messages('x'), 'standin/auth_error')});
like($err, qr/Bearer \[REDACTED\]/, 'the ERROR shows where the key was, redacted');
unlike($err, qr/\Q$key\E/, 'the ERROR does not carry the key');

my $value = $node->safe_psql('postgres',
	q{SELECT openrouter_chat(openrouter_messages('x'), 'standin/auth_error', on_error => 'ignore')});
unlike($value, qr/\Q$key\E/, "the on_error => 'ignore' value does not carry the key");

# the key written with \u escapes in an error body: a byte search of the
# body misses it, the parsed message holds it
($rc, $out, $err) = $node->psql('postgres',
	q{SELECT openrouter_chat(openrouter_messages('x'), 'standin/echo_key=escaped_error')});
like($err, qr/HTTP 400 \(bad request\): \[REDACTED\]/, 'the ERROR of an escaped echo shows the key redacted');
unlike($err, qr/\Q$key\E/, 'the ERROR of an escaped echo does not carry the key');

my $log = substr(slurp_file($node->logfile), $start);
like($log, qr/Bearer \[REDACTED\]/, 'the upstream error reached the log');
like($log, qr/\(bad request\): \[REDACTED\]/, 'the escaped echo reached the log, redacted');
unlike($log, qr/\Q$key\E/, 'the server log does not carry the key');

my $before = -s $node->logfile;
($rc, $out, $err) = $node->psql('postgres',
	q{SELECT openrouter_chat(openrouter_messages('x'), 'standin/error_bytes=15000000')});
like($err, qr/more bytes cut/, 'a 15 MB error message is cut in the ERROR');
cmp_ok(length($err), '<', 20000, 'the client gets a few kB');
my $grown = (-s $node->logfile) - $before;
cmp_ok($grown, '<', 20000, "the server log grows by a few kB ($grown bytes)");

$node->stop;
done_testing();
