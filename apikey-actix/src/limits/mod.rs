//! [`KeyLimits`]: each key's rate limit and usage quota, enforced in a
//! middleware that runs after the key is verified.
//!
//! ```no_run
//! use actix_web::{web, App, HttpResponse, HttpServer};
//! use apikey_actix::{register, ApiKeyConfig, HasApiKey, KeyLimits};
//! use apikey_core::{ApiKey, BaseApiKeyManager, Database, RateLimit};
//!
//! # async fn run(keys: BaseApiKeyManager<ApiKey>) -> std::io::Result<()> {
//! // Each key's own limit (`apikey create --rate 10/s`), else 100/min.
//! // Made once, outside the factory: the workers share its budgets.
//! let limits = KeyLimits::<ApiKey>::in_process().default_rate(Some("100/min".parse().unwrap()));
//! HttpServer::new(move || {
//!     App::new()
//!         // KeyLimits looks keys up with the registered manager and config.
//!         .configure(register(keys.clone(), ApiKeyConfig::default()))
//!         .service(
//!             web::scope("/api")
//!                 .wrap(limits.clone())
//!                 .route("/items", web::get().to(|_key: HasApiKey| async { HttpResponse::Ok() })),
//!         )
//! })
//! .bind("127.0.0.1:8080")?
//! .run()
//! .await
//! # }
//! ```
//!
//! With a `RequirePermission` on the same route, call `.wrap(limits)`
//! before `.wrap(RequirePermission::new(p))` (actix runs the last `.wrap`
//! first, so the permission runs before the limits): a request the
//! permission refuses takes no budget or use. Without a registered manager every request it sees is a 500.
//!
//! For each request with a usable key of model `M` (looked up once: the
//! handler's [`crate::HasApiKey`] reuses it):
//!
//! 1. **Rate limit**: the key's own ([`apikey_core::AbstractApiKey::rate_limit`]),
//!    else the default ([`KeyLimits::default_rate`], none unless set).
//!    `N/period` lets a burst of N through at once, then one request every
//!    `period / N` (GCRA: see [`apikey_core::limits`]). Over it: **429**
//!    with `Retry-After` (seconds), `RateLimit-Limit`, `RateLimit-Remaining`
//!    (0), `RateLimit-Reset` (seconds until the whole burst is back) and
//!    `{"detail": "Request rate limit exceeded for this API key."}`.
//!    Allowed responses carry the same `RateLimit-*` fields and
//!    `RateLimit-Policy: N;w=<period in seconds>`; a key without any rate
//!    limit (none of its own, no default) gets none of them.
//! 2. **Usage quota**, for a key with remaining uses
//!    ([`apikey_core::AbstractApiKey::remaining_uses`]): one use is taken in
//!    the database, atomically, never below zero on any number of servers
//!    ([`apikey_core::BaseApiKeyManager::use_quota`]). None left: **403**
//!    with `{"detail": "This API key has no uses left."}` (403, not 429:
//!    retrying does not help until someone gives the key more uses). A
//!    request refused by the rate limit takes no use.
//!
//! A request without a usable key goes on untouched and consumes nothing:
//! the guard (`HasApiKey`, `RequirePermission`) refuses it as before.
//! `KeyLimits` authenticates nothing by itself. (The key is looked up once:
//! `HasApiKey` behind it takes the verified key, or the refusal, that
//! `KeyLimits` found, when it reads keys with the same `ApiKeyConfig` and
//! manager.)
//!
//! The budget lives in this process ([`KeyLimits::in_process`]: each
//! server counts alone, so two servers allow twice the limit) or, with the
//! `redis` feature, in Redis (`KeyLimits::redis`): one limit across any
//! number of servers.

pub(crate) mod gcra;
#[cfg(feature = "redis")]
pub(crate) mod redis;

use std::future::{ready, Future, Ready};
use std::marker::PhantomData;
use std::pin::Pin;
use std::rc::Rc;
use std::sync::Arc;
use std::task::{ready, Context, Poll};

