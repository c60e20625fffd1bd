#!/usr/bin/env bash
# The benchmark: figures as ratios, measured side by side in one run on
# one private PostgreSQL cluster (fsync on, the same cluster and settings for both sides).
#
#   bench/run.sh [--quick] [--no-build] [--overload]
#
#   --quick     smaller counts and durations: under 2 minutes (the full run: under 10)
#   --no-build  skip deploy/local/setup.sh; the binaries must already be in $BUILD_DIR
#   --overload  only phase 8 (about 90 s)
#
# Environment: BUILD_DIR (default build/), BENCH_CLIENTS (32), BENCH_SECONDS, BENCH_BACKLOG,
# BENCH_KEEP=1 keeps the work directory (logs, pgbench output).
#
# Phases:
#   1. pgbench, bench/sql/create_order.sql: CreateOrder's SQL as one plain transaction (the bar),
#      CLIENTS clients; references: CreateOrder's own statement (printed by print_sql)
#      and create_order_batch8.sql (8 orders per transaction, the ceiling of group commit).
#   2. create: loadgen creates orders with new keys, CLIENTS in flight, on order_service
#      --role=api (the same work as pgbench's script): the goal figure.
#   3. replay: loadgen replays keys created in its prepare phase (order_service --role=all).
#   4. create on that --role=all process, which also charges every order it creates.
#   5. outbox lag: a fresh order_service --role=all; after a warm-up, loadgen open loop at half
#      its create rate; lag = done_at - created_at of the events created after the warm-up.
#   6. direct Charge rate: loadgen charge scenario against payment_service, CLIENTS in flight.
#   7. backlog drain: order_service --role=api (no relay) creates BACKLOG orders; then one
#      --role=relay process (no analytics projector) starts; the time until no event is pending.
#   8. overload (bench/overload_phase.sh): peak with 32 callers, then 400 callers with 100 ms
#      deadlines for 10 s and a GetOrder probe, then the peak again; the same with payments slowed.
#   Peak RSS: VmHWM of every order_service process of phases 2-7, the largest.
# Prints one table, then exactly one name=value line per figure.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

quick=0 build=1 overload_only=0
for arg in "$@"; do
  case $arg in
    --quick) quick=1 ;;
    --no-build) build=0 ;;
    --overload) overload_only=1 ;;
    -h|--help) sed -n '2,31p' "$0"; exit 0 ;;
    *) echo "unknown argument: $arg (--quick, --no-build, --overload)" >&2; exit 2 ;;
  esac
done

clients=${BENCH_CLIENTS:-32}
if ((quick)); then
  seconds=${BENCH_SECONDS:-5} warm=1 backlog=${BENCH_BACKLOG:-5000} replay_keys=1000
  budget=${BENCH_BUDGET:-105} settle=10
else
  seconds=${BENCH_SECONDS:-15} warm=2 backlog=${BENCH_BACKLOG:-100000} replay_keys=4000
  budget=${BENCH_BUDGET:-570} settle=30
fi
# Seconds the whole run may take after the build: the backlog fill and the drain, the two
# phases whose length depends on the machine, get what is left, so the run always ends in time.

export BUILD_DIR=${BUILD_DIR:-$root/build}
if ((build)); then
  "$root/deploy/local/setup.sh"
fi
loadgen=$BUILD_DIR/bench/loadgen
order_bin=$BUILD_DIR/order_service/order_service
payment_bin=$BUILD_DIR/payment_service/payment_service
for bin in "$loadgen" "$order_bin" "$payment_bin" "$BUILD_DIR/tools/print_sql" \
  "$BUILD_DIR/bench/refusal_floor"; do
  [ -x "$bin" ] || { echo "missing $bin: build first (or drop --no-build)" >&2; exit 1; }
done

SECONDS=0
source "$root/deploy/local/pg.sh"
pgbench_bin=$PG_BIN/pgbench
[ -x "$pgbench_bin" ] || { echo "missing $pgbench_bin (package postgresql)" >&2; exit 1; }

