//! The one key lookup every guard shares, and the one mapping of a key
//! store's outcome to a [`Denial`].
//!
//! The extractor ([`crate::HasApiKey`]), the permission
//! ([`crate::ApiKeyPermission`]) and the middleware ([`crate::RequirePermission`])
//! look keys up through here; the web admin and applications that call the
//! store from a handler map its errors with [`blocking`] or [`denial_of`], so
//! an outage is a 503 everywhere and never a 401 or a 500.

use std::future::Future;
use std::marker::PhantomData;
use std::pin::Pin;

use actix_web::{web, HttpMessage, HttpRequest};
use apikey_core::{AbstractApiKey, BaseApiKeyManager, Error as CoreError, VerifiedKey};

use crate::config::ApiKeyConfig;
use crate::error::Denial;

/// A key verified earlier in this request (by a permission or middleware),
/// kept in the request extensions so the handler's extractor does not look
/// it up again.
/// (Shared with the cache when it came from there: no copy of the row.)
#[derive(Debug, Clone)]
pub(crate) struct Verified<M: AbstractApiKey>(pub(crate) VerifiedKey<M>);

/// A key refused at once earlier in this request (by [`crate::KeyLimits`],
/// which lets the request through to the guard that answers it), with
/// where it was read: the handler's extractor answers the same refusal
/// without reading and looking the key up again, if it reads with the same
/// configuration and manager (a nested resource may bring its own).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Refused<M> {
    denial: Denial,
    sources: Sources,
    model: PhantomData<fn() -> M>,
}

/// Which [`ApiKeyConfig`] and manager a lookup used (their addresses: both
/// live in the app data for the whole request).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Sources {
    config: usize,
    manager: usize,
}

impl Sources {
    fn new<M: AbstractApiKey>(config: &ApiKeyConfig, manager: Option<&ManagerRef<'_, M>>) -> Self {
        Sources {
            config: std::ptr::from_ref(config).addr(),
            manager: manager.map_or(0, |m| std::ptr::from_ref(m.get()).addr()),
        }
    }

    fn of<M: AbstractApiKey>(req: &HttpRequest) -> Self {
        Sources::new(ApiKeyConfig::of(req), ManagerRef::<M>::of(req).as_ref())
    }
}

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
/// key; without a `log` logger, the first of each once on stderr). A blocking pool that refuses the work is [`Denial::Unavailable`].
/// A handler answers a denial as the guards do with
/// [`AuthError::new`](crate::AuthError::new)`(denial, ApiKeyConfig::of(&req))`
/// (a `ResponseError`: 401, 403 or 503 with the configured body and
/// headers).
pub async fn blocking<T, F>(f: F) -> Result<T, Denial>
where
    T: Send + 'static,
    F: FnOnce() -> apikey_core::Result<T> + Send + 'static,
{
    match web::block(f).await {
        Ok(Ok(value)) => Ok(value),
        Ok(Err(e)) => {
            let denial = denial_of(&e);
            report_failure(&e, denial);
            Err(denial)
        }
        Err(e) => {
            log::warn!("apikey-actix: blocking pool refused the call: {e}");
            Err(Denial::Unavailable)
        }
    }
}

/// Logs a key store failure (its text names no key): an outage as a
/// warning, anything else but a refused key as an error. When the
/// application installed no `log` logger, the first of each also goes to
/// stderr, once, so that a database that is down or not migrated is never
/// a silent 503 or 500.
fn report_failure(e: &CoreError, denial: Denial) {
    static OUTAGE: std::sync::Once = std::sync::Once::new();
    static INTERNAL: std::sync::Once = std::sync::Once::new();
    let (once, what) = match denial {
        // A flood of legacy checks must not become a flood of logs.
        Denial::Unavailable if matches!(e, CoreError::Busy(_)) => {
            log::debug!("apikey-actix: {e}");
            return;
        }
        Denial::Unavailable => {
            log::warn!("apikey-actix: key store unavailable: {e}");
            (&OUTAGE, "key store unavailable (503)")
        }
        Denial::Internal => {
            log::error!("apikey-actix: key store call failed: {e}");
            (&INTERNAL, "key store call failed (500)")
        }
        _ => return,
    };
    if log::max_level() == log::LevelFilter::Off {
        once.call_once(|| {
            eprintln!(
                "apikey-actix: {what}: {e} (shown once: install a `log` logger to see every occurrence)"
            )
        });
    }
}

