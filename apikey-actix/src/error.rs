//! [`AuthError`]: why a request was refused, and the response it becomes.

use std::borrow::Cow;
use std::fmt;
use std::sync::Arc;

use actix_web::http::header::{self, HeaderValue};
use actix_web::http::StatusCode;
use actix_web::web::Bytes;
use actix_web::{HttpResponse, ResponseError};

/// A replacement for the default refusal response
/// (`ApiKeyConfig::error_handler`).
pub(crate) type ErrorHandler = Arc<dyn Fn(&AuthError) -> HttpResponse + Send + Sync>;

/// Why a request was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Denial {
    /// No key in the request (401).
    MissingKey,
    /// A key that is malformed, unknown, wrong, revoked or expired (401).
    InvalidKey,
    /// Authenticated, but a permission refused the request (403).
    Forbidden,
    /// A valid key without this scope ([`crate::HasScope`]; 403, the
    /// `detail` names the scope).
    MissingScope(&'static str),
    /// The key store could not be reached (503; fail closed).
    Unavailable,
    /// Too many failed attempts (for example wrong Basic-auth passwords):
    /// 429, with `Retry-After` in seconds.
    Throttled {
        /// Seconds until the next attempt is considered.
        retry_after: u32,
    },
    /// The key's rate limit is used up ([`crate::KeyLimits`]): 429, with
    /// `Retry-After` in seconds.
    RateLimited {
        /// Seconds until the key may make a request again.
        retry_after: u32,
    },
    /// The key has no uses left ([`crate::KeyLimits`], a usage quota): 403.
    QuotaExhausted,
    /// The server is misconfigured or the database failed otherwise (500).
    Internal,
}

impl Denial {
    /// The HTTP status, before the DRF-compatible setting is applied.
    pub fn status(self) -> StatusCode {
        match self {
            Denial::MissingKey | Denial::InvalidKey => StatusCode::UNAUTHORIZED,
            Denial::Forbidden | Denial::MissingScope(_) | Denial::QuotaExhausted => {
                StatusCode::FORBIDDEN
            }
            Denial::RateLimited { .. } => StatusCode::TOO_MANY_REQUESTS,
            Denial::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
            Denial::Throttled { .. } => StatusCode::TOO_MANY_REQUESTS,
            Denial::Internal => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The default `detail` message (no key material, ever).
    pub fn detail(self) -> &'static str {
        self.texts().0
    }

    /// The `detail` and the default response's body, `{"detail":"..."}`,
    /// written once here: a refusal's body costs no allocation or
    /// serialization (the messages hold nothing JSON must escape: a unit
    /// test compares each body with `serde_json`'s).
    fn texts(self) -> (&'static str, &'static str) {
        macro_rules! fixed {
            ($text:literal) => {
                ($text, concat!("{\"detail\":\"", $text, "\"}"))
            };
        }
        match self {
            Denial::MissingKey => fixed!("Authentication credentials were not provided."),
            Denial::InvalidKey => fixed!("Invalid API key."),
            Denial::Forbidden => fixed!("You do not have permission to perform this action."),
            Denial::MissingScope(_) => fixed!("This API key lacks a required scope."),
            Denial::Unavailable => fixed!("The API key store is unavailable. Try again later."),
            Denial::Throttled { .. } => fixed!("Too many failed attempts. Try again later."),
            Denial::RateLimited { .. } => fixed!("Request rate limit exceeded for this API key."),
            Denial::QuotaExhausted => fixed!("This API key has no uses left."),
            Denial::Internal => fixed!("Internal server error."),
        }
    }

    /// The default response's body: fixed, or serialized when the message
    /// names a scope.
    fn body(self) -> Bytes {
        match self {
            Denial::MissingScope(_) => {
                #[derive(serde::Serialize)]
                struct Body<'a> {
                    detail: &'a str,
                }
                serde_json::to_vec(&Body {
                    detail: &self.message(),
                })
                .map(Bytes::from)
                // Serializing a `&str` cannot fail; the generic message if
                // it ever did.
                .unwrap_or_else(|_| Bytes::from_static(self.texts().1.as_bytes()))
            }
            d => Bytes::from_static(d.texts().1.as_bytes()),
        }
    }

    /// The `detail` of the default response: [`Denial::detail`], naming
    /// the scope for [`Denial::MissingScope`] (a scope is no secret).
    pub fn message(self) -> std::borrow::Cow<'static, str> {
        match self {
            Denial::MissingScope(scope) => {
                format!("This API key lacks the scope `{scope}` required here.").into()
            }
            d => d.detail().into(),
        }
    }

    /// The `Retry-After` of this denial, in seconds: 1 for
    /// [`Denial::Unavailable`], the back-off for [`Denial::Throttled`].
    pub fn retry_after(self) -> Option<u32> {
        match self {
            Denial::Unavailable => Some(1),
            Denial::Throttled { retry_after } | Denial::RateLimited { retry_after } => {
                Some(retry_after.max(1))
            }
            _ => None,
        }
    }

    /// Which of two denials an `Or` reports: an outage first (fail closed),
    /// then "not authenticated", then "forbidden".
    pub(crate) fn strongest(self, other: Denial) -> Denial {
        fn rank(d: Denial) -> u8 {
            match d {
                Denial::Internal => 4,
                Denial::Unavailable => 3,
                Denial::Throttled { .. } | Denial::RateLimited { .. } => 2,
                Denial::InvalidKey => 2,
                Denial::MissingKey => 1,
                Denial::Forbidden | Denial::MissingScope(_) | Denial::QuotaExhausted => 0,
            }
        }
        if rank(other) > rank(self) {
            other
        } else {
            self
        }
    }
}

