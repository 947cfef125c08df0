//! The guards through actix's test service, on SQLite and PostgreSQL
//! (`sqlite::name` and `postgres::name`). The reference's permission matrix,
//! plus hostile headers, combinations and custom permissions.

use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::http::StatusCode;
use actix_web::test as atest;
use actix_web::{web, App, HttpMessage, HttpRequest, HttpResponse};
use apikey_actix::{
    AllOf, AllowAny, And, AnyOf, ApiKeyConfig, ApiKeyPermission, AuthError, Authenticated,
    AuthorizationParser, Denial, FirstOf, FnPermission, HasApiKey, HeaderParser, IsAuthenticated,
    KeyParser, Not, Or, Permitted, RequirePermission,
};
use apikey_core::{AbstractApiKey, ApiKey, BaseApiKeyManager, NewKey, PlainKey};
use apikey_tests::{backend_tests, block_on as run, TestDb};
use chrono::{Duration, Utc};

async fn protected(key: HasApiKey<ApiKey>) -> HttpResponse {
    HttpResponse::Ok().json(serde_json::json!({ "name": key.name(), "prefix": key.prefix() }))
}

/// Marks requests with `X-User` as authenticated (the application's own auth).
fn fake_login(req: &actix_web::dev::ServiceRequest) {
    if req.headers().contains_key("x-user") {
        req.extensions_mut().insert(Authenticated {
            user: "alice".into(),
        });
    }
}

struct Fixture {
    keys: BaseApiKeyManager<ApiKey>,
    valid: String,
    revoked: String,
    expired: String,
    tomorrow: String,
}

fn fixture(db: &TestDb) -> Fixture {
    let keys = BaseApiKeyManager::<ApiKey>::new(db.database());
    let make = |name: &str, expiry| {
        keys.create_key(NewKey::new(name).expiry(expiry))
            .expect("create")
            .1
            .expose_secret()
            .to_owned()
    };
    let valid = make("valid", None);
    let revoked = make("revoked", None);
    keys.revoke(&revoked[..8]).expect("revoke");
    let expired = make("expired", Some(Utc::now() - Duration::days(2)));
    let tomorrow = make("tomorrow", Some(Utc::now() + Duration::days(1)));
    Fixture {
        keys,
        valid,
        revoked,
        expired,
        tomorrow,
    }
}

macro_rules! service {
    ($keys:expr, $config:expr) => {
        atest::init_service(
            App::new()
                .app_data(web::Data::new($keys.clone()))
                .app_data($config)
                .route("/protected", web::get().to(protected)),
        )
        .await
    };
}

async fn status_with(
    app: &impl actix_web::dev::Service<
        actix_http::Request,
        Response = actix_web::dev::ServiceResponse,
        Error = actix_web::Error,
    >,
    headers: &[(&str, HeaderValue)],
) -> StatusCode {
    let mut req = atest::TestRequest::get().uri("/protected");
    for (name, value) in headers {
        req = req.append_header((HeaderName::try_from(*name).expect("name"), value.clone()));
    }
    atest::call_service(app, req.to_request()).await.status()
}

fn hv(s: &str) -> HeaderValue {
    HeaderValue::from_str(s).expect("header value")
}

fn reference_matrix(db: &TestDb) {
    let f = fixture(db);
    run(async move {
        let app = service!(f.keys, ApiKeyConfig::default());
        let auth = |k: &str| vec![("authorization", hv(&format!("Api-Key {k}")))];

        // Allowed.
        assert_eq!(status_with(&app, &auth(&f.valid)).await, StatusCode::OK);
        assert_eq!(status_with(&app, &auth(&f.tomorrow)).await, StatusCode::OK);
        // The keyword is case-insensitive.
        let lower = vec![("authorization", hv(&format!("api-key {}", f.valid)))];
        assert_eq!(status_with(&app, &lower).await, StatusCode::OK);

        // Denied: 401.
        assert_eq!(status_with(&app, &[]).await, StatusCode::UNAUTHORIZED);
        for k in [
            f.revoked.clone(),
            f.expired.clone(),
            String::new(),
            "abcd".into(),
            "foo.bar".into(),
            format!(" {}", f.valid),
            f.valid.to_uppercase(),
            f.valid.to_lowercase(),
            f.valid[1..].to_owned(),
            format!("{}.{}", &f.valid[..7], &f.valid[9..]),
        ] {
            assert_eq!(
                status_with(&app, &auth(&k)).await,
                StatusCode::UNAUTHORIZED,
                "{k:.12}"
            );
        }
        for raw in [
            format!("X-Key {}", f.valid),
            format!("Api-Key:{}", f.valid),
            format!("Api-Key{}", f.valid),
            format!("My-Special-Api-Key {}", f.valid),
            format!("Bearer {}", f.valid),
            f.valid.clone(),
        ] {
            let h = vec![("authorization", hv(&raw))];
            assert_eq!(
                status_with(&app, &h).await,
                StatusCode::UNAUTHORIZED,
                "{raw:.12}"
            );
        }
        // The custom header is ignored unless configured.
        let custom = vec![("x-api-key", hv(&f.valid))];
        assert_eq!(status_with(&app, &custom).await, StatusCode::UNAUTHORIZED);

        // The 401 carries the challenge and a JSON body.
        let res = atest::call_service(
            &app,
            atest::TestRequest::get().uri("/protected").to_request(),
        )
        .await;
        assert_eq!(
            res.headers().get("www-authenticate").map(|v| v.as_bytes()),
            Some(&b"Api-Key"[..])
        );
        let body: serde_json::Value = atest::read_body_json(res).await;
        assert_eq!(
            body["detail"],
            "Authentication credentials were not provided."
        );

        // The handler gets the model itself.
        let req = atest::TestRequest::get()
            .uri("/protected")
            .insert_header(("authorization", format!("Api-Key {}", f.valid)))
            .to_request();
        let body: serde_json::Value = atest::call_and_read_body_json(&app, req).await;
        assert_eq!(body["name"], "valid");
        assert_eq!(body["prefix"], &f.valid[..8]);
    });
}

