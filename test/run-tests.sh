#!/usr/bin/env bash
# test/run-tests.sh: runs every test suite of the project, from a clean state.
#
#   bash test/run-tests.sh            (as root, or a user with sudo)
#
# It builds and installs the extension, starts the local OpenRouter stand-in
# (HTTP and HTTPS on 127.0.0.1) and a throwaway PostgreSQL cluster (as the
# postgres OS user), then runs:
#   1. the stand-in's own self-test;
#   2. the regression suite (make installcheck: test/regress/sql/*.sql against
#      test/regress/expected/);
#   3. the TAP suites (prove test/t/*.pl: cancellation, timeouts,
#      termination, connection reuse, dumps, recorded real exchanges);
#   4. the fuzz test (test/fuzz/run.sh: hostile responses and random
#      arguments, its own cluster; FUZZ_SECONDS, FUZZ_SEED);
#   4. the Debian package test (test/package.sh);
#   5. the spec check: the regression suite again, through Stoplight Prism
#      validating every request against OpenRouter's official OpenAPI spec.
# Everything it started is stopped on exit.  The last line is
# "N passed, M failed, K skipped" (one count per test file or check).
set -uo pipefail

cd "$(dirname "$0")/.."
source test/lib.sh

passed=0 failed=0 skipped=0
failures=()

trap 'or_teardown' EXIT

record() {						# name status(pass|fail|skip)
	case "$2" in
		pass) passed=$((passed + 1)); echo "ok   - $1" ;;
		skip) skipped=$((skipped + 1)); echo "skip - $1" ;;
		*) failed=$((failed + 1)); failures+=("$1"); echo "FAIL - $1" ;;
	esac
}

bash scripts/install-deps.sh || { echo "dependency installation failed"; echo "0 passed, 1 failed"; exit 1; }
or_build || { echo "build failed"; echo "0 passed, 1 failed"; exit 1; }
or_setup_workdir
or_make_certificates

# recorded real exchanges become stand-in fixtures (skipped without ../shared)
export OR_FIXTURES="$OR_WORK/fixtures"
if [ -x test/recordings/prepare.sh ]; then
	test/recordings/prepare.sh "$OR_FIXTURES" || true
fi

or_log "stand-in self-test"
if (cd test/standin && ./selftest.sh > "$OR_WORK/standin-selftest.log" 2>&1); then
	record "stand-in self-test ($(tail -1 "$OR_WORK/standin-selftest.log"))" pass
else
	tail -20 "$OR_WORK/standin-selftest.log"
	record "stand-in self-test" fail
fi

or_start_standin || { echo "0 passed, 1 failed"; exit 1; }
or_start_cluster || { echo "0 passed, 1 failed"; exit 1; }

or_log "regression suite (pg_regress)"
make -s installcheck > "$OR_WORK/installcheck.log" 2>&1
while read -r line; do
	name=$(echo "$line" | awk '{print $2}')
	if echo "$line" | grep -qE '\.\.\. ok|^ok'; then
		record "regression: $name" pass
	else
		record "regression: $name" fail
	fi
done < <(grep -E '^(test|ok|not ok) ' "$OR_WORK/installcheck.log" | sed -E 's/^(ok|not ok) +[0-9]+ +- +/test /')
if [ -f regression.diffs ]; then
	cat regression.diffs
fi

or_log "TAP suites (prove)"
export TESTDIR="$OR_WORK/tap"
mkdir -p "$TESTDIR"
[ "$(id -u)" = 0 ] && chown "$OR_PGUSER_OS" "$TESTDIR"
PERL_LIB="$($PG_CONFIG --pkglibdir)/pgxs/src/test/perl"
for t in test/t/*.pl; do
	[ -e "$t" ] || continue
	out="$OR_WORK/tap-$(basename "$t" .pl).log"
	or_as_pguser env TESTDIR="$TESTDIR" PERL5LIB="$PERL_LIB:$OR_ROOT/test/t" \
		PG_REGRESS="$($PG_CONFIG --pkglibdir)/pgxs/src/test/regress/pg_regress" prove -v "$t" > "$out" 2>&1
	rc=$?
	if grep -q "skipped:" "$out" && [ $rc = 0 ]; then
		record "tap: $(basename "$t") ($(grep -o 'skipped:.*' "$out" | head -1))" skip
	elif [ $rc = 0 ]; then
		record "tap: $(basename "$t") ($(grep -oE 'Tests=[0-9]+' "$out"))" pass
	else
		cat "$out"
		record "tap: $(basename "$t")" fail
	fi
done

if [ -x test/fuzz/run.sh ]; then
	or_log "fuzz test (test/fuzz, ${FUZZ_SECONDS:-60} s, its own cluster)"
	test/fuzz/run.sh > "$OR_WORK/fuzz.log" 2>&1
	rc=$?
	line=$(tail -1 "$OR_WORK/fuzz.log")
	case "$line" in fuzz:*) ;; *) line="fuzz (see $OR_WORK/fuzz.log)" ;; esac
	case $rc in
		0) record "$line" pass ;;
		77) record "$line" skip ;;
		*) sed -n '/distinct violations:/,$p' "$OR_WORK/fuzz.log" | cut -c1-300 | head -150
		   [ -s "$OR_WORK/fuzz.log" ] && grep -q 'distinct violations:' "$OR_WORK/fuzz.log" || tail -30 "$OR_WORK/fuzz.log"
		   record "$line" fail ;;
	esac
fi
or_log "Debian package (test/package.sh)"
bash test/package.sh > "$OR_WORK/package.log" 2>&1
case $? in
	0) record "debian package: built, lintian-clean, CREATE EXTENSION and a call from its files" pass ;;
	77) record "debian package ($(tail -1 "$OR_WORK/package.log"))" skip ;;
	*) tail -30 "$OR_WORK/package.log"; record "debian package" fail ;;
esac

if [ -x test/spec/prism-check.sh ]; then
	or_log "spec check (Stoplight Prism)"
	test/spec/prism-check.sh > "$OR_WORK/prism-check.log" 2>&1
	rc=$?
	tail -5 "$OR_WORK/prism-check.log"
	case $rc in
		0) record "spec check: every request passes OpenRouter's OpenAPI spec" pass ;;
		77) record "spec check ($(tail -1 "$OR_WORK/prism-check.log"))" skip ;;
		*) record "spec check" fail ;;
	esac
fi

echo
if [ ${#failures[@]} -gt 0 ]; then
	printf 'failed: %s\n' "${failures[@]}"
fi
echo "$passed passed, $failed failed, $skipped skipped"
[ "$failed" = 0 ]
