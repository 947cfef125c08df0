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
    /// Bumped by every change that can make a cached key unusable.
    epoch: AtomicU64,
    /// Bumped by every change at all, inserts included: what can make a
    /// prefix that had no usable key have one.
    absent_epoch: AtomicU64,
    live: AtomicBool,
    /// How many times the feed has looked for changes (for `settle`).
    polls: AtomicU64,
}

impl Freshness {
    fn new(live: bool) -> Self {
        Freshness {
            epoch: AtomicU64::new(0),
            absent_epoch: AtomicU64::new(0),
            live: AtomicBool::new(live),
            polls: AtomicU64::new(0),
        }
    }

    /// Everything cached so far is stale.
    pub(crate) fn invalidate(&self) {
        self.epoch.fetch_add(1, Ordering::AcqRel);
        self.absent_epoch.fetch_add(1, Ordering::AcqRel);
    }

    /// Keys were inserted: what was known absent is stale; cached keys
    /// stay good (an insert cannot make them unusable).
    pub(crate) fn inserted(&self) {
        self.absent_epoch.fetch_add(1, Ordering::AcqRel);
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

/// A prefix known to have no usable key.
struct Absent {
    epoch: u64,
    born: Instant,
}

/// A lookup's claim, taken before its query: the epochs its result belongs to.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Ticket {
    epoch: u64,
    absent_epoch: u64,
}

/// What the cache knows of a key.
#[derive(Debug)]
pub(crate) enum Cached<M> {
    /// Verified, current: the model.
    Hit(M),
    /// Certainly not usable, as of the current epoch: a different secret for
    /// a prefix whose current key is cached, a cached key that expired, or
    /// a prefix known to have no usable key.
    Refused,
    /// Not known: ask the database.
    Miss,
}

/// Verified keys of model `M`.
pub(crate) struct KeyCache<M> {
    entries: quick_cache::sync::Cache<String, Arc<Entry<M>>>,
    absent: quick_cache::sync::Cache<String, Arc<Absent>>,
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

/// The SHA-512 digest a `sha512$$<128 hex digits>` hash stands for.
fn stored_digest(hashed_key: &str) -> Option<[u8; 64]> {
    let hex_digits = hashed_key.strip_prefix(crate::hashers::SHA512_PREFIX)?;
    let mut out = [0u8; 64];
    hex::decode_to_slice(hex_digits, &mut out).ok()?;
    Some(out)
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
            absent: quick_cache::sync::Cache::new(capacity),
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

    /// What the cache knows of this full key. Answers only while the feed is
    /// live, from entries of the current epoch younger than `max_age`.
    pub(crate) fn lookup(&self, prefix: &str, key: &str) -> Cached<M> {
        self.start();
        if !self.freshness.is_live() {
            return Cached::Miss;
        }
        if let Some(entry) = self.entries.get(prefix) {
            if entry.epoch == self.freshness.epoch.load(Ordering::Acquire)
                && entry.born.elapsed() < self.max_age
            {
                // The row's current hash is the one this digest verified
                // (legacy hashes are rewritten on first use), so another
                // secret for the same prefix cannot verify either.
                if !bool::from(entry.digest.ct_eq(&digest(key))) {
                    return Cached::Refused;
                }
                if entry.model.revoked() || entry.model.has_expired_at(now()) {
                    return Cached::Refused;
                }
                return Cached::Hit(entry.model.clone());
            }
        }
        if let Some(absent) = self.absent.get(prefix) {
            if absent.epoch == self.freshness.absent_epoch.load(Ordering::Acquire)
                && absent.born.elapsed() < self.max_age
            {
                return Cached::Refused;
            }
        }
        Cached::Miss
    }

    /// Taken before a lookup's query.
    pub(crate) fn ticket(&self) -> Ticket {
        self.start();
        Ticket {
            epoch: self.freshness.epoch.load(Ordering::Acquire),
            absent_epoch: self.freshness.absent_epoch.load(Ordering::Acquire),
        }
    }

    /// Remembers a usable row that the lookup that took `ticket` just read
    /// from the database, whatever secret was presented: its stored hash
    /// (`sha512$$` + hex of SHA-512 of the whole key) is the digest the
    /// cache compares, so the right key is answered and any other refused
    /// without a query. Nothing for a legacy hash (verified and upgraded on
    /// the database path first), nor when an invalidation came since the
    /// ticket (the entry would be refused anyway).
    pub(crate) fn insert_row(&self, ticket: Ticket, model: &M) {
        if ticket.epoch != self.freshness.epoch.load(Ordering::Acquire) || model.revoked() {
            return;
        }
        let Some(stored) = stored_digest(model.hashed_key()) else {
            return;
        };
        self.entries.insert(
            model.prefix().to_owned(),
            Arc::new(Entry {
                digest: stored,
                model: model.clone(),
                epoch: ticket.epoch,
                born: Instant::now(),
            }),
        );
    }

    /// Remembers that the lookup that took `ticket` found no usable key
    /// with this prefix (never issued, revoked, expired or narrowed out).
    pub(crate) fn insert_absent(&self, ticket: Ticket, prefix: &str) {
        if ticket.absent_epoch != self.freshness.absent_epoch.load(Ordering::Acquire) {
            return;
        }
        self.absent.insert(
            prefix.to_owned(),
            Arc::new(Absent {
                epoch: ticket.absent_epoch,
                born: Instant::now(),
            }),
        );
    }

    /// A key was created through the manager: prefixes known absent are stale.
    pub(crate) fn inserted(&self) {
        self.freshness.inserted();
    }

    /// Forgets every entry (a write through the manager).
    pub(crate) fn invalidate(&self) {
        self.freshness.invalidate();
    }

    /// How many verified keys the map holds (current or not).
    pub(crate) fn len(&self) -> usize {
        self.entries.len()
    }

    /// How many prefixes are remembered as absent (current or not).
    pub(crate) fn absent_len(&self) -> usize {
        self.absent.len()
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
