//! Branded, checksummed keys (apikey_core::branded): known-answer vectors,
//! corruptions refused before any query, and one server for branded and
//! plain keys, on SQLite and PostgreSQL.

use std::time::Duration;

use apikey_core::branded::{self, BrandedKeyGenerator};
use apikey_core::key::split_prefix;
use apikey_core::{
    hashers, AbstractApiKey, ApiKey, BaseApiKeyManager, Database, DatabaseConfig, Error,
    GenerateKey, KeyGenerator, NewKey,
};
use apikey_tests::{backend_tests, TestDb};

/// Vectors computed with Python 3's `zlib.crc32` (an independent CRC-32
/// implementation) and a 6-digit base-62 encoding with the digits
/// `0-9A-Za-z`; the first is the CRC-32/ISO-HDLC check value 0xCBF43926
/// of the CRC catalogue (reveng.sourceforge.io/crc-catalogue).
const CHECKSUM_VECTORS: &[(&str, &str)] = &[
    ("123456789", "3jZRME"),
    ("", "000000"),
    ("acme_Gm7lu2UK.N1xUENkaJ1uV7mYqV78U8a72oo9QfP9w", "3vBuHB"),
    ("ghp_12345678.abcdefghijklmnopqrstuvwxyzABCDEF", "3WfSex"),
    ("x_00000000.00000000000000000000000000000000", "1dz0JJ"),
];

/// A complete branded key (the second vector plus its checksum) and its
/// stored hash, from Python's `hashlib.sha512`.
const ACME_KEY: &str = "acme_Gm7lu2UK.N1xUENkaJ1uV7mYqV78U8a72oo9QfP9w3vBuHB";
const ACME_HASH: &str = "sha512$$f4cd1334478fcfea6f7758a5d40bd608b49e846895cd1f7653c7c4d76bedb7d5295cdd72497784bdffa2d0b250471ac528d89c57b3976477e0aee7bf67844378";

#[test]
fn checksum_known_answers() {
    for (text, expected) in CHECKSUM_VECTORS {
        assert_eq!(branded::checksum(text), *expected, "checksum of {text:?}");
    }
    assert!(branded::is_branded_key(ACME_KEY));
    assert_eq!(
        branded::branded_brand(ACME_KEY, 8, 32),
        Some("acme"),
        "the brand ends at the first `_`"
    );
    assert_eq!(split_prefix(ACME_KEY), "acme_Gm7lu2UK");
    assert_eq!(hashers::hash(ACME_KEY), ACME_HASH);
    assert!(hashers::verify(ACME_KEY, ACME_HASH).is_valid());
}

/// The documented shape, checked by hand (the module docs' regular
/// expression, for the default lengths).
fn matches_documented_shape(key: &str, brand: &str) -> bool {
    let Some(rest) = key.strip_prefix(brand).and_then(|r| r.strip_prefix('_')) else {
        return false;
    };
    let bytes = rest.as_bytes();
    bytes.len() == 8 + 1 + 38
        && bytes[8] == b'.'
        && bytes[..8]
            .iter()
            .chain(&bytes[9..])
            .all(u8::is_ascii_alphanumeric)
}

#[test]
fn generated_keys_have_the_documented_shape() {
    let generator = BrandedKeyGenerator::new("acme").expect("brand");
    for _ in 0..200 {
        let generated = generator.generate();
        let key = generated.key.expose_secret();
        assert!(matches_documented_shape(key, "acme"), "{key}");
        assert!(branded::is_branded_key(key));
        assert!(generator.is_well_formed(key));
        assert_eq!(generated.prefix, split_prefix(key));
        assert_eq!(generated.prefix.len(), "acme_".len() + 8);
        assert_eq!(generated.hashed_key, hashers::hash(key));
    }
    let long = BrandedKeyGenerator::new("b")
        .expect("brand")
        .lengths(12, 40)
        .expect("lengths");
    let key = long.generate().key;
    assert_eq!(key.expose_secret().len(), 2 + 12 + 1 + 40 + 6);
    assert!(long.is_well_formed(key.expose_secret()));
    assert!(
        !generator.is_well_formed(key.expose_secret()),
        "other lengths"
    );
}

