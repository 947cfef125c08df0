//! Abuse cases and input edges (issue 12), on both backends.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::time::Duration as StdDuration;

use apikey_actix::admin::{Admin, BasicAuth, Throttle};
use apikey_actix::Denial;
use apikey_core::hashers::{self, Verification};
use apikey_core::scaffold::{KeyTable, MAX_IDENTIFIER_LENGTH};
use apikey_core::{
    AbstractApiKey, ApiKey, BackendKind, BaseApiKeyManager, DatabaseConfig, DbConnection, Error,
    GenerateKey, GeneratedKey, KeyFilter, KeyGenerator, LegacyLimits, NewKey, UsableKeys,
};
use apikey_tests::{backend_tests, TestDb};
use chrono::{Duration, Utc};
use diesel::connection::SimpleConnection;

backend_tests!(
    scaffold_long_table_names_fit_and_do_not_collide,
    timestamps_are_instants_whatever_the_session_time_zone,
    bad_names_and_far_expiry_dates_change_nothing,
    legacy_checks_are_remembered_and_bounded,
    a_locked_table_is_unavailable_not_a_hang,
);

/// Runs `f` on a thread of its own; its result, or a panic after 60 s (so
/// that a hang fails the test instead of stopping the suite).
fn bounded<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(f());
    });
    rx.recv_timeout(StdDuration::from_secs(60))
        .expect("the call hung instead of answering")
}

/// A write lock held elsewhere (an `ALTER TABLE`, a long transaction, a
/// SQLite writer): lookups and writes wait at most `lock_timeout`, then
/// report the store unavailable (503), not a database error (500).
fn a_locked_table_is_unavailable_not_a_hang(db: &TestDb) {
    let database =
        db.database_with(DatabaseConfig::default().lock_timeout(StdDuration::from_millis(300)));
    let keys = BaseApiKeyManager::<ApiKey>::new(database).without_cache();
    let (_, key) = keys.create_key(NewKey::new("locked out")).expect("create");
    let (locked_tx, locked_rx) = mpsc::channel();
    let (release_tx, release_rx) = mpsc::channel::<()>();
    let url = db.url.clone();
    let kind = db.kind;
    let holder = std::thread::spawn(move || {
        let lock = match kind {
            BackendKind::Postgres => {
                let mut c =
                    <diesel::PgConnection as diesel::Connection>::establish(&url).expect("connect");
                c.batch_execute("BEGIN; LOCK TABLE api_keys IN ACCESS EXCLUSIVE MODE;")
                    .expect("lock");
                Box::new(c) as Box<dyn std::any::Any + Send>
            }
            _ => {
                let path = url.trim_start_matches("sqlite://");
                let mut c = <diesel::SqliteConnection as diesel::Connection>::establish(path)
                    .expect("connect");
                c.batch_execute("BEGIN EXCLUSIVE;").expect("lock");
                Box::new(c)
            }
        };
        locked_tx.send(()).expect("locked");
        let _ = release_rx.recv();
        drop(lock);
    });
    locked_rx.recv().expect("the table is locked");
    let create = {
        let keys = keys.clone();
        bounded(move || keys.create_key(NewKey::new("blocked")).map(|_| ()))
    };
    assert!(matches!(create, Err(Error::Unavailable(_))), "{create:?}");
    if db.kind == BackendKind::Postgres {
        // (SQLite readers are not blocked by a writer in WAL mode.)
        let secret = key.expose_secret().to_owned();
        let lookup = {
            let keys = keys.clone();
            bounded(move || keys.get_from_key(&secret).map(|_| ()))
        };
        assert!(matches!(lookup, Err(Error::Unavailable(_))), "{lookup:?}");
    }
    release_tx.send(()).expect("release");
    holder.join().expect("holder");
    assert!(keys
        .is_valid(key.expose_secret())
        .expect("lookup after the lock"));
}

