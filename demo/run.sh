#!/usr/bin/env bash
# demo/run.sh: sets everything up on a fresh Debian 12 machine and runs the
# demo: a chat_demo table whose response column holds each row's answer.
#
#   bash demo/run.sh                                  (as root, or with sudo)
#
# Without OPENROUTER_API_KEY the answers come from the local OpenRouter
# stand-in (test/standin); with it set, from the real OpenRouter service.
# The throwaway cluster and the stand-in are stopped when it ends; set
# OR_KEEP=1 to leave them running and keep exploring with psql (the script
# prints how to connect).
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/install-deps.sh
export OR_WORK=${OR_WORK:-/tmp/openrouter-demo} OR_PGPORT=${OR_PGPORT:-55433}
export OR_STANDIN_PORT=${OR_STANDIN_PORT:-18441} OR_STANDIN_TLS_PORT=${OR_STANDIN_TLS_PORT:-18442}
source test/lib.sh

[ "${OR_KEEP:-0}" = 1 ] || trap or_teardown EXIT
or_build
or_setup_workdir
if [ -n "${OPENROUTER_API_KEY:-}" ]; then
	or_log "OPENROUTER_API_KEY is set: using the real OpenRouter service"
	OR_BASE_URL=https://openrouter.ai/api/v1 or_start_cluster
	# the key reaches the server through its environment, never a statement
else
	or_log "OPENROUTER_API_KEY is not set: using the local OpenRouter stand-in"
	or_make_certificates
	or_start_standin
	or_start_cluster
	psql -X -q -c "CREATE EXTENSION IF NOT EXISTS openrouter" \
		-c "SELECT openrouter_configure_client('sk-or-v1-demo-key-for-the-local-stand-in')" >/dev/null
fi

PGOPTIONS="-c client_min_messages=warning" psql -X -q -f demo/chat_demo.sql

if [ "${OR_KEEP:-0}" = 1 ]; then
	echo
	echo "The cluster is still running: psql -h $PGHOST -p $PGPORT -U postgres"
	echo "Stop it with: bash -c 'source test/lib.sh && or_teardown' (same OR_* settings)"
fi
