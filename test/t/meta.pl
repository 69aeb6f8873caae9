# META.json, the PGXN distribution metadata, validates against the PGXN Meta
# Spec 1.0 (https://pgxn.org/meta/spec.txt; its JSON Schema in pgxn/meta,
# schema/v1): no validator is packaged for Debian or npm, so this test checks
# the spec's rules itself (required keys, SemVer versions, terms, licenses,
# prereq phases and relationships, version ranges, provides, resources, no
# unknown keys but x_*), and that the metadata agrees with the extension's
# control file, the Debian changelog and the files it names.  A broken copy
# of the metadata must fail the validator (checked at the end).
use strict;
use warnings;
use JSON::PP;
use File::Basename qw(dirname);
use Test::More;

my $root = dirname(__FILE__) . '/../..';

sub slurp
{
	my ($path) = @_;
	open(my $fh, '<', $path) or die "cannot read $path: $!";
	local $/;
	return scalar <$fh>;
}

my $semver = qr/^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)
	(?:-((?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*)(?:\.(?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*))*))?
	(?:\+([0-9a-zA-Z-]+(?:\.[0-9a-zA-Z-]+)*))?$/x;
my $term = qr/^[^\/\\\s[:cntrl:]]{2,}$/;
my $custom = qr/^[xX]_./;
my %licenses = map { $_ => 1 } qw(agpl_3 apache_1_1 apache_2_0 artistic_1 artistic_2 bsd
  freebsd gfdl_1_2 gfdl_1_3 gpl_1 gpl_2 gpl_3 lgpl_2_1 lgpl_3_0 mit mozilla_1_0 mozilla_1_1
  openssl perl_5 postgresql qpl_1_0 ssleay sun zlib open_source restricted unrestricted unknown);

