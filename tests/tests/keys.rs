//! Key generation and the hash formats, without a database: what the keys
//! are made of, and what the hashers accept and refuse at the edges of the
//! formats. The legacy hashes here are computed independently with Python's
//! `hashlib.pbkdf2_hmac` (Django's `PBKDF2PasswordHasher` is that function,
//! base64-encoded), e.g.
//!
//! ```text
//! python3 -c "import hashlib, base64; print(base64.b64encode(hashlib.pbkdf2_hmac(
//!     'sha256', b'Abcdefgh.0123456789abcdefghijklmnopqrstuv', b'NaCl', 1000)).decode())"
//! ```

use std::collections::HashSet;

use apikey_core::hashers::{self, Verification};
use apikey_core::key::{split_prefix, KEY_CHARSET};
use apikey_core::{GenerateKey, KeyGenerator};
use apikey_tests::is_key_shaped;

const KEY: &str = "Abcdefgh.0123456789abcdefghijklmnopqrstuv";

/// Every one of the 62 characters turns up, in prefixes and in secrets
/// (8,000 draws: the chance that a fair generator misses one is below
/// 10^-40), and nothing else does.
#[test]
fn generated_keys_use_the_whole_alphabet_and_nothing_else() {
    let generator = KeyGenerator::default();
    let (mut in_prefixes, mut in_secrets) = (HashSet::new(), HashSet::new());
    let mut prefixes = HashSet::new();
    for _ in 0..200 {
        let made = generator.generate();
        let key = made.key.expose_secret();
        assert!(is_key_shaped(key, 8, 32), "{key}");
        assert_eq!(made.prefix, &key[..8]);
        assert_eq!(made.hashed_key, hashers::hash(key));
        assert!(generator.is_well_formed(key));
        in_prefixes.extend(key[..8].bytes());
        in_secrets.extend(key[9..].bytes());
        prefixes.insert(made.prefix);
    }
    let charset: HashSet<u8> = KEY_CHARSET.iter().copied().collect();
    assert_eq!(charset.len(), 62);
    assert_eq!(in_secrets, charset, "secrets draw from all 62 characters");
    // 1,600 prefix characters: every character too.
    assert_eq!(in_prefixes, charset, "prefixes draw from all 62 characters");
    assert_eq!(prefixes.len(), 200, "no two prefixes alike");
}

#[test]
fn generator_lengths() {
    let default = KeyGenerator::default();
    assert_eq!(
        (default.prefix_length(), default.secret_key_length()),
        (8, 32)
    );
    let long = KeyGenerator::new(12, 40).expect("lengths");
    assert_eq!((long.prefix_length(), long.secret_key_length()), (12, 40));
    let key = long.generate().key;
    assert!(is_key_shaped(key.expose_secret(), 12, 40));
    assert!(long.is_well_formed(key.expose_secret()));
    assert!(!default.is_well_formed(key.expose_secret()));
    // The shortest allowed: 1 prefix character, MIN_SECRET_LENGTH secret ones.
    let min = apikey_core::key::MIN_SECRET_LENGTH;
    let short = KeyGenerator::new(1, min).expect("the shortest lengths");
    assert_eq!((short.prefix_length(), short.secret_key_length()), (1, min));
    assert!(is_key_shaped(short.generate().key.expose_secret(), 1, min));
    assert!(KeyGenerator::new(0, 32).is_err());
    assert!(KeyGenerator::new(8, min - 1).is_err());
}

#[test]
fn well_formed_is_exactly_the_generators_shape() {
    let g = KeyGenerator::default();
    assert!(g.is_well_formed(KEY));
    for bad in [
        "",
        ".",
        &KEY[1..],
        &format!("{KEY}x"),
        &KEY.replace('.', "x"),
        &format!("{}-{}", &KEY[..8], &KEY[9..]),
        &format!("{}.{}", &KEY[..7], &KEY[8..]), // dot one place early
        &format!("{}é{}", &KEY[..9], &KEY[11..]),
        &format!("{}.{}_", &KEY[..8], &KEY[10..]),
        &format!("{}_.{}", &KEY[1..8], &KEY[9..]),
    ] {
        assert!(!g.is_well_formed(bad), "{bad:?}");
    }
}

