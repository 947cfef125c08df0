//! Properties over generated input (proptest): hashes round-trip, parsers
//! never panic and never accept what they must refuse.

use apikey_core::db::DatabaseUrl;
use apikey_core::hashers::{encode_django_pbkdf2, hash, verify, Verification};
use apikey_core::{validate_name, GenerateKey, KeyGenerator};
use proptest::prelude::*;

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 256,
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn preferred_hash_round_trips(key in ".{0,80}", other in ".{0,80}") {
        let h = hash(&key);
        prop_assert_eq!(verify(&key, &h), Verification::Valid);
        if other != key {
            prop_assert_eq!(verify(&other, &h), Verification::Invalid);
        }
    }

    #[test]
    fn pbkdf2_round_trips(key in ".{0,40}", salt in "[A-Za-z0-9]{1,22}", rounds in 1u32..4) {
        for algorithm in ["pbkdf2_sha256", "pbkdf2_sha1"] {
            let encoded = encode_django_pbkdf2(algorithm, &key, &salt, rounds).expect("encodes");
            prop_assert_eq!(verify(&key, &encoded), Verification::ValidOutdated);
            prop_assert_eq!(verify(&format!("{key}!"), &encoded), Verification::Invalid);
        }
    }

    #[test]
    fn any_stored_string_is_checked_without_panic(key in ".{0,60}", stored in "[a-z0-9_$=+/]{0,60}") {
        // (Iteration counts in such strings are small or refused: no slow case.)
        let found = verify(&key, &stored);
        if found == Verification::Valid {
            prop_assert_eq!(stored, hash(&key));
        } else if !stored.starts_with("pbkdf2_sha") {
            prop_assert_eq!(found, Verification::Invalid);
        }
    }

    #[test]
    fn names_with_format_characters_are_refused(
        head in "[a-zA-Z ]{0,20}",
        format in prop::sample::select(vec!['\u{200B}', '\u{200C}', '\u{200D}', '\u{200E}', '\u{200F}',
            '\u{202A}', '\u{202B}', '\u{202C}', '\u{202D}', '\u{202E}', '\u{2060}', '\u{2066}',
            '\u{2067}', '\u{2068}', '\u{2069}', '\u{FEFF}', '\u{00AD}', '\u{061C}']),
        tail in "[a-zA-Z ]{0,20}",
    ) {
        let name = format!("x{head}{format}{tail}");
        prop_assert!(validate_name(&name).is_err(), "{:?}", name);
    }

    #[test]
    fn well_formed_keys_are_exactly_the_generators_shape(key in "[A-Za-z0-9.]{0,50}") {
        let plain = KeyGenerator::default();
        let shaped = key.len() == 41
            && key.as_bytes()[8] == b'.'
            && key.bytes().enumerate().all(|(i, b)| i == 8 || b.is_ascii_alphanumeric());
        prop_assert_eq!(plain.is_well_formed(&key), shaped);
    }

    #[test]
    fn database_url_passwords_never_show(password in "[a-zA-Z0-9/@:%?#]{8,24}") {
        // A password as typed (special characters raw) and percent-encoded.
        let encoded: String = password
            .bytes()
            .map(|b| if b.is_ascii_alphanumeric() { (b as char).to_string() } else { format!("%{b:02X}") })
            .collect();
        for url in [
            format!("postgres://user:{password}@db.example:5432/keys"),
            format!("postgres://user:{encoded}@db.example:5432/keys"),
        ] {
            match DatabaseUrl::parse(&url) {
                Ok(parsed) => {
                    let shown = format!("{} {parsed:?}", parsed.redacted());
                    prop_assert!(!shown.contains(&password), "{}", shown);
                    prop_assert!(!shown.contains(&encoded), "{}", shown);
                }
                Err(e) => {
                    let shown = e.to_string();
                    prop_assert!(!shown.contains(&password), "{}", shown);
                }
            }
        }
    }
}