/// A refusal, carrying what it needs to render itself (it implements
/// [`ResponseError`], so handlers can return it with `?`): the denial, the
/// `WWW-Authenticate` challenge, the DRF-compatible flag and the
/// application's error handler, taken from the `ApiKeyConfig` that applies
/// (`AuthError::new(denial, &config)`).
#[derive(Clone)]
pub struct AuthError {
    pub(crate) denial: Denial,
    /// Borrowed for the default scheme: no allocation per refusal.
    pub(crate) challenge: Cow<'static, str>,
    pub(crate) drf_compatible: bool,
    pub(crate) handler: Option<ErrorHandler>,
}

impl fmt::Debug for AuthError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AuthError")
            .field("denial", &self.denial)
            .field("challenge", &self.challenge)
            .field("drf_compatible", &self.drf_compatible)
            .finish_non_exhaustive()
    }
}

impl fmt::Display for AuthError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.denial.message())
    }
}

impl AuthError {
    /// Uses this `WWW-Authenticate` challenge for a 401 instead of the
    /// configured scheme (see [`crate::Permission::challenge`]); `None`
    /// keeps the configured one.
    pub fn with_challenge(mut self, challenge: Option<String>) -> Self {
        if let Some(c) = challenge {
            self.challenge = Cow::Owned(c);
        }
        self
    }

    /// The `WWW-Authenticate` value of a 401: the permission's own
    /// challenge, else the configured scheme (and realm).
    pub fn challenge(&self) -> &str {
        &self.challenge
    }

    /// Why the request was refused.
    pub fn denial(&self) -> Denial {
        self.denial
    }

    /// The default JSON response, ignoring any custom error handler.
    pub fn default_response(&self) -> HttpResponse {
        let status = self.status_code();
        let mut res = HttpResponse::build(status);
        if status == StatusCode::UNAUTHORIZED {
            let challenge = match &self.challenge {
                // Only the default scheme is borrowed ("Api-Key", a valid
                // value): no copy.
                Cow::Borrowed(fixed) => Ok(HeaderValue::from_static(fixed)),
                Cow::Owned(made) => HeaderValue::from_str(made),
            };
            if let Ok(v) = challenge {
                res.insert_header((header::WWW_AUTHENTICATE, v));
            }
        }
        if let Some(seconds) = self.denial.retry_after() {
            res.insert_header((header::RETRY_AFTER, HeaderValue::from(seconds)));
        }
        res.insert_header((header::CACHE_CONTROL, HeaderValue::from_static("no-store")));
        res.insert_header((
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        ));
        res.body(self.denial.body())
    }
}

impl ResponseError for AuthError {
    fn status_code(&self) -> StatusCode {
        let status = self.denial.status();
        if self.drf_compatible && status == StatusCode::UNAUTHORIZED {
            StatusCode::FORBIDDEN
        } else {
            status
        }
    }

    fn error_response(&self) -> HttpResponse {
        match &self.handler {
            Some(handler) => handler(self),
            None => self.default_response(),
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use actix_web::body::MessageBody;

    use super::*;
    use crate::ApiKeyConfig;

    const ALL: [Denial; 9] = [
        Denial::MissingKey,
        Denial::InvalidKey,
        Denial::Forbidden,
        Denial::MissingScope("billing:\"read\""),
        Denial::Unavailable,
        Denial::Throttled { retry_after: 3 },
        Denial::RateLimited { retry_after: 0 },
        Denial::QuotaExhausted,
        Denial::Internal,
    ];

    /// The body as sent: what `serde_json` makes of `{"detail": message}`,
    /// the scope's quotes escaped.
    #[test]
    fn every_default_body_is_the_message_as_json() {
        for denial in ALL {
            let res = AuthError::new(denial, &ApiKeyConfig::default()).default_response();
            assert_eq!(res.status(), denial.status());
            assert_eq!(
                res.headers().get(header::CONTENT_TYPE).unwrap(),
                "application/json"
            );
            let body = res.into_body().try_into_bytes().ok().unwrap();
            let expected = serde_json::json!({ "detail": denial.message() }).to_string();
            assert_eq!(body, expected.as_bytes(), "{denial:?}");
            let parsed: serde_json::Value = serde_json::from_slice(&body).unwrap();
            assert_eq!(parsed["detail"], *denial.message(), "{denial:?}");
        }
    }

    #[test]
    fn the_challenge_is_the_configured_scheme_and_realm() {
        let challenge = |config: &ApiKeyConfig| {
            let res = AuthError::new(Denial::InvalidKey, config).default_response();
            res.headers()
                .get(header::WWW_AUTHENTICATE)
                .map(|v| v.to_str().unwrap().to_owned())
        };
        assert_eq!(challenge(&ApiKeyConfig::default()).unwrap(), "Api-Key");
        assert_eq!(
            challenge(&ApiKeyConfig::default().keyword("Bearer")).unwrap(),
            "Bearer"
        );
        assert_eq!(
            challenge(&ApiKeyConfig::default().realm("a\"b")).unwrap(),
            "Api-Key realm=\"ab\""
        );
        let own = AuthError::new(Denial::MissingKey, &ApiKeyConfig::default())
            .with_challenge(Some("Basic realm=\"admin\"".into()));
        assert_eq!(
            own.default_response()
                .headers()
                .get(header::WWW_AUTHENTICATE)
                .unwrap(),
            "Basic realm=\"admin\""
        );
        // A 403 has no challenge.
        let res = AuthError::new(Denial::Forbidden, &ApiKeyConfig::default()).default_response();
        assert!(res.headers().get(header::WWW_AUTHENTICATE).is_none());
    }
}
