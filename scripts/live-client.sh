#!/usr/bin/env bash
# live-client.sh runs tools/live/subscribe.mjs, a GraphQL subscription client
# (graphql-ws over a WebSocket, graphql-sse over SSE), installing its Node
# dependencies (pinned in tools/live/package-lock.json) into
# tools/live/node_modules when missing. The tests of the hub's live updates
# run it; its arguments are subscribe.mjs's.
#
#   bash scripts/live-client.sh --transport ws --url http://127.0.0.1:8080/graphql --token T --query '...'
set -euo pipefail

cd "$(dirname "$0")/../tools/live"
for cmd in node npm; do
	command -v "$cmd" >/dev/null || { echo "live-client: $cmd not found: install Node.js 18 or later (scripts/install-deps.sh)" >&2; exit 1; }
done
if [[ ! -d node_modules/graphql-ws || ! -d node_modules/graphql-sse || ! -d node_modules/ws ||
	package-lock.json -nt node_modules/.package-lock.json ]]; then
	echo "live-client: installing graphql-ws and graphql-sse into tools/live/node_modules" >&2
	npm ci --no-audit --no-fund >&2
fi
exec node subscribe.mjs "$@"