# the spec's rules; returns the list of problems (empty: valid)
sub validate
{
	my ($m) = @_;
	my @errors;
	my $err = sub { push @errors, join('', @_) };
	my $string = sub { defined $_[0] && !ref $_[0] && length $_[0] >= ($_[1] // 1) };
	my $uri = sub { $string->($_[0]) && $_[0] =~ m{^[a-zA-Z][a-zA-Z0-9+.-]*:\S+$} };
	my $keys = sub {	# object, allowed keys, where
		my ($o, $allowed, $where) = @_;
		if (ref $o ne 'HASH')
		{
			$err->("$where must be an object");
			return 0;
		}
		return 1 unless $allowed;	# any key
		for (sort keys %$o)
		{
			$err->("$where has an unknown key \"$_\"") unless $allowed->{$_} || /$custom/;
		}
		return 1;
	};
	my $range = sub {
		my ($v) = @_;
		return 1 if defined $v && !ref $v && "$v" eq '0';
		return 0 unless $string->($v);
		for my $part (split /,\s*/, $v)
		{
			my ($version) = $part =~ /^(?:(?:[=!]=|[<>]=?)\s*)?(.*)$/;
			return 0 unless $version =~ $semver;
		}
		return 1;
	};

	return ("the metadata must be a JSON object") unless ref $m eq 'HASH';
	$keys->($m, { map { $_ => 1 } qw(name version abstract maintainer license provides
		  meta-spec description generated_by tags no_index prereqs release_status resources) }, 'META');
	for (qw(name version abstract maintainer license provides meta-spec))
	{
		$err->("required key \"$_\" is missing") unless exists $m->{$_};
	}
	$err->("name must be a term") unless $string->($m->{name}) && $m->{name} =~ $term;
	$err->("version must be a SemVer") unless $string->($m->{version}) && $m->{version} =~ $semver;
	$err->("abstract must be a non-empty string") unless $string->($m->{abstract});
	for my $k (qw(description generated_by))
	{
		$err->("$k must be a non-empty string") if exists $m->{$k} && !$string->($m->{$k});
	}
	my $maintainer = $m->{maintainer};
	$err->("maintainer must be a string or a non-empty list of strings")
	  unless $string->($maintainer)
	  || (ref $maintainer eq 'ARRAY' && @$maintainer && !grep { !$string->($_) } @$maintainer);
	my $license = $m->{license};
	if (ref $license eq 'HASH')
	{
		$err->("a license object maps names to URIs")
		  unless %$license && !grep { !$uri->($_) } values %$license;
	}
	else
	{
		my @names = ref $license eq 'ARRAY' ? @$license : ($license);
		$err->("license must be one of the spec's names") unless @names && !grep { !defined $_ || ref $_ || !$licenses{$_} } @names;
	}
	my $provides = $m->{provides};
	if ($keys->($provides, undef, 'provides'))
	{
		$err->("provides is empty") unless %$provides;
		for my $ext (sort keys %$provides)
		{
			my $e = $provides->{$ext};
			$err->("provides: \"$ext\" is not a term") unless $ext =~ $term;
			next unless $keys->($e, { map { $_ => 1 } qw(file version abstract docfile docpath) }, "provides.$ext");
			$err->("provides.$ext.file is required (a path)") unless $string->($e->{file}, 2);
			$err->("provides.$ext.version must be a SemVer")
			  unless $string->($e->{version}) && $e->{version} =~ $semver;
			$err->("provides.$ext.docfile must be a path") if exists $e->{docfile} && !$string->($e->{docfile}, 2);
		}
	}
	my $spec = $m->{'meta-spec'};
	if ($keys->($spec, { version => 1, url => 1 }, 'meta-spec'))
	{
		$err->("meta-spec.version must be 1.0.x")
		  unless $string->($spec->{version}) && $spec->{version} =~ /^1\.0\.\d+$/;
		$err->("meta-spec.url must be the spec's address")
		  if exists $spec->{url} && !grep { $spec->{url} eq $_ } ('https://pgxn.org/meta/spec.txt', 'http://pgxn.org/meta/spec.txt');
	}
	if (exists $m->{prereqs}
		&& $keys->($m->{prereqs}, { map { $_ => 1 } qw(configure build test runtime develop) }, 'prereqs'))
	{
		$err->("prereqs names no phase") unless %{ $m->{prereqs} };
		for my $phase (sort keys %{ $m->{prereqs} })
		{
			my $p = $m->{prereqs}{$phase};
			next unless $keys->($p, { map { $_ => 1 } qw(requires recommends suggests conflicts) }, "prereqs.$phase");
			$err->("prereqs.$phase names no relationship") unless %$p;
			for my $rel (sort keys %$p)
			{
				my $r = $p->{$rel};
				next unless $keys->($r, undef, "prereqs.$phase.$rel");
				$err->("prereqs.$phase.$rel is empty") unless %$r;
				for my $name (sort keys %$r)
				{
					$err->("prereqs.$phase.$rel: \"$name\" is not a term") unless $name =~ $term;
					$err->("prereqs.$phase.$rel.$name: not a version range") unless $range->($r->{$name});
				}
			}
		}
	}
	if (exists $m->{release_status})
	{
		$err->("release_status must be stable, testing or unstable")
		  unless grep { ($m->{release_status} // '') eq $_ } qw(stable testing unstable);
	}
	if (exists $m->{tags})
	{
		my $t = $m->{tags};
		$err->("tags must be a non-empty list of tags (2 to 255 characters, no slash)")
		  unless ref $t eq 'ARRAY' && @$t
		  && !grep { !$string->($_, 2) || length $_ > 255 || m{[/\\[:cntrl:]]} } @$t;
	}
	if (exists $m->{no_index} && $keys->($m->{no_index}, { file => 1, directory => 1 }, 'no_index'))
	{
		for my $k (sort keys %{ $m->{no_index} })
		{
			my $v = $m->{no_index}{$k};
			next if $k =~ $custom;
			$err->("no_index.$k must be a path or a list of paths")
			  unless $string->($v, 2) || (ref $v eq 'ARRAY' && @$v && !grep { !$string->($_, 2) } @$v);
		}
	}
	if (exists $m->{resources}
		&& $keys->($m->{resources}, { homepage => 1, bugtracker => 1, repository => 1 }, 'resources'))
	{
		my $r = $m->{resources};
		$err->("resources names none of homepage, bugtracker, repository")
		  unless grep { exists $r->{$_} } qw(homepage bugtracker repository);
		$err->("resources.homepage must be a URI") if exists $r->{homepage} && !$uri->($r->{homepage});
		if (exists $r->{bugtracker} && $keys->($r->{bugtracker}, { web => 1, mailto => 1 }, 'resources.bugtracker'))
		{
			my $b = $r->{bugtracker};
			$err->("resources.bugtracker needs web or mailto") unless exists $b->{web} || exists $b->{mailto};
			$err->("resources.bugtracker.web must be a URI") if exists $b->{web} && !$uri->($b->{web});
			$err->("resources.bugtracker.mailto must be an address")
			  if exists $b->{mailto} && !($string->($b->{mailto}) && $b->{mailto} =~ /^[^@\s]+@[^@\s]+$/);
		}
		if (exists $r->{repository} && $keys->($r->{repository}, { url => 1, web => 1, type => 1 }, 'resources.repository'))
		{
			my $p = $r->{repository};
			$err->("resources.repository needs url and type, or web")
			  unless (exists $p->{url} && exists $p->{type}) || exists $p->{web};
			for (qw(url web))
			{
				$err->("resources.repository.$_ must be a URI") if exists $p->{$_} && !$uri->($p->{$_});
			}
			$err->("resources.repository.type must be lower-case letters")
			  if exists $p->{type} && !($string->($p->{type}) && $p->{type} =~ /^[a-z]+$/);
		}
	}
	return @errors;
}

my $text = slurp("$root/META.json");
my $meta = eval { JSON::PP->new->relaxed(0)->decode($text) };
ok($meta, 'META.json is JSON') or diag($@);
my @problems = validate($meta);
is_deeply(\@problems, [], 'META.json follows the PGXN Meta Spec 1.0') or diag(join("\n", @problems));

# it agrees with the rest of the distribution
my ($control_version) = slurp("$root/openrouter.control") =~ /default_version\s*=\s*'([^']+)'/;
(my $semver_of_control = $control_version) =~ s/^(\d+)\.(\d+)$/$1.$2.0/;
is($meta->{version}, $semver_of_control, "the distribution's version is the control file's ($control_version)");
is($meta->{provides}{openrouter}{version}, $meta->{version}, 'the extension provided has that version');
my ($debian_version) = slurp("$root/debian/changelog") =~ /^openrouter \(([^)-]+)-/;
is($debian_version, $control_version, "the Debian package's upstream version is the same");
for my $ext (sort keys %{ $meta->{provides} })
{
	for my $k (qw(file docfile))
	{
		my $f = $meta->{provides}{$ext}{$k} // next;
		ok(-f "$root/$f", "provides.$ext.$k ($f) exists");
	}
}
ok(exists $meta->{prereqs}{runtime}{requires}{libcurl}, 'libcurl is a runtime prerequisite');
ok(exists $meta->{prereqs}{runtime}{requires}{PostgreSQL}, 'and so is PostgreSQL');

# the validator does catch what the spec forbids
my %broken = (
	'no version' => sub { delete $_[0]{version} },
	'a version that is not SemVer' => sub { $_[0]{version} = '1.1' },
	'an unknown license' => sub { $_[0]{license} = 'gpl' },
	'an unknown key' => sub { $_[0]{homepage} = 'https://example.com' },
	'a provided extension without file' => sub { delete $_[0]{provides}{openrouter}{file} },
	'a prereq that is not a version range' => sub { $_[0]{prereqs}{runtime}{requires}{libcurl} = 'any' },
	'an unknown prereq phase' => sub { $_[0]{prereqs}{install} = { requires => { x => 0 } } },
	'an empty resources' => sub { $_[0]{resources} = {} },
	'a wrong meta-spec version' => sub { $_[0]{'meta-spec'}{version} = '2.0.0' },
);
for my $what (sort keys %broken)
{
	my $copy = JSON::PP->new->decode($text);
	$broken{$what}->($copy);
	ok(scalar(validate($copy)), "the validator refuses $what");
}

done_testing();
