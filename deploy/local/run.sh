#!/usr/bin/env bash
# Runs the pair on this machine: a private PostgreSQL, payment_service and order_service on
# 127.0.0.1 (ORDER_PORT, default 50051; PAYMENT_PORT, default 50052). Prints `ready` and writes
# .run/local.env, then stays in the foreground until Ctrl-C or SIGTERM and stops everything.
#
#   deploy/local/run.sh --replicas   two API processes (--role=api, on ORDER_PORT and ORDER_PORT_2,
#                                    default 50061), two relay processes (--role=relay) and one
#                                    payment service; clients balance over the API processes with
#                                    round_robin on ORDER_TARGET (written to .run/local.env).
#   deploy/local/run.sh --ha         PostgreSQL as production runs it: etcd and two Patroni nodes
#                                    (synchronous replication, deploy/local/ha.sh) behind PgBouncer
#                                    in transaction mode (deploy/local/pgbouncer-ha.ini) on
#                                    PGBOUNCER_PORT (default 6432); both services through PgBouncer
#                                    (--prepared_statements=false), the relay's LISTEN straight to
#                                    the leader (--listen_database, multi-host). Try
#                                    `deploy/local/ha.sh kill-leader $HA_DIR` (in .run/local.env).
# Metrics (Prometheus text) on ORDER_METRICS_PORT (9251) and PAYMENT_METRICS_PORT (9252); the
# second API process uses ORDER_METRICS_PORT_2 (9261); relays pick free ports (see local.env).
# BUILD_DIR (default build/) selects the build tree; SKIP_SETUP=1 skips install and build;
# RUN_DIR (default .run/) holds the logs and local.env.
set -euo pipefail
replicas=0
ha=0
for arg in "$@"; do
  case "$arg" in
    --replicas) replicas=1 ;;
    --ha) ha=1 ;;
    -h|--help) sed -n '2,20p' "$0"; exit 0 ;;
    *) echo "unknown argument: $arg (try --replicas or --ha)" >&2; exit 2 ;;
  esac
done
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
# SKIP_SETUP=1 uses the binaries already built in BUILD_DIR (no install, no build).
[ "${SKIP_SETUP:-0}" = 1 ] || "$root/deploy/local/setup.sh"
source "$root/deploy/local/pg.sh"
if [ "$ha" -eq 1 ]; then
  source "$root/deploy/local/ha.sh"
  ha_install
fi

ORDER_PORT=${ORDER_PORT:-50051}
PAYMENT_PORT=${PAYMENT_PORT:-50052}
ORDER_PORT_2=${ORDER_PORT_2:-50061}
ORDER_METRICS_PORT=${ORDER_METRICS_PORT:-9251}
ORDER_METRICS_PORT_2=${ORDER_METRICS_PORT_2:-9261}
PAYMENT_METRICS_PORT=${PAYMENT_METRICS_PORT:-9252}
build_dir=${BUILD_DIR:-$root/build}
run_dir=${RUN_DIR:-$root/.run}  # logs, port files and local.env
mkdir -p "$run_dir"
pgdir=$(mktemp -d /tmp/orders-local-pg.XXXXXX)
PGBOUNCER_PORT=${PGBOUNCER_PORT:-6432}
pids=()

cleanup() {
  trap - INT TERM EXIT
  for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  if [ "$ha" -eq 1 ]; then ha_stop "$pgdir"; else pg_stop "$pgdir"; fi
  rm -rf "$pgdir" "$run_dir/local.env"
  echo "stopped"
}
trap cleanup EXIT
trap 'cleanup; exit 0' INT TERM

# db_args: flags of every service process; order_db_args: the order service's only.
db_args=()
order_db_args=()
if [ "$ha" -eq 1 ]; then
  # The callback that re-points PgBouncer at each new leader is part of the nodes' config.
  echo "starting etcd and two Patroni nodes in $pgdir (logs there)"
  HA_BOUNCER=1 ha_start "$pgdir" 2 true
  source "$pgdir/ha.env"
  for db in orders payments; do
    pg_as_owner "$PG_BIN/psql" -q "$HA_CONNINFO dbname=postgres" -c "CREATE DATABASE $db" >/dev/null
  done
  ha_bouncer_start "$pgdir" "$PGBOUNCER_PORT"
  export PGHOST=127.0.0.1 PGPORT=$PGBOUNCER_PORT
  conn="host=127.0.0.1 port=$PGBOUNCER_PORT user=postgres"
  # Behind a transaction pooler: unnamed statements only. LISTEN is session state a pooler
  # cannot carry: the relay listens on a connection of its own, straight to the leader (libpq
  # finds it through the multi-host string after a failover).
  db_args=(--prepared_statements=false)
  order_db_args=("--listen_database=$HA_CONNINFO dbname=orders")
else
  pg_start "$pgdir"
  for db in orders payments; do
    pg_as_owner "$PG_BIN/psql" -q -h "$PGHOST" -p "$PGPORT" -U postgres -c "CREATE DATABASE $db" >/dev/null
  done
  conn="host=$PGHOST port=$PGPORT user=postgres"
fi

wait_port_file() {
  for _ in $(seq 1 300); do
    [ -s "$1" ] && return 0
    sleep 0.1
  done
  echo "timed out waiting for $1" >&2
  return 1
}

