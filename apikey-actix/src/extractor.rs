//! The [`HasApiKey`] extractor and the lookup every guard shares.

use std::future::Future;
use std::ops::Deref;
use std::pin::Pin;

use actix_web::dev::Payload;
use actix_web::{web, FromRequest, HttpMessage, HttpRequest};
use apikey_core::{AbstractApiKey, ApiKey, BaseApiKeyManager, Error as CoreError};

use crate::config::ApiKeyConfig;
use crate::error::{AuthError, Denial};

/// A key verified earlier in this request (by a permission or middleware),
/// kept in the request extensions so the handler's extractor does not look
/// it up again.
#[derive(Debug, Clone)]
pub(crate) struct Verified<M>(pub(crate) M);

/// Extracts the verified key model: the handler receives the row itself.
///
/// Requires a `BaseApiKeyManager<M>` in the app data (`web::Data<BaseApiKeyManager<M>>` or a
/// plain `BaseApiKeyManager<M>`). Missing or invalid key: 401 with
/// `WWW-Authenticate: Api-Key`; store unavailable: 503.
///
/// ```no_run
/// use actix_web::{get, web, App, HttpServer, Responder};
/// use apikey_actix::HasApiKey;
/// use apikey_core::{ApiKey, AbstractApiKey, Database, BaseApiKeyManager};
///
/// #[get("/protected")]
/// async fn protected(key: HasApiKey<ApiKey>) -> impl Responder {
///     format!("hello, {}", key.name())
/// }
///
/// # async fn run() -> std::io::Result<()> {
/// let db = Database::connect("apikeys.db").expect("db");
/// let keys = web::Data::new(BaseApiKeyManager::<ApiKey>::new(db));
/// HttpServer::new(move || App::new().app_data(keys.clone()).service(protected))
///     .bind("127.0.0.1:8080")?
///     .run()
///     .await
/// # }
/// ```
#[derive(Debug, Clone)]
pub struct HasApiKey<M: AbstractApiKey = ApiKey>(pub M);

impl<M: AbstractApiKey> HasApiKey<M> {
    /// The verified key model.
    pub fn into_inner(self) -> M {
        self.0
    }

    /// This guard as a [`crate::Permission`], to combine with others
    /// (`HasApiKey::<M>::permission() | IsAuthenticated`).
    pub fn permission() -> crate::permission::ApiKeyPermission<M> {
        crate::permission::ApiKeyPermission::default()
    }
}

impl<M: AbstractApiKey> Deref for HasApiKey<M> {
    type Target = M;
    fn deref(&self) -> &M {
        &self.0
    }
}

fn manager_of<M: AbstractApiKey>(req: &HttpRequest) -> Option<web::Data<BaseApiKeyManager<M>>> {
    if let Some(data) = req.app_data::<web::Data<BaseApiKeyManager<M>>>() {
        return Some(data.clone());
    }
    req.app_data::<BaseApiKeyManager<M>>()
        .map(|m| web::Data::new(m.clone()))
}

/// Reads the key from `req` and looks it up, off the async executor.
pub(crate) fn lookup<M: AbstractApiKey>(
    req: &HttpRequest,
) -> impl Future<Output = Result<M, Denial>> + 'static {
    let cached = req.extensions().get::<Verified<M>>().map(|v| v.0.clone());
    let manager = manager_of::<M>(req);
    let key = if cached.is_none() {
        ApiKeyConfig::of(req).key_parser().parse(req)
    } else {
        None
    };
    async move {
        if let Some(model) = cached {
            return Ok(model);
        }
        let Some(manager) = manager else {
            log::error!(
                "apikey-actix: no BaseApiKeyManager<{}> in the app data; register one with App::app_data",
                std::any::type_name::<M>()
            );
            return Err(Denial::Internal);
        };
        let key = key.ok_or(Denial::MissingKey)?;
        // A key remembered by `BaseApiKeyManager::with_cache` needs no blocking thread.
        if let Some(model) = manager.get_cached(key.expose_secret()) {
            return Ok(model);
        }
        match web::block(move || manager.get_from_key(key.expose_secret())).await {
            Ok(Ok(model)) => Ok(model),
            Ok(Err(CoreError::InvalidKey)) => Err(Denial::InvalidKey),
            Ok(Err(e)) if e.is_unavailable() => {
                log::warn!("apikey-actix: key store unavailable: {e}");
                Err(Denial::Unavailable)
            }
            Ok(Err(e)) => {
                log::error!("apikey-actix: key lookup failed: {e}");
                Err(Denial::Internal)
            }
            Err(e) => {
                log::warn!("apikey-actix: blocking pool refused the lookup: {e}");
                Err(Denial::Unavailable)
            }
        }
    }
}

impl<M: AbstractApiKey> FromRequest for HasApiKey<M> {
    type Error = AuthError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, AuthError>>>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let fut = lookup::<M>(req);
        let req = req.clone();
        Box::pin(async move {
            fut.await
                .map(HasApiKey)
                .map_err(|d| AuthError::new(d, ApiKeyConfig::of(&req)))
        })
    }
}
