#!/usr/bin/env bash
# Installs what is missing, builds, and runs every test (unit, integration, network) against a
# private PostgreSQL. Exits non-zero on any failure.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
"$root/deploy/local/setup.sh"

source "$root/deploy/local/pg.sh"
pgdir=$(mktemp -d /tmp/orders-test-pg.XXXXXX)
cleanup() { pg_stop "$pgdir"; rm -rf "$pgdir"; }
trap cleanup EXIT
pg_start "$pgdir"
echo "private PostgreSQL at $PGHOST port $PGPORT"

export TEST_PG_CONNINFO="host=$PGHOST port=$PGPORT user=postgres"
export TEST_PG_DATA="$pgdir/data" TEST_PG_BIN="$PG_BIN"
cd "${BUILD_DIR:-$root/build}"
ctest --output-on-failure --timeout 600 -j "${TEST_JOBS:-2}" "$@"
