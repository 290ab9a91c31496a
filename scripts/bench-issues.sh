#!/usr/bin/env bash
# bench-issues.sh runs the benchmarks behind the figures of issues 3 to 6 that
# BENCHMARKS.md reports, and prints their medians and hub/baseline ratios.
# Raw output goes to bench-results/issues-<UTC time>/.
#
#   bash scripts/bench-issues.sh                        # everything (~25 minutes on 2 cores)
#   BENCH_ONLY="federated report" bash scripts/bench-issues.sh
#
# Parts:
#   federated  issues 3 and 4: BenchmarkFederated (internal/server), the
#              six-section person query and the 100-person page through a hub
#              over the six real department simulators, guarded and unguarded,
#              and their direct-to-source baselines, and the person query on
#              and off interleaved; BENCH_COUNT rounds, each a fresh process
#              and fixture, so hub and baseline alternate.
#   report     issue 5: BenchmarkSubmit and BenchmarkDeliveryLatency
#              (internal/report, fake departments), then the same two through
#              the real simulators' write-back (BenchmarkFederatedReport*).
#   city       issue 6, on the whole city (~1.3 million residents):
#              BenchmarkSync (internal/factsync: full and incremental sync per
#              department) and BenchmarkGridIndicators (internal/indicators:
#              every grid's indicators, cold and cached), BENCH_CITY_COUNT runs.
#
# Environment:
#   BENCH_COUNT        runs of the federated and report parts, default 5
#   BENCH_CITY_COUNT   runs of the city part, default 3
#   BENCH_TIME         -benchtime of each federated sub-benchmark, default 2s
#   BENCH_ONLY         parts to run, default "federated report city"
#   BENCH_RESULTS      an existing bench-results/issues-* directory: run
#                      nothing, print its summary again
set -euo pipefail

cd "$(dirname "$0")/.."
GO=${GO:-go}
COUNT=${BENCH_COUNT:-5}
CITY_COUNT=${BENCH_CITY_COUNT:-3}
HUB_TIME=${BENCH_TIME:-2s}
ONLY=${BENCH_ONLY:-federated report city}
BENCHSTAT=golang.org/x/perf/cmd/benchstat@latest

if [[ -n "${BENCH_RESULTS:-}" ]]; then
	OUT=$(cd "$BENCH_RESULTS" && pwd)
	ONLY=""
else
	OUT=$PWD/bench-results/issues-$(date -u +%Y%m%dT%H%M%SZ)
fi
mkdir -p "$OUT/bin"
echo "bench-issues: raw output in $OUT"

wants() { [[ " $ONLY " == *" $1 "* ]]; }
noteload() { echo "$(date -u +%H:%M:%S) $1: load average $(cut -d' ' -f1-3 /proc/loadavg)" | tee -a "$OUT/load.txt"; }

[[ -n "$ONLY" ]] && {
	echo "date: $(date -u +%Y-%m-%dT%H:%M:%SZ)"
	echo "commit: $(git rev-parse --short HEAD 2>/dev/null || echo unknown)$(git diff --quiet 2>/dev/null || echo ' (with local changes)')"
	echo "nproc: $(nproc)"
	echo "memory: $(free -g | awk '/^Mem:/ {print $2 " GiB"}')"
	echo "uptime: $(uptime)"
	echo "go: $($GO version)"
	lscpu | head -10
} >"$OUT/machine.txt"
cat "$OUT/machine.txt"

# Compile first, so every run measures the same code even if the tree changes.
declare -A PKG=([server]=internal/server [report]=internal/report [factsync]=internal/factsync [indicators]=internal/indicators)
if [[ -n "$ONLY" ]]; then
	echo "bench-issues: building"
	for p in server report factsync indicators; do
		$GO test -c -o "$OUT/bin/$p.test" "./${PKG[$p]}"
	done
fi

