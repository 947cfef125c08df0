//! The verification cache: fresh by construction, on both backends.
//!
//! - a revocation racing with a lookup of the same key is never lost;
//! - a write by another connection (another server, the CLI, raw SQL) stops
//!   being honoured once the change feed reports it, and never comes back;
//! - only verified keys enter, and the map stays bounded while hot keys stay;
//! - PostgreSQL: a lost feed turns the cache off until it is back.

use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use apikey_core::{AbstractApiKey, ApiKey, BackendKind, BaseApiKeyManager, Error, NewKey};
use apikey_tests::{backend_tests, postgres_tests, TestDb};

const SETTLE: Duration = Duration::from_secs(5);

fn manager(db: &TestDb) -> BaseApiKeyManager<ApiKey> {
    BaseApiKeyManager::new(db.database())
}

/// A lookup that read the row before a revocation committed must not be
/// answered from the cache after `revoke` returned. The hook parks the
/// lookup between its query and its insert into the cache while the
/// revocation runs to completion.
fn revocation_racing_a_lookup_is_not_lost(db: &TestDb) {
    let (parked_tx, parked_rx) = mpsc::channel::<()>();
    let (go_tx, go_rx) = mpsc::channel::<()>();
    let go_rx = Arc::new(Mutex::new(go_rx));
    let armed = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let hook_armed = Arc::clone(&armed);
    let keys = manager(db).__after_lookup_query(move || {
        if hook_armed.swap(false, std::sync::atomic::Ordering::SeqCst) {
            parked_tx.send(()).expect("parked");
            go_rx.lock().expect("lock").recv().expect("go");
        }
    });
    let (row, key) = keys.create_key(NewKey::new("stolen")).expect("create");
    let key = key.expose_secret().to_owned();
    assert!(keys.settle_cache(SETTLE), "the feed starts");

    armed.store(true, std::sync::atomic::Ordering::SeqCst);
    let lookup = {
        let keys = keys.clone();
        let key = key.clone();
        std::thread::spawn(move || keys.get_from_key(&key).map(|m| m.prefix().to_owned()))
    };
    parked_rx
        .recv_timeout(Duration::from_secs(10))
        .expect("the lookup read the row and parked");
    keys.revoke(row.prefix()).expect("revoke");
    go_tx.send(()).expect("release");
    // The racing lookup read the row before the revocation: it may answer Ok
    // for itself, but must not leave the key in the cache.
    let _ = lookup.join().expect("lookup thread");

    assert!(
        keys.get_cached(&key).is_none(),
        "the stale result was cached"
    );
    assert!(matches!(keys.get_from_key(&key), Err(Error::InvalidKey)));
    for _ in 0..20 {
        assert!(!keys.is_valid(&key).expect("is_valid"));
    }
}

