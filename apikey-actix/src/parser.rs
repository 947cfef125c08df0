//! Key parsers: where in a request the key is read from.
//!
//! The default reads `Authorization: Api-Key <key>` exactly as the reference's
//! `KeyParser` does: the keyword is compared case-insensitively, the header
//! is split at its first space and the rest is the key, verbatim
//! (`Api-Key  abc` gives the key `" abc"`, which then fails to verify).
//! When a custom header is configured, only that header is read.
//!
//! A repeated credential header is ambiguous and refused, also inside
//! [`FirstOf`]: there the first source the request carries decides, usable
//! or not.

use std::fmt;

use actix_web::http::header::{HeaderName, AUTHORIZATION};
use actix_web::HttpRequest;
use apikey_core::PlainKey;

/// Reads the API key from a request.
///
/// Implement it to read keys from anywhere else, for example a cookie:
///
/// ```
/// use actix_web::HttpRequest;
/// use apikey_actix::KeyParser;
/// use apikey_core::PlainKey;
///
/// #[derive(Debug)]
/// struct CookieParser;
///
/// impl KeyParser for CookieParser {
///     fn parse(&self, req: &HttpRequest) -> Option<PlainKey> {
///         req.cookie("api_key").map(|c| PlainKey::new(c.value().to_owned()))
///     }
/// }
/// ```
pub trait KeyParser: fmt::Debug + Send + Sync + 'static {
    /// The key, or `None` when the request carries none. Never panics on any
    /// header content.
    fn parse(&self, req: &HttpRequest) -> Option<PlainKey>;

    /// [`KeyParser::parse`], borrowed from the request where the key is in
    /// it as is (a header's value, or part of it): the guards read keys
    /// through this, so that a key answered from the cache is never
    /// copied. The default answers [`KeyParser::parse`]'s key
    /// ([`RequestKey::Owned`]), which is always right; overriding it is an
    /// optimisation (one allocation per request) for a parser that finds
    /// the key verbatim in the request, and must answer the same key as
    /// `parse`. A parser that decodes (percent-encoding, base64) keeps the
    /// default.
    fn parse_borrowed<'r>(&self, req: &'r HttpRequest) -> Option<RequestKey<'r>> {
        self.parse(req).map(RequestKey::Owned)
    }

    /// Whether the request carries this parser's credential at all, usable
    /// or not: a repeated header is present, an absent one is not. [`FirstOf`]
    /// stops at the first source that is present, so a credential that is
    /// there but unusable is refused rather than passed over for the next
    /// source. The default: [`KeyParser::parse`] finds a key.
    fn is_present(&self, req: &HttpRequest) -> bool {
        self.parse(req).is_some()
    }
}

/// A key read from a request by [`KeyParser::parse_borrowed`]: a view into
/// the request, or a key of its own. Shown as `********` by `Debug`.
pub enum RequestKey<'r> {
    /// Borrowed from the request (no copy).
    Borrowed(&'r str),
    /// Built by the parser.
    Owned(PlainKey),
}

impl RequestKey<'_> {
    /// The full key, `{prefix}.{secret}`. Handle with care.
    pub fn expose_secret(&self) -> &str {
        match self {
            RequestKey::Borrowed(key) => key,
            RequestKey::Owned(key) => key.expose_secret(),
        }
    }

    /// The key as a [`PlainKey`] (a copy when borrowed), for work that
    /// outlives the request.
    pub fn into_owned(self) -> PlainKey {
        match self {
            RequestKey::Borrowed(key) => PlainKey::new(key.to_owned()),
            RequestKey::Owned(key) => key,
        }
    }
}

impl fmt::Debug for RequestKey<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("RequestKey(********)")
    }
}

/// The one value of a header; `None` when it is absent, repeated or not
/// valid visible ASCII (a repeated credential header is ambiguous: refuse it).
/// Whether every byte is what `HeaderValue::to_str` accepts (visible ASCII
/// and tabs); no branch per byte, so it vectorizes.
fn all_visible_ascii(bytes: &[u8]) -> bool {
    bytes.iter().fold(true, |ok, &b| {
        ok & ((b' '..=b'~').contains(&b) | (b == b'\t'))
    })
}

fn single_header<'a>(req: &'a HttpRequest, name: &HeaderName) -> Option<&'a str> {
    let mut values = req.headers().get_all(name);
    let first = values.next()?;
    if values.next().is_some() {
        return None;
    }
    first.to_str().ok()
}

/// `Authorization: <keyword> <key>`, the keyword compared case-insensitively.
#[derive(Debug, Clone)]
pub struct AuthorizationParser {
    keyword: String,
}

impl Default for AuthorizationParser {
    fn default() -> Self {
        AuthorizationParser::new("Api-Key")
    }
}