work=$(mktemp -d /tmp/bench-run.XXXXXX)

# CreateOrder's own statement (sql::kCreateOrder, order_service/order_sql.cc) as a pgbench script,
# printed by print_sql from the code, so the reference measures the SQL the service runs: one
# order per transaction, each $n bound to a pgbench expression below (3 items and a 111-byte
# response, as loadgen sends; keys unique per transaction). nextval() takes the order id inside
# the statement (order_service reserves ids in blocks beforehand).
print_sql=$BUILD_DIR/tools/print_sql
create_script=$work/create_order_1stmt.sql
make_create_script() {
  local key="'pgb-' || :run::text || '-' || :client_id::text || '-' || :r::text"
  local params
  params=$(printf '%s\n' "'4950ms'" "ARRAY['default']" "ARRAY['orders.v1.OrderService/CreateOrder']" \
    "ARRAY[$key]" "ARRAY[encode(sha256(($key)::bytea), 'hex')]" "ARRAY[repeat('5a', 111)]" \
    "ARRAY[nextval('orders_id_seq')]" "ARRAY['cust-' || :cust::text]" "ARRAY['USD']" "ARRAY[2250]" \
    "ARRAY['pm_card_visa']" "ARRAY[now()::text]" \
    "(SELECT array_fill(min(order_id), ARRAY[3]) FROM input)" "'{1,2,3}'" "'{sku-1,sku-2,sku-3}'" \
    "'{1,2,3}'" "'{100,250,500}'" "$("$print_sql" --order_status=ORDER_STATUS_CREATED)")
  {
    echo '\set r random(1, 1099511627775)'
    echo '\set cust random(0, 996)'
    "$print_sql" --statement=order_create |
      PARAMS=$params perl -pe 'BEGIN { @p = split /\n/, $ENV{PARAMS} }
        s/\$(\d+)/$1 <= @p ? $p[$1 - 1] : die "no value for \$$1\n"/ge'
    echo ';'
  } >"$create_script"
}
make_create_script
pgdir=$(mktemp -d /tmp/bench-pg.XXXXXX)
pids=()
ok=0
cleanup() {
  local rc=$?
  for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do
    for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  done
  pg_stop "$pgdir"
  rm -rf "$pgdir"
  if ((ok)) && [ -z "${BENCH_KEEP:-}" ]; then
    rm -rf "$work"
  else
    echo "bench: logs kept in $work" >&2
    ((ok)) || tail -n 15 "$work"/*.log 2>/dev/null >&2 || true
  fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

log() { echo "[bench $(date +%T)] $*" >&2; }
calc() { awk "BEGIN { printf \"$1\", $2 }"; }
value() { sed -n "s/^$1=//p" "$2" | tail -n 1; }  # value NAME FILE

pg_start "$pgdir" >/dev/null
cluster="host=$PGHOST port=$PGPORT user=postgres"
psql_db() { psql "$cluster dbname=$1" -X -v ON_ERROR_STOP=1 -qAt -c "$2"; }
for db in bench_pgbench bench_orders bench_create bench_lag bench_drain bench_payments bench_payments_lag \
  bench_payments_drain; do
  psql_db postgres "CREATE DATABASE $db" >/dev/null
done
log "private PostgreSQL at $PGHOST port $PGPORT (fsync on); work dir $work"

# start NAME BINARY ARGS...: starts a service on a free port; sets $started_pid, $started_port.
start() {
  local name=$1 bin=$2; shift 2
  rm -f "$work/$name.port"
  "$bin" --port=0 --port_file="$work/$name.port" "$@" >"$work/$name.log" 2>&1 &
  started_pid=$!
  pids+=("$started_pid")
  for _ in $(seq 1 300); do
    if [ -s "$work/$name.port" ]; then started_port=$(cat "$work/$name.port"); return 0; fi
    kill -0 "$started_pid" 2>/dev/null || { echo "$name exited at start" >&2; return 1; }
    sleep 0.1
  done
  echo "$name did not listen within 30 s" >&2
  return 1
}

hwm_kib() { sed -n 's/^VmHWM:[[:space:]]*\([0-9]*\).*/\1/p' "/proc/$1/status" 2>/dev/null || echo 0; }
peak_rss_kib=0
note_rss() {
  local kib; kib=$(hwm_kib "$1")
  ((kib > peak_rss_kib)) && peak_rss_kib=$kib
  log "order_service pid $1: VmHWM $((kib / 1024)) MiB"
  return 0
}

stop() {  # stop PID: SIGTERM and wait
  kill -TERM "$1" 2>/dev/null || true
  for _ in $(seq 1 100); do kill -0 "$1" 2>/dev/null || break; sleep 0.1; done
  kill -KILL "$1" 2>/dev/null || true
  wait "$1" 2>/dev/null || true
}

pending_of() { psql_db "$1" "SELECT count(*) FROM outbox_events WHERE status = 'PENDING'"; }
# Cheap enough to poll during a drain (a count over a 100k backlog is not): stops at the first
# entry of the partial index outbox_pending.
any_pending() {
  [ "$(psql_db "$1" "SELECT EXISTS (SELECT 1 FROM outbox_events WHERE status = 'PENDING')")" = t ]
}

wait_drained() {  # wait_drained DB SECONDS: until no event is pending, or the time is up
  local until=$(( $(date +%s) + $2 ))
  while any_pending "$1" && [ "$(date +%s)" -lt "$until" ]; do sleep 0.25; done
}

source "$root/bench/overload_phase.sh"
if ((overload_only)); then
  overload_phase
  log "done in ${SECONDS}s"
  echo
  echo "bench/run.sh (overload): $(nproc) CPUs, load average $(cut -d' ' -f1-3 /proc/loadavg)"
  cat "$work/overload.values"
  ok=1
  exit 0
fi

# --- 1. pgbench ----------------------------------------------------------------------------
# The schema comes from order_service's own migrations, so both sides have the same tables and
# indexes.
start schema "$order_bin" --role=api --database="$cluster dbname=bench_pgbench"
stop "$started_pid"
pgbench_run() {  # pgbench_run SECONDS OUT [SCRIPT [CLIENTS]]
  local script=${3:-create_order.sql}
  [[ $script == /* ]] || script=$root/bench/sql/$script
  "$pgbench_bin" -n -M prepared -c "${4:-$clients}" -j 2 -T "$1" -D run="$RANDOM$1" \
    -f "$script" "$cluster dbname=bench_pgbench" >"$2" 2>&1
}
psql_db postgres "CHECKPOINT" >/dev/null
log "pgbench: $clients clients, ${warm}s warm-up, ${seconds}s"
pgbench_run "$warm" "$work/pgbench-warm.out"
pgbench_run "$seconds" "$work/pgbench.out"
pgbench_tps=$(sed -n 's/^tps = \([0-9.]*\).*/\1/p' "$work/pgbench.out" | tail -n 1)
pgbench_lat=$(sed -n 's/^latency average = \([0-9.]*\).*/\1/p' "$work/pgbench.out")
pgbench_failed=$(sed -n 's/^number of failed transactions: \([0-9]*\).*/\1/p' "$work/pgbench.out")
[ -n "$pgbench_tps" ] || { cat "$work/pgbench.out" >&2; exit 1; }
log "pgbench: $pgbench_tps tps, latency average $pgbench_lat ms, failed $pgbench_failed"
pgbench_1stmt=skipped pgbench_batch8=skipped batch_clients=$(( clients >= 8 ? clients / 8 : 1 ))
if ((!quick)); then
  # CreateOrder's current SQL: one statement per order, the same clients. A reference.
  log "pgbench, CreateOrder's one statement: $clients clients, ${seconds}s"
  pgbench_run "$seconds" "$work/pgbench-1stmt.out" "$create_script"
  pgbench_1stmt=$(sed -n 's/^tps = \([0-9.]*\).*/\1/p' "$work/pgbench-1stmt.out" | tail -n 1)
  pgbench_1stmt=$(calc "%.1f" "${pgbench_1stmt:-0}")
  log "pgbench, CreateOrder's one statement: $pgbench_1stmt tps"
  # The ceiling of group commit: 8 orders per transaction, multi-row statements, CLIENTS/8
  # clients (the same orders in flight). Not a goal figure: a reference for the batching proposal.
  psql_db bench_pgbench "ANALYZE" >/dev/null
  log "pgbench, 8 orders per transaction: $batch_clients clients, ${seconds}s"
  pgbench_run "$seconds" "$work/pgbench-batch8.out" create_order_batch8.sql "$batch_clients"
  pgbench_batch8=$(sed -n 's/^tps = \([0-9.]*\).*/\1/p' "$work/pgbench-batch8.out" | tail -n 1)
  pgbench_batch8=$(calc "%.1f" "${pgbench_batch8:-0} * 8")
  log "pgbench, 8 orders per transaction: $pgbench_batch8 orders/s"
fi

# --- 2. create, side by side with pgbench ------------------------------------------------------
# The goal figure compares like with like: pgbench runs CreateOrder's SQL and nothing else, so
# the service runs as --role=api (no relay in the process; the charges are measured below), right
# after pgbench on the same cluster, each after a CHECKPOINT so neither pays for the other's
# dirty pages.
create_phase() {  # create_phase ADDR OUT LABEL
  log "create: ${seconds}s, $clients in flight ($3)"
  "$loadgen" --target="$1" --scenario=create --concurrency="$clients" \
    --duration="${seconds}s" --warmup="${warm}s" >"$2" 2>>"$work/loadgen.log"
  log "create ($3): $(value ok_rps "$2")/s ok, p50 $(value p50_ms "$2") ms," \
    "p99 $(value p99_ms "$2") ms, errors $(value errors "$2")"
}
psql_db postgres "CHECKPOINT" >/dev/null
start api "$order_bin" --role=api --database="$cluster dbname=bench_create"
api_pid=$started_pid
create_phase "127.0.0.1:$started_port" "$work/create.out" "order_service --role=api"
create_rps=$(value ok_rps "$work/create.out")
create_p50=$(value p50_ms "$work/create.out")
create_p99=$(value p99_ms "$work/create.out")
create_errors=$(value errors "$work/create.out")
note_rss "$api_pid"
stop "$api_pid"

# --- services --------------------------------------------------------------------------------
# Each orders database gets its own payment service and ledger: order ids start at 1 in every
# orders database, and the relay's charge keys (charge:<deployment>:order:<id>) would collide in one ledger.
start_payments() {  # start_payments DB: sets $payment_pid, $payment_addr
  start "payments-$1" "$payment_bin" --database="$cluster dbname=$1"
  payment_pid=$started_pid payment_addr=127.0.0.1:$started_port
}
start_payments bench_payments
start orders "$order_bin" --database="$cluster dbname=bench_orders" --payment_addr="$payment_addr"
orders_pid=$started_pid orders_addr=127.0.0.1:$started_port

# --- 3. replay -------------------------------------------------------------------------------
# The keys are created first and charged by the relay before the replay is measured, so the
# relay's work does not overlap the measurement.
replay_prefix=replay-$RANDOM
log "replay: creating $replay_keys keys"
"$loadgen" --target="$orders_addr" --scenario=create --key_prefix="$replay_prefix" \
  --count="$replay_keys" --concurrency="$clients" --duration="$((settle * 2))s" --table=false \
  >"$work/replay-prepare.out" 2>>"$work/loadgen.log"
[ "$(value ok "$work/replay-prepare.out")" = "$replay_keys" ] || { echo "prepare failed" >&2; exit 1; }
wait_drained bench_orders "$settle"
log "replay: ${seconds}s, $clients in flight"
"$loadgen" --target="$orders_addr" --scenario=replay --prepare=false --keys="$replay_keys" \
  --key_prefix="$replay_prefix" --concurrency="$clients" --duration="${seconds}s" \
  --warmup="${warm}s" --table=false >"$work/replay.out" 2>>"$work/loadgen.log"
replay_rps=$(value ok_rps "$work/replay.out")
replay_replayed=$(value replayed "$work/replay.out")
log "replay: $replay_rps/s ok, $replay_replayed replayed, errors $(value errors "$work/replay.out")"

# --- 4. create, --role=all: the same load on a process that also charges every order ----------
# The goal figure compares like with like: pgbench runs CreateOrder's SQL and nothing else, so
# the service runs as --role=api (no relay in the process; the charges are measured in 4-6).
# Then the same load on the --role=all process, which also charges every order it creates.
create_phase "$orders_addr" "$work/create-all.out" "order_service --role=all"
create_all_rps=$(value ok_rps "$work/create-all.out")
note_rss "$orders_pid"
stop "$orders_pid"
stop "$payment_pid"

# --- 5. outbox lag at half the peak create rate ----------------------------------------------
# Half the peak of the process that runs the lag phase (--role=all: it creates and charges).
lag_rate=$(calc "%.0f" "$create_all_rps / 2")
((lag_rate >= 1)) || lag_rate=1
start_payments bench_payments_lag
start lag "$order_bin" --database="$cluster dbname=bench_lag" --payment_addr="$payment_addr"
lag_pid=$started_pid lag_addr=127.0.0.1:$started_port
# A fresh process warms up first (pool connections, prepared statements, channels: the first
# second's events wait up to a second); then only events created after the warm-up count,
# read from the outbox itself: done_at (the relay's Complete) - created_at (the create).
lag_warm=$(( warm > 3 ? warm : 3 ))
log "outbox lag: open loop at $lag_rate/s, ${lag_warm}s warm-up + ${seconds}s"
"$loadgen" --target="$lag_addr" --scenario=create --rate="$lag_rate" --duration="${lag_warm}s" \
  --table=false >"$work/lag-warm.out" 2>>"$work/loadgen.log"
psql_db bench_lag "CREATE TABLE bench_lag_start AS SELECT now() AS t0" >/dev/null
"$loadgen" --target="$lag_addr" --scenario=create --rate="$lag_rate" --duration="${seconds}s" \
  >"$work/lag-load.out" 2>>"$work/loadgen.log"
wait_drained bench_lag "$settle"
"$loadgen" --target="$lag_addr" --outbox_stats >"$work/lag.out"
lag_sql="SELECT round(1000 * percentile_cont(0.5) WITHIN GROUP (ORDER BY lag)::numeric, 3),
  round(1000 * percentile_cont(0.99) WITHIN GROUP (ORDER BY lag)::numeric, 3), count(*)
  FROM (SELECT extract(epoch FROM done_at - created_at) AS lag FROM outbox_events, bench_lag_start
        WHERE status = 'DONE' AND created_at >= t0) AS measured"
IFS='|' read -r lag_p50 lag_p99 lag_count < <(psql_db bench_lag "$lag_sql")
lag_created=$(value ok "$work/lag-load.out")
lag_open=$(psql_db bench_lag "SELECT count(*) FROM outbox_events WHERE status <> 'DONE'")
log "outbox lag: p50 $lag_p50 ms, p99 $lag_p99 ms over $lag_count events" \
  "(create p50 $(value p50_ms "$work/lag-load.out") ms, p99 $(value p99_ms "$work/lag-load.out") ms;" \
  "the relay's own histogram since start: p50 $(value commit_to_sent_p50_ms "$work/lag.out") ms," \
  "p99 $(value commit_to_sent_p99_ms "$work/lag.out") ms)"
note_rss "$lag_pid"
stop "$lag_pid"
stop "$payment_pid"

# --- 6. direct Charge rate ---------------------------------------------------------------------
# Against the payment service the drain will use (loadgen's keys cannot collide with the relay's).
start_payments bench_payments_drain
log "charge: ${seconds}s, $clients in flight, straight to payment_service"
"$loadgen" --target="$payment_addr" --scenario=charge --concurrency="$clients" \
  --duration="${seconds}s" --warmup="${warm}s" >"$work/charge.out" 2>>"$work/loadgen.log"
charge_rps=$(value ok_rps "$work/charge.out")
log "charge: $charge_rps/s ok, p50 $(value p50_ms "$work/charge.out") ms"

# --- 7. backlog drain --------------------------------------------------------------------------
left_s() { echo $(( budget - SECONDS )); }
fill_cap=$(( ($(left_s) - 20) * 2 / 5 ))
((fill_cap >= 10)) || fill_cap=10
start fill "$order_bin" --role=api --database="$cluster dbname=bench_drain"
fill_pid=$started_pid
log "backlog: creating $backlog orders with order_service --role=api (no relay), at most ${fill_cap}s"
"$loadgen" --target="127.0.0.1:$started_port" --scenario=create --concurrency="$clients" \
  --count="$backlog" --duration="${fill_cap}s" >"$work/fill.out" 2>>"$work/loadgen.log"
create_api_rps=$(value ok_rps "$work/fill.out")
note_rss "$fill_pid"
stop "$fill_pid"
backlog_pending=$(pending_of bench_drain)
log "backlog: $backlog_pending pending (created at $create_api_rps/s); starting --role=relay"
t0=$(date +%s.%N)
# The relay alone: the analytics projection (200k order events here) runs in one process of a
# fleet, not in every relay; its cost is in the --role=all figures above.
start relay "$order_bin" --role=relay --analytics_projector=false \
  --database="$cluster dbname=bench_drain" --payment_addr="$payment_addr"
relay_pid=$started_pid
drain_cap=$(( $(left_s) - 5 ))
((drain_cap >= 10)) || drain_cap=10
until_s=$(( $(date +%s) + drain_cap ))
while any_pending bench_drain && [ "$(date +%s)" -lt "$until_s" ]; do sleep 1; done  # each poll is a psql process: keep them rare
t1=$(date +%s.%N)
left=$(pending_of bench_drain)
drained=$((backlog_pending - left))
drain_secs=$(calc "%.2f" "$t1 - $t0")
drain_rate=$(calc "%.1f" "$drained / ($t1 - $t0)")
paid=$(psql_db bench_drain \
  "SELECT count(*) FROM orders WHERE status = $("$print_sql" --order_status=ORDER_STATUS_PAID)")
drain_dead=$(psql_db bench_drain "SELECT count(*) FROM outbox_events WHERE status = 'DEAD'")
drain_note="$paid of $backlog_pending orders PAID"
[ "$left" = 0 ] || drain_note="stopped after ${drain_cap}s with $left pending: rate over the drained part"
log "drain: $drained events in $drain_secs s = $drain_rate/s; $paid orders PAID"
note_rss "$relay_pid"
stop "$relay_pid"

# --- 8. overload -------------------------------------------------------------------------------
overload_phase

# --- figures -----------------------------------------------------------------------------------
create_vs_pgbench=$(calc "%.2f" "$create_rps / $pgbench_tps")
create_all_vs_pgbench=$(calc "%.2f" "$create_all_rps / $pgbench_tps")
replay_vs_create=$(calc "%.2f" "$replay_rps / $create_rps")
drain_vs_charge=$(calc "%.2f" "$drain_rate / $charge_rps")
order_rss_mib=$(calc "%.1f" "$peak_rss_kib / 1024")
fmt() { calc "%.1f" "$1"; }

mode=full; ((quick)) && mode=quick
log "done in ${SECONDS}s (budget ${budget}s)"
echo
echo "bench/run.sh ($mode): $(nproc) CPUs, $(awk '/MemTotal/ {printf "%.1f GiB", $2/1048576}' /proc/meminfo)," \
  "load average $(cut -d' ' -f1-3 /proc/loadavg), $clients clients, ${seconds}s per phase," \
  "backlog $backlog_pending of $backlog"
printf '%-44s %14s   %-16s %s\n' "figure" "value" "goal" "measured as"
printf '%-44s %14s   %-16s %s\n' "--------------------------------------------" "--------------" "----------------" "-----------"
row() { printf '%-44s %14s   %-16s %s\n' "$@"; }
row "pgbench TPS (CreateOrder SQL)" "$(fmt "$pgbench_tps")" "" "pgbench -M prepared -c $clients, latency avg $pgbench_lat ms"
row "  pgbench, CreateOrder's one statement" "$pgbench_1stmt" "" "sql::kCreateOrder via print_sql: the SQL CreateOrder runs (reference)"
row "  pgbench, 8 orders per transaction" "$pgbench_batch8" "" "orders/s, $batch_clients clients: the group-commit ceiling (reference)"
row "CreateOrder RPS (--role=api)" "$(fmt "$create_rps")" "" "loadgen closed loop, $clients in flight, errors $create_errors"
row "  CreateOrder / pgbench" "$create_vs_pgbench" ">= 1.0" ""
row "  CreateOrder p50 / p99 (ms)" "$create_p50 / $create_p99" "" "from send"
row "CreateOrder RPS (--role=all)" "$(fmt "$create_all_rps")" "" "the same, while the process also charges every order; / pgbench = $create_all_vs_pgbench"
row "CreateOrder RPS (backlog fill, --role=api)" "$(fmt "$create_api_rps")" "" "closed loop into a growing table, $backlog_pending orders"
row "replay RPS" "$(fmt "$replay_rps")" "" "$replay_keys keys, $replay_replayed answers marked replayed"
row "  replay / CreateOrder" "$replay_vs_create" ">= 2.0" ""
row "outbox lag p50 (ms)" "$lag_p50" "<= 5" "open loop at $lag_rate/s (half the --role=all create rate); not DONE: $lag_open"
row "outbox lag p99 (ms)" "$lag_p99" "<= 25" "create -> relay's Complete (outbox done_at - created_at), $lag_count of $lag_created events"
row "direct Charge RPS" "$(fmt "$charge_rps")" "" "loadgen charge, $clients in flight"
row "backlog drain rate (events/s)" "$drain_rate" "" "one --role=relay process (no projector), $drain_note in $drain_secs s"
row "  drain / Charge" "$drain_vs_charge" ">= 0.8" "DEAD events: $drain_dead"
row "order_service peak RSS (MiB)" "$order_rss_mib" "<= 64" "largest VmHWM of the 5 order_service processes"
echo
echo "create_vs_pgbench=$create_vs_pgbench"
echo "pgbench_tps=$(fmt "$pgbench_tps")"
echo "create_rps=$(fmt "$create_rps")"
echo "create_all_rps=$(fmt "$create_all_rps")"
echo "replay_rps=$(fmt "$replay_rps")"
echo "replay_vs_create=$replay_vs_create"
echo "create_p50_ms=$create_p50"
echo "create_p99_ms=$create_p99"
echo "outbox_lag_p50_ms=$lag_p50"
echo "outbox_lag_p99_ms=$lag_p99"
echo "drain_rate=$drain_rate"
echo "charge_rps=$(fmt "$charge_rps")"
echo "drain_vs_charge=$drain_vs_charge"
echo "order_rss_mib=$order_rss_mib"
cat "$work/overload.values"
ok=1
