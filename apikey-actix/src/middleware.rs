//! [`RequirePermission`]: a permission over a whole scope or app, the
//! counterpart of DRF's `DEFAULT_PERMISSION_CLASSES`.

use std::future::{ready, Future, Ready};
use std::pin::Pin;
use std::rc::Rc;
use std::task::{ready, Context, Poll};

use actix_web::body::EitherBody;
use actix_web::dev::{Service, ServiceRequest, ServiceResponse, Transform};
use actix_web::Error;

use crate::config::ApiKeyConfig;
use crate::error::AuthError;
use crate::permission::{settle, Permission, PermissionFuture};

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
    type Future = RequirePermissionFuture<S, P>;

    actix_web::dev::forward_ready!(service);

    fn call(&self, req: ServiceRequest) -> Self::Future {
        RequirePermissionFuture {
            state: State::Checking {
                check: self.permission.check(req.request()),
                req: Some(req),
                service: Rc::clone(&self.service),
                permission: Rc::clone(&self.permission),
            },
        }
    }
}

pin_project_lite::pin_project! {
    /// The future of [`RequirePermissionMiddleware`]: the permission's
    /// check, then the inner service's own future (not boxed again).
    pub struct RequirePermissionFuture<S: Service<ServiceRequest>, P> {
        #[pin]
        state: State<S, S::Future, P>,
    }
}

pin_project_lite::pin_project! {
    #[project = StateProj]
    enum State<S, F, P> {
        Checking {
            check: PermissionFuture,
            req: Option<ServiceRequest>,
            service: Rc<S>,
            permission: Rc<P>,
        },
        Calling { #[pin] fut: F },
        Refused,
    }
}

impl<S: Service<ServiceRequest>, P> std::fmt::Debug for RequirePermissionFuture<S, P> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("RequirePermissionFuture")
    }
}

impl<S, B, P> Future for RequirePermissionFuture<S, P>
where
    S: Service<ServiceRequest, Response = ServiceResponse<B>, Error = Error>,
    P: Permission,
{
    type Output = Result<ServiceResponse<EitherBody<B>>, Error>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut state = self.project().state;
        loop {
            match state.as_mut().project() {
                StateProj::Checking {
                    check,
                    req,
                    service,
                    permission,
                } => {
                    let outcome = ready!(check.as_mut().poll(cx));
                    // Taken once: the state changes right after.
                    let Some(req) = req.take() else {
                        return Poll::Pending;
                    };
                    match outcome {
                        Ok(()) => {
                            let fut = service.call(req);
                            state.set(State::Calling { fut });
                        }
                        Err(denial) => {
                            let denial = settle(req.request(), denial);
                            let err = AuthError::new(denial, ApiKeyConfig::of(req.request()))
                                .with_challenge(permission.challenge());
                            let res = actix_web::ResponseError::error_response(&err);
                            state.set(State::Refused);
                            return Poll::Ready(Ok(req.into_response(res).map_into_right_body()));
                        }
                    }
                }
                StateProj::Calling { fut } => {
                    return fut
                        .poll(cx)
                        .map(|res| res.map(ServiceResponse::map_into_left_body));
                }
                // Polled again after it answered.
                StateProj::Refused => return Poll::Pending,
            }
        }
    }
}
