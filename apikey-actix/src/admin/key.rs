//! One key's pages: detail and edit (`/keys/{prefix}`), and revoke with its
//! confirmation step (`/keys/{prefix}/revoke`). Rotation: [`super::rotate`].

use std::collections::HashMap;

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use apikey_core::limits::Refill;
use apikey_core::{now, AbstractApiKey, Error as CoreError, FormFields, RateLimit};
use askama::Template;

use super::csrf;
use super::errors::{csrf_refused, failure};
use super::forms::{check_name_and_expiry, input_time, name_and_expiry};
use super::render::{key_href, render, see_other, Chrome, KeyView, Session};
use super::state::{blocking, State};

/// The path of a key's pages. A struct, not a bare `String`: the admin may
/// sit in a scope with path parameters of its own (`/orgs/{org}/admin`).
#[derive(serde::Deserialize)]
pub(crate) struct KeyPath {
    pub(crate) prefix: String,
}

#[derive(Template)]
#[template(path = "admin/detail.html")]
struct DetailPage {
    c: Chrome,
    k: KeyView,
    notice: Option<&'static str>,
    errors: Vec<String>,
    name: String,
    expiry: String,
    rotated_from: Option<String>,
    scopes: String,
    has_scopes: bool,
    tracks_last_use: bool,
    has_rate_limit: bool,
    rate_limit: String,
    has_quota: bool,
    remaining_uses: String,
    has_refill: bool,
    uses_refill: String,
}

/// The limit fields of the edit form as shown: the key's own values.
fn limit_texts<M: AbstractApiKey>(key: &M) -> (String, String) {
    (
        key.rate_limit().map(|l| l.to_string()).unwrap_or_default(),
        key.remaining_uses()
            .map(|n| n.to_string())
            .unwrap_or_default(),
    )
}

/// The refill field of the edit form as shown.
fn refill_text<M: AbstractApiKey>(key: &M) -> String {
    key.uses_refill().map(|r| r.to_string()).unwrap_or_default()
}

/// The refill field of a submitted edit form: `Some(new value)` when it
/// changed, or an error.
fn parse_refill<M: AbstractApiKey>(
    key: &M,
    form: &HashMap<String, String>,
    errors: &mut Vec<String>,
) -> Option<Option<Refill>> {
    if !M::HAS_REFILL {
        return None;
    }
    let wanted = match form.get("uses_refill").map(|v| v.trim()).unwrap_or("") {
        "" => Some(None),
        t => match Refill::parse(t) {
            Ok(r) => Some(Some(r)),
            Err(e) => {
                errors.push(e.to_string());
                None
            }
        },
    };
    wanted.filter(|w| *w != key.uses_refill())
}

/// The limit fields of a submitted edit form: `Some(new value)` for each
/// that changed (a field the model lacks never changes), or the errors.
#[allow(clippy::type_complexity)]
fn parse_limits<M: AbstractApiKey>(
    key: &M,
    form: &HashMap<String, String>,
    errors: &mut Vec<String>,
) -> (Option<Option<RateLimit>>, Option<Option<i64>>) {
    let text = |name: &str| form.get(name).map(|v| v.trim()).unwrap_or("");
    let mut rate = None;
    if M::HAS_RATE_LIMIT {
        let wanted = match text("rate_limit") {
            "" => Some(None),
            t => match RateLimit::parse(t) {
                Ok(l) => Some(Some(l)),
                Err(e) => {
                    errors.push(e.to_string());
                    None
                }
            },
        };
        rate = wanted.filter(|w| *w != key.rate_limit());
    }
    let mut uses = None;
    if M::HAS_QUOTA {
        let wanted = match text("remaining_uses") {
            "" => Some(None),
            t => match apikey_core::limits::parse_uses(t) {
                Ok(n) => Some(Some(n)),
                Err(e) => {
                    errors.push(e.to_string());
                    None
                }
            },
        };
        uses = wanted.filter(|w| *w != key.remaining_uses());
    }
    (rate, uses)
}

/// `GET /keys/{prefix}`: the key, and its edit form unless revoked.
pub(crate) async fn detail<M>(
    req: HttpRequest,
    state: web::Data<State<M>>,
    path: web::Path<KeyPath>,
    query: web::Query<HashMap<String, String>>,
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
    let notice = match query.get("done").map(String::as_str) {
        Some("saved") => Some("Saved."),
        Some("revoked") => Some("The key was revoked. It no longer works."),
        _ => None,
    };
    let page = DetailPage {
        k: KeyView::new(&key, &c.base, now()),
        name: key.name().to_owned(),
        expiry: input_time(key.expiry_date_naive()),
        rotated_from: key.rotated_from().map(str::to_owned),
        scopes: key.scopes().to_column(),
        has_scopes: M::HAS_SCOPES,
        tracks_last_use: M::TRACKS_LAST_USE,
        has_rate_limit: M::HAS_RATE_LIMIT,
        rate_limit: limit_texts(&key).0,
        has_quota: M::HAS_QUOTA,
        remaining_uses: limit_texts(&key).1,
        has_refill: M::HAS_REFILL,
        uses_refill: refill_text(&key),
        notice,
        errors: Vec::new(),
        c,
    };
    render(StatusCode::OK, &page, new_cookie)
}

