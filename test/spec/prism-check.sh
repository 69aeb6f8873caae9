#!/usr/bin/env bash
# test/spec/prism-check.sh: the spec check.  Runs the regression suite's SQL
# files again, this time through Stoplight Prism, which validates every request
# the extension sends against OpenRouter's official OpenAPI spec.
#
#   test/spec/prism-check.sh      (after test/run-tests.sh has started the
#                                  stand-in and the cluster; it sources
#                                  test/lib.sh for their settings)
#
# Prism runs as "prism proxy --errors" in front of the stand-in, on 127.0.0.1
# and a free port; the database spec_check gets openrouter.base_url pointing at
# it.  A request that breaks the spec is refused by Prism (422, or 401 for the
# Authorization header) and a response that breaks it is replaced by a 500; the
# stand-in sends broken answers on purpose, so response violations are only
# counted.  prism-problems.js logs each refusal with its violations, since
# Prism's own log does not name them.
#
# spec_check also gets openrouter.timeout = 3s (PRISM_CHECK_TIMEOUT): Prism
# never gives up on an upstream answer that is cut short (the stand-in's
# "truncate"), so each of those would otherwise hold its query for the
# default two minutes.  The summary has one row per SQL file.
#
# Environment: PRISM_CHECK_EXTRA="file.sql ..." runs more SQL files after the
# suite (e.g. one that sends model_kwargs => '{"temperature": "hot"}', to see
# the check fail); PRISM_CHECK_KEEP=1 keeps Prism's logs and says where.
#
# Exit status: 0 when more than 50 requests were checked and none broke the
# spec; 77 (skipped; the last line says why) without ../shared/openrouter/
# openapi.yaml; 1 otherwise.  Prism and the database are removed on exit.
set -uo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
spec="$root/../shared/openrouter/openapi.yaml"
min_requests=50

if [ ! -f "$spec" ]; then
	echo "skipped: ../shared/openrouter/openapi.yaml not found"
	exit 77
fi

source "$root/test/lib.sh"
cd "$root"

cli="$here/node_modules/@stoplight/prism-cli/dist/index.js"
if [ ! -f "$cli" ]; then
	echo "FAIL: Prism is not installed: run 'npm ci' in test/spec (scripts/install-deps.sh does)"
	exit 1
fi

work=$(mktemp -d "${TMPDIR:-/tmp}/prism-check.XXXXXX")
log="$work/prism.log"			# Prism's own output
problems="$work/problems.jsonl"	# prism-problems.js: every refusal, with markers
db=spec_check
prism_pid=

cleanup() {
	if [ -n "$prism_pid" ]; then
		kill "$prism_pid" 2>/dev/null
		wait "$prism_pid" 2>/dev/null
	fi
	psql -X -q -d postgres -c "DROP DATABASE IF EXISTS $db WITH (FORCE)" >/dev/null 2>&1
	if [ -n "${PRISM_CHECK_KEEP:-}" ]; then
		echo "logs kept in $work"
	else
		rm -rf "$work"
	fi
}
trap cleanup EXIT

port=$(node -e 'const s = require("net").createServer();
	s.listen(0, "127.0.0.1", () => { console.log(s.address().port); s.close(); });')
echo "== starting Prism on 127.0.0.1:$port in front of $STANDIN_URL"
: > "$problems"
PRISM_PROBLEMS_LOG="$problems" node --require "$here/prism-problems.js" "$cli" \
	proxy --errors --host 127.0.0.1 --port "$port" "$spec" "$STANDIN_URL" > "$log" 2>&1 &
prism_pid=$!
for ((i = 0; i < 600; i++)); do
	grep -q "Prism is listening on" "$log" 2>/dev/null && break
	if ! kill -0 "$prism_pid" 2>/dev/null; then
		cat "$log"
		echo "FAIL: Prism exited before listening"
		prism_pid=
		exit 1
	fi
	sleep 0.1
done
if ! grep -q "Prism is listening on" "$log"; then
	tail -20 "$log"
	echo "FAIL: Prism did not start within 60 s"
	exit 1
fi

psql -X -q -v ON_ERROR_STOP=1 -d postgres >/dev/null 2>"$work/createdb.log" <<-EOF || { cat "$work/createdb.log"; echo "FAIL: could not create the database $db"; exit 1; }
	DROP DATABASE IF EXISTS $db WITH (FORCE);
	CREATE DATABASE $db;
	\\c $db
	CREATE EXTENSION openrouter;
	ALTER DATABASE $db SET openrouter.base_url = 'http://127.0.0.1:$port';
	ALTER DATABASE $db SET openrouter.timeout = '${PRISM_CHECK_TIMEOUT:-3s}';
EOF

# the REGRESS list of the Makefile, in order (continuation lines allowed)
tests=$(awk '/^REGRESS[[:space:]]*=/ { on = 1; sub(/^REGRESS[[:space:]]*=/, "") }
	on { more = sub(/\\$/, ""); print; if (!more) exit }' Makefile)

received() { grep -c "Request received" "$log"; }

echo "== running the regression suite's SQL files through Prism: $tests"
start=$(date +%s)
files=()
for t in $tests; do files+=("test/regress/sql/$t.sql"); done
# PRISM_CHECK_EXTRA: more SQL files to run afterwards (e.g. to see a violation)
for f in ${PRISM_CHECK_EXTRA:-}; do files+=("$f"); done
for f in "${files[@]}"; do
	printf '{"file":"%s","received":%d,"time":%s}\n' "$f" "$(received)" "$(date +%s%3N)" >> "$problems"
	psql -X -d "$db" -f "$f" >/dev/null 2>&1
done
sleep 0.5					# let Prism finish writing its log
printf '{"file":null,"received":%d,"time":%s}\n' "$(received)" "$(date +%s%3N)" >> "$problems"
echo "== done in $(($(date +%s) - start)) s"

node "$here/prism-summary.js" "$problems" "$min_requests"
