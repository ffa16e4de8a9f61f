#!/usr/bin/env bash
# Runs the demo: installs what is missing, builds, and boots a KVM guest with
# the test PCI device (irqlink-vm demo). Arguments go to irqlink-vm demo.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/deps.sh
irqlink_deps
irqlink_build build
exec build/tools/irqlink-vm demo "$@"