fn custom_header_and_keyword(db: &TestDb) {
    let f = fixture(db);
    run(async move {
        let app = service!(f.keys, ApiKeyConfig::default().header("X-Api-Key"));
        assert_eq!(
            status_with(&app, &[("x-api-key", hv(&f.valid))]).await,
            StatusCode::OK
        );
        for bad in ["", "abcd", &f.revoked, &format!("Api-Key {}", f.valid)] {
            assert_eq!(
                status_with(&app, &[("x-api-key", hv(bad))]).await,
                StatusCode::UNAUTHORIZED
            );
        }
        // With a custom header, Authorization is ignored.
        let auth = vec![("authorization", hv(&format!("Api-Key {}", f.valid)))];
        assert_eq!(status_with(&app, &auth).await, StatusCode::UNAUTHORIZED);

        let app = service!(
            f.keys,
            ApiKeyConfig::default().keyword("Bearer").realm("api")
        );
        let bearer = vec![("authorization", hv(&format!("Bearer {}", f.valid)))];
        assert_eq!(status_with(&app, &bearer).await, StatusCode::OK);
        let res = atest::call_service(
            &app,
            atest::TestRequest::get().uri("/protected").to_request(),
        )
        .await;
        assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(
            res.headers().get("www-authenticate").map(|v| v.as_bytes()),
            Some(&b"Bearer realm=\"api\""[..])
        );
        assert_eq!(status_with(&app, &auth).await, StatusCode::UNAUTHORIZED);
    });
}

/// Several sources (the quickstart's): the first one the request carries
/// decides; a repeated header is refused, and a second, valid credential
/// elsewhere does not rescue it.
fn first_of_sources(db: &TestDb) {
    let f = fixture(db);
    run(async move {
        let parser = FirstOf::default()
            .or(HeaderParser::new(HeaderName::from_static("x-api-key")))
            .or(AuthorizationParser::new("Api-Key"))
            .or(AuthorizationParser::new("Bearer"));
        let app = service!(f.keys, ApiKeyConfig::default().parser(parser));
        let x = |k: &str| ("x-api-key", hv(k));
        let api_key = |k: &str| ("authorization", hv(&format!("Api-Key {k}")));
        let bearer = |k: &str| ("authorization", hv(&format!("Bearer {k}")));
        let cases = [
            (vec![x(&f.valid)], StatusCode::OK),
            (vec![api_key(&f.valid)], StatusCode::OK),
            (vec![bearer(&f.valid)], StatusCode::OK),
            // An empty custom header is no key (as the reference): next source.
            (vec![x(""), bearer(&f.valid)], StatusCode::OK),
            // Two sources: the first configured wins, the other is not read.
            (vec![x(&f.valid), api_key(&f.revoked)], StatusCode::OK),
            (
                vec![x(&f.revoked), api_key(&f.valid)],
                StatusCode::UNAUTHORIZED,
            ),
            (
                vec![x("garbage"), bearer(&f.valid)],
                StatusCode::UNAUTHORIZED,
            ),
            // Repeated headers are ambiguous, whatever else comes.
            (vec![x(&f.valid), x(&f.valid)], StatusCode::UNAUTHORIZED),
            (
                vec![x(&f.valid), x(&f.valid), api_key(&f.valid)],
                StatusCode::UNAUTHORIZED,
            ),
            (
                vec![x(&f.valid), x(&f.tomorrow), bearer(&f.valid)],
                StatusCode::UNAUTHORIZED,
            ),
            (
                vec![api_key(&f.valid), bearer(&f.valid)],
                StatusCode::UNAUTHORIZED,
            ),
            (
                vec![api_key(&f.valid), api_key(&f.valid)],
                StatusCode::UNAUTHORIZED,
            ),
            // Present but not visible ASCII: refused, not passed over.
            (
                vec![
                    (
                        "x-api-key",
                        HeaderValue::from_bytes(b"\xff\xfe").expect("obs-text"),
                    ),
                    api_key(&f.valid),
                ],
                StatusCode::UNAUTHORIZED,
            ),
            // A keyword with nothing after it is that source, unusable.
            (
                vec![("authorization", hv("Api-Key"))],
                StatusCode::UNAUTHORIZED,
            ),
        ];
        for (i, (headers, want)) in cases.iter().enumerate() {
            assert_eq!(status_with(&app, headers).await, *want, "case {i}");
        }

        // Authorization first, then the custom header: whether the
        // Authorization header is this parser's source decides.
        let parser = FirstOf::default()
            .or(AuthorizationParser::new("Api-Key"))
            .or(HeaderParser::new(HeaderName::from_static("x-api-key")));
        let app = service!(f.keys, ApiKeyConfig::default().parser(parser));
        let auth = |v: &str| ("authorization", hv(v));
        let cases = [
            // Another scheme, or another word: not this source, next one.
            (
                vec![auth(&format!("Bearer {}", f.valid)), x(&f.valid)],
                StatusCode::OK,
            ),
            (
                vec![auth(&format!("Token12 {}", f.revoked)), x(&f.valid)],
                StatusCode::OK,
            ),
            (
                vec![auth(&format!("Api-Keys {}", f.revoked)), x(&f.valid)],
                StatusCode::OK,
            ),
            (vec![auth("Api"), x(&f.valid)], StatusCode::OK),
            (vec![auth(""), x(&f.valid)], StatusCode::OK),
            // This source, unusable: refused, the custom header not read.
            (vec![auth("Api-Key"), x(&f.valid)], StatusCode::UNAUTHORIZED),
            (
                vec![auth("api-key "), x(&f.valid)],
                StatusCode::UNAUTHORIZED,
            ),
            (
                vec![api_key(&f.revoked), x(&f.valid)],
                StatusCode::UNAUTHORIZED,
            ),
            (vec![api_key(&f.valid), x(&f.revoked)], StatusCode::OK),
        ];
        for (i, (headers, want)) in cases.iter().enumerate() {
            assert_eq!(
                status_with(&app, headers).await,
                *want,
                "second order, case {i}"
            );
        }

        // Nested: a FirstOf is present when one of its parsers is; a
        // parser without its own `is_present` is present when it finds a key.
        let parser = FirstOf::default()
            .or(FirstOf::default()
                .or(CookieParser)
                .or(HeaderParser::new(HeaderName::from_static("x-api-key"))))
            .or(AuthorizationParser::new("Api-Key"));
        let app = service!(f.keys, ApiKeyConfig::default().parser(parser));
        let cases = [
            (vec![api_key(&f.valid)], StatusCode::OK),
            (vec![x(&f.valid), api_key(&f.revoked)], StatusCode::OK),
            (
                vec![x(&f.valid), x(&f.valid), api_key(&f.valid)],
                StatusCode::UNAUTHORIZED,
            ),
            (
                vec![
                    ("cookie", hv(&format!("api_key={}", f.valid))),
                    api_key(&f.revoked),
                ],
                StatusCode::OK,
            ),
        ];
        for (i, (headers, want)) in cases.iter().enumerate() {
            assert_eq!(status_with(&app, headers).await, *want, "nested, case {i}");
        }
    });

    // What the parsers say they read.
    assert_eq!(AuthorizationParser::new("Bearer").keyword(), "Bearer");
    assert_eq!(AuthorizationParser::default().keyword(), "Api-Key");
    let name = HeaderName::from_static("x-api-key");
    assert_eq!(HeaderParser::new(name.clone()).name(), &name);
}

