#!/usr/bin/env bash
# What rate limits and quotas cost a guarded request (issue 14), with wrk
# against the release quickstart:
#
#   scripts/bench-limits.sh
#
# On SQLite and on PostgreSQL (a throwaway cluster under
# target/bench/limits/pg; skipped with a message when none can be started),
# GET /protected with:
#   off       APIKEY_LIMITS=off, a key without limits (the baseline)
#   none      KeyLimits on, a key without a limit (the lookup is shared)
#   process   KeyLimits in process, a key limited to 1000000000/s (every
#             request checked, never refused)
#   redis     the same in Redis (a redis-server started here on a free port)
#   quota     a key with 10^15 uses (one UPDATE per request)
# then the throughput of OTHER keys while a quota key is used: a key
# without limits at full load (32 connections) alongside 4 connections on
# another key without limits (control), then alongside 4 connections on the
# quota key (the other keys' requests must not lose their cache to the
# quota writes). Rounds alternate (BENCH_ROUNDS, median kept). Keys come from the
# environment (never on a command line). Prints a Markdown table and writes
# target/bench/limits.md. Settings: BENCH_DURATION (10s) BENCH_THREADS (2)
# BENCH_CONNECTIONS (32) BENCH_ROUNDS (3) BENCH_BIN_DIR (take quickstart and
# apikey from there instead of building them).
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
cd "$repo"
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$repo/target}
out=$CARGO_TARGET_DIR/bench
work=$out/limits
duration=${BENCH_DURATION:-10s}
threads=${BENCH_THREADS:-2}
connections=${BENCH_CONNECTIONS:-32}
rounds=${BENCH_ROUNDS:-3}

say() { echo "bench-limits: $*" >&2; }

pids=()
cleanup() {
  local pid
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  if [ -n "${pg_started:-}" ]; then APIKEY_PG_ROOT=$work/pg scripts/pg.sh stop >/dev/null || true; fi
}
trap cleanup EXIT
trap 'exit 143' TERM INT

command -v wrk >/dev/null || { say "wrk is missing (apt-get install wrk)"; exit 1; }
command -v redis-server >/dev/null || { say "redis-server is missing (scripts/install-deps.sh)"; exit 1; }

if [ -n "${BENCH_BIN_DIR:-}" ]; then
  bin=$(cd "$BENCH_BIN_DIR" && pwd)
else
  say "building the quickstart and the apikey CLI (release)"
  cargo build --release --quiet -p apikey-examples -p apikey-cli --bin quickstart --bin apikey
  bin=$CARGO_TARGET_DIR/release
fi
quickstart=$bin/quickstart
apikey=$bin/apikey

rm -rf "$work"
mkdir -p "$work"
chmod 700 "$work"

free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

wait_up() { # url pid
  local i
  for i in $(seq 1 150); do
    if curl -s -o /dev/null "$1"; then return 0; fi
    kill -0 "$2" 2>/dev/null || { say "server $2 died; see $work/*.log"; return 1; }
    sleep 0.2
  done
  say "server at $1 did not come up"; return 1
}

stop_server() { kill "$1" 2>/dev/null || true; wait "$1" 2>/dev/null || true; }

cat >"$work/auth.lua" <<'LUA'
local auth = os.getenv("BENCH_AUTH")
if auth ~= nil and auth ~= "" then
  wrk.headers["Authorization"] = auth
end
LUA

# Redis, for the whole run.
redis_port=$(free_port)
mkdir -p "$work/redis"
redis-server --port "$redis_port" --bind 127.0.0.1 --save "" --appendonly no \
  --dir "$work/redis" >"$work/redis.log" 2>&1 &
pids+=($!)
for _ in $(seq 1 100); do
  [ "$(printf 'PING\r\n' | timeout 1 bash -c "exec 3<>/dev/tcp/127.0.0.1/$redis_port; cat >&3; head -c 7 <&3" 2>/dev/null)" = $'+PONG\r' ] && break
  sleep 0.1
done
redis_url=redis://127.0.0.1:$redis_port/

results=$work/rows.tsv
: >"$results"

# wrk_run OUT URL AUTH
wrk_run() {
  BENCH_AUTH=$3 timeout 120 wrk -t"$threads" -c"$connections" -d"$duration" --latency \
    -s "$work/auth.lua" "$2" >"$1" 2>&1 || say "wrk failed: $(tail -n 3 "$1")"
}

# wrk_bg OUT URL AUTH: the other key's load, 4 connections
wrk_bg() {
  BENCH_AUTH=$3 timeout 120 wrk -t1 -c4 -d"$duration" --latency \
    -s "$work/auth.lua" "$2" >"$1" 2>&1 || say "wrk failed: $(tail -n 3 "$1")"
}

