#!/usr/bin/env bash
# The criterion micro-benchmarks (benches/benches/micro.rs), PostgreSQL
# included: starts a throwaway cluster of its own under target/bench/pg-micro,
# points the benchmarks at it, and stops it afterwards whatever happens.
# Without PostgreSQL binaries the PostgreSQL benchmarks are skipped.
#
#   scripts/bench-micro.sh                     everything
#   scripts/bench-micro.sh get_from_key        extra arguments go to criterion
#   APIKEY_BENCH_SIZES=1000,100000 scripts/bench-micro.sh get_from_key
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
cd "$repo"
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$repo/target}
export APIKEY_PG_ROOT=$CARGO_TARGET_DIR/bench/pg-micro

if url=$(scripts/pg.sh start 2>/dev/null | sed -n 's/^DATABASE_URL=//p') && [ -n "$url" ]; then
  trap 'scripts/pg.sh stop' EXIT
  export APIKEY_BENCH_PG_URL=$url
else
  echo "bench-micro.sh: no PostgreSQL server could be started; its benchmarks are skipped" >&2
fi
echo "bench-micro.sh: $(nproc) cores, load:$(uptime | sed 's/.*load average://')" >&2
cargo bench -p apikey-bench --bench micro -- "$@"
echo "bench-micro.sh: done, load:$(uptime | sed 's/.*load average://')" >&2
