#!/usr/bin/env bash
# bench/bigtable.sh: big tables, the figures of README.md, "Performance"
# ("Big tables").
#
#   bash bench/bigtable.sh                 (as root, or with sudo; about 4 minutes)
#   BENCH_BIG=1 bash bench/bigtable.sh     (adds 10,000,000 rows: about 12 more
#                                           minutes, and 12 GB of disk)
#   BENCH_SIZES="100000 300000" BENCH_PART=1 bash bench/bigtable.sh
#
# Part 1: scaling at zero latency (the stand-in answering at once).
#   CALL openrouter_backfill(tbl, col, chunk_size => 1000) over a table whose
#   computed column (the jsonb answer of openrouter_chat) is pending (added
#   with backfill => false), at BENCH_SIZES rows (default 100,000 and
#   1,000,000; with BENCH_BIG=1 also 10,000,000): wall time, time per row and
#   its ratio to the smallest size's, the backend's peak private memory
#   (RssAnon, sampled every 20 ms: over the run, and over its second half,
#   where memory that grows with the rows would peak), and the CPU time per
#   row of the backend, the stand-in and the database's worker (which moves
#   the usage ledger's records into their table).  Then, for the largest size L and each smaller
#   size s, T(L) / (L/s x T(s)): 1.00 is linear (the issue's target: <= 1.2).
# Part 2: several jobs at once.  The same pending column of BENCH_JOB_ROWS
#   rows (default 2,000), the stand-in answering after 200 ms, backfilled by
#   1, 2 and 4 sessions at once (each CALL openrouter_backfill(...,
#   chunk_size => 100) at openrouter.max_concurrency 20, so one job is bound
#   by the latency: ideal rows x 200 ms / (20 x jobs)): wall time, speed-up
#   over one job, each job's share of the rows, and the requests the
#   stand-in received against the rows (equal: no cell computed twice).
# Part 3: bloat.  BENCH_BLOAT_ROWS rows (default 100,000), autovacuum off on
#   the table, fillfactor 100 (the default) and 50, a jsonb answer (about
#   820 bytes a row) and a text answer (openrouter_text(...), about 35
#   bytes): after the backfill, and after openrouter_recompute() of every
#   row, the updates that were HOT (n_tup_hot_upd), the dead tuples per row
#   (pgstattuple), and the sizes of the table and of its index.
# Each part's figures are measured side by side in one run.  Figures are
# printed, never asserted: they depend on the machine.
set -euo pipefail
cd "$(dirname "$0")/.."

PART=${BENCH_PART:-all}			# 1, 2, 3 or all
if [ -n "${BENCH_BIG:-}" ]; then
	SIZES=${BENCH_SIZES:-100000 1000000 10000000}
else
	SIZES=${BENCH_SIZES:-100000 1000000}
fi
JOB_ROWS=${BENCH_JOB_ROWS:-2000}
JOB_CONCURRENCY=20
JOB_CHUNK=100
LATENCY_MS=200
BLOAT_ROWS=${BENCH_BLOAT_ROWS:-100000}
export OR_WORK=${OR_WORK:-/tmp/openrouter-bench-big} OR_PGPORT=${OR_PGPORT:-55436}
export OR_STANDIN_PORT=${OR_STANDIN_PORT:-18455} OR_STANDIN_TLS_PORT=${OR_STANDIN_TLS_PORT:-18456}
source bench/common.sh

make_table() {					# name rows [storage parameters]
	q -c "DROP TABLE IF EXISTS $1" \
	  -c "CREATE TABLE $1 (id bigint PRIMARY KEY, prompt text) ${3:+WITH ($3)}" \
	  -c "INSERT INTO $1 SELECT i, 'question ' || i FROM generate_series(1, $2) AS i" \
	  -c "VACUUM (ANALYZE) $1"
}
add_pending() {					# table expression
	q -c "SELECT openrouter_add_computed_column('$1', 'r', \$\$$2\$\$, backfill => false)" >/dev/null
}
chat="openrouter_chat(openrouter_messages(prompt), 'openai/gpt-4o-mini')"
per_row_us() { awk -v t="$1" -v n="$2" 'BEGIN { printf "%.1f", t * 1e6 / n }'; }
ticks_per_row_us() { awk -v t="$1" -v n="$2" -v hz="$(getconf CLK_TCK)" 'BEGIN { printf "%.1f", t * 1e6 / hz / n }'; }
standin_requests() {
	q -c "SELECT openrouter_chat('[{\"role\":\"user\",\"content\":\"stats\"}]', 'standin/stats')
	        ->'choices'->0->'message'->>'content'" | jq -r .requests
}
standin=$(cat "$OR_WORK/standin.pid")
worker=$(q -c "SELECT pid FROM pg_stat_activity WHERE backend_type = 'openrouter worker' AND datname = current_database()")
ledgered() { q -c "SELECT count(*) FROM openrouter_usage_log"; }

