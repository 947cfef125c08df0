#!/usr/bin/env bash
# End-to-end load: what a guarded request costs, against the unguarded
# ceiling and against the reference (djangorestframework-api-key 3.1.0).
#
#   scripts/bench-load.sh
#
# Builds the quickstart and the apikey CLI in release mode, then, one server
# at a time, runs wrk from this machine against:
#   - the quickstart on SQLite, default configuration (verification cache
#     on): GET /, GET /protected with a valid key, with a wrong key (a real
#     prefix, a wrong secret), with no key, a flood of never-issued random
#     keys (with valid-key requests alongside, which must all be 200), and a
#     mixed load (valid, revoked, wrong secret, garbage, no key at once);
#     then the same basic set with APIKEY_CACHE=off;
#   - the same on PostgreSQL (a throwaway cluster under target/bench/load/pg;
#     skipped with a message when no server can be started);
#   - the reference: benches/reference/, a DRF view guarded by HasAPIKey,
#     served by gunicorn (workers = cores), keys in its own SQLite file, from a
#     venv built here (target/bench/reference-venv).
# Keys are made with each side's own tools (`apikey create`, APIKey.objects
# .create_key). The plain keys stay in this process's environment: they are
# not printed, logged, or put on a command line.
#
# Prints a Markdown table (requests/s, p50/p99 latency, peak server RSS, the
# 1-minute load average before each run) and the ratios, and writes it to
# target/bench/results.md. Settings (environment):
#   BENCH_DURATION (10s)  BENCH_THREADS (2)  BENCH_CONNECTIONS (32)
#   BENCH_ROUNDS (3: GET / and the valid key alternately, median kept)
#   BENCH_TIMEOUT (2400: seconds for the whole script, build included)
#   BENCH_BIN_DIR         take quickstart and apikey from this folder instead
#                         of building them
set -euo pipefail

if [ -z "${BENCH_LOAD_INNER:-}" ]; then
  # Everything is bounded in time, the build included.
  exec timeout --kill-after=30 "${BENCH_TIMEOUT:-2400}" \
    env BENCH_LOAD_INNER=1 bash "$0" "$@"
fi

repo=$(cd "$(dirname "$0")/.." && pwd)
cd "$repo"
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$repo/target}
out=$CARGO_TARGET_DIR/bench
work=$out/load
duration=${BENCH_DURATION:-10s}
threads=${BENCH_THREADS:-2}
connections=${BENCH_CONNECTIONS:-32}
rounds=${BENCH_ROUNDS:-3}
runs=0
cores=$(nproc)

say() { echo "bench-load: $*" >&2; }
load1() { cut -d' ' -f1 /proc/loadavg; }

pids=()
cleanup() {
  local pid
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  if [ -n "${pg_started:-}" ]; then APIKEY_PG_ROOT=$work/pg scripts/pg.sh stop || true; fi
}
trap cleanup EXIT
trap 'exit 143' TERM INT

# --- tools -------------------------------------------------------------------
if ! command -v wrk >/dev/null; then
  say "installing wrk"
  apt-get install -y wrk >/dev/null 2>&1 || { apt-get update -qq && apt-get install -y wrk >/dev/null; }
fi
command -v curl >/dev/null || { apt-get update -qq && apt-get install -y curl >/dev/null; }

if [ -n "${BENCH_BIN_DIR:-}" ]; then
  bin=$(cd "$BENCH_BIN_DIR" && pwd)
  say "taking the quickstart and the apikey CLI from $bin (not built here)"
else
  say "building the quickstart and the apikey CLI (release)"
  cargo build --release --quiet -p apikey-examples -p apikey-cli --bin quickstart --bin apikey
  bin=$CARGO_TARGET_DIR/release
fi
quickstart=$bin/quickstart
apikey=$bin/apikey
for b in "$quickstart" "$apikey"; do
  [ -x "$b" ] || { say "missing $b"; exit 1; }
done

rm -rf "$work"
mkdir -p "$work"
chmod 700 "$work"

