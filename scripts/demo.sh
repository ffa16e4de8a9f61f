#!/usr/bin/env bash
# Runs the demo: installs what is missing, builds, and boots a KVM guest with
# the test PCI device (irqlink-vm demo), first in this process, then in a
# process of its own served over vfio-user (irqlink-devd). Arguments go to
# both runs of irqlink-vm demo, except --msix-vectors, which sizes the
# in-process device only (the remote one has irqlink-devd's 2048 entries).
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/deps.sh
irqlink_deps
irqlink_build build

echo "== the test device in irqlink-vm's process"
build/tools/irqlink-vm demo "$@"

remote=()
while [ $# -gt 0 ]; do
	case $1 in
	--msix-vectors) shift 2 || set -- ;;
	--msix-vectors=*) shift ;;
	*) remote+=("$1"); shift ;;
	esac
done
dir=$(mktemp -d)
build/tools/irqlink-devd -q --msix 2048 "$dir/dev.sock" &
devd=$!
trap 'kill $devd 2>/dev/null; wait $devd 2>/dev/null; rm -rf "$dir"' EXIT
for _ in $(seq 500); do
	[ -S "$dir/dev.sock" ] && break
	kill -0 $devd 2>/dev/null || { echo "irqlink-devd did not start" >&2; exit 1; }
	sleep 0.01
done
echo
echo "== the same device in its own process (irqlink-devd, over vfio-user)"
build/tools/irqlink-vm --device "vfio-user:$dir/dev.sock" demo "${remote[@]}"
