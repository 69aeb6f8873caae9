# bench/common.sh: what the benchmarks share (source it from bench/*.sh, in
# the repository's root): a fresh build, stand-in and cluster with the
# extension and a key, all stopped on exit; q (psql), now, since, ratio,
# cpu_ticks and sampled (one statement's time, memory and CPU).
export OR_WORK=${OR_WORK:-/tmp/openrouter-bench} OR_STANDIN_NO_LOG=1 OR_PGPORT=${OR_PGPORT:-55434}
export OR_STANDIN_PORT=${OR_STANDIN_PORT:-18451} OR_STANDIN_TLS_PORT=${OR_STANDIN_TLS_PORT:-18452}
source test/lib.sh
or_bench_setup
export PGOPTIONS="-c client_min_messages=warning"

q() { psql -X -q -At -v ON_ERROR_STOP=1 "$@"; }
now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN { print b - a }'; }
ratio() { awk -v t="$1" -v i="$2" 'BEGIN { printf "%.2f", t / i }'; }
cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }	# pid -> user + system, in ticks

# sampled STATEMENT: runs one statement in a session of its own and samples
# its backend every 20 ms (read by the shell itself: no awk per sample).
# Prints "seconds peak_kB late_peak_kB cpu_seconds": the statement's wall time
# (measured by the server, nothing else), the backend's largest RssAnon
# (private memory; VmHWM would also count the shared buffers it touched,
# which grow with the table), the largest over the second half of the run
# (memory that grows with the run peaks there), and its CPU time (user +
# system, at the last sample).
sampled() {
	local app="bench-sampled-$$-$RANDOM" out="$OR_WORK/sampled.out" client pid="" key value rest
	local ticks=0 stat rss=()
	PGAPPNAME=$app q -c "SELECT pg_catalog.pg_sleep(0.2)" \
	  -c "SELECT extract(epoch FROM clock_timestamp())" -c "$1" \
	  -c "SELECT extract(epoch FROM clock_timestamp())" > "$out" &
	client=$!
	while [ -z "$pid" ] && kill -0 "$client" 2>/dev/null; do
		pid=$(q -c "SELECT pid FROM pg_stat_activity WHERE application_name = '$app'")
	done
	while kill -0 "$client" 2>/dev/null; do
		while read -r key value rest; do
			if [ "$key" = RssAnon: ]; then rss+=("$value"); fi
		done 2>/dev/null < "/proc/$pid/status" || true
		if read -r -a stat 2>/dev/null < "/proc/$pid/stat"; then ticks=$((stat[13] + stat[14])); fi
		sleep 0.02
	done
	wait "$client" || return
	printf '%s\n' "${rss[@]}" > "$OR_WORK/sampled.rss"
	awk -v ticks="$ticks" -v hz="$(getconf CLK_TCK)" '
		FNR == 1 { file++ }
		file == 1 && NF { if (n++ == 0) first = $1; last = $1 }
		file == 2 { v[++m] = $1; if ($1 > peak) peak = $1 }
		END {
			for (i = int(m / 2) + 1; i <= m; i++) if (v[i] > late) late = v[i]
			printf "%.3f %d %d %.2f\n", last - first, peak, late, ticks / hz
		}' "$out" "$OR_WORK/sampled.rss"
}

q -c "CREATE EXTENSION openrouter" -c "SELECT openrouter_configure_client('sk-or-v1-benchmark')" >/dev/null