/// A statement that runs too long is cancelled by PostgreSQL's
/// `statement_timeout`, and reported as unavailable.
#[test]
fn postgres_slow_statement_is_cancelled_and_unavailable() {
    let db = TestDb::postgres();
    let database = db
        .database_with(DatabaseConfig::default().statement_timeout(StdDuration::from_millis(200)));
    let slow = bounded(move || database.run(|c| c.batch_execute("SELECT pg_sleep(30)")));
    assert!(matches!(slow, Err(Error::Unavailable(_))), "{slow:?}");
}

/// PostgreSQL restarted under a running manager whose pooled connections
/// are all stale: once the server is back, no lookup fails.
#[test]
fn a_postgres_restart_costs_no_request() {
    // A cluster of its own, where the PostgreSQL tests are meant to run.
    apikey_tests::pg_server_url();
    let root = tempfile::tempdir().expect("tmp");
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/../scripts/pg.sh");
    let pg = |cmd: &str| {
        let out = std::process::Command::new("bash")
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
    struct Stop<F: Fn()>(F);
    impl<F: Fn()> Drop for Stop<F> {
        fn drop(&mut self) {
            (self.0)();
        }
    }
    let url = pg("start")
        .trim()
        .trim_start_matches("DATABASE_URL=")
        .to_owned();
    let _stop = Stop(|| {
        let _ = pg("stop");
    });
    let database = apikey_core::Database::connect_with(&url, DatabaseConfig::default().max_size(4))
        .expect("connect");
    database.migrate().expect("migrate");
    let keys = BaseApiKeyManager::<ApiKey>::new(database.clone()).without_cache();
    let (_, key) = keys.create_key(NewKey::new("survivor")).expect("create");
    // Four connections in the pool, all idle.
    database
        .run(|a| {
            database
                .run(|b| {
                    database
                        .run(|c| {
                            database
                                .run(|d| {
                                    for conn in [a, b, c, d] {
                                        conn.batch_execute("SELECT 1")?;
                                    }
                                    Ok(())
                                })
                                .map_err(|_| diesel::result::Error::NotFound)
                        })
                        .map_err(|_| diesel::result::Error::NotFound)
                })
                .map_err(|_| diesel::result::Error::NotFound)
        })
        .expect("four connections");
    pg("pause");
    pg("resume");
    for i in 0..8 {
        let found = keys.get_from_key(key.expose_secret());
        assert!(found.is_ok(), "lookup {i} after the restart: {found:?}");
    }
}

/// A check to hold: "entered" is sent, then it waits for "go on".
type Hold = Arc<Mutex<Option<(mpsc::Sender<()>, mpsc::Receiver<()>)>>>;

/// The default generator, counting the legacy checks it runs, and holding
/// the first one until told to go on when `hold` is set.
#[derive(Debug, Default)]
struct Counting {
    legacy: Arc<AtomicUsize>,
    hold: Option<Hold>,
}

impl GenerateKey for Counting {
    fn generate(&self) -> GeneratedKey {
        KeyGenerator::default().generate()
    }
    fn verify(&self, key: &str, hashed_key: &str) -> Verification {
        if !hashers::is_preferred(hashed_key) {
            self.legacy.fetch_add(1, Ordering::SeqCst);
            let held = self
                .hold
                .as_ref()
                .and_then(|h| h.lock().expect("hold").take());
            if let Some((entered, go_on)) = held {
                entered.send(()).expect("entered");
                go_on.recv().expect("go on");
            }
        }
        hashers::verify(key, hashed_key)
    }
    fn is_well_formed(&self, key: &str) -> bool {
        KeyGenerator::default().is_well_formed(key)
    }
}

/// A legacy (PBKDF2) key: a wrong secret repeated costs one check; a check
/// beyond the limit is refused as busy (never granted); the right key right
/// after wrong ones is checked, granted and upgraded.
fn legacy_checks_are_remembered_and_bounded(db: &TestDb) {
    let legacy = Arc::new(AtomicUsize::new(0));
    let (entered_tx, entered_rx) = mpsc::channel();
    let (go_tx, go_rx) = mpsc::channel();
    let hold = Arc::new(Mutex::new(None));
    let keys = BaseApiKeyManager::<ApiKey>::new(db.database())
        .without_cache()
        .with_generator(Counting {
            legacy: Arc::clone(&legacy),
            hold: Some(Arc::clone(&hold)),
        })
        .with_legacy_limits(
            LegacyLimits::default()
                .max_concurrent(1)
                .max_wait(StdDuration::ZERO),
        );
    let (row, key) = keys.create_key(NewKey::new("legacy")).expect("create");
    let stored = hashers::encode_django_pbkdf2("pbkdf2_sha256", key.expose_secret(), "salt", 1000)
        .expect("encode");
    db.raw_sql(&format!(
        "UPDATE api_keys SET hashed_key = '{stored}' WHERE prefix = '{}'",
        row.prefix()
    ))
    .expect("legacy hash");
    let wrong = |c: char| format!("{}.{}", row.prefix(), c.to_string().repeat(32));

    for _ in 0..5 {
        assert!(matches!(
            keys.get_from_key(&wrong('a')),
            Err(Error::InvalidKey)
        ));
    }
    assert_eq!(
        legacy.load(Ordering::SeqCst),
        1,
        "one check for a repeated wrong key"
    );

    // One check running (held); another one is refused as busy.
    *hold.lock().expect("hold") = Some((entered_tx, go_rx));
    let running = {
        let (keys, guess) = (keys.clone(), wrong('b'));
        std::thread::spawn(move || keys.get_from_key(&guess).map(|_| ()))
    };
    entered_rx.recv().expect("the check runs");
    let busy = keys.get_from_key(key.expose_secret());
    assert!(matches!(busy, Err(Error::Busy(_))), "{busy:?}");
    assert!(busy.expect_err("busy").is_unavailable());
    go_tx.send(()).expect("go on");
    assert!(matches!(
        running.join().expect("join"),
        Err(Error::InvalidKey)
    ));

    // The right key, right after the wrong ones: checked, granted, upgraded.
    let found = keys
        .get_from_key(key.expose_secret())
        .expect("the right key");
    assert!(hashers::is_preferred(found.hashed_key()));
    assert_eq!(legacy.load(Ordering::SeqCst), 3);
}

/// A session 14 hours east of UTC (as a transaction-pooling proxy may hand
/// out, without the `SET TIME ZONE 'UTC'` of the pool's own connections):
/// a key that expires in an hour is usable, one that expired an hour ago
/// (written by raw SQL, as Django would) is not, and `created` reads back
/// as now.
fn timestamps_are_instants_whatever_the_session_time_zone(db: &TestDb) {
    let database = db.database_with(DatabaseConfig::default().max_size(1));
    if db.kind == BackendKind::Postgres {
        database
            .run(|c| c.batch_execute("SET TIME ZONE 'Pacific/Kiritimati'"))
            .expect("session time zone");
    }
    let keys = BaseApiKeyManager::<ApiKey>::new(database).without_cache();
    let (row, soon) = keys
        .create_key(NewKey::new("soon").expires(Utc::now() + Duration::hours(1)))
        .expect("create");
    let drift = (row.created() - Utc::now()).num_seconds().abs();
    assert!(drift < 600, "created reads back {drift} s away from now");
    assert!(
        keys.is_valid(soon.expose_secret()).expect("lookup"),
        "a key expiring in an hour is usable"
    );
    let (past, expired) = keys.create_key(NewKey::new("past")).expect("create");
    let hour_ago = match db.kind {
        BackendKind::Postgres => "now() - interval '1 hour'",
        _ => "strftime('%Y-%m-%d %H:%M:%f', 'now', '-1 hour')",
    };
    db.raw_sql(&format!(
        "UPDATE api_keys SET expiry_date = {hour_ago} WHERE prefix = '{}'",
        past.prefix()
    ))
    .expect("expire");
    assert!(
        !keys.is_valid(expired.expose_secret()).expect("lookup"),
        "a key that expired an hour ago is refused"
    );
    let filter = KeyFilter {
        expired: Some(true),
        ..KeyFilter::default()
    };
    let listed: Vec<String> = keys
        .list(&filter)
        .expect("list")
        .iter()
        .map(|k| k.prefix().to_owned())
        .collect();
    assert_eq!(listed, [past.prefix().to_owned()]);
}

/// A name with a bidi override or a zero-width space, and an expiry past
/// year 9999, are refused by `create_key` and `update`, and nothing changes.
fn bad_names_and_far_expiry_dates_change_nothing(db: &TestDb) {
    let keys = BaseApiKeyManager::<ApiKey>::new(db.database()).without_cache();
    let far = Utc::now() + Duration::days(3_000_000);
    for (name, expiry) in [
        ("evil\u{202E}gpj.exe", None),
        ("zero\u{200B}width", None),
        ("fine", Some(far)),
    ] {
        let err = keys
            .create_key(NewKey::new(name).expiry(expiry))
            .expect_err("refused");
        assert!(matches!(err, Error::Validation { .. }), "{err}");
    }
    assert_eq!(keys.count(&KeyFilter::default()).expect("count"), 0);
    let (row, _) = keys.create_key(NewKey::new("ok")).expect("create");
    assert!(keys.update(row.prefix(), "bad\u{2067}", None).is_err());
    assert!(keys.update(row.prefix(), "ok", Some(far)).is_err());
    let stored = keys
        .find_by_prefix(row.prefix())
        .expect("find")
        .expect("row");
    assert_eq!((stored.name(), stored.expiry_date()), ("ok", None));
}

/// Two key tables whose 63-character names differ only in their last
/// character: both scaffolds run on the same database (index names are
/// schema-wide on PostgreSQL, which truncates longer names silently), each
/// table keeps its revocation trigger, and the down scripts undo both.
fn scaffold_long_table_names_fit_and_do_not_collide(db: &TestDb) {
    let base = "k".repeat(MAX_IDENTIFIER_LENGTH - 1);
    let tables: Vec<String> = ['a', 'b'].iter().map(|c| format!("{base}{c}")).collect();
    let migrations: Vec<_> = tables
        .iter()
        .map(|t| {
            KeyTable::new(t.as_str())
                .column("owner_id BIGINT NOT NULL DEFAULT 0")
                .index("owner_id")
                .migration(db.kind)
                .expect("a 63-character table name is accepted")
        })
        .collect();
    for m in &migrations {
        db.raw_sql(&m.up).expect("up");
    }
    if db.kind == BackendKind::Postgres {
        for t in &tables {
            // pkey, unique prefix, created, owner_id.
            db.raw_sql(&format!(
                "DO $$ BEGIN IF (SELECT count(*) FROM pg_indexes WHERE tablename = '{t}') <> 4 \
                 THEN RAISE EXCEPTION 'indexes of {t}'; END IF; \
                 IF (SELECT count(*) FROM pg_trigger WHERE tgrelid = '{t}'::regclass \
                 AND NOT tgisinternal) <> 2 THEN RAISE EXCEPTION 'triggers of {t}'; END IF; END $$;"
            ))
            .expect("every index and trigger of each table exists");
        }
    }
    for t in &tables {
        db.raw_sql(&format!(
            "INSERT INTO {t} (prefix, hashed_key, created, name) \
             VALUES ('p', 'h', '2026-01-01 00:00:00', 'n'); \
             UPDATE {t} SET revoked = TRUE;"
        ))
        .expect("insert and revoke");
        assert!(
            db.raw_sql(&format!("UPDATE {t} SET revoked = FALSE"))
                .is_err(),
            "the revocation trigger of {t} refuses un-revoking"
        );
    }
    for m in migrations.iter().rev() {
        db.raw_sql(&m.down).expect("down");
    }
    for m in &migrations {
        db.raw_sql(&m.up).expect("up again");
    }
}

/// `Debug` of the built-in models and of `HasApiKey` shows every field but
/// the stored hash.
#[test]
fn debug_never_shows_the_stored_hash() {
    let db = TestDb::sqlite();
    let keys = BaseApiKeyManager::<ApiKey>::new(db.database());
    let (row, key) = keys.create_key(NewKey::new("named")).expect("create");
    let digits = &row.hashed_key()["sha512$$".len()..];
    assert!(keys.settle_cache(std::time::Duration::from_secs(5)));
    assert!(keys.is_valid(key.expose_secret()).expect("valid"));
    let cached = keys
        .verify_cached(key.expose_secret())
        .expect("cached")
        .expect("valid");
    for shown in [
        format!("{row:?}"),
        format!("{row:#?}"),
        format!("{:?}", apikey_actix::HasApiKey(row.clone().into())),
        format!("{cached:?}"),
        format!("{:?}", apikey_actix::HasApiKey(cached.clone())),
    ] {
        assert!(!shown.contains(digits), "{shown}");
        assert!(shown.contains("hashed_key: \"********\""), "{shown}");
        assert!(
            shown.contains(row.prefix()) && shown.contains("named"),
            "{shown}"
        );
    }
}

/// A narrowing that holds every lookup until released.
struct Stalled(Mutex<mpsc::Receiver<()>>);

impl UsableKeys<ApiKey> for Stalled {
    fn find_usable(
        &self,
        _conn: &mut DbConnection,
        _now: chrono::NaiveDateTime,
        _prefix: &str,
    ) -> diesel::QueryResult<Option<ApiKey>> {
        let rx = self.0.lock().expect("stalled");
        let _ = rx.recv_timeout(StdDuration::from_secs(30));
        Ok(None)
    }
}

/// A lookup that does not answer within the guard's bound is a 503 with
/// Retry-After, whatever holds it up (PostgreSQL: lookups run on a blocking
/// thread; SQLite's run on the worker, where nothing can interrupt them).
#[test]
fn postgres_stalled_lookup_is_503_within_the_bound() {
    use actix_web::{test as atest, web, App, HttpResponse};
    let db = TestDb::postgres();
    let (release, stalled) = mpsc::channel();
    let keys = BaseApiKeyManager::<ApiKey>::new(db.database())
        .without_cache()
        .with_usable_keys(Stalled(Mutex::new(stalled)));
    let (_, key) = keys.create_key(NewKey::new("stalled")).expect("create");
    actix_rt::System::new().block_on(async move {
        let app = atest::init_service(
            App::new()
                .app_data(web::Data::new(keys))
                .app_data(
                    apikey_actix::ApiKeyConfig::default()
                        .lookup_timeout(StdDuration::from_millis(200)),
                )
                .route(
                    "/",
                    web::get().to(|_: apikey_actix::HasApiKey<ApiKey>| async {
                        HttpResponse::Ok().finish()
                    }),
                ),
        )
        .await;
        let req = atest::TestRequest::get()
            .uri("/")
            .insert_header(("Authorization", format!("Api-Key {}", key.expose_secret())))
            .to_request();
        let res = atest::call_service(&app, req).await;
        let _ = release.send(());
        assert_eq!(res.status().as_u16(), 503);
        assert!(res.headers().contains_key("retry-after"));
    });
}

fn basic(user: &str, password: &str) -> String {
    use base64::Engine as _;
    let pair = format!("{user}:{password}");
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(pair)
    )
}