rm -f "$run_dir"/*.port
"$build_dir/payment_service/payment_service" --port="$PAYMENT_PORT" \
  --port_file="$run_dir/payment.port" --database="$conn dbname=payments" \
  --metrics_port="$PAYMENT_METRICS_PORT" "${db_args[@]}" \
  --enable_fault_admin >"$run_dir/payment.log" 2>&1 &
pids+=($!)
wait_port_file "$run_dir/payment.port"

# start_order NAME PORT METRICS_PORT ARGS...: one order_service process, logs in .run/NAME.log
start_order() {
  local name=$1 port=$2 metrics=$3
  shift 3
  "$build_dir/order_service/order_service" --port="$port" \
    --port_file="$run_dir/$name.port" --database="$conn dbname=orders" \
    --metrics_port="$metrics" --metrics_port_file="$run_dir/$name.metrics_port" \
    --payment_addr="127.0.0.1:$PAYMENT_PORT" "${db_args[@]}" "${order_db_args[@]}" "$@" \
    >"$run_dir/$name.log" 2>&1 &
  pids+=($!)
  wait_port_file "$run_dir/$name.port"
}

if [ "$replicas" -eq 1 ]; then
  # The first API process runs the migrations; the others start once it listens.
  start_order order "$ORDER_PORT" "$ORDER_METRICS_PORT" --role=api
  start_order order2 "$ORDER_PORT_2" "$ORDER_METRICS_PORT_2" --role=api
  start_order relay1 0 0 --role=relay
  start_order relay2 0 0 --role=relay
  order_target="ipv4:127.0.0.1:$ORDER_PORT,127.0.0.1:$ORDER_PORT_2"
  metrics_addrs="127.0.0.1:$ORDER_METRICS_PORT,127.0.0.1:$ORDER_METRICS_PORT_2"
  metrics_addrs+=",127.0.0.1:$(cat "$run_dir/relay1.metrics_port")"
  metrics_addrs+=",127.0.0.1:$(cat "$run_dir/relay2.metrics_port")"
else
  start_order order "$ORDER_PORT" "$ORDER_METRICS_PORT"
  order_target="127.0.0.1:$ORDER_PORT"
  metrics_addrs="127.0.0.1:$ORDER_METRICS_PORT"
fi

cat >"$run_dir/local.env" <<ENV
ORDER_ADDR=127.0.0.1:$ORDER_PORT
ORDER_TARGET=$order_target
PAYMENT_ADDR=127.0.0.1:$PAYMENT_PORT
ORDER_METRICS_ADDR=127.0.0.1:$ORDER_METRICS_PORT
ORDER_METRICS_ADDRS=$metrics_addrs
PAYMENT_METRICS_ADDR=127.0.0.1:$PAYMENT_METRICS_PORT
ORDERCTL=$build_dir/tools/orderctl
PGHOST=$PGHOST
PGPORT=$PGPORT
ENV
if [ "$ha" -eq 1 ]; then
  cat >>"$run_dir/local.env" <<ENV
HA_DIR=$pgdir
HA_CONNINFO='$HA_CONNINFO'
PGBOUNCER_PORT=$PGBOUNCER_PORT
ENV
fi

cat <<MSG
ready: order_service on $order_target, payment_service on 127.0.0.1:$PAYMENT_PORT
  metrics: curl -s 127.0.0.1:$ORDER_METRICS_PORT/metrics   (payments: 127.0.0.1:$PAYMENT_METRICS_PORT)
  environment for scripts: source .run/local.env   (logs in .run/*.log)
  try, from another shell (grpcurl needs no .proto files: the services speak reflection):
    grpcurl -plaintext 127.0.0.1:$ORDER_PORT list
    grpcurl -plaintext -H 'idempotency-key: demo-1' -d '{"customer_id":"alice","currency":"USD","payment_method":"pm_card_visa","items":[{"sku":"book","quantity":2,"unit_price_cents":1250}]}' 127.0.0.1:$ORDER_PORT orders.v1.OrderService/CreateOrder
    grpcurl -plaintext -d '{"order_id":1}' 127.0.0.1:$PAYMENT_PORT payments.v1.PaymentService/ListCharges
    $build_dir/tools/orderctl --addr=$order_target create --customer=alice --items=book:2:1250
    $build_dir/tools/orderctl --addr=$order_target list
  Ctrl-C stops everything.
MSG
if [ "$ha" -eq 1 ]; then
  cat <<MSG
  HA: Patroni leader $(ha_leader "$pgdir") (cluster in $pgdir), PgBouncer on 127.0.0.1:$PGBOUNCER_PORT
    $root/deploy/local/ha.sh leader $pgdir
    $root/deploy/local/ha.sh kill-leader $pgdir      # SIGKILL the leader node; a failover follows
    $root/deploy/local/ha.sh switchover $pgdir       # planned: the old leader stays as a replica
    $root/deploy/local/ha.sh start-node $pgdir node1 # a killed node rejoins as a replica
MSG
fi

# Stay in the foreground; if a service dies, stop the rest.
wait -n "${pids[@]}" || true
echo "a service exited; see .run/*.log" >&2
exit 1
