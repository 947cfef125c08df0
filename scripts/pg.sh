#!/usr/bin/env bash
# A throwaway PostgreSQL cluster for the test suite and the benchmarks.
#
#   scripts/pg.sh start   initdb + start on a free port; prints DATABASE_URL=...
#                         (also written to $APIKEY_PG_ROOT/env)
#   scripts/pg.sh stop    fast shutdown, then delete the cluster
#   scripts/pg.sh status  exit 0 when running
#
# Env: APIKEY_PG_ROOT (default target/pg), APIKEY_PG_PORT (default: a free
# port), PGBIN (default: the newest /usr/lib/postgresql/*/bin).
# PostgreSQL refuses to run as root, so as root the server runs as `postgres`.
set -euo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)
# Absolute: the permission walk below climbs to / (a relative path never gets there).
root=$(realpath -m "${APIKEY_PG_ROOT:-$repo/target/pg}")
if [ -z "${PGBIN:-}" ]; then
  PGBIN=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)
fi
if [ -z "$PGBIN" ] || [ ! -x "$PGBIN/initdb" ]; then
  echo "pg.sh: no PostgreSQL server binaries found (install postgresql, or set PGBIN)" >&2
  exit 1
fi
data=$root/data sock=$root/sock log=$root/server.log

as_server_user() {
  if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}
is_running() {
  [ -f "$data/PG_VERSION" ] && as_server_user "$PGBIN/pg_ctl" -D "$data" status >/dev/null 2>&1
}
free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

case "${1:-}" in
  start)
    if is_running; then cat "$root/env"; exit 0; fi
    port=${APIKEY_PG_PORT:-$(free_port)}
    rm -rf "$root"
    mkdir -p "$sock"
    if [ "$(id -u)" = 0 ]; then
      chown -R postgres "$root"
      # The server user must be able to reach the folder.
      d=$root; while [ "$d" != / ]; do chmod o+x "$d" 2>/dev/null || true; d=$(dirname "$d"); done
    fi
    as_server_user "$PGBIN/initdb" -D "$data" -U postgres -A trust -E UTF8 --locale=C \
      --no-sync >"$root/initdb.log" 2>&1 || { cat "$root/initdb.log" >&2; exit 1; }
    if ! as_server_user "$PGBIN/pg_ctl" -D "$data" -l "$log" -w -t 60 start -o \
        "-c listen_addresses=127.0.0.1 -p $port -k $sock -c fsync=off \
         -c synchronous_commit=off -c full_page_writes=off -c max_connections=200 \
         -c timezone=UTC" >/dev/null; then
      cat "$log" >&2
      exit 1
    fi
    echo "DATABASE_URL=postgres://postgres@127.0.0.1:$port/postgres" | tee "$root/env"
    ;;
  stop)
    if is_running; then as_server_user "$PGBIN/pg_ctl" -D "$data" -m fast -w stop >/dev/null; fi
    rm -rf "$root"
    ;;
  pause)
    # Stop the server but keep the cluster (tests of a database going down).
    if is_running; then as_server_user "$PGBIN/pg_ctl" -D "$data" -m fast -w stop >/dev/null; fi
    ;;
  resume)
    port=$(sed -n 's/.*127\.0\.0\.1:\([0-9]*\)\/.*/\1/p' "$root/env")
    as_server_user "$PGBIN/pg_ctl" -D "$data" -l "$log" -w -t 60 start -o \
      "-c listen_addresses=127.0.0.1 -p $port -k $sock -c fsync=off \
       -c synchronous_commit=off -c full_page_writes=off -c max_connections=200 \
       -c timezone=UTC" >/dev/null
    ;;
  status)
    is_running
    ;;
  *)
    echo "usage: $0 start|stop|pause|resume|status" >&2
    exit 2
    ;;
esac
