#!/usr/bin/env bash
# test/recordings/prepare.sh OUTDIR: the recorded real exchanges with
# OpenRouter (../shared/openrouter/recordings, read at run time, never part of
# the project) become fixtures of the stand-in's replay=NAME directive:
# OUTDIR/NAME.json for each non-streamed chat completion, and OUTDIR/index.json
# listing them with the recorded request (see convert.js).  test/run-tests.sh
# calls it before starting the stand-in with --fixtures OUTDIR, and
# test/t/recordings.pl replays every entry of the index.
#
# Without the recordings, or without node and js-yaml (npm ci in test/spec),
# the index is empty ([]), OUTDIR/skipped.txt says why, and it exits 0.
set -uo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
recordings="$root/../shared/openrouter/recordings"
out=${1:?usage: prepare.sh OUTDIR}

mkdir -p "$out"
chmod 755 "$out"
rm -f "$out/skipped.txt"

skip() {
	echo "[]" > "$out/index.json"
	echo "$1" > "$out/skipped.txt"
	chmod 644 "$out/index.json" "$out/skipped.txt"
	echo "skipped: $1"
	exit 0
}

[ -d "$recordings" ] || skip "../shared/openrouter/recordings not found"
command -v node >/dev/null || skip "node is not installed"
[ -d "$root/test/spec/node_modules/js-yaml" ] ||
	skip "js-yaml is not installed (run npm ci in test/spec)"

if ! (umask 022 && node "$here/convert.js" "$recordings" "$out"); then
	skip "convert.js failed on ../shared/openrouter/recordings"
fi
