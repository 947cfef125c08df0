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

    /// [`KeyParser::parse_borrowed`] and, when that finds no key,
    /// [`KeyParser::is_present`]: what [`FirstOf`] asks of each source. The
    /// default calls both; the built-in parsers answer from one look at
    /// their header.
    ///
    /// An override must agree with the two methods: [`Found::Key`] with
    /// the key `parse_borrowed` finds, else [`Found::Unusable`] when
    /// `is_present` is true, else [`Found::Absent`]. So a parser that
    /// answers `Unusable` for a credential it cannot read also overrides
    /// `is_present` to say it is there (the default, "`parse` finds a
    /// key", never does); the usual way is to write `find` and answer the
    /// other two from it:
    ///
    /// ```
    /// use actix_web::HttpRequest;
    /// use apikey_actix::{Found, KeyParser, RequestKey};
    /// use apikey_core::PlainKey;
    ///
    /// /// `X-Key: <key>`; a value that is not visible ASCII is there, but
    /// /// unusable: a `FirstOf` stops at it (401) instead of trying the
    /// /// next source.
    /// #[derive(Debug)]
    /// struct XKey;
    ///
    /// impl KeyParser for XKey {
    ///     fn parse(&self, req: &HttpRequest) -> Option<PlainKey> {
    ///         self.parse_borrowed(req).map(RequestKey::into_owned)
    ///     }
    ///     fn parse_borrowed<'r>(&self, req: &'r HttpRequest) -> Option<RequestKey<'r>> {
    ///         match self.find(req) {
    ///             Found::Key(key) => Some(key),
    ///             Found::Unusable | Found::Absent => None,
    ///         }
    ///     }
    ///     fn is_present(&self, req: &HttpRequest) -> bool {
    ///         !matches!(self.find(req), Found::Absent)
    ///     }
    ///     fn find<'r>(&self, req: &'r HttpRequest) -> Found<'r> {
    ///         match req.headers().get("x-key").map(|v| v.to_str()) {
    ///             None => Found::Absent,
    ///             Some(Ok(key)) => Found::Key(RequestKey::Borrowed(key)),
    ///             Some(Err(_)) => Found::Unusable,
    ///         }
    ///     }
    /// }
    /// ```
    ///
    /// The guards read a parser through `parse_borrowed`: a parser
    /// configured alone (not in a `FirstOf`) answers no key for both
    /// `Unusable` and `Absent`, and the request is refused as one without
    /// a key.
    fn find<'r>(&self, req: &'r HttpRequest) -> Found<'r> {
        match self.parse_borrowed(req) {
            Some(key) => Found::Key(key),
            None if self.is_present(req) => Found::Unusable,
            None => Found::Absent,
        }
    }
}

/// What [`KeyParser::find`] finds in a request.
#[derive(Debug)]
pub enum Found<'r> {
    /// The key.
    Key(RequestKey<'r>),
    /// The parser's credential is there but gives no key (a repeated
    /// header, a value that is not visible ASCII, ...): [`FirstOf`] stops
    /// there rather than try the next source, and the guards refuse the
    /// request as one without a key (401, [`crate::Denial::MissingKey`]).
    Unusable,
    /// The request does not carry this parser's credential.
    Absent,
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
    /// A keyword with a space is never what comes before the first one:
    /// such a parser finds no key (known once, not per request).
    spaced: bool,
}

/// `Authorization: Api-Key <key>`, the reference's keyword (the default
/// configuration's parser).
impl Default for AuthorizationParser {
    fn default() -> Self {
        AuthorizationParser::new("Api-Key")
    }
}