/// A checksum anyone can compute (CRC-32) proves nothing about the shape:
/// a body of the wrong shape with a correct checksum is still refused, and
/// a short one is refused without a panic.
#[test]
fn well_checksummed_keys_of_the_wrong_shape_are_refused() {
    let generator = BrandedKeyGenerator::new("acme").expect("brand");
    let secret = "N1xUENkaJ1uV7mYqV78U8a72oo9QfP9w";
    let bodies = [
        format!("acme_Gm7lu2UK-{secret}"),          // another separator
        format!("acme_Gm7lu2U!.{secret}"),          // not alphanumeric, prefix
        format!("acme_Gm7lu2UK.{}!", &secret[1..]), // not alphanumeric, secret
        format!("acme_Gm7lu2UKN.{}", &secret[1..]), // the separator moved
        format!("acme_Gm7lu2UK.{secret}X"),         // one character too many
        format!("acme_Gm7lu2UK.{}", &secret[1..]),  // one too few
        format!("acme_Gm7lu2UK.{}é", &secret[2..]), // not ASCII, same byte length
        "acme_abc".to_owned(),
        "acme_".to_owned(),
    ];
    for body in bodies {
        let key = format!("{body}{}", branded::checksum(&body));
        assert_eq!(branded::branded_brand(&key, 8, 32), None, "{key}");
        assert!(!branded::is_branded_key(&key), "{key}");
        assert!(!generator.is_well_formed(&key), "{key}");
    }
    // Nor is a plain (Django-shaped) key, or a branded one of other lengths.
    assert!(!branded::is_branded_key(&format!("Gm7lu2UK.{secret}")));
    let other_lengths = format!("acme_Gm7lu2U.{secret}");
    let other_lengths = format!("{other_lengths}{}", branded::checksum(&other_lengths));
    assert_eq!(branded::branded_brand(&other_lengths, 7, 32), Some("acme"));
    assert!(!branded::is_branded_key(&other_lengths));
    // The same construction with the right shape is accepted.
    let body = format!("acme_Gm7lu2UK.{secret}");
    let key = format!("{body}{}", branded::checksum(&body));
    assert_eq!(branded::branded_brand(&key, 8, 32), Some("acme"));
    assert!(branded::is_branded_key(&key));
}

#[test]
fn every_one_character_corruption_is_refused() {
    let generator = BrandedKeyGenerator::new("acme")
        .expect("brand")
        .accept_plain(KeyGenerator::default())
        .accept_any_brand();
    let plain_accepting = KeyGenerator::default().accept_branded();
    assert!(generator.is_well_formed(ACME_KEY));
    assert!(plain_accepting.is_well_formed(ACME_KEY));
    let original = ACME_KEY.as_bytes();
    let mut tried = 0;
    for i in 0..original.len() {
        for &c in b"0aZz9_.A" {
            if c == original[i] {
                continue;
            }
            let mut corrupted = original.to_vec();
            corrupted[i] = c;
            let corrupted = String::from_utf8(corrupted).expect("ascii");
            assert!(!generator.is_well_formed(&corrupted), "{corrupted}");
            assert!(!plain_accepting.is_well_formed(&corrupted), "{corrupted}");
            tried += 1;
        }
        // Dropped and doubled characters.
        let mut dropped = ACME_KEY.to_owned();
        dropped.remove(i);
        assert!(!generator.is_well_formed(&dropped), "{dropped}");
        let mut doubled = ACME_KEY.to_owned();
        doubled.insert(i, char::from(original[i]));
        assert!(!generator.is_well_formed(&doubled), "{doubled}");
    }
    assert!(tried > 300);
}

#[test]
fn brands_are_validated() {
    for good in ["a", "acme", "acme2", "abcdefghijklmnop"] {
        let generator = BrandedKeyGenerator::new(good).expect(good);
        assert_eq!(generator.brand(), good);
    }
    for bad in [
        "",
        "Acme",
        "1acme",
        "ac_me",
        "ac.me",
        "acme!",
        "abcdefghijklmnopq",
        "ac me",
        "é",
    ] {
        let err = BrandedKeyGenerator::new(bad).expect_err(bad);
        assert!(
            matches!(err, Error::Validation { field: "brand", .. }),
            "{bad:?}: {err}"
        );
    }
}

#[test]
fn other_brands_only_when_asked() {
    let acme = BrandedKeyGenerator::new("acme").expect("brand");
    let other = BrandedKeyGenerator::new("other").expect("brand");
    let key = other.generate().key;
    assert!(!acme.is_well_formed(key.expose_secret()));
    assert!(acme
        .clone()
        .accept_any_brand()
        .is_well_formed(key.expose_secret()));
    // A plain key only with accept_plain; a branded key never through a
    // plain generator that was not told.
    let plain = KeyGenerator::default().generate().key;
    assert!(!acme.is_well_formed(plain.expose_secret()));
    assert!(acme
        .clone()
        .accept_plain(KeyGenerator::default())
        .is_well_formed(plain.expose_secret()));
    assert!(!KeyGenerator::default().is_well_formed(ACME_KEY));
}

