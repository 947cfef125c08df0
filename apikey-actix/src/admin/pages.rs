//! The admin's pages: handlers, their templates and form parsing.

use std::collections::HashMap;

use actix_web::cookie::Cookie;
use actix_web::error::{InternalError, QueryPayloadError, UrlencodedError};
use actix_web::http::header;
use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use apikey_core::{now, validate_name, AbstractApiKey, Error as CoreError, KeyFilter, NewKey};
use askama::Template;
use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};

use super::csrf;
use super::{html, FormFields, State};

const STYLESHEET: &str = include_str!("admin.css");

/// What every page needs: names, where the admin is, the CSRF token.
pub(crate) struct Chrome {
    site: String,
    plural: String,
    singular: String,
    /// The admin's path, without a trailing slash ("" when mounted at "/").
    base: String,
    csrf: String,
    /// False on refusals: no links or stylesheet the visitor may not fetch.
    styled: bool,
}

/// A page's chrome, and the CSRF cookie to set when the request had none.
struct Session {
    c: Chrome,
    new_cookie: Option<Cookie<'static>>,
}

/// The admin's path: the request path less its last `depth` segments.
fn base_path(req: &HttpRequest, depth: usize) -> String {
    let mut path = req.path().trim_end_matches('/');
    for _ in 0..depth {
        path = path.rsplit_once('/').map_or("", |(head, _)| head);
    }
    path.to_owned()
}

fn session<M: AbstractApiKey>(req: &HttpRequest, state: &State<M>, depth: usize) -> Session {
    let base = base_path(req, depth);
    let (token, new_cookie) = match csrf::from_cookie(req) {
        Some(token) => (token, None),
        None => match csrf::mint() {
            Some(token) => {
                let secure = req.connection_info().scheme() == "https";
                let cookie = csrf::cookie(&token, &base, secure);
                (token, Some(cookie))
            }
            None => (String::new(), None),
        },
    };
    Session {
        c: Chrome {
            site: state.site.clone(),
            plural: M::VERBOSE_NAME_PLURAL.to_owned(),
            singular: M::VERBOSE_NAME.to_owned(),
            base,
            csrf: token,
            styled: true,
        },
        new_cookie,
    }
}

fn render(
    status: StatusCode,
    page: &impl Template,
    cookie: Option<Cookie<'static>>,
) -> HttpResponse {
    match page.render() {
        Ok(body) => {
            let mut res = html(status, body);
            if let Some(cookie) = cookie {
                if let Err(e) = res.add_cookie(&cookie) {
                    log::error!("apikey admin: cannot set the CSRF cookie: {e}");
                }
            }
            res
        }
        Err(e) => {
            log::error!("apikey admin: template error: {e}");
            HttpResponse::InternalServerError()
                .content_type("text/plain; charset=utf-8")
                .body("Internal server error.")
        }
    }
}

#[derive(Template)]
#[template(path = "admin/error.html")]
struct ErrorPage<'a> {
    c: &'a Chrome,
    heading: &'a str,
    message: &'a str,
}

