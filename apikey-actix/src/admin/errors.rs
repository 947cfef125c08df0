//! The error pages: refusals of the permission, unknown paths, forms and
//! queries the admin cannot read, CSRF failures, and failures of the store.

use actix_web::error::{InternalError, QueryPayloadError, UrlencodedError};
use actix_web::http::header::{self, HeaderValue};
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, ResponseError};
use apikey_core::Error as CoreError;
use askama::Template;

use super::render::{render, Chrome};
use crate::AuthError;

#[derive(Template)]
#[template(path = "admin/error.html")]
struct ErrorPage<'a> {
    c: &'a Chrome,
    heading: &'a str,
    message: &'a str,
}

/// A page with `status` and `message`.
pub(crate) fn error_page(c: &Chrome, status: StatusCode, message: &str) -> HttpResponse {
    let heading = status.canonical_reason().unwrap_or("Error");
    render(
        status,
        &ErrorPage {
            c,
            heading,
            message,
        },
        None,
    )
}

/// The page of a request the permission refused, with no links into the
/// admin: the error handler of the admin's [`ApiKeyConfig`](crate::ApiKeyConfig),
/// which [`RequirePermission`](crate::RequirePermission) answers with.
pub(crate) fn refusal(err: &AuthError) -> HttpResponse {
    let status = err.status_code();
    let mut res = error_page(&Chrome::bare(), status, err.denial().detail());
    if status == StatusCode::UNAUTHORIZED {
        if let Ok(v) = HeaderValue::from_str(err.challenge()) {
            res.headers_mut().insert(header::WWW_AUTHENTICATE, v);
        }
    }
    if let Some(seconds) = err.denial().retry_after() {
        res.headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from(seconds));
    }
    res
}

/// The default service: a path the admin does not have.
pub(crate) async fn not_found(req: HttpRequest) -> HttpResponse {
    error_page(
        &Chrome::plain(&req),
        StatusCode::NOT_FOUND,
        "There is no such page in the admin.",
    )
}

/// A form body the admin cannot read: too large, not a form, malformed.
pub(crate) fn form_error(err: UrlencodedError, req: &HttpRequest) -> actix_web::Error {
    let (status, message) = match &err {
        UrlencodedError::Overflow { .. } => (
            StatusCode::PAYLOAD_TOO_LARGE,
            "The form is too large. Nothing was changed.",
        ),
        UrlencodedError::ContentType => (
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "Expected a submitted HTML form. Nothing was changed.",
        ),
        _ => (
            StatusCode::BAD_REQUEST,
            "The form could not be read. Nothing was changed.",
        ),
    };
    InternalError::from_response(err, error_page(&Chrome::plain(req), status, message)).into()
}

/// A query string the admin cannot read.
pub(crate) fn query_error(err: QueryPayloadError, req: &HttpRequest) -> actix_web::Error {
    let page = error_page(
        &Chrome::plain(req),
        StatusCode::BAD_REQUEST,
        "The address's query string could not be read.",
    );
    InternalError::from_response(err, page).into()
}

/// A POST whose CSRF token is missing or wrong.
pub(crate) fn csrf_refused(c: &Chrome) -> HttpResponse {
    error_page(
        c,
        StatusCode::FORBIDDEN,
        "The form's security token is missing or does not match (CSRF check). \
         Nothing was changed: reload the page and submit the form again.",
    )
}

/// A failure of the key store or the database, as a page.
pub(crate) fn failure(c: &Chrome, err: &CoreError) -> HttpResponse {
    match err {
        CoreError::NotFound(_) => error_page(
            c,
            StatusCode::NOT_FOUND,
            "There is no key with this prefix.",
        ),
        e if e.is_unavailable() => error_page(
            c,
            StatusCode::SERVICE_UNAVAILABLE,
            "The key store is unavailable. Try again later.",
        ),
        e => {
            log::error!("apikey admin: {e}");
            error_page(
                c,
                StatusCode::INTERNAL_SERVER_ERROR,
                "Internal server error.",
            )
        }
    }
}
