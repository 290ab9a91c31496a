#!/usr/bin/env bash
# Findings measured against the department simulators' truth, through the
# real connectors, record linkage and the fact sync: found, missed and false
# per kind, and the time of a refresh of every kind.
#   scripts/bench-findings.sh            the demo city (about 250,000 residents)
#   scripts/bench-findings.sh city       the whole city (about 1.3 million)
#   GRIDHUB_BENCH_RESIDENTS=50000 scripts/bench-findings.sh
set -euo pipefail
cd "$(dirname "$0")/.."
scale="${1:-demo}"
export GRIDHUB_FINDINGS_BENCH=1 GRIDHUB_BENCH_SCALE="$scale" GRIDHUB_BENCH_RESIDENTS="${GRIDHUB_BENCH_RESIDENTS:-0}"
go test -count=1 -timeout 90m -run '^TestFindingsBench$' -v ./internal/findings/ 2>&1 | grep -v '^=== '
