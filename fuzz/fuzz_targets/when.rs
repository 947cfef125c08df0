//! The CLI's `--expires` parser (RFC 3339 or a duration from now): never a
//! panic, never a time in the past of `now` for a duration, never past the
//! end of year 9999.
#![no_main]

use chrono::{DateTime, Utc};
use libfuzzer_sys::fuzz_target;

// The CLI's own modules, compiled here as they are there.
#[allow(dead_code)]
#[path = "../../apikey-cli/src/output.rs"]
mod output;
#[allow(dead_code)]
#[path = "../../apikey-cli/src/when.rs"]
mod when;

fuzz_target!(|data: &[u8]| {
    let Ok(input) = std::str::from_utf8(data) else {
        return;
    };
    let now = DateTime::<Utc>::from_timestamp(1_800_000_000, 123_456_000).unwrap_or_default();
    if let Ok(t) = when::parse_when(input, now) {
        assert!(t <= apikey_core::max_expiry_date(), "{input:?} -> {t}");
    }
    if let Some(d) = when::parse_duration(input.trim()) {
        assert!(d > chrono::Duration::zero(), "{input:?} -> {d}");
    }
});