impl AuthorizationParser {
    /// A parser for `Authorization: <keyword> <key>`.
    pub fn new(keyword: impl Into<String>) -> Self {
        let keyword = keyword.into();
        AuthorizationParser {
            spaced: keyword.contains(' '),
            keyword,
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
        let mut values = req.headers().get_all(AUTHORIZATION);
        let value = values.next()?.as_bytes();
        if values.next().is_some() {
            return None;
        }
        self.key_in(value).map(RequestKey::Borrowed)
    }

    /// Repeated `Authorization` headers, or one that starts with the keyword.
    fn is_present(&self, req: &HttpRequest) -> bool {
        let mut values = req.headers().get_all(AUTHORIZATION);
        let Some(first) = values.next() else {
            return false;
        };
        values.next().is_some() || self.names(first.as_bytes())
    }

    /// One look at the header.
    fn find<'r>(&self, req: &'r HttpRequest) -> Found<'r> {
        let mut values = req.headers().get_all(AUTHORIZATION);
        let Some(first) = values.next() else {
            return Found::Absent;
        };
        if values.next().is_some() {
            return Found::Unusable;
        }
        let value = first.as_bytes();
        match self.key_in(value) {
            Some(key) => Found::Key(RequestKey::Borrowed(key)),
            None if self.names(value) => Found::Unusable,
            None => Found::Absent,
        }
    }
}

