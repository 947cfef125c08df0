//! A stalled key store does not stall the server: with `api_keys` locked by
//! another PostgreSQL session (an `ALTER TABLE` waiting, a long migration),
//! lookups that need the database wait off the async workers, while the
//! public route and keys answered from the verification cache keep being
//! served; once the lock goes, the waiting lookups answer.

use std::process::Command;
use std::sync::mpsc;
use std::time::Duration;

use apikey_tests::server::{http_get, is_key, spawn_server};
use apikey_tests::TestDb;
use diesel::connection::SimpleConnection;
use diesel::Connection;

#[test]
fn stalled_postgres_keeps_the_server_responsive() {
    let db = TestDb::postgres();
    let dir = tempfile::tempdir().expect("tmp");
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_quickstart"));
    cmd.env("DATABASE_URL", &db.url).current_dir(dir.path());
    let mut srv = spawn_server(cmd);
    srv.read_stdout_until(|l| l.starts_with("(prefix "));
    let key = srv
        .stdout
        .iter()
        .map(|l| l.trim())
        .find(|t| is_key(t))
        .expect("demo key")
        .to_owned();
    let auth = format!("Authorization: Api-Key {key}");
    // Rows whose prefixes the lookups below use: the cache knows every
    // prefix in the table, so only a stored prefix (with another secret
    // here) needs the database; a never-issued one is refused from memory.
    db.raw_sql(
        &(0..6)
            .map(|i| {
                format!(
                    "INSERT INTO api_keys (prefix, hashed_key, created, name, revoked) \
                     VALUES ('Stall{i:03}', 'sha512$${}', now(), 'stall', false);",
                    "0".repeat(128)
                )
            })
            .collect::<String>(),
    )
    .expect("insert");
    // Served until it is answered from the cache (the feed starts with the
    // first lookup; a key verified once the feed is live is cached).
    for _ in 0..20 {
        assert_eq!(http_get(&srv.addr, "/protected", &[&auth]).0, 200);
        std::thread::sleep(Duration::from_millis(20));
    }

    // Another session takes the table: every query on it now waits.
    let mut locker = diesel::PgConnection::establish(&db.url).expect("connect");
    locker
        .batch_execute("BEGIN; LOCK TABLE api_keys IN ACCESS EXCLUSIVE MODE;")
        .expect("lock");

    // A cached key is answered from memory at once (it is re-read every
    // max_age / 2 and answered for max_age after its last read: a stall
    // longer than that sends it to the database too, fail fresh).
    let (status, body) = http_get(&srv.addr, "/protected", &[&auth]);
    assert_eq!(status, 200, "a cached key during the stall: {body}");

    // Lookups that need the database: stored prefixes, not cached.
    let (done_tx, done_rx) = mpsc::channel();
    for i in 0..6 {
        let addr = srv.addr.clone();
        let done = done_tx.clone();
        std::thread::spawn(move || {
            let unknown = format!("Stall{i:03}.{}", "q".repeat(32));
            let (status, _) = http_get(
                &addr,
                "/protected",
                &[&format!("Authorization: Api-Key {unknown}")],
            );
            let _ = done.send(status);
        });
    }
    assert!(
        done_rx.recv_timeout(Duration::from_millis(500)).is_err(),
        "the lookups did not wait for the lock: the database was not stalled"
    );

    // Meanwhile the server answers what needs no database.
    let (status, body) = http_get(&srv.addr, "/", &[]);
    assert_eq!(status, 200, "{body}");
    let (status, _) = http_get(&srv.addr, "/protected", &[]);
    assert_eq!(status, 401, "no key needs no database");
    let (status, _) = http_get(&srv.addr, "/protected", &["Authorization: Api-Key garbage"]);
    assert_eq!(status, 401, "a malformed key needs no database");
    assert!(
        done_rx.try_recv().is_err(),
        "the stalled lookups were still waiting while the rest was served"
    );

    // The lock goes: the waiting lookups answer, and are refused.
    locker.batch_execute("ROLLBACK").expect("unlock");
    for _ in 0..6 {
        let status = done_rx
            .recv_timeout(Duration::from_secs(20))
            .expect("a stalled lookup never answered");
        assert_eq!(status, 401);
    }
}
