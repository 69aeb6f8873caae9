#!/usr/bin/env bash
# bench/compare.sh: this tree against the previous release, side by side in
# one run (the same machine, the same stand-in, one after the other).
#
#   bash bench/compare.sh                  (as root; about 4 minutes)
#   BENCH_BASE=v1.0 bash bench/compare.sh  (the release to compare with: a git revision)
#
# The base release is built from git (git archive) into a relocated copy of
# the PostgreSQL installation, so that both libraries are installed at once;
# each gets a throwaway cluster, both use one stand-in.  Measured for each:
#   - per-call overhead: 2,000 sequential openrouter_chat calls at zero latency
#     (distinct requests), microseconds per call;
#   - concurrency: openrouter_add_computed_column's backfill of 1,000 rows,
#     each answer taking 200 ms, max_concurrency 100 (ratio to N x L / K);
#   - memory: the backfill of 100,000 rows at zero latency, wall time and the
#     backend's peak private memory (RssAnon, sampled every 20 ms).
# The current tree's cluster preloads the library (the usage ledger on), as
# the README recommends.  Figures are printed, never asserted.
set -euo pipefail
cd "$(dirname "$0")/.."

BASE=${BENCH_BASE:-v1.0}
ROWS_MEMORY=${BENCH_MEMORY_ROWS:-100000}
export OR_WORK=${OR_WORK:-/tmp/openrouter-compare} OR_STANDIN_NO_LOG=1
export OR_STANDIN_PORT=${OR_STANDIN_PORT:-18461} OR_STANDIN_TLS_PORT=${OR_STANDIN_TLS_PORT:-18462}
bash scripts/install-deps.sh
source test/lib.sh

base_root="$OR_WORK-base"		# relocated PostgreSQL with the base release
base_src="$OR_WORK-base-src"
base_port=$((OR_PGPORT + 10))
pg_bin=$($PG_CONFIG --bindir)
pg_share=$($PG_CONFIG --sharedir)

stop_base() {
	if [ -f "$base_root/data/postmaster.pid" ]; then
		or_as_pguser "$base_root$pg_bin/pg_ctl" -D "$base_root/data" -m fast -w stop >/dev/null 2>&1
	fi
}
trap 'stop_base; or_teardown' EXIT

or_build
or_setup_workdir
or_make_certificates
or_start_standin
or_start_cluster

echo "== building $BASE into a relocated copy of PostgreSQL in $base_root"
stop_base
rm -rf "$base_root" "$base_src"
mkdir -p "$base_root$(dirname "$pg_bin")" "$base_root$(dirname "$pg_share")" "$base_src"
cp -a "$(dirname "$pg_bin")" "$base_root$(dirname "$(dirname "$pg_bin")")/"
cp -a "$pg_share" "$base_root$(dirname "$pg_share")/"
mkdir -p "$base_root/usr/include"
ln -s /usr/include/postgresql "$base_root/usr/include/postgresql"
git archive "$BASE" | tar -x -C "$base_src"
make -C "$base_src" -s PG_CONFIG="$base_root$pg_bin/pg_config" >/dev/null
make -C "$base_src" -s PG_CONFIG="$base_root$pg_bin/pg_config" install >/dev/null
chown -R "$OR_PGUSER_OS" "$base_root"
or_as_pguser "$base_root$pg_bin/initdb" -D "$base_root/data" -U postgres --auth=trust \
	--no-instructions >/dev/null
cat >> "$base_root/data/postgresql.conf" <<EOF
listen_addresses = ''
port = $base_port
unix_socket_directories = '$OR_WORK/socket'
fsync = off
openrouter.base_url = '$STANDIN_URL'
EOF
or_as_pguser "$base_root$pg_bin/pg_ctl" -D "$base_root/data" -l "$base_root/postgres.log" -w start >/dev/null

export PGOPTIONS="-c client_min_messages=warning"
q() { psql -X -q -At -v ON_ERROR_STOP=1 "$@"; }
now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN { print b - a }'; }
messages="jsonb_build_array(jsonb_build_object('role', 'user', 'content', prompt))"

