//! The admin's CSRF token check and Basic-auth header parsing over
//! arbitrary input: never a panic; no input is taken for a token signed
//! with the secret (that would be a forgery), and a parsed Basic header
//! gives back exactly the user and password it encodes.
#![no_main]

use actix_web::test::TestRequest;
use apikey_actix::admin::__fuzz::{csrf_is_genuine, csrf_mint, parse_basic};
use apikey_actix::admin::BasicAuth;
use libfuzzer_sys::fuzz_target;

const PASSWORD: &str = "correct horse battery staple";

fuzz_target!(|data: &[u8]| {
    if let Ok(token) = std::str::from_utf8(data) {
        if csrf_is_genuine(token) {
            // Only a token minted with the secret passes: the input must be one.
            panic!("forged CSRF token accepted: {token:?}");
        }
    }
    if let Some((user, password)) = parse_basic(data) {
        assert!(!user.contains(&b':'), "the user ends at the first colon");
        assert!(user.len() + password.len() <= 4096);
    }
    // The whole guard, with the input as the Authorization header.
    if let Ok(value) = actix_web::http::header::HeaderValue::from_bytes(data) {
        let auth = BasicAuth::new("admin", PASSWORD).expect("strong");
        let req = TestRequest::default()
            .insert_header(("authorization", value))
            .to_http_request();
        if auth.verify(&req).is_ok() {
            let (user, password) = parse_basic(data).expect("parsed");
            assert_eq!(
                (&user[..], &password[..]),
                (&b"admin"[..], PASSWORD.as_bytes())
            );
        }
    }
    // A genuine token still passes (the check is not vacuous).
    if data.is_empty() {
        let token = csrf_mint().expect("token");
        assert!(csrf_is_genuine(&token));
    }
});
