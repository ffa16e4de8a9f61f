#!/usr/bin/env bash
# Runs the whole test suite: installs what is missing, builds, runs every test.
#   BUILD_DIR   build directory (default: build)
#   MESON_ARGS  extra `meson setup` arguments, e.g. -Db_sanitize=address,undefined
# Further arguments go to `meson test` (e.g. --suite race).
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/deps.sh
irqlink_deps
dir=${BUILD_DIR:-build}
# shellcheck disable=SC2086
irqlink_build "$dir" ${MESON_ARGS:-}
rc=0
meson test -C "$dir" --print-errorlogs "$@" || rc=$?
python3 - "$dir/meson-logs/testlog.json" <<'PY'
import json, sys
ok = fail = skip = 0
for line in open(sys.argv[1]):
    r = json.loads(line)["result"]
    if r in ("OK", "EXPECTEDFAIL"): ok += 1
    elif r == "SKIP": skip += 1
    else: fail += 1
print(f"irqlink: {ok} passed, {fail} failed, {skip} skipped")
PY
exit $rc