fn attempt(auth: &BasicAuth, from: [u8; 4], password: &str) -> Result<(), Denial> {
    let req = actix_web::test::TestRequest::default()
        .peer_addr(std::net::SocketAddr::from((from, 40000)))
        .insert_header(("Authorization", basic("admin", password)))
        .to_http_request();
    auth.verify(&req)
}

const PASSWORD: &str = "correct horse battery staple";

#[test]
fn weak_admin_passwords_are_refused() {
    for weak in ["", "a", "s3cret", "elevenchars"] {
        let err = BasicAuth::new("admin", weak).expect_err(weak);
        assert!(err.to_string().contains("at least 12"), "{err}");
    }
    assert!(BasicAuth::new("", PASSWORD).is_err());
    assert!(BasicAuth::new("admin", "twelve chars").is_ok());
}

/// Failed attempts back off per address: 429 while it lasts, even for the
/// right password, which works again once it is over; other addresses are
/// not affected until the server-wide allowance is spent too.
#[test]
fn failed_basic_auth_backs_off_per_address_then_globally() {
    let auth = BasicAuth::new("admin", PASSWORD).expect("strong").throttle(
        Throttle::default()
            .free_failures_per_address(2)
            .free_failures_global(6)
            .backoff(StdDuration::from_millis(300), StdDuration::from_millis(600)),
    );
    let a = [10, 0, 0, 1];
    for _ in 0..3 {
        assert_eq!(attempt(&auth, a, "wrong"), Err(Denial::InvalidKey));
    }
    let throttled = attempt(&auth, a, PASSWORD);
    assert!(
        matches!(throttled, Err(Denial::Throttled { retry_after: 1 })),
        "{throttled:?}"
    );
    assert_eq!(
        attempt(&auth, [10, 0, 0, 2], PASSWORD),
        Ok(()),
        "another address"
    );
    // The right password is refused no longer than the back-off.
    let mut tries = 0;
    while attempt(&auth, a, PASSWORD).is_err() {
        tries += 1;
        assert!(tries < 200, "still refused well after the back-off");
        std::thread::sleep(StdDuration::from_millis(20));
    }
    // A success starts the address's count again.
    assert_eq!(attempt(&auth, a, "wrong"), Err(Denial::InvalidKey));
    assert_eq!(attempt(&auth, a, PASSWORD), Ok(()));
    // Guesses spread over addresses: the server-wide allowance (6, 4 spent).
    for i in 3..6 {
        assert_eq!(
            attempt(&auth, [10, 0, 0, i], "wrong"),
            Err(Denial::InvalidKey)
        );
    }
    let fresh = attempt(&auth, [10, 0, 0, 9], PASSWORD);
    assert!(matches!(fresh, Err(Denial::Throttled { .. })), "{fresh:?}");
}