for port in "$base_port" "$OR_PGPORT"; do
	q -p "$port" -c "CREATE EXTENSION openrouter" -c "SELECT openrouter_configure_client('sk-or-v1-benchmark')" >/dev/null
done

make_table() {					# port name rows
	q -p "$1" -c "DROP TABLE IF EXISTS $2" \
	  -c "CREATE TABLE $2 (id int PRIMARY KEY, prompt text)" \
	  -c "INSERT INTO $2 SELECT i, 'question ' || i || ' ' || random() FROM generate_series(1, $3) AS i"
}

per_call() {					# port -> microseconds per call
	local t0
	t0=$(now)
	q -p "$1" -c "SELECT count(openrouter_chat(jsonb_build_array(jsonb_build_object('role', 'user',
	                'content', 'call ' || i || ' ' || random())), 'openai/gpt-4o-mini'))
	              FROM generate_series(1, 2000) AS i" >/dev/null
	awk -v t="$(since "$t0")" 'BEGIN { printf "%.0f", t * 1000000 / 2000 }'
}

concurrent_backfill() {			# port -> seconds
	local t0
	make_table "$1" cc 1000
	t0=$(now)
	q -p "$1" -c "SET openrouter.max_concurrency = 100" \
	  -c "SELECT openrouter_add_computed_column('cc', 'r', \$\$openrouter_chat($messages, 'standin/latency=200')\$\$)" >/dev/null
	since "$t0"
}

memory_backfill() {				# port -> "seconds peak_kB"
	local client pid="" peak=0 rss t0
	make_table "$1" big "$ROWS_MEMORY"
	PGAPPNAME="compare-memory" q -p "$1" -c "SELECT pg_sleep(0.3)" \
	  -c "SELECT openrouter_add_computed_column('big', 'r', \$\$openrouter_chat($messages, 'openai/gpt-4o-mini')\$\$)" \
	  >/dev/null &
	client=$!
	while [ -z "$pid" ]; do
		pid=$(q -p "$1" -c "SELECT pid FROM pg_stat_activity WHERE application_name = 'compare-memory'")
	done
	t0=$(now)
	while kill -0 "$client" 2>/dev/null; do
		rss=$(awk '/RssAnon/ {print $2}' "/proc/$pid/status" 2>/dev/null || echo 0)
		[ -n "$rss" ] && [ "$rss" -gt "$peak" ] && peak=$rss
		sleep 0.02
	done
	wait "$client"
	echo "$(awk -v t="$(since "$t0")" 'BEGIN { printf "%.2f", t - 0.3 }') $peak"
}

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", b / a }'; }

echo
echo "== $BASE (port $base_port) against this tree (port $OR_PGPORT), $(nproc) cores, $(uname -m)"
printf '%-52s %12s %12s %8s\n' "measure" "$BASE" "this tree" "ratio"
a=$(per_call "$base_port"); b=$(per_call "$OR_PGPORT")
printf '%-52s %12s %12s %8s\n' "per-call overhead, zero latency (us per call)" "$a" "$b" "$(ratio "$a" "$b")"
a=$(concurrent_backfill "$base_port"); b=$(concurrent_backfill "$OR_PGPORT")
printf '%-52s %12.2f %12.2f %8s\n' "backfill 1,000 rows, 200 ms, concurrency 100 (s)" "$a" "$b" "$(ratio "$a" "$b")"
printf '%-52s %12.2f %12.2f\n' "  ratio to the ideal N x L / K = 2 s" "$(awk -v t="$a" 'BEGIN { print t / 2 }')" "$(awk -v t="$b" 'BEGIN { print t / 2 }')"
read -r at am < <(memory_backfill "$base_port")
read -r bt bm < <(memory_backfill "$OR_PGPORT")
printf '%-52s %12.2f %12.2f %8s\n' "backfill $ROWS_MEMORY rows, zero latency (s)" "$at" "$bt" "$(ratio "$at" "$bt")"
printf '%-52s %12s %12s %8s\n' "  peak private memory of the backend (kB)" "$am" "$bm" "$(ratio "$am" "$bm")"
