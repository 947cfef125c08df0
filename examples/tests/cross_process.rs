//! Cross-process invalidation of the verification cache: a running
//! quickstart (its own process, the cache on) serves a key from its cache,
//! another process revokes the key (the `apikey` CLI) or makes it expire
//! (raw SQL), and the server must refuse it soon after and never accept it
//! again.
//!
//! Two servers run on the one database: one in the default configuration,
//! and one whose cache entries live 60 s (`APIKEY_CACHE_TTL_MS=60000`), so
//! that only the change feed (`PRAGMA data_version` on SQLite, `LISTEN` on
//! PostgreSQL) can make it refuse within the bound: on PostgreSQL the
//! default's 1 s `max_age` would hide a feed that never fires. Nothing is
//! restarted in between. The bound (5 s) is generous on purpose: this checks
//! behaviour, not speed (scripts/bench-revoke.sh measures the latency).

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use apikey_tests::server::{http_get, is_key, spawn_server, Spawned};
use apikey_tests::{backend_tests, TestDb};

/// How long a server may keep accepting a key that another process revoked.
const BOUND: Duration = Duration::from_secs(5);
/// Requests after the first refusal, all of which must be refused too.
const AFTER: usize = 20;

/// The `apikey` binary: `$APIKEY_BIN`; else the one in this build's target
/// folder (`cargo test --workspace` builds it before any test runs); else,
/// when there is none yet, `cargo build -p apikey-cli --bin apikey`.
fn apikey_bin() -> &'static Path {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        if let Some(bin) = std::env::var_os("APIKEY_BIN").filter(|b| !b.is_empty()) {
            return bin.into();
        }
        // This test runs from target/<profile>/deps/.
        let exe = std::env::current_exe().expect("the test's own path");
        if let Some(bin) = exe
            .parent()
            .and_then(Path::parent)
            .map(|dir| dir.join("apikey"))
            .filter(|bin| bin.is_file())
        {
            return bin;
        }
        let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
        let out = Command::new(cargo)
            .args([
                "build",
                "--quiet",
                "--message-format=json",
                "-p",
                "apikey-cli",
                "--bin",
                "apikey",
            ])
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .stderr(Stdio::inherit())
            .output()
            .expect("run cargo to build the apikey CLI (or set APIKEY_BIN)");
        assert!(out.status.success(), "cargo build -p apikey-cli failed");
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
            .filter(|m| m["target"]["name"] == "apikey")
            .find_map(|m| m["executable"].as_str().map(PathBuf::from))
            .expect("cargo reported no apikey executable")
    })
}