# run PART FILE ARGS... runs PART's test binary in its package directory,
# appending to $OUT/FILE.txt.
run() {
	local part=$1 file=$2
	shift 2
	(cd "${PKG[$part]}" && "$OUT/bin/$part.test" -test.run '^$' -test.timeout 60m "$@") 2>&1 |
		tee -a "$OUT/$file.txt" | grep -E '^(Benchmark|PASS|FAIL|---|panic|ok)|full sync|facts .*grids|city:' || true
	if grep -qE '^(FAIL|--- FAIL|panic)' "$OUT/$file.txt"; then
		echo "bench-issues: $file failed, see $OUT/$file.txt" >&2
		exit 1
	fi
}

if wants federated; then
	noteload "federated start"
	for i in $(seq 1 "$COUNT"); do
		echo "bench-issues: federated round $i of $COUNT"
		run server federated -test.bench '^BenchmarkFederated$' -test.benchtime "$HUB_TIME" -test.count 1
	done
	noteload "federated end"
fi

if wants report; then
	noteload "report start"
	run report report -test.bench '^(BenchmarkSubmit|BenchmarkDeliveryLatency)$' -test.count "$COUNT"
	run server report -test.bench '^BenchmarkFederatedReportSubmit$' -test.benchtime 3s -test.count "$COUNT"
	run server report -test.bench '^BenchmarkFederatedReportDelivery$' -test.benchtime 100x -test.count "$COUNT"
	noteload "report end"
fi

if wants city; then
	noteload "city start"
	GRIDHUB_BENCH_SCALE=city GRIDHUB_BENCH_RESIDENTS=0 \
		run factsync city -test.bench '^BenchmarkSync$' -test.benchtime 1x -test.count "$CITY_COUNT" -test.v
	noteload "city sync end"
	GRIDHUB_BENCH_SCALE=city GRIDHUB_BENCH_RESIDENTS=0 \
		run indicators city -test.bench '^BenchmarkGridIndicators$' -test.count "$CITY_COUNT" -test.v
	noteload "city end"
fi

# ---- summary ---------------------------------------------------------------

# medians FILES: "name metric median runs" for every metric of every benchmark.
medians() {
	awk '/^Benchmark/ && NF > 3 {
		name = $1; sub(/-[0-9]+$/, "", name)
		for (i = 3; i < NF; i += 2) print name, $(i+1), $i
	}' "$@" | sort -k1,1 -k2,2 -k3,3g | awk '
	function flush() {
		if (n == 0) return
		m = (n % 2) ? v[(n + 1) / 2] : (v[n / 2] + v[n / 2 + 1]) / 2
		print key, m, n
		n = 0
	}
	{ k = $1 " " $2; if (k != key) { flush(); key = k }; v[++n] = $3 }
	END { flush() }'
}