use actix_web::body::EitherBody;
use actix_web::dev::{Service, ServiceRequest, ServiceResponse, Transform};
use actix_web::http::header::{HeaderMap, HeaderName, HeaderValue};
use actix_web::{Error, HttpMessage};
use apikey_core::{AbstractApiKey, QuotaUse, RateLimit, VerifiedKey};

use crate::config::ApiKeyConfig;
use crate::error::{AuthError, Denial};
use crate::lookup::{self, Verified};

use gcra::{InProcess, Numbers, Outcome};
#[cfg(feature = "redis")]
pub use redis::{RedisStore, DEFAULT_REDIS_TIMEOUT, RECONNECT_EVERY};

/// What [`KeyLimits`] does when its store cannot answer (Redis down or too
/// slow): the default is [`WhenUnavailable::Allow`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum WhenUnavailable {
    /// Let the request through without a rate limit (and without
    /// `RateLimit-*` fields), logging a warning: an outage of the limiter
    /// does not become an outage of the API. The default.
    #[default]
    Allow,
    /// Refuse with 503 and `Retry-After: 1`, logging a warning (fail
    /// closed, as the key store does).
    Refuse,
}

#[derive(Debug, Clone)]
pub(crate) enum Store {
    InProcess(Arc<InProcess>),
    #[cfg(feature = "redis")]
    Redis(RedisStore),
}

/// Middleware enforcing each key's rate limit and usage quota (module
/// docs: [`crate::limits`]). Wrap an `App`, a `web::scope` or a resource.
pub struct KeyLimits<M> {
    store: Store,
    default_rate: Option<RateLimit>,
    when_unavailable: WhenUnavailable,
    model: PhantomData<fn() -> M>,
}

impl<M> std::fmt::Debug for KeyLimits<M> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyLimits")
            .field("store", &self.store)
            .field("default_rate", &self.default_rate)
            .field("when_unavailable", &self.when_unavailable)
            .finish()
    }
}

impl<M> Clone for KeyLimits<M> {
    fn clone(&self) -> Self {
        KeyLimits {
            store: self.store.clone(),
            default_rate: self.default_rate,
            when_unavailable: self.when_unavailable,
            model: PhantomData,
        }
    }
}

impl<M: AbstractApiKey> KeyLimits<M> {
    /// Counts in this process: every clone of this value (every worker of
    /// an `HttpServer`, when it is created outside the app factory) shares
    /// one budget per key. Another process counts on its own.
    pub fn in_process() -> Self {
        KeyLimits::with_store(Store::InProcess(Arc::new(InProcess::new())))
    }

    /// Counts in Redis: one budget per key for every server that uses the
    /// same Redis (feature `redis`).
    #[cfg(feature = "redis")]
    pub fn redis(store: RedisStore) -> Self {
        KeyLimits::with_store(Store::Redis(store))
    }

    fn with_store(store: Store) -> Self {
        KeyLimits {
            store,
            default_rate: None,
            when_unavailable: WhenUnavailable::default(),
            model: PhantomData,
        }
    }

    /// The rate limit of keys without one of their own (`None`, the
    /// default: such keys are not rate limited).
    pub fn default_rate(mut self, limit: Option<RateLimit>) -> Self {
        self.default_rate = limit;
        self
    }

    /// What to do when the store cannot answer (default
    /// [`WhenUnavailable::Allow`]; the in-process store always answers).
    pub fn when_unavailable(mut self, choice: WhenUnavailable) -> Self {
        self.when_unavailable = choice;
        self
    }
}

impl<S, B, M> Transform<S, ServiceRequest> for KeyLimits<M>
where
    S: Service<ServiceRequest, Response = ServiceResponse<B>, Error = Error> + 'static,
    B: 'static,
    M: AbstractApiKey,
{
    type Response = ServiceResponse<EitherBody<B>>;
    type Error = Error;
    type Transform = KeyLimitsMiddleware<S, M>;
    type InitError = ();
    type Future = Ready<Result<Self::Transform, ()>>;

    fn new_transform(&self, service: S) -> Self::Future {
        ready(Ok(KeyLimitsMiddleware {
            service: Rc::new(service),
            limits: Rc::new(self.clone()),
        }))
    }
}

