//! Last-used tracking: when each key was last used, written off the request
//! path (see [`crate::BaseApiKeyManager::with_last_used`]).
//!
//! A verified key costs the request a map lookup under a mutex: the first
//! use of a key in each interval (default [`DEFAULT_INTERVAL`]) queues its
//! time, every later use in the interval does nothing. A thread per tracker
//! writes what is queued every [`FLUSH_EVERY`], in one transaction per
//! batch, each row only if it holds no later time (several servers write
//! the same rows: the latest use wins whatever order they commit in). A
//! failed write is queued again for the next flush.
//!
//! These writes change no column a cached key depends on, so they must not
//! make every server's verification cache revalidate:
//!
//! - PostgreSQL: they run with `SET LOCAL apikey.quiet_write = 'on'`, which
//!   the key tables' change trigger (`apikey_notify_change`, since the
//!   `last_used_at` migration and in `apikey scaffold`'s SQL) skips.
//! - SQLite: they run on the cache's change-feed connection, whose
//!   `PRAGMA data_version` does not move for its own commits (another
//!   process's commits still do). Without a live feed (no cache, in-memory
//!   database) they run on a pooled connection.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Once, RwLock, Weak};
use std::time::{Duration, Instant};

use chrono::NaiveDateTime;
use diesel::connection::Connection;
use diesel::prelude::*;
use diesel::QueryResult;

use crate::cache::{FeedRun, Freshness};
use crate::db::{BackendKind, Database, DbConnection};
use crate::error::{Error, Result};
use crate::model::now;

/// How long after a recorded use the next use of the same key is recorded
/// again, by default.
pub const DEFAULT_INTERVAL: Duration = Duration::from_secs(60);

/// How often the queued uses are written (the first use of a key reaches
/// the table within about this long).
pub const FLUSH_EVERY: Duration = Duration::from_secs(1);

/// The most keys remembered at once (a use of a key beyond it is not
/// recorded until the next flush has let finished intervals go).
pub(crate) const MAX_TRACKED: usize = 100_000;

/// Independent maps, so the workers of a many-core server rarely wait for
/// each other (a key always goes to the same one).
const SHARDS: usize = 16;

/// Rows per transaction.
const BATCH: usize = 500;

/// How long a flush waits for the SQLite feed to run its write.
const FEED_WAIT: Duration = Duration::from_secs(5);

/// The write of one row: `KeyStorage::touch_last_used` of the model.
type WriteRow = fn(&mut DbConnection, &str, NaiveDateTime) -> QueryResult<usize>;

/// A write the SQLite change feed runs on its own connection.
pub(crate) type QuietJob = Box<dyn FnOnce(&mut DbConnection) + Send>;

struct Slot {
    /// When the use that opened the current interval was seen.
    queued: Instant,
    /// The time to write, until a flush has written it.
    pending: Option<NaiveDateTime>,
}

/// The uses of one manager's keys (shared by its clones).
pub(crate) struct LastUsed {
    interval: Duration,
    shards: Box<[Mutex<HashMap<String, Slot>>]>,
    /// Picks a key's shard.
    hasher: std::collections::hash_map::RandomState,
    db: Database,
    write: WriteRow,
    /// The SQLite feed that runs the writes (dangling: write on a pooled
    /// connection).
    feed: RwLock<Weak<Freshness>>,
    /// One flush at a time.
    flushing: Mutex<()>,
    started: Once,
    me: Weak<LastUsed>,
    rows_written: AtomicU64,
    /// Calls of [`LastUsed::touch`] (for tests).
    touches: AtomicU64,
}

impl std::fmt::Debug for LastUsed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LastUsed")
            .field("interval", &self.interval)
            .finish()
    }
}

impl LastUsed {
    pub(crate) fn new(db: &Database, interval: Duration, write: WriteRow) -> Arc<Self> {
        Arc::new_cyclic(|me| LastUsed {
            interval,
            shards: (0..SHARDS).map(|_| Mutex::new(HashMap::new())).collect(),
            hasher: std::collections::hash_map::RandomState::new(),
            db: db.clone(),
            write,
            feed: RwLock::new(Weak::new()),
            flushing: Mutex::new(()),
            started: Once::new(),
            me: me.clone(),
            rows_written: AtomicU64::new(0),
            touches: AtomicU64::new(0),
        })
    }

    /// The interval between two recorded uses of a key.
    pub(crate) fn interval(&self) -> Duration {
        self.interval
    }

    /// Writes go through this SQLite feed while it is live (`None`: on a
    /// pooled connection).
    pub(crate) fn set_feed(&self, feed: Option<&Arc<Freshness>>) {
        if let Ok(mut slot) = self.feed.write() {
            *slot = feed.map_or_else(Weak::new, Arc::downgrade);
        }
    }

    fn shard(&self, prefix: &str) -> &Mutex<HashMap<String, Slot>> {
        use std::hash::BuildHasher;
        let i = self.hasher.hash_one(prefix) as usize % SHARDS;
        &self.shards[i]
    }

    /// A key with this prefix was just used. Returns when the current
    /// interval of this key began (the use recorded last, or this one):
    /// the next use to record is one interval after it.
    pub(crate) fn touch(&self, prefix: &str) -> Instant {
        self.touches.fetch_add(1, Ordering::Relaxed);
        let at = Instant::now();
        let Ok(mut slots) = self.shard(prefix).lock() else {
            return at;
        };
        if let Some(slot) = slots.get_mut(prefix) {
            if at.duration_since(slot.queued) < self.interval {
                return slot.queued;
            }
            slot.queued = at;
            slot.pending = Some(now());
        } else if slots.len() < MAX_TRACKED / SHARDS {
            slots.insert(
                prefix.to_owned(),
                Slot {
                    queued: at,
                    pending: Some(now()),
                },
            );
        } else {
            return at;
        }
        drop(slots);
        self.start();
        at
    }

