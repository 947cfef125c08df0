//! # apikey-actix
//!
//! Guard actix-web routes with API keys from apikey-core. The handler gets
//! the verified key model itself:
//!
//! ```no_run
//! use actix_web::{get, web, App, HttpServer, Responder};
//! use apikey_actix::{ApiKeyConfig, HasApiKey};
//! use apikey_core::{ApiKey, AbstractApiKey, Database, BaseApiKeyManager};
//!
//! #[get("/protected")]
//! async fn protected(key: HasApiKey<ApiKey>) -> impl Responder {
//!     // (serde_json = "1" in your Cargo.toml for json!)
//!     web::Json(serde_json::json!({ "name": key.name(), "prefix": key.prefix() }))
//! }
//!
//! #[actix_web::main]
//! async fn main() -> std::io::Result<()> {
//!     let db = Database::connect("apikeys.db").expect("database");
//!     db.migrate().expect("migrations");
//!     let keys = web::Data::new(BaseApiKeyManager::<ApiKey>::new(db));
//!     HttpServer::new(move || {
//!         App::new()
//!             .app_data(keys.clone())
//!             .app_data(ApiKeyConfig::default()) // Authorization: Api-Key <key>
//!             .service(protected)
//!     })
//!     .bind("127.0.0.1:8080")?
//!     .run()
//!     .await
//! }
//! ```
//!
//! - [`HasApiKey<M>`] extracts a verified key of model `M` (401 without a
//!   usable key, 503 when the key store is down: fail closed).
//! - [`KeyParser`]s read the key: `Authorization: Api-Key <key>` (default),
//!   another keyword (`Bearer`), a custom header, or your own.
//! - [`Permission`]s combine with `|`, `&`, `!` and guard a handler
//!   ([`Permitted`]) or a whole scope ([`RequirePermission`]).
//! - Refusals are JSON `{"detail": "..."}`; [`ApiKeyConfig`] replaces them or
//!   switches to DRF-compatible 403s.
//! - With the `admin` feature, `admin::Admin` serves a web admin for any key
//!   model (list, search, filters, create, edit, revoke), guarded by any
//!   permission, e.g. `admin::BasicAuth`.
//! - [`KeyLimits`] enforces each key's rate limit (`10/s`, in process or,
//!   with the `redis` feature, across servers in Redis) and usage quota:
//!   429 with `Retry-After` and `RateLimit-*` fields, 403 when no use is
//!   left ([`limits`]).
//! - [`register`] installs the manager and the configuration together (a
//!   guard without its manager answers 500 and says so in the log, and on
//!   stderr when no `log` logger is installed, as does the first failure
//!   of the key store); [`run_async`] runs a
//!   handler's own queries off the async workers with the guards' error
//!   mapping.
//! - Features `sqlite` and `postgres` (both default) select apikey-core's
//!   backends: `default-features = false, features = ["sqlite"]` for an
//!   application without PostgreSQL (no libpq linked).
#![cfg_attr(docsrs, feature(doc_cfg))]
#![forbid(unsafe_code)]
#![warn(missing_docs, missing_debug_implementations)]

#[cfg(feature = "admin")]
pub mod admin;
mod config;
mod error;
mod extractor;
pub mod limits;
pub mod lookup;
mod middleware;
pub mod parser;
pub mod permission;
mod register;
mod scope;

pub use config::{ApiKeyConfig, DEFAULT_LOOKUP_TIMEOUT};
pub use error::{AuthError, Denial};
pub use extractor::HasApiKey;
#[doc(hidden)]
pub use extractor::HasApiKeyFuture;
#[cfg(feature = "redis")]
pub use limits::RedisStore;
pub use limits::{KeyLimits, KeyLimitsFuture, KeyLimitsMiddleware, WhenUnavailable};
pub use middleware::{RequirePermission, RequirePermissionFuture, RequirePermissionMiddleware};
pub use parser::{AuthorizationParser, FirstOf, Found, HeaderParser, KeyParser, RequestKey};
pub use permission::{
    AllOf, AllowAny, And, AnyOf, ApiKeyPermission, Authenticated, FnPermission, IsAuthenticated,
    Not, Or, Permission, PermissionFuture, Permitted,
};
pub use register::{register, run_async};
pub use scope::HasScope;