/// Two "servers" (two pools on one database) and a third writer: a
/// revocation through another connection is refused by the first server's
/// cache within the feed's delay, and never accepted again.
fn revocation_elsewhere_reaches_every_cache(db: &TestDb) {
    let server = manager(db);
    let other = manager(db);
    let (row, key) = other.create_key(NewKey::new("shared")).expect("create");
    let key = key.expose_secret().to_owned();
    assert!(server.settle_cache(SETTLE));
    assert!(server.is_valid(&key).expect("valid"));
    assert!(server.get_cached(&key).is_some(), "served from the cache");

    other.revoke(row.prefix()).expect("revoke elsewhere");
    let start = Instant::now();
    loop {
        match server.get_from_key(&key) {
            Err(Error::InvalidKey) => break,
            Ok(_) => assert!(
                start.elapsed() < Duration::from_secs(5),
                "still accepted 5 s after the revocation"
            ),
            Err(e) => panic!("unexpected error: {e}"),
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    for _ in 0..50 {
        assert!(!server.is_valid(&key).expect("is_valid"), "accepted again");
    }
}

/// Only usable rows enter the cache (never a presented key); a bounded
/// cache keeps a hot key while many others pass through.
fn only_verified_keys_enter_and_hot_keys_stay(db: &TestDb) {
    let keys = manager(db).with_cache(Duration::from_secs(60), 64);
    let (hot_row, hot) = keys.create_key(NewKey::new("hot")).expect("create");
    let hot = hot.expose_secret().to_owned();
    let mut cold = Vec::new();
    for i in 0..300 {
        let (_, k) = keys
            .create_key(NewKey::new(format!("cold {i}")))
            .expect("create");
        cold.push(k.expose_secret().to_owned());
    }
    assert!(keys.settle_cache(SETTLE));
    assert_eq!(keys.cache_len(), 0);

    // A flood of wrong secrets for unknown prefixes: nothing enters the map
    // of keys (only rows that exist and are usable ever do).
    for i in 0..200 {
        assert!(!keys
            .is_valid(&format!("Zz{i:06}.{:032}", i))
            .expect("is_valid"));
    }
    assert_eq!(keys.cache_len(), 0, "unknown keys entered the cache");
    // Wrong secrets for a real prefix: that row (its stored digest, not
    // the presented key) is cached once, and the guesses are refused.
    for i in 0..200 {
        let wrong = format!("{}.{:032}", hot_row.prefix(), i);
        assert!(!keys.is_valid(&wrong).expect("is_valid"));
    }
    assert_eq!(keys.cache_len(), 1);
    assert!(keys.get_cached(&hot).is_some(), "the right key is answered");

    for (i, k) in cold.iter().enumerate() {
        if i % 4 == 0 {
            assert!(keys.is_valid(&hot).expect("hot"));
        }
        assert!(keys.is_valid(k).expect("cold"));
    }
    assert!(keys.cache_len() <= 2 * 64, "bounded: {}", keys.cache_len());
    assert!(keys.get_cached(&hot).is_some(), "the hot key was evicted");
}

/// PostgreSQL: the listener's connection is killed; the cache stops
/// answering (fail fresh), comes back, and starts caching again.
fn lost_feed_turns_the_cache_off_until_it_is_back(db: &TestDb) {
    let keys = manager(db);
    let (_, key) = keys.create_key(NewKey::new("feed")).expect("create");
    let key = key.expose_secret().to_owned();
    assert!(keys.settle_cache(SETTLE));
    assert!(keys.is_valid(&key).expect("valid"));
    assert!(keys.get_cached(&key).is_some());

    // The feed's connection is killed and no new connection to this
    // database is allowed: the feed is lost and stays lost.
    use diesel::connection::SimpleConnection;
    use diesel::Connection;
    let name = db
        .url
        .rsplit('/')
        .next()
        .and_then(|tail| tail.split('?').next())
        .expect("database name")
        .to_owned();
    let mut admin =
        diesel::PgConnection::establish(&apikey_tests::pg_server_url()).expect("admin connection");
    admin
        .batch_execute(&format!(
            "ALTER DATABASE {name} ALLOW_CONNECTIONS false; \
             SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
             WHERE datname = '{name}' AND application_name = 'apikey-cache-feed'"
        ))
        .expect("keep the feed out");
    let start = Instant::now();
    while keys.cache_is_live() {
        assert!(start.elapsed() < SETTLE, "the lost feed was not noticed");
        std::thread::sleep(Duration::from_millis(1));
    }
    // While it is lost, nothing is answered from the cache.
    for _ in 0..20 {
        assert!(!keys.cache_is_live(), "live without a feed");
        assert!(keys.get_cached(&key).is_none(), "answered without a feed");
        std::thread::sleep(Duration::from_millis(10));
    }
    admin
        .batch_execute(&format!("ALTER DATABASE {name} ALLOW_CONNECTIONS true"))
        .expect("let the feed back");
    assert!(keys.settle_cache(SETTLE), "the feed came back");
    assert!(keys.cache_is_live());
    assert!(keys.is_valid(&key).expect("valid"));
    assert!(keys.get_cached(&key).is_some(), "caching again");
}

/// A feed that stalls (its thread held, its query blocked) is treated as
/// lost once it is past its deadline: the cache stops answering, so a
/// write it has not seen is not honoured for longer than the deadline; the
/// database answers meanwhile, and the cache answers again once the feed
/// does, without the entries made before the stall (the database may
/// have refused meanwhile what no feed reports). SQLite: the feed's thread
/// is held by a quiet write that waits, and the key is revoked by another
/// connection meanwhile (the feed cannot see it). PostgreSQL: the feed's
/// counter query waits on a table lock, and the key is revoked with the
/// triggers off (no feed reports it).
fn stalled_feed_stops_the_cache_until_it_answers(db: &TestDb) {
    let deadline = Duration::from_millis(50);
    // A minute's max_age: no sweep during the test.
    let keys = manager(db)
        .with_cache(Duration::from_secs(60), 100)
        .with_feed_deadline(deadline);
    assert_eq!(keys.feed_deadline(), Some(deadline));
    let (row, key) = keys.create_key(NewKey::new("stall")).expect("create");
    let key = key.expose_secret().to_owned();
    assert!(keys.settle_cache(SETTLE));
    assert!(keys.is_valid(&key).expect("valid"));
    assert!(keys.get_cached(&key).is_some(), "cached before the stall");

    let held = HeldFeed::hold(db, &keys);
    if db.kind == BackendKind::Sqlite {
        // Another connection revokes the key; the held feed cannot see it.
        manager(db)
            .without_cache()
            .revoke(row.prefix())
            .expect("revoke elsewhere");
    } else {
        // A write no feed reports (triggers off), as a narrowing's
        // tables are: the cache must not answer the key again once the
        // database has refused it.
        db.raw_sql(&format!(
            "SET session_replication_role = replica; \
             UPDATE api_keys SET revoked = true WHERE prefix = '{}'; \
             SET session_replication_role = origin",
            row.prefix()
        ))
        .expect("revoke unreported");
    }
    let start = Instant::now();
    while keys.get_cached(&key).is_some() {
        assert!(
            start.elapsed() < SETTLE,
            "the cache kept answering with its feed stalled"
        );
        std::thread::sleep(Duration::from_millis(1));
    }
    // Stalled: nothing from the cache; the database answers (refused).
    for _ in 0..10 {
        assert!(keys.cache_is_live(), "a stall is not a lost connection");
        assert!(keys.get_cached(&key).is_none(), "answered while stalled");
        assert!(!keys.is_valid(&key).expect("the database answers"));
        std::thread::sleep(Duration::from_millis(10));
    }
    // The feed answers again: so does the cache.
    held.release();
    assert!(keys.settle_cache(SETTLE), "the feed answers again");
    // The entry made before the stall is never answered again (on
    // PostgreSQL no feed reported the revocation; the sweep is a minute
    // away).
    for _ in 0..20 {
        assert!(keys.get_cached(&key).is_none(), "the older entry came back");
        assert!(!keys.is_valid(&key).expect("is_valid"));
        std::thread::sleep(Duration::from_millis(5));
    }
    // And the cache answers again: another key is served from it (once
    // the feed has seen its insert, which on SQLite stales what is cached).
    let (_, other) = keys.create_key(NewKey::new("after")).expect("create");
    assert!(keys.settle_cache(SETTLE));
    assert!(keys.is_valid(other.expose_secret()).expect("valid"));
    assert!(
        keys.get_cached(other.expose_secret()).is_some(),
        "caching again"
    );
}

/// The change feed held still: on SQLite its thread runs a quiet write that
/// waits; on PostgreSQL its counter query waits on a table lock. Nothing is
/// written: once released, the feed finds no change.
struct HeldFeed {
    release: mpsc::Sender<()>,
    thread: Option<std::thread::JoinHandle<apikey_core::Result<()>>>,
    lock: Option<diesel::PgConnection>,
}

impl HeldFeed {
    fn hold(db: &TestDb, keys: &BaseApiKeyManager<ApiKey>) -> Self {
        use diesel::connection::SimpleConnection;
        use diesel::Connection;
        let (release, release_rx) = mpsc::channel::<()>();
        if db.kind == BackendKind::Sqlite {
            let (started_tx, started_rx) = mpsc::channel::<()>();
            let held = keys.clone();
            let thread = std::thread::spawn(move || {
                held.write_quietly(move |_conn| {
                    started_tx.send(()).expect("started");
                    let _ = release_rx.recv();
                    Ok(())
                })
            });
            started_rx
                .recv_timeout(Duration::from_secs(10))
                .expect("the feed runs the quiet write");
            HeldFeed {
                release,
                thread: Some(thread),
                lock: None,
            }
        } else {
            let mut conn = diesel::PgConnection::establish(&db.url).expect("connection");
            conn.batch_execute("BEGIN; LOCK TABLE apikey_change_counter IN ACCESS EXCLUSIVE MODE")
                .expect("lock the counter");
            HeldFeed {
                release,
                thread: None,
                lock: Some(conn),
            }
        }
    }

    /// Holds the feed and waits until the cache stops answering `key`
    /// (the feed is past its deadline); also answers when the hold began.
    fn until_late(db: &TestDb, keys: &BaseApiKeyManager<ApiKey>, key: &str) -> (Self, Instant) {
        let held = HeldFeed::hold(db, keys);
        let start = Instant::now();
        while keys.get_cached(key).is_some() {
            assert!(start.elapsed() < SETTLE, "answered with the feed held");
            std::thread::sleep(Duration::from_millis(1));
        }
        (held, start)
    }

    fn release(mut self) {
        use diesel::connection::SimpleConnection;
        if let Some(mut conn) = self.lock.take() {
            conn.batch_execute("COMMIT").expect("unlock");
        }
        let _ = self.release.send(());
        if let Some(thread) = self.thread.take() {
            thread
                .join()
                .expect("quiet write")
                .expect("quiet write ran");
        }
    }
}

/// A feed late past its deadline while no lookup read the database (the
/// lookups waited for it, or only the cache was asked) keeps what is
/// cached once it answers: nothing was answered meanwhile that could
/// contradict it. A lookup that reads the database while the feed is late
/// makes its next answer drop everything cached (made stale: the
/// revalidation pass that follows re-reads it, which shows that it
/// happened). `feed_wait` is `Some` from the deadline on and `None` from
/// twice the deadline (stalled).
fn late_feed_keeps_the_cache_unless_the_database_was_read(db: &TestDb) {
    // Long enough for this thread to see the late spell on a busy machine.
    let deadline = Duration::from_millis(200);
    let (keys, key) = cached_key(db, deadline);
    assert_eq!(keys.feed_wait(), None, "a feed on time is not waited for");

    for read_meanwhile in [false, true] {
        let passes = settled_passes(&keys);
        let (held, start) = HeldFeed::until_late(db, &keys, &key);
        // Late: worth waiting for, up to twice the deadline.
        let waits = keys.feed_wait();
        assert!(waits.is_some_and(|w| w <= deadline), "late: {waits:?}");
        while keys.feed_wait().is_some() {
            assert!(start.elapsed() < SETTLE, "waited for forever");
            std::thread::sleep(Duration::from_millis(1));
        }
        assert!(keys.cache_is_live(), "stalled, not lost");
        if read_meanwhile {
            assert!(keys.is_valid(&key).expect("the database answers"));
        }
        held.release();
        assert!(keys.settle_cache(SETTLE), "the feed answers again");
        assert_dropped(&keys, passes, read_meanwhile);
        assert!(keys.is_valid(&key).expect("valid"));
        assert!(keys.get_cached(&key).is_some(), "cached");
    }
}

/// A manager with this feed deadline (a minute's `max_age`: no sweep
/// during a test) and a key of it, verified and answered from the cache.
fn cached_key(db: &TestDb, deadline: Duration) -> (BaseApiKeyManager<ApiKey>, String) {
    let keys = manager(db)
        .with_cache(Duration::from_secs(60), 100)
        .with_feed_deadline(deadline);
    let (_, key) = keys.create_key(NewKey::new("late")).expect("create");
    let key = key.expose_secret().to_owned();
    assert!(keys.settle_cache(SETTLE));
    assert!(keys.is_valid(&key).expect("valid"));
    assert!(keys.get_cached(&key).is_some(), "cached");
    (keys, key)
}

/// The revalidation passes done, once none has run for 100 ms (a pass a
/// change before the test started set off, still running on a busy
/// machine, would otherwise be counted as the test's).
fn settled_passes(keys: &BaseApiKeyManager<ApiKey>) -> u64 {
    let start = Instant::now();
    loop {
        let passes = keys.cache_revalidations();
        std::thread::sleep(Duration::from_millis(100));
        if keys.cache_revalidations() == passes {
            return passes;
        }
        assert!(start.elapsed() < SETTLE, "revalidation passes never stop");
    }
}

/// Whether the feed's answer after a late spell made the cache stale
/// (`dropped`): a revalidation pass then follows (counted from `passes`,
/// taken before the spell); otherwise none comes.
fn assert_dropped(keys: &BaseApiKeyManager<ApiKey>, passes: u64, dropped: bool) {
    let start = Instant::now();
    if dropped {
        while keys.cache_revalidations() == passes {
            assert!(
                start.elapsed() < SETTLE,
                "kept after a read of the database while late"
            );
            std::thread::sleep(Duration::from_millis(1));
        }
    } else {
        std::thread::sleep(Duration::from_millis(100));
        assert_eq!(
            keys.cache_revalidations(),
            passes,
            "dropped though nothing read the database while late"
        );
    }
}

/// A guard that meets a late feed waits for it (no thread held) and is
/// answered from the cache once the feed is back, without a query; a
/// feed still silent after twice the deadline is a stall, and the guard
/// queries the database. Whether a lookup read the database while the
/// feed was late shows afterwards: the feed's next answer then drops what
/// is cached (see the test above).
fn guards_wait_for_a_late_feed_then_query(db: &TestDb) {
    use actix_web::{test as atest, web, App, HttpResponse};
    use apikey_actix::{ApiKeyConfig, HasApiKey};
    // A long deadline: the short stall below stays well inside the wait.
    let (keys, key) = cached_key(db, Duration::from_millis(500));

    apikey_tests::block_on(async {
        let app = atest::init_service(
            App::new()
                .configure(apikey_actix::register(
                    keys.clone(),
                    ApiKeyConfig::default(),
                ))
                .route(
                    "/",
                    web::get().to(|k: HasApiKey<ApiKey>| async move {
                        HttpResponse::Ok().body(k.name().to_owned())
                    }),
                ),
        )
        .await;
        let call = || {
            atest::TestRequest::get()
                .uri("/")
                .insert_header(("Authorization", format!("Api-Key {key}")))
                .to_request()
        };

        // A short stall: released while the guard waits.
        let passes = settled_passes(&keys);
        let (held, _) = HeldFeed::until_late(db, &keys, &key);
        assert!(keys.feed_wait().is_some(), "late, worth waiting for");
        let releaser = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(100));
            held.release();
        });
        let res = atest::call_service(&app, call()).await;
        assert_eq!(res.status(), 200);
        releaser.join().expect("released");
        assert!(keys.settle_cache(SETTLE), "the feed answers again");
        // Dropped, had the guard read the database instead of waiting.
        assert_dropped(&keys, passes, false);
        assert!(keys.get_cached(&key).is_some(), "kept");

        // A stall: past twice the deadline, the database answers.
        let passes = settled_passes(&keys);
        let held = HeldFeed::hold(db, &keys);
        let start = Instant::now();
        while keys.get_cached(&key).is_some() || keys.feed_wait().is_some() {
            assert!(start.elapsed() < SETTLE, "no stall");
            std::thread::sleep(Duration::from_millis(1));
        }
        let res = atest::call_service(&app, call()).await;
        assert_eq!(res.status(), 200);
        held.release();
        assert!(keys.settle_cache(SETTLE), "the feed answers again");
        // The guard read the database during the stall.
        assert_dropped(&keys, passes, true);
    });
}

