//! CSRF protection of the admin's forms: a signed, dated double-submit token.
//!
//! A token is
//!
//! ```text
//! <32 hex random>.<issued, unix seconds, decimal>.<64 hex HMAC-SHA256(secret, random "." issued)>
//! ```
//!
//! It is set in a `SameSite=Strict`, `HttpOnly` cookie (scoped to the
//! admin's path) and repeated in a hidden field of every form; a POST passes
//! only when both are present, equal (compared in constant time), the HMAC
//! verifies with the admin's secret and the token is younger than the
//! maximum age ([`CsrfSettings`]). The secret is random per process by
//! default (after a restart an open form is refused once and the next page
//! issues a new token); several instances behind one load balancer share a
//! configured one (`Admin::csrf_secret`).

use std::fmt;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

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

/// The shortest secret accepted, in bytes.
pub const MIN_CSRF_SECRET_LENGTH: usize = 32;

/// How long a token is accepted by default.
pub const DEFAULT_CSRF_MAX_AGE: Duration = Duration::from_secs(12 * 3600);

/// The admin's CSRF settings (the scope's `app_data`).
#[derive(Clone)]
pub(crate) struct CsrfSettings {
    secret: Option<Arc<[u8]>>,
    pub(crate) max_age: Duration,
    /// `Some`: the `Secure` flag as configured; `None`: set it when the
    /// server itself speaks TLS (never from client-supplied headers).
    pub(crate) secure: Option<bool>,
}

impl fmt::Debug for CsrfSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CsrfSettings")
            .field("secret", &self.secret.as_ref().map(|_| "********"))
            .field("max_age", &self.max_age)
            .field("secure", &self.secure)
            .finish()
    }
}

impl Default for CsrfSettings {
    fn default() -> Self {
        CsrfSettings {
            secret: None,
            max_age: DEFAULT_CSRF_MAX_AGE,
            secure: None,
        }
    }
}

fn random_bytes<const N: usize>() -> Option<[u8; N]> {
    let mut buf = [0u8; N];
    rand::rngs::OsRng.try_fill_bytes(&mut buf).ok()?;
    Some(buf)
}

fn process_secret() -> Option<&'static [u8; 32]> {
    static SECRET: OnceLock<Option<[u8; 32]>> = OnceLock::new();
    SECRET.get_or_init(random_bytes::<32>).as_ref()
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

impl CsrfSettings {
    /// Settings with this shared secret (at least
    /// [`MIN_CSRF_SECRET_LENGTH`] bytes; `None` otherwise).
    pub(crate) fn with_secret(mut self, secret: &[u8]) -> Option<Self> {
        if secret.len() < MIN_CSRF_SECRET_LENGTH {
            return None;
        }
        self.secret = Some(Arc::from(secret));
        Some(self)
    }

    fn mac(&self, body: &str) -> Option<Hmac<Sha256>> {
        let secret: &[u8] = match &self.secret {
            Some(secret) => secret,
            None => process_secret()?,
        };
        let mut mac = Hmac::<Sha256>::new_from_slice(secret).ok()?;
        mac.update(b"apikey-admin-csrf:");
        mac.update(body.as_bytes());
        Some(mac)
    }

    /// A new token; `None` only when the OS random generator fails.
    pub(crate) fn mint(&self) -> Option<String> {
        self.mint_at(now())
    }

    fn mint_at(&self, issued: u64) -> Option<String> {
        let body = format!("{}.{issued}", hex(&random_bytes::<16>()?));
        let tag = self.mac(&body)?.finalize().into_bytes();
        Some(format!("{body}.{}", hex(&tag)))
    }

    /// True when `token` was minted with this secret less than `max_age` ago.
    pub(crate) fn is_genuine(&self, token: &str) -> bool {
        self.is_genuine_at(token, now())
    }