fn hostile_headers(db: &TestDb) {
    let f = fixture(db);
    run(async move {
        let app = service!(f.keys, ApiKeyConfig::default());
        // Not UTF-8, not even visible ASCII.
        for bytes in [
            &b"Api-Key \xff\xfe\xfd"[..],
            b"\x80\x81",
            b"Api-Key \xc3\x28",
        ] {
            let h = vec![(
                "authorization",
                HeaderValue::from_bytes(bytes).expect("obs-text"),
            )];
            assert_eq!(status_with(&app, &h).await, StatusCode::UNAUTHORIZED);
        }
        // A 64 KiB key.
        let huge = vec![(
            "authorization",
            hv(&format!("Api-Key {}", "a".repeat(64 * 1024))),
        )];
        assert_eq!(status_with(&app, &huge).await, StatusCode::UNAUTHORIZED);
        let huge_dot = vec![(
            "authorization",
            hv(&format!(
                "Api-Key {}.{}",
                &f.valid[..8],
                "b".repeat(64 * 1024)
            )),
        )];
        assert_eq!(status_with(&app, &huge_dot).await, StatusCode::UNAUTHORIZED);
        // Two Authorization headers, even with a valid key: ambiguous, refused.
        let two = vec![
            ("authorization", hv(&format!("Api-Key {}", f.valid))),
            ("authorization", hv(&format!("Api-Key {}", f.valid))),
        ];
        assert_eq!(status_with(&app, &two).await, StatusCode::UNAUTHORIZED);
        // SQL-looking and control-character keys.
        for k in [
            "' OR 1=1 --",
            "abc.def'; DROP TABLE api_keys; --",
            "%",
            "_______%.%",
            "a\tb",
        ] {
            let h = vec![("authorization", hv(&format!("Api-Key {k}")))];
            assert_eq!(status_with(&app, &h).await, StatusCode::UNAUTHORIZED, "{k}");
        }
        // The table survived, the valid key still works.
        let ok = vec![("authorization", hv(&format!("Api-Key {}", f.valid)))];
        assert_eq!(status_with(&app, &ok).await, StatusCode::OK);
    });
}