/// The service built by [`KeyLimits`].
pub struct KeyLimitsMiddleware<S, M> {
    service: Rc<S>,
    limits: Rc<KeyLimits<M>>,
}

impl<S, M> std::fmt::Debug for KeyLimitsMiddleware<S, M> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyLimitsMiddleware")
            .field("limits", &self.limits)
            .finish_non_exhaustive()
    }
}

/// [`KeyLimits::check_now`]: the answer, or the Redis store to ask (a
/// handle on its shared connection).
enum Check {
    Now(Checked),
    #[cfg(feature = "redis")]
    Redis(RedisStore, RateLimit),
}

/// The store's answer for one request.
enum Checked {
    /// No limit applies, or the store could not answer and that is
    /// allowed.
    Unlimited,
    Allowed(Numbers),
    Refused(Numbers),
    Unavailable,
}

impl<M: AbstractApiKey> KeyLimits<M> {
    /// The store's answer, at once when it can be had without waiting (no
    /// limit applies, or the in-process store).
    fn check_now(&self, key: &M) -> Check {
        let Some(limit) = key.rate_limit().or(self.default_rate) else {
            return Check::Now(Checked::Unlimited);
        };
        match &self.store {
            Store::InProcess(store) => {
                Check::Now(self.judge(Ok(store.check(&budget_id(key), limit)), limit))
            }
            #[cfg(feature = "redis")]
            Store::Redis(store) => Check::Redis(store.clone(), limit),
        }
    }

    fn judge(&self, outcome: Result<Outcome, String>, limit: RateLimit) -> Checked {
        match outcome {
            Ok(o) if o.allowed => Checked::Allowed(o.numbers(limit)),
            Ok(o) => Checked::Refused(o.numbers(limit)),
            Err(e) => match self.when_unavailable {
                WhenUnavailable::Allow => {
                    log::warn!(
                        "apikey-actix: rate limit store unavailable ({e}): request allowed \
                         without a limit (KeyLimits::when_unavailable)"
                    );
                    Checked::Unlimited
                }
                WhenUnavailable::Refuse => {
                    log::warn!(
                        "apikey-actix: rate limit store unavailable ({e}): request refused, \
                         503 (KeyLimits::when_unavailable)"
                    );
                    Checked::Unavailable
                }
            },
        }
    }
}

/// The key's budget in the store: `<table>:<prefix>`.
fn budget_id<M: AbstractApiKey>(key: &M) -> String {
    let mut id = String::with_capacity(M::TABLE_NAME.len() + 1 + key.prefix().len());
    id.push_str(M::TABLE_NAME);
    id.push(':');
    id.push_str(key.prefix());
    id
}

/// Writes the `RateLimit-*` fields (a refusal's `Retry-After` comes with
/// its [`Denial`]).
fn add_fields(headers: &mut HeaderMap, n: Numbers, limit_policy: Option<String>) {
    let mut set = |name: &'static str, value: u64| {
        headers.insert(HeaderName::from_static(name), HeaderValue::from(value));
    };
    set("ratelimit-limit", u64::from(n.limit));
    set("ratelimit-remaining", n.remaining);
    set("ratelimit-reset", n.reset);
    if let Some(policy) = limit_policy.and_then(|p| HeaderValue::from_str(&p).ok()) {
        headers.insert(HeaderName::from_static("ratelimit-policy"), policy);
    }
}

fn policy<M: AbstractApiKey>(key: &M, default: Option<RateLimit>) -> Option<String> {
    key.rate_limit()
        .or(default)
        .map(|l| format!("{};w={}", l.count(), l.period().duration().as_secs()))
}

