//! The key parsers over arbitrary header bytes: never a panic, and a key
//! found is always a piece of one header value. (Like the reference's
//! `partition(" ")`, `Authorization: Api-Key   a.b` gives `  a.b`: the
//! manager's shape check refuses it before any query.)
#![no_main]

use actix_web::http::header::{HeaderName, HeaderValue, AUTHORIZATION};
use actix_web::test::TestRequest;
use apikey_actix::{AuthorizationParser, FirstOf, HeaderParser, KeyParser};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&layout, rest)) = data.split_first() else {
        return;
    };
    let x_api_key = HeaderName::from_static("x-api-key");
    let mut req = TestRequest::default();
    let mut values = Vec::new();
    for (i, part) in rest.split(|&b| b == 0xff).take(4).enumerate() {
        let Ok(value) = HeaderValue::from_bytes(part) else {
            continue;
        };
        // Bit i of the layout: which header this value goes to.
        let name = if layout >> i & 1 == 0 {
            AUTHORIZATION
        } else {
            x_api_key.clone()
        };
        values.push(part.to_vec());
        req = req.append_header((name, value));
    }
    let req = req.to_http_request();
    let parsers: [Box<dyn KeyParser>; 4] = [
        Box::new(AuthorizationParser::default()),
        Box::new(AuthorizationParser::new("Bearer")),
        Box::new(HeaderParser::new(x_api_key.clone())),
        Box::new(
            FirstOf::default()
                .or(HeaderParser::new(x_api_key))
                .or(AuthorizationParser::new("Api-Key"))
                .or(AuthorizationParser::new("Bearer")),
        ),
    ];
    for parser in &parsers {
        let present = parser.is_present(&req);
        if let Some(key) = parser.parse(&req) {
            let key = key.expose_secret().as_bytes();
            assert!(present, "a key was found in a request without one");
            // (An empty key: `Api-Key ` with nothing after the space.)
            assert!(
                key.is_empty()
                    || values
                        .iter()
                        .any(|v| v.windows(key.len()).any(|w| w == key)),
                "a key that is in no header"
            );
        }
    }
});