fn error_page(c: &Chrome, status: StatusCode, message: &str) -> HttpResponse {
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

/// The page of a request the permission refused (no links into the admin).
pub(crate) fn refusal(status: StatusCode, message: &str) -> HttpResponse {
    let c = Chrome {
        site: "Admin".to_owned(),
        plural: String::new(),
        singular: String::new(),
        base: String::new(),
        csrf: String::new(),
        styled: false,
    };
    error_page(&c, status, message)
}

fn plain_chrome(req: &HttpRequest) -> Chrome {
    let path = req.path();
    let rest = req.match_info().unprocessed();
    let base = path
        .strip_suffix(rest)
        .unwrap_or_default()
        .trim_end_matches('/');
    Chrome {
        site: "Admin".to_owned(),
        plural: "keys".to_owned(),
        singular: "key".to_owned(),
        base: base.to_owned(),
        csrf: String::new(),
        styled: true,
    }
}

/// A path the admin does not have.
pub(crate) async fn not_found(req: HttpRequest) -> HttpResponse {
    error_page(
        &plain_chrome(&req),
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
    InternalError::from_response(err, error_page(&plain_chrome(req), status, message)).into()
}

/// A query string the admin cannot read.
pub(crate) fn query_error(err: QueryPayloadError, req: &HttpRequest) -> actix_web::Error {
    let page = error_page(
        &plain_chrome(req),
        StatusCode::BAD_REQUEST,
        "The address's query string could not be read.",
    );
    InternalError::from_response(err, page).into()
}

/// The stylesheet.
pub(crate) async fn stylesheet() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/css; charset=utf-8")
        .body(STYLESHEET)
}

/// A failure of the key store or the database, as a page.
fn failure(c: &Chrome, err: &CoreError) -> HttpResponse {
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

/// Runs `f` on a blocking thread.
async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> apikey_core::Result<T> + Send + 'static,
) -> apikey_core::Result<T> {
    web::block(f)
        .await
        .unwrap_or_else(|e| Err(CoreError::Unavailable(e.to_string())))
}

// ---------------------------------------------------------------------------
// Values as shown and as typed.

fn show_time(t: NaiveDateTime) -> String {
    t.format("%Y-%m-%d %H:%M:%S").to_string()
}

fn input_time(t: Option<NaiveDateTime>) -> String {
    t.map(|t| t.format("%Y-%m-%dT%H:%M:%S").to_string())
        .unwrap_or_default()
}

/// `organization_id` -> "Organization id".
fn humanize(field: &str) -> String {
    let text = field.replace('_', " ");
    let mut chars = text.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => text,
    }
}

/// Percent-encodes a path segment.
fn segment(s: &str) -> String {
    use std::fmt::Write;
    s.bytes().fold(String::new(), |mut out, b| {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(char::from(b));
        } else {
            let _ = write!(out, "%{b:02X}");
        }
        out
    })
}

/// An expiry typed in a form (UTC): empty is none.
fn parse_expiry(text: &str) -> Result<Option<DateTime<Utc>>, String> {
    let t = text.trim();
    if t.is_empty() {
        return Ok(None);
    }
    let bare = t
        .strip_suffix("UTC")
        .or_else(|| t.strip_suffix('Z'))
        .unwrap_or(t)
        .trim();
    const FORMATS: [&str; 6] = [
        "%Y-%m-%dT%H:%M:%S%.f",
        "%Y-%m-%dT%H:%M:%S",
        "%Y-%m-%dT%H:%M",
        "%Y-%m-%d %H:%M:%S%.f",
        "%Y-%m-%d %H:%M:%S",
        "%Y-%m-%d %H:%M",
    ];
    let parsed = FORMATS
        .iter()
        .find_map(|f| NaiveDateTime::parse_from_str(bare, f).ok())
        .or_else(|| {
            NaiveDate::parse_from_str(bare, "%Y-%m-%d")
                .ok()
                .and_then(|d| d.and_hms_opt(0, 0, 0))
        });
    match parsed {
        Some(t) => Ok(Some(t.and_utc())),
        None => Err(format!(
            "“{t}” is not a date and time; write it as YYYY-MM-DD HH:MM (UTC), or leave it empty"
        )),
    }
}

fn parse_date(label: &str, text: &str, errors: &mut Vec<String>) -> Option<NaiveDate> {
    if text.is_empty() {
        return None;
    }
    match NaiveDate::parse_from_str(text, "%Y-%m-%d") {
        Ok(d) => Some(d),
        Err(_) => {
            errors.push(format!("{label}: “{text}” is not a date (YYYY-MM-DD)"));
            None
        }
    }
}

fn parse_choice(label: &str, text: &mut String, errors: &mut Vec<String>) -> Option<bool> {
    match text.as_str() {
        "" => None,
        "yes" => Some(true),
        "no" => Some(false),
        _ => {
            errors.push(format!("{label}: choose All, Yes or No"));
            text.clear();
            None
        }
    }
}

/// A key as the pages show it.
struct KeyView {
    prefix: String,
    name: String,
    created: String,
    expires: String,
    expired: bool,
    revoked: bool,
    extras: Vec<(String, String)>,
    href: String,
}