if [ "$PART" = all ] || [ "$PART" = 1 ]; then
echo
echo "== Part 1: CALL openrouter_backfill(..., chunk_size => 1000) at zero latency ($(nproc) cores, $(uname -m))"
echo "   a jsonb answer per row; peak private memory: the backend's largest RssAnon, sampled every 20 ms,"
echo "   over the whole run and over its second half;"
echo "   CPU per row: the backend, the stand-in, and the worker until the ledger holds every request"
printf '%11s %9s %11s %7s %10s %10s %9s %9s %9s\n' "rows" "wall (s)" "per row" "ratio" "peak (MB)" \
	"2nd half" "backend" "stand-in" "worker"
declare -A wall backend
first=""
records=$(ledgered)
for n in $SIZES; do
	make_table big "$n"
	add_pending big "$chat"
	q -c "CHECKPOINT"
	s0=$(cpu_ticks "$standin") w0=$(cpu_ticks "$worker")
	result=$(sampled "CALL openrouter_backfill('big', 'r', chunk_size => 1000)")
	read -r t peak late cpu <<< "$result"
	s1=$(cpu_ticks "$standin")
	records=$((records + n))
	for _ in $(seq 600); do [ "$(ledgered)" -ge "$records" ] && break; sleep 0.5; done
	w1=$(cpu_ticks "$worker")
	wall[$n]=$t backend[$n]=$cpu
	first=${first:-$n}
	printf '%11d %9.1f %8s us %7s %10.1f %10.1f %6s us %6s us %6s us\n' "$n" "$t" "$(per_row_us "$t" "$n")" \
		"$(ratio "$(per_row_us "$t" "$n")" "$(per_row_us "${wall[$first]}" "$first")")" \
		"$(awk -v k="$peak" 'BEGIN { print k / 1024 }')" "$(awk -v k="$late" 'BEGIN { print k / 1024 }')" \
		"$(per_row_us "$cpu" "$n")" \
		"$(ticks_per_row_us $((s1 - s0)) "$n")" "$(ticks_per_row_us $((w1 - w0)) "$n")"
	left=$(q -c "SELECT count(*) FROM big WHERE r IS NULL OR r ? 'error'")
	[ "$left" = 0 ] || echo "   ($left rows of $n left pending or failed)"
	q -c "DROP TABLE big"
