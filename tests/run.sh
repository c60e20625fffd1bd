#!/usr/bin/env bash
# Installs what is missing, builds, and runs every test (unit, integration, network) against a
# private PostgreSQL. Exits non-zero on any failure.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
"$root/deploy/local/setup.sh"
# Patroni and etcd for the HA scenarios (tests/network, HaScenarios.*).
"$root/deploy/local/ha.sh" install

source "$root/deploy/local/pg.sh"
source "$root/deploy/local/pgbouncer.sh"
pgdir=$(mktemp -d /tmp/orders-test-pg.XXXXXX)
cleanup() { pgbouncer_stop "$pgdir/pgbouncer"; pg_stop "$pgdir"; rm -rf "$pgdir"; }
trap cleanup EXIT
pg_start "$pgdir"
echo "private PostgreSQL at $PGHOST port $PGPORT"
# PgBouncer in transaction mode, 3 server connections per database (tests/integration/pg_pgbouncer_test.cc).
pgbouncer_start "$pgdir/pgbouncer" 127.0.0.1 "$PGPORT" 3
echo "PgBouncer (transaction mode) at 127.0.0.1 port $PGBOUNCER_PORT"

export TEST_PG_CONNINFO="host=$PGHOST port=$PGPORT user=postgres"
export TEST_PGBOUNCER_CONNINFO="host=127.0.0.1 port=$PGBOUNCER_PORT user=postgres"
export TEST_PG_DATA="$pgdir/data" TEST_PG_BIN="$PG_BIN"
status=0
# The whole suite (no ctest arguments) first checks the formatting of every C++ file.
if (($# == 0)); then "$root/tests/format_check.sh" || status=1; fi
cd "${BUILD_DIR:-$root/build}"
ctest --output-on-failure --timeout 600 -j "${TEST_JOBS:-2}" "$@" || status=$?
# The whole suite (no ctest arguments) also fuzzes every decoder for FUZZ_SECONDS each (default
# 10; 0 skips), with ASan and UBSan in build-asan/ (tests/fuzz/run.sh; README there).
if (($# == 0)) && [ "${FUZZ_SECONDS:-10}" != 0 ]; then
  "$root/tests/fuzz/run.sh" "${FUZZ_SECONDS:-10}" || status=1
fi
exit $status
