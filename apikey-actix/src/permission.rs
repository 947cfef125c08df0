//! Permissions and their combinators, the counterpart of DRF's permission
//! classes with `|`, `&` and `~`.
//!
//! ```
//! use apikey_actix::{HasApiKey, IsAuthenticated, Permission};
//! use apikey_core::ApiKey;
//!
//! // A request passes with a usable key, or when the application's own
//! // authentication marked it authenticated.
//! let either = HasApiKey::<ApiKey>::permission() | IsAuthenticated;
//! ```
//!
//! When an `Or` refuses, it reports the strongest reason: an unavailable key
//! store (503) before "not authenticated" (401) before "forbidden" (403).
//! Once a key has been verified in the request (an [`ApiKeyPermission`]
//! granted, in any branch), a refusal is about permission, not
//! authentication: [`Permitted`] and [`crate::RequirePermission`] answer 403
//! instead of 401, so `(key & FnPermission(is_admin)) | IsAuthenticated`
//! with a valid key that `is_admin` refuses is a 403. (The DRF-compatible
//! mode answers 403 for every denial anyway; an outage stays a 503.)
//! `Not` never turns an outage into a grant.

use std::future::Future;
use std::marker::PhantomData;
use std::pin::Pin;

use actix_web::dev::Payload;
use actix_web::{web, FromRequest, HttpMessage, HttpRequest};
use apikey_core::{AbstractApiKey, ApiKey};

use crate::config::ApiKeyConfig;
use crate::error::{AuthError, Denial};
use crate::lookup::{lookup, Verified};

/// The future a permission check returns.
pub type PermissionFuture = Pin<Box<dyn Future<Output = Result<(), Denial>>>>;

/// Decides whether a request may proceed.
///
/// The synchronous part of `check` runs when the check is built; put
/// anything slow in the returned future (it is only polled when needed, so
/// `a | b` does not run `b`'s lookup when `a` grants).
pub trait Permission: 'static {
    /// Grants (`Ok`) or refuses the request.
    fn check(&self, req: &HttpRequest) -> PermissionFuture;

    /// The `WWW-Authenticate` challenge of a 401 from this permission, when
    /// it is not the configured API key scheme (for example
    /// `Basic realm="admin"`). Combinators pass on the first one they have.
    fn challenge(&self) -> Option<String> {
        None
    }

    /// The permission built from its type alone, for a [`Permitted<Self>`]
    /// extractor when the application registered none with
    /// `App::app_data` (`None`: it must be registered). The built-in
    /// permissions that need no settings return `Some`, and so do their
    /// combinations; a permission with settings (such as the admin's Basic
    /// auth) is registered instead.
    fn default_permission() -> Option<Self>
    where
        Self: Sized,
    {
        None
    }
}

impl<P: Permission + ?Sized> Permission for Box<P> {
    fn check(&self, req: &HttpRequest) -> PermissionFuture {
        (**self).check(req)
    }

    fn challenge(&self) -> Option<String> {
        (**self).challenge()
    }
}

impl<P: Permission + ?Sized> Permission for std::rc::Rc<P> {
    fn check(&self, req: &HttpRequest) -> PermissionFuture {
        (**self).check(req)
    }

    fn challenge(&self) -> Option<String> {
        (**self).challenge()
    }
}

/// A usable key of model `M` (the permission form of [`crate::HasApiKey`]).
/// On success the key is kept in the request, so a `HasApiKey<M>` extractor
/// in the handler gets it without a second lookup.
#[derive(Debug)]
pub struct ApiKeyPermission<M = ApiKey>(PhantomData<fn() -> M>);

impl<M> Default for ApiKeyPermission<M> {
    fn default() -> Self {
        ApiKeyPermission(PhantomData)
    }
}

impl<M> Clone for ApiKeyPermission<M> {
    fn clone(&self) -> Self {
        ApiKeyPermission(PhantomData)
    }
}

impl<M: AbstractApiKey> Permission for ApiKeyPermission<M> {
    fn check(&self, req: &HttpRequest) -> PermissionFuture {
        let fut = lookup::<M>(req);
        let req = req.clone();
        Box::pin(async move {
            let model = fut.await?;
            let mut ext = req.extensions_mut();
            ext.insert(Verified(model));
            ext.insert(KeyVerified);
            Ok(())
        })
    }

    fn default_permission() -> Option<Self> {
        Some(Self::default())
    }
}

/// Left in the request extensions when an [`ApiKeyPermission`] granted: a
/// key (of any model) was verified in this request.
#[derive(Debug, Clone, Copy)]
pub(crate) struct KeyVerified;

/// The denial a guard answers: once a key has been verified in this
/// request, a refusal is about permission (403), not authentication (401).
/// Outages and internal errors are kept as they are.
pub(crate) fn settle(req: &HttpRequest, denial: Denial) -> Denial {
    match denial {
        Denial::MissingKey | Denial::InvalidKey if req.extensions().contains::<KeyVerified>() => {
            Denial::Forbidden
        }
        d => d,
    }
}