# The reference's venv, rebuilt when its requirements change.
ref_req=$repo/benches/reference/requirements.txt
venv=$out/reference-venv
want=$( { cat "$ref_req"; python3 -c 'import sys; print(sys.version_info[:2])'; } | sha256sum | cut -d' ' -f1)
if [ ! -x "$venv/bin/gunicorn" ] || [ "$(cat "$venv/.requirements.sha256" 2>/dev/null)" != "$want" ]; then
  say "building the reference venv ($venv)"
  rm -rf "$venv"
  python3 -m venv "$venv"
  "$venv/bin/python" -m pip install --quiet --disable-pip-version-check --no-input -r "$ref_req" >&2
  echo "$want" >"$venv/.requirements.sha256"
fi

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

stop_server() { # pid
  kill "$1" 2>/dev/null || true
  wait "$1" 2>/dev/null || true
}

# Resident memory of a process and its children (gunicorn: master + workers), KiB.
rss_kib() {
  local total=0 p v
  for p in "$1" $(pgrep -P "$1" || true); do
    v=$(awk '/^VmRSS:/ {print $2}' "/proc/$p/status" 2>/dev/null || echo 0)
    total=$((total + ${v:-0}))
  done
  echo "$total"
}

# The Authorization header comes from the environment (BENCH_AUTH), so the
# key is on no command line.
cat >"$work/auth.lua" <<'EOF'
local auth = os.getenv("BENCH_AUTH")
if auth ~= nil and auth ~= "" then
  wrk.headers["Authorization"] = auth
end
EOF

# A new well-formed key that was never issued on every request (random
# prefix and secret): the flood the negative cache cannot absorb. The
# request is formatted once around a marker, and each key is 40 random
# bytes of the alphabet turned into one string: wrk's one Lua state per
# thread then spends little per request, so the flood measures the server
# more than the load generator (run 21: the first version, a `string.sub`
# per character and `wrk.format()` per request, kept wrk busier).
cat >"$work/random.lua" <<'EOF'
local alphabet = {string.byte("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789", 1, 62)}
math.randomseed(os.time() + math.floor(os.clock() * 1000000))
local random, char, buf = math.random, string.char, {}
local function rnd(n)
  for i = 1, n do
    buf[i] = alphabet[random(62)]
  end
  return char(unpack(buf, 1, n))
end
local head, tail
request = function()
  if head == nil then
    wrk.headers["Authorization"] = "Api-Key @KEY@"
    local r = wrk.format()
    local s, e = r:find("@KEY@", 1, true)
    head, tail = r:sub(1, s - 1), r:sub(e + 1)
  end
  return head .. rnd(8) .. "." .. rnd(32) .. tail
end
EOF

results=$work/rows.tsv
: >"$results"

# run LABEL BACKEND REQUEST URL PID AUTH
run() {
  local label=$1 backend=$2 request=$3 url=$4 pid=$5 auth=$6
  runs=$((runs + 1))
  local status load peak=0 r wout=$work/wrk-$runs.txt
  status=$(curl -s -o /dev/null -w '%{http_code}' \
    -K <(if [ -n "$auth" ]; then printf 'header = "Authorization: %s"\n' "$auth"; fi) "$url")
  load=$(load1)
  say "$label $backend $request: status $status, load $load, wrk -t$threads -c$connections -d$duration"
  (
    while kill -0 "$pid" 2>/dev/null; do rss_kib "$pid"; sleep 0.5; done
  ) >"$work/rss.txt" 2>/dev/null &
  local sampler=$!
  BENCH_AUTH=$auth timeout 120 wrk -t"$threads" -c"$connections" -d"$duration" --latency \
    -s "$work/auth.lua" "$url" >"$wout" 2>&1 || say "wrk failed: $(tail -n 3 "$wout")"
  kill "$sampler" 2>/dev/null || true
  wait "$sampler" 2>/dev/null || true
  for r in $(cat "$work/rss.txt"); do [ "$r" -gt "$peak" ] && peak=$r; done
  awk -v label="$label" -v backend="$backend" -v request="$request" -v status="$status" \
      -v peak="$peak" -v load="$load" '
    function ms(v) {
      if (v ~ /us$/) return v / 1000; if (v ~ /ms$/) return v + 0;
      if (v ~ /m$/) return v * 60000;  if (v ~ /s$/) return v * 1000; return v
    }
    /^Requests\/sec:/ { rps = $2 }
    $1 == "50%" { p50 = ms($2) }
    $1 == "99%" { p99 = ms($2) }
    /Non-2xx or 3xx responses:/ { non2xx = $NF }
    /Socket errors:/ { errors = $0; sub(/.*Socket errors: */, "", errors) }
    END {
      printf "%s\t%s\t%s\t%s\t%.0f\t%.2f\t%.2f\t%.1f\t%s\t%s\t%s\n", label, backend, request,
        status, rps, p50, p99, peak / 1024, load, non2xx + 0, (errors == "" ? "-" : errors)
    }' "$wout" >>"$results"
}