/// A refusal by [`KeyLimits`]: the guard's error response, with the
/// `RateLimit-*` fields when the store gave numbers.
fn refuse<B>(
    req: ServiceRequest,
    denial: Denial,
    fields: Option<Numbers>,
) -> Result<ServiceResponse<EitherBody<B>>, Error> {
    let err = AuthError::new(denial, ApiKeyConfig::of(req.request()));
    let mut res = actix_web::ResponseError::error_response(&err);
    if let Some(n) = fields {
        add_fields(res.headers_mut(), n, None);
    }
    Ok(req.into_response(res).map_into_right_body())
}

impl<S, B, M> Service<ServiceRequest> for KeyLimitsMiddleware<S, M>
where
    S: Service<ServiceRequest, Response = ServiceResponse<B>, Error = Error> + 'static,
    B: 'static,
    M: AbstractApiKey,
{
    type Response = ServiceResponse<EitherBody<B>>;
    type Error = Error;
    type Future = KeyLimitsFuture<S::Future, B>;

    actix_web::dev::forward_ready!(service);

    fn call(&self, req: ServiceRequest) -> Self::Future {
        // What can be decided at once (a cached key, the in-process store,
        // no quota) is, with no allocation: the common request.
        let (found, noter) = lookup::start_noting::<M>(req.request());
        let key = match found {
            // No usable key: the guard answers (the refusal left in the
            // request for it); nothing is counted.
            lookup::Lookup::Done(Err(_)) => {
                return KeyLimitsFuture::call(self.service.call(req), None)
            }
            lookup::Lookup::Done(Ok(key)) => key,
            lookup::Lookup::Pending(key) => {
                let service = Rc::clone(&self.service);
                let limits = Rc::clone(&self.limits);
                return KeyLimitsFuture::boxed(async move {
                    match key.await {
                        Ok(key) => limit(service, limits, req, key).await,
                        // The database's refusal too is left for the
                        // guard: it is not asked twice.
                        Err(denial) => {
                            noter.refused(req.request(), denial);
                            service
                                .call(req)
                                .await
                                .map(ServiceResponse::map_into_left_body)
                        }
                    }
                });
            }
        };
        let wait = |req, key| {
            let (service, limits) = (Rc::clone(&self.service), Rc::clone(&self.limits));
            KeyLimitsFuture::boxed(limit(service, limits, req, key))
        };
        // A quota takes a write: counted (rate first) by `limit`.
        if M::HAS_QUOTA && key.remaining_uses().is_some() {
            return wait(req, key);
        }
        match self.limits.check_now(&key) {
            Check::Now(Checked::Unlimited) => {
                req.extensions_mut().insert(Verified(key));
                KeyLimitsFuture::call(self.service.call(req), None)
            }
            Check::Now(Checked::Allowed(n)) => {
                let policy = policy(&*key, self.limits.default_rate);
                req.extensions_mut().insert(Verified(key));
                KeyLimitsFuture::call(self.service.call(req), Some((n, policy)))
            }
            Check::Now(Checked::Refused(n)) => {
                let retry_after = u32::try_from(n.retry_after).unwrap_or(u32::MAX);
                KeyLimitsFuture::done(refuse(req, Denial::RateLimited { retry_after }, Some(n)))
            }
            Check::Now(Checked::Unavailable) => {
                KeyLimitsFuture::done(refuse(req, Denial::Unavailable, None))
            }
            // Asking Redis counts nothing until `limit` does.
            #[cfg(feature = "redis")]
            Check::Redis(..) => wait(req, key),
        }
    }
}