/// Marks a request as authenticated by the application's own means (a
/// session, a login): insert it in the request extensions from your
/// middleware, and [`IsAuthenticated`] grants the request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Authenticated {
    /// Who is authenticated, for the application's use.
    pub user: String,
}

/// Grants requests carrying [`Authenticated`] (DRF's `IsAuthenticated`).
#[derive(Debug, Clone, Copy, Default)]
pub struct IsAuthenticated;

impl Permission for IsAuthenticated {
    fn check(&self, req: &HttpRequest) -> PermissionFuture {
        let ok = req.extensions().contains::<Authenticated>();
        Box::pin(async move {
            if ok {
                Ok(())
            } else {
                Err(Denial::MissingKey)
            }
        })
    }

    fn default_permission() -> Option<Self> {
        Some(IsAuthenticated)
    }
}

/// Grants every request.
#[derive(Debug, Clone, Copy, Default)]
pub struct AllowAny;

impl Permission for AllowAny {
    fn check(&self, _req: &HttpRequest) -> PermissionFuture {
        Box::pin(async { Ok(()) })
    }

    fn default_permission() -> Option<Self> {
        Some(AllowAny)
    }
}

/// A permission from a synchronous function of the request (403 when false).
#[derive(Debug, Clone, Copy)]
pub struct FnPermission<F>(pub F);

impl<F: Fn(&HttpRequest) -> bool + 'static> Permission for FnPermission<F> {
    fn check(&self, req: &HttpRequest) -> PermissionFuture {
        let ok = (self.0)(req);
        Box::pin(async move {
            if ok {
                Ok(())
            } else {
                Err(Denial::Forbidden)
            }
        })
    }
}

/// `A | B`: granted when either is.
#[derive(Debug, Clone, Copy, Default)]
pub struct Or<A, B>(pub A, pub B);

impl<A: Permission, B: Permission> Permission for Or<A, B> {
    fn challenge(&self) -> Option<String> {
        self.0.challenge().or_else(|| self.1.challenge())
    }

    fn check(&self, req: &HttpRequest) -> PermissionFuture {
        let (a, b) = (self.0.check(req), self.1.check(req));
        Box::pin(async move {
            match a.await {
                Ok(()) => Ok(()),
                Err(da) => b.await.map_err(|db| da.strongest(db)),
            }
        })
    }

    fn default_permission() -> Option<Self> {
        Some(Or(A::default_permission()?, B::default_permission()?))
    }
}

/// `A & B`: granted when both are; the first refusal is reported.
#[derive(Debug, Clone, Copy, Default)]
pub struct And<A, B>(pub A, pub B);

impl<A: Permission, B: Permission> Permission for And<A, B> {
    fn challenge(&self) -> Option<String> {
        self.0.challenge().or_else(|| self.1.challenge())
    }

    fn check(&self, req: &HttpRequest) -> PermissionFuture {
        let (a, b) = (self.0.check(req), self.1.check(req));
        Box::pin(async move {
            a.await?;
            b.await
        })
    }

    fn default_permission() -> Option<Self> {
        Some(And(A::default_permission()?, B::default_permission()?))
    }
}

/// `!A`: granted when `A` refuses (403 otherwise). An unavailable store or
/// an internal error stays a refusal.
#[derive(Debug, Clone, Copy, Default)]
pub struct Not<A>(pub A);

impl<A: Permission> Permission for Not<A> {
    fn check(&self, req: &HttpRequest) -> PermissionFuture {
        let a = self.0.check(req);
        Box::pin(async move {
            match a.await {
                Ok(()) => Err(Denial::Forbidden),
                Err(d @ (Denial::Unavailable | Denial::Internal)) => Err(d),
                Err(_) => Ok(()),
            }
        })
    }

    fn default_permission() -> Option<Self> {
        Some(Not(A::default_permission()?))
    }
}

/// Any of a list of permissions built at run time (for a fixed set, write
/// `a | b | c`): granted when one grants. An empty list refuses (403).
#[derive(Default)]
pub struct AnyOf(Vec<Box<dyn Permission>>);

impl std::fmt::Debug for AnyOf {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "AnyOf({} permissions)", self.0.len())
    }
}

impl AnyOf {
    /// An empty list (which refuses until an alternative is added).
    pub fn new() -> Self {
        AnyOf(Vec::new())
    }

    /// Adds an alternative.
    pub fn or(mut self, next: impl Permission) -> Self {
        self.0.push(Box::new(next));
        self
    }

    /// How many alternatives the list has.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// True when the list has no alternative (and so refuses).
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl FromIterator<Box<dyn Permission>> for AnyOf {
    fn from_iter<I: IntoIterator<Item = Box<dyn Permission>>>(iter: I) -> Self {
        AnyOf(iter.into_iter().collect())
    }
}

impl Permission for AnyOf {
    fn challenge(&self) -> Option<String> {
        self.0.iter().find_map(|p| p.challenge())
    }

