#!/usr/bin/env bash
# An HA PostgreSQL on this machine, as production runs it with Patroni: one etcd and N Patroni
# nodes (Debian's `patroni`, `etcd-server` and PostgreSQL binaries), all on 127.0.0.1 at free
# ports, each node with its own data directory, synchronous replication by default.
# Used by deploy/local/run.sh --ha and by the network scenarios (tests/network/ha_cluster.cc),
# so both run the same code.
#
#   source deploy/local/ha.sh
#   ha_install                      # installs patroni, python3-etcd, etcd-server (curl, procps)
#   ha_start DIR [NODES=2] [SYNC=true]   # starts etcd and the nodes, waits for a leader and a
#                                   # streaming replica; writes DIR/ha.env (below)
#   ha_leader DIR                   # prints the leader's node name (node1, node2, ...)
#   ha_kill DIR NODE                # SIGKILL: Patroni, its postmaster and the postmaster's children
#   ha_kill_leader DIR              # ha_kill of the current leader; prints its name
#   ha_switchover DIR [CANDIDATE]   # patronictl switchover --force (planned; old leader -> replica)
#   ha_start_node DIR NODE          # starts a node's Patroni again (after ha_kill)
#   ha_wait_leader DIR [SECONDS=60] # waits until a leader (other than $HA_NOT) accepts writes
#   ha_stop DIR                     # stops everything (SIGTERM, then SIGKILL), keeps DIR
#   ha_bouncer_start DIR PORT       # PgBouncer (deploy/local/pgbouncer-ha.ini, transaction mode)
#                                   # on 127.0.0.1:PORT in front of the leader; Patroni's
#                                   # on_role_change callback points it at each new leader
#                                   # (start the cluster with HA_BOUNCER=1 for the callback)
#
# Every process runs as `postgres` when we are root (PostgreSQL refuses root, and so does the
# postgres Patroni starts). DIR/ha.env holds (shell syntax, also read by the C++ harness):
#   HA_NODES=2 HA_SYNC=true HA_ETCD=127.0.0.1:P HA_PG_PORTS=p1,p2 HA_API_PORTS=a1,a2
#   HA_CONNINFO='host=127.0.0.1,127.0.0.1 port=p1,p2 user=postgres target_session_attrs=read-write'
#   HA_CONFIG_1=DIR/node1/patroni.yml ...
# Timings (loop_wait 1 s, ttl 10 s, retry_timeout 4 s): a killed leader's key expires after at
# most 10 s, then the synchronous standby promotes; see deploy/OPERATIONS.md for the figures.
_ha_root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
# shellcheck source=deploy/local/pg.sh
source "$_ha_root/deploy/local/pg.sh"
# shellcheck source=deploy/local/pgbouncer.sh
source "$_ha_root/deploy/local/pgbouncer.sh"

HA_SCOPE=${HA_SCOPE:-orders-ha}
# The system interpreter (Patroni's own): a version manager's shim on PATH costs seconds a call.
_ha_py=$(command -v /usr/bin/python3 || command -v python3)

# _ha_free_ports N: N distinct free loopback ports, one a line (one interpreter start for all).
_ha_free_ports() {
  "$_ha_py" - "$1" <<'PY'
import socket, sys
socks = []
for _ in range(int(sys.argv[1])):
    s = socket.socket(); s.bind(("127.0.0.1", 0)); socks.append(s)
print("\n".join(str(s.getsockname()[1]) for s in socks))
PY
}

ha_install() {
  local missing=() p
  # curl: Patroni's REST API; procps: pkill/ps for ha_kill.
  for p in patroni python3-etcd etcd-server curl procps "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  ((${#missing[@]})) || return 0
  echo "installing: ${missing[*]}"
  local sudo=
  [ "$(id -u)" -eq 0 ] || sudo=sudo
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
}

# _ha_spawn PIDFILE LOG CMD...: runs CMD in the background as the owner, its own pid in PIDFILE
# (runuser stays the parent, so $! would be runuser's, not the daemon's).
_ha_spawn() {
  local pidfile=$1 log=$2
  shift 2
  rm -f "$pidfile"
  pg_as_owner sh -c 'echo $$ >"$0"; exec "$@"' "$pidfile" "$@" >>"$log" 2>&1 </dev/null &
  local deadline=$((SECONDS + 20))
  while ((SECONDS < deadline)); do
    [ -s "$pidfile" ] && return 0
    sleep 0.05
  done
  echo "ha: $* did not start (see $log)" >&2
  return 1
}

