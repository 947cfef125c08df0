//! Rate limits and usage quotas stored with a key, on SQLite and
//! PostgreSQL: written by `create_key`, changed by `set_rate_limit` and
//! `set_remaining_uses` (seen at once through the cache), kept by a
//! rotation, refused for Django's table, opt-in on derived models; quotas
//! taken atomically, never below zero, from many threads and two managers.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use apikey_core::scaffold::KeyTable;
use apikey_core::{
    AbstractApiKey, ApiKey, BaseApiKeyManager, DjangoApiKey, Error, NewKey, QuotaUse, RateLimit,
};
use apikey_tests::{backend_tests, TestDb};
use chrono::NaiveDateTime;

mod schema {
    diesel::table! {
        metered_keys (id) {
            id -> BigInt,
            prefix -> Text,
            hashed_key -> Text,
            created -> Timestamp,
            name -> Text,
            revoked -> Bool,
            expiry_date -> Nullable<Timestamp>,
            team_id -> BigInt,
            rate_limit -> Nullable<Text>,
            remaining_uses -> Nullable<BigInt>,
            uses_refill -> Nullable<Text>,
            uses_refill_period -> Nullable<BigInt>,
        }
    }
}

/// A derived model that opts in to both limits.
#[derive(Debug, Clone, diesel::Queryable, diesel::Selectable, apikey_core::ApiKeyModel)]
#[diesel(table_name = schema::metered_keys)]
pub struct MeteredKey {
    id: i64,
    prefix: String,
    hashed_key: String,
    created: NaiveDateTime,
    name: String,
    revoked: bool,
    expiry_date: Option<NaiveDateTime>,
    /// Own field.
    pub team_id: i64,
    /// Filled by the manager.
    pub rate_limit: Option<String>,
    /// Filled by the manager.
    pub remaining_uses: Option<i64>,
    /// Filled by the manager.
    pub uses_refill: Option<String>,
    /// Filled by the manager.
    pub uses_refill_period: Option<i64>,
}

fn rate(text: &str) -> RateLimit {
    text.parse().expect("valid rate limit")
}

fn stored_changed_and_rotated(db: &TestDb) {
    let keys: BaseApiKeyManager<ApiKey> = BaseApiKeyManager::new(db.database());
    let (row, key) = keys
        .create_key(
            NewKey::new("metered")
                .rate_limit(Some(rate("10/s")))
                .uses(Some(3)),
        )
        .expect("create");
    assert_eq!(row.rate_limit(), Some(rate("10/s")));
    assert_eq!(row.rate_limit.as_deref(), Some("10/s"));
    assert_eq!(row.remaining_uses(), Some(3));
    for _ in 0..2 {
        let found = keys.get_from_key(key.expose_secret()).expect("usable");
        assert_eq!(found.rate_limit(), Some(rate("10/s")));
    }
    keys.set_rate_limit(row.prefix(), Some(rate("600/min")))
        .expect("set");
    let found = keys.get_from_key(key.expose_secret()).expect("usable");
    assert_eq!(found.rate_limit(), Some(rate("600/min")), "seen at once");

    // Three uses, then none; the count never goes below zero.
    let uses: Vec<QuotaUse> = (0..5)
        .map(|_| keys.use_quota(&found).expect("use"))
        .collect();
    assert_eq!(
        uses,
        [
            QuotaUse::Used { remaining: 2 },
            QuotaUse::Used { remaining: 1 },
            QuotaUse::Used { remaining: 0 },
            QuotaUse::Exhausted,
            QuotaUse::Exhausted,
        ]
    );
    let stored = keys
        .find_by_prefix(row.prefix())
        .expect("find")
        .expect("row");
    assert_eq!(stored.remaining_uses(), Some(0));

    keys.set_remaining_uses(row.prefix(), Some(2))
        .expect("refill");
    let (new, _) = keys.rotate(row.prefix(), Duration::ZERO).expect("rotate");
    assert_eq!(new.rate_limit(), Some(rate("600/min")), "kept by rotation");
    assert_eq!(new.remaining_uses(), Some(2), "the uses left, kept");
    let err = keys
        .set_rate_limit(row.prefix(), None)
        .expect_err("revoked");
    assert!(matches!(err, Error::Validation { .. }), "{err}");

    // None by default; no quota costs nothing.
    let (plain, _) = keys.create_key(NewKey::new("plain")).expect("create");
    assert_eq!((plain.rate_limit(), plain.remaining_uses()), (None, None));
    assert_eq!(keys.use_quota(&plain).expect("use"), QuotaUse::Unlimited);

    // Bad numbers change nothing.
    let err = keys
        .create_key(NewKey::new("bad").uses(Some(-1)))
        .expect_err("negative");
    assert!(err.to_string().contains("remaining_uses"), "{err}");
    assert!(keys
        .set_remaining_uses(new.prefix(), Some(i64::MAX))
        .is_err());
    let kept = keys
        .find_by_prefix(new.prefix())
        .expect("find")
        .expect("row");
    assert_eq!(kept.remaining_uses(), Some(2));
}

