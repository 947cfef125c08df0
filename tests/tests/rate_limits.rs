//! `KeyLimits` in process, on SQLite and PostgreSQL: bursts counted
//! exactly, the `RateLimit-*` fields on every answer, 429 with
//! `Retry-After` and a JSON detail, a default for keys without a limit,
//! refused keys that consume nothing, quotas taken exactly (also from 8
//! concurrent clients over two app instances) and refused with 403.
//!
//! The limits are per minute or per hour, so that a burst on a loaded
//! machine stays a burst: nothing here depends on timing.

use actix_web::dev::{Service, ServiceResponse};
use actix_web::test as atest;
use actix_web::{web, App, HttpResponse};
use apikey_actix::{HasApiKey, KeyLimits};
use apikey_core::{AbstractApiKey, ApiKey, BaseApiKeyManager, NewKey, RateLimit};
use apikey_tests::{backend_tests, TestDb};

fn rate(text: &str) -> Option<RateLimit> {
    Some(text.parse().expect("valid rate limit"))
}

fn app(
    keys: &BaseApiKeyManager<ApiKey>,
    limits: KeyLimits<ApiKey>,
) -> App<
    impl actix_web::dev::ServiceFactory<
        actix_web::dev::ServiceRequest,
        Config = (),
        Response = ServiceResponse<impl actix_web::body::MessageBody>,
        Error = actix_web::Error,
        InitError = (),
    >,
> {
    App::new().app_data(web::Data::new(keys.clone())).service(
        web::scope("/api").wrap(limits).route(
            "/me",
            web::get().to(|key: HasApiKey| async move {
                HttpResponse::Ok().body(key.prefix().to_owned())
            }),
        ),
    )
}

/// One answer: status, the RateLimit fields and Retry-After, the body.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Answer {
    status: u16,
    limit: Option<String>,
    remaining: Option<String>,
    reset: Option<String>,
    retry_after: Option<String>,
    /// `RateLimit-Policy` (allowed answers only).
    policy: Option<String>,
    body: String,
}

async fn get<S, B>(app: &S, key: &str) -> Answer
where
    S: Service<actix_http::Request, Response = ServiceResponse<B>, Error = actix_web::Error>,
    B: actix_web::body::MessageBody,
{
    let req = atest::TestRequest::get()
        .uri("/api/me")
        .insert_header(("Authorization", format!("Api-Key {key}")))
        .to_request();
    let res = atest::call_service(app, req).await;
    let header = |name: &str| {
        res.headers()
            .get(name)
            .map(|v| v.to_str().expect("ascii").to_owned())
    };
    let (status, limit, remaining, reset, retry_after, policy) = (
        res.status().as_u16(),
        header("ratelimit-limit"),
        header("ratelimit-remaining"),
        header("ratelimit-reset"),
        header("retry-after"),
        header("ratelimit-policy"),
    );
    let body = String::from_utf8(atest::read_body(res).await.to_vec()).expect("utf-8");
    Answer {
        status,
        limit,
        remaining,
        reset,
        retry_after,
        policy,
        body,
    }
}

fn statuses(answers: &[Answer]) -> Vec<u16> {
    answers.iter().map(|a| a.status).collect()
}

fn burst_counted_exactly(db: &TestDb) {
    actix_rt::System::new().block_on(async {
        let keys: BaseApiKeyManager<ApiKey> = BaseApiKeyManager::new(db.database());
        let (_, key) = keys
            .create_key(NewKey::new("five").rate_limit(rate("5/min")))
            .expect("create");
        let (_, other) = keys
            .create_key(NewKey::new("other").rate_limit(rate("5/min")))
            .expect("create");
        let app = atest::init_service(app(&keys, KeyLimits::in_process())).await;
        let mut answers = Vec::new();
        for _ in 0..8 {
            answers.push(get(&app, key.expose_secret()).await);
        }
        assert_eq!(statuses(&answers), [200, 200, 200, 200, 200, 429, 429, 429]);
        let remaining: Vec<_> = answers.iter().map(|a| a.remaining.as_deref()).collect();
        assert_eq!(
            remaining,
            [
                Some("4"),
                Some("3"),
                Some("2"),
                Some("1"),
                Some("0"),
                Some("0"),
                Some("0"),
                Some("0")
            ]
        );
        for a in &answers {
            assert_eq!(a.limit.as_deref(), Some("5"), "{a:?}");
            let reset: u64 = a.reset.as_deref().expect("reset").parse().expect("number");
            assert!((1..=60).contains(&reset), "{a:?}");
        }
        let refused = &answers[5];
        // 5/min: one request every 12 s after the burst.
        let retry: u64 = refused
            .retry_after
            .as_deref()
            .expect("Retry-After")
            .parse()
            .expect("seconds");
        assert!((1..=12).contains(&retry), "{refused:?}");
        let detail: serde_json::Value = serde_json::from_str(&refused.body).expect("json");
        assert_eq!(
            detail,
            serde_json::json!({"detail": "Request rate limit exceeded for this API key."})
        );
        assert_eq!(answers[0].retry_after, None, "no Retry-After when allowed");
        // The policy (N per window in seconds) on allowed answers.
        assert_eq!(answers[0].policy.as_deref(), Some("5;w=60"));
        assert_eq!(answers[4].policy.as_deref(), Some("5;w=60"));
        assert_eq!(refused.policy, None, "{refused:?}");
        // Another key has its own budget.
        assert_eq!(get(&app, other.expose_secret()).await.status, 200);
    });
}