/// The cache's settings are bounded (`max_age` at most a day, capacity at
/// least one), kept when the definition of usable keys is replaced, and
/// shown by the manager's `Debug` with the feed's state (and no key).
fn cache_settings_bounded_kept_and_shown(db: &TestDb) {
    let keys = manager(db).with_cache(Duration::from_secs(3 * 24 * 3600), 0);
    let shown = format!("{keys:?}");
    assert!(shown.contains("max_age: 86400s, capacity: 1,"), "{shown}");
    let keys = manager(db)
        .with_cache(Duration::from_secs(7200), 5)
        .with_usable_keys(apikey_core::AllUsable);
    assert!(keys.settle_cache(SETTLE));
    let (_, key) = keys.create_key(NewKey::new("shown")).expect("create");
    assert!(keys.is_valid(key.expose_secret()).expect("valid"));
    let shown = format!("{keys:?}");
    assert!(shown.contains("max_age: 7200s, capacity: 5,"), "{shown}");
    assert!(shown.contains("live: true"), "{shown}");
    assert!(!shown.contains(key.expose_secret()), "{shown}");
    assert!(!shown.contains(&key.expose_secret()[9..]), "{shown}");

    // The feed deadline: 50 ms by default, clamped to 10 ms..=a day, kept
    // when the cache or the definition of usable keys is replaced.
    let ms = Duration::from_millis;
    assert_eq!(manager(db).feed_deadline(), Some(ms(50)));
    assert_eq!(apikey_core::DEFAULT_FEED_DEADLINE, ms(50));
    assert_eq!(
        manager(db).with_feed_deadline(ms(1)).feed_deadline(),
        Some(ms(10))
    );
    assert_eq!(
        manager(db)
            .with_feed_deadline(Duration::from_secs(3 * 24 * 3600))
            .feed_deadline(),
        Some(Duration::from_secs(24 * 3600))
    );
    let kept = manager(db)
        .with_feed_deadline(ms(250))
        .with_cache(Duration::from_secs(5), 10)
        .with_usable_keys(apikey_core::AllUsable);
    assert_eq!(kept.feed_deadline(), Some(ms(250)));
    assert_eq!(kept.without_cache().feed_deadline(), None);
}

