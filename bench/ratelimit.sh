#!/usr/bin/env bash
# bench/ratelimit.sh: the rate-limited server of README.md, "Performance".
#
#   bash bench/ratelimit.sh      (as root, or with sudo; about a minute and a half)
#   BENCH_RATE=100 BENCH_REQUESTS=3000 bash bench/ratelimit.sh
#
# The stand-in allows BENCH_RATE (R) requests per second per key (a token
# bucket of R tokens refilled at R a second) and answers the rest 429 at
# once, naming no wait; answers take BENCH_LATENCY ms.  The same number of
# requests is sent, with a key of its own (so that nothing learnt in one run
# helps the other), by
#   - one session: openrouter_chat_batch at openrouter.max_concurrency, and
#   - four sessions at once, a quarter each, with the same key,
# one after the other in the same run.  Printed per run: the wall time, the
# achieved rate (requests answered / wall time) over R, and the share of the
# attempts the stand-in answered 429 (its own counts).  The first 429s of a
# key cost about one batch's worth of requests in flight: they are counted.
# Figures are printed, never asserted: they depend on the machine.
set -euo pipefail
cd "$(dirname "$0")/.."

RATE=${BENCH_RATE:-50}
REQUESTS=${BENCH_REQUESTS:-2000}
LATENCY_MS=${BENCH_LATENCY:-20}
CONCURRENCY=${BENCH_CONCURRENCY:-32}
export OR_WORK=${OR_WORK:-/tmp/openrouter-bench} OR_STANDIN_NO_LOG=1 OR_PGPORT=${OR_PGPORT:-55434}
export OR_STANDIN_PORT=${OR_STANDIN_PORT:-18451} OR_STANDIN_TLS_PORT=${OR_STANDIN_TLS_PORT:-18452}
source test/lib.sh
[ -n "${BENCH_NO_SETUP:-}" ] || or_bench_setup	# BENCH_NO_SETUP: one already running
export PGOPTIONS="-c client_min_messages=warning"

q() { psql -X -q -At -v ON_ERROR_STOP=1 "$@"; }
now() { date +%s.%N; }
run_id="$$-$(date +%s)"

q -c "CREATE EXTENSION IF NOT EXISTS openrouter" >/dev/null

# one session's share: SESSION_KEY MODEL_KEY COUNT; prints the requests answered
session() {
	q -c "SET openrouter.api_key = 'sk-or-v1-bench-$1'" \
	  -c "SET openrouter.max_concurrency = $CONCURRENCY" \
	  -c "SET openrouter.max_retries = 20" \
	  -c "SET openrouter.max_retry_wait = '10s'" \
	  -c "SELECT count(*) FILTER (WHERE r ? 'choices') FROM openrouter_chat_batch(array(
	        SELECT jsonb_build_object('messages', jsonb_build_array(jsonb_build_object('role', 'user', 'content', 'q' || i)),
	                                  'model', 'standin/ratelimit=$RATE;latency=$LATENCY_MS;key=$2')
	        FROM generate_series(1, $3) AS i), on_error => 'ignore') AS r"
}

# sessions: N; prints the figures of one run
measure() {
	local n=$1 name="bench-$1-$run_id" t0 t answered=0 pids=() f
	t0=$(now)
	for i in $(seq 1 "$n"); do
		session "$name" "$name" $((REQUESTS / n)) > "$OR_WORK/ratelimit-$n-$i.out" &
		pids+=($!)
	done
	wait "${pids[@]}"
	t=$(awk -v a="$t0" -v b="$(now)" 'BEGIN { print b - a }')
	for f in "$OR_WORK"/ratelimit-"$n"-*.out; do answered=$((answered + $(cat "$f"))); done
	q -c "SET openrouter.api_key = 'sk-or-v1-bench-stats'" -c "SELECT openrouter_chat('[{\"role\":\"user\",\"content\":\"s\"}]', 'standin/ratelimit_stats;key=$name')->'choices'->0->'message'->>'content'" |
		awk -v n="$n" -v t="$t" -v a="$answered" -v r="$RATE" '{
			match($0, /"allowed":[0-9]+/); allowed = substr($0, RSTART + 10, RLENGTH - 10);
			match($0, /"limited":[0-9]+/); limited = substr($0, RSTART + 10, RLENGTH - 10);
			printf "%-10s %9d %9.1f %9.1f %12.2f %9d %10.1f%%\n", n " session" (n > 1 ? "s" : ""),
				a, t, a / t, a / t / r, limited, 100 * limited / (allowed + limited) }'
}

echo
echo "== Rate-limited server: R = $RATE requests/s, latency ${LATENCY_MS} ms, $REQUESTS requests per run, max_concurrency $CONCURRENCY ($(nproc) cores)"
printf '%-10s %9s %9s %9s %12s %9s %11s\n' "run" "answered" "wall (s)" "req/s" "rate / R" "429s" "429 share"
measure 1
measure 4
