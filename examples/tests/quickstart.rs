//! The quickstart binary, run as a user runs it, probed over real HTTP
//! (a plain TCP client, so malformed requests reach the server as sent).

use std::process::Command;
use std::time::Duration;

use apikey_core::{ApiKey, BaseApiKeyManager, BrandedKeyGenerator, NewKey};
use apikey_tests::server::{http_get, http_raw as raw, is_key, spawn_server, Spawned};
use apikey_tests::TestDb;

struct Server {
    srv: Spawned,
    addr: String,
    key: String,
}

fn start(url: &str, dir: &std::path::Path) -> Server {
    start_with(url, dir, &[])
}

fn start_with(url: &str, dir: &std::path::Path, env: &[(&str, &str)]) -> Server {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_quickstart"));
    cmd.env("DATABASE_URL", url).current_dir(dir);
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut srv = spawn_server(cmd);
    // Its last line either way: the key was made, or there were keys.
    srv.read_stdout_until(|l| l.starts_with("(prefix ") || l.starts_with("Then: curl"));
    let key = srv
        .stdout
        .iter()
        .map(|l| l.trim())
        .find(|t| is_key(t) || apikey_core::branded::is_branded_key(t))
        .unwrap_or_default()
        .to_owned();
    Server {
        addr: srv.addr.clone(),
        key,
        srv,
    }
}

fn get(addr: &str, headers: &[&str]) -> (u16, String) {
    http_get(addr, "/protected", headers)
}

fn quickstart_over_http(db: &TestDb) {
    let dir = tempfile::tempdir().expect("tmp");
    let srv = start(&db.url, dir.path());
    assert!(!srv.key.is_empty(), "no demo key printed");
    let (status, body) = raw(
        &srv.addr,
        b"GET / HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n",
    );
    assert_eq!(status, 200, "{body}");

    let (status, body) = get(&srv.addr, &[&format!("Authorization: Api-Key {}", srv.key)]);
    assert_eq!(status, 200, "{body}");
    assert!(
        body.contains("\"prefix\":\"") && body.contains(&srv.key[..8]),
        "{body}"
    );
    assert!(!body.contains(&srv.key[9..]), "secret echoed: {body}");

    // The other forms the quickstart reads, and what they must refuse.
    for h in [
        format!("X-Api-Key: {}", srv.key),
        format!("Authorization: Bearer {}", srv.key),
        format!("Authorization: bearer {}", srv.key),
        format!("Authorization: api-key {}", srv.key),
    ] {
        assert_eq!(get(&srv.addr, &[&h]).0, 200, "{h:.24}");
    }
    for h in [
        "X-Api-Key: abcd".to_owned(),
        "X-Api-Key: ".to_owned(),
        format!("X-Api-Key: Api-Key {}", srv.key),
        format!("Authorization: X-Key {}", srv.key),
        format!("Authorization: Api-Key:{}", srv.key),
        format!("Authorization: Token {}", srv.key),
        format!("Authorization: Api-Key  {}", srv.key),
        format!("Authorization: Api-Key {}", srv.key.to_uppercase()),
        format!("Authorization: Api-Key {}", &srv.key[1..]),
    ] {
        assert_eq!(get(&srv.addr, &[&h]).0, 401, "{h:.24}");
    }

    let (status, body) = get(&srv.addr, &[]);
    assert_eq!(status, 401);
    assert!(
        body.to_ascii_lowercase()
            .contains("www-authenticate: api-key"),
        "{body}"
    );

    // Non-UTF-8 bytes in the header.
    let mut req =
        b"GET /protected HTTP/1.1\r\nHost: t\r\nConnection: close\r\nAuthorization: Api-Key "
            .to_vec();
    req.extend_from_slice(b"\xff\xfe\x80.\xc3\x28\r\n\r\n");
    assert_eq!(raw(&srv.addr, &req).0, 401);

    // Two Authorization headers.
    let two = format!("Authorization: Api-Key {}", srv.key);
    assert_eq!(get(&srv.addr, &[&two, &two]).0, 401);

    // A 64 KiB header: refused by the HTTP layer or as a bad key, never 2xx/5xx.
    let huge = format!("Authorization: Api-Key {}", "a".repeat(64 * 1024));
    let (status, _) = get(&srv.addr, &[&huge]);
    assert!((400..500).contains(&status), "64 KiB header gave {status}");

    // Garbage request lines do not kill the server.
    let _ = raw(&srv.addr, b"\x00\x01\x02 garbage\r\n\r\n");
    assert_eq!(
        get(&srv.addr, &[&format!("Authorization: Api-Key {}", srv.key)]).0,
        200
    );
}

#[test]
fn sqlite_quickstart_over_http() {
    quickstart_over_http(&TestDb::sqlite());
}

#[test]
fn postgres_quickstart_over_http() {
    quickstart_over_http(&TestDb::postgres());
}