/// A key the generator cannot have made is refused before any query: even
/// with the database down, the answer is "invalid", not "unavailable".
/// (No test database: the store is one that cannot be reached.)
#[test]
fn malformed_keys_never_reach_the_database() {
    let down = apikey_core::Database::connect_lazy_with(
        "postgres://nobody@127.0.0.1:1/none",
        apikey_core::DatabaseConfig::default().connection_timeout(Duration::from_millis(200)),
    )
    .expect("lazy pool");
    let keys: BaseApiKeyManager<ApiKey> = BaseApiKeyManager::new(down);
    let good_shape = format!("{}.{}", "A".repeat(8), "b".repeat(32));
    for bad in [
        "".to_owned(),
        "nodot".to_owned(),
        format!("{}.{}", "A".repeat(7), "b".repeat(32)),
        format!("{}.{}", "A".repeat(8), "b".repeat(31)),
        format!("{}.{}", "A".repeat(8), "b".repeat(33)),
        format!("{}-{}", "A".repeat(8), "b".repeat(32)),
        format!("{}.{}\u{7f}", "A".repeat(8), "b".repeat(31)),
        format!("AAAA AAA.{}", "b".repeat(32)),
        format!("{}.{}é", "A".repeat(8), "b".repeat(30)),
        "x".repeat(100_000),
    ] {
        assert!(!keys.is_well_formed(&bad), "{bad:?}");
        assert!(
            matches!(keys.get_from_key(&bad), Err(Error::InvalidKey)),
            "{bad:?}"
        );
    }
    assert!(keys.is_well_formed(&good_shape));
    assert!(
        keys.get_from_key(&good_shape)
            .is_err_and(|e| e.is_unavailable()),
        "a well-formed key does reach the (down) database"
    );
}

/// A never-issued key is remembered as absent (a flood of it costs no
/// query), and a key created afterwards with that prefix, by another
/// connection, is accepted once the feed reports the insert.
fn absent_prefixes_are_remembered_until_an_insert(db: &TestDb) {
    // An hour's max_age: only the feed's report of the insert (not the
    // sweep, nor the entry ageing out) can make the key accepted.
    let keys = manager(db).with_cache(Duration::from_secs(3600), 1000);
    assert!(keys.settle_cache(SETTLE));
    let prefix = "Absent01";
    let key = format!("{prefix}.{}", "k".repeat(32));
    for _ in 0..3 {
        assert!(!keys.is_valid(&key).expect("is_valid"));
    }
    assert_eq!(keys.cache_absent_len(), 1, "remembered as absent");

    // Created elsewhere (raw SQL on another connection), with its real hash.
    let hashed = apikey_core::hashers::hash(&key);
    db.raw_sql(&format!(
        "INSERT INTO api_keys (prefix, hashed_key, created, name, revoked) \
         VALUES ('{prefix}', '{hashed}', '2026-01-01 00:00:00', 'late', false)"
    ))
    .expect("insert");
    let start = Instant::now();
    while !keys.is_valid(&key).expect("is_valid") {
        assert!(
            start.elapsed() < SETTLE,
            "the insert never reached the cache"
        );
        std::thread::sleep(Duration::from_millis(1));
    }
    // And a wrong secret for that (now cached) prefix is refused.
    let wrong = format!("{prefix}.{}", "w".repeat(32));
    assert!(!keys.is_valid(&wrong).expect("is_valid"));
    assert!(keys.is_valid(&key).expect("is_valid"));
}