/// Reports a misconfiguration (a guard that cannot work): `log::error!`,
/// and, when the application installed no `log` logger, once on stderr, so
/// that it is never a silent 500.
pub(crate) fn misconfigured(message: &str) {
    static PRINTED: std::sync::Once = std::sync::Once::new();
    log::error!("apikey-actix: {message}");
    if log::max_level() == log::LevelFilter::Off {
        PRINTED.call_once(|| eprintln!("apikey-actix: {message} (shown once: install a `log` logger to see every occurrence)"));
    }
}

pub(crate) fn manager_of<M: AbstractApiKey>(
    req: &HttpRequest,
) -> Option<web::Data<BaseApiKeyManager<M>>> {
    // `web::Data` is an `Arc`: one reference count, no allocation, on the
    // common path.
    if let Some(data) = req.app_data::<web::Data<BaseApiKeyManager<M>>>() {
        return Some(data.clone());
    }
    req.app_data::<BaseApiKeyManager<M>>()
        .map(|m| web::Data::new(m.clone()))
}

/// A lookup: answered at once, or waiting for the database.
pub(crate) enum Lookup<M> {
    /// Known without waiting: a key verified earlier in the request, no
    /// manager, no key, or what the manager answers inline (its cache, a
    /// malformed key, a SQLite query that takes no lock).
    Done(Result<VerifiedKey<M>, Denial>),
    /// The database, off the async executor.
    Pending(Pin<Box<dyn Future<Output = Result<VerifiedKey<M>, Denial>>>>),
}

/// The manager registered for `M`, borrowed from the app data: the hit
/// path then touches no reference count (an `Arc` shared by every worker
/// would bounce between their cores on each request).
enum ManagerRef<'a, M: AbstractApiKey> {
    Data(&'a web::Data<BaseApiKeyManager<M>>),
    Plain(&'a BaseApiKeyManager<M>),
}

impl<M: AbstractApiKey> ManagerRef<'_, M> {
    fn of(req: &HttpRequest) -> Option<ManagerRef<'_, M>> {
        if let Some(data) = req.app_data::<web::Data<BaseApiKeyManager<M>>>() {
            return Some(ManagerRef::Data(data));
        }
        req.app_data::<BaseApiKeyManager<M>>()
            .map(ManagerRef::Plain)
    }

    fn get(&self) -> &BaseApiKeyManager<M> {
        match self {
            ManagerRef::Data(data) => data,
            ManagerRef::Plain(manager) => manager,
        }
    }

    /// An owned handle, for work that outlives the request's borrow.
    fn owned(&self) -> web::Data<BaseApiKeyManager<M>> {
        match self {
            ManagerRef::Data(data) => (*data).clone(),
            ManagerRef::Plain(manager) => web::Data::new((*manager).clone()),
        }
    }
}

/// Reads the key from `req` (with the [`ApiKeyConfig`] that applies to it)
/// and looks it up: a key verified earlier in the request, else what the
/// manager answers without waiting, else the database on a blocking thread.
pub(crate) fn start<M: AbstractApiKey>(req: &HttpRequest) -> Lookup<M> {
    if let Some(v) = req.extensions().get::<Verified<M>>() {
        return Lookup::Done(Ok(v.0.clone()));
    }
    look_up(req).0
}

/// [`start`] for a middleware that lets refused requests through to the
/// guard that answers them ([`crate::KeyLimits`]): a refusal known at once
/// is left in the request ([`Refused`]) for [`start_taking`]; one that
/// comes from the database, the middleware leaves with the answered
/// [`Noter`].
pub(crate) fn start_noting<M: AbstractApiKey>(req: &HttpRequest) -> (Lookup<M>, Noter<M>) {
    if let Some(v) = req.extensions().get::<Verified<M>>() {
        // A verified key is never refused: no sources needed (these match
        // none, should they be).
        let none = Sources {
            config: 0,
            manager: 0,
        };
        return (Lookup::Done(Ok(v.0.clone())), Noter(none, PhantomData));
    }
    let (lookup, sources) = look_up(req);
    let noter = Noter(sources, PhantomData);
    if let Lookup::Done(Err(denial)) = lookup {
        noter.refused(req, denial);
    }
    (lookup, noter)
}

/// Leaves a refusal in a request for [`start_taking`], with where the key
/// was read (see [`start_noting`]).
pub(crate) struct Noter<M>(Sources, PhantomData<fn() -> M>);

impl<M: AbstractApiKey> Noter<M> {
    /// `denial` is this request's answer, unless the extractor reads keys
    /// otherwise (then it looks the key up itself).
    pub(crate) fn refused(&self, req: &HttpRequest, denial: Denial) {
        req.extensions_mut().insert(Refused::<M> {
            denial,
            sources: self.0,
            model: PhantomData,
        });
    }
}

