//! The web admin: list, search, create, edit, rotate and revoke keys in a browser,
//! the counterpart of the reference's Django admin section (feature `admin`).
//!
//! [`Admin`] builds an actix-web scope for any key model (the built-in
//! [`ApiKey`](apikey_core::ApiKey), a model of your own with
//! `#[derive(ApiKeyModel)]`, or [`DjangoApiKey`](apikey_core::DjangoApiKey)),
//! mounted where you choose and guarded by the [`Permission`] you give it:
//!
//! ```no_run
//! use actix_web::{App, HttpServer};
//! use apikey_actix::admin::{Admin, BasicAuth};
//! use apikey_core::{ApiKey, Database, BaseApiKeyManager};
//!
//! #[actix_web::main]
//! async fn main() -> std::io::Result<()> {
//!     let db = Database::connect("apikeys.db").expect("database");
//!     db.migrate().expect("migrations");
//!     let keys = BaseApiKeyManager::<ApiKey>::new(db);
//!     let auth = BasicAuth::from_env("APIKEY_ADMIN_USER", "APIKEY_ADMIN_PASSWORD")
//!         .expect("a password of at least 12 characters")
//!         .expect("set APIKEY_ADMIN_USER and APIKEY_ADMIN_PASSWORD");
//!     HttpServer::new(move || {
//!         App::new().service(
//!             Admin::new(keys.clone())
//!                 .permission(auth.clone())
//!                 .scope("/admin"),
//!         )
//!     })
//!     .bind("127.0.0.1:8080")?
//!     .run()
//!     .await
//! }
//! ```
//!
//! # What it does
//!
//! - **List** (`GET /admin/`): prefix, name, created, expires, has expired,
//!   revoked, and the model's own columns named with
//!   [`Admin::list_display`]; search by name or prefix; filters on revoked,
//!   expired and created date; newest first; paginated with SQL `COUNT` and
//!   `LIMIT`/`OFFSET` over the indexed `created` column.
//! - **Create** (`/admin/new`): name, optional expiry, and the model's own
//!   fields (parsed with `FromStr`, see [`FormFields`]). The full key is
//!   shown once, in the response to the POST itself (no redirect, no
//!   cookie, `Cache-Control: no-store`), with a warning that it will not be
//!   shown again.
//! - **Detail and edit** (`/admin/keys/{prefix}`): name and expiry; a revoked
//!   key is read-only (no form, and a POST is refused with 409).
//! - **Revoke** (`/admin/keys/{prefix}/revoke`): a confirmation page, then a
//!   POST revokes; it cannot be undone.
//! - **Rotate** (`/admin/keys/{prefix}/rotate`): a confirmation page with
//!   the grace period (none, 1 hour, 24 hours, 7 days), then a POST makes
//!   the replacing key ([`apikey_core::BaseApiKeyManager::rotate`]) and
//!   shows it once, as creating does.
//!
//! # Safety
//!
//! - Every request under the scope, static files and POSTs included, first
//!   passes the permission, through [`RequirePermission`]: 401 (with the
//!   permission's `WWW-Authenticate` challenge, e.g. [`BasicAuth`]'s) or 403
//!   otherwise, rendered as a page of the admin by the error handler of the
//!   admin's own [`ApiKeyConfig`] (see [`Admin::config`]). An `Admin`
//!   without a permission refuses everything (403): it fails closed.
//! - Every POST carries a CSRF token, a signed and dated double-submit token
//!   (hidden field and `SameSite=Strict`, `HttpOnly` cookie, compared in
//!   constant time); a missing, wrong or expired token is 403 and changes
//!   nothing. Several instances share the signing secret with
//!   [`Admin::csrf_secret`]; [`Admin::csrf_max_age`] bounds a token's age;
//!   the cookie's `Secure` flag follows [`Admin::secure_cookies`] or the
//!   server's own TLS, never a client's `X-Forwarded-Proto`.
//! - Pages are askama templates: every text is HTML-escaped. Responses carry
//!   `Cache-Control: no-store` and a strict `Content-Security-Policy` (no
//!   script at all, styles only from the scope), `X-Frame-Options: DENY`,
//!   `X-Content-Type-Options: nosniff`, `Referrer-Policy: same-origin`
//!   (actix-web's [`DefaultHeaders`]).
//! - Forms are limited to 16 KiB; bad input is shown back with a message and
//!   changes nothing.
//!
//! Links start from where the admin is mounted: `"/admin"`, `"/"`, or deeper,
//! in scopes of the application's own too (`/orgs/{org}/admin`).
//!
//! An `Admin` holds its permission in an `Rc`, so build it inside the
//! `HttpServer::new` closure (once per worker), as above.

