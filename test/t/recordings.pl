# recordings.pl: every recorded real exchange with OpenRouter, replayed.
#
# test/recordings/prepare.sh turns the recordings in ../shared/openrouter/
# (read at run time, never part of the project) into fixtures of the
# stand-in's replay=NAME directive, listed in $OR_FIXTURES/index.json with the
# recorded request.  For each one, the recorded request's messages go to
# openrouter_chat(..., 'standin/replay=NAME', on_error => 'ignore'), with
# openrouter.max_retries = 0, and the stand-in answers with the recorded
# status, headers and body, byte for byte.  Then:
#   - a 2xx completion: the result equals the recorded body, as jsonb;
#   - an error status: error.sqlstate is OR<status>, error.status is the
#     status, and error.message is the recorded error.message;
#   - a 2xx {"error": ...} body: the same, with the status 200 and the SQLSTATE
#     of the error's code (ORE01 when the code is not an HTTP status);
#   - a choice that failed (finish_reason "error"): ORE02 with its message.
# Skipped, with the reason, when the recordings are not there.
use strict;
use warnings;

use Encode qw(encode_utf8);
use JSON::PP;
use OpenRouterTest;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $fixtures = $ENV{OR_FIXTURES};
plan skip_all => 'OR_FIXTURES is not set: run through test/run-tests.sh'
  unless $fixtures;

sub slurp
{
	my ($file) = @_;
	open my $fh, '<:raw', $file or die "cannot read $file: $!";
	local $/;
	my $text = <$fh>;
	close $fh;
	return $text;
}

my $index_file = "$fixtures/index.json";
plan skip_all =>
  "recorded exchanges: $index_file not found (test/recordings/prepare.sh did not run)"
  unless -e $index_file;
my $index = decode_json(slurp($index_file));
if (!@$index)
{
	my $why =
	  -e "$fixtures/skipped.txt"
	  ? slurp("$fixtures/skipped.txt")
	  : 'no replayable recording';
	chomp $why;
	plan skip_all => "recorded exchanges: $why";
}

my $json = JSON::PP->new->utf8->canonical;

my $node = new_openrouter_node('recordings', no_key => 1);

# the recordings are UTF-8 and full of \u escapes: use a UTF8 database,
# whatever the cluster's default encoding is
$node->safe_psql('postgres',
	"CREATE DATABASE replay TEMPLATE template0 ENCODING 'UTF8' LC_COLLATE 'C' LC_CTYPE 'C'"
);
$node->safe_psql('replay', 'CREATE EXTENSION openrouter');
$node->safe_psql('replay',
	"SELECT openrouter_configure_client('sk-or-v1-tap-test-key')");

# $tag$...$tag$ quoting, with a tag found in none of the texts
sub dollar_tag
{
	my @texts = @_;
	while (1)
	{
		my $tag = 'rec_' . join('', map { ('a' .. 'z')[ int rand 26 ] } 1 .. 12);
		return "\$$tag\$" unless grep { index($_, $tag) >= 0 } @texts;
	}
}

# run one replay; returns the decoded facts row, or undef and the error
sub replay
{
	my ($entry, $select) = @_;
	my $messages = $json->encode($entry->{request_body}{messages});
	my $fixture = decode_json(slurp("$fixtures/$entry->{name}.json"));
	my $body = encode_utf8($fixture->{body});
	my $q = dollar_tag($messages, $body);
	my $sql = <<"EOF";
SET client_encoding = 'UTF8';
SET openrouter.max_retries = 0;
WITH call AS (
  SELECT openrouter_chat(${q}${messages}${q}::jsonb,
                         'standin/replay=$entry->{name}',
                         on_error => 'ignore') AS r,
         ${q}${body}${q}::jsonb AS b)
$select
FROM call;
EOF
	my ($stdout, $stderr);
	my $rc = $node->psql('replay', $sql,
		stdout => \$stdout, stderr => \$stderr, on_error_stop => 1);
	return (undef, "psql failed ($rc): $stderr") if $rc != 0 || $stdout eq '';
	return ($json->decode($stdout), undef);
}

my $replayed = 0;
for my $entry (@$index)
{
	my $name = $entry->{name};
	my $status = $entry->{status};
	my $kind = $entry->{kind} // 'completion';
	my $label = "$name ($kind, HTTP $status)";

  SKIP:
	{
		skip "$name: the recorded request has no messages array", 1
		  unless ref($entry->{request_body}{messages}) eq 'ARRAY';

		if ($kind eq 'completion')
		{
			# the whole body, compared in SQL; on a mismatch, what came back
			my ($facts, $err) = replay($entry, <<'EOF');
SELECT jsonb_build_object(
  'same', r = b,
  'error', r->'error',
  'differs', (SELECT jsonb_agg(k ORDER BY k)
                FROM (SELECT jsonb_object_keys(r) AS k
                      UNION SELECT jsonb_object_keys(b)) keys
               WHERE r->k IS DISTINCT FROM b->k))
EOF
			if (!defined $facts)
			{
				fail($label);
				diag($err);
				next;
			}
			$replayed++;
			ok($facts->{same}, "$label: the result equals the recorded body")
			  or diag('returned error: ', $json->encode($facts->{error}),
				"\ntop-level keys that differ: ", $json->encode($facts->{differs}));
			next;
		}

		my ($facts, $err) = replay($entry, <<'EOF');
SELECT jsonb_build_object(
  'sqlstate', r->'error'->'sqlstate',
  'status', r->'error'->'status',
  'message', r->'error'->'message')
EOF
		if (!defined $facts)
		{
			fail($label);
			diag($err);
			next;
		}
		$replayed++;

		my %expected;
		if ($kind eq 'choice_error')
		{
			%expected = (sqlstate => 'ORE02', status => 200);
		}
		elsif ($kind eq 'not_json')
		{
			%expected = (sqlstate => 'ORB01', status => $status);
		}
		elsif ($status >= 200 && $status <= 299)
		{
			my $code = $entry->{error_code} // '';
			%expected = (
				sqlstate => ($code =~ /^[0-9]{3}$/ ? "OR$code" : 'ORE01'),
				status => $status);
		}
		else
		{
			%expected = (sqlstate => "OR$status", status => $status);
		}
		$expected{message} = $entry->{error_message}
		  if defined $entry->{error_message};

		my %got = map { $_ => $facts->{$_} } keys %expected;
		is_deeply(\%got, \%expected, "$label: the recorded error")
		  or diag('got: ', $json->encode($facts));
	}
}

cmp_ok($replayed, '>', 0, "recordings replayed: $replayed of " . scalar(@$index));

$node->stop;
done_testing();
