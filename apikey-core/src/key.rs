//! Key generation and the plain key type.
//!
//! A full key is `{prefix}.{secret}`; both parts are drawn from
//! `[A-Za-z0-9]` with the operating system's CSPRNG:
//!
//! ```text
//! prefix (8)   secret (32)
//! Gm7lu2UK.N1xUENkaJ1uV7mYqV78U8a72oo9QfP9w
//! ```
//!
//! Only the prefix (the lookup index) and a hash of the whole key are stored;
//! see [`crate::hashers`] for the hash format.

use std::fmt;

use rand::TryRngCore;
use zeroize::Zeroizing;

use crate::hashers::{self, Verification};

/// The characters keys are made of, as Django's `get_random_string`.
pub const KEY_CHARSET: &[u8; 62] =
    b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";

/// A plain (full) API key.
///
/// It is shown to its owner once, at creation, and never stored. It redacts
/// itself in `Debug` and `Display`, is zeroized when dropped, and has no
/// `PartialEq` (compare digests, never keys). Read it with
/// [`PlainKey::expose_secret`].
pub struct PlainKey(Zeroizing<String>);

impl PlainKey {
    /// Wraps a key string (taking ownership, so only one copy lives on).
    pub fn new(key: String) -> Self {
        PlainKey(Zeroizing::new(key))
    }

    /// The full key, `{prefix}.{secret}`. Handle with care: show it once.
    pub fn expose_secret(&self) -> &str {
        &self.0
    }

    /// The prefix (everything before the first `.`), safe to log.
    pub fn prefix(&self) -> &str {
        split_prefix(&self.0)
    }
}

impl fmt::Debug for PlainKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("PlainKey(********)")
    }
}

impl fmt::Display for PlainKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("********")
    }
}

/// The prefix of a key: everything before the first `.` (the whole string
/// when there is no dot), as the reference's `key.partition(".")`.
pub fn split_prefix(key: &str) -> &str {
    // Keys are short and the dot comes early: a plain scan costs less than
    // the general substring search.
    match key.bytes().position(|b| b == b'.') {
        Some(dot) => &key[..dot],
        None => key,
    }
}

/// A freshly generated key: the plain key (show it once), its prefix and the
/// hash to store.
#[derive(Debug)]
pub struct GeneratedKey {
    /// The full key, to hand to its owner once.
    pub key: PlainKey,
    /// The prefix to store (unique, the lookup index).
    pub prefix: String,
    /// The hash to store.
    pub hashed_key: String,
}

/// The key algorithm: how keys are made, hashed and checked.
///
/// [`KeyGenerator`] is the default; implement this trait to replace the whole
/// algorithm, as the reference lets you replace its `KeyGenerator` class.
pub trait GenerateKey: fmt::Debug + Send + Sync + 'static {
    /// Makes a new key.
    fn generate(&self) -> GeneratedKey;

    /// Hashes a key in the preferred format.
    fn hash(&self, key: &str) -> String {
        hashers::hash(key)
    }

    /// Checks a key against a stored hash. Never panics, whatever `hashed_key` holds.
    fn verify(&self, key: &str, hashed_key: &str) -> Verification {
        hashers::verify(key, hashed_key)
    }

    /// Whether `key` has the shape of a key this generator makes (lengths,
    /// alphabet, separator). The manager refuses a key without it before
    /// any hashing, cache probe or query. The default accepts every key: a
    /// custom generator that does not say what it produces is never
    /// second-guessed.
    fn is_well_formed(&self, key: &str) -> bool {
        let _ = key;
        true
    }
}

/// Whether every byte is `[A-Za-z0-9]`: ranges compared without a branch
/// but the loop's, so the compiler vectorizes it (this runs on every
/// request; a table lookup per byte did not vectorize).
fn all_alphanumeric(bytes: &[u8]) -> bool {
    bytes.iter().fold(true, |ok, &b| {
        // Clearing 0x20 maps a-z onto A-Z and no other byte onto A-Z.
        ok & (b.is_ascii_digit() | (b & !0x20).is_ascii_uppercase())
    })
}

/// The default key generator: `prefix_length` and `secret_key_length`
/// characters of `[A-Za-z0-9]` from the OS CSPRNG, hashed with SHA-512.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeyGenerator {
    prefix_length: usize,
    secret_key_length: usize,
    accept_branded: bool,
}

impl Default for KeyGenerator {
    fn default() -> Self {
        KeyGenerator {
            prefix_length: 8,
            secret_key_length: 32,
            accept_branded: false,
        }
    }
}

/// The fewest bits of entropy a generated secret may have.
pub const MIN_SECRET_BITS: u32 = 128;

/// The shortest secret [`KeyGenerator::new`] accepts: 22 characters of
/// [`KEY_CHARSET`] carry 22 x log2(62) = 131 bits, 21 only 125.
pub const MIN_SECRET_LENGTH: usize = 22;

