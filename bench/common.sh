# bench/common.sh: what every benchmark script does first (sourced): install
# what is missing (unless BENCH_NO_DEPS is set), build, start the stand-in and
# a throwaway cluster (stopped on exit), and the helpers q, now and ratio.
# The caller sets OR_WORK, OR_PGPORT, OR_STANDIN_PORT and OR_STANDIN_TLS_PORT.
export OR_STANDIN_NO_LOG=1
[ -n "${BENCH_NO_DEPS:-}" ] || bash scripts/install-deps.sh
source test/lib.sh
trap or_teardown EXIT
or_build
or_setup_workdir
or_make_certificates
or_start_standin
or_start_cluster
export PGOPTIONS="-c client_min_messages=warning"

q() { psql -X -q -At -v ON_ERROR_STOP=1 "$@"; }
now() { date +%s.%N; }
ratio() { awk -v t="$1" -v i="$2" 'BEGIN { printf "%.2f", t / i }'; }
