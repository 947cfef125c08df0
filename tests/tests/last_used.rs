//! Last-used tracking (`BaseApiKeyManager::with_last_used`) on SQLite and
//! PostgreSQL: written off the request path, once per key per interval
//! (UPDATEs counted by a trigger of the test's own), the latest use wins
//! across servers, the writes leave the verification caches alone, derived
//! models opt in, and `KeyFilter::unused_since`.

use std::time::{Duration, Instant};

use apikey_core::scaffold::KeyTable;
use apikey_core::{
    AbstractApiKey, ApiKey, BackendKind, BaseApiKeyManager, DjangoApiKey, KeyFilter, NewKey,
};
use apikey_tests::{backend_tests, TestDb};
use chrono::NaiveDateTime;

mod schema {
    diesel::table! {
        project_api_keys (id) {
            id -> BigInt,
            prefix -> Text,
            hashed_key -> Text,
            created -> Timestamp,
            name -> Text,
            revoked -> Bool,
            expiry_date -> Nullable<Timestamp>,
            project_id -> BigInt,
            last_used_at -> Nullable<Timestamp>,
        }
    }
}

use schema::project_api_keys;

/// A derived model that opts in with a `last_used_at` field.
#[derive(Debug, Clone, diesel::Queryable, diesel::Selectable, apikey_core::ApiKeyModel)]
#[diesel(table_name = project_api_keys)]
pub struct ProjectApiKey {
    id: i64,
    prefix: String,
    hashed_key: String,
    created: NaiveDateTime,
    name: String,
    revoked: bool,
    expiry_date: Option<NaiveDateTime>,
    /// Own field.
    pub project_id: i64,
    /// Filled by the manager.
    pub last_used_at: Option<NaiveDateTime>,
}

