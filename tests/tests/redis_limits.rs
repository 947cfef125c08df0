//! `KeyLimits::redis` against a real `redis-server` that each test starts
//! on a free port and stops (`apikey_tests::redis`): bursts exact on one
//! server; two servers sharing one Redis allow the limit once, not twice
//! (in turn and all at once); a refused key consumes nothing; Redis
//! stopped mid-run lets requests through (the default, with a log line) or
//! refuses them with 503, as configured, and limits again once it is back.

use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use actix_web::dev::{Service, ServiceResponse};
use actix_web::test as atest;
use actix_web::{web, App, HttpResponse};
use apikey_actix::{HasApiKey, KeyLimits, RedisStore, WhenUnavailable};
use apikey_core::{AbstractApiKey, ApiKey, BaseApiKeyManager, NewKey, RateLimit};
use apikey_tests::redis::RedisServer;
use apikey_tests::TestDb;

/// Every log line of this test binary, for the tests that expect one.
struct Capture(Mutex<Vec<String>>);

impl log::Log for Capture {
    fn enabled(&self, _: &log::Metadata<'_>) -> bool {
        true
    }
    fn log(&self, record: &log::Record<'_>) {
        if let Ok(mut lines) = self.0.lock() {
            lines.push(format!("{} {}", record.level(), record.args()));
        }
    }
    fn flush(&self) {}
}

fn logs() -> &'static Capture {
    static LOGS: OnceLock<&'static Capture> = OnceLock::new();
    LOGS.get_or_init(|| {
        let capture: &'static Capture = Box::leak(Box::new(Capture(Mutex::new(Vec::new()))));
        let _ = log::set_logger(capture);
        log::set_max_level(log::LevelFilter::Warn);
        capture
    })
}

fn logged(text: &str) -> bool {
    logs()
        .0
        .lock()
        .map(|lines| lines.iter().any(|l| l.contains(text)))
        .unwrap_or(false)
}

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

/// A server of its own: its own manager (its own key cache) and its own
/// Redis connection.
fn server(db: &TestDb, redis: &RedisServer) -> (BaseApiKeyManager<ApiKey>, KeyLimits<ApiKey>) {
    let keys = BaseApiKeyManager::new(db.database());
    let store = RedisStore::new(&redis.url).expect("redis url");
    (keys, KeyLimits::redis(store))
}

/// Status, `RateLimit-Remaining` and `Retry-After` of one request.
async fn get<S, B>(app: &S, key: &str) -> (u16, Option<String>, Option<String>)
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
    (
        res.status().as_u16(),
        header("ratelimit-remaining"),
        header("retry-after"),
    )
}

/// Redis's count of connections accepted so far (`INFO stats`, on a
/// connection of its own, which it counts too).
fn connections_received(port: u16) -> u64 {
    use std::io::{Read, Write};
    let mut conn = std::net::TcpStream::connect(("127.0.0.1", port)).expect("connect");
    conn.set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    conn.write_all(b"INFO stats\r\n").expect("send");
    let mut text = String::new();
    let mut buf = [0u8; 4096];
    loop {
        let n = conn.read(&mut buf).expect("read");
        assert!(n > 0, "INFO cut short: {text}");
        text.push_str(&String::from_utf8_lossy(&buf[..n]));
        if let Some(rest) = text.split("total_connections_received:").nth(1) {
            if let Some((count, _)) = rest.split_once("\r\n") {
                return count.parse().expect("a count");
            }
        }
    }
}

#[test]
fn redis_burst_exact_on_one_server() {
    let redis = RedisServer::start();
    let db = TestDb::sqlite();
    actix_rt::System::new().block_on(async {
        let (keys, limits) = server(&db, &redis);
        let (_, key) = keys
            .create_key(NewKey::new("five").rate_limit(rate("5/min")))
            .expect("create");
        let app = atest::init_service(app(&keys, limits)).await;
        let before = connections_received(redis.port);
        let mut answers = Vec::new();
        for _ in 0..8 {
            answers.push(get(&app, key.expose_secret()).await);
        }
        // One connection for all the checks (+1: this count's own).
        let dialed = connections_received(redis.port) - before;
        assert!(
            (1..=3).contains(&dialed),
            "{dialed} connections for 8 checks"
        );
        let statuses: Vec<u16> = answers.iter().map(|a| a.0).collect();
        assert_eq!(statuses, [200, 200, 200, 200, 200, 429, 429, 429]);
        let remaining: Vec<&str> = answers
            .iter()
            .map(|a| a.1.as_deref().unwrap_or("-"))
            .collect();
        assert_eq!(remaining, ["4", "3", "2", "1", "0", "0", "0", "0"]);
        let retry: u64 = answers[5]
            .2
            .as_deref()
            .expect("Retry-After")
            .parse()
            .expect("seconds");
        assert!((1..=12).contains(&retry), "5/min: one every 12 s ({retry})");
    });
}

