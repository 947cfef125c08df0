#!/usr/bin/env bash
# Runs every cargo-fuzz target in fuzz/ for SECONDS each (default 60), one
# after another, at the lowest CPU priority, and prints each one's
# executions and speed.
#
#   scripts/fuzz.sh [SECONDS] [TARGET...]
#
# Needs the nightly toolchain (`rustup toolchain install nightly`) and
# cargo-fuzz (installed here when missing: `cargo install cargo-fuzz`).
# New inputs go to fuzz/corpus/<target> (not committed), starting from the
# committed seeds in fuzz/seeds/<target>. A crash stops the run and leaves
# its input in fuzz/artifacts/<target>/: make it a regression test
# (see README.md, "Fuzzing"). Extra libFuzzer flags: FUZZ_FLAGS.
set -euo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)
cd "$repo/fuzz"
seconds=${1:-60}
shift || true
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
  targets=(key_parsers key_shape stored_hash when csrf_basic)
fi

if ! cargo +nightly --version >/dev/null 2>&1; then
  echo "fuzz.sh: the nightly toolchain is needed: rustup toolchain install nightly" >&2
  exit 1
fi
if ! cargo fuzz --version >/dev/null 2>&1; then
  echo "fuzz.sh: installing cargo-fuzz" >&2
  nice -n 19 cargo install cargo-fuzz --locked
fi

echo "fuzz.sh: building the targets (release, with sanitizers)" >&2
nice -n 19 cargo +nightly fuzz build

summary=()
for t in "${targets[@]}"; do
  mkdir -p "corpus/$t"
  log=$(mktemp)
  echo "fuzz.sh: $t for ${seconds}s" >&2
  # shellcheck disable=SC2086
  if ! nice -n 19 cargo +nightly fuzz run "$t" "corpus/$t" "seeds/$t" -- \
      -max_total_time="$seconds" -print_final_stats=1 ${FUZZ_FLAGS:-} >"$log" 2>&1; then
    tail -n 40 "$log" >&2
    echo "fuzz.sh: $t FAILED; the input is in fuzz/artifacts/$t/" >&2
    rm -f "$log"
    exit 1
  fi
  runs=$(awk '/stat::number_of_executed_units/ { print $NF }' "$log" | tail -n 1)
  speed=$(awk '/stat::average_exec_per_sec/ { print $NF }' "$log" | tail -n 1)
  rm -f "$log"
  summary+=("$t: ${runs:-?} executions within the ${seconds} s budget (${speed:-?}/s), no crash")
done
printf '%s\n' "${summary[@]}"
