//! Key hashes, byte-compatible with djangorestframework-api-key.
//!
//! The preferred format (3.x) is SHA-512 over the whole key (prefix, dot and
//! secret), unsalted, in lowercase hex, behind Django's `algorithm$salt$hash`
//! layout with an empty salt:
//!
//! ```text
//! sha512$$<128 lowercase hex digits of SHA-512(prefix "." secret)>
//! ```
//!
//! A key has about 190 bits of entropy, so a slow, salted password hash adds
//! nothing but ~100 ms a request. Hashes written by Django's password hashers
//! (djangorestframework-api-key before 3.0) still verify:
//!
//! ```text
//! pbkdf2_sha256$<iterations>$<salt>$<base64(PBKDF2-HMAC-SHA256(key, salt, iterations, 32 bytes))>
//! pbkdf2_sha1$<iterations>$<salt>$<base64(PBKDF2-HMAC-SHA1(key, salt, iterations, 20 bytes))>
//! ```
//!
//! and are reported as [`Verification::ValidOutdated`] so the manager rewrites
//! them in the preferred format. Any other or malformed string verifies as
//! [`Verification::Invalid`]. Every comparison is constant-time.

use base64::Engine as _;
use sha2::{Digest, Sha256, Sha512};
use subtle::ConstantTimeEq;

/// The prefix of every preferred-format hash.
pub const SHA512_PREFIX: &str = "sha512$$";

/// The largest PBKDF2 iteration count that is attempted. A stored hash asking
/// for more verifies as invalid rather than tying a thread up: Django's
/// default has grown with each release (390,000 in 4.1, 600,000 in 4.2,
/// 720,000 in 5.0, 870,000 in 5.1, 1,000,000 in 5.2, 1,200,000 in 6.0), and
/// djangorestframework-api-key stopped writing PBKDF2 hashes in 3.0; the cap
/// leaves room for a few more releases. Each check also goes through the
/// manager's [`crate::LegacyLimits`].
pub const MAX_PBKDF2_ITERATIONS: u32 = 2_000_000;

/// What checking a key against a stored hash found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verification {
    /// The key does not match (or the hash is malformed or unknown).
    Invalid,
    /// The key matches a hash in the preferred format.
    Valid,
    /// The key matches a legacy hash, which should be rewritten with [`hash`].
    ValidOutdated,
}

impl Verification {
    /// True for [`Verification::Valid`] and [`Verification::ValidOutdated`].
    pub fn is_valid(self) -> bool {
        !matches!(self, Verification::Invalid)
    }
}

/// Hashes a key in the preferred format: `sha512$$<hex>`.
pub fn hash(key: &str) -> String {
    let digest = Sha512::digest(key.as_bytes());
    let mut out = String::with_capacity(SHA512_PREFIX.len() + 128);
    out.push_str(SHA512_PREFIX);
    out.push_str(&hex::encode(digest));
    out
}

/// True when `hashed_key` is in the preferred format (no upgrade needed).
pub fn is_preferred(hashed_key: &str) -> bool {
    hashed_key.starts_with(SHA512_PREFIX)
}

/// Checks `key` against a stored hash in any supported format.
///
/// Never panics: a malformed or unknown `hashed_key` is [`Verification::Invalid`].
pub fn verify(key: &str, hashed_key: &str) -> Verification {
    if is_preferred(hashed_key) {
        // Same as the reference: the stored string is compared with the
        // freshly encoded one, in constant time.
        let expected = hash(key);
        return if ct_eq_str(&expected, hashed_key) {
            Verification::Valid
        } else {
            Verification::Invalid
        };
    }
    if verify_django_pbkdf2(key, hashed_key) {
        Verification::ValidOutdated
    } else {
        Verification::Invalid
    }
}

/// Encodes `key` the way Django's `PBKDF2PasswordHasher` (`pbkdf2_sha256`)
/// or `PBKDF2SHA1PasswordHasher` (`pbkdf2_sha1`) does, as
/// djangorestframework-api-key before 3.0 stored keys:
/// `<algorithm>$<iterations>$<salt>$<base64 digest>`. For tests and data
/// migrations; `None` for another algorithm, an empty salt or one containing
/// `$`, or an iteration count that [`verify`] would not attempt.
pub fn encode_django_pbkdf2(
    algorithm: &str,
    key: &str,
    salt: &str,
    iterations: u32,
) -> Option<String> {
    if salt.is_empty()
        || salt.contains('$')
        || iterations == 0
        || iterations > MAX_PBKDF2_ITERATIONS
    {
        return None;
    }
    let digest = pbkdf2_base64(algorithm, key, salt, iterations)?;
    Some(format!("{algorithm}${iterations}${salt}${digest}"))
}

