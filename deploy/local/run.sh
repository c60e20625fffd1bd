#!/usr/bin/env bash
# Runs the pair on this machine: a private PostgreSQL, payment_service and order_service on
# 127.0.0.1 (ORDER_PORT, default 50051; PAYMENT_PORT, default 50052). Prints `ready` and writes
# .run/local.env, then stays in the foreground until Ctrl-C or SIGTERM and stops everything.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
"$root/deploy/local/setup.sh"
source "$root/deploy/local/pg.sh"

ORDER_PORT=${ORDER_PORT:-50051}
PAYMENT_PORT=${PAYMENT_PORT:-50052}
run_dir="$root/.run"
mkdir -p "$run_dir"
pgdir=$(mktemp -d /tmp/orders-local-pg.XXXXXX)
pids=()

cleanup() {
  trap - INT TERM EXIT
  for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  pg_stop "$pgdir"
  rm -rf "$pgdir" "$run_dir/local.env"
  echo "stopped"
}
trap cleanup EXIT
trap 'cleanup; exit 0' INT TERM

pg_start "$pgdir"
for db in orders payments; do
  pg_as_owner "$PG_BIN/psql" -q -h "$PGHOST" -p "$PGPORT" -U postgres -c "CREATE DATABASE $db" >/dev/null
done
conn="host=$PGHOST port=$PGPORT user=postgres"

wait_port_file() {
  for _ in $(seq 1 300); do
    [ -s "$1" ] && return 0
    sleep 0.1
  done
  echo "timed out waiting for $1" >&2
  return 1
}

rm -f "$run_dir/payment.port" "$run_dir/order.port"
"$root/build/payment_service/payment_service" --port="$PAYMENT_PORT" \
  --port_file="$run_dir/payment.port" --database="$conn dbname=payments" \
  --enable_fault_admin >"$run_dir/payment.log" 2>&1 &
pids+=($!)
wait_port_file "$run_dir/payment.port"
"$root/build/order_service/order_service" --port="$ORDER_PORT" \
  --port_file="$run_dir/order.port" --database="$conn dbname=orders" \
  --payment_addr="127.0.0.1:$PAYMENT_PORT" >"$run_dir/order.log" 2>&1 &
pids+=($!)
wait_port_file "$run_dir/order.port"

cat >"$run_dir/local.env" <<ENV
ORDER_ADDR=127.0.0.1:$ORDER_PORT
PAYMENT_ADDR=127.0.0.1:$PAYMENT_PORT
PGHOST=$PGHOST
PGPORT=$PGPORT
ENV

cat <<MSG
ready: order_service on 127.0.0.1:$ORDER_PORT, payment_service on 127.0.0.1:$PAYMENT_PORT
  environment for scripts: source .run/local.env   (logs in .run/*.log)
  try, from another shell (grpcurl needs no .proto files: the services speak reflection):
    grpcurl -plaintext 127.0.0.1:$ORDER_PORT list
    grpcurl -plaintext -H 'idempotency-key: demo-1' -d '{"customer_id":"alice","currency":"USD","payment_method":"pm_card_visa","items":[{"sku":"book","quantity":2,"unit_price_cents":1250}]}' 127.0.0.1:$ORDER_PORT orders.v1.OrderService/CreateOrder
    grpcurl -plaintext -d '{"order_id":1}' 127.0.0.1:$PAYMENT_PORT payments.v1.PaymentService/ListCharges
  Ctrl-C stops everything.
MSG

# Stay in the foreground; if a service dies, stop the rest.
wait -n "${pids[@]}" || true
echo "a service exited; see .run/*.log" >&2
exit 1