impl AuthorizationParser {
    /// A parser for `Authorization: <keyword> <key>`.
    pub fn new(keyword: impl Into<String>) -> Self {
        AuthorizationParser {
            keyword: keyword.into(),
        }
    }

    /// The keyword.
    pub fn keyword(&self) -> &str {
        &self.keyword
    }
}

impl KeyParser for AuthorizationParser {
    fn parse(&self, req: &HttpRequest) -> Option<PlainKey> {
        self.parse_borrowed(req).map(RequestKey::into_owned)
    }

    fn parse_borrowed<'r>(&self, req: &'r HttpRequest) -> Option<RequestKey<'r>> {
        // As `split_once(' ')` on the header as text, in one pass over its
        // bytes: the keyword (which has no space, or it could never be
        // what comes before the first space), one space, then the key.
        let mut values = req.headers().get_all(AUTHORIZATION);
        let value = values.next()?.as_bytes();
        if values.next().is_some() {
            return None;
        }
        let word = self.keyword.as_bytes();
        let rest = value.get(word.len() + 1..)?;
        if value[word.len()] != b' '
            || !value[..word.len()].eq_ignore_ascii_case(word)
            || word.contains(&b' ')
            || !all_visible_ascii(value)
        {
            return None;
        }
        // Visible ASCII: valid UTF-8.
        std::str::from_utf8(rest).ok().map(RequestKey::Borrowed)
    }

    /// Repeated `Authorization` headers, or one that starts with the keyword.
    fn is_present(&self, req: &HttpRequest) -> bool {
        let mut values = req.headers().get_all(AUTHORIZATION);
        let Some(first) = values.next() else {
            return false;
        };
        if values.next().is_some() {
            return true;
        }
        let bytes = first.as_bytes();
        let word = self.keyword.as_bytes();
        bytes.len() >= word.len()
            && bytes[..word.len()].eq_ignore_ascii_case(word)
            && matches!(bytes.get(word.len()), None | Some(b' '))
    }
}

/// A custom header holding the key alone, e.g. `X-Api-Key: <key>`.
#[derive(Debug, Clone)]
pub struct HeaderParser {
    name: HeaderName,
}

impl HeaderParser {
    /// A parser for the given header.
    pub fn new(name: HeaderName) -> Self {
        HeaderParser { name }
    }

    /// The header name.
    pub fn name(&self) -> &HeaderName {
        &self.name
    }
}

impl KeyParser for HeaderParser {
    fn parse(&self, req: &HttpRequest) -> Option<PlainKey> {
        self.parse_borrowed(req).map(RequestKey::into_owned)
    }

    fn parse_borrowed<'r>(&self, req: &'r HttpRequest) -> Option<RequestKey<'r>> {
        // As the reference: an empty header is no key.
        single_header(req, &self.name)
            .filter(|v| !v.is_empty())
            .map(RequestKey::Borrowed)
    }

    /// The header is there and not empty, once or more.
    fn is_present(&self, req: &HttpRequest) -> bool {
        req.headers()
            .get_all(&self.name)
            .any(|v| !v.as_bytes().is_empty())
    }
}

/// Tries several parsers in order, e.g. a custom header, then
/// `Authorization: Api-Key`, then `Authorization: Bearer`.
///
/// The first source the request carries decides (see
/// [`KeyParser::is_present`]): with `X-Api-Key: A` and
/// `Authorization: Api-Key B`, the parser added first wins and the other
/// key is not looked at. A source that is present but unusable (a repeated
/// header, a value that is not visible ASCII) refuses the request; the next
/// source is not tried, so a second, valid credential cannot make an
/// ambiguous request pass.
///
/// ```
/// use actix_web::http::header::HeaderName;
/// use apikey_actix::parser::{AuthorizationParser, FirstOf, HeaderParser};
/// use apikey_actix::ApiKeyConfig;
///
/// let config = ApiKeyConfig::default().parser(
///     FirstOf::default()
///         .or(HeaderParser::new(HeaderName::from_static("x-api-key")))
///         .or(AuthorizationParser::new("Api-Key"))
///         .or(AuthorizationParser::new("Bearer")),
/// );
/// ```
#[derive(Debug, Default)]
pub struct FirstOf(Vec<Box<dyn KeyParser>>);

impl FirstOf {
    /// Adds a parser, tried after the ones before it.
    pub fn or(mut self, parser: impl KeyParser) -> Self {
        self.0.push(Box::new(parser));
        self
    }
}

impl KeyParser for FirstOf {
    fn parse(&self, req: &HttpRequest) -> Option<PlainKey> {
        self.parse_borrowed(req).map(RequestKey::into_owned)
    }

    fn parse_borrowed<'r>(&self, req: &'r HttpRequest) -> Option<RequestKey<'r>> {
        for parser in &self.0 {
            if let Some(key) = parser.parse_borrowed(req) {
                return Some(key);
            }
            if parser.is_present(req) {
                return None;
            }
        }
        None
    }

    fn is_present(&self, req: &HttpRequest) -> bool {
        self.0.iter().any(|p| p.is_present(req))
    }
}