# _ha_api DIR NODE PATH: GET on a node's REST API; prints the body, fails on no answer.
_ha_api() {
  local port
  port=$(_ha_node_var "$1" "$2" API_PORT) || return 1
  curl -s --max-time 2 "http://127.0.0.1:$port$3"
}

_ha_node_var() {
  local dir=$1 node=$2 var=$3
  sed -n "s/^$var=//p" "$dir/$node/node.env"
}

_ha_nodes() { ls -d "$1"/node* 2>/dev/null | xargs -n1 basename; }

ha_start() {
  local dir=$1 nodes=${2:-2} sync=${3:-true}
  [ -x "$PG_BIN/postgres" ] || { echo "ha: no PostgreSQL binaries" >&2; return 1; }
  command -v patroni >/dev/null && command -v etcd >/dev/null || {
    echo "ha: patroni or etcd missing (run ha_install)" >&2
    return 1
  }
  mkdir -p "$dir"
  [ "$(id -u)" -ne 0 ] || chown postgres:postgres "$dir"
  chmod 700 "$dir"

  [ "${HA_BOUNCER:-0}" != 1 ] || _ha_copy_scripts "$dir"
  local ports
  mapfile -t ports < <(_ha_free_ports $((3 + 2 * nodes)))
  local etcd_port=${ports[0]} etcd_peer=${ports[1]}
  pg_as_owner mkdir -p "$dir/etcd"
  _ha_spawn "$dir/etcd/etcd.pid" "$dir/etcd/etcd.log" etcd --name ha-etcd \
    --data-dir "$dir/etcd/data" \
    --listen-client-urls "http://127.0.0.1:$etcd_port" \
    --advertise-client-urls "http://127.0.0.1:$etcd_port" \
    --listen-peer-urls "http://127.0.0.1:$etcd_peer" \
    --initial-advertise-peer-urls "http://127.0.0.1:$etcd_peer" \
    --initial-cluster "ha-etcd=http://127.0.0.1:$etcd_peer" \
    --listen-metrics-urls "http://127.0.0.1:${ports[2]}" || return 1
  local deadline=$((SECONDS + 30)) healthy=0
  while ((SECONDS < deadline)); do
    curl -s --max-time 1 "http://127.0.0.1:$etcd_port/health" | grep -q '"health":"true"' &&
      healthy=1 && break
    sleep 0.05
  done
  ((healthy)) || { _ha_start_failed "$dir" "etcd not healthy within 30 s"; return 1; }

  local pg_ports=() api_ports=() hosts=() n
  for n in $(seq 1 "$nodes"); do
    local node="node$n" pg_port api_port ndir="$dir/node$n"
    pg_port=${ports[$((1 + 2 * n))]}
    api_port=${ports[$((2 + 2 * n))]}
    pg_ports+=("$pg_port")
    api_ports+=("$api_port")
    hosts+=(127.0.0.1)
    pg_as_owner mkdir -p "$ndir"
    chmod 700 "$ndir"
    printf 'PG_PORT=%s\nAPI_PORT=%s\n' "$pg_port" "$api_port" | pg_as_owner tee "$ndir/node.env" >/dev/null
    # synchronous_mode_strict off: with one node left the leader keeps accepting writes (the
    # alternative is no writes at all until a standby is back); see OPERATIONS.md.
    pg_as_owner tee "$ndir/patroni.yml" >/dev/null <<YML
scope: $HA_SCOPE
namespace: /service/
name: $node
log:
  level: INFO  # a line a second; says what a start that hangs is waiting for
restapi:
  listen: 127.0.0.1:$api_port
  connect_address: 127.0.0.1:$api_port
etcd3:
  hosts: 127.0.0.1:$etcd_port
bootstrap:
  dcs:
    ttl: 10
    loop_wait: 1
    retry_timeout: 4
    maximum_lag_on_failover: 1048576
    synchronous_mode: $sync
    synchronous_mode_strict: false
    postgresql:
      use_pg_rewind: true
      use_slots: true
      parameters:
        wal_level: replica
        hot_standby: "on"
        wal_log_hints: "on"
        max_wal_senders: 10
        max_replication_slots: 10
        max_connections: 200
  initdb:
    - encoding: UTF8
    - locale: C
    - no-sync
  pg_hba:
    - local all all trust
    - host replication replicator 127.0.0.1/32 trust
    - host all all 127.0.0.1/32 trust
postgresql:
  listen: 127.0.0.1:$pg_port
  connect_address: 127.0.0.1:$pg_port
  data_dir: $ndir/data
  bin_dir: $PG_BIN
  pgpass: $ndir/pgpass
  # A replica's clone asks the leader for an immediate checkpoint: pg_basebackup's default
  # (spread) paces it over checkpoint_completion_target x checkpoint_timeout, minutes on a busy
  # machine, while the cluster has no standby.
  basebackup:
    - checkpoint: fast
  authentication:
    superuser:
      username: postgres
      password: postgres
    replication:
      username: replicator
      password: replicator
    rewind:
      username: postgres
      password: postgres
  parameters:
    unix_socket_directories: $ndir
    fsync: "on"
    synchronous_commit: "on"
    shared_buffers: 64MB
    log_min_messages: warning
$(_ha_callbacks "$dir" "$pg_port")
tags:
  nofailover: false
  noloadbalance: false
YML
  done
  local IFS_old=$IFS
  IFS=,
  cat >"$dir/ha.env" <<ENV
HA_NODES=$nodes
HA_SYNC=$sync
HA_ETCD=127.0.0.1:$etcd_port
HA_PG_PORTS=${pg_ports[*]}
HA_API_PORTS=${api_ports[*]}
HA_CONNINFO='host=${hosts[*]} port=${pg_ports[*]} user=postgres target_session_attrs=read-write'
ENV
  IFS=$IFS_old
  for n in $(seq 1 "$nodes"); do echo "HA_CONFIG_$n=$dir/node$n/patroni.yml" >>"$dir/ha.env"; done

  # All at once: one wins the initialize key and bootstraps (initdb), the others wait for it
  # and clone it (pg_basebackup).
  # One budget for the whole start (HA_START_SECONDS, default 150 s), below the callers' own
  # timeouts (the test harness waits 180 s), so a slow start fails here, with the logs.
  local budget=${HA_START_SECONDS:-150} begun=$SECONDS
  for n in $(seq 1 "$nodes"); do
    ha_start_node "$dir" "node$n" || { _ha_start_failed "$dir" "node$n did not start"; return 1; }
  done
  ha_wait_leader "$dir" "$budget" || { _ha_start_failed "$dir" "no leader"; return 1; }
  local left=$((budget - (SECONDS - begun)))
  ((left > 5)) || left=5
  ha_wait_replicas "$dir" $((nodes - 1)) "$left" ||
    { _ha_start_failed "$dir" "replicas not streaming"; return 1; }
  echo "ha: leader $(ha_leader "$dir") and $((nodes - 1)) replica(s) streaming after $((SECONDS - begun)) s" >&2
}

