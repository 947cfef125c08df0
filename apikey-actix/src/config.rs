//! [`ApiKeyConfig`]: how keys are read and how refusals are answered.

use std::borrow::Cow;
use std::fmt;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use actix_web::http::header::HeaderName;
use actix_web::{HttpRequest, HttpResponse};

use crate::error::{AuthError, Denial, ErrorHandler};
use crate::parser::{AuthorizationParser, HeaderParser, KeyParser};

/// Configuration of the guards, registered app-wide with
/// `App::app_data(ApiKeyConfig::default()...)` and overridable per scope or
/// resource (`web::scope(..).app_data(..)`): the innermost one wins.
///
/// ```
/// use apikey_actix::ApiKeyConfig;
/// let config = ApiKeyConfig::default().header("X-Api-Key").realm("payments");
/// ```
#[derive(Clone)]
pub struct ApiKeyConfig {
    parser: Arc<dyn KeyParser>,
    scheme: Cow<'static, str>,
    realm: Option<String>,
    drf_compatible: bool,
    error_handler: Option<ErrorHandler>,
    lookup_timeout: Duration,
}

/// How long a guard waits for a key lookup that needs the database, by
/// default, before answering 503 (see [`ApiKeyConfig::lookup_timeout`]).
pub const DEFAULT_LOOKUP_TIMEOUT: Duration = Duration::from_secs(30);

impl fmt::Debug for ApiKeyConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ApiKeyConfig")
            .field("parser", &self.parser)
            .field("scheme", &self.scheme)
            .field("realm", &self.realm)
            .field("drf_compatible", &self.drf_compatible)
            .field("error_handler", &self.error_handler.is_some())
            .field("lookup_timeout", &self.lookup_timeout)
            .finish()
    }
}

impl Default for ApiKeyConfig {
    fn default() -> Self {
        ApiKeyConfig {
            parser: Arc::new(AuthorizationParser::default()),
            scheme: Cow::Borrowed("Api-Key"),
            realm: None,
            drf_compatible: false,
            error_handler: None,
            lookup_timeout: DEFAULT_LOOKUP_TIMEOUT,
        }
    }
}

impl ApiKeyConfig {
    /// Reads `Authorization: <keyword> <key>` (default keyword `Api-Key`;
    /// `Bearer` is a common alternative). Replaces any custom header.
    pub fn keyword(mut self, keyword: impl Into<String>) -> Self {
        let keyword = keyword.into();
        self.scheme = Cow::Owned(keyword.clone());
        self.parser = Arc::new(AuthorizationParser::new(keyword));
        self
    }

    /// Reads the key from this header alone (e.g. `X-Api-Key`);
    /// `Authorization` is then ignored.
    ///
    /// # Panics
    /// When `name` is not a valid header name (a programming error, caught at start-up).
    pub fn header(mut self, name: &str) -> Self {
        #[allow(clippy::expect_used)]
        let name = HeaderName::try_from(name).expect("ApiKeyConfig::header: invalid header name");
        self.parser = Arc::new(HeaderParser::new(name));
        self
    }

    /// Uses the application's own parser.
    pub fn parser(mut self, parser: impl KeyParser) -> Self {
        self.parser = Arc::new(parser);
        self
    }

    /// Adds `realm="<realm>"` to the `WWW-Authenticate` challenge.
    pub fn realm(mut self, realm: impl Into<String>) -> Self {
        self.realm = Some(realm.into());
        self
    }

    /// DRF-compatible answers: 403 for every denial (no 401), as
    /// djangorestframework-api-key's `HasAPIKey` does. An unavailable key
    /// store is still 503.
    pub fn drf_compatible(mut self, yes: bool) -> Self {
        self.drf_compatible = yes;
        self
    }

    /// Replaces the response of every refusal (the default is JSON
    /// `{"detail": "..."}` with the status of [`crate::Denial::status`]).
    pub fn error_handler(
        mut self,
        handler: impl Fn(&AuthError) -> HttpResponse + Send + Sync + 'static,
    ) -> Self {
        self.error_handler = Some(Arc::new(handler));
        self
    }

    /// The longest a guard waits for a lookup that needs the database
    /// (default [`DEFAULT_LOOKUP_TIMEOUT`], 30 s) before it answers 503
    /// with `Retry-After`; the lookup's own bounds (the pool's checkout,
    /// the database's statement and lock timeouts, the manager's
    /// `LegacyLimits`) normally answer first. The bound includes the wait
    /// for a late cache feed (at most the feed deadline, see
    /// `BaseApiKeyManager::feed_wait`). Zero turns the bound off.
    pub fn lookup_timeout(mut self, timeout: Duration) -> Self {
        self.lookup_timeout = timeout;
        self
    }

    /// The bound on a lookup that needs the database (see
    /// [`ApiKeyConfig::lookup_timeout`]).
    pub fn lookup_timeout_value(&self) -> Duration {
        self.lookup_timeout
    }

    /// The key parser in use.
    pub fn key_parser(&self) -> &dyn KeyParser {
        &*self.parser
    }

    /// The configuration that applies to `req`, or the default.
    pub fn of(req: &HttpRequest) -> &ApiKeyConfig {
        static DEFAULT: OnceLock<ApiKeyConfig> = OnceLock::new();
        req.app_data::<ApiKeyConfig>()
            .or_else(|| {
                req.app_data::<actix_web::web::Data<ApiKeyConfig>>()
                    .map(|d| &***d)
            })
            .unwrap_or_else(|| DEFAULT.get_or_init(ApiKeyConfig::default))
    }
}

impl AuthError {
    /// A refusal answered as `config` says: its challenge (scheme and
    /// realm), its DRF-compatible setting and its error handler.
    pub fn new(denial: Denial, config: &ApiKeyConfig) -> Self {
        let challenge = match &config.realm {
            Some(realm) => Cow::Owned(format!(
                "{} realm=\"{}\"",
                config.scheme,
                realm.replace(['"', '\\'], "")
            )),
            None => config.scheme.clone(),
        };
        AuthError {
            denial,
            challenge,
            drf_compatible: config.drf_compatible,
            handler: config.error_handler.clone(),
        }
    }
}
