//! [`HasScope`]: a usable key that carries a scope.

use std::marker::PhantomData;

use actix_web::{HttpMessage, HttpRequest};
use apikey_core::scopes::validate_required_scope;
use apikey_core::{AbstractApiKey, ApiKey};

use crate::error::Denial;
use crate::lookup::{lookup, Verified};
use crate::permission::{KeyVerified, Permission, PermissionFuture};

/// A usable key of model `M` whose scopes grant `scope`
/// ([`apikey_core::scopes`]: `billing:*` grants `billing:read`).
///
/// No key or an invalid one is 401, as [`crate::ApiKeyPermission`]; a
/// valid key without the scope is 403 with a `detail` naming it
/// ([`Denial::MissingScope`]). It composes with `|`, `&` and `!` and guards
/// a whole scope with [`crate::RequirePermission`]:
///
/// ```
/// use apikey_actix::{HasScope, RequirePermission};
///
/// let read = HasScope::new("billing:read");
/// let either = HasScope::new("billing:read") | HasScope::new("billing:admin");
/// let guard = RequirePermission::new(HasScope::new("billing:write") & !HasScope::new("billing:frozen"));
/// ```
///
/// For a derived model: `HasScope::<OrgKey>::of("billing:read")`. A model
/// without scopes (Django's table) grants no scope: every such key is 403.
#[derive(Debug)]
pub struct HasScope<M = ApiKey> {
    scope: &'static str,
    _model: PhantomData<fn() -> M>,
}

impl<M> Clone for HasScope<M> {
    fn clone(&self) -> Self {
        HasScope {
            scope: self.scope,
            _model: PhantomData,
        }
    }
}

impl HasScope<ApiKey> {
    /// A key of the built-in model with `scope`.
    ///
    /// # Panics
    /// When `scope` is not a valid required scope (`resource:action`, no
    /// wildcard): a mistake in the application's code, caught where the
    /// routes are built.
    pub fn new(scope: &'static str) -> Self {
        Self::of(scope)
    }
}

impl<M: AbstractApiKey> HasScope<M> {
    /// A key of model `M` with `scope` (panics as [`HasScope::new`]).
    pub fn of(scope: &'static str) -> Self {
        if let Err(e) = validate_required_scope(scope) {
            panic!("HasScope: {e}");
        }
        HasScope {
            scope,
            _model: PhantomData,
        }
    }

    /// The scope it requires.
    pub fn scope(&self) -> &'static str {
        self.scope
    }
}

impl<M: AbstractApiKey> Permission for HasScope<M> {
    fn check(&self, req: &HttpRequest) -> PermissionFuture {
        let fut = lookup::<M>(req);
        let (req, scope) = (req.clone(), self.scope);
        Box::pin(async move {
            let model = fut.await?;
            let granted = model.scopes().grants(scope);
            let mut ext = req.extensions_mut();
            ext.insert(Verified(model));
            ext.insert(KeyVerified);
            if granted {
                Ok(())
            } else {
                Err(Denial::MissingScope(scope))
            }
        })
    }
}