mod basic;
mod create;
mod csrf;
mod errors;
mod forms;
mod key;
mod list;
mod render;
mod rotate;
mod state;
mod throttle;

use std::fmt;
use std::rc::Rc;
use std::time::Duration;

use actix_web::body::{BoxBody, EitherBody};
use actix_web::dev::{Service, ServiceFactory, ServiceRequest, ServiceResponse};
use actix_web::http::header;
use actix_web::middleware::DefaultHeaders;
use actix_web::{web, Error, Scope};
use apikey_core::{AbstractApiKey, BaseApiKeyManager};

pub use apikey_core::{FormField, FormFields};
pub use basic::{BasicAuth, WeakCredentials, MIN_PASSWORD_LENGTH};
pub use csrf::{DEFAULT_CSRF_MAX_AGE, MIN_CSRF_SECRET_LENGTH};
pub use throttle::Throttle;

use crate::{AllowAny, ApiKeyConfig, Not, Permission, RequirePermission};
use state::{Mount, State};

/// Entry points for the fuzz targets (`fuzz/`). Not public API.
#[doc(hidden)]
pub mod __fuzz {
    /// Whether `token` passes the admin's CSRF token check, signed with a
    /// fixed secret and the default maximum age.
    pub fn csrf_is_genuine(token: &str) -> bool {
        super::csrf::CsrfSettings::default()
            .with_secret(&[7u8; 32])
            .is_some_and(|s| s.is_genuine(token))
    }

    /// A token minted with the same fixed secret.
    pub fn csrf_mint() -> Option<String> {
        super::csrf::CsrfSettings::default()
            .with_secret(&[7u8; 32])?
            .mint()
    }

    /// The user and password of an `Authorization: Basic` value.
    pub fn parse_basic(value: &[u8]) -> Option<(Vec<u8>, Vec<u8>)> {
        super::basic::parse_basic(value)
    }
}

/// The largest form body the admin accepts, in bytes.
pub const FORM_LIMIT: usize = 16 * 1024;

/// The default number of keys on a list page.
pub const DEFAULT_PAGE_SIZE: u32 = 50;

/// The web admin of key model `M`, as an actix-web scope (see the
/// [module documentation](self)).
pub struct Admin<M: AbstractApiKey> {
    manager: BaseApiKeyManager<M>,
    permission: Option<Rc<dyn Permission>>,
    page_size: u32,
    list_display: Vec<&'static str>,
    site: Option<String>,
    config: ApiKeyConfig,
    csrf: csrf::CsrfSettings,
}

impl<M: AbstractApiKey> fmt::Debug for Admin<M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Admin")
            .field("model", &M::VERBOSE_NAME_PLURAL)
            .field("permission", &self.permission.is_some())
            .field("page_size", &self.page_size)
            .field("list_display", &self.list_display)
            .finish_non_exhaustive()
    }
}

