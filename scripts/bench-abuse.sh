#!/usr/bin/env bash
# Abuse case: a flood of wrong secrets at the prefix of a legacy key, against
# the release quickstart (issue 12).
#
#   scripts/bench-abuse.sh
#
# Builds the quickstart and the apikey CLI in release mode, makes two keys
# with `apikey create` in a fresh SQLite file: a valid one, and one whose
# stored hash is rewritten the way djangorestframework-api-key < 3.0 wrote
# it (`pbkdf2_sha256`, 1,000,000 iterations, as Django 5.2 writes them; made
# with Python's hashlib). Then, against one quickstart server:
#
#   A1  valid key alone                (wrk -t1 -cVALID_CONNECTIONS)
#   B   the same valid-key load, while wrk floods GET /protected with random
#       wrong secrets at the legacy key's prefix (-t1 -c32), and the legacy
#       key itself is sent once the flood runs (again after Retry-After
#       while it is answered 503, up to 60 s)
#   A2  valid key alone again
#
# three times (BENCH_ROUNDS), the legacy hash written anew before each B
# (A1 B1 A2 B2 A3 B3 A4), and prints: valid-key requests/s in each phase,
# each ratio B_i / mean(A_i, A_i+1) (measured within one run, next to its
# neighbours: the machine is shared), the valid requests that
# were not answered 200 during the flood, the flood's answers, how many tries
# and seconds the legacy key took, and whether its stored hash was rewritten
# in the sha512 format. The plain keys stay in files of a private folder
# and in this process's environment; they are on no command line.
#
# Settings (environment): BENCH_DURATION (10s), BENCH_ROUNDS (3),
# BENCH_VALID_CONNECTIONS (16),
# BENCH_FLOOD_CONNECTIONS (32), BENCH_ITERATIONS (1000000),
# BENCH_TIMEOUT (1800 s for the whole script, build included).
set -euo pipefail

if [ -z "${BENCH_ABUSE_INNER:-}" ]; then
  exec timeout --kill-after=30 "${BENCH_TIMEOUT:-1800}" \
    env BENCH_ABUSE_INNER=1 bash "$0" "$@"
fi

repo=$(cd "$(dirname "$0")/.." && pwd)
cd "$repo"
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$repo/target}
work=$CARGO_TARGET_DIR/bench/abuse
duration=${BENCH_DURATION:-10s}
valid_c=${BENCH_VALID_CONNECTIONS:-16}
flood_c=${BENCH_FLOOD_CONNECTIONS:-32}
iterations=${BENCH_ITERATIONS:-1000000}
rounds=${BENCH_ROUNDS:-3}

say() { echo "bench-abuse: $*" >&2; }

pids=()
cleanup() {
  local pid
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
}
trap cleanup EXIT
trap 'exit 143' TERM INT

command -v wrk >/dev/null || { apt-get update -qq && apt-get install -y wrk >/dev/null; }
command -v curl >/dev/null || { apt-get update -qq && apt-get install -y curl >/dev/null; }

say "building the quickstart and the apikey CLI (release)"
cargo build --release --quiet -p apikey-examples -p apikey-cli --bin quickstart --bin apikey
quickstart=$CARGO_TARGET_DIR/release/quickstart
apikey=$CARGO_TARGET_DIR/release/apikey

rm -rf "$work"
mkdir -p "$work"
chmod 700 "$work"
db=$work/keys.db
export DATABASE_URL="sqlite://$db"

"$apikey" migrate >/dev/null 2>&1
valid=$("$apikey" create --name valid 2>/dev/null)
legacy=$("$apikey" create --name legacy 2>/dev/null)
legacy_prefix=${legacy%%.*}
legacy_hash() {
  LEGACY_KEY=$legacy DB=$db ITERATIONS=$iterations python3 - <<'EOF'
import base64, hashlib, os, secrets, sqlite3
key, iterations = os.environ["LEGACY_KEY"], int(os.environ["ITERATIONS"])
salt = secrets.token_hex(11)
digest = hashlib.pbkdf2_hmac("sha256", key.encode(), salt.encode(), iterations)
encoded = f"pbkdf2_sha256${iterations}${salt}${base64.b64encode(digest).decode()}"
con = sqlite3.connect(os.environ["DB"], timeout=30)
con.execute("UPDATE api_keys SET hashed_key = ? WHERE prefix = ?", (encoded, key.split(".")[0]))
con.commit()
EOF
}
stored_kind() {
  DB=$db PREFIX=$legacy_prefix python3 -c '
import os, sqlite3
row = sqlite3.connect(os.environ["DB"], timeout=30).execute(
    "SELECT hashed_key FROM api_keys WHERE prefix = ?", (os.environ["PREFIX"],)).fetchone()
print(row[0].split("$")[0] if row else "missing")'
}

port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
base=http://127.0.0.1:$port
BIND=127.0.0.1:$port "$quickstart" >"$work/server.log" 2>&1 &
server=$!
pids+=("$server")
for _ in $(seq 1 150); do
  curl -s -o /dev/null "$base/" && break
  kill -0 "$server" 2>/dev/null || { say "the server died: $(tail -n 3 "$work/server.log")"; exit 1; }
  sleep 0.2
