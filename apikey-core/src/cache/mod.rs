//! The verification cache: verified keys answered from memory, as fresh as
//! the database's change feed allows (on by default; see
//! [`crate::BaseApiKeyManager::with_cache`]).
//!
//! Entries are found by prefix and hold the SHA-512 digest of the full key,
//! compared in constant time; the plain key is never kept. Only keys that
//! were just verified against the database enter, so a flood of invalid keys
//! cannot push valid ones out; the map is bounded (`quick_cache`, which
//! keeps frequently used entries when it evicts).
//!
//! Freshness is an epoch, bumped by every invalidation (a write through the
//! manager, or a change the feed reports). A lookup reads the epoch before its
//! query and files its result under that epoch; an entry is only answered
//! while its epoch is the current one. So a result read before an
//! invalidation can never be answered after it, whatever the interleaving
//! (no lost invalidation). While the feed is down the cache answers nothing
//! (fail fresh): every request goes to the database until the feed is back,
//! and the feed's return bumps the epoch before the cache answers again.

mod feed;

use std::fmt;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Once};
use std::time::{Duration, Instant};

use sha2::{Digest, Sha512};
use subtle::ConstantTimeEq;

use crate::db::Database;
use crate::model::{now, AbstractApiKey};

pub(crate) use feed::FeedKind;

/// The longest `max_age` accepted (longer values are clamped to it).
pub(crate) const MAX_AGE_LIMIT: Duration = Duration::from_secs(24 * 3600);

/// The state shared by a cache and its feed thread.
#[derive(Debug)]
pub(crate) struct Freshness {
    epoch: AtomicU64,
    live: AtomicBool,
    /// How many times the feed has looked for changes (for `settle`).
    polls: AtomicU64,
}

impl Freshness {
    fn new(live: bool) -> Self {
        Freshness {
            epoch: AtomicU64::new(0),
            live: AtomicBool::new(live),
            polls: AtomicU64::new(0),
        }
    }

    /// Everything cached so far is stale.
    pub(crate) fn invalidate(&self) {
        self.epoch.fetch_add(1, Ordering::AcqRel);
    }

    /// The feed is lost: answer nothing until it is back.
    pub(crate) fn lost(&self) {
        self.live.store(false, Ordering::Release);
    }

    /// The feed is back: forget everything cached before, then answer again.
    pub(crate) fn restored(&self) {
        self.invalidate();
        self.live.store(true, Ordering::Release);
    }

    /// The feed looked for changes once more.
    pub(crate) fn polled(&self) {
        self.polls.fetch_add(1, Ordering::AcqRel);
    }

    fn is_live(&self) -> bool {
        self.live.load(Ordering::Acquire)
    }
}

struct Entry<M> {
    digest: [u8; 64],
    model: M,
    epoch: u64,
    born: Instant,
}

/// A lookup's claim, taken before its query: the epoch its result belongs to.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Ticket(u64);

/// Verified keys of model `M`.
pub(crate) struct KeyCache<M> {
    entries: quick_cache::sync::Cache<String, Arc<Entry<M>>>,
    freshness: Arc<Freshness>,
    max_age: Duration,
    capacity: usize,
    feed: FeedKind,
    db: Database,
    /// The feed starts with the cache's first use, not with the manager
    /// (a manager built and turned off, or never used, starts no thread).
    started: Once,
}

impl<M> fmt::Debug for KeyCache<M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeyCache")
            .field("max_age", &self.max_age)
            .field("capacity", &self.capacity)
            .field("feed", &self.feed)
            .field("live", &self.freshness.is_live())
            .finish()
    }
}

fn digest(key: &str) -> [u8; 64] {
    Sha512::digest(key.as_bytes()).into()
}

impl<M: AbstractApiKey> KeyCache<M> {
    /// A cache of at most `capacity` keys, each answered for at most
    /// `max_age` after its lookup, fed by the change feed of `db` (on a
    /// thread of its own, started at first use, that ends with the cache).
    pub(crate) fn new(db: &Database, max_age: Duration, capacity: usize) -> Self {
        let capacity = capacity.max(1);
        let max_age = max_age.min(MAX_AGE_LIMIT);
        let feed = FeedKind::of(db);
        KeyCache {
            entries: quick_cache::sync::Cache::new(capacity),
            freshness: Arc::new(Freshness::new(false)),
            max_age,
            capacity,
            feed,
            db: db.clone(),
            started: Once::new(),
        }
    }

    fn start(&self) {
        self.started
            .call_once(|| self.feed.start(&self.db, &self.freshness));
    }

    /// The remembered model for this full key, if its entry is current,
    /// younger than `max_age`, the digest matches and the key has not expired.
    pub(crate) fn get(&self, prefix: &str, key: &str) -> Option<M> {
        self.start();
        if !self.freshness.is_live() {
            return None;
        }
        let entry = self.entries.get(prefix)?;
        if entry.epoch != self.freshness.epoch.load(Ordering::Acquire)
            || entry.born.elapsed() >= self.max_age
        {
            return None;
        }
        if !bool::from(entry.digest.ct_eq(&digest(key))) {
            return None;
        }
        if entry.model.revoked() || entry.model.has_expired_at(now()) {
            return None;
        }
        Some(entry.model.clone())
    }

    /// Taken before a lookup's query.
    pub(crate) fn ticket(&self) -> Ticket {
        self.start();
        Ticket(self.freshness.epoch.load(Ordering::Acquire))
    }

    /// Remembers a key that was just verified against the database by the
    /// lookup that took `ticket`; nothing when an invalidation came since
    /// (the entry would be refused anyway).
    pub(crate) fn insert(&self, ticket: Ticket, key: &str, model: &M) {
        if ticket.0 != self.freshness.epoch.load(Ordering::Acquire) || model.revoked() {
            return;
        }
        self.entries.insert(
            model.prefix().to_owned(),
            Arc::new(Entry {
                digest: digest(key),
                model: model.clone(),
                epoch: ticket.0,
                born: Instant::now(),
            }),
        );
    }

    /// Forgets every entry (a write through the manager).
    pub(crate) fn invalidate(&self) {
        self.freshness.invalidate();
    }

    /// How many entries the map holds (current or not).
    pub(crate) fn len(&self) -> usize {
        self.entries.len()
    }

    /// Waits (up to `timeout`) until the feed is live and has looked for
    /// changes twice since the call, so every write committed before the
    /// call has been seen. False on timeout.
    pub(crate) fn settle(&self, timeout: Duration) -> bool {
        self.start();
        let start = Instant::now();
        let from = self.freshness.polls.load(Ordering::Acquire);
        while start.elapsed() < timeout {
            if self.freshness.is_live() && self.freshness.polls.load(Ordering::Acquire) >= from + 2
            {
                return true;
            }
            std::thread::sleep(Duration::from_millis(1));
        }
        false
    }

    /// True while the change feed runs (the cache answers).
    pub(crate) fn is_live(&self) -> bool {
        self.freshness.is_live()
    }
}
