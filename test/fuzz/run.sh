#!/usr/bin/env bash
# test/fuzz/run.sh: the fuzz test.  Starts its own throwaway cluster (in
# $OR_WORK/fuzz, Unix socket only) and the fault-injecting server
# (test/fuzz/server.py, 127.0.0.1, a free port), runs the driver
# (test/fuzz/driver.py) for FUZZ_SECONDS (default 60), stops both.
#
#   bash test/fuzz/run.sh                  (after make install; root or the cluster's OS user)
#   FUZZ_SEED=123 FUZZ_SECONDS=30 bash test/fuzz/run.sh
#   FUZZ_SEED=123 FUZZ_CALLS=17,42 bash test/fuzz/run.sh     (replay some calls)
#
# Settings: FUZZ_SEED (default: random, printed), FUZZ_SECONDS, FUZZ_WORKERS
# (connections at once, default 4), FUZZ_CASES (only these families of
# responses, e.g. "deep,huge_number": see test/fuzz/responses.py; default all),
# FUZZ_MESSAGE_LIMIT (longest error
# message, detail or hint accepted, bytes; default 100000), and test/lib.sh's
# OR_WORK, OR_PGPORT, PG_CONFIG.  The full report is $OR_WORK/fuzz/report.txt.
# Exit status 0: no violation; 1: violations (listed); 77: python3 missing.
# The last line is the summary: "fuzz: N calls, seed S, SQLSTATEs seen ...".
set -uo pipefail

cd "$(dirname "$0")/../.."
source test/lib.sh

PYTHON=$(command -v /usr/bin/python3 || command -v python3 || true)
export PYTHONDONTWRITEBYTECODE=1		# nothing written into the source tree
if [ -z "$PYTHON" ]; then
	echo "fuzz: skipped: python3 is not installed"
	exit 77
fi

FUZZ_SEED=${FUZZ_SEED:-$(od -An -N4 -tu4 /dev/urandom | tr -d ' ')}
FUZZ_SECONDS=${FUZZ_SECONDS:-60}
FUZZ_WORKERS=${FUZZ_WORKERS:-4}
FUZZ_MESSAGE_LIMIT=${FUZZ_MESSAGE_LIMIT:-100000}
dir="$OR_WORK/fuzz"
socket="$dir/socket"

stop_all() {
	if [ -f "$dir/data/postmaster.pid" ]; then
		or_as_pguser pg_ctl -D "$dir/data" -m fast -t 30 -w stop >/dev/null 2>&1
	fi
	if [ -f "$dir/server.pid" ]; then
		kill "$(cat "$dir/server.pid")" 2>/dev/null
		rm -f "$dir/server.pid"
	fi
	return 0
}

stop_all
rm -rf "$dir"
mkdir -p "$socket"
[ "$(id -u)" = 0 ] && chown -R "$OR_PGUSER_OS" "$dir"
trap stop_all EXIT

# the fault-injecting server; it stops by itself when this script is gone
"$PYTHON" test/fuzz/server.py --seed "$FUZZ_SEED" --port 0 --log "$dir/server.log" \
	--lifetime $((${FUZZ_SECONDS%.*} + 600)) --cases "${FUZZ_CASES:-}" > "$dir/server.out" 2>&1 &
echo $! > "$dir/server.pid"
or_wait_for_line "$dir/server.out" "fuzz server listening" 10 || exit 1
port=$(sed -n 's/^fuzz server listening on \([0-9]*\).*/\1/p' "$dir/server.out")

or_as_pguser initdb -D "$dir/data" -U postgres --auth=trust --no-instructions \
	> "$dir/initdb.log" 2>&1 || { cat "$dir/initdb.log"; exit 1; }
cat >> "$dir/data/postgresql.conf" <<EOF
listen_addresses = ''
port = $OR_PGPORT
unix_socket_directories = '$socket'
fsync = off
max_connections = 30
openrouter.base_url = 'http://127.0.0.1:$port/api/v1'
# statements are not logged: the log then holds only what the extension and
# the server say, and the key check looks at exactly that
log_min_error_statement = panic
EOF
or_as_pguser pg_ctl -D "$dir/data" -l "$dir/postgres.log" -w start >/dev/null || {
	cat "$dir/postgres.log"; exit 1; }

"$PYTHON" test/fuzz/driver.py --host "$socket" --port "$OR_PGPORT" --seed "$FUZZ_SEED" \
	--seconds "$FUZZ_SECONDS" --workers "$FUZZ_WORKERS" --calls "${FUZZ_CALLS:-}" \
	--message-limit "$FUZZ_MESSAGE_LIMIT" --server-log "$dir/server.log" \
	--pg-log "$dir/postgres.log" --report "$dir/report.txt"
