# bench/common.sh: what the benchmarks share (source it from bench/*.sh, in
# the repository's root): a fresh build, stand-in and cluster with the
# extension and a key, all stopped on exit; q (psql), now, ratio.
export OR_WORK=${OR_WORK:-/tmp/openrouter-bench} OR_STANDIN_NO_LOG=1 OR_PGPORT=${OR_PGPORT:-55434}
export OR_STANDIN_PORT=${OR_STANDIN_PORT:-18451} OR_STANDIN_TLS_PORT=${OR_STANDIN_TLS_PORT:-18452}
source test/lib.sh
or_bench_setup
export PGOPTIONS="-c client_min_messages=warning"

q() { psql -X -q -At -v ON_ERROR_STOP=1 "$@"; }
now() { date +%s.%N; }
ratio() { awk -v t="$1" -v i="$2" 'BEGIN { printf "%.2f", t / i }'; }

q -c "CREATE EXTENSION openrouter" -c "SELECT openrouter_configure_client('sk-or-v1-benchmark')" >/dev/null