fn key_view<M: AbstractApiKey>(key: &M, base: &str, at: NaiveDateTime) -> KeyView {
    KeyView {
        prefix: key.prefix().to_owned(),
        name: key.name().to_owned(),
        created: show_time(key.created_naive()),
        expires: key.expiry_date_naive().map(show_time).unwrap_or_default(),
        expired: key.has_expired_at(at),
        revoked: key.revoked(),
        extras: key
            .extra_columns()
            .into_iter()
            .map(|(k, v)| (humanize(k), v))
            .collect(),
        href: format!("{base}/keys/{}", segment(key.prefix())),
    }
}

// ---------------------------------------------------------------------------
// The list.

#[derive(Template)]
#[template(path = "admin/list.html")]
struct ListPage {
    c: Chrome,
    errors: Vec<String>,
    q: String,
    revoked: String,
    expired: String,
    created_from: String,
    created_to: String,
    filtered: bool,
    total: i64,
    first: i64,
    last: i64,
    page: i64,
    pages: i64,
    extra_headers: Vec<String>,
    rows: Vec<KeyView>,
    prev: Option<String>,
    next: Option<String>,
    first_href: String,
    last_href: String,
}

/// `GET /`: the keys, searched, filtered, newest first, one page.
pub(crate) async fn list<M>(
    req: HttpRequest,
    state: web::Data<State<M>>,
    query: web::Query<HashMap<String, String>>,
) -> HttpResponse
where
    M: AbstractApiKey,
    M::Extra: FormFields,
{
    let Session { c, new_cookie } = session(&req, &state, 0);
    let query = query.into_inner();
    let get = |k: &str| {
        query
            .get(k)
            .map(|v| v.trim().to_owned())
            .unwrap_or_default()
    };
    let mut errors = Vec::new();
    let mut q = get("q");
    if q.chars().count() > 100 {
        errors.push("search: at most 100 characters".to_owned());
        q.clear();
    }
    let (mut revoked, mut expired) = (get("revoked"), get("expired"));
    let (mut created_from, mut created_to) = (get("created_from"), get("created_to"));
    let at = now();
    let mut filter = KeyFilter {
        search: Some(q.clone()).filter(|q| !q.is_empty()),
        revoked: parse_choice("revoked", &mut revoked, &mut errors),
        expired: parse_choice("expired", &mut expired, &mut errors),
        now: Some(at),
        ..KeyFilter::default()
    };
    match parse_date("created from", &created_from, &mut errors) {
        Some(d) => filter.created_after = d.and_hms_opt(0, 0, 0),
        None => created_from.clear(),
    }
    match parse_date("created to", &created_to, &mut errors) {
        Some(d) => filter.created_before = d.succ_opt().and_then(|d| d.and_hms_opt(0, 0, 0)),
        None => created_to.clear(),
    }
    let page_text = get("page");
    let mut page: i64 = 1;
    if !page_text.is_empty() {
        match page_text.parse::<i64>() {
            Ok(n) if n >= 1 => page = n,
            _ => errors.push(format!("page: “{page_text}” is not a page number")),
        }
    }

    let size = i64::from(state.page_size);
    let manager = state.manager.clone();
    let fetched = blocking(move || {
        let total = manager.count(&filter)?;
        let pages = ((total + size - 1) / size).max(1);
        let page = page.min(pages);
        filter.limit = Some(size);
        filter.offset = Some((page - 1) * size);
        let rows = manager.list(&filter)?;
        Ok((total, pages, page, rows))
    })
    .await;
    let (total, pages, page, keys) = match fetched {
        Ok(v) => v,
        Err(e) => return failure(&c, &e),
    };

    let own: Vec<&str> = M::Extra::FIELDS.iter().map(|f| f.name).collect();
    let shown: Vec<&'static str> = state
        .list_display
        .iter()
        .copied()
        .filter(|f| own.contains(f))
        .collect();
    let rows: Vec<KeyView> = keys
        .iter()
        .map(|k| {
            let mut view = key_view(k, &c.base, at);
            let columns = k.extra_columns();
            view.extras = shown
                .iter()
                .map(|f| {
                    let value = columns
                        .iter()
                        .find(|(name, _)| name == f)
                        .map(|(_, v)| v.clone())
                        .unwrap_or_default();
                    (humanize(f), value)
                })
                .collect();
            view
        })
        .collect();

    let params: Vec<(&str, &str)> = [
        ("q", q.as_str()),
        ("revoked", revoked.as_str()),
        ("expired", expired.as_str()),
        ("created_from", created_from.as_str()),
        ("created_to", created_to.as_str()),
    ]
    .into_iter()
    .filter(|(_, v)| !v.is_empty())
    .collect();
    let filtered = !params.is_empty();
    let base = c.base.clone();
    let href = |n: i64| {
        let n = n.to_string();
        let mut all = params.clone();
        all.push(("page", &n));
        let qs = serde_urlencoded::to_string(&all).unwrap_or_default();
        format!("{base}/?{qs}")
    };
    let offset = (page - 1) * size;
    let len = i64::try_from(rows.len()).unwrap_or(0);
    let prev = (page > 1).then(|| href(page - 1));
    let next = (page < pages).then(|| href(page + 1));
    let (first_href, last_href) = (href(1), href(pages));
    let page_view = ListPage {
        errors,
        q,
        revoked,
        expired,
        created_from,
        created_to,
        filtered,
        total,
        first: offset + 1,
        last: offset + len,
        page,
        pages,
        extra_headers: shown.iter().map(|f| humanize(f)).collect(),
        rows,
        prev,
        next,
        first_href,
        last_href,
        c,
    };
    render(StatusCode::OK, &page_view, new_cookie)
}

