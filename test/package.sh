#!/usr/bin/env bash
# test/package.sh: builds the Debian package the way Debian builds PostgreSQL
# extensions (dpkg-buildpackage -us -uc -b, pg_buildext, debian/), checks it
# with lintian, installs it into a throwaway root and runs CREATE EXTENSION
# and one call through the stand-in on a cluster whose server comes from that
# root.  Run by test/run-tests.sh (which has the stand-in running); by hand:
#   source test/lib.sh; or_setup_workdir; or_make_certificates; or_start_standin
#   bash test/package.sh; or_teardown
# Exit 0: passed, 77: skipped (no Debian build tools), anything else: failed.
#
# Why a throwaway root (dpkg -x) and not `apt-get install ./...deb`: the
# package's files go to /usr/lib/postgresql/15 and /usr/share/postgresql/15,
# the system PostgreSQL's own directories, where `make install` (and CI's
# tests) put the extension too.  Installing and removing the package there
# would replace, then delete, the files the other tests run with, and leave
# the machine changed.  So the test copies the system server (PostgreSQL
# finds its share and lib directories relative to its binaries), unpacks the
# .deb over the copy, and runs a cluster from it: the package's files and
# nothing else.  What apt-get would check, that the package's dependencies
# are met on this system, is checked with `apt-get install --simulate`.
# Everything is built and run under $OR_WORK/package and removed at the end.
set -euo pipefail

cd "$(dirname "$0")/.."
source test/lib.sh

for tool in dpkg-buildpackage pg_buildext dh lintian; do
	if ! command -v "$tool" >/dev/null; then
		echo "skipped: $tool is not installed (scripts/install-deps.sh installs it)"
		exit 77
	fi
done

pgversion=15
system_pg=/usr/lib/postgresql/$pgversion
work="$OR_WORK/package"
rm -rf "$work"
mkdir -p "$work/src/openrouter" "$work/root"
cleanup() {
	if [ -f "$work/data/postmaster.pid" ]; then
		or_as_pguser "$work/root$system_pg/bin/pg_ctl" -D "$work/data" -m immediate -w stop >/dev/null 2>&1 || true
	fi
	rm -rf "$work"
}
trap cleanup EXIT

fail() { echo "FAIL: $*"; exit 1; }

# 1. build from a copy of the sources (the build writes into debian/ and
# the parent directory)
if git rev-parse --git-dir >/dev/null 2>&1; then
	git ls-files -co --exclude-standard | tar -cf - -T - | tar -xf - -C "$work/src/openrouter"
else
	tar -cf - --exclude=./.git --exclude='*.o' --exclude='*.so' . | tar -xf - -C "$work/src/openrouter"
fi
version=$(dpkg-parsechangelog -l debian/changelog -S Version)
arch=$(dpkg --print-architecture)
deb="$work/src/postgresql-$pgversion-openrouter_${version}_$arch.deb"
echo "building postgresql-$pgversion-openrouter $version"
if ! (cd "$work/src/openrouter" && dpkg-buildpackage -us -uc -b) > "$work/build.log" 2>&1; then
	tail -30 "$work/build.log"
	fail "dpkg-buildpackage failed"
fi
[ -f "$deb" ] || fail "no $(basename "$deb") (built: $(ls "$work/src"))"
echo "built $(basename "$deb")"

# 2. the package's contents and metadata
dpkg-deb -c "$deb" > "$work/contents"
for f in lib/postgresql/$pgversion/lib/openrouter.so \
	share/postgresql/$pgversion/extension/openrouter.control \
	share/postgresql/$pgversion/extension/openrouter--1.0.sql \
	share/postgresql/$pgversion/extension/openrouter--1.0--1.1.sql; do
	grep -q "/usr/$f\$" "$work/contents" || fail "the package lacks /usr/$f"
done
depends=$(dpkg-deb -f "$deb" Depends)
echo "Depends: $depends"
for d in "postgresql-$pgversion" libcurl4; do
	echo "$depends" | grep -q "$d" || fail "Depends lacks $d"
done

