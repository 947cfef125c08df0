//! Stored-hash parsing and verification in every Django format, over
//! arbitrary keys and hash strings: never a panic; only a hash of the key
//! itself verifies; PBKDF2 encodings round-trip. Iteration counts are kept
//! small (the parser itself accepts up to 2,000,000), so the target runs fast.
#![no_main]

use apikey_core::hashers::{encode_django_pbkdf2, hash, is_preferred, verify, Verification};
use libfuzzer_sys::fuzz_target;

/// Whether the iteration field of a `pbkdf2_*$<n>$...` string is small.
fn cheap(encoded: &str) -> bool {
    match encoded.split('$').nth(1).map(str::parse::<u64>) {
        Some(Ok(n)) => n <= 64,
        _ => true,
    }
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let (key, stored) = text.split_once('\n').unwrap_or((text, ""));
    if cheap(stored) {
        match verify(key, stored) {
            Verification::Valid => assert_eq!(stored, hash(key)),
            Verification::ValidOutdated => assert!(stored.starts_with("pbkdf2_sha")),
            Verification::Invalid => {}
        }
        if !(stored.starts_with("sha512$$") || stored.starts_with("pbkdf2_sha")) {
            assert_eq!(verify(key, stored), Verification::Invalid);
        }
    }
    // The preferred format round-trips, and another key does not verify.
    let h = hash(key);
    assert!(is_preferred(&h));
    assert_eq!(verify(key, &h), Verification::Valid);
    assert_eq!(verify(&format!("{key}x"), &h), Verification::Invalid);
    // PBKDF2, as Django writes it, with a salt from the input.
    let salt: String = stored
        .chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .take(12)
        .collect();
    let iterations = 1 + u32::from(data.first().copied().unwrap_or(0) % 4);
    for algorithm in ["pbkdf2_sha256", "pbkdf2_sha1"] {
        match encode_django_pbkdf2(algorithm, key, &salt, iterations) {
            Some(encoded) => {
                assert_eq!(verify(key, &encoded), Verification::ValidOutdated);
                assert_eq!(verify(&format!("{key}x"), &encoded), Verification::Invalid);
            }
            None => assert!(salt.is_empty()),
        }
    }
});
