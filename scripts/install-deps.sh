#!/usr/bin/env bash
# scripts/install-deps.sh: installs what building, testing and the demo need
# on Debian 12: PostgreSQL 15 and its server headers, libcurl, json-c,
# libmicrohttpd, Perl's IPC::Run (TAP tests), openssl, jq, curl, node/npm,
# Debian's packaging tools (debhelper, pg_buildext, lintian: test/package.sh),
# and the npm packages of test/spec (Stoplight Prism, pinned).
# Idempotent: packages already installed are not fetched again.
set -euo pipefail
cd "$(dirname "$0")/.."

packages=(
	build-essential pkg-config
	postgresql-15 postgresql-server-dev-15 postgresql-15-cron
	libcurl4-openssl-dev libjson-c-dev libmicrohttpd-dev
	libipc-run-perl openssl jq curl ca-certificates nghttp2-proxy python3
	nodejs npm
	debhelper postgresql-server-dev-all lintian fakeroot
)

sudo_if_needed() {
	if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi
}

missing=()
for p in "${packages[@]}"; do
	# node and npm may come from outside Debian's packages: accept the commands
	case "$p" in
		nodejs) command -v node >/dev/null && continue ;;
		npm) command -v npm >/dev/null && continue ;;
	esac
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done

if [ ${#missing[@]} -gt 0 ]; then
	echo "== installing: ${missing[*]}" >&2
	sudo_if_needed apt-get update -qq
	sudo_if_needed env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
		--no-install-recommends "${missing[@]}" >/dev/null
fi

# Debian starts a cluster on port 5432 when postgresql-15 is installed; the
# tests use their own throwaway clusters and do not need it.

if [ -f test/spec/package-lock.json ] && [ ! -d test/spec/node_modules ]; then
	echo "== installing npm packages of test/spec (npm ci)" >&2
	(cd test/spec && npm ci --no-audit --no-fund --loglevel=error >/dev/null)
fi