impl KeyGenerator {
    /// A generator with the given lengths: a prefix of at least 1
    /// character, a secret of at least [`MIN_SECRET_LENGTH`] characters
    /// ([`MIN_SECRET_BITS`] bits of entropy: keys are hashed without salt,
    /// so a short secret could be found from its hash), and a full key of at
    /// most [`crate::MAX_KEY_LENGTH`] bytes. Other lengths are a
    /// validation error.
    ///
    /// ```
    /// use apikey_core::KeyGenerator;
    /// assert!(KeyGenerator::new(12, 40).is_ok());
    /// assert!(KeyGenerator::new(8, 8).is_err()); // 47 bits
    /// ```
    pub fn new(prefix_length: usize, secret_key_length: usize) -> crate::Result<Self> {
        if prefix_length == 0 {
            return Err(crate::Error::validation(
                "prefix_length",
                "a prefix needs at least 1 character",
            ));
        }
        if secret_key_length < MIN_SECRET_LENGTH {
            return Err(crate::Error::validation(
                "secret_key_length",
                format!(
                    "at least {MIN_SECRET_LENGTH} characters ({MIN_SECRET_BITS} bits of entropy), \
                     got {secret_key_length}"
                ),
            ));
        }
        if prefix_length
            .saturating_add(1)
            .saturating_add(secret_key_length)
            > crate::manager::MAX_KEY_LENGTH
        {
            return Err(crate::Error::validation(
                "secret_key_length",
                format!(
                    "a key is at most {} bytes long",
                    crate::manager::MAX_KEY_LENGTH
                ),
            ));
        }
        Ok(KeyGenerator {
            prefix_length,
            secret_key_length,
            accept_branded: false,
        })
    }

    /// Also accepts branded keys ([`crate::branded`]) of any brand with
    /// these lengths whose checksum holds: a server that issues plain keys
    /// and serves the branded keys another tool (`apikey create --brand`)
    /// issued. It still issues plain keys.
    pub fn accept_branded(mut self) -> Self {
        self.accept_branded = true;
        self
    }

    /// The prefix length (default 8).
    pub fn prefix_length(&self) -> usize {
        self.prefix_length
    }

    /// The secret length (default 32).
    pub fn secret_key_length(&self) -> usize {
        self.secret_key_length
    }
}

impl GenerateKey for KeyGenerator {
    /// Exactly `prefix_length` and `secret_key_length` characters of
    /// `[A-Za-z0-9]` around one `.`: what this generator, and
    /// djangorestframework-api-key's generator with the same lengths
    /// (8 and 32 by default), produce. Keys made with other lengths are
    /// refused: configure the lengths your keys have. With
    /// [`KeyGenerator::accept_branded`], also a branded key of these
    /// lengths whose checksum holds.
    fn is_well_formed(&self, key: &str) -> bool {
        let bytes = key.as_bytes();
        let plain = bytes.len() == self.prefix_length + 1 + self.secret_key_length
            && bytes[self.prefix_length] == b'.'
            && all_alphanumeric(&bytes[..self.prefix_length])
            && all_alphanumeric(&bytes[self.prefix_length + 1..]);
        plain
            || (self.accept_branded
                && crate::branded::branded_brand(key, self.prefix_length, self.secret_key_length)
                    .is_some())
    }

    fn generate(&self) -> GeneratedKey {
        let mut key = String::with_capacity(self.prefix_length + 1 + self.secret_key_length);
        push_random(&mut key, self.prefix_length);
        key.push('.');
        push_random(&mut key, self.secret_key_length);
        let prefix = key[..self.prefix_length].to_owned();
        let hashed_key = self.hash(&key);
        GeneratedKey {
            key: PlainKey::new(key),
            prefix,
            hashed_key,
        }
    }
}

/// Appends `n` uniformly random characters of [`KEY_CHARSET`] to `out`.
///
/// Bytes are drawn from the OS CSPRNG and rejection-sampled (only bytes below
/// 248 = 4 * 62 are used) so that every character is equally likely.
pub fn push_random(out: &mut String, n: usize) {
    let mut buf = Zeroizing::new([0u8; 64]);
    let mut added = 0;
    while added < n {
        // An OS RNG failure is unrecoverable and not caused by input.
        #[allow(clippy::expect_used)]
        rand::rngs::OsRng
            .try_fill_bytes(&mut buf[..])
            .expect("the operating system's random number generator failed");
        for &b in buf.iter() {
            if added == n {
                break;
            }
            if b < 248 {
                out.push(KEY_CHARSET[usize::from(b % 62)] as char);
                added += 1;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every byte value: alphanumeric exactly when std says so, alone and
    /// at each position of a key-long run (the vectorized loop's lanes and
    /// its tail).
    #[test]
    fn alphanumeric_check_matches_std_for_every_byte() {
        for b in 0..=255u8 {
            assert_eq!(
                all_alphanumeric(&[b]),
                b.is_ascii_alphanumeric(),
                "{b:#04x}"
            );
            for at in [0, 15, 16, 31, 40] {
                let mut run = [b'a'; 41];
                run[at] = b;
                assert_eq!(
                    all_alphanumeric(&run),
                    b.is_ascii_alphanumeric(),
                    "{b:#04x} at {at}"
                );
            }
        }
        assert!(all_alphanumeric(b""));
    }

    #[test]
    fn generators_refuse_secrets_under_128_bits() {
        assert!(KeyGenerator::new(8, MIN_SECRET_LENGTH).is_ok());
        assert!((MIN_SECRET_LENGTH as f64) * 62f64.log2() >= f64::from(MIN_SECRET_BITS));
        assert!(((MIN_SECRET_LENGTH - 1) as f64) * 62f64.log2() < f64::from(MIN_SECRET_BITS));
        for (prefix, secret) in [(8, 1), (8, 21), (0, 32), (8, 600), (usize::MAX, usize::MAX)] {
            let err = KeyGenerator::new(prefix, secret).expect_err("refused");
            assert!(matches!(err, crate::Error::Validation { .. }), "{err}");
        }
        let generator = KeyGenerator::new(12, 40).expect("generator");
        let key = generator.generate();
        assert_eq!(key.key.expose_secret().len(), 12 + 1 + 40);
    }
}