fn drf_compatible_and_custom_body(db: &TestDb) {
    let f = fixture(db);
    run(async move {
        let app = service!(f.keys, ApiKeyConfig::default().drf_compatible(true));
        assert_eq!(status_with(&app, &[]).await, StatusCode::FORBIDDEN);
        let bad = vec![("authorization", hv("Api-Key abcd"))];
        assert_eq!(status_with(&app, &bad).await, StatusCode::FORBIDDEN);
        let ok = vec![("authorization", hv(&format!("Api-Key {}", f.valid)))];
        assert_eq!(status_with(&app, &ok).await, StatusCode::OK);

        let config = ApiKeyConfig::default().error_handler(|err: &AuthError| {
            HttpResponse::build(actix_web::ResponseError::status_code(err))
                .content_type("text/plain")
                .body(format!("nope: {:?}", err.denial()))
        });
        let app = service!(f.keys, config);
        let res = atest::call_service(
            &app,
            atest::TestRequest::get().uri("/protected").to_request(),
        )
        .await;
        assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(atest::read_body(res).await, "nope: MissingKey");
    });
}

/// Reads the key from a cookie, as the reference's docs show.
#[derive(Debug)]
struct CookieParser;

impl KeyParser for CookieParser {
    fn parse(&self, req: &HttpRequest) -> Option<PlainKey> {
        req.cookie("api_key")
            .map(|c| PlainKey::new(c.value().to_owned()))
    }
}

fn custom_parser_and_per_scope_config(db: &TestDb) {
    let f = fixture(db);
    run(async move {
        let app = atest::init_service(
            App::new()
                .app_data(web::Data::new(f.keys.clone()))
                .route("/protected", web::get().to(protected))
                .service(
                    web::scope("/cookie")
                        .app_data(ApiKeyConfig::default().parser(CookieParser))
                        .route("/protected", web::get().to(protected)),
                ),
        )
        .await;
        let cookie = actix_web::cookie::Cookie::new("api_key", f.valid.clone());
        let req = atest::TestRequest::get()
            .uri("/cookie/protected")
            .cookie(cookie.clone())
            .to_request();
        assert_eq!(
            atest::call_service(&app, req).await.status(),
            StatusCode::OK
        );
        // The app-wide default (Authorization) does not read cookies.
        let req = atest::TestRequest::get()
            .uri("/protected")
            .cookie(cookie)
            .to_request();
        assert_eq!(
            atest::call_service(&app, req).await.status(),
            StatusCode::UNAUTHORIZED
        );
        let req = atest::TestRequest::get()
            .uri("/protected")
            .insert_header(("authorization", format!("Api-Key {}", f.valid)))
            .to_request();
        assert_eq!(
            atest::call_service(&app, req).await.status(),
            StatusCode::OK
        );
    });
}

async fn open() -> HttpResponse {
    HttpResponse::Ok().body("ok")
}