# _ha_start_failed DIR WHY: says why, prints the tail of every log (a start that fails on a
# machine nobody can log into must say what it saw), and stops what was started.
_ha_start_failed() {
  local dir=$1 why=$2 f
  echo "ha: start failed: $why (cluster in $dir)" >&2
  for f in "$dir"/etcd/etcd.log "$dir"/node*/patroni.log "$dir"/node*/data/log/*; do
    [ -f "$f" ] || continue
    echo "---- tail of $f" >&2
    tail -n 25 "$f" >&2
  done
  ha_stop "$dir" >/dev/null 2>&1 || true
}

# Patroni's callbacks: with HA_BOUNCER=1, a node that becomes the leader points PgBouncer at
# itself (Patroni appends: action role scope).
# Patroni runs them as postgres, which may not be able to reach this checkout (a clone under a
# mode-700 temporary directory, as CI makes it): the scripts run from a copy in the cluster's
# own directory (DIR/scripts, made by _ha_copy_scripts).
_ha_callbacks() {
  [ "${HA_BOUNCER:-0}" = 1 ] || return 0
  local script=$1/scripts/deploy/local/ha.sh
  printf '  callbacks:\n    on_role_change: "%s bouncer-follow %s %s"\n    on_start: "%s bouncer-follow %s %s"\n' \
    "$script" "$1" "$2" "$script" "$1" "$2"
}

_ha_copy_scripts() {
  local dir=$1
  mkdir -p "$dir/scripts/deploy/local"
  cp "$_ha_root/deploy/local/ha.sh" "$_ha_root/deploy/local/pg.sh" \
    "$_ha_root/deploy/local/pgbouncer.sh" "$dir/scripts/deploy/local/"
  [ "$(id -u)" -ne 0 ] || chown -R postgres:postgres "$dir/scripts"
}

ha_start_node() {
  local dir=$1 node=$2
  _ha_spawn "$dir/$node/patroni.pid" "$dir/$node/patroni.log" patroni "$dir/$node/patroni.yml"
}

# The leader's name from any node's REST API (/cluster); empty when there is none.
ha_leader() {
  local dir=$1 node body
  for node in $(_ha_nodes "$dir"); do
    body=$(_ha_api "$dir" "$node" /cluster 2>/dev/null) || continue
    [ -n "$body" ] || continue
    "$_ha_py" -c '
import json, sys
for m in json.loads(sys.argv[1]).get("members", []):
    if m.get("role") == "leader" and m.get("state") == "running":
        print(m["name"]); break' "$body" && return 0
  done
  return 1
}

# Waits until a leader that is not $HA_NOT answers /primary (200 only on a writable leader).
ha_wait_leader() {
  local dir=$1 seconds=${2:-60} node deadline
  # By the clock, not by counting rounds: on a loaded machine each round's curl and python
  # take far longer than the 0.1 s sleep.
  deadline=$((SECONDS + seconds))
  while ((SECONDS < deadline)); do
    for node in $(_ha_nodes "$dir"); do
      [ "$node" != "${HA_NOT:-}" ] || continue
      local port
      port=$(_ha_node_var "$dir" "$node" API_PORT)
      if [ "$(curl -s -o /dev/null -w '%{http_code}' --max-time 1 "http://127.0.0.1:$port/primary")" = 200 ]; then
        return 0
      fi
    done
    sleep 0.1
  done
  echo "ha: no leader within ${seconds}s (logs in $dir/node*/patroni.log)" >&2
  return 1
}

