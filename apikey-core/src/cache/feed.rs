//! The change feeds that keep the cache fresh, one thread per cache:
//!
//! - SQLite (a file): `PRAGMA data_version` on a connection of its own, every
//!   [`POLL`]; it changes whenever another connection (of this process or
//!   another) commits, so any write by anyone (the CLI, another server, Django,
//!   raw SQL, a narrowing table in the same file) invalidates the cache.
//! - PostgreSQL: a change counter (`apikey_change_counter`, kept by the key
//!   tables' trigger) polled every [`POLL`] on a connection of its own, and
//!   `LISTEN apikey_changes` on the same connection, drained as often; the built-in table's migrations and `apikey scaffold`
//!   install a trigger that notifies once per statement that inserts,
//!   updates, deletes or truncates key rows (payload `<table> <operation>`:
//!   an INSERT only makes the prefixes known absent stale).
//!   What no trigger reports (a table without it, such as Django's own, or a
//!   table a narrowing joins) is bounded by the cache's `max_age`. A
//!   heartbeat query every [`HEARTBEAT`] finds a connection that died silently.
//! - SQLite in memory: no other connection can write it, but no feed can
//!   watch it either: the cache stays off (every lookup is a query).
//!
//! When a feed fails (its connection dropped, the server restarted), the cache
//! answers nothing until the feed is back; the feed then invalidates
//! everything before the cache answers again (fail fresh).

use std::sync::{Arc, Weak};
use std::thread;
use std::time::{Duration, Instant};

use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use diesel::sql_types::BigInt;

use super::Freshness;
use crate::db::{BackendKind, Database, DbConnection};

/// How often a feed looks for changes.
pub(crate) const POLL: Duration = Duration::from_millis(5);
/// How often the PostgreSQL feed checks that its connection is alive.
#[cfg(feature = "postgres")]
pub(crate) const HEARTBEAT: Duration = Duration::from_secs(1);
/// The longest a quiet write on the SQLite feed's connection waits for the
/// database lock (the feed does not poll meanwhile).
const QUIET_LOCK_WAIT: Duration = Duration::from_millis(20);
/// How long a failed feed waits before it reconnects.
const RETRY: Duration = Duration::from_millis(100);
/// The PostgreSQL channel the key tables' triggers notify.
#[cfg(feature = "postgres")]
pub(crate) const CHANNEL: &str = "apikey_changes";

/// Which feed a cache has.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum FeedKind {
    /// `PRAGMA data_version` polling.
    SqliteDataVersion,
    /// `LISTEN apikey_changes`.
    PostgresListen,
    /// None: the cache never answers.
    None,
}

#[cfg(feature = "postgres")]
#[derive(QueryableByName)]
struct Counter {
    #[diesel(sql_type = BigInt)]
    changes: i64,
    #[diesel(sql_type = BigInt)]
    inserts: i64,
}

#[cfg(feature = "postgres")]
#[derive(QueryableByName)]
struct Exists {
    #[diesel(sql_type = diesel::sql_types::Bool)]
    present: bool,
}

/// The change counter the key tables' trigger keeps, `None` when the
/// database has none (no key table migrated by apikey-core there).
#[cfg(feature = "postgres")]
fn counter(pg: &mut diesel::PgConnection) -> QueryResult<Option<(i64, i64)>> {
    Ok(
        diesel::sql_query("SELECT changes, inserts FROM apikey_change_counter WHERE id = 1")
            .get_result::<Counter>(pg)
            .optional()?
            .map(|c| (c.changes, c.inserts)),
    )
}

#[derive(QueryableByName)]
struct DataVersion {
    #[diesel(sql_type = BigInt)]
    data_version: i64,
}

impl FeedKind {
    pub(crate) fn of(db: &Database) -> Self {
        match db.backend() {
            _ if db.url().is_memory() => FeedKind::None,
            BackendKind::Sqlite => FeedKind::SqliteDataVersion,
            BackendKind::Postgres => FeedKind::PostgresListen,
        }
    }

    /// Starts the feed's thread; it ends when `freshness` is dropped.
    pub(crate) fn start(self, db: &Database, freshness: &Arc<Freshness>) {
        if self == FeedKind::None {
            return;
        }
        let weak = Arc::downgrade(freshness);
        let db = db.clone();
        let spawned = thread::Builder::new()
            .name("apikey-cache-feed".into())
            .spawn(move || run(self, &db, &weak));
        if let Err(e) = spawned {
            log::error!("apikey: cannot start the cache's change feed ({e}); the cache stays off");
        }
    }
}

