//! apikey-core against real databases: every test runs on SQLite and on
//! PostgreSQL (`sqlite::name` and `postgres::name`).
//! Ported from the reference's model, manager and hasher tests, plus more.

use std::collections::HashSet;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use apikey_core::__private::KeyStorage as _; // the plumbing, compared with the manager's query
use apikey_core::key::{push_random, GeneratedKey};
use apikey_core::{
    hashers, AbstractApiKey, ApiKey, BackendKind, BaseApiKeyManager, Database, DatabaseConfig,
    Error, GenerateKey, KeyFilter, KeyGenerator, NewKey, PlainKey, UsableKeys,
};
use apikey_tests::{backend_tests, is_key_shaped, TestDb};
use chrono::{Duration, Utc};
use diesel::prelude::*;

/// How long a test waits for the cache's change feed.
const SETTLE: std::time::Duration = std::time::Duration::from_secs(5);

fn manager(db: &TestDb) -> BaseApiKeyManager<ApiKey> {
    BaseApiKeyManager::new(db.database())
}

fn key_characters(db: &TestDb) {
    let keys = manager(db);
    let (row, key) = keys.create_key(NewKey::new("test")).expect("create");
    assert!(is_key_shaped(key.expose_secret(), 8, 32));
    assert_eq!(row.prefix(), key.prefix());
    assert_eq!(row.hashed_key(), hashers::hash(key.expose_secret()));
    assert!(row.hashed_key().starts_with("sha512$$"));
    assert!(!row.revoked());
    assert_eq!(row.to_string(), "test");
}

fn custom_lengths(db: &TestDb) {
    let keys = manager(db).with_generator(KeyGenerator::new(12, 40).expect("generator"));
    let (row, key) = keys.create_key(NewKey::new("long")).expect("create");
    assert!(is_key_shaped(key.expose_secret(), 12, 40));
    assert_eq!(row.prefix().len(), 12);
    assert!(keys.is_valid(key.expose_secret()).expect("is_valid"));
}

fn key_validates_but_its_hash_does_not(db: &TestDb) {
    let keys = manager(db);
    let (row, key) = keys.create_key(NewKey::new("test")).expect("create");
    assert!(row.matches_key(key.expose_secret()));
    assert!(!row.matches_key(row.hashed_key()));
    assert!(keys.is_valid(key.expose_secret()).expect("is_valid"));
    assert!(!keys.is_valid(row.hashed_key()).expect("is_valid"));
}

fn name_is_required_and_bounded(db: &TestDb) {
    let keys = manager(db);
    for bad in ["", "   ", &"x".repeat(51), "tab\tname"] {
        let err = keys.create_key(NewKey::new(bad)).expect_err("refused");
        assert!(
            matches!(err, Error::Validation { field: "name", .. }),
            "{err}"
        );
    }
    assert_eq!(
        keys.count(&KeyFilter::default()).expect("count"),
        0,
        "nothing written"
    );
    // 50 characters, multi-byte ones included, are fine.
    let fifty = "é".repeat(50);
    let (row, _) = keys
        .create_key(NewKey::new(fifty.clone()))
        .expect("50 chars");
    assert_eq!(row.name(), fifty);
}

fn revocation_cannot_be_undone(db: &TestDb) {
    let keys = manager(db);
    let (row, key) = keys.create_key(NewKey::new("test")).expect("create");
    let revoked = keys.revoke(row.prefix()).expect("revoke");
    assert!(revoked.revoked());
    // Revoking again is fine; the key stays revoked.
    assert!(keys.revoke(row.prefix()).expect("revoke again").revoked());
    assert!(!keys.is_valid(key.expose_secret()).expect("is_valid"));
    // Editing a revoked key is refused.
    assert!(matches!(
        keys.update(row.prefix(), "renamed", None),
        Err(Error::Validation { .. })
    ));

    // Through diesel on the pool: the database refuses it.
    let target = row.prefix().to_owned();
    let err = keys
        .database()
        .run(|conn| {
            use apikey_core::schema::api_keys::dsl::*;
            diesel::update(api_keys.filter(prefix.eq(&target)))
                .set(revoked.eq(false))
                .execute(conn)
        })
        .expect_err("trigger refuses");
    assert!(matches!(err, Error::RevocationIrreversible), "{err:?}");

    // A raw bulk UPDATE is refused too, and changes nothing.
    let raw = db.raw_sql("UPDATE api_keys SET revoked = false");
    let err = raw.expect_err("raw un-revoke refused");
    assert!(
        err.to_string().contains("revocation cannot be undone"),
        "{err}"
    );
    let again = keys
        .find_by_prefix(row.prefix())
        .expect("find")
        .expect("row");
    assert!(again.revoked());
    assert!(!keys.is_valid(key.expose_secret()).expect("is_valid"));
    // Revoking (false -> true) in bulk is allowed.
    keys.create_key(NewKey::new("other")).expect("create");
    db.raw_sql("UPDATE api_keys SET revoked = true")
        .expect("bulk revoke");
    assert_eq!(
        keys.count(&KeyFilter {
            revoked: Some(false),
            ..Default::default()
        })
        .expect("count"),
        0
    );
}

