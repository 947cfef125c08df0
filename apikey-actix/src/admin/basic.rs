//! [`BasicAuth`]: one username and password, checked in constant time,
//! with back-off after failed attempts.

use std::fmt;
use std::net::IpAddr;
use std::sync::Arc;

use actix_web::http::header;
use actix_web::HttpRequest;
use base64::Engine as _;
use sha2::{Digest, Sha512};
use subtle::ConstantTimeEq;

use super::throttle::{Failures, Throttle};
use crate::{Denial, Permission, PermissionFuture};

/// The shortest password [`BasicAuth`] accepts, in characters.
pub const MIN_PASSWORD_LENGTH: usize = 12;

/// Credentials [`BasicAuth`] refuses to guard anything with.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum WeakCredentials {
    /// The user name is empty.
    EmptyUser,
    /// The password has fewer than [`MIN_PASSWORD_LENGTH`] characters.
    ShortPassword {
        /// How many characters it has.
        length: usize,
    },
    /// A CSRF secret of fewer than
    /// [`MIN_CSRF_SECRET_LENGTH`](crate::admin::MIN_CSRF_SECRET_LENGTH) bytes.
    ShortCsrfSecret {
        /// How many bytes it has.
        length: usize,
    },
}

impl fmt::Display for WeakCredentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            WeakCredentials::EmptyUser => f.write_str("the admin user name is empty"),
            WeakCredentials::ShortPassword { length } => write!(
                f,
                "the admin password has {length} characters: at least \
                 {MIN_PASSWORD_LENGTH} are required (a passphrase of a few words is fine)"
            ),
            WeakCredentials::ShortCsrfSecret { length } => write!(
                f,
                "the CSRF secret has {length} bytes: at least {} are required",
                super::csrf::MIN_CSRF_SECRET_LENGTH
            ),
        }
    }
}

impl std::error::Error for WeakCredentials {}

/// HTTP Basic authentication with one username and password, for the web
/// admin (or any scope): a request passes with
/// `Authorization: Basic base64(user:password)`; without it, or with other
/// credentials, it is refused with 401 and
/// `WWW-Authenticate: Basic realm="..."`, so a browser asks for them.
///
/// Only SHA-512 digests of the credentials are kept, and they are compared
/// in constant time (with `subtle`). A password under
/// [`MIN_PASSWORD_LENGTH`] characters is refused when the guard is built.
/// Failed attempts back off per client address and server-wide
/// ([`Throttle`]: 429 with `Retry-After`), and each is logged (warning,
/// target `apikey_actix::admin`) with the user name tried and the client
/// address, never the password. Clones share the counts, so build it once
/// and clone it into every worker. Use it over HTTPS: Basic credentials
/// travel in clear text.
///
/// ```
/// use apikey_actix::admin::BasicAuth;
///
/// let auth = BasicAuth::new("admin", "correct horse battery staple")?.realm("keys");
/// // Or from the environment (Ok(None) unless both are set and not empty):
/// let from_env = BasicAuth::from_env("APIKEY_ADMIN_USER", "APIKEY_ADMIN_PASSWORD")?;
/// assert!(BasicAuth::new("admin", "hunter2").is_err());
/// # Ok::<(), apikey_actix::admin::WeakCredentials>(())
/// ```
#[derive(Clone)]
pub struct BasicAuth {
    user: [u8; 64],
    password: [u8; 64],
    realm: String,
    failures: Arc<Failures>,
}

impl fmt::Debug for BasicAuth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BasicAuth")
            .field("realm", &self.realm)
            .finish_non_exhaustive()
    }
}

fn digest(value: &[u8]) -> [u8; 64] {
    Sha512::digest(value).into()
}

impl BasicAuth {
    /// Grants requests with this username and password (realm `apikey
    /// admin`, the default [`Throttle`]). Refuses an empty user name and a
    /// password under [`MIN_PASSWORD_LENGTH`] characters.
    pub fn new(user: &str, password: &str) -> Result<Self, WeakCredentials> {
        if user.is_empty() {
            return Err(WeakCredentials::EmptyUser);
        }
        let length = password.chars().count();
        if length < MIN_PASSWORD_LENGTH {
            return Err(WeakCredentials::ShortPassword { length });
        }
        Ok(BasicAuth {
            user: digest(user.as_bytes()),
            password: digest(password.as_bytes()),
            realm: "apikey admin".to_owned(),
            failures: Arc::new(Failures::new(Throttle::default())),
        })
    }

