#!/usr/bin/env bash
# bench-compare.sh runs the same benchmarks of an earlier commit and of the
# working tree side by side: one test binary each, run alternately (old,
# new, old, new, ...) so that both see the same machine, then benchstat of
# the two. It is how BENCHMARKS.md's before/after figures are made.
#
#   bash scripts/bench-compare.sh REF PACKAGE BENCH [ROUNDS] [BENCHTIME]
#   bash scripts/bench-compare.sh 691683b ./internal/server 'BenchmarkFederated/(Person|Page100)/Hub$' 5 2s
#
# The old commit is checked out in a temporary git worktree (removed at the
# end). Raw output goes to bench-results/compare-<UTC time>/{old,new}.txt.
set -euo pipefail

cd "$(dirname "$0")/.."
if [[ $# -lt 3 ]]; then
	sed -n '2,12p' "$0"
	exit 2
fi
REF=$1 PKG=$2 BENCH=$3 ROUNDS=${4:-5} TIME=${5:-2s}
GO=${GO:-go}
OUT=$PWD/bench-results/compare-$(date -u +%Y%m%dT%H%M%SZ)
mkdir -p "$OUT"
WT=$(mktemp -d)
trap 'git worktree remove --force "$WT" >/dev/null 2>&1 || rm -rf "$WT"' EXIT

git worktree add --detach "$WT" "$REF" >/dev/null
echo "old: $(git -C "$WT" log -1 --format='%h %s' | cut -c1-100)"
echo "new: $(git log -1 --format='%h %s' | cut -c1-100)$(git diff --quiet || echo ' (with local changes)')"
(cd "$WT" && $GO test -c -o "$OUT/old.test" "$PKG")
$GO test -c -o "$OUT/new.test" "$PKG"

# Each binary runs in its package directory, as go test would.
pkgdir() { (cd "$1" && $GO list -f '{{.Dir}}' "$PKG"); }
OLD_DIR=$(pkgdir "$WT") NEW_DIR=$(pkgdir .)
for i in $(seq 1 "$ROUNDS"); do
	echo "round $i/$ROUNDS: load average $(cut -d' ' -f1-3 /proc/loadavg)" | tee -a "$OUT/load.txt"
	(cd "$OLD_DIR" && "$OUT/old.test" -test.run '^$' -test.bench "$BENCH" -test.benchtime "$TIME" -test.count 1) | tee -a "$OUT/old.txt" | grep '^Benchmark' || true
	(cd "$NEW_DIR" && "$OUT/new.test" -test.run '^$' -test.bench "$BENCH" -test.benchtime "$TIME" -test.count 1) | tee -a "$OUT/new.txt" | grep '^Benchmark' || true
done
$GO run golang.org/x/perf/cmd/benchstat@latest "$OUT/old.txt" "$OUT/new.txt" | tee "$OUT/benchstat.txt"
echo "raw output in $OUT"
