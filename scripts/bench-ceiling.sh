#!/usr/bin/env bash
# The guard against its ceiling: the guard-ceiling server (apikey-bench)
# answers `GET /` unguarded, `/header-only` through an extractor that only
# checks the `Authorization` header is there, and `/guarded` through
# `HasApiKey` (default manager, SQLite); `wrk -t1 -c32` loads the three in
# turn, BENCH_ROUNDS rounds (8) of BENCH_DURATION (5s) each, and the
# medians and their ratios to `GET /` are printed. The header-only ratio is
# what actix itself costs for one more header and an extractor: the part
# of the quickstart's guarded/unguarded ratio no key library can win back.
#
#   scripts/bench-ceiling.sh
#
# Needs wrk and curl. Output: target/bench/ceiling/ (the key in a 0600
# file there, never printed).
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
cd "$repo"
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$repo/target}
rounds=${BENCH_ROUNDS:-8}
dur=${BENCH_DURATION:-5s}
command -v wrk >/dev/null || { apt-get update -qq && apt-get install -y wrk >/dev/null; }
cargo build --release --quiet -p apikey-bench --bin guard-ceiling
work=$CARGO_TARGET_DIR/bench/ceiling
rm -rf "$work"; mkdir -p "$work"; chmod 700 "$work"
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
DATABASE_URL=$work/keys.sqlite3 KEY_FILE=$work/key BIND=127.0.0.1:$port \
  "$CARGO_TARGET_DIR/release/guard-ceiling" >"$work/server.log" 2>&1 &
server=$!
trap 'kill "$server" 2>/dev/null || true' EXIT
for _ in $(seq 100); do curl -sf -o /dev/null "http://127.0.0.1:$port/" && break; sleep 0.1; done
BENCH_AUTH="Api-Key $(cat "$work/key")"
export BENCH_AUTH
printf 'wrk.headers["Authorization"] = os.getenv("BENCH_AUTH")\n' >"$work/auth.lua"
base=http://127.0.0.1:$port
status=$(curl -s -o /dev/null -w '%{http_code}' -H "Authorization: $BENCH_AUTH" "$base/guarded")
[ "$status" = 200 ] || { echo "bench-ceiling: /guarded answered $status" >&2; exit 1; }
wrk -t1 -c32 -d2s -s "$work/auth.lua" "$base/guarded" >/dev/null
rps() { wrk -t1 -c32 -d"$dur" "$@" | awk '/Requests\/sec/ {print $2}'; }
: >"$work/rounds.tsv"
for _ in $(seq "$rounds"); do
  printf '%s\t%s\t%s\n' "$(rps "$base/")" "$(rps -s "$work/auth.lua" "$base/header-only")" \
    "$(rps -s "$work/auth.lua" "$base/guarded")" >>"$work/rounds.tsv"
done
python3 - "$work/rounds.tsv" <<'PY'
import statistics, sys
rows = [list(map(float, l.split())) for l in open(sys.argv[1]) if l.strip()]
bare, header, guarded = (statistics.median(c) for c in zip(*rows))
ratios = [(h / b, g / b) for b, h, g in rows]
print(f"{len(rows)} rounds, median req/s: GET / {bare:,.0f}, header-only {header:,.0f}, HasApiKey {guarded:,.0f}")
print(f"median of the rounds' ratios to GET /: header-only {statistics.median(r[0] for r in ratios):.3f}, "
      f"HasApiKey {statistics.median(r[1] for r in ratios):.3f}; HasApiKey / header-only "
      f"{statistics.median(g / h for _, h, g in rows):.3f}")
PY
