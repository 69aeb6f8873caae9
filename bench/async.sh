#!/usr/bin/env bash
# bench/async.sh: the figures of README.md, "Performance" (asynchronous
# computed columns).
#
#   bash bench/async.sh            (as root, or with sudo; about 4 minutes)
#   BENCH_ROUNDS=7 bash bench/async.sh     (steadier medians)
#
# Part A: 10,000 single-row INSERTs (pgbench, one client, one transaction
#   each) into a table without a computed column, into the same table with
#   a trigger that writes one row elsewhere (what recording each new row
#   costs at least), and into the same table with an asynchronous column
#   (its worker paused, then running), side by side, with fsync on and off:
#   the median wall time of BENCH_ROUNDS rounds (3) and the ratio to the
#   plain table.  Each run starts after a CHECKPOINT, and the order of the
#   four turns from round to round: no run pays for the dirty pages, or
#   takes the place, of another.
# Part B: the worker filling 10,000 pending cells, the stand-in answering
#   after 200 ms, openrouter.max_concurrency = 100: wall time from
#   openrouter_resume() to the last cell, and its ratio to N x L / K.
# Figures are printed, never asserted: they depend on the machine.
set -euo pipefail
cd "$(dirname "$0")/.."

ROWS=${BENCH_ROWS:-10000}
ROUNDS=${BENCH_ROUNDS:-3}
LATENCY_MS=200
K=100
export OR_WORK=${OR_WORK:-/tmp/openrouter-bench-async} OR_PGPORT=${OR_PGPORT:-55435}
export OR_STANDIN_PORT=${OR_STANDIN_PORT:-18453} OR_STANDIN_TLS_PORT=${OR_STANDIN_TLS_PORT:-18454}
source bench/common.sh

q -c "ALTER SYSTEM SET openrouter.max_concurrency = $K" -c "SELECT pg_reload_conf()" >/dev/null

make_table() {					# name
	q -c "DROP TABLE IF EXISTS $1" \
	  -c "CREATE TABLE $1 (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, prompt text)"
}
expression="openrouter_chat(openrouter_messages(prompt), 'standin/latency=$LATENCY_MS')"
inserts() {						# table -> seconds
	printf '%s\n' '\set n random(1, 1000000000)' \
		"INSERT INTO $1 (prompt) VALUES ('question ' || :n);" > "$OR_WORK/insert-$1.sql"
	local t0
	t0=$(now)
	or_as_pguser env PGHOST="$OR_WORK/socket" PGPORT="$OR_PGPORT" PGUSER=postgres \
		pgbench -n -c 1 -t "$ROWS" -f "$OR_WORK/insert-$1.sql" postgres >/dev/null
	since "$t0"
}
wait_drained() {				# table
	until [ "$(q -c "SELECT pending_rows FROM openrouter_computed_columns WHERE table_name = '$1'::regclass")" = 0 ]; do
		sleep 0.2
	done
}

median() { printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }
part_a() {						# title
	local plain=() sidewrite=() paused=() running=()
	echo
	echo "== Part A: $ROWS single-row INSERTs, one transaction each, $1 ($(nproc) cores, $(uname -m))"
	echo "   (the median of $ROUNDS rounds, the four tables one after the other in each, each after a CHECKPOINT)"
	printf '%-52s %10s %8s\n' "table" "wall (s)" "ratio"
	local tables=(plain sidewrite paused running) round=0 table
	for _ in $(seq "$ROUNDS"); do
		q -c "SELECT openrouter_pause('paused', 'r')" \
		  -c "TRUNCATE plain, sidewrite, side_rows, paused, running" -c "DELETE FROM openrouter_async_queue" >/dev/null
		# each run starts from a checkpoint (none pays for the dirty pages of
		# the one before), in an order that turns with each round
		for i in 0 1 2 3; do
			table=${tables[$(((round + i) % 4))]}
			q -c "CHECKPOINT" >/dev/null
			case $table in
			plain) plain+=("$(inserts plain)") ;;
			sidewrite) sidewrite+=("$(inserts sidewrite)") ;;
			paused) paused+=("$(inserts paused)") ;;
			running) running+=("$(inserts running)"); wait_drained running ;;
			esac
		done
		round=$((round + 1))
	done
	t_plain=$(median "${plain[@]}")
	t_sidewrite=$(median "${sidewrite[@]}")
	t_paused=$(median "${paused[@]}")
	t_running=$(median "${running[@]}")
	printf '%-52s %10.2f %8s\n' "no computed column" "$t_plain" "1.00"
	printf '%-52s %10.2f %8s\n' "no computed column, a trigger writing a row elsewhere" "$t_sidewrite" "$(ratio "$t_sidewrite" "$t_plain")"
	printf '%-52s %10.2f %8s\n' "async computed column (worker paused)" "$t_paused" "$(ratio "$t_paused" "$t_plain")"
	printf '%-52s %10.2f %8s\n' "async computed column (worker computing meanwhile)" "$t_running" "$(ratio "$t_running" "$t_plain")"
	wait_drained running
}

make_table plain
# the floor of any design that records each new row: a row trigger that
# writes one row of about the queue entry's size into another table
make_table sidewrite
q -c "CREATE TABLE side_rows (table_oid oid, column_name text, row_key text, version bigint,
                              PRIMARY KEY (table_oid, column_name, row_key))" \
  -c "CREATE FUNCTION side_write() RETURNS trigger LANGUAGE plpgsql AS
      \$\$BEGIN INSERT INTO side_rows VALUES (1, 'r', NEW.id::text, 0); RETURN NULL; END\$\$" \
  -c "CREATE TRIGGER side_write AFTER INSERT ON sidewrite FOR EACH ROW EXECUTE FUNCTION side_write()" >/dev/null
make_table paused
q -c "SELECT openrouter_add_computed_column('paused', 'r', \$\$$expression\$\$, mode => 'async')" \
  -c "SELECT openrouter_pause('paused', 'r')" >/dev/null
make_table running
q -c "SELECT openrouter_add_computed_column('running', 'r', \$\$$expression\$\$, mode => 'async')" >/dev/null
# a warm-up round each
inserts plain >/dev/null; inserts sidewrite >/dev/null; inserts paused >/dev/null; inserts running >/dev/null
wait_drained running
# PostgreSQL's defaults: every commit is flushed to disk (the test clusters turn fsync off)
q -c "ALTER SYSTEM SET fsync = on" -c "SELECT pg_reload_conf()" >/dev/null
part_a "fsync on (PostgreSQL's default)"
q -c "ALTER SYSTEM SET fsync = off" -c "SELECT pg_reload_conf()" >/dev/null
part_a "fsync off (no disk flush at commit: the trigger's own cost)"

echo
echo "== Part B: the worker fills $ROWS pending cells, latency ${LATENCY_MS} ms, max_concurrency $K"
printf '%-52s %10s %10s %8s\n' "what" "wall (s)" "ideal (s)" "ratio"
ideal=$(awk -v n="$ROWS" -v l="$LATENCY_MS" -v k="$K" 'BEGIN { print n * l / 1000 / k }')
# the paused column's cells are pending: resume it and wait for the last
t0=$(now)
q -c "SELECT openrouter_resume('paused', 'r')" >/dev/null
wait_drained paused
t=$(since "$t0")
printf '%-52s %10.2f %10.2f %8s\n' "resume -> last cell computed" "$t" "$ideal" "$(ratio "$t" "$ideal")"
q -c "SELECT count(*) || ' cells computed, ' || count(*) FILTER (WHERE r ? 'error') || ' errors' FROM paused"
