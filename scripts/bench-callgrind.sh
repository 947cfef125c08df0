#!/usr/bin/env bash
# Instructions per request, counted (not timed): one release quickstart
# (SQLite) under valgrind's callgrind, `wrk -t1 -c8` sending `GET /` for 5 s,
# then `GET /protected` with a valid key for 5 s, then with a well-formed
# key that was never issued (a 401, as in the flood) for 5 s, the counters
# zeroed before and dumped after each; prints the instructions per request
# of each, the guarded request's difference, and the functions (self cost)
# that make it.
# Deterministic where timing is not (this machine's req/s moves ±5 % run to
# run): use it to see whether a change to the hit path does less work.
#
#   scripts/bench-callgrind.sh [BIN_DIR]
#
# BIN_DIR holds release `quickstart` and `apikey` binaries (default: build
# them into target/release). Needs valgrind (apt-get install valgrind), wrk,
# curl, python3. Output: target/bench/callgrind/.
#
# Caveat: valgrind hides the CPU's SHA extensions, so SHA-256 runs its
# portable code (~3,500 instructions per hit instead of ~150 with SHA-NI):
# `sha2::sha256::compress256` in the guarded column is that, not the build.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
cd "$repo"
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$repo/target}
dir=${1:-}
if [ -z "$dir" ]; then
  cargo build --release --quiet -p apikey-examples -p apikey-cli --bin quickstart --bin apikey
  dir=$CARGO_TARGET_DIR/release
fi
dir=$(cd "$dir" && pwd)
command -v valgrind >/dev/null || { apt-get update -qq && apt-get install -y valgrind >/dev/null; }
command -v wrk >/dev/null || { apt-get update -qq && apt-get install -y wrk >/dev/null; }
work=$CARGO_TARGET_DIR/bench/callgrind
rm -rf "$work"; mkdir -p "$work"; chmod 700 "$work"
db=$work/keys.sqlite3
"$dir/apikey" --database-url "$db" migrate >/dev/null 2>&1
BENCH_AUTH="Api-Key $("$dir/apikey" --database-url "$db" create --name callgrind 2>/dev/null)"
export BENCH_AUTH
printf 'wrk.headers["Authorization"] = os.getenv("BENCH_AUTH")\n' >"$work/auth.lua"
BENCH_UNKNOWN="Api-Key $(python3 -c 'import secrets, string; a = string.ascii_letters + string.digits; print("".join(secrets.choice(a) for _ in range(8)) + "." + "".join(secrets.choice(a) for _ in range(32)))')"
export BENCH_UNKNOWN
printf 'wrk.headers["Authorization"] = os.getenv("BENCH_UNKNOWN")\n' >"$work/unknown.lua"
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
DATABASE_URL=$db BIND=127.0.0.1:$port valgrind --tool=callgrind \
  --callgrind-out-file="$work/cg.out" "$dir/quickstart" >"$work/quickstart.log" 2>&1 &
server=$!
trap 'kill "$server" 2>/dev/null || true' EXIT
for _ in $(seq 300); do curl -sf -o /dev/null "http://127.0.0.1:$port/" && break; sleep 0.2; done
# Warm: the key cached, the connections' buffers grown.
wrk -t1 -c8 -d3s -s "$work/auth.lua" "http://127.0.0.1:$port/protected" >/dev/null
wrk -t1 -c8 -d3s "http://127.0.0.1:$port/" >/dev/null
for which in bare guarded refused; do
  callgrind_control -z "$server" >/dev/null
  case $which in
    bare) out=$(wrk -t1 -c8 -d5s "http://127.0.0.1:$port/") ;;
    guarded) out=$(wrk -t1 -c8 -d5s -s "$work/auth.lua" "http://127.0.0.1:$port/protected") ;;
    refused) out=$(wrk -t1 -c8 -d5s -s "$work/unknown.lua" "http://127.0.0.1:$port/protected") ;;
  esac
  echo "$out" | awk '/requests in/ {print $1}' >"$work/$which.n"
  callgrind_control -d "$which" "$server" >/dev/null
done
kill "$server"; wait "$server" 2>/dev/null || true; server=
i=0
for which in bare guarded refused; do
  i=$((i + 1))
  n=$(ls "$work"/cg.out.* | sort | sed -n "${i}p")
  callgrind_annotate --threshold=100 "$n" >"$work/$which.self" 2>/dev/null
done
python3 - "$work" <<'PY'
import re, sys
work = sys.argv[1]
def load(name):
    n = int(open(f"{work}/{name}.n").read())
    per, total, started = {}, 0, False
    for line in open(f"{work}/{name}.self"):
        if "PROGRAM TOTALS" in line:
            total = int(line.split()[0].replace(",", "")) / n
        if "file:function" in line:
            started = True
            continue
        m = re.match(r"\s*([\d,]+)\s+(?:\([^)]*\)\s+)?(.*)$", line)
        if started and m:
            name_ = re.sub(r"\s*\[/.*\]$", "", m.group(2)).strip()
            per[name_] = per.get(name_, 0) + int(m.group(1).replace(",", "")) / n
    return n, total, per
nb, tb, b = load("bare")
ng, tg, g = load("guarded")
nr, tr, _ = load("refused")
print(f"GET /: {nb} requests, {tb:,.0f} instructions per request")
print(f"/protected: {ng} requests, {tg:,.0f} instructions per request")
print(f"/protected, a never-issued key (401): {nr} requests, {tr:,.0f} instructions per request")
print(f"difference: {tg - tb:+,.0f} per request (of which sha256's portable code under valgrind: "
      f"{g.get('???:sha2::sha256::compress256', 0):,.0f})")
print()
print("| more per guarded request | GET / | /protected | function (self) |")
print("| ---: | ---: | ---: | --- |")
skip = ("thread_start", "start_thread", "clone.S", "block_on", "enter_runtime",
        "__rust_begin_short_backtrace", "call_once{{vtable.shim}}")
rows = [k for k in set(b) | set(g) if not any(s in k for s in skip)]
rows.sort(key=lambda k: -(g.get(k, 0) - b.get(k, 0)))
for k in rows[:30]:
    print(f"| {g.get(k, 0) - b.get(k, 0):+,.0f} | {b.get(k, 0):,.0f} | {g.get(k, 0):,.0f} | `{k[:110]}` |")
PY
