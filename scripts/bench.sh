#!/usr/bin/env bash
# bench.sh runs the benchmarks whose medians BENCHMARKS.md reports, and the real
# `gridhub seed --scale city` on a durable dev cluster, and prints a summary of
# medians. Raw output goes to bench-results/<UTC time>/.
#
#   bash scripts/bench.sh            # everything (about 12 minutes on an idle 2-core machine)
#   BENCH_COUNT=3 bash scripts/bench.sh
#   BENCH_ONLY="server seed" bash scripts/bench.sh   # some parts: server store grid synth seed
#
# Environment:
#   BENCH_COUNT       rounds: each benchmark runs once per round, default 5
#   BENCH_TIME        -benchtime of the hub latency benchmarks, default 3s
#   BENCH_SEED_RUNS   runs of the real city seed, default 3
#   BENCH_ONLY        parts to run, default all
set -euo pipefail

cd "$(dirname "$0")/.."
GO=${GO:-go}
COUNT=${BENCH_COUNT:-5}
HUB_TIME=${BENCH_TIME:-3s}
SEED_RUNS=${BENCH_SEED_RUNS:-3}
ONLY=${BENCH_ONLY:-server store grid synth seed}
BENCHSTAT=golang.org/x/perf/cmd/benchstat@v0.0.0-20260908200009-22c9c6c9d4da

OUT=$PWD/bench-results/$(date -u +%Y%m%dT%H%M%SZ)
mkdir -p "$OUT"
echo "bench: raw output in $OUT"

wants() { [[ " $ONLY " == *" $1 "* ]]; }

# Other work on the machine skews every figure: note the load average around
# each part (in $OUT/load.txt), and warn when the machine is busy at the start.
noteload() { echo "$(date -u +%H:%M:%S) $1: load average $(cut -d' ' -f1-3 /proc/loadavg)" >>"$OUT/load.txt"; }
if awk -v n="$(nproc)" '{ exit !($1 > n / 2) }' /proc/loadavg; then
	echo "bench: warning: load average $(cut -d' ' -f1-3 /proc/loadavg) on $(nproc) CPUs: something else is running, figures will be skewed" >&2
fi

{
	echo "date: $(date -u +%Y-%m-%dT%H:%M:%SZ)"
	echo "commit: $(git rev-parse --short HEAD 2>/dev/null || echo unknown)$(git diff --quiet 2>/dev/null || echo ' (with local changes)')"
	echo "nproc: $(nproc)"
	echo "memory: $(free -g | awk '/^Mem:/ {print $2 " GiB"}')"
	echo "kernel: $(uname -sr)"
	echo "load before: $(cut -d' ' -f1-3 /proc/loadavg)"
	echo "go: $($GO version)"
	pgbin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1 || true)
	[[ -n "$pgbin" ]] && echo "postgres: $("$pgbin/postgres" --version)"
	lscpu | head -20
} >"$OUT/machine.txt"
sed -n '1,8p' "$OUT/machine.txt"

# Everything is compiled first, into $OUT/bin, so that every part measures
# the same code even when the tree changes during the run.
declare -A PKG=([server]=internal/server [store]=internal/store [grid]=internal/grid [synth]=internal/synth)
mkdir -p "$OUT/bin"
echo "bench: building"
for part in server store grid synth; do
	wants "$part" && $GO test -c -o "$OUT/bin/$part.test" "./${PKG[$part]}"
done
wants seed && $GO build -o "$OUT/bin/gridhub" ./cmd/gridhub

# gobench PART ARGS... runs one package's benchmarks (in the package's
# directory, as go test does) into $OUT/PART.txt: COUNT rounds of -count 1,
# so that a hub benchmark and its baseline alternate, and a change in what
# else the machine is doing hits both alike.
gobench() {
	local part=$1 round
	shift
	echo "bench: $part (${PKG[$part]} $*, $COUNT rounds)"
	: >"$OUT/$part.txt"
	for round in $(seq 1 "$COUNT"); do
		noteload "$part round $round"
		(cd "${PKG[$part]}" && "$OUT/bin/$part.test" -test.run '^$' -test.count 1 -test.timeout 60m "$@") >>"$OUT/$part.txt" 2>&1 || true
	done
	noteload "$part end"
	grep -E '^Benchmark' "$OUT/$part.txt" || true
	if grep -qE '^(FAIL|--- FAIL|panic)' "$OUT/$part.txt"; then
		echo "bench: $part failed, see $OUT/$part.txt" >&2
		exit 1
	fi
}