/// Base64 of PBKDF2-HMAC-SHA256 (32 bytes) or -SHA1 (20 bytes), as Django
/// writes it; `None` for another algorithm.
fn pbkdf2_base64(algorithm: &str, key: &str, salt: &str, iterations: u32) -> Option<String> {
    let engine = base64::engine::general_purpose::STANDARD;
    match algorithm {
        "pbkdf2_sha256" => {
            let mut out = [0u8; 32];
            pbkdf2::pbkdf2_hmac::<Sha256>(key.as_bytes(), salt.as_bytes(), iterations, &mut out);
            Some(engine.encode(out))
        }
        "pbkdf2_sha1" => {
            let mut out = [0u8; 20];
            pbkdf2::pbkdf2_hmac::<sha1::Sha1>(
                key.as_bytes(),
                salt.as_bytes(),
                iterations,
                &mut out,
            );
            Some(engine.encode(out))
        }
        _ => None,
    }
}

/// Constant-time equality of two strings of equal length (false otherwise;
/// the length of a hash is not secret).
fn ct_eq_str(a: &str, b: &str) -> bool {
    a.len() == b.len() && bool::from(a.as_bytes().ct_eq(b.as_bytes()))
}

/// The parts of a Django `<algorithm>$<iterations>$<salt>$<hash>` string
/// worth checking: `None` when malformed, or when the iteration count is 0
/// or above [`MAX_PBKDF2_ITERATIONS`].
fn parse_django(encoded: &str) -> Option<(&str, u32, &str, &str)> {
    let mut parts = encoded.splitn(4, '$');
    let (Some(algorithm), Some(iterations), Some(salt), Some(stored)) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return None;
    };
    // Django's decode() refuses a salt containing '$' implicitly (split
    // into 4); an empty salt or hash can never have been written by Django.
    if salt.is_empty() || stored.is_empty() {
        return None;
    }
    let iterations = iterations.parse::<u32>().ok()?;
    if iterations == 0 || iterations > MAX_PBKDF2_ITERATIONS {
        return None;
    }
    Some((algorithm, iterations, salt, stored))
}

/// Verifies Django's `pbkdf2_sha256$...` and `pbkdf2_sha1$...` encodings.
fn verify_django_pbkdf2(key: &str, encoded: &str) -> bool {
    let Some((algorithm, iterations, salt, stored)) = parse_django(encoded) else {
        return false;
    };
    let Some(computed) = pbkdf2_base64(algorithm, key, salt, iterations) else {
        return false;
    };
    // Django compares the base64 text in constant time; so do we.
    ct_eq_str(&computed, stored)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn preferred_format_is_sha512_hex_of_the_whole_key() {
        let h = hash("abc");
        // SHA-512("abc"), FIPS 180-2 appendix C.1.
        assert_eq!(
            h,
            "sha512$$ddaf35a193617abacc417349ae20413112e6fa4e89a97ea20a9eeee64b55d39a\
             2192992a274fc1a836ba3c23a3feebbd454d4423643ce80e2a9ac94fa54ca49f"
        );
        assert_eq!(verify("abc", &h), Verification::Valid);
        assert_eq!(verify("abd", &h), Verification::Invalid);
    }

    #[test]
    fn malformed_hashes_are_invalid_not_panics() {
        for bad in [
            "",
            "$",
            "$$$",
            "sha512$$",
            "sha512$$zz",
            "pbkdf2_sha256",
            "pbkdf2_sha256$",
            "pbkdf2_sha256$abc$salt$hash",
            "pbkdf2_sha256$-1$salt$hash",
            "pbkdf2_sha256$0$salt$hash",
            "pbkdf2_sha256$99999999999$salt$hash",
            "pbkdf2_sha256$2000001$salt$hash",
            "pbkdf2_sha256$50000000$salt$hash",
            "pbkdf2_sha256$1$$hash",
            "pbkdf2_sha256$1$salt$",
            "pbkdf2_sha256$1$salt$not base64 at all ☃",
            "md5$$5d41402abc4b2a76b9719d911017c592",
            "argon2$argon2id$v=19$m=102400,t=2,p=8$c2FsdA$aGFzaA",
            "bcrypt_sha256$$2b$12$abc",
            "\u{0}\u{1}\u{2}",
        ] {
            assert_eq!(
                verify("prefix.secret", bad),
                Verification::Invalid,
                "{bad:?}"
            );
        }
    }

    #[test]
    fn iteration_counts_above_the_cap_are_not_attempted() {
        let at_cap = format!("pbkdf2_sha256${MAX_PBKDF2_ITERATIONS}$salt$hash");
        assert!(parse_django(&at_cap).is_some());
        assert!(parse_django("pbkdf2_sha256$1200000$salt$hash").is_some());
        for above in ["2000001", "50000000", "4294967295"] {
            assert_eq!(
                parse_django(&format!("pbkdf2_sha256${above}$salt$hash")),
                None
            );
        }
    }

    #[test]
    fn pbkdf2_rfc6070_style_vector() {
        // PBKDF2-HMAC-SHA1("password", "salt", 1, 20) = 0c60c80f961f0e71f3a9b524af6012062fe037a6 (RFC 6070).
        let encoded = format!(
            "pbkdf2_sha1$1$salt${}",
            base64::engine::general_purpose::STANDARD.encode(
                hex::decode("0c60c80f961f0e71f3a9b524af6012062fe037a6").unwrap_or_default()
            )
        );
        assert_eq!(verify("password", &encoded), Verification::ValidOutdated);
        assert_eq!(verify("passwore", &encoded), Verification::Invalid);
    }
}