files=()
for f in federated report city; do [[ -s "$OUT/$f.txt" ]] && files+=("$OUT/$f.txt"); done
if ((${#files[@]} == 0)); then
	echo "bench-issues: no results in $OUT" >&2
	exit 1
fi
{
	echo "== medians"
	medians "${files[@]}" | tee "$OUT/medians.txt" | awk '{ printf "%-58s %14s %14.6g  (n=%d)\n", $1, $2, $3, $4 }'
	echo
	echo "== ratios of medians (same run)"
	awk '
	{ v[$1 " " $2] = $3 }
	function ratio(label, a, b, m) {
		if (!((a " " m) in v) || !((b " " m) in v)) return
		printf "%-44s %-14s %10.4g / %10.4g = %6.2fx\n", label, m, v[a " " m], v[b " " m], v[a " " m] / v[b " " m]
	}
	END {
		F = "BenchmarkFederated/"
		split("p50-ms p99-ms req/s", ms, " ")
		for (i = 1; i <= 3; i++) ratio("issue 3 person: hub / baseline", F "Person/Hub", F "Person/Baseline", ms[i])
		for (i = 1; i <= 3; i++) ratio("issue 3 page: hub / baseline", F "Page100/Hub", F "Page100/Baseline", ms[i])
		for (i = 1; i <= 3; i++) ratio("issue 3 person: unguarded hub / baseline", F "Person/HubUnguarded", F "Person/Baseline", ms[i])
		for (i = 1; i <= 3; i++) ratio("issue 3 page: unguarded hub / baseline", F "Page100/HubUnguarded", F "Page100/Baseline", ms[i])
		for (i = 1; i <= 3; i++) ratio("issue 4 person: on / off", F "Person/Hub", F "Person/HubUnguarded", ms[i])
		for (i = 1; i <= 3; i++) ratio("issue 4 page: on / off", F "Page100/Hub", F "Page100/HubUnguarded", ms[i])
		ratio("issue 5 submit: real / fake departments", "BenchmarkFederatedReportSubmit", "BenchmarkSubmit", "submissions/s")
		ratio("issue 5 delivery: real / fake departments", "BenchmarkFederatedReportDelivery", "BenchmarkDeliveryLatency", "p50-ms")
		ratio("issue 5 delivery: real / fake departments", "BenchmarkFederatedReportDelivery", "BenchmarkDeliveryLatency", "p99-ms")
		ratio("issue 6 indicators: cold / cached", "BenchmarkGridIndicators/Cold", "BenchmarkGridIndicators/Cached", "p50-ms")
	}' "$OUT/medians.txt"
	echo
	echo "== targets (medians)"
	awk '
	{ v[$1 " " $2] = $3 }
	function target(label, value, limit, unit) {
		printf "%-52s %10.4g %s (target < %g %s): %s\n", label, value, unit, limit, unit, value < limit ? "met" : "NOT met"
	}
	END {
		F = "BenchmarkFederated/"
		if ((F "Person/Hub p50-ms") in v && (F "Person/Baseline p50-ms") in v)
			target("issue 3 person p50, hub / baseline", v[F "Person/Hub p50-ms"] / v[F "Person/Baseline p50-ms"], 1.5, "x")
		if ((F "Page100/Hub p50-ms") in v && (F "Page100/Baseline p50-ms") in v)
			target("issue 3 page p50, hub / baseline", v[F "Page100/Hub p50-ms"] / v[F "Page100/Baseline p50-ms"], 1.5, "x")
		if ((F "Person/Hub p50-ms") in v && (F "Person/HubUnguarded p50-ms") in v)
			target("issue 4 person p50 added (Hub vs HubUnguarded runs)", 100 * (v[F "Person/Hub p50-ms"] / v[F "Person/HubUnguarded p50-ms"] - 1), 15, "%")
		if ((F "Person/OnOffInterleaved added-p50-%") in v)
			target("issue 4 person p50 added (interleaved on/off)", v[F "Person/OnOffInterleaved added-p50-%"], 15, "%")
		if ("BenchmarkGridIndicators/Cold p50-ms" in v)
			target("issue 6 every grid, cold p50", v["BenchmarkGridIndicators/Cold p50-ms"], 200, "ms")
		if ("BenchmarkGridIndicators/Cached p50-ms" in v)
			target("issue 6 every grid, cached p50", v["BenchmarkGridIndicators/Cached p50-ms"], 5, "ms")
	}' "$OUT/medians.txt"
	if [[ -s "$OUT/city.txt" ]]; then
		echo
		echo "== city: full sync of every department in BenchmarkGridIndicators (SyncAll, 2 at a time)"
		grep -E 'full sync of all|facts .*grids' "$OUT/city.txt" | sed 's/^[[:space:]]*issues_bench_test.go:[0-9]*: /  /'
	fi
	echo
	[[ -n "$ONLY" ]] && echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
} | tee "$OUT/summary.txt"

if $GO run "$BENCHSTAT" -h >/dev/null 2>&1; then
	for f in "${files[@]}"; do
		$GO run "$BENCHSTAT" "$f" >"${f%.txt}.benchstat.txt" 2>&1 || true
	done
	echo "bench-issues: benchstat tables in $OUT/*.benchstat.txt"
fi
echo "== load average around each part"
cat "$OUT/load.txt" 2>/dev/null || true