#[cfg(test)]
mod tests {
    use actix_web::test::TestRequest;

    use super::*;

    fn parsed(parser: &AuthorizationParser, values: &[&[u8]]) -> Option<String> {
        let mut req = TestRequest::default();
        for v in values {
            req = req.append_header((
                AUTHORIZATION,
                actix_web::http::header::HeaderValue::from_bytes(v).expect("header value"),
            ));
        }
        parser
            .parse(&req.to_http_request())
            .map(|k| k.expose_secret().to_owned())
    }

    /// The built-in parsers hand the guards a view into the request (no
    /// copy of the key), equal to what `parse` answers; a parser of the
    /// application's own (the trait's default) hands over its own key.
    #[test]
    fn built_in_parsers_borrow_the_key() {
        #[derive(Debug)]
        struct Fixed;
        impl KeyParser for Fixed {
            fn parse(&self, _req: &HttpRequest) -> Option<PlainKey> {
                Some(PlainKey::new("fixed.key".into()))
            }
        }
        let req = TestRequest::default()
            .insert_header((AUTHORIZATION, "Api-Key abc.def"))
            .insert_header(("x-api-key", "ghi.jkl"))
            .to_http_request();
        let header = HeaderParser::new(HeaderName::from_static("x-api-key"));
        let parsers: [(&dyn KeyParser, &str, bool); 5] = [
            (&AuthorizationParser::default(), "abc.def", true),
            (&header, "ghi.jkl", true),
            (
                &FirstOf::default().or(AuthorizationParser::default()),
                "abc.def",
                true,
            ),
            (&FirstOf::default().or(Fixed), "fixed.key", false),
            (&Fixed, "fixed.key", false),
        ];
        for (parser, expected, borrowed) in parsers {
            let key = parser.parse_borrowed(&req).expect("a key");
            assert_eq!(key.expose_secret(), expected, "{parser:?}");
            assert_eq!(
                matches!(key, RequestKey::Borrowed(_)),
                borrowed,
                "{parser:?}"
            );
            assert_eq!(format!("{key:?}"), "RequestKey(********)");
            assert_eq!(key.into_owned().expose_secret(), expected);
            assert_eq!(
                parser.parse(&req).map(|k| k.expose_secret().to_owned()),
                Some(expected.to_owned())
            );
        }
        let bare = TestRequest::default().to_http_request();
        assert!(AuthorizationParser::default()
            .parse_borrowed(&bare)
            .is_none());
        assert!(header.parse_borrowed(&bare).is_none());
    }

    /// The reference's `Authorization` parsing, byte for byte: split at the
    /// first space, keyword compared case-insensitively, the rest verbatim;
    /// refused when repeated or not visible ASCII (tabs allowed; control
    /// characters never make a `HeaderValue`).
    #[test]
    fn authorization_is_split_at_the_first_space() {
        let p = AuthorizationParser::default();
        let some = |s: &str| Some(s.to_owned());
        assert_eq!(parsed(&p, &[b"Api-Key abc.def"]), some("abc.def"));
        assert_eq!(parsed(&p, &[b"aPI-kEY abc"]), some("abc"));
        assert_eq!(parsed(&p, &[b"Api-Key  abc"]), some(" abc"));
        assert_eq!(parsed(&p, &[b"Api-Key a b"]), some("a b"));
        assert_eq!(parsed(&p, &[b"Api-Key "]), some(""));
        assert_eq!(parsed(&p, &[b"Api-Key a\tb"]), some("a\tb"));
        assert_eq!(parsed(&p, &[b"Api-Key"]), None);
        assert_eq!(parsed(&p, &[b"Api-Keyabc"]), None);
        assert_eq!(parsed(&p, &[b"Api-Kex abc"]), None);
        assert_eq!(parsed(&p, &[b"Api-Keys abc"]), None);
        assert_eq!(parsed(&p, &[b"Bearer abc"]), None);
        assert_eq!(parsed(&p, &[b" Api-Key abc"]), None);
        assert_eq!(parsed(&p, &[b"Api-Key \xc3\xa9"]), None);
        assert_eq!(parsed(&p, &[b"Api-Key a\x80"]), None);
        assert_eq!(parsed(&p, &[]), None);
        assert_eq!(parsed(&p, &[b"Api-Key a", b"Api-Key a"]), None);
        // A keyword with a space is never what comes before the first one.
        let spaced = AuthorizationParser::new("Api Key");
        assert_eq!(parsed(&spaced, &[b"Api Key abc"]), None);
        assert_eq!(
            parsed(&AuthorizationParser::new(""), &[b" abc"]),
            some("abc")
        );
    }
}