# flood LABEL BACKEND BASE PID KEY: never-issued random keys at full load,
# with a few connections of valid-key requests alongside, which must all
# be answered 200.
flood() {
  local label=$1 backend=$2 base=$3 pid=$4 key=$5
  local wout=$work/flood-$backend.txt vout=$work/flood-valid-$backend.txt load
  load=$(load1)
  say "$label $backend flood of never-issued keys (+ valid keys on 4 connections)"
  BENCH_AUTH="Api-Key $key" timeout 120 wrk -t1 -c4 -d"$duration" --latency \
    -s "$work/auth.lua" "$base/protected" >"$vout" 2>&1 &
  local valid=$!
  timeout 120 wrk -t"$threads" -c"$connections" -d"$duration" --latency \
    -s "$work/random.lua" "$base/protected" >"$wout" 2>&1 || true
  wait "$valid" || true
  awk -v label="$label" -v backend="$backend" -v load="$load" -v vout="$vout" '
    function ms(v) {
      if (v ~ /us$/) return v / 1000; if (v ~ /ms$/) return v + 0;
      if (v ~ /m$/) return v * 60000;  if (v ~ /s$/) return v * 1000; return v
    }
    /^Requests\/sec:/ { rps = $2 }
    $1 == "50%" { p50 = ms($2) }
    $1 == "99%" { p99 = ms($2) }
    END {
      vnon = 0; vreq = 0
      while ((getline line < vout) > 0) {
        if (line ~ /Non-2xx or 3xx responses:/) { n = split(line, f, " "); vnon = f[n] }
        if (line ~ /requests in/) { split(line, f, " "); vreq = f[1] }
      }
      printf "%s\t%s\t%s\t%s\t%.0f\t%.2f\t%.2f\t%s\t%s\t%s\t%s\n", label, backend,
        "GET /protected, never-issued keys (flood)", 401, rps, p50, p99, "-", load,
        "valid alongside: " vreq " requests, " vnon " non-2xx", "-"
    }' "$wout" >>"$results"
}

# mixed LABEL BACKEND BASE KEY REVOKED: five kinds of requests at once (12
# connections each, BENCH_MIXED_DURATION, 20 s): valid, revoked, wrong
# secret, garbage, no key; requests/s, p99 and max latency per kind.
mixed() {
  local label=$1 backend=$2 base=$3 key=$4 revoked=$5
  local prefix=${key%%.*} kind auth w wpids=()
  say "$label $backend mixed load (5 kinds x 12 connections, ${BENCH_MIXED_DURATION:-20s})"
  for kind in valid revoked wrong garbage none; do
    case $kind in
      valid) auth="Api-Key $key" ;;
      revoked) auth="Api-Key $revoked" ;;
      wrong) auth="Api-Key $prefix.wrongsecretwrongsecretwrongsecre" ;;
      garbage) auth="Api-Key not-a-key" ;;
      none) auth="" ;;
    esac
    BENCH_AUTH=$auth timeout 120 wrk -t1 -c12 -d"${BENCH_MIXED_DURATION:-20s}" --latency \
      -s "$work/auth.lua" "$base/protected" >"$work/mixed-$backend-$kind.txt" 2>&1 &
    wpids+=($!)
  done
  for w in "${wpids[@]}"; do wait "$w" || true; done
  for kind in valid revoked wrong garbage none; do
    awk -v label="$label" -v backend="$backend" -v kind="$kind" '
      function ms(v) {
        if (v ~ /us$/) return v / 1000; if (v ~ /ms$/) return v + 0;
        if (v ~ /m$/) return v * 60000;  if (v ~ /s$/) return v * 1000; return v
      }
      /^    Latency/ { max = ms($4) }
      $1 == "99%" { p99 = ms($2) }
      /^Requests\/sec:/ { rps = $2 }
      /Socket errors:/ { errors = $0; sub(/.*Socket errors: */, "", errors) }
      END { printf "| %s | %s | %s | %.0f | %.2f | %.2f | %s |\n", label, backend, kind, rps, p99, max, (errors == "" ? "-" : errors) }
    ' "$work/mixed-$backend-$kind.txt" >>"$work/mixed.md"
  done
}