/// The rest of [`KeyLimitsMiddleware::call`] for a verified key when it
/// has to wait: Redis, the quota's write, a lookup in the database.
async fn limit<S, B, M>(
    service: Rc<S>,
    limits: Rc<KeyLimits<M>>,
    req: ServiceRequest,
    key: VerifiedKey<M>,
) -> Result<ServiceResponse<EitherBody<B>>, Error>
where
    S: Service<ServiceRequest, Response = ServiceResponse<B>, Error = Error> + 'static,
    B: 'static,
    M: AbstractApiKey,
{
    #[allow(clippy::infallible_destructuring_match)] // without the `redis` feature
    let checked = match limits.check_now(&key) {
        Check::Now(checked) => checked,
        #[cfg(feature = "redis")]
        Check::Redis(store, limit) => {
            limits.judge(store.check(&budget_id(&*key), limit).await, limit)
        }
    };
    let numbers = match checked {
        Checked::Unlimited => None,
        Checked::Allowed(n) => Some(n),
        Checked::Refused(n) => {
            let retry_after = u32::try_from(n.retry_after).unwrap_or(u32::MAX);
            return refuse(req, Denial::RateLimited { retry_after }, Some(n));
        }
        Checked::Unavailable => return refuse(req, Denial::Unavailable, None),
    };
    if M::HAS_QUOTA && key.remaining_uses().is_some() {
        let Some(manager) = lookup::manager_of::<M>(req.request()) else {
            return refuse(req, Denial::Internal, None);
        };
        let row = key.clone();
        match lookup::blocking(move || manager.use_quota(&row)).await {
            Ok(QuotaUse::Exhausted) => {
                return refuse(req, Denial::QuotaExhausted, numbers);
            }
            Ok(_) => {}
            Err(denial) => return refuse(req, denial, None),
        }
    }
    let policy = numbers.map(|_| policy(&*key, limits.default_rate));
    req.extensions_mut().insert(Verified(key));
    let mut res = service.call(req).await?;
    if let Some(n) = numbers {
        add_fields(res.headers_mut(), n, policy.flatten());
    }
    Ok(res.map_into_left_body())
}

type Response<B> = Result<ServiceResponse<EitherBody<B>>, Error>;

pin_project_lite::pin_project! {
    /// The future of [`KeyLimitsMiddleware`]: the inner service's own
    /// future when the limits were decided at once (no allocation), an
    /// answer already made (a refusal), or a boxed future when something
    /// had to be waited for (Redis, a quota, a lookup in the database).
    pub struct KeyLimitsFuture<F, B> {
        #[pin]
        state: State<F, B>,
    }
}

pin_project_lite::pin_project! {
    #[project = StateProj]
    enum State<F, B> {
        Call { #[pin] fut: F, fields: Option<(Numbers, Option<String>)> },
        // Boxed: a refusal is rare, and the future every request moves
        // (and actix boxes) stays half the size.
        Done { response: Option<Box<Response<B>>> },
        Boxed { fut: Pin<Box<dyn Future<Output = Response<B>>>> },
    }
}

impl<F, B> KeyLimitsFuture<F, B> {
    fn call(fut: F, fields: Option<(Numbers, Option<String>)>) -> Self {
        KeyLimitsFuture {
            state: State::Call { fut, fields },
        }
    }

    fn done(response: Response<B>) -> Self {
        KeyLimitsFuture {
            state: State::Done {
                response: Some(Box::new(response)),
            },
        }
    }

    fn boxed(fut: impl Future<Output = Response<B>> + 'static) -> Self {
        KeyLimitsFuture {
            state: State::Boxed { fut: Box::pin(fut) },
        }
    }
}

impl<F, B> std::fmt::Debug for KeyLimitsFuture<F, B> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("KeyLimitsFuture")
    }
}

impl<F, B> Future for KeyLimitsFuture<F, B>
where
    F: Future<Output = Result<ServiceResponse<B>, Error>>,
{
    type Output = Response<B>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.project().state.project() {
            StateProj::Call { fut, fields } => {
                let mut res = ready!(fut.poll(cx))?;
                if let Some((n, policy)) = fields.take() {
                    add_fields(res.headers_mut(), n, policy);
                }
                Poll::Ready(Ok(res.map_into_left_body()))
            }
            StateProj::Done { response } => match response.take() {
                Some(response) => Poll::Ready(*response),
                // Polled again after it answered.
                None => Poll::Pending,
            },
            StateProj::Boxed { fut } => fut.as_mut().poll(cx),
        }
    }
}