# Hub latency at concurrency 16, and its raw-SQL baselines, on a 50,000-resident
# city. (The federated benchmarks in the same package are scripts/bench-issues.sh's.)
wants server && gobench server -test.bench '^Benchmark(Person|PeoplePage)' -test.benchtime "$HUB_TIME"
# Seeding rate, generate + load of the whole city (~1.3 million residents) into
# the test cluster (fsync off): one op is one city. Its baseline is the same
# COPY with constraints and secondary indexes dropped and re-created.
wants store && GRIDHUB_BENCH_SCALE=city GRIDHUB_BENCH_RESIDENTS=0 gobench store -test.bench '^BenchmarkLoadCity' -test.benchtime 1x
wants grid && gobench grid -test.bench BenchmarkLocate
wants synth && GRIDHUB_BENCH_CITY=1 gobench synth -test.bench . -test.benchtime 1x

# The real command: `gridhub seed --scale city` against a durable dev data dir
# (fsync on), BENCH_SEED_RUNS times. Each run starts the dev cluster, migrates,
# generates, writes the ground truth, loads, and stops the cluster.
if wants seed; then
	tmp=$(mktemp -d /tmp/gridhub-bench-XXXXXX)
	# mktemp makes the directory 0700; when run as root the postgres user must
	# be able to traverse it, or devenv relocates the cluster (behind a
	# symlink) to /var/lib/gridhub/clusters.
	chmod 755 "$tmp"
	devpid=
	cleanup() {
		if [[ -n "$devpid" ]] && kill -0 "$devpid" 2>/dev/null; then
			kill -INT "$devpid" 2>/dev/null || true
			wait "$devpid" 2>/dev/null || true
		fi
		if [[ -L "$tmp/dev/postgres" ]]; then
			rm -rf "$(readlink -f "$tmp/dev/postgres")"
		fi
		rm -rf "$tmp"
	}
	trap cleanup EXIT
	echo "bench: seed: preparing a dev data dir in $tmp"
	"$OUT/bin/gridhub" dev --data-dir "$tmp/dev" --residents 1000 --port 0 >"$OUT/dev.log" 2>&1 &
	devpid=$!
	for _ in $(seq 1 300); do
		grep -qs '^graphql: http' "$OUT/dev.log" && break
		kill -0 "$devpid" 2>/dev/null || { echo "bench: gridhub dev exited:" >&2; cat "$OUT/dev.log" >&2; exit 1; }
		sleep 1
	done
	grep -q '^graphql: http' "$OUT/dev.log" || { echo "bench: gridhub dev not ready after 300s" >&2; exit 1; }
	kill -INT "$devpid"
	wait "$devpid" || true
	devpid=
	: >"$OUT/seed.txt"
	for i in $(seq 1 "$SEED_RUNS"); do
		echo "bench: seed: run $i of $SEED_RUNS: gridhub seed --scale city"
		noteload "seed $i start"
		/usr/bin/time -v "$OUT/bin/gridhub" seed --data-dir "$tmp/dev" --scale city >"$OUT/seed-$i.log" 2>&1
		grep 'msg=seeded' "$OUT/seed-$i.log" | tee -a "$OUT/seed.txt"
		grep -E 'Elapsed \(wall clock\)|Maximum resident set size|Percent of CPU' "$OUT/seed-$i.log" | sed 's/^[[:space:]]*/  /' | tee -a "$OUT/seed.txt"
	done
	noteload "seed end"
	du -shL "$tmp/dev" | awk '{print "  data dir after seeding: " $1}' | tee -a "$OUT/seed.txt"
fi

# ---- summary ---------------------------------------------------------------

# Medians of every metric of every benchmark: "name metric median runs".
medians() {
	awk '/^Benchmark/ {
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

# seconds converts a Go duration (1m2.5s, 850ms, 41.2s) to seconds.
seconds='function seconds(d,   s, m) {
	s = 0
	if (d ~ /ms$/) { sub(/ms$/, "", d); return d / 1000 }
	if (d ~ /h/) { m = d; sub(/h.*/, "", m); s += m * 3600; sub(/^[^h]*h/, "", d) }
	if (d ~ /m/) { m = d; sub(/m.*/, "", m); s += m * 60; sub(/^[^m]*m/, "", d) }
	sub(/s$/, "", d)
	return s + d
}'