    fn start(&self) {
        self.started.call_once(|| {
            let me = self.me.clone();
            let spawned = std::thread::Builder::new()
                .name("apikey-last-used".into())
                .spawn(move || flush_loop(&me));
            if let Err(e) = spawned {
                log::warn!("apikey: cannot start the last-used writer ({e}); call flush_last_used");
            }
        });
    }

    /// Calls of [`LastUsed::touch`] so far (for tests).
    pub(crate) fn touches(&self) -> u64 {
        self.touches.load(Ordering::Relaxed)
    }

    /// Rows changed by the writes so far (for tests).
    pub(crate) fn rows_written(&self) -> u64 {
        self.rows_written.load(Ordering::Acquire)
    }

    /// Writes every queued use now; returns how many rows changed (a row
    /// that already held a later time is not changed). What cannot be
    /// written stays queued.
    pub(crate) fn flush(&self) -> Result<usize> {
        let _one = self.flushing.lock().unwrap_or_else(|e| e.into_inner());
        let batch = self.take_pending();
        let mut written = 0;
        for (i, chunk) in batch.chunks(BATCH).enumerate() {
            match self.write_chunk(chunk) {
                Ok(n) => written += n,
                Err(e) => {
                    self.requeue(&batch[i * BATCH..]);
                    return Err(e);
                }
            }
        }
        self.rows_written
            .fetch_add(written as u64, Ordering::AcqRel);
        Ok(written)
    }

    /// The queued uses, taken; finished intervals with nothing queued are
    /// let go.
    fn take_pending(&self) -> Vec<(String, NaiveDateTime)> {
        let interval = self.interval;
        let mut taken = Vec::new();
        for shard in self.shards.iter() {
            let Ok(mut slots) = shard.lock() else {
                continue;
            };
            slots.retain(|_, slot| slot.pending.is_some() || slot.queued.elapsed() < interval);
            taken.extend(
                slots.iter_mut().filter_map(|(prefix, slot)| {
                    slot.pending.take().map(|at| (prefix.clone(), at))
                }),
            );
        }
        taken
    }

    fn requeue(&self, batch: &[(String, NaiveDateTime)]) {
        for (prefix, at) in batch {
            let Ok(mut slots) = self.shard(prefix).lock() else {
                continue;
            };
            if let Some(slot) = slots.get_mut(prefix) {
                // A use queued since is later: keep it.
                if slot.pending.is_none_or(|p| p < *at) {
                    slot.pending = Some(*at);
                }
            } else if slots.len() < MAX_TRACKED / SHARDS {
                slots.insert(
                    prefix.clone(),
                    Slot {
                        queued: Instant::now(),
                        pending: Some(*at),
                    },
                );
            }
        }
    }

    fn write_chunk(&self, chunk: &[(String, NaiveDateTime)]) -> Result<usize> {
        let write = self.write;
        let feed = self.feed.read().ok().and_then(|f| f.upgrade());
        let rows = chunk.to_vec();
        run_quiet(&self.db, feed, move |conn| {
            let mut changed = 0;
            for (prefix, at) in &rows {
                changed += write(conn, prefix, *at)?;
            }
            Ok(changed)
        })
    }
}

/// Runs `f` in one transaction as a quiet write, one that changes nothing a
/// cached key depends on: on PostgreSQL marked with
/// `SET LOCAL apikey.quiet_write = 'on'` (the key tables' change trigger
/// skips it); on SQLite on the change feed's own connection while `feed` is
/// live (its `data_version` does not move for it), else on a pooled
/// connection.
pub(crate) fn run_quiet<T: Send + 'static>(
    db: &Database,
    feed: Option<Arc<Freshness>>,
    f: impl FnOnce(&mut DbConnection) -> QueryResult<T> + Send + 'static,
) -> Result<T> {
    let backend = db.backend();
    let in_transaction = move |conn: &mut DbConnection| {
        conn.transaction(|conn| {
            if backend == BackendKind::Postgres {
                diesel::sql_query("SET LOCAL apikey.quiet_write = 'on'").execute(conn)?;
            }
            f(conn)
        })
    };
    if let Some(feed) = feed.filter(|f| f.is_live()) {
        return match feed.run_on_feed(FEED_WAIT, in_transaction) {
            FeedRun::Done(result) => result.map_err(Error::from),
            FeedRun::GaveUp => Err(Error::Unavailable(
                "the cache's change feed did not run the write in time; nothing was written".into(),
            )),
            FeedRun::Stopped => Err(Error::Unavailable(
                "the cache's change feed stopped during the write".into(),
            )),
        };
    }
    db.run(in_transaction)
}

/// The writer thread: a flush every [`FLUSH_EVERY`] while anything is
/// queued; ends with the tracker.
fn flush_loop(tracker: &Weak<LastUsed>) {
    let mut failing = false;
    loop {
        std::thread::sleep(FLUSH_EVERY);
        let Some(tracker) = tracker.upgrade() else {
            return;
        };
        let due = tracker.shards.iter().any(|shard| {
            shard
                .lock()
                .is_ok_and(|slots| slots.values().any(|s| s.pending.is_some()))
        });
        if !due {
            continue;
        }
        match tracker.flush() {
            Ok(_) if failing => {
                log::info!("apikey: last-used times are written again");
                failing = false;
            }
            Ok(_) => {}
            Err(e) if !failing => {
                log::warn!("apikey: cannot write last-used times ({e}); retrying every second");
                failing = true;
            }
            Err(_) => {}
        }
    }
}