# Waits until COUNT replicas stream from the leader (and, in synchronous mode, one is sync).
ha_wait_replicas() {
  local dir=$1 count=$2 seconds=${3:-60} deadline leader body
  deadline=$((SECONDS + seconds))
  while ((SECONDS < deadline)); do
    leader=$(ha_leader "$dir") && body=$(_ha_api "$dir" "$leader" /cluster) &&
      "$_ha_py" -c '
import json, sys
members = json.loads(sys.argv[1]).get("members", [])
streaming = [m for m in members if m.get("role") in ("replica", "sync_standby")
             and m.get("state") in ("streaming", "running") and m.get("lag", 1) == 0]
sync = [m for m in members if m.get("role") == "sync_standby"]
need_sync = sys.argv[3] == "true" and int(sys.argv[2]) > 0
sys.exit(0 if len(streaming) >= int(sys.argv[2]) and (sync or not need_sync) else 1)' \
        "$body" "$count" "$(sed -n 's/^HA_SYNC=//p' "$dir/ha.env")" && return 0
    sleep 0.1
  done
  echo "ha: $count replica(s) not streaming within ${seconds}s" >&2
  return 1
}

ha_kill() {
  local dir=$1 node=$2 pid pm
  pid=$(cat "$dir/$node/patroni.pid" 2>/dev/null || true)
  pm=$(head -n 1 "$dir/$node/data/postmaster.pid" 2>/dev/null || true)
  [ -z "$pid" ] || kill -KILL "$pid" 2>/dev/null || true
  # Only the postmaster of this data directory (a stale postmaster.pid may name another process).
  if [ -n "$pm" ] && [ "$(readlink "/proc/$pm/cwd" 2>/dev/null)" = "$(readlink -f "$dir/$node/data")" ]; then
    # The postmaster with its backends, walsenders and background workers (a machine that dies
    # takes them all; a backend left alive would keep serving its session). Stopped first, so
    # its children stay its children (each runs in a session of its own) until they are killed.
    kill -STOP "$pm" 2>/dev/null || true
    pkill -KILL -P "$pm" 2>/dev/null || true
    kill -KILL "$pm" 2>/dev/null || true
  fi
}

