#!/usr/bin/env bash
# crash.sh runs the hub's crash test at full size: 1,000 home-visit reports
# flowing into two `gridhub serve` processes on one database while the
# employment simulator is down for 2 minutes and one hub is killed with SIGKILL
# and restarted. It passes when every department holds every submission
# exactly once, counted in the department systems. CI runs the same test
# smaller (60 submissions, a 5-second outage) as part of `make test`.
#
#   bash scripts/crash.sh                       # about 5 minutes on 2 cores
#   GRIDHUB_CRASH_SUBMISSIONS=200 GRIDHUB_CRASH_OUTAGE=30s bash scripts/crash.sh
#
# The full output goes to bench-results/crash-<UTC time>/test.log; the summary
# the test logs (its "crash: ..." lines) is printed at the end and kept in
# summary.txt beside it.
set -euo pipefail

cd "$(dirname "$0")/.."
GO=${GO:-go}
SUBMISSIONS=${GRIDHUB_CRASH_SUBMISSIONS:-1000}
OUTAGE=${GRIDHUB_CRASH_OUTAGE:-2m}

OUT=$PWD/bench-results/crash-$(date -u +%Y%m%dT%H%M%SZ)
mkdir -p "$OUT"
LOG=$OUT/test.log
echo "crash: $SUBMISSIONS submissions, a $OUTAGE outage; full output in $LOG"

status=0
GRIDHUB_CRASH_SUBMISSIONS=$SUBMISSIONS GRIDHUB_CRASH_OUTAGE=$OUTAGE \
	"$GO" test ./cmd/gridhub -run '^TestCrash$' -count=1 -timeout 30m -v >"$LOG" 2>&1 || status=$?

{
	echo "date: $(date -u +%Y-%m-%dT%H:%M:%SZ)"
	echo "commit: $(git rev-parse --short HEAD 2>/dev/null || echo unknown)$(git diff --quiet 2>/dev/null || echo ' (with local changes)')"
	echo "machine: $(nproc) CPUs, load average $(cut -d' ' -f1-3 /proc/loadavg)"
	grep -E '^\s+crash_test\.go:[0-9]+: crash: ' "$LOG" | sed -E 's/^\s+crash_test\.go:[0-9]+: //' || true
} >"$OUT/summary.txt"
echo
echo "summary:"
cat "$OUT/summary.txt"
if [[ $status -ne 0 ]]; then
	echo
	echo "crash test FAILED (exit $status); the failures:"
	grep -E -- '--- FAIL|crash_test\.go:[0-9]+: ' "$LOG" | grep -v ': crash: ' | head -40 || true
fi
grep -E '^(--- |ok |FAIL)' "$LOG" || true
exit $status
