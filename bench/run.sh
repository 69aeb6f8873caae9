#!/usr/bin/env bash
# bench/run.sh: the performance figures of README.md, "Performance".
#
#   bash bench/run.sh            (as root, or with sudo; about 5 minutes)
#   BENCH_SEQUENTIAL_ROWS=100 bash bench/run.sh    (shorter sequential part)
#
# Part 1: 1,000 rows against the stand-in answering after 200 ms:
#   (a) UPDATE t SET r = openrouter_chat(...), one row at a time;
#   (b) openrouter_add_computed_column's backfill, and
#   (c) openrouter_chat_batch,
#   at openrouter.max_concurrency 50, 100 and 200; each wall time is printed
#   with its ratio to the ideal N x latency / concurrency.
# Part 2: 10k, 50k and 100k rows at zero latency through the backfill:
#   wall time, time per row, and the backend's peak memory (VmHWM).
# Figures are printed, never asserted: they depend on the machine.
set -euo pipefail
cd "$(dirname "$0")/.."

ROWS=${BENCH_ROWS:-1000}
PART=${BENCH_PART:-all}		# 1, 2 or all
SEQ_ROWS=${BENCH_SEQUENTIAL_ROWS:-$ROWS}
LATENCY_MS=200
export OR_WORK=${OR_WORK:-/tmp/openrouter-bench} OR_PGPORT=${OR_PGPORT:-55434}
export OR_STANDIN_PORT=${OR_STANDIN_PORT:-18451} OR_STANDIN_TLS_PORT=${OR_STANDIN_TLS_PORT:-18452}
source bench/common.sh

q -c "CREATE EXTENSION openrouter" -c "SELECT openrouter_configure_client('sk-or-v1-benchmark')" >/dev/null

make_table() {					# name rows
	q -c "DROP TABLE IF EXISTS $1" \
	  -c "CREATE TABLE $1 (id int PRIMARY KEY, prompt text)" \
	  -c "INSERT INTO $1 SELECT i, 'question ' || i FROM generate_series(1, $2) AS i"
}
messages="jsonb_build_array(jsonb_build_object('role', 'user', 'content', prompt))"

if [ "$PART" != 2 ]; then
echo
echo "== Part 1: $ROWS rows, stand-in latency ${LATENCY_MS} ms ($(nproc) cores, $(uname -m))"
printf '%-44s %10s %10s %8s\n' "method" "wall (s)" "ideal (s)" "ratio"

make_table seq "$SEQ_ROWS"
t0=$(now)
q -c "ALTER TABLE seq ADD COLUMN r jsonb" \
  -c "UPDATE seq SET r = openrouter_chat($messages, 'standin/latency=$LATENCY_MS')"
t=$(awk -v a="$t0" -v b="$(now)" 'BEGIN { print b - a }')
ideal=$(awk -v n="$SEQ_ROWS" -v l="$LATENCY_MS" 'BEGIN { print n * l / 1000 }')
printf '%-44s %10.2f %10.2f %8s\n' "(a) UPDATE, one row at a time ($SEQ_ROWS rows)" "$t" "$ideal" "$(ratio "$t" "$ideal")"

for c in 50 100 200; do
	ideal=$(awk -v n="$ROWS" -v l="$LATENCY_MS" -v c="$c" 'BEGIN { print n * l / 1000 / c }')
	make_table cc "$ROWS"
	t0=$(now)
	q -c "SET openrouter.max_concurrency = $c" \
	  -c "SELECT openrouter_add_computed_column('cc', 'r', \$\$openrouter_chat($messages, 'standin/latency=$LATENCY_MS')\$\$)" >/dev/null
	t=$(awk -v a="$t0" -v b="$(now)" 'BEGIN { print b - a }')
	printf '%-44s %10.2f %10.2f %8s\n' "(b) add_computed_column, concurrency $c" "$t" "$ideal" "$(ratio "$t" "$ideal")"

	t0=$(now)
	q -c "SET openrouter.max_concurrency = $c" \
	  -c "SELECT count(*) FROM openrouter_chat_batch(array(
	        SELECT jsonb_build_object('messages', $messages, 'model', 'standin/latency=$LATENCY_MS')
	        FROM cc)) AS r WHERE r ? 'choices'" >/dev/null
	t=$(awk -v a="$t0" -v b="$(now)" 'BEGIN { print b - a }')
	printf '%-44s %10.2f %10.2f %8s\n' "(c) openrouter_chat_batch, concurrency $c" "$t" "$ideal" "$(ratio "$t" "$ideal")"
done

fi

[ "$PART" = 1 ] && exit 0
echo
echo "== Part 2: zero latency, add_computed_column backfill (concurrency 32)"
echo "   peak private memory: the backend's largest RssAnon, sampled every 20 ms"
echo "   (VmHWM would also count the shared buffers it touched, which grow with the table)"
printf '%10s %10s %14s %22s\n' "rows" "wall (s)" "per row (ms)" "peak private mem (kB)"
for n in 10000 50000 100000; do
	make_table big "$n"
	PGAPPNAME="bench-part2-$n" q -c "SELECT pg_sleep(0.3)" \
	  -c "SELECT openrouter_add_computed_column('big', 'r', \$\$openrouter_chat($messages, 'openai/gpt-4o-mini')\$\$)" \
	  >/dev/null &
	client=$!
	pid=""
	while [ -z "$pid" ]; do
		pid=$(q -c "SELECT pid FROM pg_stat_activity WHERE application_name = 'bench-part2-$n'")
	done
	t0=$(now)
	peak=0
	while kill -0 "$client" 2>/dev/null; do
		rss=$(awk '/RssAnon/ {print $2}' "/proc/$pid/status" 2>/dev/null || echo 0)
		[ -n "$rss" ] && [ "$rss" -gt "$peak" ] && peak=$rss
		sleep 0.02
	done
	wait "$client"
	t=$(awk -v a="$t0" -v b="$(now)" 'BEGIN { print b - a - 0.3 }')
	printf '%10d %10.2f %14.3f %22s\n' "$n" "$t" "$(awk -v t="$t" -v n="$n" 'BEGIN { print t * 1000 / n }')" "$peak"
done