// ---------------------------------------------------------------------------
// Create.

struct FieldInput {
    label: String,
    input: String,
    value: String,
    required: bool,
}

#[derive(Template)]
#[template(path = "admin/new.html")]
struct NewPage {
    c: Chrome,
    errors: Vec<String>,
    name: String,
    expiry: String,
    fields: Vec<FieldInput>,
}

fn field_inputs<M: AbstractApiKey>(form: &HashMap<String, String>) -> Vec<FieldInput>
where
    M::Extra: FormFields,
{
    M::Extra::FIELDS
        .iter()
        .map(|f| {
            let input = format!("field_{}", f.name);
            FieldInput {
                label: humanize(f.name),
                value: form.get(&input).cloned().unwrap_or_default(),
                input,
                required: f.required,
            }
        })
        .collect()
}

/// `GET /new`: the create form.
pub(crate) async fn new_form<M>(req: HttpRequest, state: web::Data<State<M>>) -> HttpResponse
where
    M: AbstractApiKey,
    M::Extra: FormFields,
{
    let Session { c, new_cookie } = session(&req, &state, 1);
    let page = NewPage {
        c,
        errors: Vec::new(),
        name: String::new(),
        expiry: String::new(),
        fields: field_inputs::<M>(&HashMap::new()),
    };
    render(StatusCode::OK, &page, new_cookie)
}

#[derive(Template)]
#[template(path = "admin/created.html")]
struct CreatedPage<'a> {
    c: Chrome,
    key: &'a str,
    prefix: String,
    name: String,
    expires: String,
    detail_href: String,
}

fn csrf_refused(c: &Chrome) -> HttpResponse {
    error_page(
        c,
        StatusCode::FORBIDDEN,
        "The form's security token is missing or does not match (CSRF check). \
         Nothing was changed: reload the page and submit the form again.",
    )
}

