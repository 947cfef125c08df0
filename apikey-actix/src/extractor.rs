//! The [`HasApiKey`] extractor.

use std::future::Future;
use std::ops::Deref;
use std::pin::Pin;
use std::task::{Context, Poll};

use actix_web::dev::Payload;
use actix_web::{FromRequest, HttpRequest};
use apikey_core::{AbstractApiKey, ApiKey, VerifiedKey};

use crate::config::ApiKeyConfig;
use crate::error::AuthError;
use crate::lookup::{start_taking, Lookup};
use crate::permission::ApiKeyPermission;

/// Extracts the verified key model: the handler receives the row itself.
///
/// Requires a `BaseApiKeyManager<M>` in the app data (`web::Data<BaseApiKeyManager<M>>` or a
/// plain `BaseApiKeyManager<M>`). Missing or invalid key: 401 with
/// `WWW-Authenticate: Api-Key`; store unavailable: 503.
///
/// Behind a permission or middleware that already verified the key
/// ([`crate::RequirePermission`], [`crate::KeyLimits`]) the extractor takes
/// that key out of the request instead of looking it up again; a second
/// `HasApiKey` in the same handler looks it up (from the cache).
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
///
/// The model is shared with the verification cache when it was answered
/// from there (a [`VerifiedKey`]: the row is not copied per request); it
/// derefs to `M` (`key.name()`), [`HasApiKey::shared`] lends the
/// `VerifiedKey` (clone it into a spawned task: no copy of the row), and
/// [`HasApiKey::into_inner`] gives an owned `M` (a copy of the row when the
/// cache answered).
#[derive(Clone)]
pub struct HasApiKey<M: AbstractApiKey = ApiKey>(pub VerifiedKey<M>);

/// The key model without its stored hash ([`apikey_core::debug_redacted`]),
/// whatever the model's own `Debug` prints.
impl<M: AbstractApiKey> std::fmt::Debug for HasApiKey<M> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("HasApiKey(")?;
        apikey_core::debug_redacted(&*self.0, f)?;
        f.write_str(")")
    }
}

impl<M: AbstractApiKey> HasApiKey<M> {
    /// The verified key model (a copy of the cached row when the cache
    /// answered: borrow it through `Deref` to avoid that).
    pub fn into_inner(self) -> M {
        self.0.into_inner()
    }

    /// The verified key model as shared with the cache (cheap to clone and
    /// to keep, e.g. in a spawned task).
    pub fn shared(&self) -> &VerifiedKey<M> {
        &self.0
    }

    /// This guard as a [`crate::Permission`], to combine with others
    /// (`HasApiKey::<M>::permission() | IsAuthenticated`).
    pub fn permission() -> ApiKeyPermission<M> {
        ApiKeyPermission::default()
    }
}

impl<M: AbstractApiKey> Deref for HasApiKey<M> {
    type Target = M;
    fn deref(&self) -> &M {
        &self.0
    }
}

/// The future of [`HasApiKey`]'s extraction: ready at once when the key
/// was answered without the database (a cache hit: no allocation, no
/// thread hop), else waiting for the blocking lookup.
#[doc(hidden)]
#[allow(missing_debug_implementations)]
pub enum HasApiKeyFuture<M: AbstractApiKey> {
    /// Answered without waiting.
    Ready(Option<Result<HasApiKey<M>, AuthError>>),
    /// Waiting for the database.
    Waiting(Pin<Box<dyn Future<Output = Result<HasApiKey<M>, AuthError>>>>),
}

// Never pinned structurally: the result is moved out, the waiting future is
// boxed.
impl<M: AbstractApiKey> Unpin for HasApiKeyFuture<M> {}

impl<M: AbstractApiKey> Future for HasApiKeyFuture<M> {
    type Output = Result<HasApiKey<M>, AuthError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.get_mut() {
            HasApiKeyFuture::Ready(result) => match result.take() {
                Some(r) => Poll::Ready(r),
                None => Poll::Pending,
            },
            HasApiKeyFuture::Waiting(fut) => fut.as_mut().poll(cx),
        }
    }
}

impl<M: AbstractApiKey> FromRequest for HasApiKey<M> {
    /// The guard's refusal: 401, 403 or 503 with the configured body and
    /// headers.
    type Error = AuthError;
    /// Ready at once when the key was answered without the database (a
    /// cache hit: no allocation, no thread hop), else waiting for the
    /// lookup off the worker. An implementation detail: await it, or let
    /// actix do.
    type Future = HasApiKeyFuture<M>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        match start_taking::<M>(req) {
            Lookup::Done(result) => HasApiKeyFuture::Ready(Some(
                result
                    .map(HasApiKey)
                    .map_err(|d| AuthError::new(d, ApiKeyConfig::of(req))),
            )),
            Lookup::Pending(fut) => {
                let req = req.clone();
                HasApiKeyFuture::Waiting(Box::pin(async move {
                    fut.await
                        .map(HasApiKey)
                        .map_err(|d| AuthError::new(d, ApiKeyConfig::of(&req)))
                }))
            }
        }
    }
}
