#!/usr/bin/env bash
# Mutation testing of the security-critical modules with cargo-mutants
# (`cargo install cargo-mutants`). The configuration (which tests judge a
# mutant, what is excluded and why) is .cargo/mutants.toml, so
# `cargo mutants -f FILE` gives the same answer for one file.
#
#   scripts/mutants.sh            every module below, one file at a time
#   scripts/mutants.sh FILE...    those files
#
# CPU-heavy: runs niced, one build at a time, into its own target folder
# (target/mutants-build, so a mutation run never locks the main build);
# results per file under target/mutants/<file>/mutants.out (missed.txt,
# caught.txt, unviable.txt, outcomes.json). Prints one summary line per file
# and exits non-zero when a mutant was missed.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
cd "$repo"

if ! cargo mutants --version >/dev/null 2>&1; then
  echo "mutants.sh: cargo-mutants is not installed: cargo install cargo-mutants" >&2
  exit 1
fi

files=(
  apikey-core/src/hashers.rs        # the stored hash formats, legacy PBKDF2
  apikey-core/src/key.rs            # key generation, splitting, shape checks
  apikey-core/src/branded.rs        # branded keys: brand, checksum, shape
  apikey-core/src/legacy.rs         # bounds on legacy PBKDF2 checks
  apikey-actix/src/parser.rs        # where the key is read from
  apikey-actix/src/permission.rs    # permissions and their combinators
  apikey-actix/src/admin/csrf.rs    # the admin's CSRF tokens
  apikey-actix/src/admin/basic.rs   # the admin's Basic auth
  apikey-core/src/cache/mod.rs      # the verification cache
  apikey-core/src/cache/feed.rs     # the cache's change feed
  apikey-core/src/manager.rs        # lookup and revoke
  apikey-actix/src/lookup.rs        # the guards' one lookup, errors to 401/503
  apikey-actix/src/extractor.rs     # HasApiKey
  apikey-actix/src/middleware.rs    # RequirePermission
)
[ $# -gt 0 ] && files=("$@")

export CARGO_TARGET_DIR=$repo/target/mutants-build
summary=()
missed_any=0
for f in "${files[@]}"; do
  out=$repo/target/mutants/$(printf '%s' "$f" | tr '/' '_')
  mkdir -p "$out"
  echo "mutants.sh: $f" >&2
  rc=0
  nice -n 19 cargo mutants --jobs 1 -f "$f" --output "$out" --no-shuffle || rc=$?
  # 0: all caught; 2: some missed; 3: some timed out (counted as caught).
  case $rc in
    0 | 3) ;;
    2) missed_any=1 ;;
    *) echo "mutants.sh: cargo mutants failed on $f (exit $rc)" >&2; exit "$rc" ;;
  esac
  summary+=("$(python3 - "$out/mutants.out/outcomes.json" "$f" <<'PY'
import json, sys
o = json.load(open(sys.argv[1]))
print(f"{sys.argv[2]}: {o['total_mutants']} mutants, {o['caught']} caught, "
      f"{o['timeout']} timeout, {o['missed']} missed, {o['unviable']} unviable")
PY
)")
done
printf '%s\n' "${summary[@]}"
exit "$missed_any"
