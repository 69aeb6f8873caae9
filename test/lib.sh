# test/lib.sh: shell functions shared by the test runner, the demo and the
# benchmarks: build and install the extension, start and stop a throwaway
# PostgreSQL cluster (run as a non-root user) and the local OpenRouter
# stand-in.  Source it; it changes nothing until a function is called.
#
# Settings (environment, with defaults):
#   OR_WORK        /tmp/openrouter-work   scratch directory (wiped by or_setup)
#   OR_PGPORT      55432                  port of the throwaway cluster
#   OR_STANDIN_PORT 18431                 stand-in, plain HTTP
#   OR_STANDIN_TLS_PORT 18432             stand-in, HTTPS (self-signed CA)
#   OR_PGUSER_OS   postgres               OS user that runs the cluster
#   PG_CONFIG      pg_config              the PostgreSQL installation to build for and test

OR_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
OR_WORK=${OR_WORK:-/tmp/openrouter-work}
OR_PGPORT=${OR_PGPORT:-55432}
OR_STANDIN_PORT=${OR_STANDIN_PORT:-18431}
OR_STANDIN_TLS_PORT=${OR_STANDIN_TLS_PORT:-18432}
OR_PGUSER_OS=${OR_PGUSER_OS:-postgres}
export PG_CONFIG=${PG_CONFIG:-pg_config}
OR_PGBIN=${OR_PGBIN:-$($PG_CONFIG --bindir 2>/dev/null || echo /usr/lib/postgresql/15/bin)}

export PGHOST="$OR_WORK/socket" PGPORT="$OR_PGPORT" PGUSER=postgres PGDATABASE=postgres
export STANDIN_URL="http://127.0.0.1:$OR_STANDIN_PORT/api/v1"
export STANDIN_TLS_URL="https://localhost:$OR_STANDIN_TLS_PORT/api/v1"
export STANDIN_CA="$OR_WORK/tls/ca.pem"
export STANDIN_LOG="$OR_WORK/standin.log"

or_log() { printf '== %s\n' "$*" >&2; }

# run a command as the cluster's OS user (we may be root)
or_as_pguser() {
	if [ "$(id -u)" = 0 ]; then
		runuser -u "$OR_PGUSER_OS" -- env PATH="$OR_PGBIN:$PATH" "$@"
	else
		env PATH="$OR_PGBIN:$PATH" "$@"
	fi
}

or_build() {
	or_log "building the extension and the stand-in"
	make -C "$OR_ROOT" -s >/dev/null
	make -C "$OR_ROOT/test/standin" -s >/dev/null
	if [ "$(id -u)" = 0 ]; then
		make -C "$OR_ROOT" -s install >/dev/null
	else
		sudo make -C "$OR_ROOT" -s install >/dev/null
	fi
}

or_setup_workdir() {
	or_teardown			# whatever a previous run left running in OR_WORK
	rm -rf "$OR_WORK"
	mkdir -p "$OR_WORK/socket" "$OR_WORK/tls"
	if [ "$(id -u)" = 0 ]; then
		chown -R "$OR_PGUSER_OS" "$OR_WORK"
	fi
	chmod 755 "$OR_WORK"
}

