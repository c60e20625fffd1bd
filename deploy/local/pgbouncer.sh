#!/usr/bin/env bash
# A private PgBouncer in transaction mode in front of a PostgreSQL server, for tests and local
# runs. Installs Debian's pgbouncer if it is missing. PgBouncer refuses to run as root, so under
# root it runs as `postgres`, like the private cluster of pg.sh.
#   source deploy/local/pg.sh; source deploy/local/pgbouncer.sh
#   pgbouncer_start DIR PG_HOST PG_PORT [POOL_SIZE]; ...; pgbouncer_stop DIR
# pgbouncer_start exports PGBOUNCER_PORT. Every database of the server is reachable through it
# (user postgres, no password), with POOL_SIZE (default 3) server connections per database.

pgbouncer_install() {
  dpkg-query -W -f='${Status}' pgbouncer 2>/dev/null | grep -q "install ok installed" && return 0
  local sudo=
  [ "$(id -u)" -ne 0 ] && sudo=sudo
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends pgbouncer
}

pgbouncer_start() {
  local dir=$1 pg_host=$2 pg_port=$3 pool_size=${4:-3}
  pgbouncer_install || return 1
  mkdir -p "$dir"
  local port; port=$(free_port)
  printf '"postgres" ""\n' >"$dir/userlist.txt"
  # server_reset_query is not run in transaction mode: whatever a client leaves in a session
  # (a SET, a prepared statement, a LISTEN) stays on the server connection for the next client.
  cat >"$dir/pgbouncer.ini" <<INI
[databases]
* = host=$pg_host port=$pg_port
[pgbouncer]
listen_addr = 127.0.0.1
listen_port = $port
unix_socket_dir = $dir
auth_type = trust
auth_file = $dir/userlist.txt
admin_users = postgres
pool_mode = transaction
default_pool_size = $pool_size
max_client_conn = 2000
max_db_connections = 0
logfile = $dir/pgbouncer.log
pidfile = $dir/pgbouncer.pid
ignore_startup_parameters = extra_float_digits
INI
  pgbouncer_run "$dir" "$port"
}

# pgbouncer_run DIR PORT: starts PgBouncer on DIR/pgbouncer.ini (listening on PORT, log and
# pidfile in DIR) as the owner of the private clusters, waits until it answers; exports
# PGBOUNCER_PORT. Also used by deploy/local/ha.sh with its own configuration.
pgbouncer_run() {
  local dir=$1 port=$2
  if [ "$(id -u)" -eq 0 ]; then chown -R postgres:postgres "$dir"; fi
  pg_as_owner /usr/sbin/pgbouncer -d -q "$dir/pgbouncer.ini" || { cat "$dir/pgbouncer.log"; return 1; }
  for _ in $(seq 1 100); do
    "$PG_BIN/pg_isready" -q -h 127.0.0.1 -p "$port" -U postgres -d postgres && break
    sleep 0.1
  done
  "$PG_BIN/pg_isready" -q -h 127.0.0.1 -p "$port" -U postgres -d postgres \
    || { echo "pgbouncer did not start" >&2; cat "$dir/pgbouncer.log" >&2; return 1; }
  export PGBOUNCER_PORT=$port
}

pgbouncer_stop() {
  local dir=$1
  [ -s "$dir/pgbouncer.pid" ] && kill -TERM "$(cat "$dir/pgbouncer.pid")" 2>/dev/null || true
}
