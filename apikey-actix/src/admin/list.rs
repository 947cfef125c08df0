//! The list page: the keys, searched, filtered, newest first, one page at a time.

use std::collections::HashMap;

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use apikey_core::{now, AbstractApiKey, FormFields, KeyFilter};
use askama::Template;

use super::errors::failure;
use super::forms::{parse_choice, parse_date};
use super::render::{humanize, render, Chrome, KeyView, Session};
use super::state::{blocking, State};

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
    tracks_last_use: bool,
    unused: String,
    unused_choices: Vec<(String, &'static str)>,
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

/// The "Used" filter's choices: (days, label).
const UNUSED_CHOICES: [(i64, &str); 4] = [
    (7, "Not for 7 days"),
    (30, "Not for 30 days"),
    (90, "Not for 90 days"),
    (365, "Not for a year"),
];

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
    let Session { c, new_cookie } = Session::of(&req, &state);
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
    // "Not used for N days": last used before, or never used and created
    // before, now - N days (models that record last use).
    let mut unused = get("unused");
    if !unused.is_empty() {
        match unused.parse::<i64>() {
            Ok(days) if M::TRACKS_LAST_USE && (1..=36_500).contains(&days) => {
                filter.unused_since = Some(at - chrono::Duration::days(days));
            }
            _ => {
                errors.push("used: choose one of the listed periods".to_owned());
                unused.clear();
            }
        }
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
            let mut view = KeyView::new(k, &c.base, at);
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
        ("unused", unused.as_str()),
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
        tracks_last_use: M::TRACKS_LAST_USE,
        unused,
        unused_choices: UNUSED_CHOICES
            .iter()
            .map(|(days, text)| (days.to_string(), *text))
            .collect(),
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
