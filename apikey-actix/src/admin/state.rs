//! What the admin's pages share: the scope's state, where the admin is
//! mounted, and the key store reached from a blocking thread.

use actix_web::dev::ServiceRequest;
use actix_web::{web, HttpMessage, HttpRequest};
use apikey_core::{AbstractApiKey, BaseApiKeyManager, Error as CoreError};

/// What the handlers share (the scope's `app_data`).
pub(crate) struct State<M: AbstractApiKey> {
    pub(crate) manager: BaseApiKeyManager<M>,
    pub(crate) page_size: u32,
    pub(crate) list_display: Vec<&'static str>,
    pub(crate) site: String,
}

impl<M: AbstractApiKey> State<M> {
    /// The key with this prefix, or [`CoreError::NotFound`].
    pub(crate) async fn find(&self, prefix: &str) -> apikey_core::Result<M> {
        let manager = self.manager.clone();
        let p = prefix.to_owned();
        blocking(move || manager.find_by_prefix(&p))
            .await?
            .ok_or_else(|| CoreError::NotFound(prefix.to_owned()))
    }
}

/// Runs `f` on a blocking thread.
pub(crate) async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> apikey_core::Result<T> + Send + 'static,
) -> apikey_core::Result<T> {
    web::block(f)
        .await
        .unwrap_or_else(|e| Err(CoreError::Unavailable(e.to_string())))
}

/// Where the admin is mounted, as the request reached it: the path the
/// admin's scope (and any scope around it) matched, without a trailing
/// slash ("" when mounted at "/"). Every link and the CSRF cookie's path
/// start from it.
#[derive(Debug, Clone)]
pub(crate) struct Mount(String);

impl Mount {
    /// Records the mount path of `req`, which has just entered the admin's
    /// scope: the request path less what the scope has not matched yet.
    pub(crate) fn record(req: &ServiceRequest) {
        let info = req.match_info();
        let rest = info.unprocessed();
        let path = req.path();
        // The raw path, as the browser sent it, when it ends with the rest
        // (it does unless the router decoded part of the rest).
        let base = path
            .strip_suffix(rest)
            .or_else(|| info.as_str().strip_suffix(rest))
            .unwrap_or_default();
        let mount = Mount(base.trim_end_matches('/').to_owned());
        req.extensions_mut().insert(mount);
    }

    /// The mount path recorded for `req`.
    pub(crate) fn of(req: &HttpRequest) -> String {
        req.extensions()
            .get::<Mount>()
            .map(|m| m.0.clone())
            .unwrap_or_default()
    }
}