/// On a SQLite file, a lookup the cache cannot answer is answered on the
/// calling thread (no blocking-pool hop) when it is one quick query and a
/// SHA-512; PostgreSQL and legacy hashes go to the blocking path (`None`).
fn inline_lookups_where_they_cannot_wait(db: &TestDb) {
    let keys = manager(db).without_cache();
    let (_, key) = keys.create_key(NewKey::new("inline")).expect("create");
    let key = key.expose_secret().to_owned();
    let unknown = format!("Unknown1.{}", "u".repeat(32));
    let wrong = format!("{}.{}", &key[..8], "w".repeat(32));
    let inline = |k: &str| keys.try_get_from_key_inline(k);
    match db.kind {
        BackendKind::Sqlite => {
            assert!(matches!(inline(&key), Some(Ok(m)) if m.prefix() == &key[..8]));
            assert!(matches!(inline(&unknown), Some(Err(Error::InvalidKey))));
            assert!(matches!(inline(&wrong), Some(Err(Error::InvalidKey))));
            // A legacy hash is verified (slowly) and upgraded off the worker.
            // (A vector made by Django's own pbkdf2_sha256 hasher.)
            let file: serde_json::Value =
                serde_json::from_str(include_str!("../../apikey-core/tests/vectors/django.json"))
                    .expect("vectors");
            let v = file["vectors"]
                .as_array()
                .expect("array")
                .iter()
                .find(|v| {
                    v["hashed_key"]
                        .as_str()
                        .is_some_and(|h| h.starts_with("pbkdf2_sha256$"))
                })
                .expect("a pbkdf2 vector");
            let (legacy, prefix, hashed) = (
                v["key"].as_str().expect("key").to_owned(),
                v["prefix"].as_str().expect("prefix"),
                v["hashed_key"].as_str().expect("hash"),
            );
            db.raw_sql(&format!(
                "INSERT INTO api_keys (prefix, hashed_key, created, name, revoked) \
                 VALUES ('{prefix}', '{hashed}', '2026-01-01 00:00:00', 'legacy', false)"
            ))
            .expect("insert");
            assert!(inline(&legacy).is_none(), "legacy hash verified inline");
            assert!(keys.is_valid(&legacy).expect("valid"));
            assert!(
                matches!(inline(&legacy), Some(Ok(_))),
                "upgraded: now inline"
            );
        }
        _ => {
            assert!(inline(&key).is_none(), "PostgreSQL lookups are not inline");
            assert!(inline(&unknown).is_none());
        }
    }
    // Malformed keys are refused everywhere without a query.
    assert!(matches!(inline("garbage"), Some(Err(Error::InvalidKey))));
}

/// No cache when asked, and none on an in-memory database.
fn opt_out(db: &TestDb) {
    let keys = manager(db).without_cache();
    let (_, key) = keys.create_key(NewKey::new("uncached")).expect("create");
    assert!(keys.is_valid(key.expose_secret()).expect("valid"));
    assert!(keys.get_cached(key.expose_secret()).is_none());
    assert!(!keys.cache_is_live());
    assert_eq!(keys.cache_len(), 0);
}

/// Once a lookup has gone to the database, the cache knows every prefix in
/// the table: never-issued keys are then refused without a query (nothing
/// more is remembered as absent, which a query would do), while a revoked
/// key's prefix is in the set and still refused by its query. A key inserted
/// by another connection is accepted once the feed reports the insert, and
/// a table larger than the limit goes without the set.
fn never_issued_keys_cost_no_query_once_prefixes_are_known(db: &TestDb) {
    let keys = manager(db);
    assert!(keys.settle_cache(SETTLE));
    let (_, good) = keys.create_key(NewKey::new("good")).expect("create");
    let (revoked, revoked_key) = keys.create_key(NewKey::new("revoked")).expect("create");
    keys.revoke(revoked.prefix()).expect("revoke");
    // (The feed has reported those writes: none of them makes the set
    // loaded below stale.)
    assert!(keys.settle_cache(SETTLE));
    assert_eq!(
        keys.cache_prefixes_len(),
        None,
        "not loaded before a lookup"
    );

    let never = |i: usize| format!("Nev{i:05}.{}", "n".repeat(32));
    assert!(!keys.is_valid(&never(0)).expect("is_valid"));
    assert_eq!(keys.cache_absent_len(), 1, "the first one was queried");
    assert_eq!(keys.cache_prefixes_len(), Some(2), "and the set loaded");
    for i in 1..200 {
        assert!(!keys.is_valid(&never(i)).expect("is_valid"));
    }
    assert_eq!(keys.cache_absent_len(), 1, "no query for the other 199");

    assert!(!keys
        .is_valid(revoked_key.expose_secret())
        .expect("is_valid"));
    assert_eq!(keys.cache_absent_len(), 2, "the revoked prefix was queried");
    assert!(keys.is_valid(good.expose_secret()).expect("is_valid"));

    // Inserted by another connection: accepted once the feed reports it.
    let late = format!("{}.{}", "Late0001", "k".repeat(32));
    assert!(!keys.is_valid(&late).expect("is_valid"));
    let hashed = apikey_core::hashers::hash(&late);
    db.raw_sql(&format!(
        "INSERT INTO api_keys (prefix, hashed_key, created, name, revoked) \
         VALUES ('Late0001', '{hashed}', '2026-01-01 00:00:00', 'late', false)"
    ))
    .expect("insert");
    let start = Instant::now();
    while !keys.is_valid(&late).expect("is_valid") {
        assert!(
            start.elapsed() < SETTLE,
            "the insert never reached the cache"
        );
        std::thread::sleep(Duration::from_millis(1));
    }

    // Over the limit: no set, each never-issued key is queried (and
    // remembered as absent).
    let limited = manager(db).__prefix_set_limit(2);
    assert!(limited.settle_cache(SETTLE));
    for i in 0..5 {
        assert!(!limited.is_valid(&never(i)).expect("is_valid"));
    }
    assert_eq!(limited.cache_prefixes_len(), None, "3 rows > limit 2");
    assert_eq!(limited.cache_absent_len(), 5, "each one queried");
    assert!(limited.is_valid(good.expose_secret()).expect("is_valid"));
}