fn refused_keys_consume_nothing(db: &TestDb) {
    actix_rt::System::new().block_on(async {
        let keys: BaseApiKeyManager<ApiKey> = BaseApiKeyManager::new(db.database());
        let (row, key) = keys
            .create_key(NewKey::new("two").rate_limit(rate("2/h")).uses(Some(10)))
            .expect("create");
        let app = atest::init_service(app(&keys, KeyLimits::in_process())).await;
        // The right prefix with a wrong secret, many times: 401, no fields.
        let wrong = format!("{}.{}", row.prefix(), "x".repeat(32));
        for _ in 0..5 {
            let a = get(&app, &wrong).await;
            assert_eq!((a.status, a.limit.as_deref()), (401, None), "{a:?}");
        }
        let answers = [
            get(&app, key.expose_secret()).await,
            get(&app, key.expose_secret()).await,
            get(&app, key.expose_secret()).await,
        ];
        assert_eq!(statuses(&answers), [200, 200, 429], "the whole budget left");
        // (A key with a quota takes the waiting path: the same fields.)
        assert_eq!(answers[0].policy.as_deref(), Some("2;w=3600"));
        // Two uses taken: the 401s and the 429 took none.
        let stored = keys
            .find_by_prefix(row.prefix())
            .expect("find")
            .expect("row");
        assert_eq!(stored.remaining_uses(), Some(8));
    });
}

fn default_rate_for_keys_without_one(db: &TestDb) {
    actix_rt::System::new().block_on(async {
        let keys: BaseApiKeyManager<ApiKey> = BaseApiKeyManager::new(db.database());
        let (_, plain) = keys.create_key(NewKey::new("plain")).expect("create");
        let (_, own) = keys
            .create_key(NewKey::new("own").rate_limit(rate("3/h")))
            .expect("create");
        // Without a default: no limit, no fields.
        let unlimited = atest::init_service(app(&keys, KeyLimits::in_process())).await;
        for _ in 0..10 {
            let a = get(&unlimited, plain.expose_secret()).await;
            assert_eq!((a.status, a.limit.as_deref()), (200, None), "{a:?}");
        }
        let limits = KeyLimits::in_process().default_rate(rate("2/h"));
        let shown = format!("{limits:?}");
        assert!(
            shown.starts_with("KeyLimits {") && shown.contains("default_rate: Some("),
            "{shown}"
        );
        let app = atest::init_service(app(&keys, limits)).await;
        let mut answers = Vec::new();
        for _ in 0..4 {
            answers.push(get(&app, plain.expose_secret()).await);
        }
        assert_eq!(statuses(&answers), [200, 200, 429, 429]);
        assert_eq!(answers[0].limit.as_deref(), Some("2"));
        assert_eq!(answers[0].policy.as_deref(), Some("2;w=3600"));
        // A key's own limit wins over the default.
        let mut answers = Vec::new();
        for _ in 0..4 {
            answers.push(get(&app, own.expose_secret()).await);
        }
        assert_eq!(statuses(&answers), [200, 200, 200, 429]);
        assert_eq!(answers[0].limit.as_deref(), Some("3"));
        assert_eq!(answers[0].policy.as_deref(), Some("3;w=3600"));
    });
}