fn has_expired(db: &TestDb) {
    let keys = manager(db);
    let now = Utc::now();
    let cases = [
        (None, false),
        (Some(now), true),
        (Some(now - Duration::days(1)), true),
        (Some(now + Duration::days(1)), false),
    ];
    for (expiry, expired) in cases {
        let (row, key) = keys
            .create_key(NewKey::new("test").expiry(expiry))
            .expect("create");
        assert_eq!(row.has_expired(), expired, "{expiry:?}");
        assert_eq!(
            keys.is_valid(key.expose_secret()).expect("is_valid"),
            !expired
        );
    }
}

fn get_from_key(db: &TestDb) {
    let keys = manager(db);
    let (row, key) = keys.create_key(NewKey::new("test")).expect("create");
    let found = keys.get_from_key(key.expose_secret()).expect("valid key");
    assert_eq!(found.id(), row.id());

    let wrong_secret = format!("{}.foobar", row.prefix());
    for bad in [
        "foobar",
        wrong_secret.as_str(),
        "",
        ".",
        "x.",
        &"a".repeat(10_000),
    ] {
        assert!(
            matches!(keys.get_from_key(bad), Err(Error::InvalidKey)),
            "{bad:.20}"
        );
    }

    let (_, expired) = keys
        .create_key(NewKey::new("expired").expires(Utc::now() - Duration::days(2)))
        .expect("create");
    assert!(matches!(
        keys.get_from_key(expired.expose_secret()),
        Err(Error::InvalidKey)
    ));

    keys.revoke(row.prefix()).expect("revoke");
    assert!(matches!(
        keys.get_from_key(key.expose_secret()),
        Err(Error::InvalidKey)
    ));
}

fn legacy_hash_is_upgraded_on_first_verify(db: &TestDb) {
    let keys = manager(db);
    let vectors = legacy_vectors();
    // 5 pbkdf2_sha256 and 2 pbkdf2_sha1 rows in the vectors file.
    assert_eq!(vectors.len(), 7);
    for (key, prefix, hashed) in &vectors {
        let (key, prefix, hashed) = (key.as_str(), prefix.as_str(), hashed.as_str());
        db.raw_sql(&format!(
            "INSERT INTO api_keys (prefix, hashed_key, created, name, revoked) \
             VALUES ('{prefix}', '{hashed}', '2020-01-02 03:04:05.123456', 'legacy', false)"
        ))
        .expect("insert legacy row");
        // Inserted by another connection: the cache (which knows the
        // table's prefixes) sees it once its feed has.
        assert!(keys.settle_cache(SETTLE));
        let before = keys.find_by_prefix(prefix).expect("find").expect("row");

        // A wrong key does not upgrade anything.
        assert!(!keys.is_valid(&format!("{prefix}.wrong")).expect("is_valid"));
        assert_eq!(
            keys.find_by_prefix(prefix)
                .expect("find")
                .expect("row")
                .hashed_key(),
            hashed
        );

        let found = keys.get_from_key(key).expect("legacy key verifies");
        assert_eq!(found.hashed_key(), hashers::hash(key));
        let after = keys.find_by_prefix(prefix).expect("find").expect("row");
        assert_eq!(after.hashed_key(), hashers::hash(key), "hash rewritten");
        // Nothing else changed.
        assert_eq!(after.id(), before.id());
        assert_eq!(after.created(), before.created());
        assert_eq!(after.name(), before.name());
        assert_eq!(after.expiry_date(), before.expiry_date());
        assert!(!after.revoked());
        // And it keeps verifying, now on the fast path.
        assert!(keys.is_valid(key).expect("is_valid"));
    }
}

/// The legacy (pbkdf2) vectors, exactly as Django's password hashers wrote
/// them (values from the reference, see apikey-core/tests/vectors):
/// (key, prefix, hashed_key).
fn legacy_vectors() -> Vec<(String, String, String)> {
    let file: serde_json::Value =
        serde_json::from_str(include_str!("../../apikey-core/tests/vectors/django.json"))
            .expect("vectors");
    file["vectors"]
        .as_array()
        .expect("array")
        .iter()
        .filter(|v| {
            v["hashed_key"]
                .as_str()
                .is_some_and(|h| h.starts_with("pbkdf2_"))
        })
        .map(|v| {
            let field = |k: &str| v[k].as_str().expect("string").to_owned();
            (field("key"), field("prefix"), field("hashed_key"))
        })
        .collect()
}

/// The first legacy vector.
fn legacy_vector() -> (String, String, String) {
    legacy_vectors().remove(0)
}