/// A write by another connection that changes nothing a cached key depends
/// on (a rename of another key's row on PostgreSQL, whose trigger reports
/// it; any commit to the file on SQLite) does not leave the cache empty:
/// the revalidation pass re-reads the cached keys and files them again, so
/// they are answered from memory again without a lookup of their own. A
/// key revoked by the same kind of write is dropped by the same pass.
fn unrelated_writes_revalidate_instead_of_flushing(db: &TestDb) {
    let keys = manager(db);
    assert!(keys.settle_cache(SETTLE));
    let mut hot = Vec::new();
    for i in 0..3 {
        let (_, key) = keys
            .create_key(NewKey::new(format!("hot {i}")))
            .expect("create");
        hot.push(key.expose_secret().to_owned());
    }
    let (other, _) = keys.create_key(NewKey::new("other")).expect("create");
    let (doomed, doomed_key) = keys.create_key(NewKey::new("doomed")).expect("create");
    let doomed_key = doomed_key.expose_secret().to_owned();
    assert!(keys.settle_cache(SETTLE));
    for key in hot.iter().chain([&doomed_key]) {
        assert!(keys.is_valid(key).expect("is_valid"));
        assert!(keys.get_cached(key).is_some(), "cached");
    }
    // `get_cached` never queries: only a revalidation pass can bring an
    // entry back once a change made it stale.
    let back_in_memory = |some: &[String]| {
        let start = Instant::now();
        while !some.iter().all(|k| keys.get_cached(k).is_some()) {
            assert!(
                start.elapsed() < SETTLE,
                "keys the write did not touch never came back from a revalidation"
            );
            std::thread::sleep(Duration::from_millis(1));
        }
    };

    db.raw_sql(&format!(
        "UPDATE api_keys SET name = 'renamed' WHERE prefix = '{}'; \
         UPDATE api_keys SET revoked = true WHERE prefix = '{}'",
        other.prefix(),
        doomed.prefix()
    ))
    .expect("write elsewhere");
    assert!(keys.settle_cache(SETTLE));
    back_in_memory(&hot);
    assert!(keys.get_cached(&doomed_key).is_none(), "revoked: dropped");
    assert!(!keys.is_valid(&doomed_key).expect("is_valid"));

    // Its hash replaced (another key's now): a pass does not keep it.
    let rehashed = &hot[0];
    let new_hash = apikey_core::hashers::hash(&format!("{}.{}", &rehashed[..8], "z".repeat(32)));
    db.raw_sql(&format!(
        "UPDATE api_keys SET hashed_key = '{new_hash}' WHERE prefix = '{}'",
        &rehashed[..8]
    ))
    .expect("rehash");
    assert!(keys.settle_cache(SETTLE));
    back_in_memory(&hot[1..]);
    assert!(
        keys.get_cached(rehashed).is_none(),
        "another hash: not kept"
    );
    assert!(!keys.is_valid(rehashed).expect("is_valid"));
}

/// The definition of usable, counting the lookups that query it (the
/// revalidation's reads go through `find_usable_among`, not counted).
struct CountingLookups(Arc<std::sync::atomic::AtomicUsize>);

impl apikey_core::UsableKeys<ApiKey> for CountingLookups {
    fn find_usable(
        &self,
        conn: &mut apikey_core::DbConnection,
        now: chrono::NaiveDateTime,
        prefix: &str,
    ) -> diesel::QueryResult<Option<ApiKey>> {
        self.0.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        apikey_core::UsableKeys::<ApiKey>::find_usable(&apikey_core::AllUsable, conn, now, prefix)
    }
}

/// Parks the cache's revalidation queries while armed (lookups go through).
struct ParkedRevalidation {
    armed: Arc<std::sync::atomic::AtomicBool>,
    parked: Mutex<mpsc::Sender<()>>,
    go: Mutex<mpsc::Receiver<()>>,
}

impl apikey_core::UsableKeys<ApiKey> for ParkedRevalidation {
    fn find_usable_among(
        &self,
        conn: &mut apikey_core::DbConnection,
        now: chrono::NaiveDateTime,
        prefixes: &[&str],
    ) -> diesel::QueryResult<Vec<ApiKey>> {
        if self.armed.swap(false, std::sync::atomic::Ordering::SeqCst) {
            let _ = self.parked.lock().expect("lock").send(());
            let _ = self
                .go
                .lock()
                .expect("lock")
                .recv_timeout(Duration::from_secs(30));
        }
        apikey_core::UsableKeys::<ApiKey>::find_usable_among(
            &apikey_core::AllUsable,
            conn,
            now,
            prefixes,
        )
    }
}

/// The handle on a manager whose revalidation passes can be held: `arm`,
/// then `parked` waits until the next pass is held at its first query, and
/// `release` lets it go on.
struct HeldPasses {
    armed: Arc<std::sync::atomic::AtomicBool>,
    parked: mpsc::Receiver<()>,
    go: mpsc::Sender<()>,
}

impl HeldPasses {
    /// A manager with an hour-long `max_age` (only the feed makes entries
    /// stale) and the handle that holds its passes.
    fn manager(db: &TestDb) -> (BaseApiKeyManager<ApiKey>, HeldPasses) {
        let armed = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let (parked_tx, parked) = mpsc::channel();
        let (go, go_rx) = mpsc::channel();
        let keys = manager(db)
            .with_usable_keys(ParkedRevalidation {
                armed: Arc::clone(&armed),
                parked: Mutex::new(parked_tx),
                go: Mutex::new(go_rx),
            })
            .with_cache(Duration::from_secs(3600), 100);
        (keys, HeldPasses { armed, parked, go })
    }

    fn arm(&self) {
        self.armed.store(true, std::sync::atomic::Ordering::SeqCst);
    }

    fn parked(&self, after: &str) {
        self.parked
            .recv_timeout(SETTLE)
            .unwrap_or_else(|_| panic!("no revalidation pass after {after}"));
    }

    fn release(&self) {
        self.go.send(()).expect("release the pass");
    }
}

/// A prefix known absent stops being refused as soon as the feed reports
/// an insert, before the revalidation pass that follows has re-read it
/// (held here): the known-absent entry is checked against the feed's
/// count, not only dropped by the pass.
fn known_absent_is_stale_at_once_after_an_insert(db: &TestDb) {
    let (keys, held) = HeldPasses::manager(db);
    assert!(keys.settle_cache(SETTLE));
    let prefix = "Absent02";
    let key = format!("{prefix}.{}", "k".repeat(32));
    assert!(!keys.is_valid(&key).expect("is_valid"));
    assert_eq!(keys.cache_absent_len(), 1, "remembered as absent");

    held.arm();
    let hashed = apikey_core::hashers::hash(&key);
    db.raw_sql(&format!(
        "INSERT INTO api_keys (prefix, hashed_key, created, name, revoked) \
         VALUES ('{prefix}', '{hashed}', '2026-01-01 00:00:00', 'late', false)"
    ))
    .expect("insert");
    // The pass the insert called for is held at its first query: the
    // prefix is still remembered as absent, but no longer current.
    held.parked("the insert");
    assert_eq!(keys.cache_absent_len(), 1, "not yet re-read");
    let accepted = keys.is_valid(&key);
    held.release();
    assert!(accepted.expect("is_valid"), "refused from a stale entry");
}

