#!/usr/bin/env bash
# Where the time of a guarded request goes: samples the release quickstart
# (SQLite) with `perf record -e cpu-clock --call-graph dwarf` while wrk sends GET /protected with
# a valid key, then prints the hottest symbols and a rough split by area.
#
#   scripts/bench-profile.sh            (BENCH_DURATION=10s by default)
#
# Needs perf (apt-get install linux-perf); cpu-clock is a software event, so
# it also works in VMs without hardware counters. Output: target/bench/profile/.
set -euo pipefail
if [ -z "${BENCH_PROFILE_INNER:-}" ]; then
  exec timeout --kill-after=30 "${BENCH_TIMEOUT:-1200}" env BENCH_PROFILE_INNER=1 bash "$0" "$@"
fi
repo=$(cd "$(dirname "$0")/.." && pwd)
cd "$repo"
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$repo/target}
duration=${BENCH_DURATION:-10s}
work=$CARGO_TARGET_DIR/bench/profile
command -v perf >/dev/null || { apt-get update -qq && apt-get install -y linux-perf >/dev/null; }
command -v wrk >/dev/null || { apt-get update -qq && apt-get install -y wrk >/dev/null; }

cargo build --release --quiet -p apikey-examples -p apikey-cli --bin quickstart --bin apikey
rm -rf "$work"; mkdir -p "$work"; chmod 700 "$work"
db=$work/keys.sqlite3
"$CARGO_TARGET_DIR/release/apikey" --database-url "$db" migrate >/dev/null
export BENCH_AUTH="Api-Key $("$CARGO_TARGET_DIR/release/apikey" --database-url "$db" create --name bench 2>/dev/null)"
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
DATABASE_URL=$db BIND=127.0.0.1:$port "$CARGO_TARGET_DIR/release/quickstart" >"$work/quickstart.log" 2>&1 &
pid=$!
trap 'kill $pid 2>/dev/null || true; wait $pid 2>/dev/null || true' EXIT
for _ in $(seq 1 100); do curl -s -o /dev/null "http://127.0.0.1:$port/" && break; sleep 0.1; done
cat >"$work/auth.lua" <<'LUA'
wrk.headers["Authorization"] = os.getenv("BENCH_AUTH")
LUA
echo "bench-profile: load before:$(uptime | sed 's/.*load average://')" >&2
perf record -q -e cpu-clock -F 499 --call-graph dwarf,16384 -p "$pid" -o "$work/perf.data" -- sleep "${duration%s}" 2>/dev/null &
perf_pid=$!
wrk -t2 -c32 -d"$duration" --latency -s "$work/auth.lua" "http://127.0.0.1:$port/protected" >"$work/wrk.txt"
wait "$perf_pid" || true
grep -E 'Requests/sec' "$work/wrk.txt" >&2

perf report -i "$work/perf.data" --no-children --sort symbol --stdio -g none 2>/dev/null \
  | grep -v '^#' | grep -v '^$' | sed -E 's/[[:space:]]+-[[:space:]]+-[[:space:]]*$//; s/[[:space:]]+$//' >"$work/symbols.txt"
perf report -i "$work/perf.data" --no-children --sort dso --stdio -g none 2>/dev/null \
  | grep -v '^#' | grep -v '^$' | sed -E 's/[[:space:]]+$//' >"$work/dso.txt"
echo "## hottest symbols (self time, quickstart process, all threads)"
head -n 30 "$work/symbols.txt" | cut -c1-170
echo
echo "## inclusive time (children included) of the frames that matter"
perf report -i "$work/perf.data" --children --sort symbol --stdio -g none 2>/dev/null \
  | grep -v '^#' | awk '{ $1 = $1; sub(/ - -$/, "") }; NF' >"$work/inclusive.txt"
grep -E 'BaseApiKeyManager<M>::get_from_key|Database::run|first_by_prefix|sqlite3_step|sqlite3Reprepare|hashers::verify|r2d2::Pool<M>::get|PooledConnection<|blocking::pool::spawn_blocking|blocking::pool::Inner::run|Condvar::wait_until_internal|\[k\] futex_wake|BoxedSelectStatement.*walk_ast|cached_statement_non_generic|DjangoTimestamp|HasApiKey.*from_request|poll_request|__x64_sys_sendto' \
  "$work/inclusive.txt" | cut -c1-170 | head -n 40
echo
echo "## by shared object"
head -n 10 "$work/dso.txt"
echo
echo "## rough split by area (self time)"
awk '
  { pct = $1; sub(/%/, "", pct); sym = $0; sub(/^ *[0-9.]+% +/, "", sym) }
  sym ~ /\[k\]/                                        { a["kernel (syscalls, scheduling, network)"] += pct; next }
  sym ~ /sqlite3|Vdbe|btree|Btree|pager|Pager|yy_|sqlite/ { a["SQLite engine (prepare + step)"] += pct; next }
  sym ~ /diesel/                                       { a["diesel (query building, row decoding)"] += pct; next }
  sym ~ /sha2|sha512|compress512|Sha512/               { a["SHA-512"] += pct; next }
  sym ~ /r2d2|parking_lot|Condvar|Mutex|futex/         { a["pool + locks (r2d2, parking_lot)"] += pct; next }
  sym ~ /tokio|spawn_blocking|blocking/                { a["tokio (tasks, blocking pool)"] += pct; next }
  sym ~ /malloc|free|realloc|memcpy|memmove|memset|cfree/ { a["allocator + memcpy"] += pct; next }
  sym ~ /actix|http|h1|Payload|Codec/                  { a["actix-web / HTTP"] += pct; next }
                                                       { a["other"] += pct }
  END { for (k in a) printf "%6.1f%%  %s\n", a[k], k }' "$work/symbols.txt" | sort -rn