# 3. lintian: no error or warning (pedantic and informational tags are shown)
lintian --info --display-info "$work/src/openrouter_${version}_$arch.changes" > "$work/lintian.log" 2>&1 || true
grep -v 'running with root privileges' "$work/lintian.log" | grep -E '^[EWIP]:' || true
if grep -qE '^[EW]:' "$work/lintian.log"; then
	fail "lintian reports errors or warnings"
fi
echo "lintian: no errors or warnings"

# 4. apt-get would install it here: its dependencies are met (nothing changes)
if [ "$(id -u)" = 0 ]; then
	apt-get install --simulate --no-install-recommends "$deb" > "$work/apt.log" 2>&1 ||
		{ cat "$work/apt.log"; fail "apt-get install --simulate refused the package"; }
	grep -E '^Inst ' "$work/apt.log" || true
fi

# 5. a server from a copy of the system's, with the package unpacked over it
[ -x "$system_pg/bin/postgres" ] || fail "no PostgreSQL $pgversion server in $system_pg"
mkdir -p "$work/root/usr/lib/postgresql" "$work/root/usr/share/postgresql"
cp -a "$system_pg" "$work/root/usr/lib/postgresql/"
cp -a "/usr/share/postgresql/$pgversion" "$work/root/usr/share/postgresql/"
rm -f "$work/root$system_pg/lib/openrouter.so" "$work/root/usr/share/postgresql/$pgversion/extension/openrouter"*
dpkg -x "$deb" "$work/root"
bin="$work/root$system_pg/bin"
sharedir=$("$bin/pg_config" --sharedir)
[ "$sharedir" = "$work/root/usr/share/postgresql/$pgversion" ] ||
	fail "the copied server looks for its files in $sharedir"
[ "$(id -u)" = 0 ] && chown -R "$OR_PGUSER_OS" "$work"
socket="$work/socket"
mkdir -p "$socket"
[ "$(id -u)" = 0 ] && chown "$OR_PGUSER_OS" "$socket"
or_as_pguser "$bin/initdb" -D "$work/data" -U postgres --auth=trust --no-instructions > "$work/initdb.log" 2>&1 ||
	{ cat "$work/initdb.log"; fail "initdb failed"; }
cat >> "$work/data/postgresql.conf" <<-EOF
listen_addresses = ''
port = $OR_PGPORT
unix_socket_directories = '$socket'
fsync = off
shared_preload_libraries = 'openrouter'
openrouter.base_url = '$STANDIN_URL'
EOF
or_as_pguser "$bin/pg_ctl" -D "$work/data" -l "$work/postgres.log" -w start > /dev/null ||
	{ cat "$work/postgres.log"; fail "the server did not start"; }

sql() { or_as_pguser "$bin/psql" -h "$socket" -p "$OR_PGPORT" -U postgres -d postgres -X -qAt -v ON_ERROR_STOP=1 -c "$1"; }
sql "CREATE EXTENSION openrouter" || fail "CREATE EXTENSION failed"
got=$(sql "SELECT extversion FROM pg_extension WHERE extname = 'openrouter'")
want=${version%-*}
[ "$got" = "$want" ] || fail "extension version $got, expected $want"
libdir=$(sql "SELECT setting FROM pg_config WHERE name = 'PKGLIBDIR'")
[ "$libdir" = "$work/root$system_pg/lib" ] || fail "the server's library directory is $libdir"
sql "SELECT openrouter_configure_client('sk-or-v1-package-test-key')" > /dev/null
answer=$(sql "SELECT openrouter_chat('[{\"role\": \"user\", \"content\": \"What is the capital of France?\"}]',
                                     'openai/gpt-4o-mini')->'choices'->0->'message'->>'content'")
echo "answer through the stand-in: $answer"
[ -n "$answer" ] || fail "no answer"
# the usage ledger's worker runs from the package too (the library is preloaded)
workers=$(sql "SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'openrouter launcher'")
[ "$workers" = 1 ] || fail "the packaged library's launcher is not running ($workers)"
echo "package test passed"