/// Branded keys (the demo key with APIKEY_BRAND, and another brand's) and
/// plain keys on one quickstart; a corrupted branded key is 401.
#[test]
fn branded_and_plain_keys_on_one_quickstart() {
    let db = TestDb::sqlite();
    let dir = tempfile::tempdir().expect("tmp");
    let srv = start_with(&db.url, dir.path(), &[("APIKEY_BRAND", "acme")]);
    assert!(srv.key.starts_with("acme_"), "{:?}", srv.srv.stdout);
    let auth = |key: &str| format!("Authorization: Api-Key {key}");
    let (status, body) = get(&srv.addr, &[&auth(&srv.key)]);
    assert_eq!(status, 200, "{body}");
    assert!(
        body.contains(apikey_core::key::split_prefix(&srv.key)),
        "{body}"
    );

    let keys: BaseApiKeyManager<ApiKey> = BaseApiKeyManager::new(db.database()).without_cache();
    let (_, plain) = keys.create_key(NewKey::new("plain")).expect("create");
    let (_, other) = keys
        .clone()
        .with_generator(BrandedKeyGenerator::new("other").expect("brand"))
        .create_key(NewKey::new("other brand"))
        .expect("create");
    // Created by another process: served once the server's change feed has
    // seen the insert (milliseconds).
    for key in [plain.expose_secret(), other.expose_secret()] {
        let mut tries = 0;
        while get(&srv.addr, &[&auth(key)]).0 != 200 {
            tries += 1;
            assert!(tries < 100, "a key of another process is never served");
            std::thread::sleep(Duration::from_millis(50));
        }
    }
    let mut corrupted = srv.key.clone();
    let last = corrupted.pop().expect("a character");
    corrupted.push(if last == 'A' { 'B' } else { 'A' });
    assert_eq!(get(&srv.addr, &[&auth(&corrupted)]).0, 401);
    let rebranded = srv.key.replacen("acme_", "acne_", 1);
    assert_eq!(get(&srv.addr, &[&auth(&rebranded)]).0, 401);
    // Still served after the refusals.
    assert_eq!(get(&srv.addr, &[&auth(&srv.key)]).0, 200);
}