/// [`start`] for the last reader of a verified key (the handler's
/// extractor): takes it out of the request instead of cloning it, and
/// answers a refusal left by [`start_noting`] with the same sources. Another
/// reader after it looks the key up again (from the cache).
pub(crate) fn start_taking<M: AbstractApiKey>(req: &HttpRequest) -> Lookup<M> {
    let refused = {
        let mut ext = req.extensions_mut();
        if let Some(v) = ext.remove::<Verified<M>>() {
            return Lookup::Done(Ok(v.0));
        }
        ext.remove::<Refused<M>>()
    };
    if let Some(refused) = refused {
        if refused.sources == Sources::of::<M>(req) {
            return Lookup::Done(Err(refused.denial));
        }
    }
    look_up(req).0
}

fn look_up<M: AbstractApiKey>(req: &HttpRequest) -> (Lookup<M>, Sources) {
    let Some(manager) = ManagerRef::<M>::of(req) else {
        misconfigured(&format!(
            "no BaseApiKeyManager<{}> in the app data: every request it guards answers 500; \
             register it with App::configure(apikey_actix::register(manager, ApiKeyConfig::default())) \
             or App::app_data(web::Data::new(manager)){}",
            std::any::type_name::<M>(),
            if std::any::TypeId::of::<M>() == std::any::TypeId::of::<apikey_core::ApiKey>() {
                " (guards written without a model, such as HasScope::new(..) or \
                 HasApiKey::permission(), check the built-in ApiKey: for keys of your own \
                 model write HasScope::<YourModel>::of(..), HasApiKey::<YourModel>::permission())"
            } else {
                ""
            }
        ));
        let sources = Sources::new::<M>(ApiKeyConfig::of(req), None);
        return (Lookup::Done(Err(Denial::Internal)), sources);
    };
    let config = ApiKeyConfig::of(req);
    let sources = Sources::new(config, Some(&manager));
    let Some(key) = config.key_parser().parse_borrowed(req) else {
        return (Lookup::Done(Err(Denial::MissingKey)), sources);
    };
    if let Some(known) = manager.get().try_verify_inline(key.expose_secret()) {
        return (Lookup::Done(known.map_err(|e| denial_of(&e))), sources);
    }
    let late = manager.get().feed_wait().is_some();
    let manager = manager.owned();
    let key = key.into_owned();
    let bound = config.lookup_timeout_value();
    let pending = Lookup::Pending(Box::pin(async move {
        let lookup = async move {
            // A late feed first (it is usually back within milliseconds),
            // then the database.
            if late {
                if let Some(known) = wait_for_feed(&manager, key.expose_secret()).await {
                    return known.map_err(|e| denial_of(&e));
                }
            }
            blocking(move || {
                manager
                    .get_from_key(key.expose_secret())
                    .map(VerifiedKey::from)
            })
            .await
        };
        if bound.is_zero() {
            return lookup.await;
        }
        match actix_web::rt::time::timeout(bound, lookup).await {
            Ok(result) => result,
            Err(_) => {
                log::warn!("apikey-actix: key lookup took longer than {bound:?}: 503");
                Err(Denial::Unavailable)
            }
        }
    }));
    (pending, sources)
}

/// Waits for the cache's late change feed (see
/// [`BaseApiKeyManager::feed_wait`]) without holding a thread, looking at
/// the cache again every millisecond: its answer once the feed is back on
/// time, `None` (query the database) once the feed counts as stalled or the
/// cache does not know the key.
async fn wait_for_feed<M: AbstractApiKey>(
    manager: &BaseApiKeyManager<M>,
    key: &str,
) -> Option<apikey_core::Result<VerifiedKey<M>>> {
    while manager.feed_wait().is_some() {
        actix_web::rt::time::sleep(FEED_WAIT_STEP).await;
        if let Some(known) = manager.verify_cached(key) {
            return Some(known);
        }
    }
    None
}

/// How often a lookup that waits for a late feed looks at the cache again.
const FEED_WAIT_STEP: std::time::Duration = std::time::Duration::from_millis(1);

/// [`start`] as a future.
pub(crate) fn lookup<M: AbstractApiKey>(
    req: &HttpRequest,
) -> impl Future<Output = Result<VerifiedKey<M>, Denial>> + 'static {
    let started = start::<M>(req);
    async move {
        match started {
            Lookup::Done(result) => result,
            Lookup::Pending(fut) => fut.await,
        }
    }
}