fn combinations(db: &TestDb) {
    let f = fixture(db);
    run(async move {
        let either = HasApiKey::<ApiKey>::permission() | IsAuthenticated;
        let app = atest::init_service(
            App::new()
                .app_data(web::Data::new(f.keys.clone()))
                .wrap_fn(|req, srv| {
                    fake_login(&req);
                    actix_web::dev::Service::call(srv, req)
                })
                .service(
                    web::scope("/either")
                        .wrap(RequirePermission::new(either))
                        .route("", web::get().to(open)),
                )
                .service(
                    web::scope("/both")
                        .wrap(RequirePermission::new(
                            HasApiKey::<ApiKey>::permission() & IsAuthenticated,
                        ))
                        .route("", web::get().to(protected)),
                )
                .service(
                    web::scope("/not-key")
                        .wrap(RequirePermission::new(!HasApiKey::<ApiKey>::permission()))
                        .route("", web::get().to(open)),
                )
                .service(
                    web::scope("/any")
                        .wrap(RequirePermission::new(
                            AnyOf::new()
                                .or(FnPermission(|r: &HttpRequest| r.query_string() == "magic"))
                                .or(HasApiKey::<ApiKey>::permission()),
                        ))
                        .route("", web::get().to(open)),
                )
                .service(
                    web::scope("/all")
                        .wrap(RequirePermission::new(
                            AllOf::new()
                                .and(AllowAny)
                                .and(HasApiKey::<ApiKey>::permission())
                                .and(FnPermission(|r: &HttpRequest| r.query_string() != "deny")),
                        ))
                        .route("", web::get().to(protected)),
                )
                .service(
                    // Lists built at run time that came out empty grant nothing.
                    web::scope("/all-empty")
                        .wrap(RequirePermission::new(AllOf::new()))
                        .route("", web::get().to(open)),
                )
                .service(
                    web::scope("/any-empty")
                        .wrap(RequirePermission::new(
                            std::iter::empty::<Box<dyn apikey_actix::Permission>>()
                                .collect::<AnyOf>(),
                        ))
                        .route("", web::get().to(open)),
                )
                .service(
                    // A permission with settings (no `Default`), registered.
                    web::resource("/typed-registered")
                        .app_data(QueryIs("open-sesame"))
                        .route(web::get().to(|_: Permitted<QueryIs>| async { "typed" })),
                )
                .route(
                    "/typed-unregistered",
                    web::get().to(|_: Permitted<QueryIs>| async { "typed" }),
                )
                .route(
                    "/typed",
                    web::get().to(
                        |_: Permitted<Or<ApiKeyPermission<ApiKey>, IsAuthenticated>>| async {
                            "typed"
                        },
                    ),
                ),
        )
        .await;
        let call = |uri: &str, key: Option<&str>, user: bool| {
            let mut req = atest::TestRequest::get().uri(uri);
            if let Some(k) = key {
                req = req.insert_header(("authorization", format!("Api-Key {k}")));
            }
            if user {
                req = req.insert_header(("x-user", "alice"));
            }
            req.to_request()
        };
        let status = |req| async { atest::call_service(&app, req).await.status() };

        // The reference's combination tests.
        assert_eq!(status(call("/either", None, true)).await, StatusCode::OK);
        assert_eq!(
            status(call("/either", Some(&f.revoked), true)).await,
            StatusCode::OK
        );
        assert_eq!(
            status(call("/either", Some(&f.valid), false)).await,
            StatusCode::OK
        );
        assert_eq!(
            status(call("/either", None, false)).await,
            StatusCode::UNAUTHORIZED
        );
        assert_eq!(
            status(call("/either", Some(&f.revoked), false)).await,
            StatusCode::UNAUTHORIZED
        );
        assert_eq!(status(call("/typed", None, true)).await, StatusCode::OK);
        assert_eq!(
            status(call("/typed", None, false)).await,
            StatusCode::UNAUTHORIZED
        );

        assert_eq!(
            status(call("/both", Some(&f.valid), true)).await,
            StatusCode::OK
        );
        // A verified key refused by the other requirement: about permission.
        assert_eq!(
            status(call("/both", Some(&f.valid), false)).await,
            StatusCode::FORBIDDEN
        );
        assert_eq!(
            status(call("/both", None, true)).await,
            StatusCode::UNAUTHORIZED
        );

        assert_eq!(status(call("/not-key", None, false)).await, StatusCode::OK);
        assert_eq!(
            status(call("/not-key", Some(&f.valid), false)).await,
            StatusCode::FORBIDDEN
        );

        assert_eq!(
            status(call("/any?magic", None, false)).await,
            StatusCode::OK
        );
        assert_eq!(
            status(call("/any", Some(&f.valid), false)).await,
            StatusCode::OK
        );
        assert_eq!(
            status(call("/any", None, false)).await,
            StatusCode::UNAUTHORIZED
        );

        assert_eq!(
            status(call("/all-empty", Some(&f.valid), true)).await,
            StatusCode::FORBIDDEN
        );
        assert_eq!(
            status(call("/any-empty", Some(&f.valid), true)).await,
            StatusCode::FORBIDDEN
        );
        assert_eq!(
            status(call("/typed-registered?open-sesame", None, false)).await,
            StatusCode::OK
        );
        assert_eq!(
            status(call("/typed-registered?other", None, false)).await,
            StatusCode::FORBIDDEN
        );
        // Neither registered nor buildable from its type: a server error, not a grant.
        assert_eq!(
            status(call("/typed-unregistered?open-sesame", None, false)).await,
            StatusCode::INTERNAL_SERVER_ERROR
        );

        // A valid key that a permission refuses: 403.
        assert_eq!(
            status(call("/all", Some(&f.valid), false)).await,
            StatusCode::OK
        );
        assert_eq!(
            status(call("/all?deny", Some(&f.valid), false)).await,
            StatusCode::FORBIDDEN
        );
        assert_eq!(
            status(call("/all?deny", None, false)).await,
            StatusCode::UNAUTHORIZED
        );
    });
}

