//! What every page is rendered with: the chrome around it, the template
//! rendering, keys and values as shown, and the stylesheet.

use actix_web::cookie::Cookie;
use actix_web::http::{header, StatusCode};
use actix_web::{HttpRequest, HttpResponse};
use apikey_core::AbstractApiKey;
use askama::Template;
use chrono::NaiveDateTime;

use super::csrf;
use super::state::{Mount, State};

const STYLESHEET: &str = include_str!("admin.css");

/// What every page needs: names, where the admin is, the CSRF token.
pub(crate) struct Chrome {
    pub(crate) site: String,
    pub(crate) plural: String,
    pub(crate) singular: String,
    /// The admin's path, without a trailing slash ("" when mounted at "/").
    pub(crate) base: String,
    pub(crate) csrf: String,
    /// False on refusals: no links or stylesheet the visitor may not fetch.
    pub(crate) styled: bool,
}

impl Chrome {
    /// The chrome of a page outside any handler (404, unreadable forms):
    /// no model names, no CSRF token.
    pub(crate) fn plain(req: &HttpRequest) -> Chrome {
        Chrome {
            site: "Admin".to_owned(),
            plural: "keys".to_owned(),
            singular: "key".to_owned(),
            base: Mount::of(req),
            csrf: String::new(),
            styled: true,
        }
    }

    /// The chrome of a refusal: no links into the admin.
    pub(crate) fn bare() -> Chrome {
        Chrome {
            site: "Admin".to_owned(),
            plural: String::new(),
            singular: String::new(),
            base: String::new(),
            csrf: String::new(),
            styled: false,
        }
    }
}

/// A page's chrome, and the CSRF cookie to set when the request had none.
pub(crate) struct Session {
    pub(crate) c: Chrome,
    pub(crate) new_cookie: Option<Cookie<'static>>,
}

impl Session {
    /// The session of a handler's page.
    pub(crate) fn of<M: AbstractApiKey>(req: &HttpRequest, state: &State<M>) -> Session {
        let base = Mount::of(req);
        let settings = csrf::CsrfSettings::of(req);
        let (token, new_cookie) = match settings.cookie_token(req) {
            Some(token) => (token, None),
            None => match settings.mint() {
                Some(token) => {
                    let cookie = csrf::cookie(&token, &base, settings.secure_for(req));
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
}

/// A response with `status` and an HTML body.
fn html(status: StatusCode, body: String) -> HttpResponse {
    HttpResponse::build(status)
        .content_type("text/html; charset=utf-8")
        .body(body)
}

/// Renders `page` with `status`, setting `cookie` if any.
pub(crate) fn render(
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

/// A redirect after a POST.
pub(crate) fn see_other(location: &str) -> HttpResponse {
    HttpResponse::SeeOther()
        .insert_header((header::LOCATION, location))
        .finish()
}

/// `GET /static/admin.css`: the stylesheet.
pub(crate) async fn stylesheet() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/css; charset=utf-8")
        .body(STYLESHEET)
}

// ---------------------------------------------------------------------------
// Keys and values as shown.

/// A time as shown (UTC, to the second).
pub(crate) fn show_time(t: NaiveDateTime) -> String {
    t.format("%Y-%m-%d %H:%M:%S").to_string()
}

/// `organization_id` -> "Organization id".
pub(crate) fn humanize(field: &str) -> String {
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

/// The path of the key with `prefix`'s detail page, under the admin at `base`.
pub(crate) fn key_href(base: &str, prefix: &str) -> String {
    format!("{base}/keys/{}", segment(prefix))
}

/// A key as the pages show it.
pub(crate) struct KeyView {
    pub(crate) prefix: String,
    pub(crate) name: String,
    pub(crate) created: String,
    pub(crate) expires: String,
    pub(crate) expired: bool,
    pub(crate) revoked: bool,
    /// When the key was last used ("" never, or a model without the column).
    pub(crate) last_used: String,
    pub(crate) extras: Vec<(String, String)>,
    /// The key's detail page.
    pub(crate) href: String,
}

impl KeyView {
    /// `key` as shown at time `at`, by the admin at `base`.
    pub(crate) fn new<M: AbstractApiKey>(key: &M, base: &str, at: NaiveDateTime) -> KeyView {
        KeyView {
            prefix: key.prefix().to_owned(),
            name: key.name().to_owned(),
            created: show_time(key.created_naive()),
            expires: key.expiry_date_naive().map(show_time).unwrap_or_default(),
            expired: key.has_expired_at(at),
            revoked: key.revoked(),
            last_used: key.last_used_at().map(show_time).unwrap_or_default(),
            extras: key
                .extra_columns()
                .into_iter()
                .map(|(k, v)| (humanize(k), v))
                .collect(),
            href: key_href(base, key.prefix()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn helpers() {
        assert_eq!(humanize("organization_id"), "Organization id");
        assert_eq!(segment("ab.C_d/é"), "ab.C_d%2F%C3%A9");
        assert_eq!(key_href("/deep/admin", "ab/c"), "/deep/admin/keys/ab%2Fc");
        assert_eq!(key_href("", "abc"), "/keys/abc");
    }
}