/// Polls (up to 20 s) until `f` holds.
fn eventually(what: &str, mut f: impl FnMut() -> bool) {
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(20) {
        if f() {
            return;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    panic!("never happened: {what}");
}

fn last_used<M: AbstractApiKey>(
    keys: &BaseApiKeyManager<M>,
    prefix: &str,
) -> Option<NaiveDateTime> {
    keys.find_by_prefix(prefix)
        .expect("find")
        .expect("row")
        .last_used_at()
}

/// Counts the rows whose `last_used_at` an UPDATE changed, in a table of
/// the test's own, by a row trigger (independent of the library's counters).
fn count_touches(db: &TestDb, table: &str) {
    let sql = match db.kind {
        BackendKind::Postgres => format!(
            "CREATE TABLE touches (n BIGINT NOT NULL); INSERT INTO touches VALUES (0);
             CREATE FUNCTION count_touch() RETURNS trigger AS $$
             BEGIN UPDATE touches SET n = n + 1; RETURN NULL; END; $$ LANGUAGE plpgsql;
             CREATE TRIGGER count_touch AFTER UPDATE OF last_used_at ON {table}
             FOR EACH ROW EXECUTE FUNCTION count_touch();"
        ),
        _ => format!(
            "CREATE TABLE touches (n INTEGER NOT NULL); INSERT INTO touches VALUES (0);
             CREATE TRIGGER count_touch AFTER UPDATE OF last_used_at ON {table}
             BEGIN UPDATE touches SET n = n + 1; END;"
        ),
    };
    db.raw_sql(&sql).expect("counting trigger");
}

fn touches(db: &TestDb) -> i64 {
    #[derive(diesel::QueryableByName)]
    struct N {
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        n: i64,
    }
    db.database()
        .run(|conn| {
            use diesel::RunQueryDsl;
            diesel::sql_query("SELECT n FROM touches").get_result::<N>(conn)
        })
        .expect("count")
        .n
}

fn first_use_is_written_off_the_request_path(db: &TestDb) {
    let keys: BaseApiKeyManager<ApiKey> = BaseApiKeyManager::new(db.database());
    assert_eq!(keys.last_used_interval(), Some(Duration::from_secs(60)));
    let (row, key) = keys.create_key(NewKey::new("ci")).expect("create");
    assert_eq!(row.last_used_at, None);
    assert!(keys.is_valid(&format!("{}x", key.expose_secret())).is_ok());
    assert_eq!(
        last_used(&keys, row.prefix()),
        None,
        "a refused key is no use"
    );

    let before = apikey_core::now();
    assert!(keys.is_valid(key.expose_secret()).expect("answered"));
    let after = apikey_core::now();
    // Written by the manager's own thread, without a flush call.
    eventually("the first use is written", || {
        last_used(&keys, row.prefix()).is_some()
    });
    let at = last_used(&keys, row.prefix()).expect("written");
    // Stored with microseconds (PostgreSQL) or Django's text (SQLite).
    let slack = chrono::Duration::microseconds(1);
    assert!(
        at + slack >= before && at <= after + slack,
        "{before} <= {at} <= {after}"
    );
    // Listed through the model, for the CLI and the admin.
    let listed = keys.list(&KeyFilter::default()).expect("list");
    assert_eq!(listed[0].last_used_at, Some(at));
}

fn written_once_per_interval_under_load(db: &TestDb) {
    let keys: BaseApiKeyManager<ApiKey> =
        BaseApiKeyManager::new(db.database()).with_last_used(Duration::from_secs(3600));
    count_touches(db, "api_keys");
    let made: Vec<_> = (0..3)
        .map(|i| {
            keys.create_key(NewKey::new(format!("k{i}")))
                .expect("create")
        })
        .collect();
    std::thread::scope(|s| {
        for _ in 0..4 {
            s.spawn(|| {
                for _ in 0..500 {
                    for (_, key) in &made {
                        assert!(keys.is_valid(key.expose_secret()).expect("answered"));
                    }
                }
            });
        }
    });
    keys.flush_last_used().expect("flush");
    assert_eq!(
        touches(db),
        3,
        "6,000 uses of 3 keys in one interval: 3 UPDATEs"
    );
    for (row, _) in &made {
        assert!(last_used(&keys, row.prefix()).is_some());
    }
    for (_, key) in &made {
        assert!(keys.is_valid(key.expose_secret()).expect("answered"));
    }
    assert_eq!(keys.flush_last_used().expect("flush"), 0, "nothing queued");
    assert_eq!(touches(db), 3, "still within the interval");

    // A short interval: at most one write per interval, and one per
    // interval that saw a use.
    let short = Duration::from_millis(100);
    let fast: BaseApiKeyManager<ApiKey> =
        BaseApiKeyManager::new(db.database()).with_last_used(short);
    let (_, key) = &made[0];
    // (Until its feed is up the cache answers nothing: every lookup is a
    // query, and asks the tracker.)
    assert!(fast.settle_cache(Duration::from_secs(10)));
    let asked_before = fast.__last_used_touches();
    let base = touches(db);
    let start = Instant::now();
    while start.elapsed() < Duration::from_millis(700) {
        assert!(fast.is_valid(key.expose_secret()).expect("answered"));
        fast.flush_last_used().expect("flush");
    }
    let elapsed = start.elapsed();
    fast.flush_last_used().expect("flush");
    let writes = touches(db) - base;
    let most = (elapsed.as_millis() / short.as_millis()) as i64 + 1;
    assert!(writes >= 2, "{writes} writes in {elapsed:?}");
    assert!(
        writes <= most,
        "{writes} writes in {elapsed:?}, at most {most}"
    );
    // Cache hits ask the tracker once per interval, not on every request.
    let asked = fast.__last_used_touches() - asked_before;
    assert!(asked >= 2, "asked {asked} times");
    assert!(
        asked as i64 <= 3 * most,
        "asked {asked} times in {elapsed:?}: at most {} expected",
        3 * most
    );
}

fn the_latest_use_wins_across_servers(db: &TestDb) {
    let one: BaseApiKeyManager<ApiKey> = BaseApiKeyManager::new(db.database());
    let two: BaseApiKeyManager<ApiKey> = BaseApiKeyManager::new(db.database());
    let (row, key) = one.create_key(NewKey::new("shared")).expect("create");
    assert!(one.is_valid(key.expose_secret()).expect("answered"));
    std::thread::sleep(Duration::from_millis(5));
    let later = apikey_core::now();
    assert!(two.is_valid(key.expose_secret()).expect("answered"));
    // The later use commits first; the earlier one must not overwrite it.
    assert_eq!(two.flush_last_used().expect("flush"), 1);
    let written = last_used(&one, row.prefix()).expect("written");
    assert!(written >= later - chrono::Duration::microseconds(1));
    assert_eq!(
        one.flush_last_used().expect("flush"),
        0,
        "an older time changes nothing"
    );
    assert_eq!(last_used(&one, row.prefix()), Some(written));
}

fn tracking_leaves_the_caches_alone(db: &TestDb) {
    // One manager on SQLite (the writes of another process's feed do reach
    // this one's: documented), two on PostgreSQL (quiet for every server).
    let hour = Duration::from_secs(3600);
    // A use is written every time (an interval of 1 ms).
    let manager = || {
        BaseApiKeyManager::<ApiKey>::new(db.database())
            .with_cache(hour, 1000)
            .with_last_used(Duration::from_millis(1))
    };
    let reader = manager();
    let writer = match db.kind {
        BackendKind::Postgres => manager(),
        _ => reader.clone(),
    };
    let (_, hot) = reader.create_key(NewKey::new("hot")).expect("create");
    let (_, other) = reader.create_key(NewKey::new("other")).expect("create");
    assert!(reader.is_valid(hot.expose_secret()).expect("answered"));
    assert!(reader.settle_cache(Duration::from_secs(10)));
    eventually("the creations are revalidated", || {
        let before = reader.cache_revalidations();
        reader.settle_cache(Duration::from_secs(10));
        std::thread::sleep(Duration::from_millis(50));
        reader.cache_revalidations() == before
    });
    // Cached once no change is pending (a lookup that races the creations'
    // change is not cached).
    eventually("the hot key is cached", || {
        assert!(reader.is_valid(hot.expose_secret()).expect("answered"));
        reader.settle_cache(Duration::from_secs(10));
        reader.get_cached(hot.expose_secret()).is_some()
    });
    reader.flush_last_used().expect("flush");
    let passes = reader.cache_revalidations();

    for _ in 0..3 {
        assert!(writer.is_valid(other.expose_secret()).expect("answered"));
        assert_eq!(writer.flush_last_used().expect("flush"), 1);
        std::thread::sleep(Duration::from_millis(5));
        assert!(reader.settle_cache(Duration::from_secs(10)));
    }
    // An application's own bookkeeping write, marked quiet.
    let n = writer
        .write_quietly(|conn| {
            use diesel::RunQueryDsl;
            diesel::sql_query("UPDATE api_keys SET last_used_at = NULL").execute(conn)
        })
        .expect("quiet write");
    assert_eq!(n, 2);
    assert!(reader.settle_cache(Duration::from_secs(10)));
    std::thread::sleep(Duration::from_millis(100));
    assert_eq!(reader.cache_revalidations(), passes, "no revalidation");
    assert!(
        reader.get_cached(hot.expose_secret()).is_some(),
        "still cached"
    );

    // The control: an ordinary write is seen, and revalidated.
    db.raw_sql("UPDATE api_keys SET name = 'renamed' WHERE name = 'other'")
        .expect("write");
    eventually("an ordinary write makes the cache revalidate", || {
        reader.cache_revalidations() > passes
    });
}

fn derived_models_opt_in(db: &TestDb) {
    let database = db.database();
    let table = KeyTable::new("project_api_keys")
        .column("project_id BIGINT NOT NULL")
        .last_used_at();
    db.raw_sql(&table.migration(db.kind).expect("scaffold").up)
        .expect("up.sql");
    count_touches(db, "project_api_keys");
    let keys: BaseApiKeyManager<ProjectApiKey> = BaseApiKeyManager::new(database.clone());
    const { assert!(ProjectApiKey::TRACKS_LAST_USE) };
    let (row, key) = keys
        .create_key(NewKey::with_extra(
            "p",
            ProjectApiKeyFields { project_id: 3 },
        ))
        .expect("create");
    assert!(keys.is_valid(key.expose_secret()).expect("answered"));
    assert_eq!(keys.flush_last_used().expect("flush"), 1);
    assert_eq!(touches(db), 1);
    let stored = keys
        .find_by_prefix(row.prefix())
        .expect("find")
        .expect("row");
    assert!(stored.last_used_at.is_some());
    assert_eq!(stored.last_used_at(), stored.last_used_at);

    // Off: nothing written.
    let off = keys.clone().without_last_used();
    assert_eq!(off.last_used_interval(), None);
    let (row, key) = off
        .create_key(NewKey::with_extra(
            "q",
            ProjectApiKeyFields { project_id: 3 },
        ))
        .expect("create");
    assert!(off.is_valid(key.expose_secret()).expect("answered"));
    assert_eq!(off.flush_last_used().expect("flush"), 0);
    assert_eq!(last_used(&off, row.prefix()), None);

    // Django's table has no column: nothing tracked, nothing written.
    db.create_django_table();
    let django: BaseApiKeyManager<DjangoApiKey> = BaseApiKeyManager::new(database);
    const { assert!(!DjangoApiKey::TRACKS_LAST_USE) };
    assert_eq!(django.last_used_interval(), None);
    let (_, key) = django.create_key(NewKey::new("d")).expect("create");
    assert!(django.is_valid(key.expose_secret()).expect("answered"));
    assert_eq!(django.flush_last_used().expect("flush"), 0);
}

fn unused_since_lists_keys_not_used_since(db: &TestDb) {
    let keys: BaseApiKeyManager<ApiKey> = BaseApiKeyManager::new(db.database()).without_last_used();
    let now = apikey_core::now();
    let days = |n: i64| {
        (now - chrono::Duration::days(n))
            .format("%Y-%m-%d %H:%M:%S")
            .to_string()
    };
    // (name, created days ago, last used days ago)
    let rows = [
        ("old-never-used", 100, None),
        ("old-used-lately", 100, Some(10)),
        ("new-never-used", 10, None),
        ("used-long-ago", 200, Some(95)),
    ];
    for (name, created, used) in rows {
        let (row, _) = keys.create_key(NewKey::new(name)).expect("create");
        let used = used.map_or("NULL".to_owned(), |d| format!("'{}'", days(d)));
        db.raw_sql(&format!(
            "UPDATE api_keys SET created = '{}', last_used_at = {used} WHERE prefix = '{}'",
            days(created),
            row.prefix()
        ))
        .expect("backdate");
    }
    let filter = KeyFilter {
        unused_since: Some(now - chrono::Duration::days(90)),
        ..KeyFilter::default()
    };
    let mut names: Vec<String> = keys
        .list(&filter)
        .expect("list")
        .iter()
        .map(|k| k.name.clone())
        .collect();
    names.sort();
    assert_eq!(names, ["old-never-used", "used-long-ago"]);
    assert_eq!(keys.count(&filter).expect("count"), 2);
}

fn a_failed_write_is_queued_again(db: &TestDb) {
    // Writes of last_used_at fail while this trigger exists.
    let (block, unblock) = match db.kind {
        BackendKind::Postgres => (
            "CREATE FUNCTION refuse() RETURNS trigger AS $$
             BEGIN RAISE EXCEPTION 'refused'; END; $$ LANGUAGE plpgsql;
             CREATE TRIGGER refuse BEFORE UPDATE OF last_used_at ON api_keys
             FOR EACH ROW EXECUTE FUNCTION refuse();",
            "DROP TRIGGER refuse ON api_keys",
        ),
        _ => (
            "CREATE TRIGGER refuse BEFORE UPDATE OF last_used_at ON api_keys
             BEGIN SELECT RAISE(ABORT, 'refused'); END;",
            "DROP TRIGGER refuse",
        ),
    };
    let keys: BaseApiKeyManager<ApiKey> = BaseApiKeyManager::new(db.database());
    let (row, key) = keys.create_key(NewKey::new("ci")).expect("create");
    db.raw_sql(block).expect("block");
    assert!(keys.is_valid(key.expose_secret()).expect("answered"));
    let used = apikey_core::now();
    assert!(keys.flush_last_used().is_err(), "the write cannot succeed");
    assert_eq!(last_used(&keys, row.prefix()), None);
    db.raw_sql(unblock).expect("unblock");
    // Retried (by this call, or by the manager's thread meanwhile).
    eventually("the queued use is written", || {
        let _ = keys.flush_last_used();
        last_used(&keys, row.prefix()).is_some()
    });
    let at = last_used(&keys, row.prefix()).expect("written");
    assert!(
        at <= used,
        "the time of the use, not of the retry: {at} > {used}"
    );
}

/// A quiet write the SQLite feed does not run in time is reported as not
/// done (`Unavailable`), and is then never done: the feed skips it when it
/// frees up. (PostgreSQL's quiet writes do not go through the feed.)
#[test]
fn sqlite_a_quiet_write_given_up_is_never_run() {
    let db = TestDb::sqlite();
    let manager =
        BaseApiKeyManager::<ApiKey>::new(db.database()).with_cache(Duration::from_secs(3600), 100);
    let (key, _) = manager.create_key(NewKey::new("before")).expect("create");
    assert!(manager.settle_cache(Duration::from_secs(10)), "feed live");
    let prefix = key.prefix().to_owned();

    // A first quiet write holds the feed's thread until released.
    let (started_tx, started_rx) = std::sync::mpsc::channel();
    let (release_tx, release_rx) = std::sync::mpsc::channel::<()>();
    let first = {
        let manager = manager.clone();
        let prefix = prefix.clone();
        std::thread::spawn(move || {
            manager.write_quietly(move |conn| {
                use diesel::RunQueryDsl;
                started_tx.send(()).expect("started");
                release_rx.recv().expect("released");
                diesel::sql_query(format!(
                    "UPDATE api_keys SET name = 'first' WHERE prefix = '{prefix}'"
                ))
                .execute(conn)
            })
        })
    };
    started_rx
        .recv_timeout(Duration::from_secs(10))
        .expect("the feed runs the first write");

    // The second waits for the busy feed, gives up, and says so.
    let sql = format!("UPDATE api_keys SET name = 'second' WHERE prefix = '{prefix}'");
    let second = manager.write_quietly(move |conn| {
        use diesel::RunQueryDsl;
        diesel::sql_query(sql).execute(conn)
    });
    assert!(
        matches!(&second, Err(apikey_core::Error::Unavailable(_))),
        "{second:?}"
    );

    release_tx.send(()).expect("release");
    assert_eq!(first.join().expect("joined").expect("first write"), 1);
    // The feed polls on (and would run anything still queued) ...
    assert!(manager.settle_cache(Duration::from_secs(10)));
    assert!(manager.settle_cache(Duration::from_secs(10)));
    // ... and the write given up is not among what it ran.
    let row = manager
        .find_by_prefix(&prefix)
        .expect("read")
        .expect("the key");
    assert_eq!(row.name(), "first");
}

/// Threads that answer hits from their own copies of a key's cache entry
/// share its record of the last report: once one thread asked the tracker,
/// the others do not ask again within the interval (one record per key,
/// not one per thread).
fn threads_share_the_record_of_the_last_report(db: &TestDb) {
    let keys: BaseApiKeyManager<ApiKey> =
        BaseApiKeyManager::new(db.database()).with_last_used(Duration::from_secs(600));
    let (_, key) = keys.create_key(NewKey::new("shared")).expect("create");
    let key = key.expose_secret();
    assert!(keys.settle_cache(Duration::from_secs(10)));
    // From the database, then a hit on this thread, which asks.
    assert!(keys.is_valid(key).expect("answered"));
    assert!(keys.is_valid(key).expect("answered"));
    assert!(keys.get_cached(key).is_some(), "cached");
    let before = keys.__last_used_touches();
    std::thread::scope(|s| {
        for _ in 0..4 {
            s.spawn(|| {
                for _ in 0..50 {
                    assert!(keys.is_valid(key).expect("answered"));
                }
            });
        }
    });
    // (A query, if anything made the cache stale meanwhile, asks too:
    // up to 3 are let go; a record per thread would be at least 4.)
    let asked = keys.__last_used_touches() - before;
    assert!(
        asked < 4,
        "asked {asked} times by 4 threads within one interval"
    );
}

backend_tests!(
    threads_share_the_record_of_the_last_report,
    a_failed_write_is_queued_again,
    first_use_is_written_off_the_request_path,
    written_once_per_interval_under_load,
    the_latest_use_wins_across_servers,
    tracking_leaves_the_caches_alone,
    derived_models_opt_in,
    unused_since_lists_keys_not_used_since,
);
