//! CSRF protection of the admin's forms: a signed double-submit token.
//!
//! A token is `<32 hex random>.<64 hex HMAC-SHA256(secret, random)>`. It is
//! set in a `SameSite=Strict`, `HttpOnly` cookie (scoped to the admin's path)
//! and repeated in a hidden field of every form; a POST passes only when
//! both are present, equal (compared in constant time) and the HMAC verifies
//! with this process's secret. The secret is random per process: after a
//! restart, an open form is refused once and the next page issues a new token.

use std::sync::OnceLock;

use actix_web::cookie::{Cookie, SameSite};
use actix_web::HttpRequest;
use hmac::{Hmac, Mac};
use rand::TryRngCore;
use sha2::Sha256;
use subtle::ConstantTimeEq;

/// The cookie's name.
pub(crate) const COOKIE: &str = "apikey_admin_csrf";
/// The hidden form field's name.
pub(crate) const FIELD: &str = "csrf_token";

fn random_bytes<const N: usize>() -> Option<[u8; N]> {
    let mut buf = [0u8; N];
    rand::rngs::OsRng.try_fill_bytes(&mut buf).ok()?;
    Some(buf)
}

fn secret() -> Option<&'static [u8; 32]> {
    static SECRET: OnceLock<Option<[u8; 32]>> = OnceLock::new();
    SECRET.get_or_init(random_bytes::<32>).as_ref()
}

fn mac(nonce: &str) -> Option<Hmac<Sha256>> {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret()?).ok()?;
    mac.update(b"apikey-admin-csrf:");
    mac.update(nonce.as_bytes());
    Some(mac)
}

/// A new token; `None` only when the OS random generator fails.
pub(crate) fn mint() -> Option<String> {
    let nonce = hex(&random_bytes::<16>()?);
    let tag = mac(&nonce)?.finalize().into_bytes();
    Some(format!("{nonce}.{}", hex(&tag)))
}

fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    bytes.iter().fold(String::new(), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}

fn unhex(s: &str) -> Option<Vec<u8>> {
    if s.len() % 2 != 0 {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok())
        .collect()
}

/// True when `token` was minted by this process.
pub(crate) fn is_genuine(token: &str) -> bool {
    let Some((nonce, tag)) = token.split_once('.') else {
        return false;
    };
    if nonce.len() != 32 || tag.len() != 64 {
        return false;
    }
    match (unhex(tag), mac(nonce)) {
        (Some(tag), Some(mac)) => mac.verify_slice(&tag).is_ok(),
        _ => false,
    }
}

/// The request's genuine token cookie, if any.
pub(crate) fn from_cookie(req: &HttpRequest) -> Option<String> {
    let cookie = req.cookie(COOKIE)?;
    let value = cookie.value();
    is_genuine(value).then(|| value.to_owned())
}

/// The CSRF check of a POST: the form's token equals the cookie's, and it is genuine.
pub(crate) fn check(req: &HttpRequest, submitted: Option<&str>) -> bool {
    let (Some(cookie), Some(submitted)) = (from_cookie(req), submitted) else {
        return false;
    };
    let (a, b) = (cookie.as_bytes(), submitted.as_bytes());
    a.len() == b.len() && bool::from(a.ct_eq(b))
}

/// The cookie carrying `token`, for the admin mounted at `path`.
pub(crate) fn cookie(token: &str, path: &str, secure: bool) -> Cookie<'static> {
    let path = if path.is_empty() { "/" } else { path };
    Cookie::build(COOKIE, token.to_owned())
        .path(path.to_owned())
        .http_only(true)
        .same_site(SameSite::Strict)
        .secure(secure)
        .finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn minted_tokens_are_genuine_and_tampering_is_not() {
        let t = mint().expect("token");
        assert!(is_genuine(&t));
        let mut forged = t.clone().into_bytes();
        forged[0] = if forged[0] == b'a' { b'b' } else { b'a' };
        assert!(!is_genuine(&String::from_utf8(forged).expect("utf8")));
        assert!(!is_genuine("x.y"));
        assert!(!is_genuine(""));
        assert_ne!(mint().expect("token"), t);
    }
}
