#!/usr/bin/env bash
# Runs every test: the whole workspace on SQLite and on a real PostgreSQL
# server that this script starts (a throwaway cluster under target/pg) and
# stops again, whatever happens; the web admin's browser test runs headless
# Chromium (installed by install-deps.sh) and fails, not skips, without it.
#
#   scripts/test.sh                 all tests
#   scripts/test.sh -p apikey-core  extra arguments go to `cargo test`
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
cd "$repo"

scripts/install-deps.sh

eval "$(scripts/pg.sh start | grep '^DATABASE_URL=')"
trap 'scripts/pg.sh stop' EXIT
echo "test.sh: PostgreSQL tests run against $DATABASE_URL"

export APIKEY_TEST_PG_URL=$DATABASE_URL APIKEY_REQUIRE_PG=1 APIKEY_REQUIRE_BROWSER=1
unset DATABASE_URL
cargo test --workspace "$@"
