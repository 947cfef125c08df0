//! [`register`]: the manager and the configuration installed together, and
//! [`run_async`]: a handler's own queries, off the async executor, with the
//! guards' error mapping.

use actix_web::web;
use apikey_core::{AbstractApiKey, BaseApiKeyManager, Database, DbConnection};

use crate::config::ApiKeyConfig;
use crate::error::AuthError;
use crate::lookup::blocking;

/// Installs what the guards of model `M` need, in one call: the manager
/// (as `web::Data<BaseApiKeyManager<M>>`) and the [`ApiKeyConfig`], for
/// `App::configure` (or `web::scope(..).configure`). Without a manager in
/// the app data a guard answers 500 and logs why; this helper is the way
/// not to forget it.
///
/// ```no_run
/// use actix_web::{get, App, HttpServer, Responder};
/// use apikey_actix::{register, ApiKeyConfig, HasApiKey};
/// use apikey_core::{AbstractApiKey, ApiKey, BaseApiKeyManager, Database};
///
/// #[get("/protected")]
/// async fn protected(key: HasApiKey<ApiKey>) -> impl Responder {
///     format!("hello, {}", key.name())
/// }
///
/// # async fn run() -> std::io::Result<()> {
/// let db = Database::connect("apikeys.db").expect("database");
/// db.migrate().expect("migrations");
/// let keys = BaseApiKeyManager::<ApiKey>::new(db);
/// HttpServer::new(move || {
///     App::new()
///         .configure(register(keys.clone(), ApiKeyConfig::default()))
///         .service(protected)
/// })
/// .bind("127.0.0.1:8080")?
/// .run()
/// .await
/// # }
/// ```
///
/// Several key models: call it once per model (the configuration of the
/// last call wins; configure scopes separately with `web::scope(..).app_data`).
pub fn register<M: AbstractApiKey>(
    manager: BaseApiKeyManager<M>,
    config: ApiKeyConfig,
) -> impl FnOnce(&mut web::ServiceConfig) {
    move |cfg| {
        cfg.app_data(web::Data::new(manager)).app_data(config);
    }
}

/// Runs `f` with a pooled connection of `db` on actix's blocking pool, for a
/// handler that queries its own tables next to the key (the counterpart of
/// [`Database::run`], which blocks). Failures are mapped as the guards map
/// them: a database that cannot be reached (or a busy pool) is a 503 with
/// `Retry-After` (logged as a warning), any other failure a 500 (logged as
/// an error); the error renders itself as JSON `{"detail": "..."}`, so a
/// handler returns it with `?`.
///
/// ```no_run
/// use actix_web::{get, web, HttpResponse};
/// use apikey_actix::{run_async, HasApiKey};
/// use apikey_core::{ApiKey, BaseApiKeyManager};
/// use diesel::prelude::*;
///
/// diesel::table! {
///     projects (id) {
///         id -> BigInt,
///         name -> Text,
///     }
/// }
///
/// #[get("/projects")]
/// async fn list(
///     _key: HasApiKey<ApiKey>,
///     keys: web::Data<BaseApiKeyManager<ApiKey>>,
/// ) -> actix_web::Result<HttpResponse> {
///     let names: Vec<String> = run_async(keys.database(), |conn| {
///         projects::table.select(projects::name).load(conn)
///     })
///     .await?;
///     Ok(HttpResponse::Ok().json(names))
/// }
/// ```
pub async fn run_async<T, F>(db: &Database, f: F) -> Result<T, AuthError>
where
    T: Send + 'static,
    F: FnOnce(&mut DbConnection) -> apikey_core::diesel::QueryResult<T> + Send + 'static,
{
    let db = db.clone();
    blocking(move || db.run(f))
        .await
        .map_err(|denial| AuthError::new(denial, &ApiKeyConfig::default()))
}
