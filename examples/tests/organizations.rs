//! The organizations binary, run as a user runs it, probed over real HTTP on
//! SQLite and PostgreSQL (`sqlite::name` and `postgres::name`): an active
//! organization's key gets that organization's data, an inactive one's is
//! refused, a built-in `ApiKey` key is not an organization key, and deleting
//! an organization (its keys cascade away) makes its key 401.

use std::process::Command;

use apikey_core::{ApiKey, BaseApiKeyManager, Database, NewKey};
use apikey_tests::server::{http_get, is_key, spawn_server, Spawned};
use apikey_tests::{backend_tests, TestDb};
use serde_json::Value;

struct Server {
    srv: Spawned,
    addr: String,
}

impl Server {
    /// The key printed on the line that names `org` (e.g. "Acme (active):").
    fn key_of(&self, org: &str) -> String {
        self.srv
            .stdout
            .iter()
            .filter(|l| l.trim_start().starts_with(org))
            .flat_map(|l| l.split_whitespace())
            .find(|t| is_key(t))
            .unwrap_or_else(|| panic!("no key printed for {org}: {:?}", self.srv.stdout))
            .to_owned()
    }
}

fn start(url: &str, dir: &std::path::Path) -> Server {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_organizations"));
    cmd.env("DATABASE_URL", url).current_dir(dir);
    let mut srv = spawn_server(cmd);
    // Its last line either way: keys were made, or there were organizations.
    srv.read_stdout_until(|l| l.ends_with("# no key: 401") || l.starts_with("Then: curl"));
    Server {
        addr: srv.addr.clone(),
        srv,
    }
}

/// GET `path` with an optional `Authorization: Api-Key <key>`; the status
/// and the body.
fn get(addr: &str, path: &str, key: Option<&str>) -> (u16, String) {
    let auth = key.map(|k| format!("Authorization: Api-Key {k}"));
    let headers: Vec<&str> = auth.iter().map(String::as_str).collect();
    let (status, text) = http_get(addr, path, &headers);
    let body = text
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_owned())
        .unwrap_or_default();
    (status, body)
}

fn json(body: &str) -> Value {
    serde_json::from_str(body).unwrap_or_else(|e| panic!("not json ({e}): {body}"))
}

fn assert_refused(srv: &Server, key: Option<&str>) {
    for path in ["/organization", "/organization/projects"] {
        let (status, body) = get(&srv.addr, path, key);
        assert_eq!(status, 401, "{path}: {body}");
        assert!(json(&body)["detail"].is_string(), "{body}");
        if let Some(key) = key {
            if let Some((_, secret)) = key.split_once('.') {
                assert!(secret.is_empty() || !body.contains(secret), "key echoed");
            }
        }
    }
}