# guarded_set LABEL BACKEND BASE PID KEY
# GET / and the valid key, whose ratio is the headline, run BENCH_ROUNDS
# times alternately (one run of each is within a few % of noise of the
# other on this machine); the row kept for each is the run with the median
# requests/s.
guarded_set() {
  local label=$1 backend=$2 base=$3 pid=$4 key=$5
  local prefix=${key%%.*} round all=$results request
  results=$work/rounds.tsv
  : >"$results"
  for round in $(seq 1 "$rounds"); do
    run "$label" "$backend" "GET /" "$base/" "$pid" ""
    run "$label" "$backend" "GET /protected, valid key" "$base/protected" "$pid" "Api-Key $key"
  done
  results=$all
  for request in "GET /" "GET /protected, valid key"; do
    awk -F'\t' -v r="$request" '$3 == r' "$work/rounds.tsv" | sort -t$'\t' -k5,5n \
      | awk -v n="$rounds" 'NR == int((n + 1) / 2)' >>"$results"
  done
  run "$label" "$backend" "GET /protected, wrong key" "$base/protected" "$pid" \
    "Api-Key $prefix.wrongsecretwrongsecretwrongsecre"
  run "$label" "$backend" "GET /protected, no key" "$base/protected" "$pid" ""
}

# --- apikey-rs: the quickstart -------------------------------------------------
quickstart_on() { # BACKEND URL [LABEL APIKEY_CACHE]
  local backend=$1 url=$2 label=${3:-apikey-rs} cache=${4:-} key revoked port pid
  "$apikey" --database-url "$url" migrate >/dev/null
  key=$("$apikey" --database-url "$url" create --name bench)
  revoked=$("$apikey" --database-url "$url" create --name bench-revoked)
  "$apikey" --database-url "$url" revoke "${revoked%%.*}" >/dev/null
  port=$(free_port)
  DATABASE_URL=$url BIND=127.0.0.1:$port APIKEY_CACHE=$cache "$quickstart" \
    >"$work/quickstart-$backend$cache.log" 2>&1 &
  pid=$!
  pids+=("$pid")
  wait_up "http://127.0.0.1:$port/" "$pid"
  guarded_set "$label" "$backend" "http://127.0.0.1:$port" "$pid" "$key"
  if [ -z "$cache" ]; then
    flood "$label" "$backend" "http://127.0.0.1:$port" "$pid" "$key"
    mixed "$label" "$backend" "http://127.0.0.1:$port" "$key" "$revoked"
  fi
  stop_server "$pid"
}

: >"$work/mixed.md"
# The default: the verification cache on, invalidated by the change feed.
quickstart_on sqlite "$work/apikey-rs.sqlite3"
# Every request checked against the database (APIKEY_CACHE=off).
quickstart_on sqlite "$work/apikey-rs.sqlite3" "uncached apikey-rs (APIKEY_CACHE=off)" off

pg_url=
if pg_out=$(APIKEY_PG_ROOT=$work/pg scripts/pg.sh start 2>"$work/pg-start.log"); then
  pg_started=1
  pg_url=$(printf '%s\n' "$pg_out" | sed -n 's/^DATABASE_URL=//p')
  quickstart_on postgres "$pg_url"
  quickstart_on postgres "$pg_url" "uncached apikey-rs (APIKEY_CACHE=off)" off
else
  say "PostgreSQL could not be started ($(tail -n 1 "$work/pg-start.log")); skipping it"
fi

