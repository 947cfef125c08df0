//! Branded, checksummed keys (opt-in): keys that say whose they are and
//! carry a checksum, so that a secret scanner recognises them offline and a
//! server refuses a mistyped or corrupted key before any hashing or query.
//!
//! ```text
//! brand _ prefix (8) . secret (32)                       checksum (6)
//! acme  _ Gm7lu2UK   . N1xUENkaJ1uV7mYqV78U8a72oo9QfP9w  3vBuHB
//! ```
//!
//! - `brand`: 1 to 16 characters of `[a-z0-9]`, the first a letter
//!   ([`MAX_BRAND_LENGTH`]); it ends at the first `_`.
//! - `prefix` and `secret`: `[A-Za-z0-9]` from the operating system's CSPRNG,
//!   as plain keys ([`crate::key`]); their lengths are the generator's
//!   (8 and 32 by default).
//! - `checksum`: the CRC-32 (CRC-32/ISO-HDLC, the one of zlib, gzip and PNG)
//!   of every byte before it (brand, `_`, prefix, `.` and secret), written
//!   in base 62 with the digits `0-9A-Za-z`, most significant first,
//!   left-padded with `0` to 6 digits ([`CHECKSUM_LENGTH`]).
//!
//! A secret scanner finds keys of the default lengths with
//!
//! ```text
//! \b[a-z][a-z0-9]{0,15}_[A-Za-z0-9]{8}\.[A-Za-z0-9]{38}\b
//! ```
//!
//! (replace `[a-z][a-z0-9]{0,15}` by the brand, `acme`, to find one
//! brand's keys) and confirms a match offline with [`is_branded_key`]. A
//! random 44-character string passes the checksum with a chance of one in
//! 2^32.
//!
//! Storage is unchanged: the prefix column holds everything before the
//! `.` (`acme_Gm7lu2UK`, as [`crate::key::split_prefix`] reads every key),
//! and `hashed_key` the SHA-512 of the whole key, checksum included. Such a
//! prefix is longer than the 8 characters of Django's table
//! (`rest_framework_api_key_apikey.prefix` is `varchar(8)`): branded keys
//! go in the built-in table or a derived model's, whose prefix column holds
//! 64 characters.
//!
//! A server that issues branded keys but still has plain ones (a team
//! moving from Django) accepts both with
//! [`BrandedKeyGenerator::accept_plain`]; a server that issues plain keys
//! accepts branded ones with [`KeyGenerator::accept_branded`].

use crate::error::{Error, Result};
use crate::key::{push_random, GenerateKey, GeneratedKey, KeyGenerator, PlainKey};

/// The longest brand.
pub const MAX_BRAND_LENGTH: usize = 16;

/// The checksum's length, in base-62 digits (62^6 > 2^32).
pub const CHECKSUM_LENGTH: usize = 6;

/// The digits of the checksum, in order of value.
const BASE62_DIGITS: &[u8; 62] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/// The checksum of `text`: its CRC-32 in 6 base-62 digits.
///
/// ```
/// // The CRC-32/ISO-HDLC check value of "123456789" is 0xCBF43926.
/// assert_eq!(apikey_core::branded::checksum("123456789"), "3jZRME");
/// ```
pub fn checksum(text: &str) -> String {
    let mut value = crc32fast::hash(text.as_bytes());
    let mut digits = [b'0'; CHECKSUM_LENGTH];
    for digit in digits.iter_mut().rev() {
        *digit = BASE62_DIGITS[(value % 62) as usize];
        value /= 62;
    }
    digits.iter().map(|&d| char::from(d)).collect()
}

/// Checks a brand: 1 to [`MAX_BRAND_LENGTH`] characters of `[a-z0-9]`, the
/// first a letter.
pub fn validate_brand(brand: &str) -> Result<()> {
    let bytes = brand.as_bytes();
    let ok = !bytes.is_empty()
        && bytes.len() <= MAX_BRAND_LENGTH
        && bytes[0].is_ascii_lowercase()
        && bytes
            .iter()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit());
    if ok {
        Ok(())
    } else {
        Err(Error::validation(
            "brand",
            format!(
                "expected 1 to {MAX_BRAND_LENGTH} characters of a-z and 0-9, \
                 starting with a letter (for example `acme`)"
            ),
        ))
    }
}

/// The brand of `key` when it is a branded key with a prefix of
/// `prefix_length` and a secret of `secret_length` characters whose
/// checksum holds; `None` otherwise. Offline, no hashing: what a secret
/// scanner or a server's first check calls.
pub fn branded_brand(key: &str, prefix_length: usize, secret_length: usize) -> Option<&str> {
    let (brand, rest) = key.split_once('_')?;
    validate_brand(brand).ok()?;
    let rest = rest.as_bytes();
    if rest.len() != prefix_length + 1 + secret_length + CHECKSUM_LENGTH
        || rest[prefix_length] != b'.'
        || !rest[..prefix_length]
            .iter()
            .chain(&rest[prefix_length + 1..])
            .all(u8::is_ascii_alphanumeric)
    {
        return None;
    }
    let (body, check) = key.split_at(key.len() - CHECKSUM_LENGTH);
    (checksum(body) == check).then_some(brand)
}

