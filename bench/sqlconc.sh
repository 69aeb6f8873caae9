#!/usr/bin/env bash
# bench/sqlconc.sh: the figures of README.md, "Performance", "Plain SQL".
#
#   bash bench/sqlconc.sh          (as root, or with sudo; about 2 minutes)
#
# Part 1: 1,000 rows against the stand-in answering after 200 ms, at
#   openrouter.max_concurrency 100 (ideal = rows x latency / concurrency):
#   (a) UPDATE t SET r = openrouter_chat(...), row at a time
#       (openrouter.concurrent_calls = off; on BENCH_SEQUENTIAL_ROWS rows);
#   (b) the same UPDATE, concurrent (the plan node of src/concurrent.c);
#   (c) SELECT ... WHERE <a test over openrouter_chat(...)>, concurrent.
# Part 2: a streaming SELECT of 10k, 50k and 100k rows at zero latency
#   (COPY ... TO STDOUT into /dev/null, default concurrency): wall time, time
#   per row, and the backend's private memory (RssAnon, sampled every 20 ms:
#   the peak, and the peak over the last half of the run).
# Figures are printed, never asserted: they depend on the machine.
set -euo pipefail
cd "$(dirname "$0")/.."

ROWS=${BENCH_ROWS:-1000}
SEQ_ROWS=${BENCH_SEQUENTIAL_ROWS:-50}
CONCURRENCY=100
LATENCY_MS=200
source bench/common.sh

make_table() {					# name rows
	q -c "DROP TABLE IF EXISTS $1" \
	  -c "CREATE TABLE $1 (id int PRIMARY KEY, prompt text, r jsonb)" \
	  -c "INSERT INTO $1 SELECT i, 'question ' || i, NULL FROM generate_series(1, $2) AS i"
}
call="openrouter_chat(openrouter_messages(prompt), 'standin/latency=$LATENCY_MS')"

echo
echo "== Part 1: stand-in latency ${LATENCY_MS} ms, openrouter.max_concurrency = $CONCURRENCY ($(nproc) cores, $(uname -m))"
printf '%-58s %6s %9s %9s %7s\n' "statement" "rows" "wall (s)" "ideal (s)" "ratio"
line() {						# label rows concurrency seconds
	local ideal
	ideal=$(awk -v n="$2" -v l="$LATENCY_MS" -v c="$3" 'BEGIN { print n * l / 1000 / c }')
	printf '%-58s %6d %9.2f %9.2f %7s\n' "$1" "$2" "$4" "$ideal" "$(ratio "$4" "$ideal")"
}

make_table seq "$SEQ_ROWS"
t0=$(now)
q -c "SET openrouter.concurrent_calls = off" -c "UPDATE seq SET r = $call"
line "(a) UPDATE t SET r = openrouter_chat(...), row at a time" "$SEQ_ROWS" 1 "$(since "$t0")"

make_table t "$ROWS"
t0=$(now)
q -c "SET openrouter.max_concurrency = $CONCURRENCY" -c "UPDATE t SET r = $call"
line "(b) UPDATE t SET r = openrouter_chat(...), concurrent" "$ROWS" "$CONCURRENCY" "$(since "$t0")"

t0=$(now)
n=$(q -c "SET openrouter.max_concurrency = $CONCURRENCY" \
      -c "SELECT count(*) FROM t WHERE $call->'choices'->0->'message'->>'content' LIKE '%question 1%'")
line "(c) SELECT ... WHERE openrouter_chat(...) ..., concurrent" "$ROWS" "$CONCURRENCY" "$(since "$t0")"
echo "    (c) returned $n rows; answered $(q -c "SELECT count(*) FROM t WHERE r ? 'choices'") of $ROWS rows in (b)"

echo
echo "== Part 2: streaming SELECT at zero latency (COPY (SELECT id, openrouter_chat(...)) TO STDOUT)"
echo "   private memory: the backend's RssAnon, sampled every 20 ms"
printf '%8s %9s %13s %17s %22s\n' "rows" "wall (s)" "per row (ms)" "peak RssAnon (kB)" "2nd-half peak (kB)"
for n in 10000 50000 100000; do
	make_table big "$n"
	PGAPPNAME="bench-sqlconc-$n" q -c "SELECT pg_sleep(0.3)" \
	  -c "COPY (SELECT id, openrouter_chat(openrouter_messages(prompt), 'openai/gpt-4o-mini')->'id' FROM big) TO STDOUT" \
	  >/dev/null &
	client=$!
	pid=""
	while [ -z "$pid" ]; do
		pid=$(q -c "SELECT pid FROM pg_stat_activity WHERE application_name = 'bench-sqlconc-$n'")
	done
	t0=$(now)
	samples=()
	while kill -0 "$client" 2>/dev/null; do
		rss=$(awk '/RssAnon/ {print $2}' "/proc/$pid/status" 2>/dev/null || true)
		[ -n "$rss" ] && samples+=("$rss")
		sleep 0.02
	done
	wait "$client"
	t=$(awk -v a="$t0" -v b="$(now)" 'BEGIN { print b - a - 0.3 }')
	read -r peak late < <(printf '%s\n' "${samples[@]}" | awk '
		{ v[NR] = $1; if ($1 > peak) peak = $1 }
		END { for (i = int(NR / 2) + 1; i <= NR; i++) if (v[i] > late) late = v[i]; print peak + 0, late + 0 }')
	printf '%8d %9.2f %13.3f %17s %22s\n' "$n" "$t" "$(awk -v t="$t" -v n="$n" 'BEGIN { print t * 1000 / n }')" "$peak" "$late"
done