impl AuthorizationParser {
    /// The key in one `Authorization` value, if it has this keyword.
    fn key_in<'r>(&self, value: &'r [u8]) -> Option<&'r str> {
        // As `split_once(' ')` on the header as text, in one pass over its
        // bytes: the keyword (which has no space, or it could never be
        // what comes before the first space), one space, then the key.
        let word = self.keyword.as_bytes();
        let rest = value.get(word.len() + 1..)?;
        let said = &value[..word.len()];
        // The keyword as configured (what clients send) is compared
        // first: a few instructions, where ignoring case is a loop.
        if value[word.len()] != b' '
            || !(said == word || said.eq_ignore_ascii_case(word))
            || self.spaced
            || !all_visible_ascii(value)
        {
            return None;
        }
        // Visible ASCII: valid UTF-8.
        std::str::from_utf8(rest).ok()
    }

    /// Whether one `Authorization` value starts with this keyword (alone
    /// or followed by a space): this parser's credential, usable or not.
    fn names(&self, value: &[u8]) -> bool {
        let word = self.keyword.as_bytes();
        value.len() >= word.len()
            && value[..word.len()].eq_ignore_ascii_case(word)
            && matches!(value.get(word.len()), None | Some(b' '))
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

    /// One look at the header.
    fn find<'r>(&self, req: &'r HttpRequest) -> Found<'r> {
        match req.headers().get_all(&self.name).as_slice() {
            [one] => match one.to_str() {
                // As the reference: an empty header is no key.
                Ok(key) if !key.is_empty() => Found::Key(RequestKey::Borrowed(key)),
                _ if one.is_empty() => Found::Absent,
                _ => Found::Unusable,
            },
            // None, or several: unusable if any is not empty.
            many if many.iter().any(|v| !v.is_empty()) => Found::Unusable,
            _ => Found::Absent,
        }
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
        match self.find(req) {
            Found::Key(key) => Some(key),
            Found::Unusable | Found::Absent => None,
        }
    }

    fn is_present(&self, req: &HttpRequest) -> bool {
        self.0.iter().any(|p| p.is_present(req))
    }

    /// The first source the request carries decides.
    fn find<'r>(&self, req: &'r HttpRequest) -> Found<'r> {
        for parser in &self.0 {
            match parser.find(req) {
                Found::Absent => {}
                found => return found,
            }
        }
        Found::Absent
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

    /// `find` answers what `parse_borrowed` and `is_present` do, for every
    /// built-in parser and combination, on requests with a key, without,
    /// with an unusable credential (repeated, empty, not visible ASCII,
    /// the keyword alone) and with both headers.
    #[test]
    fn find_agrees_with_parse_and_presence() {
        /// A parser of the application's own, with `is_present` of its
        /// own: `x-own: bad` is its credential, unusable.
        #[derive(Debug)]
        struct Own;
        impl KeyParser for Own {
            fn parse(&self, req: &HttpRequest) -> Option<PlainKey> {
                req.headers()
                    .get("x-own")
                    .filter(|v| v.as_bytes() != b"bad")
                    .map(|v| PlainKey::new(String::from_utf8_lossy(v.as_bytes()).into_owned()))
            }
            fn is_present(&self, req: &HttpRequest) -> bool {
                req.headers().contains_key("x-own")
            }
        }
        let x = || HeaderParser::new(HeaderName::from_static("x-api-key"));
        let parsers: Vec<(&str, Box<dyn KeyParser>)> = vec![
            ("api-key", Box::new(AuthorizationParser::default())),
            ("bearer", Box::new(AuthorizationParser::new("Bearer"))),
            ("spaced", Box::new(AuthorizationParser::new("Api Key"))),
            ("x-api-key", Box::new(x())),
            ("own", Box::new(Own)),
            (
                "x, api-key, bearer",
                Box::new(
                    FirstOf::default()
                        .or(x())
                        .or(AuthorizationParser::default())
                        .or(AuthorizationParser::new("Bearer")),
                ),
            ),
            (
                "api-key, own, x",
                Box::new(
                    FirstOf::default()
                        .or(AuthorizationParser::default())
                        .or(Own)
                        .or(x()),
                ),
            ),
            ("empty", Box::new(FirstOf::default())),
        ];
        let value = |v: &[u8]| actix_web::http::header::HeaderValue::from_bytes(v).expect("value");
        let headers: Vec<Vec<(&str, &[u8])>> = vec![
            vec![],
            vec![("authorization", b"Api-Key abc.def")],
            vec![("authorization", b"api-key abc.def")],
            vec![("authorization", b"Bearer abc.def")],
            vec![("authorization", b"Api-Key")],
            vec![("authorization", b"Api-Keyabc")],
            vec![("authorization", b"Api-Key \xc3\xa9")],
            vec![("authorization", b"Api Key abc")],
            vec![("authorization", b"Basic abc"), ("x-api-key", b"ghi.jkl")],
            vec![
                ("authorization", b"Api-Key a"),
                ("authorization", b"Api-Key a"),
            ],
            vec![("x-api-key", b"ghi.jkl")],
            vec![("x-api-key", b"")],
            vec![("x-api-key", b""), ("x-api-key", b"")],
            vec![("x-api-key", b""), ("x-api-key", b"ghi")],
            vec![("x-api-key", b"a\x80")],
            vec![
                ("x-api-key", b"ghi.jkl"),
                ("authorization", b"Api-Key abc.def"),
            ],
            vec![
                ("x-api-key", b"\x80"),
                ("authorization", b"Api-Key abc.def"),
            ],
            vec![("x-own", b"own.key"), ("authorization", b"Api-Key")],
            vec![("x-own", b"bad"), ("authorization", b"Api-Key abc.def")],
            vec![("authorization", b"Basic abc"), ("x-own", b"bad")],
        ];
        let shown = |found: Found<'_>| match found {
            Found::Key(key) => format!("key {}", key.expose_secret()),
            Found::Unusable => "unusable".to_owned(),
            Found::Absent => "absent".to_owned(),
        };
        let mut kinds = std::collections::HashSet::new();
        for set in &headers {
            let mut req = TestRequest::default();
            for (name, v) in set {
                req = req.append_header((*name, value(v)));
            }
            let req = req.to_http_request();
            for (label, parser) in &parsers {
                let expected = match parser.parse_borrowed(&req) {
                    Some(key) => Found::Key(key),
                    None if parser.is_present(&req) => Found::Unusable,
                    None => Found::Absent,
                };
                let (found, expected) = (shown(parser.find(&req)), shown(expected));
                assert_eq!(found, expected, "{label} on {set:?}");
                kinds.insert(found.split(' ').next().map(str::to_owned));
            }
        }
        // Every answer was met.
        assert_eq!(kinds.len(), 3);
        // The first source the request carries decides: an unusable one of
        // the application's own is not passed over for a valid key.
        let ambiguous = TestRequest::default()
            .insert_header(("x-own", "bad"))
            .insert_header((AUTHORIZATION, "Api-Key abc.def"))
            .to_http_request();
        let first_own = FirstOf::default()
            .or(Own)
            .or(AuthorizationParser::default());
        assert_eq!(shown(first_own.find(&ambiguous)), "unusable");
        assert!(first_own.parse_borrowed(&ambiguous).is_none());
        let first_authorization = FirstOf::default()
            .or(AuthorizationParser::default())
            .or(Own);
        assert_eq!(shown(first_authorization.find(&ambiguous)), "key abc.def");
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
