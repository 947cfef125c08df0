#!/usr/bin/env bash
# What last-used tracking costs a guarded request: the quickstart (release,
# verification cache on) under wrk, with 200 keys used round-robin, tracking
#   off       APIKEY_LAST_USED_MS=0
#   default   once per key per 60 s
#   every     APIKEY_LAST_USED_MS=1: every key written at every flush (each
#             second, 200 rows): the worst case, where a change feed that
#             took each write for a change would revalidate every second
# in alternating rounds (median kept), on SQLite and on PostgreSQL (a
# throwaway cluster under target/bench/last-used/pg; skipped with a message
# when none can be started). After the runs it counts the keys whose
# last_used_at was written.
#
#   scripts/bench-last-used.sh
#
# Settings (environment): BENCH_DURATION (10s) BENCH_THREADS (1)
# BENCH_CONNECTIONS (32) BENCH_ROUNDS (3) BENCH_KEYS (200) BENCH_BIN_DIR
# (take quickstart and apikey from there instead of building them).
# The plain keys go to a 0600 file under target/bench/last-used, never on a
# command line; the folder is removed at the end.
set -euo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)
cd "$repo"
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$repo/target}
work=$CARGO_TARGET_DIR/bench/last-used
duration=${BENCH_DURATION:-10s}
threads=${BENCH_THREADS:-1}
connections=${BENCH_CONNECTIONS:-32}
rounds=${BENCH_ROUNDS:-3}
nkeys=${BENCH_KEYS:-200}

say() { echo "bench-last-used: $*" >&2; }

pids=()
cleanup() {
  local pid
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  if [ -n "${pg_started:-}" ]; then APIKEY_PG_ROOT=$work/pg scripts/pg.sh stop >/dev/null || true; fi
  rm -rf "$work/keys.txt"
}
trap cleanup EXIT
trap 'exit 143' TERM INT

command -v wrk >/dev/null || apt-get install -y wrk >/dev/null 2>&1 ||
  { apt-get update -qq && apt-get install -y wrk >/dev/null; }
command -v curl >/dev/null || { apt-get update -qq && apt-get install -y curl >/dev/null; }

if [ -n "${BENCH_BIN_DIR:-}" ]; then
  bin=$(cd "$BENCH_BIN_DIR" && pwd)
else
  say "building the quickstart and the apikey CLI (release)"
  cargo build --release --quiet -p apikey-examples -p apikey-cli --bin quickstart --bin apikey
  bin=$CARGO_TARGET_DIR/release
fi

rm -rf "$work"
mkdir -p "$work"
chmod 700 "$work"

# Each request presents the next key of the file (one key per line).
cat >"$work/keys.lua" <<'EOF'
local keys = {}
for line in io.lines(os.getenv("BENCH_KEYS_FILE")) do keys[#keys + 1] = line end
local i = 0
request = function()
  i = i % #keys + 1
  wrk.headers["Authorization"] = "Api-Key " .. keys[i]
  return wrk.format()
end
EOF

free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# bench BACKEND URL: prints one line per mode, the median req/s.
bench() {
  local backend=$1 url=$2
  : >"$work/keys.txt"
  chmod 600 "$work/keys.txt"
  DATABASE_URL=$url "$bin/apikey" migrate >/dev/null
  local i
  for i in $(seq 1 "$nkeys"); do
    DATABASE_URL=$url "$bin/apikey" create --name "bench $i" >>"$work/keys.txt" 2>/dev/null
  done
  declare -A results=()
  local round mode ms port pid rps
  for round in $(seq 1 "$rounds"); do
    for mode in off default every; do
      case $mode in off) ms=0 ;; default) ms=60000 ;; every) ms=1 ;; esac
      port=$(free_port)
      DATABASE_URL=$url BIND=127.0.0.1:$port APIKEY_LAST_USED_MS=$ms \
        "$bin/quickstart" >"$work/quickstart-$backend-$mode.log" 2>&1 &
      pid=$!
      pids+=("$pid")
      for i in $(seq 1 100); do
        curl -s -o /dev/null "http://127.0.0.1:$port/" && break
        sleep 0.1
      done
      # Warm: every key verified once (and cached).
      BENCH_KEYS_FILE=$work/keys.txt wrk -t1 -c1 -d2s -s "$work/keys.lua" \
        "http://127.0.0.1:$port/protected" >/dev/null 2>&1 || true
      rps=$(BENCH_KEYS_FILE=$work/keys.txt wrk -t"$threads" -c"$connections" -d"$duration" \
        -s "$work/keys.lua" "http://127.0.0.1:$port/protected" 2>&1 |
        awk '/Non-2xx/ {bad = $NF} /^Requests\/sec:/ {rps = $2} END {
          if (bad > 0) printf "%.0f(%d non-2xx)", rps, bad; else printf "%.0f", rps }')
      kill "$pid" 2>/dev/null || true
      wait "$pid" 2>/dev/null || true
      say "$backend $mode round $round: $rps req/s"
      results[$mode]="${results[$mode]:-} $rps"
    done
  done
  local written
  written=$(DATABASE_URL=$url "$bin/apikey" list --json |
    python3 -c 'import json,sys; print(sum(1 for k in json.load(sys.stdin) if k["last_used_at"]))')
  for mode in off default every; do
    # shellcheck disable=SC2086
    printf '| %s | %s | %s | %s |\n' "$backend" "$mode" \
      "$(printf '%s\n' ${results[$mode]} | sed 's/(.*//' | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}')" \
      "${results[$mode]# }"
  done
  say "$backend: $written of $nkeys keys have a last_used_at"
}

echo "| backend | tracking | req/s (median) | rounds |"
echo "| --- | --- | ---: | --- |"
bench sqlite "sqlite://$work/keys.db"
if out=$(APIKEY_PG_ROOT=$work/pg scripts/pg.sh start 2>&1); then
  pg_started=1
  pg_url=$(printf '%s\n' "$out" | sed -n 's/^DATABASE_URL=//p')
  bench postgres "$pg_url"
else
  say "no PostgreSQL server could be started: skipped ($out)"
fi
echo
echo "machine: $(nproc) cores; wrk -t$threads -c$connections -d$duration; $nkeys keys round-robin"