fn django_keys_have_none(db: &TestDb) {
    db.create_django_table();
    let keys: BaseApiKeyManager<DjangoApiKey> = BaseApiKeyManager::new(db.database());
    let err = keys
        .create_key(NewKey::new("x").rate_limit(Some(rate("1/s"))))
        .expect_err("no column");
    assert!(err.to_string().contains("no rate_limit column"), "{err}");
    let err = keys
        .create_key(NewKey::new("x").uses(Some(1)))
        .expect_err("no column");
    assert!(
        err.to_string().contains("no remaining_uses column"),
        "{err}"
    );
    let (row, _) = keys.create_key(NewKey::new("x")).expect("create");
    assert_eq!(row.rate_limit(), None);
    assert!(keys.set_rate_limit(row.prefix(), None).is_err());
    assert!(keys.set_remaining_uses(row.prefix(), Some(1)).is_err());
    assert_eq!(keys.use_quota(&row).expect("use"), QuotaUse::Unlimited);
}

fn derived_models_opt_in(db: &TestDb) {
    let table = KeyTable::new("metered_keys")
        .column("team_id BIGINT NOT NULL")
        .rate_limit()
        .remaining_uses()
        .uses_refill();
    db.raw_sql(&table.migration(db.kind).expect("scaffold").up)
        .expect("up.sql");
    let keys: BaseApiKeyManager<MeteredKey> = BaseApiKeyManager::new(db.database());
    let (row, key) = keys
        .create_key(
            NewKey::with_extra("ci", MeteredKeyFields { team_id: 3 })
                .rate_limit(Some(rate("5/min")))
                .uses(Some(1)),
        )
        .expect("create");
    let found = keys.get_from_key(key.expose_secret()).expect("usable");
    assert_eq!(found.team_id, 3);
    assert_eq!(found.rate_limit(), Some(rate("5/min")));
    assert_eq!(
        keys.use_quota(&found).expect("use"),
        QuotaUse::Used { remaining: 0 }
    );
    assert_eq!(keys.use_quota(&row).expect("use"), QuotaUse::Exhausted);
    const { assert!(MeteredKey::HAS_REFILL) };
    let (refilled, _) = keys
        .create_key(
            NewKey::with_extra("daily", MeteredKeyFields { team_id: 4 })
                .refill(Some("2/day".parse().expect("valid"))),
        )
        .expect("create");
    assert_eq!(refilled.remaining_uses(), Some(2), "starts full");
    let tomorrow = apikey_core::now() + chrono::Duration::days(1);
    for expected in [1, 0] {
        assert_eq!(
            keys.use_quota(&refilled).expect("use"),
            QuotaUse::Used {
                remaining: expected
            }
        );
    }
    assert_eq!(keys.use_quota(&refilled).expect("use"), QuotaUse::Exhausted);
    assert_eq!(
        keys.__use_quota_at(&refilled, tomorrow).expect("use"),
        QuotaUse::Used { remaining: 1 },
        "refilled the next day"
    );
}

fn at(text: &str) -> NaiveDateTime {
    NaiveDateTime::parse_from_str(text, "%Y-%m-%d %H:%M:%S").expect("time")
}