    /// The credentials from two environment variables: `Ok(None)` unless
    /// both are set and not empty, an error when they are too weak (see
    /// [`BasicAuth::new`]).
    pub fn from_env(user_var: &str, password_var: &str) -> Result<Option<Self>, WeakCredentials> {
        let user = std::env::var(user_var).ok().filter(|v| !v.is_empty());
        let password = std::env::var(password_var).ok().filter(|v| !v.is_empty());
        match (user, password) {
            (Some(user), Some(password)) => BasicAuth::new(&user, &password).map(Some),
            _ => Ok(None),
        }
    }

    /// Replaces the back-off after failed attempts (counts start afresh).
    pub fn throttle(mut self, throttle: Throttle) -> Self {
        self.failures = Arc::new(Failures::new(throttle));
        self
    }

    /// Sets the realm shown by the browser's login prompt.
    pub fn realm(mut self, realm: impl Into<String>) -> Self {
        self.realm = realm.into();
        self
    }

    /// Whether `req` carries these credentials: `Ok`, or the denial
    /// (401, or 429 while its address or the server backs off).
    pub fn verify(&self, req: &HttpRequest) -> Result<(), Denial> {
        let addr = req.peer_addr().map(|a| a.ip());
        if let Some(retry_after) = self.failures.blocked(addr) {
            return Err(Denial::Throttled { retry_after });
        }
        match self.check(req) {
            Ok(()) => {
                self.failures.succeeded(addr);
                Ok(())
            }
            Err(Attempt::Missing) => Err(Denial::MissingKey),
            Err(Attempt::Wrong(user)) => Err(self.failed(addr, &user)),
        }
    }

    fn failed(&self, addr: Option<IpAddr>, user: &str) -> Denial {
        let from = addr.map_or_else(|| "an unknown address".to_owned(), |a| a.to_string());
        log::warn!(
            target: "apikey_actix::admin",
            "failed Basic authentication for user {user:?} from {from}"
        );
        if let Some(retry_after) = self.failures.failed(addr) {
            log::warn!(
                target: "apikey_actix::admin",
                "too many failed Basic authentications (last from {from}): \
                 backing off for {retry_after} s"
            );
        }
        Denial::InvalidKey
    }

    /// The credentials check itself; a wrong attempt names the user tried
    /// (shortened, for the log).
    fn check(&self, req: &HttpRequest) -> Result<(), Attempt> {
        let wrong = |user: &[u8]| {
            let user = String::from_utf8_lossy(user);
            Attempt::Wrong(user.chars().take(64).collect())
        };
        let mut values = req.headers().get_all(header::AUTHORIZATION);
        let Some(value) = values.next() else {
            return Err(Attempt::Missing);
        };
        if values.next().is_some() {
            return Err(wrong(b""));
        }
        let (user, password) = parse_basic(value.as_bytes()).ok_or_else(|| wrong(b""))?;
        let ok = digest(&user).ct_eq(&self.user) & digest(&password).ct_eq(&self.password);
        if bool::from(ok) {
            Ok(())
        } else {
            Err(wrong(&user))
        }
    }
}

enum Attempt {
    /// No `Authorization` header: the browser has not asked yet.
    Missing,
    /// Credentials that do not match (or are malformed): the user tried.
    Wrong(String),
}

/// The user and password of an `Authorization: Basic <base64>` value
/// (scheme case-insensitive, at most 4 KiB of base64); `None` when
/// malformed.
pub(crate) fn parse_basic(value: &[u8]) -> Option<(Vec<u8>, Vec<u8>)> {
    let value = std::str::from_utf8(value).ok()?;
    let (scheme, encoded) = value.trim().split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") || encoded.len() > 4096 {
        return None;
    }
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .ok()?;
    let colon = decoded.iter().position(|&b| b == b':')?;
    Some((decoded[..colon].to_vec(), decoded[colon + 1..].to_vec()))
}

impl Permission for BasicAuth {
    fn check(&self, req: &HttpRequest) -> PermissionFuture {
        let result = self.verify(req);
        Box::pin(async move { result })
    }

    fn challenge(&self) -> Option<String> {
        Some(format!(
            "Basic realm=\"{}\", charset=\"UTF-8\"",
            self.realm.replace(['"', '\\'], "")
        ))
    }
}