/// A 429 from the admin carries Retry-After.
#[test]
fn throttled_admin_answers_429_with_retry_after() {
    use actix_web::{test as atest, App};
    let db = TestDb::sqlite();
    let keys = BaseApiKeyManager::<ApiKey>::new(db.database());
    let auth = BasicAuth::new("admin", PASSWORD)
        .expect("strong")
        .throttle(Throttle::default().free_failures_per_address(1));
    actix_rt::System::new().block_on(async move {
        let app = atest::init_service(
            App::new().service(Admin::new(keys).permission(auth).scope("/admin")),
        )
        .await;
        let call = |password: &str| {
            atest::TestRequest::get()
                .uri("/admin/")
                .peer_addr(std::net::SocketAddr::from(([10, 0, 0, 1], 1)))
                .insert_header(("Authorization", basic("admin", password)))
                .to_request()
        };
        for _ in 0..2 {
            let res = atest::call_service(&app, call("wrong")).await;
            assert_eq!(res.status().as_u16(), 401);
        }
        let res = atest::call_service(&app, call(PASSWORD)).await;
        assert_eq!(res.status().as_u16(), 429);
        let retry: u32 = res
            .headers()
            .get("retry-after")
            .expect("Retry-After")
            .to_str()
            .expect("ascii")
            .parse()
            .expect("seconds");
        assert!((1..=60).contains(&retry), "{retry}");
    });
}