# parse WRKOUT: "rps p99_ms non2xx"
parse() {
  awk '
    function ms(v) {
      if (v ~ /us$/) return v / 1000; if (v ~ /ms$/) return v + 0;
      if (v ~ /m$/) return v * 60000;  if (v ~ /s$/) return v * 1000; return v
    }
    /^Requests\/sec:/ { rps = $2 }
    $1 == "99%" { p99 = ms($2) }
    /Non-2xx or 3xx responses:/ { non2xx = $NF }
    END { printf "%.0f %.2f %d\n", rps, p99, non2xx + 0 }' "$1"
}

# server ENV... : starts the quickstart; sets pid and url
server() {
  local port
  port=$(free_port)
  env "$@" BIND=127.0.0.1:$port DATABASE_URL="$db_url" "$quickstart" \
    >"$work/qs-$port.log" 2>&1 &
  pid=$!
  pids+=("$pid")
  wait_up "http://127.0.0.1:$port/" "$pid"
  url=http://127.0.0.1:$port/protected
}

create() { # name args... -> the key
  DATABASE_URL=$db_url "$apikey" create --name "$@" 2>/dev/null
}

bench_backend() { # backend
  local backend=$1 r mode pid url
  say "$backend: keys"
  DATABASE_URL=$db_url "$apikey" migrate >/dev/null 2>&1
  local k_plain k_plain2 k_rated k_quota
  k_plain=$(create plain)
  k_plain2=$(create plain2)
  k_rated=$(create rated --rate 1000000000/s)
  k_quota=$(create quota --uses 1000000000000000)
  for r in $(seq 1 "$rounds"); do
    for mode in off none process redis quota; do
      local env=() key=$k_plain
      case $mode in
        off) env=(APIKEY_LIMITS=off) ;;
        process) key=$k_rated ;;
        redis) env=(APIKEY_REDIS_URL=$redis_url); key=$k_rated ;;
        quota) key=$k_quota ;;
      esac
      server "${env[@]}"
      wrk_run "$work/w.txt" "$url" "Api-Key $key"
      printf '%s\t%s\t%s\t%s\n' "$backend" "$mode" "$r" "$(parse "$work/w.txt")" >>"$results"
      say "$backend $mode round $r: $(parse "$work/w.txt")"
      stop_server "$pid"
    done
    # Other keys' throughput while another key is used: alongside a key
    # without limits (control), then alongside the quota key.
    for mode in alongside-plain alongside-quota; do
      local other=$k_plain2
      [ "$mode" = alongside-quota ] && other=$k_quota
      server
      wrk_bg "$work/bg.txt" "$url" "Api-Key $other" &
      local bg=$!
      wrk_run "$work/w.txt" "$url" "Api-Key $k_plain"
      wait "$bg" || true
      printf '%s\t%s\t%s\t%s\n' "$backend" "$mode" "$r" "$(parse "$work/w.txt")" >>"$results"
      say "$backend $mode round $r: plain key $(parse "$work/w.txt"), other $(parse "$work/bg.txt")"
      stop_server "$pid"
    done
  done
}

db_url=sqlite://$work/keys.db
bench_backend sqlite

if pg_env=$(APIKEY_PG_ROOT=$work/pg scripts/pg.sh start 2>"$work/pg.log"); then
  pg_started=1
  db_url=$(printf '%s\n' "$pg_env" | sed -n 's/^DATABASE_URL=//p')
  bench_backend postgres
else
  say "no PostgreSQL cluster could be started (see $work/pg.log): PostgreSQL skipped"
fi

# Median per (backend, mode); ratios to `off` (alongside-*: to
# alongside-plain).
median() { sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }
{
  echo "| backend | run | req/s (median of $rounds) | p99 ms (median) | non-2xx | vs baseline |"
  echo "| --- | --- | ---: | ---: | ---: | ---: |"
  for be in sqlite postgres; do
    grep -q "^$be"$'\t' "$results" || continue
    for mo in off none process redis quota alongside-plain alongside-quota; do
      rows=$(awk -F'\t' -v b="$be" -v m="$mo" '$1 == b && $2 == m { print $4 }' "$results")
      [ -n "$rows" ] || continue
      rps=$(printf '%s\n' "$rows" | cut -d' ' -f1 | median)
      p99=$(printf '%s\n' "$rows" | cut -d' ' -f2 | median)
      bad=$(printf '%s\n' "$rows" | awk '{ s += $3 } END { print s + 0 }')
      base_mode=off
      case $mo in alongside-*) base_mode=alongside-plain ;; esac
      base=$(awk -F'\t' -v b="$be" -v m="$base_mode" '$1 == b && $2 == m { print $4 }' "$results" | cut -d' ' -f1 | median)
      ratio=$(awk -v a="$rps" -v b="$base" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "-" }')
      echo "| $be | $mo | $rps | $p99 | $bad | $ratio |"
    done
  done
} | tee "$out/limits.md"