ha_kill_leader() {
  local dir=$1 leader
  leader=$(ha_leader "$dir") || { echo "ha: no leader to kill" >&2; return 1; }
  ha_kill "$dir" "$leader"
  echo "$leader"
}

ha_switchover() {
  local dir=$1 candidate=${2:-} leader cfg args=()
  leader=$(ha_leader "$dir") || { echo "ha: no leader" >&2; return 1; }
  cfg="$dir/$leader/patroni.yml"
  args=(-c "$cfg" switchover --force --leader "$leader")
  [ -z "$candidate" ] || args+=(--candidate "$candidate")
  pg_as_owner patronictl "${args[@]}" "$HA_SCOPE"
}

ha_bouncer_start() {
  local dir=$1 port=$2 leader leader_port bdir="$1/pgbouncer"
  pgbouncer_install || return 1
  leader=$(ha_leader "$dir") || { echo "ha: no leader for PgBouncer" >&2; return 1; }
  leader_port=$(_ha_node_var "$dir" "$leader" PG_PORT)
  mkdir -p "$bdir"
  printf '"postgres" ""\n' >"$bdir/userlist.txt"
  sed -e "s|@LEADER_PORT@|$leader_port|g" -e "s|@LISTEN_PORT@|$port|g" -e "s|@DIR@|$bdir|g" \
    "$_ha_root/deploy/local/pgbouncer-ha.ini" >"$bdir/pgbouncer.ini"
  pgbouncer_run "$bdir" "$port"
}

# Patroni's callback (as the node's owner): when this node (PG port PORT) turns leader, point
# PgBouncer's databases at it and reload. Arguments from Patroni: action role scope.
ha_bouncer_follow() {
  local dir=$1 port=$2 action=${3:-} role=${4:-} ini="$1/pgbouncer/pgbouncer.ini" pid
  case "$role" in master | primary) ;; *) return 0 ;; esac
  [ -f "$ini" ] || return 0
  sed -i "/^\[databases\]/,/^\[/ s/port=[0-9]*/port=$port/" "$ini"
  pid=$(cat "$dir/pgbouncer/pgbouncer.pid" 2>/dev/null || true)
  [ -z "$pid" ] || kill -HUP "$pid" 2>/dev/null || true
  echo "$(date -u +%FT%T.%3NZ) $action: PgBouncer -> port $port" >>"$dir/pgbouncer/follow.log"
}

ha_stop() {
  local dir=$1 node pid
  pgbouncer_stop "$dir/pgbouncer"
  for node in $(_ha_nodes "$dir"); do
    pid=$(cat "$dir/$node/patroni.pid" 2>/dev/null || true)
    [ -z "$pid" ] || kill -TERM "$pid" 2>/dev/null || true
  done
  local deadline=$((SECONDS + 10))
  while ((SECONDS < deadline)); do
    local alive=0
    for node in $(_ha_nodes "$dir"); do
      pid=$(cat "$dir/$node/patroni.pid" 2>/dev/null || true)
      [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null && alive=1
    done
    [ "$alive" -eq 0 ] && break
    sleep 0.1
  done
  for node in $(_ha_nodes "$dir"); do ha_kill "$dir" "$node"; done
  pid=$(cat "$dir/etcd/etcd.pid" 2>/dev/null || true)
  [ -z "$pid" ] || kill -KILL "$pid" 2>/dev/null || true
}

# As a command: deploy/local/ha.sh start|stop|leader|kill-leader|switchover|wait-leader DIR [...]
if [ "${BASH_SOURCE[0]}" = "$0" ]; then
  set -euo pipefail
  cmd=${1:-}
  shift || true
  case "$cmd" in
    install) ha_install "$@" ;;
    start) ha_start "$@" ;;
    stop) ha_stop "$@" ;;
    leader) ha_leader "$@" ;;
    kill) ha_kill "$@" ;;
    kill-leader) ha_kill_leader "$@" ;;
    start-node) ha_start_node "$@" ;;
    switchover) ha_switchover "$@" ;;
    wait-leader) ha_wait_leader "$@" ;;
    wait-replicas) ha_wait_replicas "$@" ;;
    bouncer-start) ha_bouncer_start "$@" ;;
    bouncer-follow) ha_bouncer_follow "$@" ;;
    *)
      sed -n '2,30p' "$0"
      exit 2
      ;;
  esac
fi
