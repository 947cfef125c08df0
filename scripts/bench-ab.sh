#!/usr/bin/env bash
# A/B of the guarded request's cost between builds: for each folder of
# release binaries (quickstart and apikey), a quickstart on a fresh
# database (SQLite, then PostgreSQL), `wrk -t1 -c32` on `GET /` and on
# `GET /protected` with a valid key alternately, BENCH_ROUNDS rounds of
# BENCH_DURATION each; prints the medians, /protected / GET /, and the
# server's CPU time per request (user + system, from /proc/PID/stat: less
# noisy than throughput, which also depends on how wrk is scheduled).
#
#   scripts/bench-ab.sh DIR_A DIR_B ...
#
# e.g. cargo build --release -p apikey-examples -p apikey-cli --bin quickstart
# --bin apikey, then copy target/release/{quickstart,apikey} into a folder
# per commit. Needs wrk and curl; PostgreSQL from scripts/pg.sh (a
# throwaway cluster under target/bench/ab/pg, stopped at the end). The key
# stays in this process's environment (not printed, not on a command line).
set -euo pipefail
[ $# -ge 1 ] || { echo "usage: $0 BIN_DIR..." >&2; exit 2; }
repo=$(cd "$(dirname "$0")/.." && pwd)
cd "$repo"
dur=${BENCH_DURATION:-8s}
rounds=${BENCH_ROUNDS:-3}
work=${CARGO_TARGET_DIR:-$repo/target}/bench/ab
rm -rf "$work"; mkdir -p "$work"; chmod 700 "$work"
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  APIKEY_PG_ROOT=$work/pg scripts/pg.sh stop >/dev/null 2>&1 || true
}
trap cleanup EXIT
eval "$(APIKEY_PG_ROOT=$work/pg scripts/pg.sh start | grep '^DATABASE_URL=')"
pg_url=$DATABASE_URL
unset DATABASE_URL
printf 'wrk.headers["Authorization"] = os.getenv("BENCH_AUTH")\n' >"$work/auth.lua"
tick=$(getconf CLK_TCK)
# run URL [wrk args...]: "req/s cpu-µs-per-request" of one wrk run
run() {
  local url=$1 before after out
  shift
  before=$(awk '{print $14 + $15}' "/proc/$server/stat")
  out=$(wrk -t1 -c32 -d"$dur" "$@" "$url")
  after=$(awk '{print $14 + $15}' "/proc/$server/stat")
  echo "$out" | awk -v b="$before" -v a="$after" -v t="$tick" '
    /requests in/ {n = $1} /Requests\/sec/ {r = $2}
    END {printf "%s %.2f\n", r, (a - b) / t / n * 1e6}'
}
echo "| backend | binaries | GET / req/s | /protected req/s | ratio | server CPU per request, GET / and /protected (µs) | rounds (GET /; /protected, req/s) |"
echo "| --- | --- | ---: | ---: | ---: | ---: | --- |"
n=0
for backend in sqlite postgres; do
  for dir in "$@"; do
    n=$((n + 1))
    if [ "$backend" = sqlite ]; then
      url=$work/ab$n.sqlite3
    else
      psql -X -q -d "$pg_url" -c "CREATE DATABASE ab$n"
      url=${pg_url%/*}/ab$n
    fi
    "$dir/apikey" --database-url "$url" migrate >/dev/null 2>&1
    BENCH_AUTH="Api-Key $("$dir/apikey" --database-url "$url" create --name ab 2>/dev/null)"
    export BENCH_AUTH
    port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
    DATABASE_URL=$url BIND=127.0.0.1:$port "$dir/quickstart" >"$work/quickstart$n.log" 2>&1 &
    server=$!
    pids+=("$server")
    for _ in $(seq 100); do curl -sf -o /dev/null "http://127.0.0.1:$port/" && break; sleep 0.1; done
    wrk -t1 -c32 -d2s -s "$work/auth.lua" "http://127.0.0.1:$port/protected" >/dev/null
    open=() guarded=()
    for _ in $(seq "$rounds"); do
      open+=("$(run "http://127.0.0.1:$port/")")
      guarded+=("$(run "http://127.0.0.1:$port/protected" -s "$work/auth.lua")")
    done
    kill "$server"; wait "$server" 2>/dev/null || true
    python3 - "$backend" "$dir" "${open[*]}" "${guarded[*]}" <<'PY'
import statistics, sys
def parse(arg):
    v = [float(x) for x in arg.split()]
    return v[0::2], v[1::2]
o, oc = parse(sys.argv[3])
g, gc = parse(sys.argv[4])
mo, mg = statistics.median(o), statistics.median(g)
print(f"| {sys.argv[1]} | {sys.argv[2]} | {mo:,.0f} | {mg:,.0f} | {mg / mo:.3f} | "
      f"{statistics.median(oc):.2f} / {statistics.median(gc):.2f} | "
      f"{' '.join(f'{x:,.0f}' for x in o)}; {' '.join(f'{x:,.0f}' for x in g)} |")
PY
  done
done
