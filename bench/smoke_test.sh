#!/usr/bin/env bash
# bench_smoke (ctest): loadgen runs and counts correctly against the real services. No timing
# assertions. Needs TEST_PG_CONNINFO (a cluster, libpq conninfo without dbname), as exported by
# tests/run.sh; creates its own databases there under unique names and drops them at the end.
#   smoke_test.sh LOADGEN ORDER_SERVICE PAYMENT_SERVICE
set -euo pipefail
loadgen=$1 order_bin=$2 payment_bin=$3

if [ -z "${TEST_PG_CONNINFO:-}" ]; then
  echo "TEST_PG_CONNINFO is not set: run through tests/run.sh (skipped)"
  exit 77
fi

work=$(mktemp -d /tmp/bench-smoke.XXXXXX)
tag="bench_smoke_$$_$(date +%s%N | tail -c 7)"
order_db="${tag}_orders" payment_db="${tag}_payments"
pids=()

sql() {  # sql DB QUERY: one value
  psql "$TEST_PG_CONNINFO dbname=$1" -X -v ON_ERROR_STOP=1 -qAt -c "$2"
}

cleanup() {
  local rc=$?
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  if [ "$rc" -ne 0 ]; then
    echo "--- logs"; tail -n 20 "$work"/*.log 2>/dev/null || true
  fi
  sql postgres "DROP DATABASE IF EXISTS \"$order_db\"" >/dev/null 2>&1 || true
  sql postgres "DROP DATABASE IF EXISTS \"$payment_db\"" >/dev/null 2>&1 || true
  rm -rf "$work"
  exit "$rc"
}
trap cleanup EXIT

fail() { echo "FAIL: $*"; exit 1; }

wait_port() {  # wait_port FILE PID
  for _ in $(seq 1 300); do
    [ -s "$1" ] && { cat "$1"; return 0; }
    kill -0 "$2" 2>/dev/null || fail "process $2 exited before listening"
    sleep 0.1
  done
  fail "no port in $1 after 30 s"
}

value() {  # value NAME FILE: the name=value line of a loadgen run
  sed -n "s/^$1=//p" "$2" | tail -n 1
}

expect() {  # expect NAME WANT FILE
  local got; got=$(value "$1" "$3")
  [ "$got" = "$2" ] || fail "$1=$got, want $2 ($3)"
}

sql postgres "CREATE DATABASE \"$order_db\"" >/dev/null
sql postgres "CREATE DATABASE \"$payment_db\"" >/dev/null

"$payment_bin" --port=0 --port_file="$work/payment.port" \
  --database="$TEST_PG_CONNINFO dbname=$payment_db" >"$work/payment.log" 2>&1 &
pids+=($!)
payment_port=$(wait_port "$work/payment.port" "${pids[-1]}")
"$order_bin" --port=0 --port_file="$work/order.port" \
  --database="$TEST_PG_CONNINFO dbname=$order_db" \
  --payment_addr="127.0.0.1:$payment_port" >"$work/order.log" 2>&1 &
pids+=($!)
order_port=$(wait_port "$work/order.port" "${pids[-1]}")
orders="127.0.0.1:$order_port"
prefix="smoke-$tag"
common=(--duration=60s --table=false)

echo "1. create: 200 new keys, closed loop"
"$loadgen" --target="$orders" --scenario=create --count=200 --concurrency=8 \
  --key_prefix="$prefix" "${common[@]}" >"$work/create.out"
expect requests 200 "$work/create.out"
expect ok 200 "$work/create.out"
expect status_OK 200 "$work/create.out"
expect replayed 0 "$work/create.out"
[ "$(sql "$order_db" "SELECT count(*) FROM orders")" = 200 ] || fail "orders after create"
[ "$(sql "$order_db" "SELECT count(*) FROM outbox_events")" = 200 ] || fail "outbox after create"

echo "2. replay: the same 200 keys, no prepare phase"
"$loadgen" --target="$orders" --scenario=replay --prepare=false --keys=200 --count=200 \
  --concurrency=8 --key_prefix="$prefix" "${common[@]}" >"$work/replay.out"
expect ok 200 "$work/replay.out"
expect replayed 200 "$work/replay.out"
[ "$(sql "$order_db" "SELECT count(*) FROM orders")" = 200 ] || fail "replay wrote orders"

echo "3. create: 50 new keys, open loop at 100/s"
"$loadgen" --target="$orders" --scenario=create --rate=100 --count=50 --first_index=1000 \
  --key_prefix="$prefix" "${common[@]}" >"$work/open.out"
expect mode open "$work/open.out"
expect ok 50 "$work/open.out"
[ "$(sql "$order_db" "SELECT count(*) FROM orders")" = 250 ] || fail "orders after open loop"

echo "4. cancel: 20 prepared orders, each cancelled once"
"$loadgen" --target="$orders" --scenario=cancel --keys=20 --count=20 --concurrency=4 \
  --key_prefix="$prefix-c" "${common[@]}" >"$work/cancel.out"
expect prepared_ok 20 "$work/cancel.out"
expect ok 20 "$work/cancel.out"
[ "$(sql "$order_db" "SELECT count(*) FROM orders WHERE status = 4")" = 20 ] || fail "cancelled"

echo "5. mixed: 100 calls over 30 prepared orders"
"$loadgen" --target="$orders" --scenario=mixed --keys=30 --count=100 --concurrency=4 \
  --key_prefix="$prefix-m" "${common[@]}" >"$work/mixed.out"
expect requests 100 "$work/mixed.out"
expect ok 100 "$work/mixed.out"

echo "6. charge: 50 direct charges"
"$loadgen" --target="127.0.0.1:$payment_port" --scenario=charge --count=50 --concurrency=4 \
  --key_prefix="$prefix" "${common[@]}" >"$work/charge.out"
expect ok 50 "$work/charge.out"
[ "$(sql "$payment_db" "SELECT count(*) FROM charges WHERE charge_key LIKE '$prefix-charge-%'")" = 50 ] \
  || fail "charges"

echo "7. a non-loopback target is refused"
if "$loadgen" --target=192.0.2.1:1 --count=1 >/dev/null 2>&1; then fail "remote target accepted"; fi

echo "bench_smoke: ok"