/// The prefix set is loaded when it is due and only then: at the first
/// lookup that goes to the database, not again while it is current (and
/// meanwhile, on SQLite, a lookup the cache cannot answer stays on the
/// calling thread), and once more after an insert the feed reports.
fn prefix_set_loads_when_due_and_only_then(db: &TestDb) {
    let keys = manager(db).with_cache(Duration::from_secs(3600), 100);
    let other = manager(db).without_cache();
    let (_, a) = other.create_key(NewKey::new("a")).expect("create");
    let (_, b) = other.create_key(NewKey::new("b")).expect("create");
    assert!(keys.settle_cache(SETTLE));
    let never = |i: usize| format!("Nvr{i:05}.{}", "n".repeat(32));
    assert!(!keys.is_valid(&never(0)).expect("is_valid"));
    assert_eq!(keys.cache_prefixes_len(), Some(2), "loaded");
    assert_eq!(keys.__prefix_set_loads(), 1);

    // Current: keys this cache has not seen are looked up without loading
    // it again.
    if db.kind == BackendKind::Sqlite {
        assert!(
            matches!(keys.try_get_from_key_inline(a.expose_secret()), Some(Ok(_))),
            "answered inline"
        );
    } else {
        assert!(keys.is_valid(a.expose_secret()).expect("is_valid"));
    }
    assert!(keys.is_valid(b.expose_secret()).expect("is_valid"));
    assert!(!keys.is_valid(&never(1)).expect("is_valid"));
    assert_eq!(
        keys.__prefix_set_loads(),
        1,
        "not loaded again while current"
    );

    // An insert elsewhere makes it stale: loaded once more (by the next
    // lookup that goes to the database, or by the revalidation pass the
    // insert calls for).
    let (_, c) = other.create_key(NewKey::new("c")).expect("create");
    assert!(keys.settle_cache(SETTLE));
    assert!(keys.is_valid(c.expose_secret()).expect("is_valid"));
    let start = Instant::now();
    while keys.cache_prefixes_len() != Some(3) {
        assert!(
            start.elapsed() < SETTLE,
            "not loaded again after the insert: {:?}, {} loads",
            keys.cache_prefixes_len(),
            keys.__prefix_set_loads()
        );
        assert!(!keys.is_valid(&never(2)).expect("is_valid"));
        std::thread::sleep(Duration::from_millis(1));
    }
    assert_eq!(keys.__prefix_set_loads(), 2);
}

