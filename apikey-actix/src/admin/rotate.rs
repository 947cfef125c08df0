//! Rotating a key: a confirmation step with the grace period
//! (`GET /keys/{prefix}/rotate`), then the new key shown once in the POST's
//! own response.

use std::collections::HashMap;
use std::time::Duration;

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use apikey_core::{now, AbstractApiKey, Error as CoreError, FormFields};
use askama::Template;

use super::csrf;
use super::errors::{csrf_refused, failure};
use super::key::KeyPath;
use super::render::{key_href, render, see_other, show_time, Chrome, KeyView, Session};
use super::state::{blocking, State};

/// The longest grace the form accepts: 30 days.
const MAX_GRACE_SECS: u64 = 30 * 86_400;

#[derive(Template)]
#[template(path = "admin/rotate.html")]
struct RotatePage {
    c: Chrome,
    k: KeyView,
    errors: Vec<String>,
}

#[derive(Template)]
#[template(path = "admin/rotated.html")]
struct RotatedPage<'a> {
    c: Chrome,
    key: &'a str,
    prefix: String,
    name: String,
    expires: String,
    detail_href: String,
    old_prefix: String,
    old_href: String,
    old_until: String,
}

/// The confirmation page; a revoked or expired key sends back to its page.
pub(crate) async fn rotate_form<M>(
    req: HttpRequest,
    state: web::Data<State<M>>,
    path: web::Path<KeyPath>,
) -> HttpResponse
where
    M: AbstractApiKey,
    M::Extra: FormFields,
{
    let Session { c, new_cookie } = Session::of(&req, &state);
    let key = match state.find(&path.prefix).await {
        Ok(k) => k,
        Err(e) => return failure(&c, &e),
    };
    let k = KeyView::new(&key, &c.base, now());
    if key.revoked() || key.has_expired() {
        return see_other(&k.href);
    }
    let page = RotatePage {
        c,
        k,
        errors: Vec::new(),
    };
    render(StatusCode::OK, &page, new_cookie)
}

/// Rotates the key and shows the new one, once.
pub(crate) async fn rotate<M>(
    req: HttpRequest,
    state: web::Data<State<M>>,
    path: web::Path<KeyPath>,
    form: web::Form<HashMap<String, String>>,
) -> HttpResponse
where
    M: AbstractApiKey,
    M::Extra: FormFields,
{
    let Session { c, new_cookie } = Session::of(&req, &state);
    if !csrf::CsrfSettings::of(&req).check(&req, form.get(csrf::FIELD).map(String::as_str)) {
        return csrf_refused(&c);
    }
    let old = match state.find(&path.prefix).await {
        Ok(k) => k,
        Err(e) => return failure(&c, &e),
    };
    let refused = |c: Chrome, status: StatusCode, error: String| {
        let page = RotatePage {
            k: KeyView::new(&old, &c.base, now()),
            errors: vec![error],
            c,
        };
        render(status, &page, new_cookie.clone())
    };
    let grace = match form.get("grace").map(|g| g.trim().parse::<u64>()) {
        Some(Ok(secs)) if secs <= MAX_GRACE_SECS => Duration::from_secs(secs),
        _ => {
            return refused(
                c,
                StatusCode::BAD_REQUEST,
                "grace: choose one of the offered periods".to_owned(),
            )
        }
    };
    let manager = state.manager.clone();
    let p = old.prefix().to_owned();
    let rotated = blocking(move || {
        let (new, key) = manager.rotate(&p, grace)?;
        let old = manager.find_by_prefix(&p)?;
        Ok((new, key, old))
    })
    .await;
    match rotated {
        Ok((new, key, old_now)) => {
            log::info!(
                "apikey admin: rotated key {} -> {}",
                old.prefix(),
                new.prefix()
            );
            let old_until = match old_now {
                Some(o) if !o.revoked() => o.expiry_date_naive().map(show_time).unwrap_or_default(),
                _ => String::new(),
            };
            let page = RotatedPage {
                key: key.expose_secret(),
                prefix: new.prefix().to_owned(),
                name: new.name().to_owned(),
                expires: new.expiry_date_naive().map(show_time).unwrap_or_default(),
                detail_href: key_href(&c.base, new.prefix()),
                old_prefix: old.prefix().to_owned(),
                old_href: key_href(&c.base, old.prefix()),
                old_until,
                c,
            };
            render(StatusCode::CREATED, &page, None)
        }
        Err(e @ CoreError::Validation { .. }) => refused(c, StatusCode::CONFLICT, e.to_string()),
        Err(e) => failure(&c, &e),
    }
}
