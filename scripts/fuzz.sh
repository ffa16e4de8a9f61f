#!/usr/bin/env bash
# Builds the libFuzzer targets (fuzz/, clang with ASan+UBSan) in build-fuzz and
# runs each for FUZZ_SECONDS seconds (default 60) from its seed corpus in
# fuzz/corpus/. A crash, leak or failed check fails the run and leaves the input
# in build-fuzz/artifacts/; replay it with build-fuzz/fuzz/fuzz_NAME FILE.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/deps.sh
irqlink_deps clang libclang-rt-14-dev
CC=clang irqlink_build build-fuzz -Dfuzz=true \
	-Db_sanitize=address,undefined -Db_lundef=false
secs=${FUZZ_SECONDS:-60}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p build-fuzz/artifacts
for t in vfio_user_server; do
	echo "== fuzz_$t, ${secs} s"
	mkdir -p "$work/$t"
	rc=0
	build-fuzz/fuzz/fuzz_$t -max_total_time="$secs" -max_len=8192 \
		-print_final_stats=1 -artifact_prefix=build-fuzz/artifacts/ \
		"$work/$t" "fuzz/corpus/$t" >"$work/$t.log" 2>&1 || rc=$?
	if [ "$rc" -ne 0 ]; then
		cat "$work/$t.log" >&2
		echo "irqlink: fuzz_$t failed (exit $rc); input in build-fuzz/artifacts/" >&2
		exit 1
	fi
	grep -E '^Done|stat::number_of_executed_units|stat::peak_rss' "$work/$t.log"
done