/// True when `key` is a branded key of the default lengths (8 and 32) whose
/// checksum holds: what a secret scanner confirms a match of the format's
/// regular expression with.
pub fn is_branded_key(key: &str) -> bool {
    let default = KeyGenerator::default();
    branded_brand(key, default.prefix_length(), default.secret_key_length()).is_some()
}

/// Issues branded, checksummed keys (`acme_Gm7lu2UK.N1xU...3vBuHB`, see
/// [the module docs](self)) and accepts only well-formed ones: a key whose
/// brand, shape or checksum is wrong is refused before any hashing, cache
/// probe or query.
///
/// ```
/// use apikey_core::branded::BrandedKeyGenerator;
/// use apikey_core::{GenerateKey, KeyGenerator};
///
/// let generator = BrandedKeyGenerator::new("acme")?.accept_plain(KeyGenerator::default());
/// let key = generator.generate().key;
/// assert!(key.expose_secret().starts_with("acme_"));
/// assert!(generator.is_well_formed(key.expose_secret()));
/// // A plain Django-format key still gets through to the database.
/// assert!(generator.is_well_formed("Gm7lu2UK.N1xUENkaJ1uV7mYqV78U8a72oo9QfP9w"));
/// // A corrupted branded key does not.
/// let corrupted = key.expose_secret().replacen("acme_", "acne_", 1);
/// assert!(!generator.is_well_formed(&corrupted));
/// # Ok::<(), apikey_core::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BrandedKeyGenerator {
    brand: String,
    prefix_length: usize,
    secret_key_length: usize,
    any_brand: bool,
    plain: Option<KeyGenerator>,
}

impl BrandedKeyGenerator {
    /// A generator of `brand` keys with an 8-character prefix and a
    /// 32-character secret; the brand is refused unless it is 1 to
    /// [`MAX_BRAND_LENGTH`] characters of `[a-z0-9]` starting with a letter.
    pub fn new(brand: &str) -> Result<Self> {
        validate_brand(brand)?;
        let default = KeyGenerator::default();
        Ok(BrandedKeyGenerator {
            brand: brand.to_owned(),
            prefix_length: default.prefix_length(),
            secret_key_length: default.secret_key_length(),
            any_brand: false,
            plain: None,
        })
    }

    /// Other lengths for the random prefix and secret, refused as by
    /// [`KeyGenerator::new`] (a secret of at least
    /// [`crate::MIN_SECRET_LENGTH`] characters, 128 bits).
    pub fn lengths(mut self, prefix_length: usize, secret_key_length: usize) -> Result<Self> {
        KeyGenerator::new(prefix_length, secret_key_length)?;
        self.prefix_length = prefix_length;
        self.secret_key_length = secret_key_length;
        Ok(self)
    }

    /// Also accepts plain keys of `plain`'s shape (Django's format, 8 and 32
    /// characters with [`KeyGenerator::default`]): one server for the
    /// branded keys it issues and the plain keys it used to.
    pub fn accept_plain(mut self, plain: KeyGenerator) -> Self {
        self.plain = Some(plain);
        self
    }

    /// Also accepts branded keys of any brand (same lengths, checksum
    /// checked): for a tool that serves several brands.
    pub fn accept_any_brand(mut self) -> Self {
        self.any_brand = true;
        self
    }

    /// The brand of the keys it issues.
    pub fn brand(&self) -> &str {
        &self.brand
    }
}

impl GenerateKey for BrandedKeyGenerator {
    fn generate(&self) -> GeneratedKey {
        let mut key = String::with_capacity(
            self.brand.len() + self.prefix_length + self.secret_key_length + 2 + CHECKSUM_LENGTH,
        );
        key.push_str(&self.brand);
        key.push('_');
        push_random(&mut key, self.prefix_length);
        key.push('.');
        push_random(&mut key, self.secret_key_length);
        let check = checksum(&key);
        key.push_str(&check);
        let prefix = key[..self.brand.len() + 1 + self.prefix_length].to_owned();
        let hashed_key = self.hash(&key);
        GeneratedKey {
            key: PlainKey::new(key),
            prefix,
            hashed_key,
        }
    }

    /// A branded key of this brand (or of any brand, with
    /// [`BrandedKeyGenerator::accept_any_brand`]) and these lengths whose
    /// checksum holds; or, with [`BrandedKeyGenerator::accept_plain`], a
    /// plain key of that shape.
    fn is_well_formed(&self, key: &str) -> bool {
        match branded_brand(key, self.prefix_length, self.secret_key_length) {
            Some(brand) => self.any_brand || brand == self.brand,
            None => self.plain.is_some_and(|plain| plain.is_well_formed(key)),
        }
    }
}