/// The sweep keeps what the cache knows current past `max_age`: a hot key
/// and a revoked key's prefix (known to have no usable key) are answered
/// without a lookup query long after `max_age`, nothing having changed.
fn sweeps_keep_hot_keys_and_known_refusals_past_max_age(db: &TestDb) {
    let lookups = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let max_age = Duration::from_secs(1);
    let keys = manager(db)
        .with_usable_keys(CountingLookups(Arc::clone(&lookups)))
        .with_cache(max_age, 100);
    let (_, good) = keys.create_key(NewKey::new("hot")).expect("create");
    let (gone, gone_key) = keys.create_key(NewKey::new("revoked")).expect("create");
    keys.revoke(gone.prefix()).expect("revoke");
    assert!(keys.settle_cache(SETTLE));
    assert!(keys.is_valid(good.expose_secret()).expect("is_valid"));
    assert!(!keys.is_valid(gone_key.expose_secret()).expect("is_valid"));
    let queried = lookups.load(std::sync::atomic::Ordering::SeqCst);
    assert_eq!(queried, 2, "one lookup query each");
    assert_eq!(keys.cache_prefixes_len(), Some(2), "the prefix set loaded");
    let passes = keys.cache_revalidations();
    let mut seen = passes;
    let start = Instant::now();
    while start.elapsed() < max_age * 3 || keys.cache_revalidations() < passes + 4 {
        assert!(start.elapsed() < SETTLE * 2, "no sweeps");
        let now = keys.cache_revalidations();
        if now != seen {
            // Each sweep reloads the set before it ages out, so a flood of
            // never-issued keys never finds the cache without it.
            seen = now;
            assert_eq!(keys.cache_prefixes_len(), Some(2), "the set kept current");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(keys.is_valid(good.expose_secret()).expect("is_valid"));
    assert!(!keys.is_valid(gone_key.expose_secret()).expect("is_valid"));
    assert_eq!(
        lookups.load(std::sync::atomic::Ordering::SeqCst),
        queried,
        "both answered from memory, three max_ages later"
    );
}

/// Django's own table has no change trigger on PostgreSQL: nothing would
/// report a key Django inserts, so the cache keeps no prefix set there and a
/// key inserted by another connection is accepted at once (each unknown
/// prefix is a query). On SQLite the feed sees every commit: the set is kept.
fn no_prefix_set_for_a_table_no_trigger_reports(db: &TestDb) {
    db.create_django_table();
    let keys = BaseApiKeyManager::<apikey_core::DjangoApiKey>::new(db.database());
    assert!(keys.settle_cache(SETTLE));
    let (_, made) = keys.create_key(NewKey::new("rust")).expect("create");
    assert!(keys.settle_cache(SETTLE));
    assert!(!keys
        .is_valid(&format!("Nev00001.{}", "n".repeat(32)))
        .expect("is_valid"));
    assert!(keys.is_valid(made.expose_secret()).expect("is_valid"));
    match db.kind {
        BackendKind::Postgres => {
            assert_eq!(keys.cache_prefixes_len(), None, "no set without a trigger");
            // Inserted by "Django" (another connection), used at once.
            let key = format!("Djang001.{}", "d".repeat(32));
            let hashed = apikey_core::hashers::hash(&key);
            db.raw_sql(&format!(
                "INSERT INTO rest_framework_api_key_apikey \
                 (id, prefix, hashed_key, created, name, revoked) \
                 VALUES ('Djang001.{hashed}', 'Djang001', '{hashed}', now(), 'django', false)"
            ))
            .expect("insert");
            assert!(keys.is_valid(&key).expect("is_valid"), "accepted at once");
        }
        _ => assert_eq!(keys.cache_prefixes_len(), Some(1)),
    }
}

/// A table over the prefix-set limit, or (on PostgreSQL) one without the
/// notification trigger, goes without the set; that answer stands for a
/// minute: not counted or checked again at every sweep.
fn a_table_without_a_set_is_not_recounted_at_every_sweep(db: &TestDb) {
    let wait_for_sweeps = |passes: u64, keys_passes: &dyn Fn() -> u64| {
        let start = Instant::now();
        while keys_passes() < passes + 4 {
            assert!(start.elapsed() < SETTLE, "no sweeps");
            std::thread::sleep(Duration::from_millis(5));
        }
    };
    let short = Duration::from_millis(400);
    let other = manager(db).without_cache();
    for name in ["a", "b", "c"] {
        other.create_key(NewKey::new(name)).expect("create");
    }
    let limited = manager(db).with_cache(short, 100).__prefix_set_limit(2);
    assert!(limited.settle_cache(SETTLE));
    assert!(!limited
        .is_valid(&format!("Nev00002.{}", "n".repeat(32)))
        .expect("is_valid"));
    assert_eq!(limited.cache_prefixes_len(), None, "3 rows > limit 2");
    assert_eq!(limited.__prefix_set_loads(), 1);
    wait_for_sweeps(limited.cache_revalidations(), &|| {
        limited.cache_revalidations()
    });
    assert_eq!(
        limited.__prefix_set_loads(),
        1,
        "counted once, not at every sweep"
    );

    if db.kind == BackendKind::Postgres {
        db.create_django_table();
        let django = BaseApiKeyManager::<apikey_core::DjangoApiKey>::new(db.database())
            .with_cache(short, 100);
        assert!(django.settle_cache(SETTLE));
        assert!(!django
            .is_valid(&format!("Nev00003.{}", "n".repeat(32)))
            .expect("is_valid"));
        assert_eq!(
            django.cache_prefixes_len(),
            None,
            "no set without a trigger"
        );
        assert_eq!(django.__prefix_set_loads(), 1);
        wait_for_sweeps(django.cache_revalidations(), &|| {
            django.cache_revalidations()
        });
        assert_eq!(
            django.__prefix_set_loads(),
            1,
            "checked once, not at every sweep"
        );
    }
}

/// A row the revalidation sweep files again with new contents (Django's own
/// table has no trigger on PostgreSQL: only the sweep sees a rename there)
/// is answered with them by the thread that held a young copy of the old
/// entry: refiling voids the copies. (On SQLite the feed sees the rename
/// and the cache goes stale at once.)
fn a_row_the_sweep_refiles_is_answered_as_refiled(db: &TestDb) {
    db.create_django_table();
    // Sweeps every 2 s: a copy made right after one is still young (under
    // the 4 s max_age) when the next one has run.
    let keys = BaseApiKeyManager::<apikey_core::DjangoApiKey>::new(db.database())
        .with_cache(Duration::from_secs(4), 100);
    let (row, key) = keys.create_key(NewKey::new("before")).expect("create");
    let key = key.expose_secret().to_owned();
    assert!(keys.settle_cache(SETTLE));
    let name = |keys: &BaseApiKeyManager<apikey_core::DjangoApiKey>| {
        keys.get_cached(&key).map(|k| k.name().to_owned())
    };
    let pass_after = |passes: u64| {
        let start = Instant::now();
        while keys.cache_revalidations() <= passes {
            assert!(start.elapsed() < Duration::from_secs(10), "no sweep");
            std::thread::sleep(Duration::from_millis(1));
        }
    };
    assert!(keys.is_valid(&key).expect("valid"));
    pass_after(keys.cache_revalidations());
    // Right after a sweep: this thread's copy, young.
    assert_eq!(name(&keys).as_deref(), Some("before"));
    let passes = keys.cache_revalidations();
    db.raw_sql(&format!(
        "UPDATE rest_framework_api_key_apikey SET name = 'after' WHERE prefix = '{}'",
        row.prefix()
    ))
    .expect("rename");
    pass_after(passes);
    assert_eq!(name(&keys).as_deref(), Some("after"));
}

backend_tests!(
    a_row_the_sweep_refiles_is_answered_as_refiled,
    stalled_feed_stops_the_cache_until_it_answers,
    late_feed_keeps_the_cache_unless_the_database_was_read,
    guards_wait_for_a_late_feed_then_query,
    cache_settings_bounded_kept_and_shown,
    no_prefix_set_for_a_table_no_trigger_reports,
    a_table_without_a_set_is_not_recounted_at_every_sweep,
    sweeps_keep_hot_keys_and_known_refusals_past_max_age,
    known_absent_is_stale_at_once_after_an_insert,
    prefix_set_loads_when_due_and_only_then,
    unrelated_writes_revalidate_instead_of_flushing,
    never_issued_keys_cost_no_query_once_prefixes_are_known,
    revocation_racing_a_lookup_is_not_lost,
    revocation_elsewhere_reaches_every_cache,
    only_verified_keys_enter_and_hot_keys_stay,
    absent_prefixes_are_remembered_until_an_insert,
    inline_lookups_where_they_cannot_wait,
    opt_out,
);

/// PostgreSQL's feed has two sources, the change counter the trigger keeps
/// (polled: never late) and the trigger's notifications (for tables whose
/// trigger has no counter); each alone is heard, and each tells an insert
/// (prefixes known absent go stale, cached keys stay current) from any
/// other change (cached keys go stale too). The revalidation pass each one
/// starts is held at its first query, so what the feed did is seen before
/// the pass repairs it.
fn each_feed_source_alone_is_heard(db: &TestDb) {
    let (keys, held) = HeldPasses::manager(db);
    let (_, key) = manager(db)
        .without_cache()
        .create_key(NewKey::new("heard"))
        .expect("create");
    let key = key.expose_secret().to_owned();
    assert!(keys.settle_cache(SETTLE));
    let sources = [
        (
            "UPDATE apikey_change_counter SET changes = changes + 1 WHERE id = 1",
            false,
        ),
        (
            "UPDATE apikey_change_counter SET inserts = inserts + 1 WHERE id = 1",
            true,
        ),
        ("NOTIFY apikey_changes, 'api_keys UPDATE'", false),
        ("NOTIFY apikey_changes, 'api_keys INSERT'", true),
    ];
    for (sql, insert_only) in sources {
        assert!(keys.is_valid(&key).expect("valid"));
        assert!(keys.get_cached(&key).is_some(), "cached before {sql}");
        held.arm();
        db.raw_sql(sql).expect(sql);
        held.parked(sql);
        let still_cached = keys.get_cached(&key).is_some();
        held.release();
        assert_eq!(still_cached, insert_only, "after {sql}");
        assert!(keys.settle_cache(SETTLE));
    }
}

postgres_tests!(
    lost_feed_turns_the_cache_off_until_it_is_back,
    each_feed_source_alone_is_heard,
);
