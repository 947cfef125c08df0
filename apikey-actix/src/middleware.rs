//! [`RequirePermission`]: a permission over a whole scope or app, the
//! counterpart of DRF's `DEFAULT_PERMISSION_CLASSES`.

use std::future::{ready, Future, Ready};
use std::pin::Pin;
use std::rc::Rc;

use actix_web::body::EitherBody;
use actix_web::dev::{Service, ServiceRequest, ServiceResponse, Transform};
use actix_web::Error;

use crate::config::ApiKeyConfig;
use crate::error::AuthError;
use crate::permission::{settle, Permission};

/// Middleware refusing every request that `P` refuses.
///
/// ```no_run
/// use actix_web::{web, App};
/// use apikey_actix::{HasApiKey, RequirePermission};
/// use apikey_core::ApiKey;
///
/// let app = App::new().service(
///     web::scope("/api")
///         .wrap(RequirePermission::new(HasApiKey::<ApiKey>::permission()))
///         .route("/items", web::get().to(|| async { "items" })),
/// );
/// ```
#[derive(Debug)]
pub struct RequirePermission<P> {
    permission: Rc<P>,
}

impl<P: Permission> RequirePermission<P> {
    /// Guards with `permission`.
    pub fn new(permission: P) -> Self {
        RequirePermission {
            permission: Rc::new(permission),
        }
    }
}

impl<P> Clone for RequirePermission<P> {
    fn clone(&self) -> Self {
        RequirePermission {
            permission: Rc::clone(&self.permission),
        }
    }
}

impl<S, B, P> Transform<S, ServiceRequest> for RequirePermission<P>
where
    S: Service<ServiceRequest, Response = ServiceResponse<B>, Error = Error> + 'static,
    B: 'static,
    P: Permission,
{
    type Response = ServiceResponse<EitherBody<B>>;
    type Error = Error;
    type Transform = RequirePermissionMiddleware<S, P>;
    type InitError = ();
    type Future = Ready<Result<Self::Transform, ()>>;

    fn new_transform(&self, service: S) -> Self::Future {
        ready(Ok(RequirePermissionMiddleware {
            service: Rc::new(service),
            permission: Rc::clone(&self.permission),
        }))
    }
}

/// The service built by [`RequirePermission`].
#[derive(Debug)]
pub struct RequirePermissionMiddleware<S, P> {
    service: Rc<S>,
    permission: Rc<P>,
}

impl<S, B, P> Service<ServiceRequest> for RequirePermissionMiddleware<S, P>
where
    S: Service<ServiceRequest, Response = ServiceResponse<B>, Error = Error> + 'static,
    B: 'static,
    P: Permission,
{
    type Response = ServiceResponse<EitherBody<B>>;
    type Error = Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Error>>>>;

    actix_web::dev::forward_ready!(service);

    fn call(&self, req: ServiceRequest) -> Self::Future {
        let check = self.permission.check(req.request());
        let challenge = self.permission.challenge();
        let service = Rc::clone(&self.service);
        Box::pin(async move {
            match check.await {
                Ok(()) => service
                    .call(req)
                    .await
                    .map(ServiceResponse::map_into_left_body),
                Err(denial) => {
                    let denial = settle(req.request(), denial);
                    let err = AuthError::new(denial, ApiKeyConfig::of(req.request()))
                        .with_challenge(challenge);
                    let res = actix_web::ResponseError::error_response(&err);
                    Ok(req.into_response(res).map_into_right_body())
                }
            }
        })
    }
}
