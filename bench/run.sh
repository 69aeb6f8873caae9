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
# Part 3: the response cache at zero latency: the per-call time with
#   openrouter.cache off (every call sent) and on (every call a miss, then
#   sent and spooled), and the time of a cache hit, one row at a time and
#   through the backfill, measured side by side (alternating, median of 5).
# Figures are printed, never asserted: they depend on the machine.
set -euo pipefail
cd "$(dirname "$0")/.."

ROWS=${BENCH_ROWS:-1000}
PART=${BENCH_PART:-all}		# 1, 2, 3 or all
CACHE_ROWS=${BENCH_CACHE_ROWS:-5000}
SEQ_ROWS=${BENCH_SEQUENTIAL_ROWS:-$ROWS}
LATENCY_MS=200
source bench/common.sh

make_table() {					# name rows
	q -c "DROP TABLE IF EXISTS $1" \
	  -c "CREATE TABLE $1 (id int PRIMARY KEY, prompt text)" \
	  -c "INSERT INTO $1 SELECT i, 'question ' || i FROM generate_series(1, $2) AS i"
}
messages="jsonb_build_array(jsonb_build_object('role', 'user', 'content', prompt))"

if [ "$PART" = all ] || [ "$PART" = 1 ]; then
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

if [ "$PART" = all ] || [ "$PART" = 2 ]; then
echo
echo "== Part 2: zero latency, add_computed_column backfill (concurrency 32)"
echo "   peak private memory: the backend's largest RssAnon, sampled every 20 ms"
echo "   (VmHWM would also count the shared buffers it touched, which grow with the table)"
printf '%10s %10s %14s %22s\n' "rows" "wall (s)" "per row (ms)" "peak private mem (kB)"
for n in 10000 50000 100000; do
	make_table big "$n"
	read -r t peak _ < <(sampled \
		"SELECT openrouter_add_computed_column('big', 'r', \$\$openrouter_chat($messages, 'openai/gpt-4o-mini')\$\$)")
	printf '%10d %10.2f %14.3f %22s\n' "$n" "$t" "$(awk -v t="$t" -v n="$n" 'BEGIN { print t * 1000 / n }')" "$peak"
done
fi

if [ "$PART" = all ] || [ "$PART" = 3 ]; then
echo
echo "== Part 3: the response cache at zero latency, $CACHE_ROWS rows (median of 5 runs, alternating)"
# one timed statement: $1 cache mode, $2 prompt prefix, $3 method (update|backfill);
# prints its wall time and the CPU time of its backend and of the database's worker
# (which moves the ledger's and the cache's records into their tables), per call in us
ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }
cache_run() {
	local t0 t w0 w1 sql
	make_table cache_t "$CACHE_ROWS" >/dev/null
	q -c "UPDATE cache_t SET prompt = '$2 ' || prompt" >/dev/null
	if [ "$3" = update ]; then
		sql="ALTER TABLE cache_t ADD COLUMN r jsonb; UPDATE cache_t SET r = openrouter_chat($messages, 'openai/gpt-4o-mini');"
	else
		sql="SELECT openrouter_add_computed_column('cache_t', 'r', \$\$openrouter_chat($messages, 'openai/gpt-4o-mini')\$\$);"
	fi
	w0=$(ticks "$worker")
	t0=$(now)
	q >/dev/null <<-EOF
	SELECT pg_backend_pid() AS pid \\gset
	\\setenv BENCH_PID :pid
	\\! awk '{ print \$14 + \$15 }' /proc/\$BENCH_PID/stat > "$OR_WORK/bench-cpu0"
	SET openrouter.cache = $1;
	$sql
	\\! awk '{ print \$14 + \$15 }' /proc/\$BENCH_PID/stat > "$OR_WORK/bench-cpu1"
	EOF
	t=$(awk -v a="$t0" -v b="$(now)" 'BEGIN { print b - a }')
	# (until the worker has moved every record of the run into its table)
	ledgered=$((ledgered + CACHE_ROWS))
	until [ "$(q -c "SELECT count(*) >= $ledgered FROM openrouter_usage_log")" = t ]; do sleep 0.1; done
	w1=$(ticks "$worker")
	awk -v t="$t" -v n="$CACHE_ROWS" -v b0="$(cat "$OR_WORK/bench-cpu0")" -v b1="$(cat "$OR_WORK/bench-cpu1")" \
		-v w0="$w0" -v w1="$w1" -v hz="$(getconf CLK_TCK)" \
		'BEGIN { printf "%.1f %.1f %.1f", t * 1e6 / n, (b1 - b0) * 1e6 / hz / n, (w1 - w0) * 1e6 / hz / n }'
}
worker=$(q -c "SELECT pid FROM pg_stat_activity WHERE backend_type = 'openrouter worker' AND datname = current_database()")
ledgered=$(q -c "SELECT count(*) FROM openrouter_usage_log")
median() { printf '%s\n' "$@" | sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }
label=(wall backend worker)
col() { local i=$1; shift; for x in "$@"; do echo "$x" | awk -v i="$i" '{ print $i }'; done; }
printf '%-31s %-9s %9s %9s %9s %9s %9s\n' "method" "per call" "off" "on, miss" "on, hit" "miss/off" "hit/off"
for method in update backfill; do
	off=() miss=() hit=()
	for r in 1 2 3 4 5; do
		tag="bench-$method-$r-$$"
		off+=("$(cache_run off "$tag-off" "$method")")
		miss+=("$(cache_run on "$tag" "$method")")
		hit+=("$(cache_run on "$tag" "$method")")
	done
	name=$([ $method = update ] && echo "one row at a time (UPDATE)" || echo "backfill (add_computed_column)")
	for i in 1 2 3; do
		o=$(median $(col $i "${off[@]}")) m=$(median $(col $i "${miss[@]}")) h=$(median $(col $i "${hit[@]}"))
		printf '%-31s %-9s %9s %9s %9s %9s %9s\n' "$name" "${label[$((i - 1))]}" \
			"$o" "$m" "$h" "$(ratio "$m" "$o")" "$(ratio "$h" "$o")"
		name=""
	done
done
echo "   per call, in microseconds: wall time, and CPU time of the backend and of the database's worker;"
echo "   a hit is answered from the cache (moved into the table by then) and recorded in the ledger"
fi
