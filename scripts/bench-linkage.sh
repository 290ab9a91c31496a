#!/usr/bin/env bash
# Record linkage measured against the department simulators' truth, through
# the real connectors: time, memory, precision and recall per noise kind.
#   scripts/bench-linkage.sh            the demo city (about 250,000 residents)
#   scripts/bench-linkage.sh city       the whole city (about 1.3 million)
#   GRIDHUB_BENCH_RESIDENTS=50000 scripts/bench-linkage.sh
set -euo pipefail
cd "$(dirname "$0")/.."
scale="${1:-demo}"
export GRIDHUB_LINKAGE_BENCH=1 GRIDHUB_BENCH_SCALE="$scale" GRIDHUB_BENCH_RESIDENTS="${GRIDHUB_BENCH_RESIDENTS:-0}"
go test -count=1 -timeout 90m -run '^TestLinkageBench$' -v ./internal/linkage/ 2>&1 | grep -v '^=== '
