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
status=0
ctest --output-on-failure --timeout 600 -j "${TEST_JOBS:-2}" "$@" || status=$?
# The whole suite (no ctest arguments) also fuzzes every decoder for FUZZ_SECONDS each (default
# 10; 0 skips), with ASan and UBSan in build-asan/ (tests/fuzz/run.sh; README there).
if (($# == 0)) && [ "${FUZZ_SECONDS:-10}" != 0 ]; then
  "$root/tests/fuzz/run.sh" "${FUZZ_SECONDS:-10}" || status=1
fi
exit $status