/// `POST /new`: creates the key and shows it, once, in this response.
pub(crate) async fn create<M>(
    req: HttpRequest,
    state: web::Data<State<M>>,
    form: web::Form<HashMap<String, String>>,
) -> HttpResponse
where
    M: AbstractApiKey,
    M::Extra: FormFields,
{
    let Session { c, new_cookie } = session(&req, &state, 1);
    let form = form.into_inner();
    if !csrf::check(&req, form.get(csrf::FIELD).map(String::as_str)) {
        return csrf_refused(&c);
    }
    let name = form
        .get("name")
        .map(|n| n.trim().to_owned())
        .unwrap_or_default();
    let expiry_text = form.get("expiry").cloned().unwrap_or_default();
    let mut errors = Vec::new();
    if let Err(e) = validate_name(&name) {
        errors.push(e.to_string());
    }
    let expiry = parse_expiry(&expiry_text).unwrap_or_else(|e| {
        errors.push(format!("invalid expiry: {e}"));
        None
    });
    let extra = match M::Extra::from_form(&|f| form.get(&format!("field_{f}")).cloned()) {
        Ok(extra) => Some(extra),
        Err(field_errors) => {
            for (f, e) in field_errors {
                errors.push(format!("invalid {}: {e}", humanize(f).to_lowercase()));
            }
            None
        }
    };
    let refused = |c: Chrome, errors: Vec<String>| {
        let page = NewPage {
            c,
            errors,
            name: name.clone(),
            expiry: expiry_text.trim().to_owned(),
            fields: field_inputs::<M>(&form),
        };
        render(StatusCode::BAD_REQUEST, &page, new_cookie.clone())
    };
    let Some(extra) = extra.filter(|_| errors.is_empty()) else {
        return refused(c, errors);
    };

    let manager = state.manager.clone();
    let new = NewKey {
        name: name.clone(),
        expiry_date: expiry,
        extra,
    };
    match blocking(move || manager.create_key(new)).await {
        Ok((row, key)) => {
            let detail_href = format!("{}/keys/{}", c.base, segment(row.prefix()));
            let page = CreatedPage {
                key: key.expose_secret(),
                prefix: row.prefix().to_owned(),
                name: row.name().to_owned(),
                expires: row.expiry_date_naive().map(show_time).unwrap_or_default(),
                detail_href,
                c,
            };
            render(StatusCode::CREATED, &page, None)
        }
        Err(e @ CoreError::Validation { .. }) => refused(c, vec![e.to_string()]),
        Err(CoreError::Database(e)) => {
            log::warn!("apikey admin: the database refused a new key: {e}");
            refused(
                c,
                vec![format!(
                    "the database refused the key; check the fields ({e})"
                )],
            )
        }
        Err(e) => failure(&c, &e),
    }
}

// ---------------------------------------------------------------------------
// Detail, edit, revoke.

#[derive(Template)]
#[template(path = "admin/detail.html")]
struct DetailPage {
    c: Chrome,
    k: KeyView,
    notice: Option<&'static str>,
    errors: Vec<String>,
    name: String,
    expiry: String,
}

async fn find<M: AbstractApiKey>(state: &State<M>, prefix: &str) -> apikey_core::Result<M> {
    let manager = state.manager.clone();
    let p = prefix.to_owned();
    blocking(move || manager.find_by_prefix(&p))
        .await?
        .ok_or_else(|| CoreError::NotFound(prefix.to_owned()))
}

/// `GET /keys/{prefix}`: the key, and its edit form unless revoked.
pub(crate) async fn detail<M>(
    req: HttpRequest,
    state: web::Data<State<M>>,
    prefix: web::Path<String>,
    query: web::Query<HashMap<String, String>>,
) -> HttpResponse
where
    M: AbstractApiKey,
    M::Extra: FormFields,
{
    let Session { c, new_cookie } = session(&req, &state, 2);
    let key = match find(&state, &prefix).await {
        Ok(k) => k,
        Err(e) => return failure(&c, &e),
    };
    let notice = match query.get("done").map(String::as_str) {
        Some("saved") => Some("Saved."),
        Some("revoked") => Some("The key was revoked. It no longer works."),
        _ => None,
    };
    let page = DetailPage {
        k: key_view(&key, &c.base, now()),
        name: key.name().to_owned(),
        expiry: input_time(key.expiry_date_naive()),
        notice,
        errors: Vec::new(),
        c,
    };
    render(StatusCode::OK, &page, new_cookie)
}

fn see_other(location: &str) -> HttpResponse {
    HttpResponse::SeeOther()
        .insert_header((header::LOCATION, location))
        .finish()
}

