//! The one key lookup every guard shares, and the one mapping of a key
//! store's outcome to a [`Denial`].
//!
//! The extractor ([`crate::HasApiKey`]), the permission
//! ([`crate::ApiKeyPermission`]) and the middleware ([`crate::RequirePermission`])
//! look keys up through here; the web admin and applications that call the
//! store from a handler map its errors with [`blocking`] or [`denial_of`], so
//! an outage is a 503 everywhere and never a 401 or a 500.

use std::future::Future;

use actix_web::{web, HttpMessage, HttpRequest};
use apikey_core::{AbstractApiKey, BaseApiKeyManager, Error as CoreError};

use crate::config::ApiKeyConfig;
use crate::error::Denial;

/// A key verified earlier in this request (by a permission or middleware),
/// kept in the request extensions so the handler's extractor does not look
/// it up again.
#[derive(Debug, Clone)]
pub(crate) struct Verified<M>(pub(crate) M);

/// The denial a key store error stands for: an unknown, wrong, revoked or
/// expired key is [`Denial::InvalidKey`]; a store that cannot be reached (or
/// a busy pool) is [`Denial::Unavailable`] (fail closed: 503); anything else
/// is [`Denial::Internal`].
pub fn denial_of(err: &CoreError) -> Denial {
    match err {
        CoreError::InvalidKey => Denial::InvalidKey,
        e if e.is_unavailable() => Denial::Unavailable,
        _ => Denial::Internal,
    }
}

/// Runs a blocking key store call (a [`BaseApiKeyManager`] method, or
/// [`apikey_core::Database::run`]) on actix's blocking pool and maps its
/// failure with [`denial_of`], logging outages and internal errors (never a
/// key). A blocking pool that refuses the work is [`Denial::Unavailable`].
pub async fn blocking<T, F>(f: F) -> Result<T, Denial>
where
    T: Send + 'static,
    F: FnOnce() -> apikey_core::Result<T> + Send + 'static,
{
    match web::block(f).await {
        Ok(Ok(value)) => Ok(value),
        Ok(Err(e)) => {
            let denial = denial_of(&e);
            match denial {
                Denial::Unavailable => log::warn!("apikey-actix: key store unavailable: {e}"),
                Denial::Internal => log::error!("apikey-actix: key store call failed: {e}"),
                _ => {}
            }
            Err(denial)
        }
        Err(e) => {
            log::warn!("apikey-actix: blocking pool refused the call: {e}");
            Err(Denial::Unavailable)
        }
    }
}

fn manager_of<M: AbstractApiKey>(req: &HttpRequest) -> Option<web::Data<BaseApiKeyManager<M>>> {
    // `web::Data` is an `Arc`: one reference count, no allocation, on the
    // common path.
    if let Some(data) = req.app_data::<web::Data<BaseApiKeyManager<M>>>() {
        return Some(data.clone());
    }
    req.app_data::<BaseApiKeyManager<M>>()
        .map(|m| web::Data::new(m.clone()))
}

/// Reads the key from `req` (with the [`ApiKeyConfig`] that applies to it)
/// and looks it up: a key verified earlier in the request, else the
/// manager's cache, else the database off the async executor.
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
        // What the manager can answer without waiting (a cached key, a
        // malformed or known-refused one, a SQLite lookup that takes no
        // lock) needs no blocking thread.
        if let Some(known) = manager.try_get_from_key_inline(key.expose_secret()) {
            return known.map_err(|e| denial_of(&e));
        }
        blocking(move || manager.get_from_key(key.expose_secret())).await
    }
}