done
largest=${SIZES##* }
scaled() { awk -v t="$1" -v k="$2" 'BEGIN { print t * k }'; }
for n in $SIZES; do
	[ "$n" = "$largest" ] && continue
	k=$((largest / n))
	printf '   T(%d) / (%d x T(%d)) = %s, its backend'"'"'s CPU time: %s   (linear: 1.00; the target: at most 1.2)\n' \
		"$largest" "$k" "$n" "$(ratio "${wall[$largest]}" "$(scaled "${wall[$n]}" "$k")")" \
		"$(ratio "${backend[$largest]}" "$(scaled "${backend[$n]}" "$k")")"
done
fi

if [ "$PART" = all ] || [ "$PART" = 2 ]; then
echo
echo "== Part 2: $JOB_ROWS rows backfilled by several jobs at once, latency ${LATENCY_MS} ms,"
echo "   max_concurrency $JOB_CONCURRENCY per job, chunks of $JOB_CHUNK rows"
printf '%5s %9s %10s %9s %11s %10s %s\n' "jobs" "wall (s)" "ideal (s)" "speed-up" "requests" "pending" "rows per job"
one=""
for jobs in 1 2 4; do
	make_table jobs "$JOB_ROWS"
	add_pending jobs "openrouter_chat(openrouter_messages(prompt), 'standin/latency=$LATENCY_MS')"
	before=$(standin_requests)
	clients=()
	t0=$(now)
	for i in $(seq "$jobs"); do
		q -c "SET openrouter.max_concurrency = $JOB_CONCURRENCY" -c "SET client_min_messages = notice" \
		  -c "CALL openrouter_backfill('jobs', 'r', chunk_size => $JOB_CHUNK)" >/dev/null 2> "$OR_WORK/job-$i.notices" &
		clients+=("$!")
	done
	for c in "${clients[@]}"; do wait "$c"; done
	t=$(since "$t0")
	# (the second stats request counts itself)
	requests=$(($(standin_requests) - before - 1))
	shares=$(for i in $(seq "$jobs"); do
		sed -n 's/.*openrouter_backfill: \([0-9]*\) of .*/\1/p' "$OR_WORK/job-$i.notices" | tail -n 1
	done | paste -sd /)
	one=${one:-$t}
	printf '%5d %9.2f %10.2f %9s %5d / %-5d %7s   %s\n' "$jobs" "$t" \
		"$(awk -v n="$JOB_ROWS" -v l="$LATENCY_MS" -v k="$JOB_CONCURRENCY" -v j="$jobs" 'BEGIN { print n * l / 1000 / k / j }')" \
		"$(ratio "$one" "$t")" "$requests" "$JOB_ROWS" \
		"$(q -c "SELECT count(*) FROM jobs WHERE r IS NULL OR r ? 'error'")" "$shares"
done
echo "   requests: what the stand-in received / the rows; pending: cells left NULL or failed"
q -c "DROP TABLE jobs"
fi

if [ "$PART" = all ] || [ "$PART" = 3 ]; then
echo
echo "== Part 3: bloat, $BLOAT_ROWS rows, autovacuum off on the table"
q -c "CREATE EXTENSION IF NOT EXISTS pgstattuple"
printf '%-8s %-11s %-17s %9s %6s %12s %11s %11s\n' "answer" "fillfactor" "after" "updates" "HOT" \
	"dead / row" "table (MB)" "index (MB)"
stats_after() {					# label updates_so_far -> one line
	local upd
	# (a session's counts reach the statistics when it ends, within a second)
	for _ in $(seq 50); do
		upd=$(q -c "SELECT n_tup_upd FROM pg_stat_user_tables WHERE relid = 'bloat'::regclass")
		[ "$upd" -ge "$2" ] && break
		sleep 0.2
	done
	q -F ' ' -c "SELECT n_tup_upd, n_tup_hot_upd, dead_tuple_count, pg_relation_size('bloat'),
	                    pg_indexes_size('bloat')
	             FROM pg_stat_user_tables, pgstattuple('bloat')
	             WHERE relid = 'bloat'::regclass"
}
for kind in jsonb text; do
	if [ "$kind" = jsonb ]; then expression=$chat; else expression="openrouter_text($chat)"; fi
	for ff in 100 50; do
		make_table bloat "$BLOAT_ROWS" "fillfactor = $ff, autovacuum_enabled = off"
		add_pending bloat "$expression"
		result=$(stats_after loaded 0)
		read -r _ _ _ size index <<< "$result"
		printf '%-8s %-11s %-17s %9s %6s %12s %11.1f %11.1f\n' "$kind" "$ff" "loaded" "" "" "" \
			"$(awk -v b="$size" 'BEGIN { print b / 1048576 }')" "$(awk -v b="$index" 'BEGIN { print b / 1048576 }')"
		upd0=0 hot0=0
		for step in backfill recompute; do
			if [ "$step" = backfill ]; then
				q -c "CALL openrouter_backfill('bloat', 'r', chunk_size => 1000)"
			else
				q -c "SELECT openrouter_recompute('bloat', 'r')" >/dev/null
			fi
			result=$(stats_after "$step" $((upd0 + BLOAT_ROWS)))
			read -r upd hot dead size index <<< "$result"
			printf '%-8s %-11s %-17s %9d %5.0f%% %12.2f %11.1f %11.1f\n' "" "" \
				"$([ "$step" = backfill ] && echo "openrouter_backfill" || echo "+ recompute")" \
				$((upd - upd0)) "$(awk -v h=$((hot - hot0)) -v u=$((upd - upd0)) 'BEGIN { print 100 * h / u }')" \
				"$(awk -v d="$dead" -v n="$BLOAT_ROWS" 'BEGIN { print d / n }')" \
				"$(awk -v b="$size" 'BEGIN { print b / 1048576 }')" "$(awk -v b="$index" 'BEGIN { print b / 1048576 }')"
			upd0=$upd hot0=$hot
		done
	done
done
echo "   updates and HOT: n_tup_upd and n_tup_hot_upd of the step; dead / row: pgstattuple's"
echo "   dead_tuple_count after the step (what VACUUM has to remove) over the rows"
q -c "DROP TABLE bloat"
fi