/// `POST /keys/{prefix}`: saves name and expiry; refused for a revoked key.
pub(crate) async fn edit<M>(
    req: HttpRequest,
    state: web::Data<State<M>>,
    prefix: web::Path<String>,
    form: web::Form<HashMap<String, String>>,
) -> HttpResponse
where
    M: AbstractApiKey,
    M::Extra: FormFields,
{
    let Session { c, new_cookie } = session(&req, &state, 2);
    let form = form.into_inner();
    if !csrf::check(&req, form.get(csrf::FIELD).map(String::as_str)) {
        return csrf_refused(&c);
    }
    let key = match find(&state, &prefix).await {
        Ok(k) => k,
        Err(e) => return failure(&c, &e),
    };
    let name = form
        .get("name")
        .map(|n| n.trim().to_owned())
        .unwrap_or_default();
    let expiry_text = form.get("expiry").cloned().unwrap_or_default();
    let refused = |c: Chrome, status: StatusCode, errors: Vec<String>, key: &M| {
        let page = DetailPage {
            k: key_view(key, &c.base, now()),
            name: name.clone(),
            expiry: expiry_text.trim().to_owned(),
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
    if let Err(e) = validate_name(&name) {
        errors.push(e.to_string());
    }
    let expiry = parse_expiry(&expiry_text).unwrap_or_else(|e| {
        errors.push(format!("invalid expiry: {e}"));
        None
    });
    if !errors.is_empty() {
        return refused(c, StatusCode::BAD_REQUEST, errors, &key);
    }
    let manager = state.manager.clone();
    let (p, n) = (prefix.clone(), name.clone());
    match blocking(move || manager.update(&p, &n, expiry)).await {
        Ok(saved) => see_other(&format!(
            "{}/keys/{}?done=saved",
            c.base,
            segment(saved.prefix())
        )),
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
    prefix: web::Path<String>,
) -> HttpResponse
where
    M: AbstractApiKey,
    M::Extra: FormFields,
{
    let Session { c, new_cookie } = session(&req, &state, 3);
    let key = match find(&state, &prefix).await {
        Ok(k) => k,
        Err(e) => return failure(&c, &e),
    };
    let k = key_view(&key, &c.base, now());
    if key.revoked() {
        return see_other(&k.href);
    }
    render(StatusCode::OK, &RevokePage { c, k }, new_cookie)
}

/// `POST /keys/{prefix}/revoke`: revokes, for good.
pub(crate) async fn revoke<M>(
    req: HttpRequest,
    state: web::Data<State<M>>,
    prefix: web::Path<String>,
    form: web::Form<HashMap<String, String>>,
) -> HttpResponse
where
    M: AbstractApiKey,
    M::Extra: FormFields,
{
    let Session { c, .. } = session(&req, &state, 3);
    if !csrf::check(&req, form.get(csrf::FIELD).map(String::as_str)) {
        return csrf_refused(&c);
    }
    let manager = state.manager.clone();
    let p = prefix.into_inner();
    match blocking(move || manager.revoke(&p)).await {
        Ok(key) => {
            log::info!("apikey admin: revoked key {}", key.prefix());
            see_other(&format!(
                "{}/keys/{}?done=revoked",
                c.base,
                segment(key.prefix())
            ))
        }
        Err(e) => failure(&c, &e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expiry_formats() {
        assert_eq!(parse_expiry("  "), Ok(None));
        let want = NaiveDate::from_ymd_opt(2030, 1, 31)
            .and_then(|d| d.and_hms_opt(18, 0, 0))
            .map(|t| t.and_utc());
        for text in [
            "2030-01-31T18:00",
            "2030-01-31T18:00:00",
            "2030-01-31 18:00",
            "2030-01-31 18:00:00 UTC",
            "2030-01-31T18:00:00Z",
        ] {
            assert_eq!(parse_expiry(text), Ok(want), "{text}");
        }
        assert!(parse_expiry("2030-02-30").is_err());
        assert!(parse_expiry("tomorrow").is_err());
    }

    #[test]
    fn helpers() {
        assert_eq!(humanize("organization_id"), "Organization id");
        assert_eq!(segment("ab.C_d/é"), "ab.C_d%2F%C3%A9");
    }
}
