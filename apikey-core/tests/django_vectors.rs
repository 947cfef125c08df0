//! Known-answer vectors made by the real djangorestframework-api-key 3.1.0 and
//! Django (see `tests/vectors/README.md` for their provenance).

use apikey_core::hashers::{self, Verification};
use apikey_core::key::split_prefix;

#[derive(serde::Deserialize)]
struct File {
    provenance: serde_json::Value,
    vectors: Vec<Vector>,
}

#[derive(serde::Deserialize)]
struct Vector {
    format: String,
    key: String,
    prefix: String,
    hashed_key: String,
    id: String,
    upgraded_hashed_key: Option<String>,
}

fn vectors() -> File {
    let text = include_str!("vectors/django.json");
    serde_json::from_str(text).expect("vectors parse")
}

#[test]
fn provenance_is_the_reference() {
    let f = vectors();
    assert_eq!(f.provenance["djangorestframework_api_key"], "3.1.0");
    let formats: Vec<&str> = f.vectors.iter().map(|v| v.format.as_str()).collect();
    for needed in ["sha512", "pbkdf2_sha256", "pbkdf2_sha1"] {
        assert!(formats.contains(&needed), "no {needed} vector");
    }
    // The old 36000-iteration, 12-character-salt hashes are there too.
    assert!(f
        .vectors
        .iter()
        .any(|v| v.hashed_key.starts_with("pbkdf2_sha256$36000$")
            && v.hashed_key.split('$').nth(2).map(str::len) == Some(12)));
}

#[test]
fn every_vector_verifies() {
    for v in vectors().vectors {
        assert_eq!(split_prefix(&v.key), v.prefix);
        assert_eq!(v.id, format!("{}.{}", v.prefix, v.hashed_key));
        let expected = if v.format == "sha512" {
            Verification::Valid
        } else {
            Verification::ValidOutdated
        };
        assert_eq!(
            hashers::verify(&v.key, &v.hashed_key),
            expected,
            "{}",
            v.prefix
        );
        if v.format == "sha512" {
            // Our encoder produces the reference's bytes exactly.
            assert_eq!(hashers::hash(&v.key), v.hashed_key);
        }
        if let Some(upgraded) = &v.upgraded_hashed_key {
            // The reference's upgrade of a legacy hash is our preferred hash.
            assert_eq!(&hashers::hash(&v.key), upgraded);
            assert_eq!(hashers::verify(&v.key, upgraded), Verification::Valid);
        }
    }
}

#[test]
fn wrong_keys_are_rejected_by_every_vector() {
    for v in vectors().vectors {
        let mut last_changed = v.key.clone();
        let last = last_changed.pop().unwrap_or('x');
        last_changed.push(if last == 'a' { 'b' } else { 'a' });
        let wrong = [
            last_changed,
            format!("{}x", v.key),
            v.key[..v.key.len() - 1].to_owned(),
            v.key.to_uppercase(),
            v.key.to_lowercase(),
            format!("{}.foobar", v.prefix),
            v.prefix.clone(),
            String::new(),
            v.hashed_key.clone(),
        ];
        for w in wrong {
            if w == v.key {
                continue; // upper/lower-casing may leave an all-digit key unchanged
            }
            assert_eq!(
                hashers::verify(&w, &v.hashed_key),
                Verification::Invalid,
                "{} accepted a wrong key",
                v.prefix
            );
        }
    }
}