/// `GET /billing` needs `billing:read`: the demo key (no scope) is 403
/// naming the scope, a key with it (or `billing:*`) 200, none or a bad one 401.
fn billing_needs_its_scope(db: &TestDb) {
    let dir = tempfile::tempdir().expect("tmp");
    let srv = start(&db.url, dir.path());
    assert!(
        srv.srv
            .stdout
            .iter()
            .any(|l| l.contains("create --name billing --scope billing:read")),
        "the startup text shows how: {:?}",
        srv.srv.stdout
    );
    let billing = |key: Option<&str>| {
        let auth = key.map(|k| format!("Authorization: Api-Key {k}"));
        let headers: Vec<&str> = auth.iter().map(String::as_str).collect();
        http_get(&srv.addr, "/billing", &headers)
    };
    let (status, body) = billing(Some(&srv.key));
    assert_eq!(status, 403, "{body}");
    assert!(body.contains("billing:read"), "{body}");
    assert_eq!(billing(None).0, 401);
    assert_eq!(billing(Some(&format!("{}x", &srv.key[..40]))).0, 401);

    let keys: BaseApiKeyManager<ApiKey> = BaseApiKeyManager::new(db.database()).without_cache();
    for granted in [["billing:read"], ["billing:*"]] {
        let (_, key) = keys
            .create_key(
                NewKey::new("billing").scopes(apikey_core::Scopes::parse(granted).expect("valid")),
            )
            .expect("create");
        // Another process's key: served once the feed has seen the insert.
        let mut tries = 0;
        loop {
            let (status, body) = billing(Some(key.expose_secret()));
            if status == 200 {
                assert!(body.contains(granted[0]), "{body}");
                break;
            }
            assert_eq!(status, 401, "{body}");
            tries += 1;
            assert!(tries < 100, "never served");
            std::thread::sleep(Duration::from_millis(50));
        }
    }
    let (_, other) = keys
        .create_key(
            NewKey::new("reports")
                .scopes(apikey_core::Scopes::parse(["reports:read"]).expect("valid")),
        )
        .expect("create");
    let mut tries = 0;
    while billing(Some(other.expose_secret())).0 == 401 {
        tries += 1;
        assert!(tries < 100, "never seen");
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(billing(Some(other.expose_secret())).0, 403);
}

/// A request with a key shows as its last use (`apikey list --json`)
/// within about a second; a refused one does not.
fn last_use_appears_after_a_request(db: &TestDb) {
    let dir = tempfile::tempdir().expect("tmp");
    let srv = start(&db.url, dir.path());
    let keys: BaseApiKeyManager<ApiKey> = BaseApiKeyManager::new(db.database()).without_cache();
    let last_used = || {
        keys.list(&apikey_core::KeyFilter::default())
            .expect("list")
            .iter()
            .find(|k| srv.key.starts_with(&k.prefix))
            .expect("the demo key")
            .last_used_at
    };
    assert_eq!(last_used(), None);
    // The last character changed (to another one: a key may end in `x`).
    let last = if srv.key.ends_with('x') { 'y' } else { 'x' };
    let wrong = format!("{}{last}", &srv.key[..srv.key.len() - 1]);
    assert_eq!(
        get(&srv.addr, &[&format!("Authorization: Api-Key {wrong}")]).0,
        401
    );
    std::thread::sleep(Duration::from_millis(1500));
    assert_eq!(last_used(), None, "a refused key is not a use");

    let before = apikey_core::now();
    assert_eq!(
        get(&srv.addr, &[&format!("Authorization: Api-Key {}", srv.key)]).0,
        200
    );
    let mut tries = 0;
    let at = loop {
        if let Some(at) = last_used() {
            break at;
        }
        tries += 1;
        assert!(tries < 200, "the use never reached the table");
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(
        at + chrono::Duration::milliseconds(1) >= before,
        "{before} {at}"
    );
}

#[test]
fn sqlite_last_use_appears_after_a_request() {
    last_use_appears_after_a_request(&TestDb::sqlite());
}

#[test]
fn postgres_last_use_appears_after_a_request() {
    last_use_appears_after_a_request(&TestDb::postgres());
}

#[test]
fn sqlite_billing_needs_its_scope() {
    billing_needs_its_scope(&TestDb::sqlite());
}

#[test]
fn postgres_billing_needs_its_scope() {
    billing_needs_its_scope(&TestDb::postgres());
}

#[test]
fn second_start_keeps_keys_and_prints_no_key() {
    let db = TestDb::sqlite();
    let dir = tempfile::tempdir().expect("tmp");
    let first = start(&db.url, dir.path());
    let key = first.key.clone();
    drop(first);
    let second = start(&db.url, dir.path());
    // What it prints instead of a key, then no key anywhere.
    let out = &second.srv.stdout;
    assert!(
        out.iter()
            .any(|l| l.contains("already has keys; no demo key was created")),
        "{out:?}"
    );
    assert!(
        second.key.is_empty(),
        "a second demo key was printed: {out:?}"
    );
    assert!(!out.iter().any(|l| l.contains(&key[9..])), "{out:?}");
    assert_eq!(
        get(&second.addr, &[&format!("Authorization: Api-Key {key}")]).0,
        200
    );
}

/// A PostgreSQL cluster of its own, stopped and started again mid-run.
#[test]
fn postgres_outage_is_503_then_recovers() {
    // Its own cluster, but only where the PostgreSQL tests are meant to run.
    apikey_tests::pg_server_url();
    let root = tempfile::tempdir().expect("tmp");
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/../scripts/pg.sh");
    let pg = |cmd: &str| {
        let out = Command::new("bash")
            .arg(script)
            .arg(cmd)
            .env("APIKEY_PG_ROOT", root.path().join("pg"))
            .output()
            .expect("pg.sh");
        assert!(
            out.status.success(),
            "pg.sh {cmd}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let env = pg("start");
    let url = env.trim().trim_start_matches("DATABASE_URL=").to_owned();
    struct Stop<F: Fn()>(F);
    impl<F: Fn()> Drop for Stop<F> {
        fn drop(&mut self) {
            (self.0)();
        }
    }
    let _stop = Stop(|| {
        let _ = pg("stop");
    });

    let dir = tempfile::tempdir().expect("tmp");
    let srv = start(&url, dir.path());
    let auth = format!("Authorization: Api-Key {}", srv.key);
    assert_eq!(get(&srv.addr, &[&auth]).0, 200);

    pg("pause");
    for _ in 0..3 {
        let (status, body) = get(&srv.addr, &[&auth]);
        assert_eq!(status, 503, "{body}");
        assert!(body.contains("unavailable"), "{body}");
    }
    // No key is still 401: the store is not needed to refuse it.
    assert_eq!(get(&srv.addr, &[]).0, 401);

    pg("resume");
    // `pg.sh resume` returns once the server accepts connections: from then
    // on no request sees 503, although every pooled connection is stale
    // (each is pinged before use after being idle, and replaced).
    for _ in 0..5 {
        let (status, body) = get(&srv.addr, &[&auth]);
        assert_eq!(status, 200, "after the restart: {body}");
    }
    // And it stays served.
    for _ in 0..5 {
        assert_eq!(get(&srv.addr, &[&auth]).0, 200);
    }
}

/// A weak admin password stops the quickstart before it serves anything,
/// with the reason; the password itself is not printed.
#[test]
fn weak_admin_password_refuses_to_start() {
    let db = TestDb::sqlite();
    let dir = tempfile::tempdir().expect("tmp");
    let out = Command::new(env!("CARGO_BIN_EXE_quickstart"))
        .env("DATABASE_URL", &db.url)
        .env("BIND", "127.0.0.1:0")
        .env("APIKEY_ADMIN_USER", "admin")
        .env("APIKEY_ADMIN_PASSWORD", "pa55w0rd")
        .current_dir(dir.path())
        .output()
        .expect("run the quickstart");
    assert!(!out.status.success(), "it started");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("at least 12"), "{stderr}");
    assert!(!stderr.contains("pa55w0rd"), "{stderr}");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(!stdout.contains("curl"), "it printed a key: {stdout}");
}