/// Inserts the legacy vector's row; its key, prefix and stored hash.
fn insert_legacy(db: &TestDb) -> (String, String, String) {
    let (key, prefix, hashed) = legacy_vector();
    db.database(); // migrated
    db.raw_sql(&format!(
        "INSERT INTO api_keys (prefix, hashed_key, created, name, revoked) \
         VALUES ('{prefix}', '{hashed}', '2020-01-02 03:04:05.123456', 'legacy', false)"
    ))
    .expect("insert legacy row");
    (key, prefix, hashed)
}

/// The default generator, but the first time a legacy hash verifies,
/// someone else acts (`meddle`) between the lookup reading the row and the
/// manager upgrading its hash: a deterministic interleaving of a race.
struct Meddling {
    meddle: Box<dyn Fn() + Send + Sync>,
    done: std::sync::Once,
}

impl std::fmt::Debug for Meddling {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Meddling")
    }
}

impl GenerateKey for Meddling {
    fn generate(&self) -> GeneratedKey {
        KeyGenerator::default().generate()
    }

    fn verify(&self, key: &str, hashed_key: &str) -> hashers::Verification {
        let found = hashers::verify(key, hashed_key);
        if found == hashers::Verification::ValidOutdated {
            self.done.call_once(|| (self.meddle)());
        }
        found
    }
}

fn meddling(db: &TestDb, meddle: impl Fn() + Send + Sync + 'static) -> BaseApiKeyManager<ApiKey> {
    manager(db).with_generator(Meddling {
        meddle: Box::new(meddle),
        done: std::sync::Once::new(),
    })
}

/// A revoke that lands between a lookup reading a legacy row and upgrading
/// its hash: the lookup is refused, the row stays revoked (the upgrade
/// changes `hashed_key` alone), and the key is refused from then on.
fn revoke_racing_a_legacy_upgrade(db: &TestDb) {
    let (key, prefix, hashed) = insert_legacy(db);
    let other = manager(db);
    let revoker = other.clone();
    let target = prefix.clone();
    let keys = meddling(db, move || {
        revoker.revoke(&target).expect("revoke meanwhile");
    });
    assert!(keys.settle_cache(SETTLE));
    assert!(matches!(keys.get_from_key(&key), Err(Error::InvalidKey)));
    let row = other.find_by_prefix(&prefix).expect("find").expect("row");
    assert!(row.revoked(), "the revoke stands");
    assert!(
        row.hashed_key() == hashed || row.hashed_key() == hashers::hash(&key),
        "{}",
        row.hashed_key()
    );
    assert_eq!(row.name(), "legacy");
    assert!(!keys.is_valid(&key).expect("is_valid"));
    assert!(!other.is_valid(&key).expect("is_valid"));
}

/// Two lookups upgrade the same legacy hash at once (one lands between the
/// other's read and write): both succeed, the stored hash is the new one,
/// nothing else changed.
fn two_concurrent_upgrades(db: &TestDb) {
    let (key, prefix, _) = insert_legacy(db);
    let other = manager(db);
    let first = other.clone();
    let k = key.clone();
    let keys = meddling(db, move || {
        let row = first.get_from_key(&k).expect("the other upgrade");
        assert_eq!(row.hashed_key(), hashers::hash(&k));
    });
    assert!(keys.settle_cache(SETTLE));
    assert!(other.settle_cache(SETTLE));
    let row = keys
        .get_from_key(&key)
        .expect("the upgrade that lost the race");
    assert_eq!(row.hashed_key(), hashers::hash(&key));
    let stored = other.find_by_prefix(&prefix).expect("find").expect("row");
    assert_eq!(stored.hashed_key(), hashers::hash(&key));
    assert!(!stored.revoked());
    assert_eq!(stored.name(), "legacy");

    // And truly at once, from several threads on their own pools.
    let db2 = TestDb::of(db.kind);
    let (key, prefix, _) = insert_legacy(&db2);
    let managers: Vec<_> = (0..4).map(|_| manager(&db2)).collect();
    for m in &managers {
        assert!(m.settle_cache(SETTLE));
    }
    let start = Arc::new(std::sync::Barrier::new(managers.len()));
    let threads: Vec<_> = managers
        .into_iter()
        .map(|m| {
            let (key, start) = (key.clone(), start.clone());
            std::thread::spawn(move || {
                start.wait();
                m.get_from_key(&key).map(|r| r.hashed_key().to_owned())
            })
        })
        .collect();
    for t in threads {
        let hashed = t.join().expect("thread").expect("every upgrade succeeds");
        assert_eq!(hashed, hashers::hash(&key));
    }
    let stored = manager(&db2)
        .find_by_prefix(&prefix)
        .expect("find")
        .expect("row");
    assert_eq!(stored.hashed_key(), hashers::hash(&key));
}