/// The README's permission examples, `key | IsAuthenticated` and
/// `(key & FnPermission(is_admin)) | IsAuthenticated` (and their parts), for
/// every kind of key, with and without a login and an admin flag, as a
/// scope guard and as a handler guard, in the default and the DRF-compatible
/// mode. Once a key has been verified, a refusal is a 403.
fn readme_permission_examples(db: &TestDb) {
    let f = fixture(db);
    fn is_admin(req: &HttpRequest) -> bool {
        req.headers().contains_key("x-admin")
    }
    type Key = ApiKeyPermission<ApiKey>;
    type Admin = FnPermission<fn(&HttpRequest) -> bool>;
    let admin = || FnPermission(is_admin as fn(&HttpRequest) -> bool);
    run(async move {
        for drf in [false, true] {
            let app = atest::init_service(
                App::new()
                    .app_data(web::Data::new(f.keys.clone()))
                    .app_data(ApiKeyConfig::default().drf_compatible(drf))
                    .app_data(Or(And(Key::default(), admin()), IsAuthenticated))
                    .app_data(And(Key::default(), admin()))
                    .wrap_fn(|req, srv| {
                        fake_login(&req);
                        actix_web::dev::Service::call(srv, req)
                    })
                    .service(
                        web::scope("/scope/either")
                            .wrap(RequirePermission::new(
                                HasApiKey::<ApiKey>::permission() | IsAuthenticated,
                            ))
                            .route("", web::get().to(open)),
                    )
                    .service(
                        web::scope("/scope/admin-or-user")
                            .wrap(RequirePermission::new(
                                (HasApiKey::<ApiKey>::permission() & admin()) | IsAuthenticated,
                            ))
                            .route("", web::get().to(open)),
                    )
                    .service(
                        web::scope("/scope/admin")
                            .wrap(RequirePermission::new(
                                HasApiKey::<ApiKey>::permission() & admin(),
                            ))
                            .route("", web::get().to(open)),
                    )
                    .route(
                        "/handler/either",
                        web::get().to(|_: Permitted<Or<Key, IsAuthenticated>>| open()),
                    )
                    .route(
                        "/handler/admin-or-user",
                        web::get().to(|_: Permitted<Or<And<Key, Admin>, IsAuthenticated>>| open()),
                    )
                    .route(
                        "/handler/admin",
                        web::get().to(|_: Permitted<And<Key, Admin>>| open()),
                    ),
            )
            .await;
            // (key, login, admin flag) -> status for each guard; 401 becomes
            // 403 in the DRF-compatible mode.
            let (ok, unauth, forbidden) = (200, 401, 403);
            #[rustfmt::skip]
            let table: &[(&str, Option<&str>, bool, bool, u16)] = &[
                // key | IsAuthenticated
                ("either", None, false, false, unauth),
                ("either", None, true, false, ok),
                ("either", Some("revoked"), false, false, unauth),
                ("either", Some("revoked"), true, false, ok),
                ("either", Some("valid"), false, false, ok),
                ("either", Some("valid"), true, false, ok),
                // (key & is_admin) | IsAuthenticated
                ("admin-or-user", None, false, false, unauth),
                ("admin-or-user", None, false, true, unauth),
                ("admin-or-user", None, true, false, ok),
                ("admin-or-user", Some("revoked"), false, true, unauth),
                ("admin-or-user", Some("revoked"), true, false, ok),
                ("admin-or-user", Some("valid"), false, false, forbidden),
                ("admin-or-user", Some("valid"), false, true, ok),
                ("admin-or-user", Some("valid"), true, false, ok),
                ("admin-or-user", Some("valid"), true, true, ok),
                // key & is_admin
                ("admin", None, false, true, unauth),
                ("admin", None, true, true, unauth),
                ("admin", Some("revoked"), false, true, unauth),
                ("admin", Some("valid"), false, false, forbidden),
                ("admin", Some("valid"), true, false, forbidden),
                ("admin", Some("valid"), false, true, ok),
            ];
            for &(guard, key, user, is_admin, want) in table {
                for kind in ["scope", "handler"] {
                    let mut req = atest::TestRequest::get().uri(&format!("/{kind}/{guard}"));
                    match key {
                        Some("valid") => {
                            req =
                                req.insert_header(("authorization", format!("Api-Key {}", f.valid)))
                        }
                        Some(_) => {
                            req = req
                                .insert_header(("authorization", format!("Api-Key {}", f.revoked)))
                        }
                        None => {}
                    }
                    if user {
                        req = req.insert_header(("x-user", "alice"));
                    }
                    if is_admin {
                        req = req.insert_header(("x-admin", "1"));
                    }
                    let res = atest::call_service(&app, req.to_request()).await;
                    let want = if drf && want == unauth {
                        forbidden
                    } else {
                        want
                    };
                    assert_eq!(
                        res.status().as_u16(),
                        want,
                        "{kind} {guard} key={key:?} user={user} admin={is_admin} drf={drf}"
                    );
                    if res.status() == StatusCode::UNAUTHORIZED {
                        assert!(res.headers().contains_key("www-authenticate"));
                    }
                }
            }
        }
    });
}