/// Every generator refuses secrets with under 128 bits of entropy.
#[test]
fn generators_refuse_short_secrets() {
    use apikey_core::branded::BrandedKeyGenerator;
    assert!(KeyGenerator::new(8, 8).is_err());
    assert!(KeyGenerator::new(8, 21).is_err());
    let branded = BrandedKeyGenerator::new("acme").expect("brand");
    assert!(branded.clone().lengths(8, 8).is_err());
    assert!(branded.lengths(8, 22).is_ok());
}

/// The admin behind a load balancer: a form served by one instance is
/// accepted by another when they share the CSRF secret (and refused with
/// the per-process default); a token older than the maximum age is refused;
/// `Secure` follows the configuration, not X-Forwarded-Proto.
#[test]
fn csrf_across_instances_max_age_and_secure_from_configuration() {
    use actix_web::{test as atest, App};
    let db = TestDb::sqlite();
    let keys = BaseApiKeyManager::<ApiKey>::new(db.database());
    let secret = [42u8; 32];
    let auth = BasicAuth::new("admin", PASSWORD).expect("strong");
    assert!(Admin::new(keys.clone()).csrf_secret(&[1u8; 16]).is_err());
    let admin = |shared: bool, max_age: StdDuration| {
        let admin = Admin::new(keys.clone())
            .permission(auth.clone())
            .csrf_max_age(max_age);
        if shared {
            admin.csrf_secret(&secret).expect("secret")
        } else {
            admin
        }
    };
    let get = |proto: &str| {
        atest::TestRequest::get()
            .uri("/admin/new")
            .insert_header(("Authorization", basic("admin", PASSWORD)))
            .insert_header(("x-forwarded-proto", proto.to_owned()))
            .to_request()
    };
    let post = |token: &str, name: &str| {
        atest::TestRequest::post()
            .uri("/admin/new")
            .insert_header(("Authorization", basic("admin", PASSWORD)))
            .insert_header(("Cookie", format!("apikey_admin_csrf={token}")))
            .set_form([("name", name), ("csrf_token", token)])
            .to_request()
    };
    let token_of = |set_cookie: &str| {
        set_cookie
            .strip_prefix("apikey_admin_csrf=")
            .and_then(|v| v.split(';').next())
            .expect("the csrf cookie")
            .to_owned()
    };
    actix_rt::System::new().block_on(async move {
        let day = StdDuration::from_secs(86_400);
        let one = atest::init_service(App::new().service(admin(true, day).scope("/admin"))).await;
        let two = atest::init_service(App::new().service(admin(true, day).scope("/admin"))).await;
        let alone =
            atest::init_service(App::new().service(admin(false, day).scope("/admin"))).await;
        let expired =
            atest::init_service(App::new().service(admin(true, StdDuration::ZERO).scope("/admin")))
                .await;
        let secure = atest::init_service(
            App::new().service(admin(true, day).secure_cookies(true).scope("/admin")),
        )
        .await;

        let res = atest::call_service(&one, get("https")).await;
        let set = res
            .headers()
            .get("set-cookie")
            .expect("cookie")
            .to_str()
            .expect("ascii");
        assert!(!set.to_ascii_lowercase().contains("secure"), "{set}");
        let token = token_of(set);
        let res = atest::call_service(&two, post(&token, "via two")).await;
        assert_eq!(res.status().as_u16(), 201, "another instance, same secret");
        let res = atest::call_service(&alone, post(&token, "via alone")).await;
        assert_eq!(res.status().as_u16(), 403, "another secret");
        let res = atest::call_service(&expired, post(&token, "expired")).await;
        assert_eq!(res.status().as_u16(), 403, "older than the maximum age");

        let res = atest::call_service(&secure, get("http")).await;
        let set = res
            .headers()
            .get("set-cookie")
            .expect("cookie")
            .to_str()
            .expect("ascii");
        assert!(set.to_ascii_lowercase().contains("secure"), "{set}");
    });
    let names: Vec<String> = keys
        .list(&KeyFilter::default())
        .expect("list")
        .iter()
        .map(|k| k.name().to_owned())
        .collect();
    assert_eq!(names, ["via two"]);
}