/// Several revokes of one key at once: every one succeeds, the key is
/// revoked once and refused, another key is untouched.
fn concurrent_revokes(db: &TestDb) {
    let keys = manager(db);
    let (row, key) = keys.create_key(NewKey::new("target")).expect("create");
    let (_, bystander) = keys.create_key(NewKey::new("bystander")).expect("create");
    let start = Arc::new(std::sync::Barrier::new(6));
    let threads: Vec<_> = (0..6)
        .map(|_| {
            let (m, prefix, start) = (manager(db), row.prefix().to_owned(), start.clone());
            std::thread::spawn(move || {
                start.wait();
                m.revoke(&prefix).map(|r| r.revoked())
            })
        })
        .collect();
    for t in threads {
        let revoked = t.join().expect("thread").expect("every revoke succeeds");
        assert!(revoked);
    }
    let stored = keys
        .find_by_prefix(row.prefix())
        .expect("find")
        .expect("row");
    assert!(stored.revoked());
    assert_eq!(stored.hashed_key(), row.hashed_key());
    assert!(!keys.is_valid(key.expose_secret()).expect("is_valid"));
    assert!(keys.is_valid(bystander.expose_secret()).expect("is_valid"));
}

/// `postgresql://` (libpq's other spelling) is PostgreSQL too: the same
/// database as through `postgres://`.
#[test]
fn postgres_url_spelled_postgresql() {
    let db = TestDb::postgres();
    let url = db.url.replacen("postgres://", "postgresql://", 1);
    assert!(url.starts_with("postgresql://"), "{url}");
    let database = Database::connect(&url).expect("connect");
    assert_eq!(database.backend(), apikey_core::BackendKind::Postgres);
    database.migrate().expect("migrate");
    let keys = BaseApiKeyManager::<ApiKey>::new(database);
    let (_, key) = keys.create_key(NewKey::new("spelled")).expect("create");
    assert!(manager(&db)
        .is_valid(key.expose_secret())
        .expect("is_valid"));
}

/// In-memory SQLite (`:memory:` and `sqlite://:memory:`), without a cache: one database for
/// the life of the pool, so keys made through it are found through it; a
/// second pool is another, empty database.
#[test]
fn in_memory_sqlite_keeps_its_keys() {
    for url in [":memory:", "sqlite://:memory:"] {
        let database = Database::connect(url).expect("connect");
        assert_eq!(database.backend(), apikey_core::BackendKind::Sqlite);
        database.migrate().expect("migrate");
        let keys = BaseApiKeyManager::<ApiKey>::new(database);
        let (row, key) = keys.create_key(NewKey::new("in memory")).expect("create");
        for _ in 0..3 {
            assert!(
                keys.is_valid(key.expose_secret()).expect("is_valid"),
                "{url}"
            );
        }
        assert_eq!(keys.count(&KeyFilter::default()).expect("count"), 1);
        // No change feed can watch another connection's in-memory
        // database: the cache stays off (it would never hear of a write).
        assert!(
            !keys.settle_cache(std::time::Duration::from_millis(300)),
            "{url}: a cache went live"
        );
        assert!(!keys.cache_is_live(), "{url}");
        assert!(keys.get_cached(key.expose_secret()).is_none(), "{url}");
        keys.revoke(row.prefix()).expect("revoke");
        assert!(!keys.is_valid(key.expose_secret()).expect("is_valid"));

        let other = Database::connect(url).expect("connect");
        other.migrate().expect("migrate");
        let other = BaseApiKeyManager::<ApiKey>::new(other);
        assert_eq!(
            other.count(&KeyFilter::default()).expect("count"),
            0,
            "{url}"
        );
    }
}

/// Returns a fixed prefix for its first `fixed` keys, then random ones.
#[derive(Debug)]
struct CollidingGenerator {
    calls: AtomicUsize,
    fixed: usize,
}

impl GenerateKey for CollidingGenerator {
    fn generate(&self) -> GeneratedKey {
        let n = self.calls.fetch_add(1, Ordering::SeqCst);
        let mut key = String::new();
        if n < self.fixed {
            key.push_str("SAMEPREF");
        } else {
            push_random(&mut key, 8);
        }
        key.push('.');
        push_random(&mut key, 32);
        let prefix = key[..8].to_owned();
        let hashed_key = self.hash(&key);
        GeneratedKey {
            key: PlainKey::new(key),
            prefix,
            hashed_key,
        }
    }
}

fn prefix_collision_is_retried(db: &TestDb) {
    let generator = CollidingGenerator {
        calls: AtomicUsize::new(0),
        fixed: 3,
    };
    let keys = manager(db).with_generator(generator);
    let (first, _) = keys.create_key(NewKey::new("first")).expect("first");
    assert_eq!(first.prefix(), "SAMEPREF");
    // Calls 2 and 3 collide; call 4 succeeds.
    let (second, key) = keys.create_key(NewKey::new("second")).expect("retried");
    assert_ne!(second.prefix(), "SAMEPREF");
    assert!(keys.is_valid(key.expose_secret()).expect("is_valid"));
    assert_eq!(keys.count(&KeyFilter::default()).expect("count"), 2);

    // A generator that always collides gives a clear error, not a loop.
    let stuck = manager(db).with_generator(CollidingGenerator {
        calls: AtomicUsize::new(0),
        fixed: usize::MAX,
    });
    assert!(matches!(
        stuck.create_key(NewKey::new("stuck")),
        Err(Error::PrefixCollision(_))
    ));
}