impl<M: AbstractApiKey> Admin<M>
where
    M::Extra: FormFields,
{
    /// The admin of the keys of `manager`. It refuses every request until
    /// [`Admin::permission`] says who may use it.
    pub fn new(manager: BaseApiKeyManager<M>) -> Self {
        Admin {
            manager,
            permission: None,
            page_size: DEFAULT_PAGE_SIZE,
            list_display: Vec::new(),
            site: None,
            config: ApiKeyConfig::default(),
            csrf: csrf::CsrfSettings::default(),
        }
    }

    /// The secret that signs CSRF tokens (at least
    /// [`MIN_CSRF_SECRET_LENGTH`] bytes, random), the same for every
    /// instance behind one load balancer so that a form served by one is
    /// accepted by another. Default: a random secret per process, right for
    /// a single instance.
    pub fn csrf_secret(mut self, secret: &[u8]) -> Result<Self, WeakCredentials> {
        self.csrf = self
            .csrf
            .with_secret(secret)
            .ok_or(WeakCredentials::ShortCsrfSecret {
                length: secret.len(),
            })?;
        Ok(self)
    }

    /// How long a form's CSRF token is accepted (default
    /// [`DEFAULT_CSRF_MAX_AGE`], 12 hours); an older form is refused (403)
    /// and the next page carries a new token.
    pub fn csrf_max_age(mut self, max_age: Duration) -> Self {
        self.csrf.max_age = max_age;
        self
    }

    /// Whether the admin's cookie is `Secure` (sent over HTTPS only). By
    /// default it is when the server itself serves TLS; behind a proxy that
    /// terminates TLS, say `true`. Client-supplied headers
    /// (`X-Forwarded-Proto`) are never trusted for it.
    pub fn secure_cookies(mut self, secure: bool) -> Self {
        self.csrf.secure = Some(secure);
        self
    }

    /// Who may use the admin: any [`Permission`] ([`BasicAuth`], the
    /// application's own session check with
    /// [`IsAuthenticated`](crate::IsAuthenticated), a combination, ...).
    pub fn permission(mut self, permission: impl Permission) -> Self {
        self.permission = Some(Rc::new(permission));
        self
    }

    /// Keys per list page (default 50, at most 500).
    pub fn page_size(mut self, n: u32) -> Self {
        self.page_size = n.clamp(1, 500);
        self
    }

    /// Which of the model's own columns the list shows, by field name (the
    /// counterpart of Django's `list_display`; default: none). The detail
    /// page always shows all of them.
    pub fn list_display(mut self, fields: impl IntoIterator<Item = &'static str>) -> Self {
        self.list_display = fields.into_iter().collect();
        self
    }

    /// The title in the header (default: the plural verbose name + " admin").
    pub fn site_title(mut self, title: impl Into<String>) -> Self {
        self.site = Some(title.into());
        self
    }

    /// The [`ApiKeyConfig`] that applies inside the admin (default:
    /// `ApiKeyConfig::default()`): how a permission that reads API keys finds
    /// the key, and the scheme and realm of a 401's challenge. Give the
    /// application's own when the admin's permission reads keys. Its error
    /// handler is replaced: the admin answers refusals with its own page.
    pub fn config(mut self, config: ApiKeyConfig) -> Self {
        self.config = config;
        self
    }

    /// The scope serving the admin under `path` (e.g. `"/admin"`, or `"/"`
    /// for a whole app of its own); register it with `App::service`, in a
    /// scope of your own if you like. Its links start from where it is
    /// mounted.
    pub fn scope(
        self,
        path: &str,
    ) -> Scope<
        impl ServiceFactory<
            ServiceRequest,
            Config = (),
            Response = ServiceResponse<EitherBody<BoxBody>>,
            Error = Error,
            InitError = (),
        >,
    > {
        let permission = self.permission.unwrap_or_else(|| {
            log::warn!(
                "apikey admin at {path}: no permission given, every request is refused (403)"
            );
            Rc::new(Not(AllowAny))
        });
        let state = web::Data::new(State {
            manager: self.manager,
            page_size: self.page_size,
            list_display: self.list_display,
            site: self
                .site
                .unwrap_or_else(|| format!("{} admin", M::VERBOSE_NAME_PLURAL)),
        });
        // `scope("/")` would consume the slash that the routes start with.
        web::scope(path.trim_end_matches('/'))
            .app_data(state)
            .app_data(self.csrf)
            .app_data(self.config.error_handler(errors::refusal))
            .app_data(
                web::FormConfig::default()
                    .limit(FORM_LIMIT)
                    .error_handler(errors::form_error),
            )
            .app_data(web::QueryConfig::default().error_handler(errors::query_error))
            .wrap_fn(|req, service| {
                Mount::record(&req);
                service.call(req)
            })
            .wrap(RequirePermission::new(permission))
            .wrap(security_headers())
            .route("", web::get().to(list::list::<M>))
            .route("/", web::get().to(list::list::<M>))
            .route("/new", web::get().to(create::new_form::<M>))
            .route("/new", web::post().to(create::create::<M>))
            .route("/keys/{prefix}", web::get().to(key::detail::<M>))
            .route("/keys/{prefix}", web::post().to(key::edit::<M>))
            .route(
                "/keys/{prefix}/revoke",
                web::get().to(key::revoke_form::<M>),
            )
            .route("/keys/{prefix}/revoke", web::post().to(key::revoke::<M>))
            .route(
                "/keys/{prefix}/rotate",
                web::get().to(rotate::rotate_form::<M>),
            )
            .route("/keys/{prefix}/rotate", web::post().to(rotate::rotate::<M>))
            .route("/static/admin.css", web::get().to(render::stylesheet))
            .default_service(web::to(errors::not_found))
    }
}

/// The headers of every response under the admin, refusals included.
fn security_headers() -> DefaultHeaders {
    const CSP: &str = "default-src 'none'; style-src 'self'; img-src 'self'; \
                       form-action 'self'; frame-ancestors 'none'; base-uri 'none'";
    DefaultHeaders::new()
        .add((header::CACHE_CONTROL, "no-store"))
        .add((header::CONTENT_SECURITY_POLICY, CSP))
        .add((header::X_FRAME_OPTIONS, "DENY"))
        .add((header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .add((header::REFERRER_POLICY, "same-origin"))
        .add(("cross-origin-opener-policy", "same-origin"))
}
