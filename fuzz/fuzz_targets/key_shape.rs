//! Key splitting and the early shape checks (plain and branded keys): never
//! a panic, and nothing is called well-formed that a generator cannot make.
#![no_main]

use apikey_core::branded::{branded_brand, is_branded_key};
use apikey_core::key::split_prefix;
use apikey_core::{GenerateKey, KeyGenerator};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(key) = std::str::from_utf8(data) else {
        return;
    };
    let prefix = split_prefix(key);
    assert!(key.starts_with(prefix) && !prefix.contains('.'));
    if prefix.len() < key.len() {
        assert_eq!(key.as_bytes()[prefix.len()], b'.');
    }
    let plain = KeyGenerator::default();
    if plain.is_well_formed(key) {
        let b = key.as_bytes();
        assert_eq!(b.len(), 8 + 1 + 32);
        assert_eq!(b[8], b'.');
        assert!(b[..8].iter().chain(&b[9..]).all(u8::is_ascii_alphanumeric));
    }
    if let Some(brand) = branded_brand(key, 8, 32) {
        assert!(is_branded_key(key));
        assert!(key.starts_with(brand));
        assert!(key.is_ascii());
    }
    let lenient = KeyGenerator::default().accept_branded();
    if lenient.is_well_formed(key) {
        assert!(plain.is_well_formed(key) || is_branded_key(key));
    }
});
