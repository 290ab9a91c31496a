#!/usr/bin/env bash
# conformance.sh runs the GraphQL over HTTP audit of the npm package graphql-http
# (auditServer) against a throwaway `gridhub dev` and fails on any warning or
# error. Node deps (pinned in tools/conformance/package-lock.json) are installed
# into tools/conformance/node_modules when missing.
#
#   bash scripts/conformance.sh        # or: make conformance
#
# Environment:
#   CONFORMANCE_RESIDENTS   residents of the generated city, default 2000
#   CONFORMANCE_KEEP_LOG    keep the dev log (its path is printed), default no
set -euo pipefail

cd "$(dirname "$0")/.."
GO=${GO:-go}
RESIDENTS=${CONFORMANCE_RESIDENTS:-2000}
TOOLS=tools/conformance

for cmd in node npm; do
	command -v "$cmd" >/dev/null || { echo "conformance: $cmd not found: install Node.js 18 or later" >&2; exit 1; }
done

# Install the audit when missing, or again when the lock file changed since.
if [[ ! -d $TOOLS/node_modules/graphql-http || ! -d $TOOLS/node_modules/graphql ||
	$TOOLS/package-lock.json -nt $TOOLS/node_modules/.package-lock.json ]]; then
	echo "conformance: installing graphql-http into $TOOLS/node_modules"
	(cd "$TOOLS" && npm ci --no-audit --no-fund)
fi

echo "conformance: building bin/gridhub"
$GO build -o bin/gridhub ./cmd/gridhub

tmp=$(mktemp -d /tmp/gridhub-conformance-XXXXXX)
# mktemp makes the directory 0700; when run as root the postgres user must be
# able to traverse it, or devenv relocates the cluster (behind a symlink) to
# /var/lib/gridhub/clusters.
chmod 755 "$tmp"
log=$tmp/dev.log
devpid=
cleanup() {
	local rc=$?
	if [[ -n "$devpid" ]] && kill -0 "$devpid" 2>/dev/null; then
		kill -INT "$devpid" 2>/dev/null || true
		wait "$devpid" 2>/dev/null || true
	fi
	if [[ -L "$tmp/dev/postgres" ]]; then
		rm -rf "$(readlink -f "$tmp/dev/postgres")"
	fi
	if [[ -n "${CONFORMANCE_KEEP_LOG:-}" ]]; then
		cp "$log" "${tmp}.log" 2>/dev/null && echo "conformance: dev log in ${tmp}.log"
	fi
	rm -rf "$tmp"
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

echo "conformance: starting gridhub dev ($RESIDENTS residents) in $tmp"
./bin/gridhub dev --data-dir "$tmp/dev" --port 0 --residents "$RESIDENTS" >"$log" 2>&1 &
devpid=$!
for _ in $(seq 1 600); do
	grep -q '^graphql: http' "$log" && break
	if ! kill -0 "$devpid" 2>/dev/null; then
		echo "conformance: gridhub dev exited before it was ready:" >&2
		tail -n 50 "$log" >&2
		exit 1
	fi
	sleep 0.5
done
if ! grep -q '^graphql: http' "$log"; then
	echo "conformance: gridhub dev not ready after 300s:" >&2
	tail -n 50 "$log" >&2
	exit 1
fi
url=$(sed -n 's/^graphql: \(http[^ ]*\).*/\1/p' "$log" | head -n 1)
token=$(sed -n 's/^token dev-admin: //p' "$log" | head -n 1)
if [[ -z "$token" ]]; then
	echo "conformance: no dev-admin token in the dev output" >&2
	exit 1
fi

echo "conformance: auditing $url"
GRIDHUB_URL=$url GRIDHUB_TOKEN=$token node "$TOOLS/audit.mjs"