summary() {
	echo "raw output in $OUT; load average before: $(sed -n 's/^load before: //p' "$OUT/machine.txt"), after: $(cut -d' ' -f1-3 /proc/loadavg)"
	local files=()
	for p in server store grid synth; do [[ -f "$OUT/$p.txt" ]] && files+=("$OUT/$p.txt"); done
	if ((${#files[@]})); then
		echo "== medians of $COUNT runs"
		medians "${files[@]}" >"$OUT/medians.txt"
		awk '{ printf "%-40s %12s %14.6g  (n=%d)\n", $1, $2, $3, $4 }' "$OUT/medians.txt"
		awk '
		{ v[$1 " " $2] = $3 }
		END {
			n = split("BenchmarkPerson BenchmarkPersonBaselineSQL BenchmarkPersonUnguarded BenchmarkPersonBaselineSQL BenchmarkPeoplePage100 BenchmarkPeoplePageBaselineSQL BenchmarkPeoplePage100Unguarded BenchmarkPeoplePageBaselineSQL", b, " ")
			for (i = 1; i < n; i += 2) {
				hub = b[i]; base = b[i + 1]
				if (!((hub " p50-ms") in v) || !((base " p50-ms") in v)) continue
				if (!head++) print "\n== hub / baseline (medians, same run)"
				printf "%-32s p50 %7.3f ms / %7.3f ms = %5.2fx   p99 %7.3f ms / %7.3f ms = %5.2fx   req/s %7.0f / %7.0f = %5.2fx\n", hub,
					v[hub " p50-ms"], v[base " p50-ms"], v[hub " p50-ms"] / v[base " p50-ms"],
					v[hub " p99-ms"], v[base " p99-ms"], v[hub " p99-ms"] / v[base " p99-ms"],
					v[hub " req/s"], v[base " req/s"], v[hub " req/s"] / v[base " req/s"]
			}
			hub = "BenchmarkLoadCity"; base = "BenchmarkLoadCityBaselineCOPY"
			if (((hub " load-s") in v) && ((base " load-s") in v) && !head++) print "\n== hub / baseline (medians, same run)"
			if (((hub " load-s") in v) && ((base " load-s") in v))
				printf "%-32s load %6.1f s / %6.1f s = %5.2fx   total %6.1f s / %6.1f s = %5.2fx   rows/s %7.0f / %7.0f = %5.2fx\n", hub,
					v[hub " load-s"], v[base " load-s"], v[hub " load-s"] / v[base " load-s"],
					v[hub " ns/op"] / 1e9, v[base " ns/op"] / 1e9, v[hub " ns/op"] / v[base " ns/op"],
					v[hub " rows/s"], v[base " rows/s"], v[hub " rows/s"] / v[base " rows/s"]
		}' "$OUT/medians.txt"
	fi
	if [[ -s "$OUT/seed.txt" ]]; then
		echo
		echo "== gridhub seed --scale city, durable dev cluster ($SEED_RUNS runs)"
		awk "$seconds"'
		/msg=seeded/ {
			for (i = 1; i <= NF; i++) {
				split($i, kv, "=")
				if (kv[1] == "total") tot[++nt] = seconds(kv[2])
				if (kv[1] == "generate") gen[++ng] = seconds(kv[2])
				if (kv[1] == "load") ld[++nl] = seconds(kv[2])
				if (kv[1] == "residents") res = kv[2]
				if (kv[1] == "rows_per_s") rps[++nr] = kv[2]
			}
		}
		# /usr/bin/time -v prints the wall time as h:mm:ss or m:ss.ss.
		/Elapsed \(wall clock\)/ {
			k = split($NF, p, ":")
			w[++nw] = (k == 3) ? p[1] * 3600 + p[2] * 60 + p[3] : p[1] * 60 + p[2]
		}
		function med(a, n,   i, j, t) {
			for (i = 2; i <= n; i++) { t = a[i]; for (j = i - 1; j >= 1 && a[j] > t; j--) a[j + 1] = a[j]; a[j + 1] = t }
			return (n % 2) ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
		}
		END {
			if (nt == 0) { print "no seeded line found"; exit }
			printf "residents %s\n", res
			printf "median total (log)   %7.1f s   (target 180 s: %s)\n", med(tot, nt), med(tot, nt) < 180 ? "met" : "NOT met"
			printf "median generate      %7.1f s\n", med(gen, ng)
			printf "median load          %7.1f s\n", med(ld, nl)
			for (i = 1; i <= nt; i++) tr[i] = tot[i] - gen[i] - ld[i]
			printf "median truth files   %7.1f s   (total - generate - load: writing the ground truth)\n", med(tr, nt)
			printf "median rows/s (log)  %7.0f\n", med(rps, nr)
			printf "median wall time     %7.1f s   (whole command: cluster start and stop included)\n", med(w, nw)
		}' "$OUT/seed.txt"
	fi
}

if $GO run "$BENCHSTAT" -h >/dev/null 2>&1; then
	for p in server store grid synth; do
		[[ -f "$OUT/$p.txt" ]] && $GO run "$BENCHSTAT" "$OUT/$p.txt" >"$OUT/$p.benchstat.txt" 2>&1 || true
	done
fi
summary | tee "$OUT/summary.txt"
echo "== load average around each part"
cat "$OUT/load.txt" 2>/dev/null || true