/// Set for the child process of
/// `a_store_failure_without_a_logger_is_printed_once`.
const STDERR_CHILD: &str = "APIKEY_TEST_STDERR_CHILD";

/// A busy store (not reported); a guarded route on a SQLite file that was
/// never migrated (no key table): every lookup fails inside the store,
/// three requests, each a 500; then
/// one on a PostgreSQL server that is down, three 503s. Does
/// nothing unless run as the child of the test below, which reads its
/// stderr (this process installs no `log` logger).
#[actix_web::test]
async fn unmigrated_database_child() {
    use actix_web::{test as atest, web, App, HttpResponse};
    use apikey_actix::{register, ApiKeyConfig, HasApiKey};
    if std::env::var_os(STDERR_CHILD).is_none() {
        return;
    }
    // A busy store first (too many legacy checks at once): a 503 that is
    // expected under a flood, so neither logged as an outage nor printed.
    let busy = apikey_actix::lookup::blocking(|| -> apikey_core::Result<()> {
        Err(Error::Busy("legacy checks all taken".into()))
    })
    .await;
    assert_eq!(busy, Err(Denial::Unavailable));
    let dir = tempfile::tempdir().expect("temporary folder");
    let db = apikey_core::Database::connect(
        dir.path()
            .join("unmigrated.sqlite3")
            .to_str()
            .expect("utf-8 path"),
    )
    .expect("a new SQLite file opens");
    let keys = BaseApiKeyManager::<ApiKey>::new(db);
    let app = atest::init_service(
        App::new()
            .configure(register(keys, ApiKeyConfig::default()))
            .route(
                "/p",
                web::get().to(|key: HasApiKey<ApiKey>| async move {
                    HttpResponse::Ok().body(key.name().to_owned())
                }),
            ),
    )
    .await;
    for _ in 0..3 {
        let req = atest::TestRequest::get()
            .uri("/p")
            .insert_header((
                "Authorization",
                "Api-Key Abcdefgh.secretsecretsecretsecretsecret12",
            ))
            .to_request();
        assert_eq!(atest::call_service(&app, req).await.status(), 500);
    }
    // A database that is down: a PostgreSQL port nothing listens on.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port();
    let down = apikey_core::Database::connect_lazy_with(
        &format!("postgres://apikey:hunter2hunter2@127.0.0.1:{port}/none"),
        DatabaseConfig::default().connection_timeout(StdDuration::from_millis(300)),
    )
    .expect("a well-formed URL");
    let app = atest::init_service(
        App::new()
            .configure(register(
                BaseApiKeyManager::<ApiKey>::new(down),
                ApiKeyConfig::default(),
            ))
            .route(
                "/p",
                web::get().to(|key: HasApiKey<ApiKey>| async move {
                    HttpResponse::Ok().body(key.name().to_owned())
                }),
            ),
    )
    .await;
    for _ in 0..3 {
        let req = atest::TestRequest::get()
            .uri("/p")
            .insert_header((
                "Authorization",
                "Api-Key Abcdefgh.secretsecretsecretsecretsecret12",
            ))
            .to_request();
        assert_eq!(atest::call_service(&app, req).await.status(), 503);
    }
}