/// A corrupted key is answered "invalid" by a manager whose database cannot
/// be reached: it was refused before any query. The same key with its
/// checksum intact is "unavailable": it would have been a query.
#[test]
fn corrupted_keys_never_reach_the_database() {
    let down = Database::connect_lazy_with(
        "postgres://nobody@127.0.0.1:1/none",
        DatabaseConfig::default().connection_timeout(Duration::from_millis(200)),
    )
    .expect("lazy pool");
    let keys: BaseApiKeyManager<ApiKey> = BaseApiKeyManager::new(down).with_generator(
        BrandedKeyGenerator::new("acme")
            .expect("brand")
            .accept_plain(KeyGenerator::default()),
    );
    let err = keys.get_from_key(ACME_KEY).expect_err("down");
    assert!(err.is_unavailable(), "a well-formed key is a query: {err}");
    let last = ACME_KEY.len() - 1;
    for corrupted in [
        format!("{}C", &ACME_KEY[..last]),      // checksum
        ACME_KEY.replacen("Gm7l", "Gm8l", 1),   // prefix
        ACME_KEY.replacen("N1xU", "N1xV", 1),   // secret
        ACME_KEY.replacen("acme_", "acne_", 1), // brand
        ACME_KEY.replacen("acme_", "acme", 1),  // separator
    ] {
        assert!(!keys.is_well_formed(&corrupted), "{corrupted}");
        assert!(
            matches!(keys.get_from_key(&corrupted), Err(Error::InvalidKey)),
            "{corrupted}"
        );
        assert!(matches!(
            keys.cached(&corrupted),
            Some(Err(Error::InvalidKey))
        ));
    }
}

/// One server, both kinds of keys: a team moving from plain (Django) keys to
/// branded ones. Stored as every key is: the prefix column holds what
/// precedes the `.`.
fn branded_and_plain_keys_on_one_server(db: &TestDb) {
    let plain_keys: BaseApiKeyManager<ApiKey> = BaseApiKeyManager::new(db.database());
    let (_, plain) = plain_keys.create_key(NewKey::new("old")).expect("create");
    let keys: BaseApiKeyManager<ApiKey> = BaseApiKeyManager::new(db.database()).with_generator(
        BrandedKeyGenerator::new("acme")
            .expect("brand")
            .accept_plain(KeyGenerator::default()),
    );
    let (row, branded) = keys.create_key(NewKey::new("new")).expect("create");
    assert!(branded.expose_secret().starts_with("acme_"));
    assert_eq!(row.prefix(), branded.prefix());
    assert!(row.prefix().starts_with("acme_"));
    assert_eq!(row.hashed_key(), hashers::hash(branded.expose_secret()));
    let found = keys
        .find_by_prefix(row.prefix())
        .expect("find")
        .expect("stored");
    assert_eq!(found.prefix(), row.prefix());

    assert_eq!(
        keys.get_from_key(branded.expose_secret())
            .expect("branded")
            .name(),
        "new"
    );
    assert_eq!(
        keys.get_from_key(plain.expose_secret())
            .expect("plain")
            .name(),
        "old"
    );
    // Twice: the second answer may come from the cache.
    assert!(keys.is_valid(branded.expose_secret()).expect("again"));

    // The plain-key server refuses branded keys unless told to accept them.
    assert!(!plain_keys
        .is_valid(branded.expose_secret())
        .expect("refused"));
    let accepting = plain_keys
        .clone()
        .with_generator(KeyGenerator::default().accept_branded());
    assert!(accepting
        .is_valid(branded.expose_secret())
        .expect("accepted"));
    assert!(accepting.is_valid(plain.expose_secret()).expect("accepted"));

    // A wrong secret with a valid checksum is refused by the database's hash.
    let forged = {
        let body = format!("{}.{}", row.prefix(), "x".repeat(32));
        let check = branded::checksum(&body);
        format!("{body}{check}")
    };
    assert!(keys.is_well_formed(&forged));
    assert!(!keys.is_valid(&forged).expect("answered"));

    keys.revoke(row.prefix()).expect("revoke");
    assert!(!keys.is_valid(branded.expose_secret()).expect("revoked"));
}

backend_tests!(branded_and_plain_keys_on_one_server);
