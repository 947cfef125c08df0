//! Rate limits and quotas on the quickstart binary, over real HTTP: a
//! burst against one instance; two instances sharing one Redis
//! (`APIKEY_REDIS_URL`) allow the limit once, two without it twice; a key
//! with a number of uses.

use std::process::Command;

use apikey_core::{ApiKey, BaseApiKeyManager, NewKey, RateLimit};
use apikey_tests::redis::RedisServer;
use apikey_tests::server::{http_get, spawn_server, Spawned};
use apikey_tests::TestDb;

fn quickstart(db: &TestDb, dir: &std::path::Path, env: &[(&str, &str)]) -> Spawned {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_quickstart"));
    cmd.env("DATABASE_URL", &db.url)
        .env_remove("APIKEY_REDIS_URL")
        .env_remove("APIKEY_RATE_LIMIT")
        .current_dir(dir);
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut srv = spawn_server(cmd);
    srv.read_stdout_until(|l| l.starts_with("(prefix ") || l.starts_with("Then: curl"));
    srv
}

/// A key made before any server starts (so every server knows it from its
/// first request).
fn key(db: &TestDb, rate: Option<&str>, uses: Option<i64>) -> String {
    let keys: BaseApiKeyManager<ApiKey> = BaseApiKeyManager::new(db.database()).without_cache();
    let rate = rate.map(|r| r.parse::<RateLimit>().expect("valid"));
    let (_, key) = keys
        .create_key(NewKey::new("limited").rate_limit(rate).uses(uses))
        .expect("create");
    key.expose_secret().to_owned()
}

fn protected(addr: &str, key: &str) -> (u16, String) {
    http_get(
        addr,
        "/protected",
        &[&format!("Authorization: Api-Key {key}")],
    )
}

fn header<'a>(response: &'a str, name: &str) -> Option<&'a str> {
    response.lines().find_map(|l| {
        let (n, v) = l.split_once(':')?;
        n.eq_ignore_ascii_case(name).then(|| v.trim())
    })
}

#[test]
fn burst_against_one_quickstart() {
    let db = TestDb::sqlite();
    let key = key(&db, Some("5/min"), None);
    let dir = tempfile::tempdir().expect("tmp");
    let srv = quickstart(&db, dir.path(), &[]);
    let answers: Vec<(u16, String)> = (0..8).map(|_| protected(&srv.addr, &key)).collect();
    let statuses: Vec<u16> = answers.iter().map(|a| a.0).collect();
    assert_eq!(statuses, [200, 200, 200, 200, 200, 429, 429, 429]);
    let first = &answers[0].1;
    assert_eq!(header(first, "ratelimit-limit"), Some("5"), "{first}");
    assert_eq!(header(first, "ratelimit-remaining"), Some("4"), "{first}");
    assert!(header(first, "ratelimit-reset").is_some(), "{first}");
    let refused = &answers[5].1;
    assert!(header(refused, "retry-after").is_some(), "{refused}");
    assert_eq!(
        header(refused, "ratelimit-remaining"),
        Some("0"),
        "{refused}"
    );
    assert!(
        refused.contains(r#"{"detail":"Request rate limit exceeded for this API key."}"#),
        "{refused}"
    );
}

/// 12 requests in turn over two servers against 6/min.
fn passed_over_two(db: &TestDb, env: &[(&str, &str)]) -> usize {
    let key = key(db, Some("6/min"), None);
    let dir = tempfile::tempdir().expect("tmp");
    let a = quickstart(db, dir.path(), env);
    let b = quickstart(db, dir.path(), env);
    (0..12)
        .map(|i| protected(if i % 2 == 0 { &a.addr } else { &b.addr }, &key).0)
        .inspect(|s| assert!(*s == 200 || *s == 429, "status {s}"))
        .filter(|s| *s == 200)
        .count()
}

#[test]
fn two_quickstarts_sharing_redis_allow_the_limit_once() {
    let redis = RedisServer::start();
    let db = TestDb::sqlite();
    assert_eq!(passed_over_two(&db, &[("APIKEY_REDIS_URL", &redis.url)]), 6);
    // Without Redis each counts alone: twice the limit.
    let db = TestDb::sqlite();
    assert_eq!(passed_over_two(&db, &[]), 12);
}

#[test]
fn a_key_with_uses() {
    let db = TestDb::sqlite();
    let key = key(&db, None, Some(3));
    let dir = tempfile::tempdir().expect("tmp");
    let srv = quickstart(&db, dir.path(), &[]);
    let answers: Vec<(u16, String)> = (0..5).map(|_| protected(&srv.addr, &key)).collect();
    let statuses: Vec<u16> = answers.iter().map(|a| a.0).collect();
    assert_eq!(statuses, [200, 200, 200, 403, 403]);
    assert!(
        answers[3]
            .1
            .contains(r#"{"detail":"This API key has no uses left."}"#),
        "{}",
        answers[3].1
    );
}