fn quota_exhausted_is_a_distinct_refusal(db: &TestDb) {
    actix_rt::System::new().block_on(async {
        let keys: BaseApiKeyManager<ApiKey> = BaseApiKeyManager::new(db.database());
        let (row, key) = keys
            .create_key(NewKey::new("three uses").uses(Some(3)))
            .expect("create");
        let app = atest::init_service(app(&keys, KeyLimits::in_process())).await;
        let mut answers = Vec::new();
        for _ in 0..5 {
            answers.push(get(&app, key.expose_secret()).await);
        }
        assert_eq!(statuses(&answers), [200, 200, 200, 403, 403]);
        assert_eq!(answers[0].body, row.prefix(), "the handler ran");
        let detail: serde_json::Value = serde_json::from_str(&answers[3].body).expect("json");
        assert_eq!(
            detail,
            serde_json::json!({"detail": "This API key has no uses left."})
        );
        let stored = keys
            .find_by_prefix(row.prefix())
            .expect("find")
            .expect("row");
        assert_eq!(stored.remaining_uses(), Some(0), "never below zero");
        // Given more uses, it works again.
        keys.set_remaining_uses(row.prefix(), Some(1)).expect("set");
        assert_eq!(get(&app, key.expose_secret()).await.status, 200);
        assert_eq!(get(&app, key.expose_secret()).await.status, 403);
    });
}

/// 8 clients at once, over two app instances (two servers on one
/// database), 25 requests each against a quota of 100: exactly 100 pass.
fn quota_exact_under_concurrent_clients(db: &TestDb) {
    actix_rt::System::new().block_on(async {
        let keys: BaseApiKeyManager<ApiKey> = BaseApiKeyManager::new(db.database());
        let (row, key) = keys
            .create_key(NewKey::new("shared").uses(Some(100)))
            .expect("create");
        let other_server: BaseApiKeyManager<ApiKey> = BaseApiKeyManager::new(db.database());
        let a = atest::init_service(app(&keys, KeyLimits::in_process())).await;
        let b = atest::init_service(app(&other_server, KeyLimits::in_process())).await;
        let secret = key.expose_secret().to_owned();
        let clients = (0..8).map(|i| {
            let (a, b, secret) = (&a, &b, secret.clone());
            async move {
                let mut ok = 0;
                for _ in 0..25 {
                    let status = if i % 2 == 0 {
                        get(a, &secret).await.status
                    } else {
                        get(b, &secret).await.status
                    };
                    match status {
                        200 => ok += 1,
                        403 => {}
                        other => panic!("status {other}"),
                    }
                }
                ok
            }
        });
        let passed: usize = futures_util::future::join_all(clients)
            .await
            .into_iter()
            .sum();
        assert_eq!(passed, 100);
        let stored = keys
            .find_by_prefix(row.prefix())
            .expect("find")
            .expect("row");
        assert_eq!(stored.remaining_uses(), Some(0));
    });
}

/// The same budgets when every lookup waits for the database (the cache
/// off): the middleware's slower path counts exactly like its quick one.
fn limits_hold_with_the_cache_off(db: &TestDb) {
    actix_rt::System::new().block_on(async {
        let keys: BaseApiKeyManager<ApiKey> = BaseApiKeyManager::new(db.database()).without_cache();
        let (row, key) = keys
            .create_key(NewKey::new("two").rate_limit(rate("2/h")))
            .expect("create");
        let (_, plain) = keys.create_key(NewKey::new("plain")).expect("create");
        let app = atest::init_service(app(&keys, KeyLimits::in_process())).await;
        let wrong = format!("{}.{}", row.prefix(), "x".repeat(32));
        let a = get(&app, &wrong).await;
        assert_eq!((a.status, a.limit.as_deref()), (401, None), "{a:?}");
        let answers = [
            get(&app, key.expose_secret()).await,
            get(&app, key.expose_secret()).await,
            get(&app, key.expose_secret()).await,
        ];
        assert_eq!(statuses(&answers), [200, 200, 429]);
        assert_eq!(
            answers[0].body,
            row.prefix(),
            "the handler ran with the key"
        );
        assert_eq!(
            answers
                .iter()
                .map(|a| (a.limit.as_deref(), a.remaining.as_deref()))
                .collect::<Vec<_>>(),
            [
                (Some("2"), Some("1")),
                (Some("2"), Some("0")),
                (Some("2"), Some("0"))
            ]
        );
        let a = get(&app, plain.expose_secret()).await;
        assert_eq!((a.status, a.limit.as_deref()), (200, None), "{a:?}");
    });
}

/// `Authorization: Api-Key`, counting how often a guard reads it.
#[derive(Debug)]
struct CountingParser(std::sync::Arc<std::sync::atomic::AtomicUsize>);

impl apikey_actix::KeyParser for CountingParser {
    fn parse(&self, req: &actix_web::HttpRequest) -> Option<apikey_core::PlainKey> {
        self.parse_borrowed(req)
            .map(apikey_actix::parser::RequestKey::into_owned)
    }

