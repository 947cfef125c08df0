#!/usr/bin/env bash
# Revocation latency across processes (issue 11): how long two running
# servers on one database keep accepting a key after another process revokes
# it, on SQLite and on PostgreSQL, with the servers in their default
# configuration (verification cache on, no environment variable).
#
#   scripts/bench-revoke.sh
#
# Builds the quickstart, the organizations example, the apikey CLI and the
# driver (benches/src/bin/revoke_latency/) in release mode, then runs the
# driver four times, each with two fresh servers on a fresh database:
#   1. SQLite (a file under target/bench/revoke), `apikey revoke PREFIX`
#      against two quickstarts;
#   2. SQLite, `UPDATE organizations SET active = 0` (sqlite3) against two
#      organizations examples (a key narrowed out, the key row untouched);
#   3. and 4. the same on PostgreSQL (a throwaway cluster from scripts/pg.sh
#      under target/bench/revoke/pg, stopped at the end; psql for the UPDATE).
# A trial: a fresh key (`apikey create`, or a fresh organization and
# `organizations new-key`), 8 requests per server on one keep-alive connection
# (all 200; the cache is then serving it), one thread per server polling
# GET /protected (GET /organization) back to back on that connection, the
# command run as a child process, and polling until 250 ms after each
# server's first 401 (a 200 after it is a stale cache: reported, exit 1). See
# the driver's docs for the details.
#
# On PostgreSQL the driver also listens on apikey_changes itself (twice: a
# client that only waits, and one that also queries every 5 ms) and reports
# when the notification reached it, to tell a late notification from a slow
# feed.
#
# Prints, per scenario, the time from the command's return (and from its
# start) to each server's first 401: median, p90, max, per server and for
# both; the machine (nproc, CPU model, load average before and after each
# scenario, commit). Writes it all to target/bench/revoke/results.md, and
# every sample to target/bench/revoke/*.csv.
#
# Environment:
#   BENCH_TRIALS (50)      trials per scenario
#   BENCH_PAUSE_US (0)     pause between two polls of a server, µs (0: back
#                          to back; the two busy pollers then take CPU from
#                          the servers' feed threads on a small machine)
#   BENCH_BIN_DIR          take quickstart, organizations, apikey and
#                          revoke-latency from this folder instead of building
#   BENCH_TIMEOUT (1800)   seconds for the whole script, build included
#   PGBIN                  as for scripts/pg.sh
# Needs sqlite3 and psql (the database clients) on PATH.
#
# On Linux with the autogroup scheduler on (`kernel.sched_autogroup_enabled
# = 1`, the default of many kernels), the driver's two busy pollers starve
# PostgreSQL's backends (each in a session of its own) for up to ~0.7 s at
# a time on a 2-core machine, and the PostgreSQL revocation tail is that
# wait (BENCHMARKS.md, run 10). `sysctl kernel.sched_autogroup_enabled=0`
# (root) before the run measures the feed itself; results.md records the
# setting.
set -euo pipefail

if [ -z "${BENCH_REVOKE_INNER:-}" ]; then
  exec timeout --kill-after=30 "${BENCH_TIMEOUT:-1800}" \
    env BENCH_REVOKE_INNER=1 bash "$0" "$@"
fi

repo=$(cd "$(dirname "$0")/.." && pwd)
cd "$repo"
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$repo/target}
work=$CARGO_TARGET_DIR/bench/revoke
trials=${BENCH_TRIALS:-50}
pause=${BENCH_PAUSE_US:-0}

say() { echo "bench-revoke: $*" >&2; }

cleanup() {
  if [ -n "${pg_started:-}" ]; then APIKEY_PG_ROOT=$work/pg scripts/pg.sh stop || true; fi
}
trap cleanup EXIT
trap 'exit 143' TERM INT

for tool in sqlite3 psql; do
  command -v "$tool" >/dev/null || { say "$tool is needed (apt-get install sqlite3 postgresql-client)"; exit 1; }
done

if [ -n "${BENCH_BIN_DIR:-}" ]; then
  bin=$(cd "$BENCH_BIN_DIR" && pwd)
  built="prebuilt, from $bin (not built from this tree)"
else
  say "building the examples, the apikey CLI and the driver (release)"
  cargo build --release --quiet -p apikey-examples -p apikey-cli -p apikey-bench \
    --bin quickstart --bin organizations --bin apikey --bin revoke-latency
  bin=$CARGO_TARGET_DIR/release
  built="built from this tree: $(git rev-parse --short HEAD 2>/dev/null || echo unknown)$(git diff --quiet HEAD -- apikey-core apikey-actix apikey-cli examples benches 2>/dev/null || echo ' plus uncommitted changes')"
fi
for b in quickstart organizations apikey revoke-latency; do
  [ -x "$bin/$b" ] || { say "missing $bin/$b"; exit 1; }
done

rm -rf "$work"
mkdir -p "$work"
chmod 700 "$work"
results=$work/results.md

{
  echo "# Revocation latency ($(date -u +%Y-%m-%dT%H:%MZ))"
  echo
  echo "- binaries: $built"
  echo "- cores: $(nproc); CPU: $(grep -m1 '^model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')"
  echo "- trials per scenario: $trials; pause between polls: $pause µs"
  # The PostgreSQL tail depends on it (BENCHMARKS.md, run 10): with the
  # autogroup scheduler on, the busy pollers starve PostgreSQL's backends.
  echo "- kernel.sched_autogroup_enabled: $(cat /proc/sys/kernel/sched_autogroup_enabled 2>/dev/null || echo unknown)"
} | tee "$results"

scenario() { # NAME SCENARIO URL
  local name=$1 kind=$2 url=$3 rc=0
  say "$name"
  {
    echo
    echo "## $name"
    echo
    echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
    echo
  } | tee -a "$results"
  "$bin/revoke-latency" --scenario "$kind" --database-url "$url" --bin-dir "$bin" \
    --trials "$trials" --pause-us "$pause" --csv "$work/$name.csv" | tee -a "$results" || rc=$?
  {
    echo
    echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
  } | tee -a "$results"
  return "$rc"
}

status=0
scenario sqlite-revoke revoke "$work/quickstart.db" || status=1
scenario sqlite-organization organization "$work/organizations.db" || status=1

eval "$(APIKEY_PG_ROOT=$work/pg scripts/pg.sh start | grep '^DATABASE_URL=')"
pg_started=1
pg_url=$DATABASE_URL
unset DATABASE_URL
base=${pg_url%/*}
psql -X -q -d "$pg_url" -c 'CREATE DATABASE revoke_quickstart' -c 'CREATE DATABASE revoke_organizations'
scenario postgres-revoke revoke "$base/revoke_quickstart" || status=1
scenario postgres-organization organization "$base/revoke_organizations" || status=1

say "results: $results"
exit "$status"