    fn is_genuine_at(&self, token: &str, now: u64) -> bool {
        let Some((body, tag)) = token.rsplit_once('.') else {
            return false;
        };
        let Some((nonce, issued)) = body.split_once('.') else {
            return false;
        };
        if nonce.len() != 32 || tag.len() != 64 || issued.is_empty() || issued.len() > 20 {
            return false;
        }
        let Ok(issued) = issued.parse::<u64>() else {
            return false;
        };
        let genuine = match (unhex(tag), self.mac(body)) {
            (Some(tag), Some(mac)) => mac.verify_slice(&tag).is_ok(),
            _ => false,
        };
        // Not expired, and not from the future (beyond a minute of clock skew
        // between instances).
        genuine
            && issued <= now.saturating_add(60)
            && now.saturating_sub(issued) < self.max_age.as_secs()
    }

    /// The request's genuine token cookie, if any.
    pub(crate) fn cookie_token(&self, req: &HttpRequest) -> Option<String> {
        let cookie = req.cookie(COOKIE)?;
        let value = cookie.value();
        self.is_genuine(value).then(|| value.to_owned())
    }

    /// The CSRF check of a POST: the form's token equals the cookie's, and
    /// it is genuine and fresh.
    pub(crate) fn check(&self, req: &HttpRequest, submitted: Option<&str>) -> bool {
        let (Some(cookie), Some(submitted)) = (self.cookie_token(req), submitted) else {
            return false;
        };
        let (a, b) = (cookie.as_bytes(), submitted.as_bytes());
        a.len() == b.len() && bool::from(a.ct_eq(b))
    }

    /// Whether the cookie is `Secure`: as configured, else when the server
    /// itself serves TLS (`X-Forwarded-Proto` and the like are not trusted).
    pub(crate) fn secure_for(&self, req: &HttpRequest) -> bool {
        self.secure.unwrap_or_else(|| req.app_config().secure())
    }

    /// The settings that apply to `req` (the admin's scope), or the default.
    pub(crate) fn of(req: &HttpRequest) -> CsrfSettings {
        req.app_data::<CsrfSettings>().cloned().unwrap_or_default()
    }
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
        let csrf = CsrfSettings::default();
        let t = csrf.mint().expect("token");
        assert!(csrf.is_genuine(&t));
        let mut forged = t.clone().into_bytes();
        forged[0] = if forged[0] == b'a' { b'b' } else { b'a' };
        assert!(!csrf.is_genuine(&String::from_utf8(forged).expect("utf8")));
        assert!(!csrf.is_genuine("x.y"));
        assert!(!csrf.is_genuine("x.1.y"));
        assert!(!csrf.is_genuine(""));
        assert_ne!(csrf.mint().expect("token"), t);
        // Another date on the same nonce and tag: refused.
        let (nonce, rest) = t.split_once('.').expect("dot");
        let (_, tag) = rest.split_once('.').expect("dot");
        assert!(!csrf.is_genuine(&format!("{nonce}.{}.{tag}", now() + 5)));
    }

    #[test]
    fn a_shared_secret_works_across_instances_and_tokens_expire() {
        let secret = [7u8; 32];
        let one = CsrfSettings::default()
            .with_secret(&secret)
            .expect("secret");
        let two = CsrfSettings::default()
            .with_secret(&secret)
            .expect("secret");
        let t = one.mint().expect("token");
        assert!(two.is_genuine(&t), "another instance accepts it");
        assert!(
            !CsrfSettings::default().is_genuine(&t),
            "the per-process secret does not"
        );
        assert!(CsrfSettings::default().with_secret(&[1u8; 31]).is_none());

        let issued = now();
        let old = one.mint_at(issued).expect("token");
        let max = one.max_age.as_secs();
        assert!(one.is_genuine_at(&old, issued + max - 1));
        assert!(!one.is_genuine_at(&old, issued + max), "expired");
        assert!(!one.is_genuine_at(&old, issued - 61), "from the future");
    }
}