/// Runs `apikey --database-url URL args...`; its stdout (exit 0 asserted).
fn apikey(db: &TestDb, args: &[&str]) -> String {
    let out = Command::new(apikey_bin())
        .arg("--database-url")
        .arg(&db.url)
        .args(args)
        .env_remove("DATABASE_URL")
        .stdin(Stdio::null())
        .output()
        .expect("run apikey");
    assert!(
        out.status.success(),
        "apikey {args:?}: {}: {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A quickstart on `db`; `max_age_ms` tunes its cache (None: the default).
fn quickstart(db: &TestDb, dir: &Path, max_age_ms: Option<u64>) -> Spawned {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_quickstart"));
    cmd.env("DATABASE_URL", &db.url)
        .env_remove("APIKEY_CACHE")
        .env_remove("APIKEY_CACHE_TTL_MS")
        .current_dir(dir);
    if let Some(ms) = max_age_ms {
        cmd.env("APIKEY_CACHE_TTL_MS", ms.to_string());
    }
    spawn_server(cmd)
}

fn status(srv: &Spawned, key: &str) -> u16 {
    http_get(
        &srv.addr,
        "/protected",
        &[&format!("Authorization: Api-Key {key}")],
    )
    .0
}

/// Two running quickstarts on `db` (default; 60 s cache entries), both
/// serving a key made by the CLI after they started.
struct Setup {
    _dir: tempfile::TempDir,
    servers: [Spawned; 2],
    key: String,
}

fn setup(db: &TestDb) -> Setup {
    let dir = tempfile::tempdir().expect("tmp");
    // One after the other: the first start runs the migrations.
    let default = quickstart(db, dir.path(), None);
    let long_lived = quickstart(db, dir.path(), Some(60_000));
    let key = apikey(db, &["create", "--name", "cross-process"])
        .trim()
        .to_owned();
    assert!(is_key(&key), "apikey create printed no key");
    for srv in [&default, &long_lived] {
        // A miss that fills the cache, then answers from it.
        for _ in 0..3 {
            assert_eq!(status(srv, &key), 200, "{}", srv.addr);
        }
    }
    Setup {
        _dir: dir,
        servers: [default, long_lived],
        key,
    }
}

/// Polls every server until each refuses `key` (at most [`BOUND`] after
/// `since`), then asks each [`AFTER`] more times: never 200 again.
fn assert_refused_for_good(servers: &[Spawned], key: &str, since: Instant) {
    let mut refused = vec![None; servers.len()];
    while refused.iter().any(Option::is_none) {
        for (srv, at) in servers.iter().zip(&mut refused) {
            if at.is_some() {
                continue;
            }
            match status(srv, key) {
                200 => {}
                401 => *at = Some(since.elapsed()),
                other => panic!("{}: status {other}, expected 200 or 401", srv.addr),
            }
        }
        assert!(
            since.elapsed() < BOUND || refused.iter().all(Option::is_some),
            "still accepted {BOUND:?} after the change, by: {:?}",
            servers
                .iter()
                .zip(&refused)
                .filter(|(_, at)| at.is_none())
                .map(|(s, _)| &s.addr)
                .collect::<Vec<_>>()
        );
        std::thread::sleep(Duration::from_millis(2));
    }
    for i in 0..AFTER {
        for srv in servers {
            assert_eq!(
                status(srv, key),
                401,
                "{}: accepted again, request {i} after its first refusal",
                srv.addr
            );
        }
    }
    eprintln!("first refusal per server after: {refused:?}");
}

/// `apikey revoke PREFIX` in another process.
fn revoked_by_the_cli_is_refused_by_running_servers(db: &TestDb) {
    let s = setup(db);
    let since = Instant::now();
    apikey(db, &["revoke", &s.key[..8]]);
    assert_refused_for_good(&s.servers, &s.key, since);
}

/// A raw `UPDATE` of the expiry (no manager anywhere near): the cached row
/// says "no expiry", so only the feed can make the servers notice.
fn expired_by_raw_sql_is_refused_by_running_servers(db: &TestDb) {
    let s = setup(db);
    let since = Instant::now();
    let wait = match db.kind {
        apikey_core::BackendKind::Postgres => "",
        _ => "PRAGMA busy_timeout = 5000; ",
    };
    db.raw_sql(&format!(
        "{wait}UPDATE api_keys SET expiry_date = '2001-01-01 00:00:00' WHERE prefix = '{}'",
        &s.key[..8]
    ))
    .expect("update the expiry");
    assert_refused_for_good(&s.servers, &s.key, since);
}

/// Waits until every server accepts `key`, made by another process after
/// the servers learnt the table's prefixes: until their feed reports the
/// insert they may refuse it (401, never anything else); once accepted, it
/// stays accepted.
fn assert_accepted_soon(servers: &[Spawned], key: &str) {
    let start = Instant::now();
    for srv in servers {
        loop {
            match status(srv, key) {
                200 => break,
                401 => assert!(
                    start.elapsed() < Duration::from_secs(10),
                    "{}: a key created elsewhere was never accepted",
                    srv.addr
                ),
                other => panic!("{}: status {other}, expected 200 or 401", srv.addr),
            }
            std::thread::sleep(Duration::from_millis(1));
        }
    }
    for srv in servers {
        assert_eq!(status(srv, key), 200, "{}", srv.addr);
    }
}

/// A key that another key's revocation leaves alone is still served.
fn other_keys_stay_served(db: &TestDb) {
    let s = setup(db);
    let other = apikey(db, &["create", "--name", "bystander"])
        .trim()
        .to_owned();
    assert_accepted_soon(&s.servers, &other);
    let since = Instant::now();
    apikey(db, &["revoke", &s.key[..8]]);
    assert_refused_for_good(&s.servers, &s.key, since);
    for srv in &s.servers {
        assert_eq!(status(srv, &other), 200, "{}", srv.addr);
    }
}

backend_tests!(
    revoked_by_the_cli_is_refused_by_running_servers,
    expired_by_raw_sql_is_refused_by_running_servers,
    other_keys_stay_served,
);