/// Rotation retries a prefix collision as creation does, and reports any
/// other database error as it is (not as a collision), nothing written.
fn rotation_retries_a_collision_only(db: &TestDb) {
    let keys = manager(db).with_generator(CollidingGenerator {
        calls: AtomicUsize::new(0),
        fixed: 2,
    });
    let (old, old_key) = keys.create_key(NewKey::new("rotated")).expect("create");
    assert_eq!(old.prefix(), "SAMEPREF");
    // Call 2 collides with the old key itself; call 3 succeeds.
    let (new, new_key) = keys
        .rotate(old.prefix(), std::time::Duration::ZERO)
        .expect("retried");
    assert_ne!(new.prefix(), "SAMEPREF");
    assert!(keys.is_valid(new_key.expose_secret()).expect("is_valid"));
    assert!(!keys.is_valid(old_key.expose_secret()).expect("is_valid"));

    // An insert the database refuses for another reason.
    let block = match db.kind {
        BackendKind::Postgres => {
            "CREATE FUNCTION refuse_insert() RETURNS trigger AS $$
             BEGIN RAISE EXCEPTION 'no new keys'; END; $$ LANGUAGE plpgsql;
             CREATE TRIGGER refuse_insert BEFORE INSERT ON api_keys
             FOR EACH ROW EXECUTE FUNCTION refuse_insert();"
        }
        _ => {
            "CREATE TRIGGER refuse_insert BEFORE INSERT ON api_keys
             BEGIN SELECT RAISE(ABORT, 'no new keys'); END;"
        }
    };
    db.raw_sql(block).expect("block");
    let before = keys.count(&KeyFilter::default()).expect("count");
    let err = keys
        .rotate(new.prefix(), std::time::Duration::ZERO)
        .expect_err("refused by the database");
    assert!(matches!(err, Error::Database(_)), "{err:?}");
    assert_eq!(keys.count(&KeyFilter::default()).expect("count"), before);
    assert!(
        keys.is_valid(new_key.expose_secret()).expect("is_valid"),
        "not revoked: the transaction was rolled back"
    );
}

fn concurrent_creation_loses_nothing(db: &TestDb) {
    let keys =
        BaseApiKeyManager::<ApiKey>::new(db.database_with(DatabaseConfig::default().max_size(8)));
    let handles: Vec<_> = (0..8)
        .map(|t| {
            let keys = keys.clone();
            std::thread::spawn(move || {
                (0..250)
                    .map(|i| {
                        let (row, _) = keys
                            .create_key(NewKey::new(format!("t{t}-{i}")))
                            .expect("create");
                        row.prefix().to_owned()
                    })
                    .collect::<Vec<_>>()
            })
        })
        .collect();
    let mut prefixes = HashSet::new();
    for h in handles {
        for p in h.join().expect("thread") {
            assert!(prefixes.insert(p), "duplicate prefix returned");
        }
    }
    assert_eq!(prefixes.len(), 2000);
    let rows = keys.list(&KeyFilter::default()).expect("list");
    assert_eq!(rows.len(), 2000);
    let stored: HashSet<_> = rows.iter().map(|r| r.prefix().to_owned()).collect();
    assert_eq!(stored, prefixes);
}

/// An application's narrower definition of usable.
struct NotNamedBlocked;

impl UsableKeys<ApiKey> for NotNamedBlocked {
    fn get_usable_keys(&self, now: chrono::NaiveDateTime) -> <ApiKey as AbstractApiKey>::Query {
        use apikey_core::schema::api_keys::dsl::*;
        ApiKey::usable_keys(now).filter(name.ne("blocked"))
    }
}

fn usable_keys_can_be_narrowed(db: &TestDb) {
    let keys = manager(db).with_usable_keys(NotNamedBlocked);
    let (_, ok) = keys.create_key(NewKey::new("fine")).expect("create");
    let (_, blocked) = keys.create_key(NewKey::new("blocked")).expect("create");
    assert!(keys.is_valid(ok.expose_secret()).expect("is_valid"));
    assert!(!keys.is_valid(blocked.expose_secret()).expect("is_valid"));
    let usable: Vec<ApiKey> = keys
        .database()
        .run(|conn| keys.get_usable_keys().load(conn))
        .expect("load");
    assert_eq!(usable.len(), 1);
    assert_eq!(usable[0].name(), "fine");
}