/// A permission with a setting and no `Default`: the query string must be
/// this text.
struct QueryIs(&'static str);

impl apikey_actix::Permission for QueryIs {
    fn check(&self, req: &HttpRequest) -> apikey_actix::PermissionFuture {
        let ok = req.query_string() == self.0;
        Box::pin(async move {
            if ok {
                Ok(())
            } else {
                Err(Denial::Forbidden)
            }
        })
    }
}

/// A custom permission: only keys whose name starts with "valid".
struct NamedValid;

impl apikey_actix::Permission for NamedValid {
    fn check(&self, req: &HttpRequest) -> apikey_actix::PermissionFuture {
        let key = HasApiKey::<ApiKey>::permission().check(req);
        let req = req.clone();
        Box::pin(async move {
            key.await?;
            // The key permission left the verified model in the request.
            let ok = <HasApiKey<ApiKey> as actix_web::FromRequest>::extract(&req)
                .await
                .map(|k| k.name().starts_with("valid"))
                .unwrap_or(false);
            if ok {
                Ok(())
            } else {
                Err(Denial::Forbidden)
            }
        })
    }
}

fn custom_permission(db: &TestDb) {
    let f = fixture(db);
    run(async move {
        let app = atest::init_service(
            App::new().app_data(web::Data::new(f.keys.clone())).service(
                web::scope("/named")
                    .wrap(RequirePermission::new(NamedValid))
                    .route("", web::get().to(protected)),
            ),
        )
        .await;
        let req = |k: &str| {
            atest::TestRequest::get()
                .uri("/named")
                .insert_header(("authorization", format!("Api-Key {k}")))
                .to_request()
        };
        assert_eq!(
            atest::call_service(&app, req(&f.valid)).await.status(),
            StatusCode::OK
        );
        assert_eq!(
            atest::call_service(&app, req(&f.tomorrow)).await.status(),
            StatusCode::FORBIDDEN
        );
        assert_eq!(
            atest::call_service(&app, req("abcd")).await.status(),
            StatusCode::UNAUTHORIZED
        );
    });
}

/// `Not` grants exactly what its inner permission refuses (403 otherwise);
/// `!p` is the same.
fn negation(db: &TestDb) {
    let f = fixture(db);
    run(async move {
        let app = atest::init_service(
            App::new()
                .app_data(web::Data::new(f.keys.clone()))
                .service(
                    web::scope("/not-key")
                        .wrap(RequirePermission::new(Not(
                            HasApiKey::<ApiKey>::permission(),
                        )))
                        .route("", web::get().to(HttpResponse::Ok)),
                )
                .service(
                    web::scope("/not-any")
                        .wrap(RequirePermission::new(Not(AllowAny)))
                        .route("", web::get().to(HttpResponse::Ok)),
                )
                .service(
                    web::scope("/not-query")
                        .wrap(RequirePermission::new(!FnPermission(|r: &HttpRequest| {
                            r.query_string() == "x"
                        })))
                        .route("", web::get().to(HttpResponse::Ok)),
                ),
        )
        .await;
        let call = |uri: &str, key: Option<&str>| {
            let mut req = atest::TestRequest::get().uri(uri);
            if let Some(k) = key {
                req = req.insert_header(("authorization", format!("Api-Key {k}")));
            }
            req.to_request()
        };
        for (uri, key, want) in [
            ("/not-key", Some(f.valid.as_str()), StatusCode::FORBIDDEN),
            ("/not-key", None, StatusCode::OK),
            ("/not-key", Some(f.revoked.as_str()), StatusCode::OK),
            ("/not-any", None, StatusCode::FORBIDDEN),
            ("/not-any", Some(f.valid.as_str()), StatusCode::FORBIDDEN),
            ("/not-query?x", None, StatusCode::FORBIDDEN),
            ("/not-query?y", None, StatusCode::OK),
        ] {
            let got = atest::call_service(&app, call(uri, key)).await.status();
            assert_eq!(got, want, "{uri} with key {}", key.is_some());
        }
    });
}

#[test]
fn missing_manager_is_a_server_error() {
    run(async move {
        let app =
            atest::init_service(App::new().route("/protected", web::get().to(protected))).await;
        let req = atest::TestRequest::get()
            .uri("/protected")
            .insert_header(("authorization", "Api-Key abcdefgh.x"))
            .to_request();
        assert_eq!(
            atest::call_service(&app, req).await.status(),
            StatusCode::INTERNAL_SERVER_ERROR
        );
    });
}

/// `register` installs the manager and the configuration together;
/// `run_async` runs the handler's own query with the guards' error mapping.
fn register_and_run_async(db: &TestDb) {
    let f = fixture(db);
    run(async move {
        async fn count(
            _key: HasApiKey<ApiKey>,
            keys: web::Data<BaseApiKeyManager<ApiKey>>,
        ) -> actix_web::Result<HttpResponse> {
            let n: i64 = apikey_actix::run_async(keys.database(), |conn| {
                use diesel::prelude::*;
                apikey_core::schema::api_keys::table
                    .count()
                    .get_result(conn)
            })
            .await?;
            Ok(HttpResponse::Ok().body(n.to_string()))
        }
        async fn broken(keys: web::Data<BaseApiKeyManager<ApiKey>>) -> actix_web::Result<String> {
            apikey_actix::run_async(keys.database(), |conn| {
                diesel::connection::SimpleConnection::batch_execute(
                    conn,
                    "SELECT * FROM no_such_table",
                )
            })
            .await?;
            Ok("unreachable".into())
        }
        let app = atest::init_service(
            App::new()
                .configure(apikey_actix::register(
                    f.keys.clone(),
                    ApiKeyConfig::default().header("X-Api-Key"),
                ))
                .route("/count", web::get().to(count))
                .route("/broken", web::get().to(broken)),
        )
        .await;
        // The configuration came along: the key is read from X-Api-Key.
        let req = atest::TestRequest::get()
            .uri("/count")
            .insert_header(("x-api-key", f.valid.as_str()))
            .to_request();
        let res = atest::call_service(&app, req).await;
        assert_eq!(res.status(), StatusCode::OK);
        assert_eq!(atest::read_body(res).await, "4");
        let req = atest::TestRequest::get()
            .uri("/count")
            .insert_header(("authorization", format!("Api-Key {}", f.valid)))
            .to_request();
        assert_eq!(
            atest::call_service(&app, req).await.status(),
            StatusCode::UNAUTHORIZED
        );
        // A failing query of the application's own: 500, JSON.
        let res =
            atest::call_service(&app, atest::TestRequest::get().uri("/broken").to_request()).await;
        assert_eq!(res.status(), StatusCode::INTERNAL_SERVER_ERROR);
        let body: serde_json::Value = atest::read_body_json(res).await;
        assert_eq!(body["detail"], "Internal server error.");
    });
}

#[test]
fn run_async_on_an_unreachable_database_is_503() {
    run(async {
        let db = apikey_core::Database::connect_lazy_with(
            "postgres://postgres@127.0.0.1:1/none",
            apikey_core::DatabaseConfig::default()
                .connection_timeout(std::time::Duration::from_millis(200)),
        )
        .expect("lazy");
        let err = apikey_actix::run_async(&db, |_conn| Ok(1))
            .await
            .expect_err("no database");
        assert_eq!(err.denial(), Denial::Unavailable);
        let res = actix_web::ResponseError::error_response(&err);
        assert_eq!(res.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert!(res.headers().contains_key("retry-after"));
    });
}

fn cached_keys(db: &TestDb) {
    let f = fixture(db);
    let keys = f
        .keys
        .clone()
        .with_cache(std::time::Duration::from_secs(60), 100);
    let revoke_raw = format!(
        "UPDATE api_keys SET revoked = true WHERE prefix = '{}'",
        &f.valid[..8]
    );
    run(async move {
        let app = service!(keys, ApiKeyConfig::default());
        assert!(
            keys.settle_cache(std::time::Duration::from_secs(5)),
            "feed up"
        );
        let auth = vec![("authorization", hv(&format!("Api-Key {}", f.valid)))];
        assert_eq!(status_with(&app, &auth).await, StatusCode::OK);
        assert!(
            keys.get_cached(&f.valid).is_some(),
            "the guard filled the cache"
        );
        // Revoked behind the manager's back (raw SQL on another connection):
        // the change feed makes the guard refuse it.
        db.raw_sql(&revoke_raw).expect("raw revoke");
        assert!(keys.settle_cache(std::time::Duration::from_secs(5)));
        assert_eq!(status_with(&app, &auth).await, StatusCode::UNAUTHORIZED);
        // Revoked through the same manager: refused at once.
        let ok = vec![("authorization", hv(&format!("Api-Key {}", f.tomorrow)))];
        assert_eq!(status_with(&app, &ok).await, StatusCode::OK);
        assert!(keys.get_cached(&f.tomorrow).is_some());
        keys.revoke(&f.tomorrow[..8]).expect("revoke");
        assert_eq!(status_with(&app, &ok).await, StatusCode::UNAUTHORIZED);
        // Wrong secrets are never served from the cache.
        let wrong = vec![(
            "authorization",
            hv(&format!("Api-Key {}.{}", &f.tomorrow[..8], "z".repeat(32))),
        )];
        assert_eq!(status_with(&app, &wrong).await, StatusCode::UNAUTHORIZED);
    });
}

async fn twice(a: HasApiKey<ApiKey>, b: HasApiKey<ApiKey>) -> HttpResponse {
    HttpResponse::Ok().body(format!("{} {}", a.prefix(), b.prefix()))
}

/// The handler's extractor takes the key a permission verified out of the
/// request; a second extractor in the same handler looks it up again and
/// gets the same key. A manager registered without `web::Data` works on
/// the database path too (the extractor then owns a copy of it).
fn extractors_after_a_permission(db: &TestDb) {
    let f = fixture(db);
    run(async move {
        let app = atest::init_service(
            App::new()
                .app_data(f.keys.clone())
                .service(
                    web::scope("/guarded")
                        .wrap(RequirePermission::new(HasApiKey::<ApiKey>::permission()))
                        .route("", web::get().to(twice)),
                )
                .route("/open", web::get().to(twice)),
        )
        .await;
        for uri in ["/guarded", "/open"] {
            for key in [&f.valid, &f.tomorrow] {
                let req = atest::TestRequest::get()
                    .uri(uri)
                    .insert_header(("Authorization", format!("Api-Key {key}")))
                    .to_request();
                let res = atest::call_service(&app, req).await;
                assert_eq!(res.status(), StatusCode::OK, "{uri}");
                let body = atest::read_body(res).await;
                assert_eq!(body, format!("{0} {0}", &key[..8]).as_bytes(), "{uri}");
            }
            for key in [&f.revoked, &f.expired] {
                let req = atest::TestRequest::get()
                    .uri(uri)
                    .insert_header(("Authorization", format!("Api-Key {key}")))
                    .to_request();
                let res = atest::call_service(&app, req).await;
                assert_eq!(res.status(), StatusCode::UNAUTHORIZED, "{uri}");
            }
        }
    });
}

backend_tests!(
    reference_matrix,
    custom_header_and_keyword,
    first_of_sources,
    hostile_headers,
    drf_compatible_and_custom_body,
    custom_parser_and_per_scope_config,
    combinations,
    readme_permission_examples,
    custom_permission,
    negation,
    register_and_run_async,
    cached_keys,
    extractors_after_a_permission,
);

#[test]
fn unreachable_store_is_503_not_401() {
    run(async {
        let db = apikey_core::Database::connect_lazy_with(
            "postgres://postgres@127.0.0.1:1/none",
            apikey_core::DatabaseConfig::default()
                .connection_timeout(std::time::Duration::from_millis(200)),
        )
        .expect("lazy");
        let keys = BaseApiKeyManager::<ApiKey>::new(db);
        let app = service!(keys, ApiKeyConfig::default().drf_compatible(true));
        // A key of the generator's shape (a malformed one is refused before
        // the store is asked).
        let key = format!(
            "Api-Key abcdefgh.{}",
            "0123456789ab".repeat(3)[..32].to_owned()
        );
        let h = vec![("authorization", hv(&key))];
        let res = atest::call_service(
            &app,
            atest::TestRequest::get()
                .uri("/protected")
                .insert_header(("authorization", key.as_str()))
                .to_request(),
        )
        .await;
        assert_eq!(res.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert!(res.headers().contains_key("retry-after"));
        // The same again through the shared helper: still unavailable.
        assert_eq!(status_with(&app, &h).await, StatusCode::SERVICE_UNAVAILABLE);
        // No key: still 401/403 without touching the store.
        assert_eq!(status_with(&app, &[]).await, StatusCode::FORBIDDEN);
    });
}