/// A daily refill: full at the first use of each UTC day, once, from many
/// threads over two managers; a monthly one at month boundaries; refused
/// for Django's table; kept by a rotation; set and cleared.
fn quota_refills(db: &TestDb) {
    let a: BaseApiKeyManager<ApiKey> = BaseApiKeyManager::new(db.database());
    let b: BaseApiKeyManager<ApiKey> = BaseApiKeyManager::new(db.database());
    let (row, _) = a
        .create_key(
            NewKey::new("daily")
                .uses(Some(1))
                .refill(Some("10/day".parse().expect("valid"))),
        )
        .expect("create");
    assert_eq!(row.uses_refill.as_deref(), Some("10/day"));
    assert_eq!(
        a.use_quota(&row).expect("use"),
        QuotaUse::Used { remaining: 0 }
    );
    assert_eq!(a.use_quota(&row).expect("use"), QuotaUse::Exhausted);
    // The next day, 8 threads over two servers take 5 uses each: exactly
    // 10 pass (one refill, not one per server or thread).
    let day = at("2099-03-01 00:00:00");
    let used = Arc::new(AtomicUsize::new(0));
    let threads: Vec<_> = (0..8)
        .map(|i| {
            let keys = if i % 2 == 0 { a.clone() } else { b.clone() };
            let (row, used) = (row.clone(), used.clone());
            std::thread::spawn(move || {
                for j in 0..5 {
                    let when = day + chrono::Duration::seconds(i * 10 + j);
                    if let QuotaUse::Used { .. } = keys.__use_quota_at(&row, when).expect("use") {
                        used.fetch_add(1, Ordering::SeqCst);
                    }
                }
            })
        })
        .collect();
    for t in threads {
        t.join().expect("thread");
    }
    assert_eq!(used.load(Ordering::SeqCst), 10);
    assert_eq!(
        a.__use_quota_at(&row, at("2099-03-01 23:59:59"))
            .expect("use"),
        QuotaUse::Exhausted,
        "same day"
    );
    assert_eq!(
        a.__use_quota_at(&row, at("2099-03-02 00:00:00"))
            .expect("use"),
        QuotaUse::Used { remaining: 9 },
        "next day"
    );
    // An earlier period never refills again.
    assert_eq!(
        a.__use_quota_at(&row, at("2099-02-28 12:00:00"))
            .expect("use"),
        QuotaUse::Used { remaining: 8 }
    );

    // Monthly; changed and cleared.
    let row = a
        .set_uses_refill(row.prefix(), Some("3/month".parse().expect("valid")))
        .expect("set");
    assert_eq!(
        a.__use_quota_at(&row, at("2099-04-30 23:59:59"))
            .expect("use"),
        QuotaUse::Used { remaining: 2 }
    );
    assert_eq!(
        a.__use_quota_at(&row, at("2099-05-01 00:00:00"))
            .expect("use"),
        QuotaUse::Used { remaining: 2 },
        "a new month"
    );
    let (rotated, _) = a.rotate(row.prefix(), Duration::ZERO).expect("rotate");
    assert_eq!(rotated.uses_refill(), row.uses_refill(), "kept by rotation");
    assert_eq!(rotated.remaining_uses(), Some(2));
    let cleared = a.set_uses_refill(rotated.prefix(), None).expect("clear");
    assert_eq!(cleared.uses_refill(), None);
    assert_eq!(
        a.__use_quota_at(&cleared, at("2099-12-01 00:00:00"))
            .expect("use"),
        QuotaUse::Used { remaining: 1 },
        "no refill any more"
    );

    db.create_django_table();
    let django: BaseApiKeyManager<DjangoApiKey> = BaseApiKeyManager::new(db.database());
    let err = django
        .create_key(NewKey::new("x").refill(Some("1/day".parse().expect("valid"))))
        .expect_err("no column");
    assert!(err.to_string().contains("uses_refill"), "{err}");
}

/// 8 threads over two managers (two servers) take 200 uses from a quota
/// of 100: exactly 100 succeed, and the count ends at zero.
fn quota_exact_under_concurrency(db: &TestDb) {
    let a: BaseApiKeyManager<ApiKey> = BaseApiKeyManager::new(db.database());
    let b: BaseApiKeyManager<ApiKey> = BaseApiKeyManager::new(db.database());
    let (row, _) = a
        .create_key(NewKey::new("shared").uses(Some(100)))
        .expect("create");
    let used = Arc::new(AtomicUsize::new(0));
    let exhausted = Arc::new(AtomicUsize::new(0));
    let threads: Vec<_> = (0..8)
        .map(|i| {
            let keys = if i % 2 == 0 { a.clone() } else { b.clone() };
            let (row, used, exhausted) = (row.clone(), used.clone(), exhausted.clone());
            std::thread::spawn(move || {
                for _ in 0..25 {
                    match keys.use_quota(&row).expect("use") {
                        QuotaUse::Used { remaining } => {
                            assert!(remaining >= 0);
                            used.fetch_add(1, Ordering::SeqCst);
                        }
                        QuotaUse::Exhausted => {
                            exhausted.fetch_add(1, Ordering::SeqCst);
                        }
                        other => panic!("{other:?}"),
                    }
                }
            })
        })
        .collect();
    for t in threads {
        t.join().expect("thread");
    }
    assert_eq!(used.load(Ordering::SeqCst), 100);
    assert_eq!(exhausted.load(Ordering::SeqCst), 100);
    let stored = a.find_by_prefix(row.prefix()).expect("find").expect("row");
    assert_eq!(stored.remaining_uses(), Some(0));
}

