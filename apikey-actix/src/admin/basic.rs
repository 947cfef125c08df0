//! [`BasicAuth`]: one username and password, checked in constant time.

use std::fmt;

use actix_web::http::header;
use actix_web::HttpRequest;
use base64::Engine as _;
use sha2::{Digest, Sha512};
use subtle::ConstantTimeEq;

use crate::{Denial, Permission, PermissionFuture};

/// HTTP Basic authentication with one username and password, for the web
/// admin (or any scope): a request passes with
/// `Authorization: Basic base64(user:password)`; without it, or with other
/// credentials, it is refused with 401 and
/// `WWW-Authenticate: Basic realm="..."`, so a browser asks for them.
///
/// Only SHA-512 digests of the credentials are kept, and they are compared
/// in constant time (with `subtle`). Use it over HTTPS: Basic credentials
/// travel in clear text.
///
/// ```
/// use apikey_actix::admin::BasicAuth;
///
/// let auth = BasicAuth::new("admin", "correct horse battery staple").realm("keys");
/// // Or from the environment (None unless both are set and not empty):
/// let from_env = BasicAuth::from_env("APIKEY_ADMIN_USER", "APIKEY_ADMIN_PASSWORD");
/// ```
#[derive(Clone)]
pub struct BasicAuth {
    user: [u8; 64],
    password: [u8; 64],
    realm: String,
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
    /// Grants requests with this username and password (realm `apikey admin`).
    pub fn new(user: &str, password: &str) -> Self {
        BasicAuth {
            user: digest(user.as_bytes()),
            password: digest(password.as_bytes()),
            realm: "apikey admin".to_owned(),
        }
    }

    /// The credentials from two environment variables; `None` unless both
    /// are set and not empty.
    pub fn from_env(user_var: &str, password_var: &str) -> Option<Self> {
        let user = std::env::var(user_var).ok().filter(|v| !v.is_empty())?;
        let password = std::env::var(password_var).ok().filter(|v| !v.is_empty())?;
        Some(BasicAuth::new(&user, &password))
    }

    /// Sets the realm shown by the browser's login prompt.
    pub fn realm(mut self, realm: impl Into<String>) -> Self {
        self.realm = realm.into();
        self
    }

    /// True when `req` carries these credentials.
    pub fn verify(&self, req: &HttpRequest) -> Result<(), Denial> {
        let mut values = req.headers().get_all(header::AUTHORIZATION);
        let Some(value) = values.next() else {
            return Err(Denial::MissingKey);
        };
        if values.next().is_some() {
            return Err(Denial::InvalidKey);
        }
        let value = value.to_str().map_err(|_| Denial::InvalidKey)?;
        let (scheme, encoded) = value.trim().split_once(' ').ok_or(Denial::InvalidKey)?;
        if !scheme.eq_ignore_ascii_case("basic") || encoded.len() > 4096 {
            return Err(Denial::InvalidKey);
        }
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(encoded.trim())
            .map_err(|_| Denial::InvalidKey)?;
        let colon = decoded
            .iter()
            .position(|&b| b == b':')
            .ok_or(Denial::InvalidKey)?;
        let (user, password) = (&decoded[..colon], &decoded[colon + 1..]);
        let ok = digest(user).ct_eq(&self.user) & digest(password).ct_eq(&self.password);
        if bool::from(ok) {
            Ok(())
        } else {
            Err(Denial::InvalidKey)
        }
    }
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
