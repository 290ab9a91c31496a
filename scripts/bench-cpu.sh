#!/usr/bin/env bash
# bench-cpu.sh measures what one request of each bench-peers workload (W1-W5b,
# gridhub's side: tools/peers/hubbodies.mjs) costs in CPU: the hub process's,
# Postgres's (every backend of the dev cluster) and the department
# simulators', from /proc/<pid>/stat before and after a wrk run, divided by
# the requests served. On a machine shared with other work, CPU per request
# moves far less than requests per second, so it is the figure to compare two
# builds by.
#
#   bash scripts/bench-cpu.sh                      # bin/gridhub, built from the tree
#   bash scripts/bench-cpu.sh OLD_BIN NEW_BIN ...  # several builds, alternating
#
# Each round starts `gridhub dev` on BENCH_DATA_DIR with each binary in turn
# (the same data dir, city and department systems), waits until the start-up
# fact sync is quiet, warms up, then runs every workload under wrk and stops
# the hub. Reported per binary and workload: medians over the rounds of
# req/s, p50, p99 and CPU ms per request (hub, Postgres, simulators). Raw
# output: bench-results/cpu-<UTC time>/ (results.tsv, the dev logs); the
# table: bench-results/cpu-<UTC time>.md.
#
# Environment:
#   BENCH_ROUNDS        rounds, default 3
#   BENCH_DURATION      wrk -d per workload, default 10s
#   BENCH_WARMUP        wrk -d of an untimed run per workload first, default 2s
#   BENCH_THREADS       wrk -t, default 2
#   BENCH_CONNECTIONS   wrk -c, default 16
#   BENCH_ONLY          workloads, default "W1 W2 W3 W4 W5a W5b"
#   BENCH_DATA_DIR      gridhub dev data dir, default .gridhub-bench (made on first use: a minute or two)
#   BENCH_GRID          grid code of the page; default the first 15-digit grid with 100 residents
#   BENCH_PERSON        resident ID number for W3/W4; default the first showcase resident
#   GRIDHUB_RATE_LIMIT, GRIDHUB_SYNC_INTERVAL   as bench-peers.sh: default 1000000 and 1h
set -euo pipefail

cd "$(dirname "$0")/.."
ROOT=$PWD
GO=${GO:-go}
ROUNDS=${BENCH_ROUNDS:-3}
DURATION=${BENCH_DURATION:-10s}
WARMUP=${BENCH_WARMUP:-2s}
THREADS=${BENCH_THREADS:-2}
CONNECTIONS=${BENCH_CONNECTIONS:-16}
ONLY=${BENCH_ONLY:-W1 W2 W3 W4 W5a W5b}
DATA_DIR=${BENCH_DATA_DIR:-.gridhub-bench}

for cmd in wrk node psql; do
	command -v "$cmd" >/dev/null 2>&1 || { echo "bench-cpu: $cmd not found (scripts/install-deps.sh installs psql; apt-get install wrk; Node.js 18 or later)" >&2; exit 1; }
done