fn list_filters(db: &TestDb) {
    let keys = manager(db);
    let (a, _) = keys.create_key(NewKey::new("Alpha 100%")).expect("create");
    let (b, _) = keys.create_key(NewKey::new("beta_x")).expect("create");
    let (c, _) = keys
        .create_key(NewKey::new("gamma").expires(Utc::now() - Duration::hours(1)))
        .expect("create");
    keys.revoke(b.prefix()).expect("revoke");
    let names = |f: KeyFilter| -> Vec<String> {
        keys.list(&f)
            .expect("list")
            .iter()
            .map(|k| k.name().to_owned())
            .collect()
    };
    let mut all = names(KeyFilter::default());
    all.sort();
    assert_eq!(all, ["Alpha 100%", "beta_x", "gamma"]);
    assert_eq!(
        names(KeyFilter {
            search: Some("alpha".into()),
            ..Default::default()
        }),
        ["Alpha 100%"]
    );
    // LIKE wildcards are literal.
    assert_eq!(
        names(KeyFilter {
            search: Some("%".into()),
            ..Default::default()
        }),
        ["Alpha 100%"]
    );
    assert_eq!(
        names(KeyFilter {
            search: Some("a_x".into()),
            ..Default::default()
        }),
        ["beta_x"]
    );
    assert_eq!(
        names(KeyFilter {
            search: Some(c.prefix().to_lowercase()),
            ..Default::default()
        }),
        ["gamma"]
    );
    assert_eq!(
        names(KeyFilter {
            revoked: Some(true),
            ..Default::default()
        }),
        ["beta_x"]
    );
    assert_eq!(
        names(KeyFilter {
            expired: Some(true),
            ..Default::default()
        }),
        ["gamma"]
    );
    let mut active = names(KeyFilter {
        revoked: Some(false),
        expired: Some(false),
        ..Default::default()
    });
    active.sort();
    assert_eq!(active, ["Alpha 100%"]);
    assert_eq!(
        keys.count(&KeyFilter {
            limit: Some(1),
            ..Default::default()
        })
        .expect("count"),
        3
    );
    // Pages: two, then the one left; together every key once.
    let first = names(KeyFilter {
        limit: Some(2),
        ..Default::default()
    });
    let second = names(KeyFilter {
        limit: Some(2),
        offset: Some(2),
        ..Default::default()
    });
    assert_eq!((first.len(), second.len()), (2, 1));
    let mut paged = [first, second].concat();
    paged.sort();
    assert_eq!(paged, ["Alpha 100%", "beta_x", "gamma"]);
    // A search by a prefix, in upper case as issued: that key alone.
    assert_eq!(
        names(KeyFilter {
            search: Some(a.prefix().to_owned()),
            ..Default::default()
        }),
        ["Alpha 100%"]
    );
}

fn update_details(db: &TestDb) {
    let keys = manager(db);
    let (row, key) = keys.create_key(NewKey::new("old")).expect("create");
    let later = Utc::now() + Duration::days(3);
    let updated = keys
        .update(row.prefix(), "new", Some(later))
        .expect("update");
    assert_eq!(updated.name(), "new");
    assert_eq!(updated.hashed_key(), row.hashed_key());
    assert!(keys.is_valid(key.expose_secret()).expect("is_valid"));
    assert!(matches!(
        keys.update(row.prefix(), "", None),
        Err(Error::Validation { .. })
    ));
    assert!(matches!(
        keys.update("nosuch", "x", None),
        Err(Error::NotFound(_))
    ));
    assert!(matches!(keys.revoke("nosuch"), Err(Error::NotFound(_))));
}

fn timestamps_round_trip_in_utc(db: &TestDb) {
    let keys = manager(db);
    let expiry = Utc::now() + Duration::days(30);
    let (row, _) = keys
        .create_key(NewKey::new("t").expires(expiry))
        .expect("create");
    let stored = row.expiry_date().expect("expiry");
    assert!((stored - expiry).num_microseconds().map(i64::abs) < Some(1));
    assert!((Utc::now() - row.created()).num_seconds().abs() < 60);
}