fn run(kind: FeedKind, db: &Database, freshness: &Weak<Freshness>) {
    loop {
        if freshness.strong_count() == 0 {
            return;
        }
        let result = match kind {
            FeedKind::SqliteDataVersion => watch_sqlite(db, freshness),
            #[cfg(feature = "postgres")]
            FeedKind::PostgresListen => listen_postgres(db, freshness),
            #[cfg(not(feature = "postgres"))]
            FeedKind::PostgresListen => return,
            FeedKind::None => return,
        };
        let Some(f) = freshness.upgrade() else {
            return;
        };
        f.lost();
        drop(f);
        match result {
            Ok(()) => return,
            Err(e) => log::warn!(
                "apikey: the cache's change feed on {} failed ({e}); \
                 the cache is off until it is back",
                db.redacted_url()
            ),
        }
        thread::sleep(RETRY);
    }
}

fn data_version(conn: &mut DbConnection) -> QueryResult<i64> {
    diesel::sql_query("PRAGMA data_version")
        .get_result::<DataVersion>(conn)
        .map(|v| v.data_version)
}

/// Polls `PRAGMA data_version` until the cache is gone (`Ok`) or a query
/// fails (`Err`).
fn watch_sqlite(db: &Database, freshness: &Weak<Freshness>) -> QueryResult<()> {
    let mut conn = db
        .url()
        .connect_raw()
        .map_err(|e| diesel::result::Error::QueryBuilderError(e.to_string().into()))?;
    let began = Instant::now();
    let mut seen = data_version(&mut conn)?;
    match freshness.upgrade() {
        Some(f) => f.restored(began),
        None => return Ok(()),
    }
    loop {
        thread::sleep(POLL);
        let began = Instant::now();
        let version = data_version(&mut conn)?;
        let Some(f) = freshness.upgrade() else {
            return Ok(());
        };
        if version != seen {
            seen = version;
            f.invalidate();
        }
        f.confirm(began);
        // Quiet writes (last-used times), after the poll: a commit of this
        // connection does not move its data_version, commits of others
        // still do. A short lock wait, so the feed keeps polling.
        let jobs = f.take_quiet();
        if !jobs.is_empty() {
            conn.batch_execute(&format!(
                "PRAGMA busy_timeout = {}",
                QUIET_LOCK_WAIT.as_millis()
            ))?;
            for job in jobs {
                job(&mut conn);
            }
            conn.batch_execute(&format!(
                "PRAGMA busy_timeout = {}",
                db.url().lock_timeout().as_millis()
            ))?;
        }
        f.polled();
    }
}

/// Listens on [`CHANNEL`] until the cache is gone (`Ok`) or the connection
/// fails (`Err`).
#[cfg(feature = "postgres")]
fn listen_postgres(db: &Database, freshness: &Weak<Freshness>) -> QueryResult<()> {
    let mut conn = db
        .url()
        .connect_raw()
        .map_err(|e| diesel::result::Error::QueryBuilderError(e.to_string().into()))?;
    #[allow(irrefutable_let_patterns)] // a build without SQLite
    let DbConnection::Postgresql(pg) = &mut conn
    else {
        return Err(diesel::result::Error::QueryBuilderError(
            "not a PostgreSQL connection".into(),
        ));
    };
    pg.batch_execute(&format!(
        "SET application_name = 'apikey-cache-feed'; LISTEN {CHANNEL}"
    ))?;
    // The counter, where the migrations installed it: polled every POLL,
    // it cannot arrive late (a notification can, seen up to ~1 s under
    // load); the notifications stay for tables whose trigger predates it.
    let has_counter =
        diesel::sql_query("SELECT to_regclass('apikey_change_counter') IS NOT NULL AS present")
            .get_result::<Exists>(pg)?
            .present;
    let began = Instant::now();
    let mut seen = if has_counter { counter(pg)? } else { None };
    match freshness.upgrade() {
        Some(f) => f.restored(began),
        None => return Ok(()),
    }
    let mut beat = Instant::now();
    loop {
        thread::sleep(POLL);
        // Without the counter, a look is the notifications already
        // received (no round trip): the heartbeat finds a dead connection.
        let began = Instant::now();
        if has_counter {
            let now = counter(pg)?;
            if now != seen {
                let Some(f) = freshness.upgrade() else {
                    return Ok(());
                };
                match (seen, now) {
                    (Some((changes, _)), Some((c, _))) if c == changes => f.inserted(),
                    _ => f.invalidate(),
                }
                seen = now;
            }
            beat = Instant::now();
        }
        // The payload is "<table> <operation>": an INSERT only makes
        // prefixes known absent stale; anything else may make a cached
        // key unusable.
        let (mut inserted, mut changed) = (false, false);
        for notification in pg.notifications_iter() {
            if notification?.payload.ends_with(" INSERT") {
                inserted = true;
            } else {
                changed = true;
            }
        }
        let Some(f) = freshness.upgrade() else {
            return Ok(());
        };
        if changed {
            f.invalidate();
        } else if inserted {
            f.inserted();
        }
        f.confirm(began);
        f.polled();
        if beat.elapsed() >= HEARTBEAT {
            pg.batch_execute("SELECT 1")?;
            beat = Instant::now();
        }
    }
}
