#!/usr/bin/env bash
# Runs irqlink-bench on a release build and makes its report.
#   scripts/bench.sh          the full run: writes docs/perf/bench.json, the
#                             plots in docs/perf/, and docs/PERFORMANCE.md
#                             (from docs/perf/PERFORMANCE.md.in)
#   scripts/bench.sh --quick  CI's run (seconds): the same steps into a
#                             temporary directory, so the bench never rots
# Further arguments go to irqlink-bench. Exit status: the bench's (1 when a
# path lost an interrupt), or the report's.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/deps.sh
irqlink_deps gnuplot-nox python3
irqlink_build build-release --buildtype=release

quick=0
if [ "${1:-}" = --quick ]; then
	quick=1
	shift
fi
if [ $quick -eq 1 ]; then
	out=$(mktemp -d)
	trap 'rm -rf "$out"' EXIT
	doc=$out/PERFORMANCE.md
	set -- --quick "$@"
else
	out=docs/perf
	doc=docs/PERFORMANCE.md
	mkdir -p "$out"
fi
cmd=(build-release/bench/irqlink-bench --json --plots "$out" "$@")
rc=0
"${cmd[@]}" >"$out/bench.json.new" || rc=$?
mv "$out/bench.json.new" "$out/bench.json"
python3 scripts/perf_report.py "$out/bench.json" docs/perf/PERFORMANCE.md.in \
	"irqlink-bench ${cmd[*]:1}" >"$doc.new"
mv "$doc.new" "$doc"
rm -f "$out"/*.dat "$out"/*.gp
if [ $quick -eq 1 ]; then
	n=$(ls "$out"/*.png | wc -l)
	[ "$n" -ge 3 ] || { echo "irqlink: bench made $n plots" >&2; exit 1; }
fi
echo "irqlink: bench exit $rc; report in $doc" >&2
exit $rc