/// `POST /keys/{prefix}`: saves name and expiry; refused for a revoked key.
pub(crate) async fn edit<M>(
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
    let form = form.into_inner();
    if !csrf::CsrfSettings::of(&req).check(&req, form.get(csrf::FIELD).map(String::as_str)) {
        return csrf_refused(&c);
    }
    let key = match state.find(&path.prefix).await {
        Ok(k) => k,
        Err(e) => return failure(&c, &e),
    };
    let (name, expiry_text) = name_and_expiry(&form);
    let refused = |c: Chrome, status: StatusCode, errors: Vec<String>, key: &M| {
        let page = DetailPage {
            k: KeyView::new(key, &c.base, now()),
            name: name.clone(),
            expiry: expiry_text.trim().to_owned(),
            rotated_from: key.rotated_from().map(str::to_owned),
            scopes: key.scopes().to_column(),
            has_scopes: M::HAS_SCOPES,
            tracks_last_use: M::TRACKS_LAST_USE,
            has_rate_limit: M::HAS_RATE_LIMIT,
            rate_limit: form
                .get("rate_limit")
                .map(|v| v.trim().to_owned())
                .unwrap_or_else(|| limit_texts(key).0),
            has_quota: M::HAS_QUOTA,
            remaining_uses: form
                .get("remaining_uses")
                .map(|v| v.trim().to_owned())
                .unwrap_or_else(|| limit_texts(key).1),
            has_refill: M::HAS_REFILL,
            uses_refill: form
                .get("uses_refill")
                .map(|v| v.trim().to_owned())
                .unwrap_or_else(|| refill_text(key)),
            notice: None,
            errors,
            c,
        };
        render(status, &page, new_cookie.clone())
    };
    if key.revoked() {
        return refused(
            c,
            StatusCode::CONFLICT,
            vec!["this key is revoked: it is read-only".to_owned()],
            &key,
        );
    }
    let mut errors = Vec::new();
    let expiry = check_name_and_expiry(&name, &expiry_text, &mut errors);
    let (rate, uses) = parse_limits(&key, &form, &mut errors);
    let refill = parse_refill(&key, &form, &mut errors);
    if !errors.is_empty() {
        return refused(c, StatusCode::BAD_REQUEST, errors, &key);
    }
    let manager = state.manager.clone();
    let (p, n) = (path.into_inner().prefix, name.clone());
    let saved = blocking(move || {
        let mut saved = manager.update(&p, &n, expiry)?;
        if let Some(rate) = rate {
            saved = manager.set_rate_limit(&p, rate)?;
        }
        if let Some(uses) = uses {
            saved = manager.set_remaining_uses(&p, uses)?;
        }
        if let Some(refill) = refill {
            saved = manager.set_uses_refill(&p, refill)?;
        }
        Ok(saved)
    });
    match saved.await {
        Ok(saved) => see_other(&format!("{}?done=saved", key_href(&c.base, saved.prefix()))),
        Err(e @ CoreError::Validation { .. }) => {
            refused(c, StatusCode::CONFLICT, vec![e.to_string()], &key)
        }
        Err(e) => failure(&c, &e),
    }
}

#[derive(Template)]
#[template(path = "admin/revoke.html")]
struct RevokePage {
    c: Chrome,
    k: KeyView,
}

/// `GET /keys/{prefix}/revoke`: asks for confirmation.
pub(crate) async fn revoke_form<M>(
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
    if key.revoked() {
        return see_other(&k.href);
    }
    render(StatusCode::OK, &RevokePage { c, k }, new_cookie)
}

/// `POST /keys/{prefix}/revoke`: revokes, for good.
pub(crate) async fn revoke<M>(
    req: HttpRequest,
    state: web::Data<State<M>>,
    path: web::Path<KeyPath>,
    form: web::Form<HashMap<String, String>>,
) -> HttpResponse
where
    M: AbstractApiKey,
    M::Extra: FormFields,
{
    let Session { c, .. } = Session::of(&req, &state);
    if !csrf::CsrfSettings::of(&req).check(&req, form.get(csrf::FIELD).map(String::as_str)) {
        return csrf_refused(&c);
    }
    let manager = state.manager.clone();
    let p = path.into_inner().prefix;
    match blocking(move || manager.revoke(&p)).await {
        Ok(key) => {
            log::info!("apikey admin: revoked key {}", key.prefix());
            see_other(&format!("{}?done=revoked", key_href(&c.base, key.prefix())))
        }
        Err(e) => failure(&c, &e),
    }
}
