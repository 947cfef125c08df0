//! What the admin's pages share: the scope's state, and the key store
//! reached from a blocking thread.

use actix_web::web;
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