# --- the reference: DRF + djangorestframework-api-key under gunicorn -----------
export REFBENCH_DB=$work/reference.sqlite3
ref_key=$("$venv/bin/python" benches/reference/setup_keys.py)
ref_port=$(free_port)
"$venv/bin/gunicorn" --chdir benches/reference --workers "$cores" \
  --bind "127.0.0.1:$ref_port" --log-level warning refbench.wsgi:application \
  >"$work/gunicorn.log" 2>&1 &
ref_pid=$!
pids+=("$ref_pid")
wait_up "http://127.0.0.1:$ref_port/" "$ref_pid"
guarded_set "reference (DRF + drf-api-key 3.1.0, gunicorn x$cores)" sqlite \
  "http://127.0.0.1:$ref_port" "$ref_pid" "$ref_key"
stop_server "$ref_pid"
unset ref_key

# --- the report ----------------------------------------------------------------
rps() { awk -F'\t' -v l="$1" -v b="$2" -v r="$3" 'index($1, l) == 1 && $2 == b && $3 == r { print $5 }' "$results"; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (a == "" || b == "" || b == 0) print "n/a"; else printf "%.2f", a / b }'; }

report=$out/results.md
{
  echo "## Load: wrk -t$threads -c$connections -d$duration --latency, same machine"
  echo
  echo "$(date -u '+%Y-%m-%d %H:%M UTC'); $cores cores ($(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n 1)); $(awk '/MemTotal/ {printf "%.1f GiB RAM", $2 / 1048576}' /proc/meminfo); commit $(git rev-parse --short HEAD 2>/dev/null || echo '?')"
  echo
  echo "| server | store | request | status | req/s | p50 ms | p99 ms | peak RSS MiB | load (1 min) before | non-2xx | socket errors |"
  echo "| --- | --- | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | --- |"
  awk -F'\t' '{ printf "| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n", $1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11 }' "$results"
  echo
  echo "Ratios (requests/s):"
  echo
  for b in sqlite postgres; do
    v=$(rps apikey-rs "$b" "GET /protected, valid key"); u=$(rps apikey-rs "$b" "GET /")
    [ -n "$u" ] && echo "- apikey-rs $b, guarded (valid key) / unguarded GET /: $(ratio "$v" "$u")"
  done
  for b in sqlite postgres; do
    v=$(rps apikey-rs "$b" "GET /protected, never-issued keys (flood)"); u=$(rps apikey-rs "$b" "GET /")
    [ -n "$u" ] && echo "- apikey-rs $b, never-issued key flood / unguarded GET /: $(ratio "$v" "$u")"
    v=$(rps uncached "$b" "GET /protected, valid key"); u=$(rps uncached "$b" "GET /")
    [ -n "$u" ] && echo "- uncached apikey-rs $b, guarded (valid key) / unguarded GET /: $(ratio "$v" "$u")"
  done
  rv=$(rps reference sqlite "GET /protected, valid key")
  for b in sqlite postgres; do
    for r in "GET /protected, valid key" "GET /protected, wrong key" "GET /protected, no key"; do
      v=$(rps apikey-rs "$b" "$r")
      [ -n "$v" ] && echo "- apikey-rs $b / reference, $r: $(ratio "$v" "$(rps reference sqlite "$r")")"
    done
    v=$(rps uncached "$b" "GET /protected, valid key")
    [ -n "$v" ] && echo "- uncached apikey-rs $b / reference, GET /protected, valid key: $(ratio "$v" "$rv")"
  done
  echo "- reference, guarded (valid key) / unguarded GET /: $(ratio "$rv" "$(rps reference sqlite "GET /")")"
  echo "- apikey-rs GET / / reference GET /: $(ratio "$(rps apikey-rs sqlite "GET /")" "$(rps reference sqlite "GET /")")"
  echo
  echo "Mixed load, default configuration (wrk -t1 -c12 per kind, all five at once):"
  echo
  echo "| server | store | kind | req/s | p99 ms | max ms | socket errors |"
  echo "| --- | --- | --- | ---: | ---: | ---: | --- |"
  cat "$work/mixed.md"
} >"$report"
cat "$report"
say "written to $report (raw wrk output in $work)"
