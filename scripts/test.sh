#!/usr/bin/env bash
# Runs every test: the whole workspace on SQLite and on a real PostgreSQL
# server that this script starts (a throwaway cluster under target/pg) and
# stops again, whatever happens; the Redis tests start their own
# redis-server on a free port; the web admin's browser test runs headless
# Chromium (installed by install-deps.sh). A test whose server or browser is
# missing fails: none passes without having run.
#
#   scripts/test.sh                 all tests
#   scripts/test.sh -p apikey-core  extra arguments go to `cargo test`
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
cd "$repo"

scripts/install-deps.sh

# Only the cluster started here: never a server the environment points at
# (the tests create and drop databases on it).
unset DATABASE_URL APIKEY_TEST_PG_URL
trap 'scripts/pg.sh stop' EXIT
if ! started=$(scripts/pg.sh start); then
  echo "test.sh: the throwaway PostgreSQL cluster did not start (see above)" >&2
  exit 1
fi
url=$(printf '%s\n' "$started" | sed -n 's/^DATABASE_URL=//p')
if [ -z "$url" ]; then
  echo "test.sh: scripts/pg.sh start printed no DATABASE_URL: $started" >&2
  exit 1
fi
echo "test.sh: PostgreSQL tests run against $url"

export APIKEY_TEST_PG_URL=$url
# The Redis tests start their own redis-server (installed above).
cargo test --workspace "$@"