# a throwaway CA and a server certificate for 127.0.0.1 / localhost
or_make_certificates() {
	local d="$OR_WORK/tls"
	openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=openrouter-test-ca \
		-keyout "$d/ca.key" -out "$d/ca.pem" 2>/dev/null
	openssl req -newkey rsa:2048 -nodes -subj /CN=localhost \
		-keyout "$d/server.key" -out "$d/server.csr" 2>/dev/null
	printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\n' > "$d/ext.cnf"
	openssl x509 -req -in "$d/server.csr" -CA "$d/ca.pem" -CAkey "$d/ca.key" \
		-CAcreateserial -days 2 -extfile "$d/ext.cnf" -out "$d/server.pem" 2>/dev/null
	chmod 644 "$d"/*.pem "$d"/server.key	# throwaway test key: the TAP tests (postgres user) read it
}

or_wait_for_line() {			# file pattern seconds
	local i
	for ((i = 0; i < $3 * 10; i++)); do
		grep -q "$2" "$1" 2>/dev/null && return 0
		sleep 0.1
	done
	echo "timed out waiting for '$2' in $1" >&2
	cat "$1" >&2
	return 1
}

or_start_standin() {
	or_log "starting the OpenRouter stand-in on 127.0.0.1:$OR_STANDIN_PORT and :$OR_STANDIN_TLS_PORT (TLS)"
	local bin="$OR_ROOT/test/standin/openrouter-standin"
	local log="$STANDIN_LOG"
	[ -n "${OR_STANDIN_NO_LOG:-}" ] && log=/dev/null	# benchmarks: no request log
	"$bin" --port "$OR_STANDIN_PORT" --log "$log" \
		${OR_FIXTURES:+--fixtures "$OR_FIXTURES"} > "$OR_WORK/standin.out" 2>&1 &
	echo $! > "$OR_WORK/standin.pid"
	"$bin" --port "$OR_STANDIN_TLS_PORT" --tls-cert "$OR_WORK/tls/server.pem" \
		--tls-key "$OR_WORK/tls/server.key" --log "$OR_WORK/standin-tls.log" \
		> "$OR_WORK/standin-tls.out" 2>&1 &
	echo $! > "$OR_WORK/standin-tls.pid"
	or_wait_for_line "$OR_WORK/standin.out" "standin listening" 10
	or_wait_for_line "$OR_WORK/standin-tls.out" "standin listening" 10
}

or_stop_standin() {
	local f
	for f in "$OR_WORK/standin.pid" "$OR_WORK/standin-tls.pid"; do
		[ -f "$f" ] && kill "$(cat "$f")" 2>/dev/null
		rm -f "$f"
	done
	return 0
}

# initdb + start, with the library preloaded (its background workers run);
# base_url points at the stand-in unless OR_BASE_URL is set.  The response
# cache is off: the suites count what reaches the stand-in, and the tests of
# the cache (cache_durable.sql, response_cache.pl) turn it on themselves.
or_start_cluster() {
	or_log "starting a throwaway PostgreSQL cluster in $OR_WORK/data (port $OR_PGPORT)"
	or_as_pguser initdb -D "$OR_WORK/data" -U postgres --auth=trust \
		--no-instructions >"$OR_WORK/initdb.log" 2>&1 || { cat "$OR_WORK/initdb.log"; return 1; }
	cat >> "$OR_WORK/data/postgresql.conf" <<-EOF
	listen_addresses = ''
	port = $OR_PGPORT
	unix_socket_directories = '$OR_WORK/socket'
	fsync = off
	max_connections = 50
	shared_preload_libraries = 'openrouter'
	openrouter.base_url = '${OR_BASE_URL:-$STANDIN_URL}'
	openrouter.cache = off
	openrouter.models_refresh_interval = 0
	EOF
	or_as_pguser pg_ctl -D "$OR_WORK/data" -l "$OR_WORK/postgres.log" -w start >/dev/null
}

or_stop_cluster() {
	if [ -f "$OR_WORK/data/postmaster.pid" ]; then
		or_as_pguser pg_ctl -D "$OR_WORK/data" -m fast -w stop >/dev/null 2>&1
	fi
	return 0
}

# a benchmark's environment: dependencies, the build, a fresh stand-in and
# cluster, all stopped when the calling script exits
or_bench_setup() {
	bash "$OR_ROOT/scripts/install-deps.sh"
	trap or_teardown EXIT
	or_build
	or_setup_workdir
	or_make_certificates
	or_start_standin
	or_start_cluster
}

or_teardown() {
	or_stop_cluster
	or_stop_standin
}