    fn parse_borrowed<'r>(
        &self,
        req: &'r actix_web::HttpRequest,
    ) -> Option<apikey_actix::parser::RequestKey<'r>> {
        self.0.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        apikey_actix::parser::AuthorizationParser::default().parse_borrowed(req)
    }
}

/// A key `KeyLimits` refused is not read and looked up again by the
/// handler's extractor behind it (same configuration, same manager), and
/// the refusal is the extractor's own; a resource that reads keys with a
/// configuration or a key store of its own still looks them up itself.
/// Whether the refusal was known at once (the cache, an inline SQLite
/// query) or came from the database off the worker (PostgreSQL's lookups
/// of a key the cache does not know; SQLite's while its feed is late).
fn a_refusal_is_not_looked_up_twice_unless_read_otherwise(db: &TestDb) {
    use apikey_actix::ApiKeyConfig;
    use std::sync::atomic::{AtomicUsize, Ordering};
    let other_db = TestDb::of(db.kind);
    actix_rt::System::new().block_on(async {
        let keys: BaseApiKeyManager<ApiKey> = BaseApiKeyManager::new(db.database());
        let (_, key) = keys.create_key(NewKey::new("k")).expect("create");
        // A resource with a key store of its own.
        let elsewhere: BaseApiKeyManager<ApiKey> = BaseApiKeyManager::new(other_db.database());
        let (_, other_key) = elsewhere.create_key(NewKey::new("o")).expect("create");
        let reads = std::sync::Arc::new(AtomicUsize::new(0));
        let me = |key: HasApiKey| async move { HttpResponse::Ok().body(key.prefix().to_owned()) };
        let app = atest::init_service(
            App::new()
                .app_data(web::Data::new(keys.clone()))
                .app_data(ApiKeyConfig::default().parser(CountingParser(reads.clone())))
                .service(
                    web::scope("/api")
                        .wrap(KeyLimits::<ApiKey>::in_process())
                        .route("/me", web::get().to(me))
                        .service(
                            web::resource("/other")
                                .app_data(ApiKeyConfig::default().header("X-Api-Key"))
                                .route(web::get().to(me)),
                        )
                        .service(
                            web::resource("/elsewhere")
                                .app_data(web::Data::new(elsewhere.clone()))
                                .route(web::get().to(me)),
                        ),
                ),
        )
        .await;
        let call = |path: &'static str, header: Option<(&'static str, String)>| {
            let mut req = atest::TestRequest::get().uri(path);
            if let Some(h) = header {
                req = req.insert_header(h);
            }
            atest::call_service(&app, req.to_request())
        };
        let unknown = format!("Api-Key {}.{}", "Zz9Zz9Zz", "q".repeat(32));
        let cases = [
            (Some(("Authorization", unknown)), 401, "Invalid API key."),
            (None, 401, "Authentication credentials were not provided."),
        ];
        for (header, status, detail) in cases {
            let before = reads.load(Ordering::SeqCst);
            let res = call("/api/me", header).await;
            assert_eq!(res.status().as_u16(), status);
            assert_eq!(
                res.headers().get("www-authenticate").map(|v| v.as_bytes()),
                Some(&b"Api-Key"[..])
            );
            let body: serde_json::Value =
                serde_json::from_slice(&atest::read_body(res).await).expect("json");
            assert_eq!(body["detail"], detail);
            assert_eq!(reads.load(Ordering::SeqCst) - before, 1, "read once");
        }
        // The middleware (the scope's configuration) finds no key; the
        // resource's own configuration finds a valid one.
        let res = call(
            "/api/other",
            Some(("X-Api-Key", key.expose_secret().to_owned())),
        )
        .await;
        assert_eq!(res.status().as_u16(), 200);
        // The scope's key store does not know the key; the resource's does.
        let res = call(
            "/api/elsewhere",
            Some((
                "Authorization",
                format!("Api-Key {}", other_key.expose_secret()),
            )),
        )
        .await;
        assert_eq!(res.status().as_u16(), 200);
        let res = call(
            "/api/me",
            Some(("Authorization", format!("Api-Key {}", key.expose_secret()))),
        )
        .await;
        assert_eq!(res.status().as_u16(), 200);
    });
}

backend_tests!(
    a_refusal_is_not_looked_up_twice_unless_read_otherwise,
    burst_counted_exactly,
    limits_hold_with_the_cache_off,
    refused_keys_consume_nothing,
    default_rate_for_keys_without_one,
    quota_exhausted_is_a_distinct_refusal,
    quota_exact_under_concurrent_clients,
);
