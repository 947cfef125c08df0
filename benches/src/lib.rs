//! Benchmarks for apikey-rs; nothing to use here.
//!
//! - `cargo bench -p apikey-bench` (or `scripts/bench-micro.sh`, which also
//!   starts a throwaway PostgreSQL cluster): criterion micro-benchmarks in
//!   `benches/micro.rs`.
//! - `scripts/bench-load.sh`: end-to-end load with `wrk` against the
//!   quickstart and against the Django reference in `reference/`.
//!
//! Results and how to read them: `BENCHMARKS.md` at the repository root.
#![forbid(unsafe_code)]
#![warn(missing_docs, missing_debug_implementations)]