fn fast_and_boxed_usable_queries_agree(db: &TestDb) {
    let keys = manager(db);
    let now = Utc::now();
    let mut prefixes = vec!["unknown1".to_owned()];
    for (name, expiry) in [
        ("none", None),
        ("past", Some(now - Duration::days(2))),
        ("soon", Some(now + Duration::hours(1))),
        ("later", Some(now + Duration::days(3))),
        ("revoked", None),
    ] {
        let (row, _) = keys
            .create_key(NewKey::new(name).expiry(expiry))
            .expect("create");
        if name == "revoked" {
            keys.revoke(row.prefix()).expect("revoke");
        }
        prefixes.push(row.prefix().to_owned());
    }
    let rows = keys.list(&KeyFilter::default()).expect("list");
    let soon = rows
        .iter()
        .find(|r| r.name() == "soon")
        .and_then(|r| r.expiry_date_naive())
        .expect("soon");
    let instants = [
        apikey_core::now(),
        soon,                             // exactly at expiry: not usable
        soon - Duration::microseconds(1), // just before: usable
        (now + Duration::days(2)).naive_utc(),
        (now + Duration::days(10)).naive_utc(),
    ];
    // The keys usable at each instant, by name.
    let expected: [&[&str]; 5] = [
        &["none", "soon", "later"],
        &["none", "later"],
        &["none", "soon", "later"],
        &["none", "later"],
        &["none"],
    ];
    for (at, want) in instants.into_iter().zip(expected) {
        let mut usable = Vec::new();
        for p in &prefixes {
            let (fast, boxed) = keys
                .database()
                .run(|conn| {
                    Ok((
                        ApiKey::find_usable_by_prefix(conn, at, p)?,
                        ApiKey::first_by_prefix(conn, ApiKey::usable_keys(at), p)?,
                    ))
                })
                .expect("queries");
            assert_eq!(
                fast.as_ref().map(|k| k.prefix().to_owned()),
                boxed.as_ref().map(|k| k.prefix().to_owned()),
                "{p} at {at}"
            );
            if let Some(k) = &fast {
                assert!(!k.revoked() && !k.has_expired_at(at), "{p} at {at}");
                usable.push(k.name().to_owned());
            }
        }
        usable.sort();
        let mut want = want.to_vec();
        want.sort();
        assert_eq!(usable, want, "usable at {at}");
    }
    // At the expiry instant "soon" is refused, a microsecond before it is not.
    let soon_prefix = rows
        .iter()
        .find(|r| r.name() == "soon")
        .map(|r| r.prefix().to_owned())
        .expect("soon");
    let check = |at| {
        keys.database()
            .run(|conn| ApiKey::find_usable_by_prefix(conn, at, &soon_prefix))
            .expect("query")
            .is_some()
    };
    assert!(!check(soon));
    assert!(check(soon - Duration::microseconds(1)));
}

fn cache_remembers_and_forgets(db: &TestDb) {
    let keys = manager(db).with_cache(std::time::Duration::from_secs(60), 100);
    let (row, key) = keys.create_key(NewKey::new("cached")).expect("create");
    let key = key.expose_secret().to_owned();
    assert!(keys.settle_cache(SETTLE), "the feed starts");
    assert!(
        keys.get_cached(&key).is_none(),
        "not remembered before a lookup"
    );
    keys.get_from_key(&key).expect("valid");
    assert_eq!(
        keys.get_cached(&key).map(|k| k.prefix().to_owned()),
        Some(row.prefix().to_owned())
    );

    // A wrong secret with a remembered prefix is refused (digests differ).
    let wrong = format!("{}.{}", row.prefix(), "x".repeat(32));
    assert!(keys.get_cached(&wrong).is_none());
    assert!(matches!(keys.get_from_key(&wrong), Err(Error::InvalidKey)));

    // Revoked elsewhere (raw SQL, another connection): the change feed
    // makes the cache forget it.
    db.raw_sql(&format!(
        "UPDATE api_keys SET revoked = true WHERE prefix = '{}'",
        row.prefix()
    ))
    .expect("raw revoke");
    assert!(keys.settle_cache(SETTLE));
    assert!(
        keys.get_cached(&key).is_none(),
        "the feed reported the write"
    );
    assert!(!keys.is_valid(&key).expect("is_valid"));

    // Revoked through the manager: forgotten at once.
    let (row2, key2) = keys.create_key(NewKey::new("cached 2")).expect("create");
    let key2 = key2.expose_secret().to_owned();
    assert!(keys.settle_cache(SETTLE));
    assert!(keys.is_valid(&key2).expect("is_valid"));
    assert!(keys.get_cached(&key2).is_some());
    keys.clone().revoke(row2.prefix()).expect("revoke");
    assert!(keys.get_cached(&key2).is_none());
    assert!(!keys.is_valid(&key2).expect("is_valid"));
}

/// The model's definition of usable, except that the cache's revalidation
/// reads fail (a revalidation that cannot read refreshes nothing).
struct RevalidationFails;

impl apikey_core::UsableKeys<ApiKey> for RevalidationFails {
    fn find_usable_among(
        &self,
        _conn: &mut apikey_core::DbConnection,
        _now: chrono::NaiveDateTime,
        _prefixes: &[&str],
    ) -> diesel::QueryResult<Vec<ApiKey>> {
        Err(diesel::result::Error::NotFound)
    }
}