done

printf 'header = "Authorization: Api-Key %s"\n' "$valid" >"$work/valid.curl"
printf 'header = "Authorization: Api-Key %s"\n' "$legacy" >"$work/legacy.curl"
status=$(curl -s -o /dev/null -w '%{http_code}' -K "$work/valid.curl" "$base/protected")
[ "$status" = 200 ] || { say "the valid key answers $status"; exit 1; }

cat >"$work/auth.lua" <<'EOF'
wrk.headers["Authorization"] = os.getenv("BENCH_AUTH")
EOF
# A new random wrong secret at the legacy key's prefix on every request.
cat >"$work/flood.lua" <<'EOF'
local charset = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
local prefix = os.getenv("LEGACY_PREFIX")
math.randomseed(os.time() + math.floor(os.clock() * 1000000))
request = function()
  local t = {}
  for i = 1, 32 do
    local k = math.random(1, 62)
    t[i] = charset:sub(k, k)
  end
  wrk.headers["Authorization"] = "Api-Key " .. prefix .. "." .. table.concat(t)
  return wrk.format()
end
EOF

valid_load() { # output file
  BENCH_AUTH="Api-Key $valid" timeout 120 wrk -t1 -c"$valid_c" -d"$duration" --latency \
    -s "$work/auth.lua" "$base/protected" >"$1" 2>&1
}
rps() { awk '/^Requests\/sec:/ { print $2 }' "$1"; }
non2xx() { awk '/Non-2xx or 3xx responses:/ { n = $NF } END { print n + 0 }' "$1"; }
errors() { awk '/Socket errors:/ { sub(/.*Socket errors: */, ""); print; f = 1 } END { if (!f) print "none" }' "$1"; }

# flood_round N: the legacy hash written anew, then the flood, the valid
# load alongside, and the legacy key's owner.
flood_round() {
  local n=$1 flood valid_b tries=0 status=none start retry elapsed
  legacy_hash
  say "B$n: valid key while $flood_c connections flood wrong secrets at the legacy prefix ($(stored_kind))"
  LEGACY_PREFIX=$legacy_prefix timeout 300 wrk -t1 -c"$flood_c" -d120s --timeout 60s \
    -s "$work/flood.lua" "$base/protected" >"$work/flood$n.txt" 2>&1 &
  flood=$!
  pids+=("$flood")
  sleep 2
  valid_load "$work/b$n.txt" &
  valid_b=$!
  # The legacy key's owner: one request, then again after Retry-After
  # while the answer is 503.
  start=$(date +%s.%N)
  while :; do
    tries=$((tries + 1))
    status=$(curl -s -o /dev/null -D "$work/legacy.headers" -w '%{http_code}' \
      --max-time 60 -K "$work/legacy.curl" "$base/protected" || echo 000)
    [ "$status" = 503 ] || break
    retry=$(awk 'tolower($1) == "retry-after:" { print $2 + 0 }' "$work/legacy.headers" | tr -d '\r')
    elapsed=$(python3 -c "import time; print(int(time.time() - $start))")
    [ "$elapsed" -lt 90 ] || break
    sleep "${retry:-1}"
  done
  echo "$status $tries $(python3 -c "import time; print(f'{time.time() - $start:.1f}')") $(stored_kind)" \
    >"$work/legacy$n.txt"
  wait "$valid_b" || true
  kill -INT "$flood" 2>/dev/null || true
  wait "$flood" 2>/dev/null || true
}

for n in $(seq 1 "$rounds"); do
  say "A$n: valid key alone ($duration, $valid_c connections)"
  valid_load "$work/a$n.txt"
  flood_round "$n"
done
last=$((rounds + 1))
say "A$last: valid key alone"
valid_load "$work/a$last.txt"

{
  echo "| round | valid alone before (req/s) | valid during the flood (req/s) | valid alone after (req/s) | ratio | valid not 200 during the flood | flood requests (all refused) | legacy key: answer, tries, seconds, stored hash after |"
  echo "| --- | --- | --- | --- | --- | --- | --- | --- |"
  for n in $(seq 1 "$rounds"); do
    a=$(rps "$work/a$n.txt"); b=$(rps "$work/b$n.txt"); c=$(rps "$work/a$((n + 1)).txt")
    ratio=$(python3 -c "print(f'{$b / (($a + $c) / 2):.2f}')")
    fr=$(awk '/requests in/ { print $1 }' "$work/flood$n.txt")
    fn=$(non2xx "$work/flood$n.txt")
    read -r ls lt lsec lkind <"$work/legacy$n.txt"
    echo "| $n | $a | $b | $c | **$ratio** | $(non2xx "$work/b$n.txt") ($(errors "$work/b$n.txt")) | $fr ($fn non-2xx) | $ls, $lt, $lsec s, $lkind |"
  done
  echo
  echo "Settings: valid load wrk -t1 -c$valid_c -d$duration; flood wrk -t1 -c$flood_c, a random"
  echo "32-character secret at the legacy prefix per request; legacy hash pbkdf2_sha256, $iterations iterations."
} | tee "$work/results.md"
