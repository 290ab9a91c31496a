#!/usr/bin/env bash
# install-deps.sh installs the system packages that `gridhub dev` and the
# tests need, when they are missing: PostgreSQL server binaries (initdb,
# postgres) and redis-server; the client stack Superset connects with
# (SQLAlchemy 1.4 and psycopg2 2.9 for the system python3, Debian's packages:
# the BI tests drive the bi schema through them) and matplotlib (the trend
# chart a BI test draws from it); with --browser also chromium and
# chromium-driver (for browser tests) and Node.js with npm (the GraphQL
# subscription client of the live updates' tests, scripts/live-client.sh).
#
# It is idempotent and quick when everything is present: `apt-get update`
# runs at most once, and only when something has to be installed.
#
# gridhub never uses the system clusters these packages may start: it runs
# its own throwaway servers (see internal/devenv) from the binaries alone.
set -euo pipefail

browser=0
for arg in "$@"; do
	case "$arg" in
	--browser) browser=1 ;;
	-h | --help)
		echo "usage: $0 [--browser]"
		exit 0
		;;
	*)
		echo "install-deps.sh: unknown argument: $arg" >&2
		echo "usage: $0 [--browser]" >&2
		exit 2
		;;
	esac
done

have() { command -v "$1" >/dev/null 2>&1; }

have_postgres() {
	# Debian installs the server binaries off PATH, under a versioned dir.
	if have initdb && have postgres; then
		return 0
	fi
	local f
	for f in /usr/lib/postgresql/*/bin/initdb; do
		[ -x "$f" ] && [ -x "$(dirname "$f")/postgres" ] && return 0
	done
	return 1
}

have_redis() {
	have redis-server || [ -x /usr/bin/redis-server ]
}

# The BI client stack, pinned to the release series Superset 4 requires
# (sqlalchemy>=1.4,<2; psycopg2 2.9): internal/server's TestBISQLSurface
# runs scripts/bi_client.py with /usr/bin/python3.
have_bi_client() {
	[ -x /usr/bin/python3 ] && /usr/bin/python3 -c '
import sys, sqlalchemy, psycopg2
sys.exit(0 if sqlalchemy.__version__.startswith("1.4.") and psycopg2.__version__.startswith("2.9.") else 1)' 2>/dev/null
}

missing=()
have_postgres || missing+=(postgresql)
have_bi_client || missing+=(python3 python3-sqlalchemy python3-psycopg2)
/usr/bin/python3 -c 'import matplotlib' 2>/dev/null || missing+=(python3-matplotlib)
have_redis || missing+=(redis-server)
if [ "$browser" = 1 ]; then
	have chromium || missing+=(chromium)
	have chromedriver || missing+=(chromium-driver)
	# The pages are in Chinese: without a CJK font screenshots show boxes.
	[ -d /usr/share/fonts/opentype/noto ] && ls /usr/share/fonts/opentype/noto/NotoSansCJK* >/dev/null 2>&1 \
		|| missing+=(fonts-noto-cjk)
	have node || missing+=(nodejs)
	have npm || missing+=(npm)
fi

if [ "${#missing[@]}" -eq 0 ]; then
	exit 0
fi

if ! have apt-get; then
	echo "install-deps.sh: missing ${missing[*]} and apt-get is not available; install them by hand" >&2
	exit 1
fi

sudo=()
if [ "$(id -u)" -ne 0 ]; then
	if ! have sudo; then
		echo "install-deps.sh: missing ${missing[*]}; run as root or install sudo" >&2
		exit 1
	fi
	sudo=(sudo)
fi

echo "install-deps.sh: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
"${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -qq
"${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"

# Fail here, not later in a confusing test, if a package did not provide
# what we look for.
have_postgres || { echo "install-deps.sh: postgresql installed but initdb/postgres still not found" >&2; exit 1; }
have_redis || { echo "install-deps.sh: redis-server installed but still not found" >&2; exit 1; }
have_bi_client || { echo "install-deps.sh: python3-sqlalchemy (1.4) and python3-psycopg2 (2.9) installed but not importable by /usr/bin/python3" >&2; exit 1; }
/usr/bin/python3 -c 'import matplotlib' 2>/dev/null || { echo "install-deps.sh: python3-matplotlib installed but not importable by /usr/bin/python3" >&2; exit 1; }