fn cache_entries_age_and_expire(db: &TestDb) {
    let max_age = std::time::Duration::from_secs(2);
    // A hot key is re-read every max_age / 2: answered from the cache well
    // past max_age after its first lookup, nothing else changing.
    let keys = manager(db).with_cache(max_age, 100);
    let (_, key) = keys.create_key(NewKey::new("swept")).expect("create");
    let key = key.expose_secret().to_owned();
    assert!(keys.settle_cache(SETTLE));
    keys.get_from_key(&key).expect("valid");
    assert!(keys.get_cached(&key).is_some(), "cached first");
    let passes = keys.cache_revalidations();
    let deadline = std::time::Instant::now() + SETTLE + max_age * 2;
    while keys.cache_revalidations() < passes + 3 {
        assert!(
            std::time::Instant::now() < deadline,
            "no revalidation sweep"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    assert!(
        keys.get_cached(&key).is_some(),
        "refreshed by the sweeps, not let go by max_age"
    );

    // Where the row cannot be re-read, an entry is forgotten once older
    // than max_age (polled; nothing else changed).
    let keys = manager(db)
        .with_usable_keys(RevalidationFails)
        .with_cache(max_age, 100);
    let (_, key) = keys.create_key(NewKey::new("short")).expect("create");
    let key = key.expose_secret().to_owned();
    assert!(keys.settle_cache(SETTLE));
    keys.get_from_key(&key).expect("valid");
    assert!(keys.get_cached(&key).is_some(), "cached first");
    let deadline = std::time::Instant::now() + SETTLE + max_age;
    while keys.get_cached(&key).is_some() {
        assert!(
            std::time::Instant::now() < deadline,
            "an entry older than max_age is still answered"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    assert!(keys.is_valid(&key).expect("is_valid"), "still usable");

    // The key's own expiry date is checked on every hit: a cached key
    // whose expiry passes is refused from then on, with no write anywhere.
    let keys = manager(db).with_cache(std::time::Duration::from_secs(600), 100);
    let soon = Utc::now() + Duration::seconds(2);
    let (_, key) = keys
        .create_key(NewKey::new("expiring").expires(soon))
        .expect("create");
    let key = key.expose_secret().to_owned();
    assert!(keys.settle_cache(SETTLE));
    keys.get_from_key(&key).expect("valid");
    assert!(keys.get_cached(&key).is_some(), "cached before its expiry");
    while Utc::now() <= soon {
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    assert!(keys.get_cached(&key).is_none(), "expired while remembered");
    assert!(!keys.is_valid(&key).expect("is_valid"));
}

backend_tests!(
    key_characters,
    custom_lengths,
    key_validates_but_its_hash_does_not,
    name_is_required_and_bounded,
    revocation_cannot_be_undone,
    has_expired,
    get_from_key,
    legacy_hash_is_upgraded_on_first_verify,
    revoke_racing_a_legacy_upgrade,
    two_concurrent_upgrades,
    concurrent_revokes,
    prefix_collision_is_retried,
    rotation_retries_a_collision_only,
    concurrent_creation_loses_nothing,
    usable_keys_can_be_narrowed,
    list_filters,
    update_details,
    timestamps_round_trip_in_utc,
    fast_and_boxed_usable_queries_agree,
    cache_remembers_and_forgets,
    cache_entries_age_and_expire,
);

// ---- bad database URLs and unreachable stores ----

#[test]
fn bad_urls_are_clear_errors() {
    for url in [
        "",
        "mysql://root@localhost/db",
        "postgress://x@y/z",
        "http://example",
    ] {
        let err = Database::connect(url).expect_err(url);
        assert!(matches!(err, Error::InvalidDatabaseUrl(_)), "{url}: {err}");
    }
    let err = Database::connect("postgres://user:s3cret@127.0.0.1:1/db").expect_err("no server");
    assert!(err.is_unavailable(), "{err}");
    assert!(
        !err.to_string().contains("s3cret"),
        "password leaked: {err}"
    );
}

#[test]
fn sqlite_in_a_missing_folder_is_unavailable() {
    let dir = tempfile::tempdir().expect("tmp");
    let url = format!("sqlite://{}/no/such/dir/keys.db", dir.path().display());
    let err = Database::connect(&url).expect_err("cannot open");
    assert!(err.is_unavailable(), "{err}");
}

#[test]
fn unreachable_store_is_unavailable_not_invalid() {
    let db = Database::connect_lazy_with(
        "postgres://postgres@127.0.0.1:1/none",
        DatabaseConfig::default().connection_timeout(std::time::Duration::from_millis(300)),
    )
    .expect("lazy pool");
    let keys: BaseApiKeyManager<ApiKey> = BaseApiKeyManager::new(db);
    // A key of the generator's shape: a malformed one is refused before any
    // query (tests/tests/cache.rs), so it would say nothing of the store.
    let key = format!("abcdefgh.{}", "0123456789ab".repeat(3)[..32].to_owned());
    let err = keys.get_from_key(&key).expect_err("down");
    assert!(err.is_unavailable(), "{err}");
    assert!(keys.is_valid(&key).is_err(), "is_valid must not say false");
    assert!(keys
        .create_key(NewKey::new("x"))
        .expect_err("down")
        .is_unavailable());
}

#[test]
fn plain_key_is_redacted() {
    let generated = KeyGenerator::default().generate();
    let secret = generated.key.expose_secret().to_owned();
    let debug = format!("{:?} {} {:?}", generated.key, generated.key, generated);
    assert!(!debug.contains(&secret[9..]), "secret leaked: {debug}");
    assert!(debug.contains("********"));
    let _shared: Arc<PlainKey> = Arc::new(generated.key);
}
