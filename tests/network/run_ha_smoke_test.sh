#!/usr/bin/env bash
# deploy/local/run.sh --ha as a user runs it: reaches `ready`, a CreateOrder through orderctl is
# paid, then the Patroni leader is killed (SIGKILL) and, after the failover, a new CreateOrder is
# acknowledged and paid by the same service processes (no restart). Prints the time from the kill
# to that order. Usage (ctest runs it): run_ha_smoke_test.sh SOURCE_DIR BUILD_DIR
set -euo pipefail
src=$1
build=$2
work=$(mktemp -d /tmp/run-ha-smoke.XXXXXX)
# Free loopback ports for everything run.sh listens on (never the defaults a user may hold).
mapfile -t ports < <(/usr/bin/python3 - <<'PY'
import socket
socks = [socket.socket() for _ in range(5)]
for s in socks: s.bind(("127.0.0.1", 0))
print("\n".join(str(s.getsockname()[1]) for s in socks))
PY
)
# Seconds since a `date +%s.%N` stamp, to the millisecond.
since() { awk -v a="$1" -v b="$(date +%s.%N)" 'BEGIN { printf "%.3f", b - a }'; }
run_pid=
cleanup() {
  if [ -n "$run_pid" ] && kill -0 "$run_pid" 2>/dev/null; then
    kill -TERM "$run_pid"
    wait "$run_pid" || true
  fi
  rm -rf "$work"
}
trap cleanup EXIT

SKIP_SETUP=1 BUILD_DIR=$build RUN_DIR=$work/run ORDER_PORT=${ports[0]} PAYMENT_PORT=${ports[1]} \
  ORDER_METRICS_PORT=${ports[2]} PAYMENT_METRICS_PORT=${ports[3]} PGBOUNCER_PORT=${ports[4]} \
  "$src/deploy/local/run.sh" --ha >"$work/run.log" 2>&1 &
run_pid=$!
started=$(date +%s.%N)
# By the clock (a loaded machine makes each round slow); run.sh's own cluster start gives up
# after 150 s and prints its logs.
deadline=$((SECONDS + 240))
while ((SECONDS < deadline)); do
  grep -q '^ready' "$work/run.log" && break
  kill -0 "$run_pid" 2>/dev/null || { cat "$work/run.log"; echo "FAIL: run.sh --ha exited"; exit 1; }
  sleep 0.1
done
grep -q '^ready' "$work/run.log" || { cat "$work/run.log"; echo "FAIL: no ready within 240 s"; exit 1; }
echo "run.sh --ha ready after $(since "$started") s"
source "$work/run/local.env"
orderctl() { "$build/tools/orderctl" --addr="$ORDER_ADDR" "$@"; }

# paid ID: waits up to 60 s (by the clock) for the order to be PAID.
paid() {
  local deadline=$((SECONDS + 60))
  while ((SECONDS < deadline)); do
    orderctl get "$1" 2>/dev/null | grep -q 'PAID' && return 0
    sleep 0.2
  done
  echo "FAIL: order $1 not PAID"
  return 1
}
id=$(orderctl create --customer=smoke --items=book:2:1250 | sed -n 's/^order \([0-9]*\) .*/\1/p')
[ -n "$id" ] || { echo "FAIL: no order created"; exit 1; }
paid "$id"
echo "order $id PAID through PgBouncer"

before=$(pgrep -d, -f "order_service/order_service --port=${ports[0]}" || true)
[ -n "$before" ] || { echo "FAIL: no order_service process found"; exit 1; }
killed=$("$src/deploy/local/ha.sh" kill-leader "$HA_DIR")
killed_at=$(date +%s.%N)
echo "killed the Patroni leader $killed"
id2=
for _ in $(seq 1 60); do
  id2=$(timeout 10 "$build/tools/orderctl" --addr="$ORDER_ADDR" create --customer=smoke2 \
    --items=pen:1:100 2>/dev/null | sed -n 's/^order \([0-9]*\) .*/\1/p' || true)
  [ -n "$id2" ] && break
  sleep 0.5
done
[ -n "$id2" ] || { echo "FAIL: no CreateOrder acknowledged within the failover"; tail -20 "$work/run/order.log"; exit 1; }
echo "order $id2 acknowledged $(since "$killed_at") s after the kill"
paid "$id2"
leader=$("$src/deploy/local/ha.sh" leader "$HA_DIR")
[ "$leader" != "$killed" ] || { echo "FAIL: leader still $killed"; exit 1; }
after=$(pgrep -d, -f "order_service/order_service --port=${ports[0]}" || true)
[ "$before" = "$after" ] || { echo "FAIL: order_service restarted ($before -> $after)"; exit 1; }
kill -0 "$run_pid" || { echo "FAIL: run.sh exited"; exit 1; }
echo "PASS: new leader $leader, order $id2 PAID, services not restarted"
