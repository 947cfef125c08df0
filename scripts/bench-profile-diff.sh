#!/usr/bin/env bash
# Where the guarded request's extra cost goes: one release quickstart
# (SQLite), `perf record -g` while `wrk -t1 -c32` sends `GET /`, then while
# it sends `GET /protected` with a valid key; each symbol's self time is
# divided by the requests answered, and the symbols are listed by how much
# more they cost per guarded request (µs). Before that, the server's CPU
# per request (from /proc/PID/stat) for `GET /`, `GET /` carrying the
# `Authorization` header, `/protected`, and `/protected` with
# `APIKEY_LIMITS=off` (a second server), BENCH_ROUNDS rounds each.
#
#   scripts/bench-profile-diff.sh [BIN_DIR]
#
# BIN_DIR holds release `quickstart` and `apikey` binaries (default: build
# them into target/release). Needs perf (apt-get install linux-perf), wrk,
# curl, python3. Output: target/bench/profile-diff/. Sampling noise is about
# ±0.02 µs per symbol; the kernel's scheduling symbols move with the load.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
cd "$repo"
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$repo/target}
dur=${BENCH_DURATION:-8s}
rounds=${BENCH_ROUNDS:-3}
dir=${1:-}
if [ -z "$dir" ]; then
  cargo build --release --quiet -p apikey-examples -p apikey-cli --bin quickstart --bin apikey
  dir=$CARGO_TARGET_DIR/release
fi
command -v perf >/dev/null || { apt-get update -qq && apt-get install -y linux-perf >/dev/null; }
command -v wrk >/dev/null || { apt-get update -qq && apt-get install -y wrk >/dev/null; }
work=$CARGO_TARGET_DIR/bench/profile-diff
rm -rf "$work"; mkdir -p "$work"; chmod 700 "$work"
printf 'wrk.headers["Authorization"] = os.getenv("BENCH_AUTH")\n' >"$work/auth.lua"
db=$work/keys.sqlite3
"$dir/apikey" --database-url "$db" migrate >/dev/null 2>&1
BENCH_AUTH="Api-Key $("$dir/apikey" --database-url "$db" create --name profile 2>/dev/null)"
export BENCH_AUTH
tick=$(getconf CLK_TCK)
server=
trap '[ -n "$server" ] && kill "$server" 2>/dev/null || true' EXIT
start() {
  port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  env "$@" DATABASE_URL="$db" BIND="127.0.0.1:$port" "$dir/quickstart" >"$work/quickstart.log" 2>&1 &
  server=$!
  for _ in $(seq 100); do curl -sf -o /dev/null "http://127.0.0.1:$port/" && break; sleep 0.1; done
  wrk -t1 -c32 -d2s -s "$work/auth.lua" "http://127.0.0.1:$port/protected" >/dev/null
}
stop() { kill "$server"; wait "$server" 2>/dev/null || true; server=; }
cpu() {
  local label=$1 before after out
  shift
  before=$(awk '{print $14 + $15}' "/proc/$server/stat")
  out=$(wrk -t1 -c32 -d"$dur" "$@")
  after=$(awk '{print $14 + $15}' "/proc/$server/stat")
  echo "$out" | awk -v b="$before" -v a="$after" -v t="$tick" -v l="$label" '
    /requests in/ {n = $1} /Requests\/sec/ {r = $2}
    END {printf "| %s | %s | %.2f |\n", l, r, (a - b) / t / n * 1e6}'
}
echo "| request | req/s | server CPU per request (µs) |"
echo "| --- | ---: | ---: |"
start X=1
for _ in $(seq "$rounds"); do
  cpu "GET /" "http://127.0.0.1:$port/"
  cpu "GET / with the Authorization header" -s "$work/auth.lua" "http://127.0.0.1:$port/"
  cpu "/protected" -s "$work/auth.lua" "http://127.0.0.1:$port/protected"
done
for which in bare guarded; do
  if [ "$which" = bare ]; then args=("http://127.0.0.1:$port/"); else args=(-s "$work/auth.lua" "http://127.0.0.1:$port/protected"); fi
  perf record -q -e cpu-clock -F 997 -g -p "$server" -o "$work/$which.data" -- sleep "${dur%s}" 2>/dev/null &
  perf_pid=$!
  wrk -t1 -c32 -d"$dur" "${args[@]}" >"$work/$which.wrk"
  wait "$perf_pid" || true
  awk '/requests in/ {print $1}' "$work/$which.wrk" >"$work/$which.n"
  perf report -i "$work/$which.data" --no-children --sort symbol --stdio -g none -F overhead,sample,symbol 2>/dev/null \
    | grep -v '^#' | grep -v '^$' >"$work/$which.self"
done
stop
start APIKEY_LIMITS=off
for _ in $(seq "$rounds"); do
  cpu "/protected, APIKEY_LIMITS=off" -s "$work/auth.lua" "http://127.0.0.1:$port/protected"
done
stop
python3 - "$work" <<'PY'
import re, sys
work = sys.argv[1]
def load(name):
    n = int(open(f"{work}/{name}.n").read())
    per = {}
    for line in open(f"{work}/{name}.self"):
        m = re.match(r"\s*[\d.]+%\s+(\d+)\s+(.*)$", line)
        if m:
            per[m.group(2).strip()] = int(m.group(1)) * 1e6 / 997 / n
    return per
bare, guarded = load("bare"), load("guarded")
print()
print(f"sampled µs per request: GET / {sum(bare.values()):.2f}, /protected {sum(guarded.values()):.2f}")
print()
print("| more per guarded request (µs) | GET / | /protected | symbol |")
print("| ---: | ---: | ---: | --- |")
rows = sorted(set(bare) | set(guarded), key=lambda k: -(guarded.get(k, 0) - bare.get(k, 0)))
for k in rows[:30]:
    print(f"| {guarded.get(k, 0) - bare.get(k, 0):+.3f} | {bare.get(k, 0):.3f} | {guarded.get(k, 0):.3f} | `{k[:110]}` |")
PY