fn eventually(what: &str, mut f: impl FnMut() -> bool) {
    let start = std::time::Instant::now();
    while start.elapsed() < Duration::from_secs(20) {
        if f() {
            return;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    panic!("never happened: {what}");
}

/// Quota uses are quiet writes: the verification cache of this server
/// (SQLite: the writes run on its feed's connection) and of another
/// server (PostgreSQL: the change trigger skips them) keeps answering,
/// with no revalidation; an ordinary write is the control.
fn quota_uses_leave_the_caches_alone(db: &TestDb) {
    let hour = Duration::from_secs(3600);
    let manager = || {
        BaseApiKeyManager::<ApiKey>::new(db.database())
            .with_cache(hour, 1000)
            .without_last_used()
    };
    let reader = manager();
    let writer = match db.kind {
        apikey_core::BackendKind::Postgres => manager(),
        _ => reader.clone(),
    };
    let (_, other) = reader.create_key(NewKey::new("other")).expect("create");
    let (metered, _) = reader
        .create_key(NewKey::new("metered").uses(Some(1000)))
        .expect("create");
    eventually("the creations are revalidated", || {
        let before = reader.cache_revalidations();
        reader.settle_cache(Duration::from_secs(10));
        std::thread::sleep(Duration::from_millis(50));
        reader.cache_revalidations() == before
    });
    // Cached once no change is pending (a lookup that races a change is
    // not cached).
    eventually("the other key is cached", || {
        assert!(reader.is_valid(other.expose_secret()).expect("answered"));
        reader.settle_cache(Duration::from_secs(10));
        reader.get_cached(other.expose_secret()).is_some()
    });
    let passes = reader.cache_revalidations();
    for i in 0..20 {
        assert_eq!(
            writer.use_quota(&metered).expect("use"),
            QuotaUse::Used { remaining: 999 - i }
        );
    }
    assert!(reader.settle_cache(Duration::from_secs(10)));
    std::thread::sleep(Duration::from_millis(100));
    assert_eq!(reader.cache_revalidations(), passes, "no revalidation");
    assert!(
        reader.get_cached(other.expose_secret()).is_some(),
        "still cached"
    );
    // The control: an ordinary write is seen, and revalidated.
    db.raw_sql("UPDATE api_keys SET name = 'renamed' WHERE name = 'other'")
        .expect("write");
    eventually("an ordinary write makes the cache revalidate", || {
        reader.cache_revalidations() > passes
    });
}

/// SQLite: a quota use that finds the database locked on the cache feed's
/// connection (which waits 20 ms, so that the feed keeps polling) is run on
/// a pooled connection instead, which waits the pool's lock timeout: a
/// write lock held for a moment elsewhere delays the use, it does not fail
/// it.
#[test]
fn sqlite_quota_use_outwaits_a_short_lock() {
    use diesel::connection::SimpleConnection as _;
    let db = TestDb::sqlite();
    let keys = BaseApiKeyManager::<ApiKey>::new(db.database())
        .with_cache(Duration::from_secs(3600), 1000)
        .without_last_used();
    let (metered, _) = keys
        .create_key(NewKey::new("metered").uses(Some(10)))
        .expect("create");
    assert!(keys.settle_cache(Duration::from_secs(10)), "the feed runs");
    assert!(keys.cache_is_live());

    let path = db.url.trim_start_matches("sqlite://").to_owned();
    let (locked_tx, locked_rx) = std::sync::mpsc::channel();
    let holder = std::thread::spawn(move || {
        let mut c =
            <diesel::SqliteConnection as diesel::Connection>::establish(&path).expect("connect");
        c.batch_execute("BEGIN EXCLUSIVE;").expect("lock");
        locked_tx.send(()).expect("locked");
        // Far longer than the feed's 20 ms, far shorter than the pool's 5 s.
        std::thread::sleep(Duration::from_millis(400));
        c.batch_execute("COMMIT;").expect("release");
    });
    locked_rx.recv().expect("the database is locked");
    let used = keys.use_quota(&metered);
    holder.join().expect("holder");
    assert_eq!(used.expect("used"), QuotaUse::Used { remaining: 9 });
    let stored = keys
        .find_by_prefix(metered.prefix())
        .expect("find")
        .expect("row");
    assert_eq!(stored.remaining_uses(), Some(9), "taken once");
}

backend_tests!(
    quota_refills,
    quota_uses_leave_the_caches_alone,
    stored_changed_and_rotated,
    django_keys_have_none,
    derived_models_opt_in,
    quota_exact_under_concurrency,
);
