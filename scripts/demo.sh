#!/usr/bin/env bash
# Runs the demo: installs what is missing, builds, runs irqlink-demo.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/deps.sh
irqlink_deps
irqlink_build build
exec build/tools/irqlink-demo "$@"