bins=("$@")
if ((${#bins[@]} == 0)); then
	echo "bench-cpu: building bin/gridhub"
	$GO build -o bin/gridhub ./cmd/gridhub
	bins=(bin/gridhub)
fi
for i in "${!bins[@]}"; do
	[[ -x ${bins[$i]} ]] || { echo "bench-cpu: ${bins[$i]} is not an executable" >&2; exit 2; }
	bins[$i]=$(readlink -f "${bins[$i]}")
done

STAMP=$(date -u +%Y%m%dT%H%M%SZ)
OUT=$ROOT/bench-results/cpu-$STAMP
SUMMARY=$ROOT/bench-results/cpu-$STAMP.md
mkdir -p "$OUT/wrk"
RESULTS=$OUT/results.tsv
printf 'round\tbinary\tworkload\trequests\trps\tp50_us\tp99_us\tbad\thub_ms\tpg_ms\tsim_ms\n' >"$RESULTS"
: >"$OUT/load.txt"
echo "bench-cpu: raw output in $OUT; load average $(cut -d' ' -f1-3 /proc/loadavg)"

# ticks PID...: the CPU time, in clock ticks, that the processes have used
# (utime + stime); a process that has gone counts 0.
ticks() {
	local pid sum=0 f
	for pid in "$@"; do
		if [[ -r /proc/$pid/stat ]] && f=$(cat "/proc/$pid/stat" 2>/dev/null); then
			f=${f##*) } # the fields after the command name
			read -r -a a <<<"$f"
			sum=$((sum + a[11] + a[12]))
		fi
	done
	echo "$sum"
}
HZ=$(getconf CLK_TCK)

# family_ticks PID: the CPU time of a process and all its children, live or
# gone: its own utime + stime, the cutime + cstime of the children it has
# reaped, and the utime + stime of those alive now (Postgres: the postmaster
# and every backend, the ones that ended during a run included).
family_ticks() {
	local f own=0
	if [[ -r /proc/$1/stat ]] && f=$(cat "/proc/$1/stat" 2>/dev/null); then
		f=${f##*) }
		read -r -a a <<<"$f"
		own=$((a[11] + a[12] + a[13] + a[14]))
	fi
	echo $((own + $(ticks $(pgrep -P "$1" | tr '\n' ' '))))
}

devpid=
stop_dev() {
	if [[ -n $devpid ]] && kill -0 "$devpid" 2>/dev/null; then
		kill -INT "$devpid" 2>/dev/null || true
		wait "$devpid" 2>/dev/null || true
	fi
	devpid=
}
trap 'stop_dev' EXIT
trap 'exit 130' INT TERM

# start_dev BIN LOG: gridhub dev with BIN on the data dir, until it is ready
# and its start-up fact sync has been quiet for 5 s.
start_dev() {
	local bin=$1 log=$2
	GRIDHUB_RATE_LIMIT=${GRIDHUB_RATE_LIMIT:-1000000} GRIDHUB_SYNC_INTERVAL=${GRIDHUB_SYNC_INTERVAL:-1h} \
		"$bin" dev --data-dir "$DATA_DIR" --port 0 >"$log" 2>&1 &
	devpid=$!
	for _ in $(seq 1 1200); do
		grep -q '^graphql: http' "$log" && break
		kill -0 "$devpid" 2>/dev/null || { echo "bench-cpu: gridhub dev exited:" >&2; tail -n 30 "$log" >&2; exit 1; }
		sleep 0.5
	done
	grep -q '^graphql: http' "$log" || { echo "bench-cpu: gridhub dev not ready after 600 s" >&2; exit 1; }
	local quiet=0 before after
	for _ in $(seq 1 300); do
		before=$(grep -c 'fact sync' "$log" || true)
		sleep 1
		after=$(grep -c 'fact sync' "$log" || true)
		if [[ $before == "$after" ]]; then quiet=$((quiet + 1)); else quiet=0; fi
		((quiet >= 5)) && break
	done
	URL=$(sed -n 's/^graphql: \(http[^ ]*\).*/\1/p' "$log" | head -n 1)
	TOKEN=$(sed -n 's/^token dev-admin: //p' "$log" | head -n 1)
	SIMS=$(sed -n 's/^department [a-z_]*: http[^ ]* (pid \([0-9]*\).*/\1/p' "$log" | tr '\n' ' ')
	PGMASTER=$(head -n 1 "$DATA_DIR/postgres/postmaster.pid")
}

# run ROUND BINARY# WORKLOAD DURATION: one wrk run, with the CPU it cost.
run() {
	local round=$1 b=$2 wl=$3 dur=$4
	local raw=$OUT/wrk/$wl.b$b.r$round.txt
	local auth="Bearer $TOKEN"
	local hub0 pg0 sim0 hub1 pg1 sim1
	hub0=$(ticks "$devpid") pg0=$(family_ticks "$PGMASTER") sim0=$(ticks $SIMS)
	wrk -t"$THREADS" -c"$CONNECTIONS" -d"$dur" --timeout 30s -s tools/peers/post.lua \
		"$URL" -- "$OUT/bodies/$wl.json" "$auth" >"$raw" 2>&1 || { echo "bench-cpu: wrk failed:" >&2; cat "$raw" >&2; exit 1; }
	hub1=$(ticks "$devpid") pg1=$(family_ticks "$PGMASTER") sim1=$(ticks $SIMS)
	((round == 0)) && return 0
	awk -v round="$round" -v b="$b" -v wl="$wl" -v hz="$HZ" -v hub=$((hub1 - hub0)) -v pg=$((pg1 - pg0)) -v sim=$((sim1 - sim0)) '
		/^wrk-result / {
			for (i = 2; i <= NF; i++) { split($i, kv, "="); v[kv[1]] = kv[2] }
			n = v["requests"] > 0 ? v["requests"] : 1
			ms = 1000 / hz / n
			printf "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%.3f\t%.3f\t%.3f\n", round, b, wl, v["requests"], v["rps"], v["p50_us"], v["p99_us"],
				v["bad"] + v["non2xx"] + v["connect"] + v["read"] + v["write"] + v["timeout"], hub * ms, pg * ms, sim * ms
		}' "$raw" | tee -a "$RESULTS" | awk -F'\t' -v bin="${bins[$b]##*/}" '{
			printf "  round %s %-4s %-16s %8.1f req/s  p50 %7.2f ms  p99 %7.2f ms  CPU ms/req: hub %.3f  postgres %.3f  simulators %.3f%s\n",
				$1, $3, bin, $5, $6 / 1000, $7 / 1000, $9, $10, $11, ($8 > 0 ? "  (" $8 " bad)" : "") }'
}

for round in $(seq 1 "$ROUNDS"); do
	for b in "${!bins[@]}"; do
		echo "$(date -u +%H:%M:%S) round $round, ${bins[$b]}: load average $(cut -d' ' -f1-3 /proc/loadavg)" | tee -a "$OUT/load.txt"
		start_dev "${bins[$b]}" "$OUT/dev.b$b.r$round.log"
		if [[ ! -d $OUT/bodies ]]; then
			db=$(cat "$DATA_DIR/database.url")
			grid=${BENCH_GRID:-$(psql "$db" -Atc "SELECT grid_code FROM persons WHERE length(grid_code) = 15 GROUP BY grid_code HAVING count(*) >= 100 ORDER BY grid_code LIMIT 1")}
			person=${BENCH_PERSON:-$(node -p 'JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"))[0].idNumber' "$DATA_DIR/departments/truth/showcase.json")}
			node tools/peers/hubbodies.mjs "$grid" "$person" "$OUT/bodies"
			echo "bench-cpu: grid $grid, resident ${person:0:6}********${person:14}"
		fi
		for wl in $ONLY; do run 0 "$b" "$wl" "$WARMUP"; done
		for wl in $ONLY; do run "$round" "$b" "$wl" "$DURATION"; done
		stop_dev
	done
done
echo "$(date -u +%H:%M:%S) end: load average $(cut -d' ' -f1-3 /proc/loadavg)" | tee -a "$OUT/load.txt"

# The table: medians over rounds, per binary and workload.
node - "$RESULTS" "${bins[@]}" >"$SUMMARY" <<'EOF'
const fs = require('fs');
const [file, ...bins] = process.argv.slice(2);
const rows = fs.readFileSync(file, 'utf8').trim().split('\n').slice(1).map((l) => l.split('\t'));
const median = (xs) => { const s = [...xs].sort((a, b) => a - b); const m = s.length >> 1; return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2; };
const wls = [...new Set(rows.map((r) => r[2]))];
console.log('| workload | binary | req/s | p50 ms | p99 ms | hub CPU ms/req | Postgres CPU ms/req | simulators CPU ms/req |');
console.log('| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |');
for (const wl of wls) {
  bins.forEach((bin, b) => {
    const rs = rows.filter((r) => r[2] === wl && r[1] === String(b));
    if (!rs.length) return;
    const col = (i, f = 1) => median(rs.map((r) => Number(r[i]) * f));
    console.log(`| ${wl} | ${bin.split('/').pop()} | ${col(4).toFixed(1)} | ${col(5, 1e-3).toFixed(2)} | ${col(6, 1e-3).toFixed(2)} | ${col(8).toFixed(3)} | ${col(9).toFixed(3)} | ${col(10).toFixed(3)} |`);
  });
}
console.log(`\nMedians of ${new Set(rows.map((r) => r[0])).size} round(s); binaries: ${bins.map((b, i) => `${i}: ${b}`).join(', ')}.`);
EOF
echo
cat "$SUMMARY"
echo "bench-cpu: table in $SUMMARY, raw output in $OUT"