#[test]
fn prefix_is_everything_before_the_first_dot() {
    assert_eq!(split_prefix(KEY), "Abcdefgh");
    assert_eq!(split_prefix("a.b.c"), "a");
    assert_eq!(split_prefix("nodot"), "nodot");
    assert_eq!(split_prefix(".x"), "");
    assert_eq!(split_prefix(""), "");
    assert_eq!(
        apikey_core::PlainKey::new(KEY.to_owned()).prefix(),
        "Abcdefgh"
    );
}

#[test]
fn preferred_hash_must_match_whole() {
    let hash = hashers::hash(KEY);
    assert!(hashers::is_preferred(&hash));
    assert_eq!(hash.len(), "sha512$$".len() + 128);
    assert_eq!(hashers::verify(KEY, &hash), Verification::Valid);
    for bad in [
        "sha512$$".to_owned(),
        hash[..hash.len() - 1].to_owned(),
        hash[..100].to_owned(),
        format!("{hash}0"),
        hash.to_uppercase().replace("SHA512$$", "sha512$$"),
        hash.replacen("sha512$$", "sha512$x$", 1),
    ] {
        assert_eq!(hashers::verify(KEY, &bad), Verification::Invalid, "{bad}");
    }
    assert!(!hashers::is_preferred("pbkdf2_sha256$1000$NaCl$x"));
    assert!(!hashers::is_preferred("SHA512$$00"));
}

#[test]
fn legacy_pbkdf2_hashes_verify_as_outdated() {
    let sha256 = "pbkdf2_sha256$1000$NaCl$/Zu6UovB0+DUr8FzJz1H0w6uXr54CHKpOYlduv4q6D8=";
    let sha1 = "pbkdf2_sha1$1000$NaCl$PoM79FXnH+/3k1kcm5zw4xDMQOE=";
    for stored in [sha256, sha1] {
        assert_eq!(
            hashers::verify(KEY, stored),
            Verification::ValidOutdated,
            "{stored}"
        );
        let other = KEY.replace('A', "B");
        assert_eq!(hashers::verify(&other, stored), Verification::Invalid);
    }
    // The same digest under another algorithm's name, or another count.
    for bad in [
        sha256.replacen("pbkdf2_sha256", "pbkdf2_sha1", 1),
        sha256.replacen("pbkdf2_sha256", "pbkdf2_sha512", 1),
        sha256.replacen("$1000$", "$999$", 1),
        sha1.replacen("pbkdf2_sha1", "pbkdf2_sha256", 1),
    ] {
        assert_eq!(hashers::verify(KEY, &bad), Verification::Invalid, "{bad}");
    }
}

/// Encodings Django never writes are refused, even when the digest would
/// match: an empty salt (here PBKDF2-SHA256 of the key with salt "" and
/// 1000 rounds), an empty digest, zero rounds; a count above the limit is
/// refused without being attempted (4,294,967,295 rounds would take hours).
#[test]
fn legacy_encodings_django_never_writes_are_refused() {
    for bad in [
        "pbkdf2_sha256$1000$$0XN3F2+wBF1+Ro5Mba/dOxchiBFHGbjviARVA2CP58U=",
        "pbkdf2_sha256$1000$NaCl$",
        "pbkdf2_sha256$0$NaCl$/Zu6UovB0+DUr8FzJz1H0w6uXr54CHKpOYlduv4q6D8=",
        "pbkdf2_sha256$-1$NaCl$/Zu6UovB0+DUr8FzJz1H0w6uXr54CHKpOYlduv4q6D8=",
        "pbkdf2_sha256$4294967295$NaCl$/Zu6UovB0+DUr8FzJz1H0w6uXr54CHKpOYlduv4q6D8=",
        "pbkdf2_sha256$1000$NaCl",
        "pbkdf2_sha256",
        "",
    ] {
        assert_eq!(hashers::verify(KEY, bad), Verification::Invalid, "{bad}");
    }
    let over = format!(
        "pbkdf2_sha256${}$NaCl$/Zu6UovB0+DUr8FzJz1H0w6uXr54CHKpOYlduv4q6D8=",
        u64::from(hashers::MAX_PBKDF2_ITERATIONS) + 1
    );
    assert_eq!(hashers::verify(KEY, &over), Verification::Invalid);
}

#[test]
fn verification_validity() {
    assert!(Verification::Valid.is_valid());
    assert!(Verification::ValidOutdated.is_valid());
    assert!(!Verification::Invalid.is_valid());
}
