//! Compile-time checks of `#[derive(ApiKeyModel)]` (trybuild): every mistake
//! in `ui/fail/` is a compile error pointing at the offending token, and the
//! output in `ui/pass/` compiles under `#![deny(warnings)]` and strict lints.
//!
//! Regenerate the expected messages after a deliberate change with
//! `TRYBUILD=overwrite cargo test -p apikey-tests --test ui`, then read them.

#[test]
fn trybuild_cases() {
    let t = trybuild::TestCases::new();
    t.compile_fail("ui/fail/*.rs");
    t.pass("ui/pass/*.rs");
}