/// After a change made elsewhere: refused once the server's verification
/// cache hears of it (its change feed, or its `max_age` for what no trigger
/// reports), within a generous bound; then refused every time.
fn assert_refused_soon(srv: &Server, key: &str) {
    let start = std::time::Instant::now();
    while get(&srv.addr, "/organization", Some(key)).0 != 401 {
        assert!(
            start.elapsed() < std::time::Duration::from_secs(5),
            "still accepted 5 s after the change"
        );
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    for _ in 0..3 {
        assert_refused(srv, Some(key));
    }
}

/// Runs SQL on the database the way the application does (apikey-core's
/// pool, so SQLite enforces foreign keys as it does in the server).
fn app_sql(url: &str, sql: &str) {
    let db = Database::connect(url).expect("connect");
    db.run(|conn| diesel::connection::SimpleConnection::batch_execute(conn, sql))
        .expect("sql");
}

fn active_key_gets_its_own_organization(db: &TestDb) {
    let dir = tempfile::tempdir().expect("tmp");
    let srv = start(&db.url, dir.path());
    let acme = srv.key_of("Acme");
    let dormant = srv.key_of("Dormant");
    assert_ne!(acme, dormant);
    assert!(
        srv.srv
            .stdout
            .iter()
            .any(|l| l.contains("curl") && l.contains("/organization")),
        "curl lines printed: {:?}",
        srv.srv.stdout
    );

    let (status, body) = get(&srv.addr, "/", None);
    assert_eq!(status, 200, "{body}");

    let (status, body) = get(&srv.addr, "/organization", Some(&acme));
    assert_eq!(status, 200, "{body}");
    let org = json(&body);
    assert_eq!(org["name"], "Acme");
    assert_eq!(org["active"], true);
    assert_eq!(org["key"]["prefix"], &acme[..8]);
    assert!(org["id"].is_i64(), "{body}");
    assert!(!body.contains(&acme[9..]), "secret echoed: {body}");

    let (status, body) = get(&srv.addr, "/organization/projects", Some(&acme));
    assert_eq!(status, 200, "{body}");
    let projects = json(&body);
    assert_eq!(projects["organization_id"], org["id"]);
    let names: Vec<&str> = projects["projects"]
        .as_array()
        .expect("array")
        .iter()
        .map(|p| p["name"].as_str().expect("name"))
        .collect();
    assert_eq!(names, ["rocket skates", "giant magnet"]);
    assert!(!body.contains("hibernation"), "another organization's data");

    // The inactive organization's key, no key, garbage.
    assert_refused(&srv, Some(&dormant));
    assert_refused(&srv, None);
    for garbage in [
        "garbage",
        "",
        ".",
        &format!("{}.{}", &acme[..8], "x".repeat(32)),
        &format!("{}x", acme),
        &acme[..8],
        &acme.to_ascii_lowercase(),
    ] {
        assert_refused(&srv, Some(garbage));
    }
    // A 401 carries the challenge.
    let (status, raw) = http_get(&srv.addr, "/organization", &[]);
    assert_eq!(status, 401);
    assert!(
        raw.to_ascii_lowercase()
            .contains("www-authenticate: api-key"),
        "{raw}"
    );

    // Reactivating Dormant makes its key work, and shows Dormant's own data.
    app_sql(
        &db.url,
        "UPDATE organizations SET active = TRUE WHERE name = 'Dormant'",
    );
    let start = std::time::Instant::now();
    while get(&srv.addr, "/organization", Some(&dormant)).0 != 200 {
        assert!(
            start.elapsed() < std::time::Duration::from_secs(5),
            "reactivation never seen"
        );
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    let (status, body) = get(&srv.addr, "/organization/projects", Some(&dormant));
    assert_eq!(status, 200, "{body}");
    assert!(
        body.contains("hibernation plan") && !body.contains("rocket"),
        "{body}"
    );
    // Deactivating Acme refuses its key (as soon as the cache hears of it).
    app_sql(
        &db.url,
        "UPDATE organizations SET active = FALSE WHERE name = 'Acme'",
    );
    assert_refused_soon(&srv, &acme);
}

/// A key of apikey-core's built-in table is not an organization key, and an
/// organization key is not a built-in key.
fn builtin_key_is_refused(db: &TestDb) {
    let dir = tempfile::tempdir().expect("tmp");
    let srv = start(&db.url, dir.path());
    let acme = srv.key_of("Acme");
    let builtin_db = Database::connect(&db.url).expect("connect");
    // The example creates only its own tables: no `api_keys`.
    assert!(
        builtin_db
            .run(|conn| {
                diesel::RunQueryDsl::execute(diesel::sql_query("SELECT 1 FROM api_keys"), conn)
            })
            .is_err(),
        "migrate_with created the built-in table without being asked"
    );
    builtin_db.migrate().expect("built-in migrations");
    let builtin: BaseApiKeyManager<ApiKey> = BaseApiKeyManager::new(builtin_db);
    let (_, key) = builtin.create_key(NewKey::new("built-in")).expect("create");
    assert!(builtin.is_valid(key.expose_secret()).expect("valid"));
    assert_refused(&srv, Some(key.expose_secret()));
    assert!(!builtin.is_valid(&acme).expect("is_valid"));
    assert_eq!(get(&srv.addr, "/organization", Some(&acme)).0, 200);
}

/// Deleting an organization deletes its keys (ON DELETE CASCADE): its key
/// is refused at once, the other organization's keys are untouched.
fn deleted_organization_key_is_refused(db: &TestDb) {
    let dir = tempfile::tempdir().expect("tmp");
    let srv = start(&db.url, dir.path());
    let acme = srv.key_of("Acme");
    // A second Acme key and a key of a second active organization.
    app_sql(
        &db.url,
        "INSERT INTO organizations (name, active) VALUES ('Globex', TRUE)",
    );
    let second = new_key(&db.url, dir.path(), "Acme");
    let globex = new_key(&db.url, dir.path(), "Globex");
    for key in [&acme, &second, &globex] {
        assert_accepted_soon(&srv.addr, key);
    }
    let count = |sql: &str| -> i64 {
        use diesel::prelude::*;
        #[derive(QueryableByName)]
        struct N {
            #[diesel(sql_type = diesel::sql_types::BigInt)]
            n: i64,
        }
        let db = Database::connect(&db.url).expect("connect");
        db.run(|conn| diesel::sql_query(sql).get_result::<N>(conn))
            .expect("count")
            .n
    };
    assert_eq!(count("SELECT COUNT(*) AS n FROM organization_api_keys"), 4);

    app_sql(&db.url, "DELETE FROM organizations WHERE name = 'Acme'");
    assert_refused_soon(&srv, &acme);
    assert_refused_soon(&srv, &second);
    assert_eq!(get(&srv.addr, "/organization", Some(&globex)).0, 200);
    // Cascade: Acme's two keys and its projects are gone.
    assert_eq!(count("SELECT COUNT(*) AS n FROM organization_api_keys"), 2);
    assert_eq!(
        count("SELECT COUNT(*) AS n FROM projects WHERE name = 'rocket skates'"),
        0
    );

    // Deleted by a connection that does not enforce foreign keys (a sqlite3
    // shell, where they are off by default): on SQLite the keys stay behind,
    // orphaned, and are refused all the same, because the narrowing only
    // admits keys of existing, active organizations.
    let sqlite = db.kind == apikey_core::BackendKind::Sqlite;
    let pragma = if sqlite {
        "PRAGMA foreign_keys = OFF; "
    } else {
        ""
    };
    db.raw_sql(&format!(
        "{pragma}DELETE FROM organizations WHERE name = 'Globex'"
    ))
    .expect("delete");
    let left = if sqlite { 2 } else { 1 }; // Dormant's key, and Globex's orphan on SQLite
    assert_eq!(
        count("SELECT COUNT(*) AS n FROM organization_api_keys"),
        left
    );
    assert_refused_soon(&srv, &globex);
}

/// `organizations new-key ORG`: the key alone on stdout.
/// Waits until a key made by another process is accepted: the server may
/// refuse it (401, nothing else) until its change feed reports the insert
/// (the verification cache knows every prefix in the table); once
/// accepted, it stays accepted.
fn assert_accepted_soon(addr: &str, key: &str) {
    let start = std::time::Instant::now();
    loop {
        match get(addr, "/organization", Some(key)).0 {
            200 => break,
            401 => assert!(
                start.elapsed() < std::time::Duration::from_secs(10),
                "a key made by another process was never accepted"
            ),
            other => panic!("status {other}, expected 200 or 401"),
        }
        std::thread::sleep(std::time::Duration::from_millis(1));
    }
    assert_eq!(get(addr, "/organization", Some(key)).0, 200);
}

fn new_key(url: &str, dir: &std::path::Path, org: &str) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_organizations"))
        .args(["new-key", org])
        .env("DATABASE_URL", url)
        .current_dir(dir)
        .output()
        .expect("run new-key");
    assert!(out.status.success(), "{out:?}");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 1, "the key alone on stdout: {stdout}");
    assert!(is_key(lines[0]), "{stdout}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains(&lines[0][9..]), "no key on stderr");
    lines[0].to_owned()
}

/// A second start keeps the organizations and their keys, prints no key;
/// new-key for an unknown organization fails cleanly.
fn second_start_keeps_keys(db: &TestDb) {
    let dir = tempfile::tempdir().expect("tmp");
    let first = start(&db.url, dir.path());
    let acme = first.key_of("Acme");
    drop(first);
    let second = start(&db.url, dir.path());
    assert!(
        second
            .srv
            .stdout
            .iter()
            .any(|l| l.contains("already has organizations; no demo keys were created")),
        "{:?}",
        second.srv.stdout
    );
    assert!(
        !second
            .srv
            .stdout
            .iter()
            .flat_map(|l| l.split_whitespace())
            .any(is_key),
        "a second set of keys was printed: {:?}",
        second.srv.stdout
    );
    assert_eq!(get(&second.addr, "/organization", Some(&acme)).0, 200);
    let made = new_key(&db.url, dir.path(), "Acme");
    assert_accepted_soon(&second.addr, &made);

    let out = Command::new(env!("CARGO_BIN_EXE_organizations"))
        .args(["new-key", "Nobody"])
        .env("DATABASE_URL", &db.url)
        .current_dir(dir.path())
        .output()
        .expect("run new-key");
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    assert!(out.stdout.is_empty());
    assert!(String::from_utf8_lossy(&out.stderr).contains("no such organization"));
}

backend_tests!(
    active_key_gets_its_own_organization,
    builtin_key_is_refused,
    deleted_organization_key_is_refused,
    second_start_keeps_keys,
);

/// With no DATABASE_URL, the example makes `organizations.db` in the current
/// folder (SQLite, nothing to install); Ctrl-C stops it cleanly.
#[test]
fn defaults_to_organizations_db_in_the_current_folder() {
    let dir = tempfile::tempdir().expect("tmp");
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_organizations"));
    cmd.env_remove("DATABASE_URL").current_dir(dir.path());
    let mut srv = spawn_server(cmd);
    assert!(dir.path().join("organizations.db").exists());
    // Once it answers, the server runs and handles signals itself.
    assert_eq!(get(&srv.addr, "/", None).0, 200);

    // Ctrl-C (SIGINT): a graceful stop, exit code 0.
    let (status, rest) = srv.interrupt();
    assert!(status.success(), "{status:?}: {rest}");
    assert!(rest.contains("stopped"), "{rest}");
}