    fn check(&self, req: &HttpRequest) -> PermissionFuture {
        let checks: Vec<_> = self.0.iter().map(|p| p.check(req)).collect();
        Box::pin(async move {
            let mut worst: Option<Denial> = None;
            for check in checks {
                match check.await {
                    Ok(()) => return Ok(()),
                    Err(d) => worst = Some(worst.map_or(d, |w| w.strongest(d))),
                }
            }
            Err(worst.unwrap_or(Denial::Forbidden))
        })
    }
}

/// All of a list of permissions built at run time (for a fixed set, write
/// `a & b & c`): granted when every one grants; the first refusal is
/// reported. An empty list refuses (403): a requirement that lists nothing
/// grants nothing.
#[derive(Default)]
pub struct AllOf(Vec<Box<dyn Permission>>);

impl std::fmt::Debug for AllOf {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "AllOf({} permissions)", self.0.len())
    }
}

impl AllOf {
    /// An empty list (which refuses until a requirement is added).
    pub fn new() -> Self {
        AllOf(Vec::new())
    }

    /// Adds a requirement.
    pub fn and(mut self, next: impl Permission) -> Self {
        self.0.push(Box::new(next));
        self
    }

    /// How many requirements the list has.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// True when the list has no requirement (and so refuses).
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl FromIterator<Box<dyn Permission>> for AllOf {
    fn from_iter<I: IntoIterator<Item = Box<dyn Permission>>>(iter: I) -> Self {
        AllOf(iter.into_iter().collect())
    }
}

impl Permission for AllOf {
    fn challenge(&self) -> Option<String> {
        self.0.iter().find_map(|p| p.challenge())
    }

    fn check(&self, req: &HttpRequest) -> PermissionFuture {
        if self.0.is_empty() {
            return Box::pin(async { Err(Denial::Forbidden) });
        }
        let checks: Vec<_> = self.0.iter().map(|p| p.check(req)).collect();
        Box::pin(async move {
            for check in checks {
                check.await?;
            }
            Ok(())
        })
    }
}

macro_rules! operators {
    ($([$($gen:tt)*] $ty:ty;)*) => {$(
        impl<$($gen)* Rhs: Permission> std::ops::BitOr<Rhs> for $ty {
            type Output = Or<Self, Rhs>;
            fn bitor(self, rhs: Rhs) -> Or<Self, Rhs> {
                Or(self, rhs)
            }
        }
        impl<$($gen)* Rhs: Permission> std::ops::BitAnd<Rhs> for $ty {
            type Output = And<Self, Rhs>;
            fn bitand(self, rhs: Rhs) -> And<Self, Rhs> {
                And(self, rhs)
            }
        }
        impl<$($gen)*> std::ops::Not for $ty {
            type Output = Not<Self>;
            fn not(self) -> Not<Self> {
                Not(self)
            }
        }
    )*};
}

operators! {
    [M: AbstractApiKey,] ApiKeyPermission<M>;
    [] IsAuthenticated;
    [] AllowAny;
    [F: Fn(&HttpRequest) -> bool + 'static,] FnPermission<F>;
    [A: Permission, B: Permission,] Or<A, B>;
    [A: Permission, B: Permission,] And<A, B>;
    [A: Permission,] Not<A>;
    [] AnyOf;
    [] AllOf;
    [M: AbstractApiKey,] crate::scope::HasScope<M>;
}

/// An extractor that runs permission `P` before the handler:
/// `_: Permitted<Or<ApiKeyPermission<OrgKey>, IsAuthenticated>>`.
///
/// The permission is the one registered with `App::app_data(p)` (or
/// `web::Data<P>`) where the route is, else the one built from its type
/// ([`Permission::default_permission`]: the built-in permissions without
/// settings and their combinations). A permission with settings, such as
/// the admin's `BasicAuth`, is registered:
/// `App::new().app_data(BasicAuth::new("admin", "a long passphrase")?)` and
/// `_: Permitted<BasicAuth>`. Neither registered nor buildable: 500, with a
/// log line naming the type (a misconfiguration, never a grant).
#[derive(Debug)]
pub struct Permitted<P>(PhantomData<P>);

impl<P: Permission> FromRequest for Permitted<P> {
    type Error = AuthError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, AuthError>>>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let built;
        let permission: Option<&P> = match req.app_data::<P>() {
            Some(p) => Some(p),
            None => match req.app_data::<web::Data<P>>() {
                Some(p) => Some(&**p),
                None => {
                    built = P::default_permission();
                    built.as_ref()
                }
            },
        };
        let (check, challenge) = match permission {
            Some(p) => (p.check(req), p.challenge()),
            None => {
                crate::lookup::misconfigured(&format!(
                    "Permitted<{}>: this permission has settings and none is registered; \
                     register it with App::app_data(permission) where the route is, or guard \
                     the route with .wrap(RequirePermission::new(permission))",
                    std::any::type_name::<P>()
                ));
                let refused: PermissionFuture = Box::pin(async { Err(Denial::Internal) });
                (refused, None)
            }
        };
        let req = req.clone();
        Box::pin(async move {
            check.await.map(|()| Permitted(PhantomData)).map_err(|d| {
                AuthError::new(settle(&req, d), ApiKeyConfig::of(&req)).with_challenge(challenge)
            })
        })
    }
}