/// Without a `log` logger, a store that fails is not a silent 500 or 503:
/// the first failed query (a database never migrated) and the first outage
/// (a database that is down) are printed on stderr, once each, with the
/// store's reason and never the key or the database password.
#[test]
fn a_store_failure_without_a_logger_is_printed_once() {
    let out = std::process::Command::new(std::env::current_exe().expect("this test binary"))
        .args([
            "--exact",
            "unmigrated_database_child",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(STDERR_CHILD, "1")
        .output()
        .expect("the child runs");
    let stderr = String::from_utf8_lossy(&out.stderr);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "child failed:\n{stdout}\n{stderr}");
    assert!(
        stdout.contains("1 passed"),
        "the child test did not run:\n{stdout}"
    );
    assert_eq!(
        stderr
            .matches("apikey-actix: key store call failed (500)")
            .count(),
        1,
        "{stderr}"
    );
    assert!(
        stderr.contains("api_keys"),
        "the store's reason is missing: {stderr}"
    );
    assert_eq!(
        stderr
            .matches("apikey-actix: key store unavailable (503)")
            .count(),
        1,
        "{stderr}"
    );
    assert!(
        !stderr.contains("legacy checks all taken"),
        "a busy store was reported as an outage: {stderr}"
    );
    assert!(
        !stderr.contains("secretsecret"),
        "the key was printed: {stderr}"
    );
    assert!(
        !stderr.contains("hunter2"),
        "the password was printed: {stderr}"
    );
}