#[test]
fn redis_two_servers_share_one_limit() {
    let redis = RedisServer::start();
    let db = TestDb::sqlite();
    actix_rt::System::new().block_on(async {
        let (keys_a, limits_a) = server(&db, &redis);
        let (keys_b, limits_b) = server(&db, &redis);
        // Both keys before any request: a server's cache learns of a key
        // made elsewhere within milliseconds, not at once.
        let (_, key) = keys_a
            .create_key(NewKey::new("shared").rate_limit(rate("6/min")))
            .expect("create");
        let (_, burst) = keys_a
            .create_key(NewKey::new("burst").rate_limit(rate("10/h")))
            .expect("create");
        let a = atest::init_service(app(&keys_a, limits_a)).await;
        let b = atest::init_service(app(&keys_b, limits_b)).await;
        // In turn: 6 in all, not 6 each.
        let mut passed = 0;
        for i in 0..12 {
            let (status, _, _) = if i % 2 == 0 {
                get(&a, key.expose_secret()).await
            } else {
                get(&b, key.expose_secret()).await
            };
            match status {
                200 => passed += 1,
                429 => {}
                other => panic!("status {other}"),
            }
        }
        assert_eq!(passed, 6);

        // All at once: 8 clients, 5 requests each, over both servers,
        // against 10/h: exactly 10 pass.
        let secret = burst.expose_secret().to_owned();
        let clients = (0..8).map(|i| {
            let (a, b, secret) = (&a, &b, secret.clone());
            async move {
                let mut ok = 0;
                for _ in 0..5 {
                    let status = if i % 2 == 0 {
                        get(a, &secret).await.0
                    } else {
                        get(b, &secret).await.0
                    };
                    match status {
                        200 => ok += 1,
                        429 => {}
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
        assert_eq!(passed, 10);
    });
}

#[test]
fn redis_refused_keys_consume_nothing() {
    let redis = RedisServer::start();
    let db = TestDb::sqlite();
    actix_rt::System::new().block_on(async {
        let (keys, limits) = server(&db, &redis);
        let (row, key) = keys
            .create_key(NewKey::new("two").rate_limit(rate("2/h")))
            .expect("create");
        let app = atest::init_service(app(&keys, limits)).await;
        let wrong = format!("{}.{}", row.prefix(), "x".repeat(32));
        for _ in 0..5 {
            let (status, remaining, _) = get(&app, &wrong).await;
            assert_eq!((status, remaining), (401, None));
        }
        let statuses = [
            get(&app, key.expose_secret()).await.0,
            get(&app, key.expose_secret()).await.0,
            get(&app, key.expose_secret()).await.0,
        ];
        assert_eq!(statuses, [200, 200, 429]);
    });
}

#[test]
fn redis_stopped_mid_run() {
    let mut redis = RedisServer::start();
    logs();
    let db = TestDb::sqlite();
    actix_rt::System::new().block_on(async {
        let keys: BaseApiKeyManager<ApiKey> = BaseApiKeyManager::new(db.database());
        let store = |timeout| {
            RedisStore::new(&redis.url)
                .expect("redis url")
                .timeout(timeout)
        };
        let allow = KeyLimits::redis(store(Duration::from_millis(500)));
        let refuse = KeyLimits::redis(store(Duration::from_millis(500)))
            .when_unavailable(WhenUnavailable::Refuse);
        let (_, key) = keys
            .create_key(NewKey::new("limited").rate_limit(rate("3/h")))
            .expect("create");
        let allowing = atest::init_service(app(&keys, allow)).await;
        let refusing = atest::init_service(app(&keys, refuse)).await;
        let secret = key.expose_secret();
        assert_eq!(get(&allowing, secret).await.1.as_deref(), Some("2"));
        assert_eq!(get(&refusing, secret).await.1.as_deref(), Some("1"));

        redis.stop();
        // The default: through, without RateLimit fields, and logged.
        for _ in 0..5 {
            assert_eq!(get(&allowing, secret).await, (200, None, None));
        }
        assert!(logged("rate limit store unavailable"), "a log line");
        assert!(logged("request allowed"));
        // Refuse: 503, Retry-After 1.
        for _ in 0..3 {
            assert_eq!(
                get(&refusing, secret).await,
                (503, None, Some("1".to_owned()))
            );
        }
        assert!(logged("request refused"));

        // Back (empty): limited again once the store reconnects (it tries
        // again after RECONNECT_EVERY); polled, not timed.
        redis.restart();
        let start = Instant::now();
        loop {
            let (status, remaining, _) = get(&refusing, secret).await;
            if status == 200 && remaining.is_some() {
                break;
            }
            assert_eq!(status, 503);
            assert!(
                start.elapsed() < Duration::from_secs(60),
                "never reconnected"
            );
            actix_web::rt::time::sleep(Duration::from_millis(50)).await;
        }
        let mut statuses = Vec::new();
        for _ in 0..4 {
            statuses.push(get(&refusing, secret).await.0);
        }
        assert_eq!(statuses, [200, 200, 429, 429], "3/h, one used above");
    });
}
