//! The verification cache: verified keys answered from memory, as fresh as
//! the database's change feed allows (on by default; see
//! [`crate::BaseApiKeyManager::with_cache`]).
//!
//! Entries are found by prefix and hold a digest of the full key (the
//! stored SHA-512, or, for a key this cache saw verify, a SHA-256 keyed with
//! a random per-cache key, one hardware-accelerated block), compared in
//! constant time; the plain key is never kept. Only keys that
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
//!
//! A change does not empty the cache for long: a revalidation thread per
//! cache re-reads the cached keys through the usable-keys query (narrowing
//! included, [`REVALIDATE_CHUNK`] prefixes per query) after every
//! invalidation, and re-files each row that is still usable with the same
//! hash under the new epoch (the read starts after the epoch moved, so it
//! sees every change the epoch stands for; rows it does not confirm are
//! dropped). It also sweeps every `max_age / 2` with no change at all, so a
//! hot key is never let go by `max_age` (what no feed reports, such as a
//! narrowing table on PostgreSQL, is then seen within that sweep). The same
//! passes re-check the prefixes remembered as having no usable key and
//! reload the prefix set before it ages out, so neither a flood of a revoked
//! key nor one of never-issued keys sends a burst of queries when `max_age`
//! passes. A write
//! that changes nothing a cached key depends on costs one revalidation
//! pass, not a query per key on the request path.
//!
//! Keys that were never issued are refused from a set of every prefix in the
//! key table (revoked and expired rows included), loaded off the request
//! path's hot half (by a lookup that goes to the database anyway) and used
//! only while it is current: loaded under the same ticket as any lookup,
//! dropped by any insert the feed or the manager reports, and never older
//! than `max_age`. A flood of random never-issued keys therefore costs no
//! query; tables with more than [`PREFIX_SET_LIMIT`] rows go without the set
//! (a query per unknown prefix, each then remembered as absent).

mod feed;

use std::collections::hash_map::RandomState;
use std::collections::HashSet;
use std::fmt;
use std::hash::BuildHasher;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicU8, Ordering};
use std::sync::{Arc, Mutex, Once, RwLock, Weak};
use std::time::{Duration, Instant};

use diesel::prelude::*;
use diesel::sql_types::Text;

use sha2::{Digest, Sha256, Sha512};
use subtle::ConstantTimeEq;

use crate::db::{Database, DbConnection};
use crate::last_used::QuietJob;
use crate::manager::UsableKeys;
use crate::model::{now, AbstractApiKey};

pub(crate) use feed::FeedKind;

/// The longest `max_age` accepted (longer values are clamped to it).
pub(crate) const MAX_AGE_LIMIT: Duration = Duration::from_secs(24 * 3600);

/// How recently the change feed must have confirmed the cache current for
/// the cache to answer, by default: 50 milliseconds (see
/// [`crate::BaseApiKeyManager::with_feed_deadline`]).
pub const DEFAULT_FEED_DEADLINE: Duration = Duration::from_millis(50);

/// The shortest feed deadline accepted (a few polls).
pub(crate) const MIN_FEED_DEADLINE: Duration = Duration::from_millis(10);

/// How a job handed to the feed's connection ended
/// ([`Freshness::run_on_feed`]).
pub(crate) enum FeedRun<T> {
    /// It ran: its answer.
    Done(T),
    /// The feed did not start it in time: withdrawn, it never runs.
    GaveUp,
    /// The feed stopped while it ran (its answer is lost).
    Stopped,
}

/// The state shared by a cache and its feed thread.
pub(crate) struct Freshness {
    /// Bumped by every change that can make a cached key unusable.
    epoch: AtomicU64,
    /// Bumped by every change at all, inserts included: what can make a
    /// prefix that had no usable key have one.
    absent_epoch: AtomicU64,
    live: AtomicBool,
    /// The origin of `confirmed`.
    base: Instant,
    /// When the feed's latest finished look for changes began, in
    /// nanoseconds since `base`, plus one (0: none yet). Every write
    /// committed before that instant has moved the epochs by then.
    confirmed: AtomicU64,
    /// The cache answers only while `confirmed` is at most this old
    /// (nanoseconds): a feed that stalls (a connection that hangs, a
    /// database that does not answer, a thread not scheduled) is treated as
    /// lost until it answers again.
    deadline: AtomicU64,
    /// How many times the feed has looked for changes (for `settle`).
    polls: AtomicU64,
    /// A lookup read the database while the feed was late (see
    /// [`Freshness::confirm`]).
    read_while_late: AtomicBool,
    /// Writes the SQLite feed runs on its own connection, whose
    /// `data_version` does not move for them (last-used times).
    quiet: Mutex<Vec<QuietJob>>,
}

impl fmt::Debug for Freshness {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Freshness")
            .field("epoch", &self.epoch)
            .field("absent_epoch", &self.absent_epoch)
            .field("live", &self.live)
            .finish_non_exhaustive()
    }
}

impl Freshness {
    fn new(live: bool) -> Self {
        Freshness {
            epoch: AtomicU64::new(0),
            absent_epoch: AtomicU64::new(0),
            live: AtomicBool::new(live),
            base: Instant::now(),
            confirmed: AtomicU64::new(0),
            deadline: AtomicU64::new(nanos(DEFAULT_FEED_DEADLINE)),
            polls: AtomicU64::new(0),
            read_while_late: AtomicBool::new(false),
            quiet: Mutex::new(Vec::new()),
        }
    }

    /// Queues a write for the SQLite feed's connection (run before its next
    /// poll; dropped unrun if the feed stops first).
    pub(crate) fn submit(&self, job: QuietJob) {
        if let Ok(mut jobs) = self.quiet.lock() {
            jobs.push(job);
        }
    }

    /// Runs `job` on the feed's connection (before its next poll) and waits
    /// for its answer. When the feed has not started it within `wait`, it
    /// is withdrawn and never runs ([`FeedRun::GaveUp`]); once started, it
    /// is waited for to the end.
    pub(crate) fn run_on_feed<T: Send + 'static>(
        &self,
        wait: Duration,
        job: impl FnOnce(&mut DbConnection) -> T + Send + 'static,
    ) -> FeedRun<T> {
        // 0: waiting, 1: run by the feed, 2: given up by the caller; whoever
        // moves it from 0 decides, so the job runs at most once, and never
        // after the caller was told it did not.
        let state = Arc::new(AtomicU8::new(0));
        let (tx, rx) = std::sync::mpsc::channel();
        let job_state = Arc::clone(&state);
        self.submit(Box::new(move |conn: &mut DbConnection| {
            if job_state
                .compare_exchange(0, 1, Ordering::AcqRel, Ordering::Acquire)
                .is_ok()
            {
                let _ = tx.send(job(conn));
            }
        }));
        let answer = match rx.recv_timeout(wait) {
            Ok(answer) => Some(answer),
            Err(_) => {
                if state
                    .compare_exchange(0, 2, Ordering::AcqRel, Ordering::Acquire)
                    .is_ok()
                {
                    return FeedRun::GaveUp;
                }
                // The feed has started it: its answer comes.
                rx.recv().ok()
            }
        };
        match answer {
            Some(answer) => FeedRun::Done(answer),
            None => FeedRun::Stopped,
        }
    }

    /// The writes queued for the feed.
    fn take_quiet(&self) -> Vec<QuietJob> {
        self.quiet
            .lock()
            .map(|mut jobs| std::mem::take(&mut *jobs))
            .unwrap_or_default()
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

    /// The feed is back: forget everything cached before, then answer again
    /// (its first look for changes began at `began`).
    pub(crate) fn restored(&self, began: Instant) {
        self.invalidate();
        self.confirm(began);
        self.live.store(true, Ordering::Release);
    }

    /// The feed looked for changes once more.
    pub(crate) fn polled(&self) {
        self.polls.fetch_add(1, Ordering::AcqRel);
    }

    /// The feed's look for changes that began at `began` is done, and what it
    /// found has moved the epochs.
    ///
    /// When a lookup read the database while the feed was late (past the
    /// deadline: the cache did not answer), it may have been refused what
    /// no feed reports (a narrowing's tables): everything cached is then
    /// made stale first (the revalidation re-reads it), so a key the
    /// database refused is not answered from an older entry again. A feed
    /// that was late while no lookup read the database (the lookups waited
    /// for it: [`KeyCache::feed_wait`]) keeps what is cached: nothing was
    /// answered that could contradict it.
    pub(crate) fn confirm(&self, began: Instant) {
        if self.read_while_late.swap(false, Ordering::SeqCst) {
            self.invalidate();
        }
        self.confirmed
            .fetch_max(self.since_base(began), Ordering::SeqCst);
        // A lookup that found the feed late just before this confirmation
        // was published (it reads the database after marking it).
        if self.read_while_late.swap(false, Ordering::SeqCst) {
            self.invalidate();
        }
    }

    /// A lookup is about to read the database: when the feed is late,
    /// remember it for the next confirmation.
    fn reading(&self, at: Instant) {
        if self.is_live() && self.age(at) > self.deadline.load(Ordering::Relaxed) {
            self.read_while_late.store(true, Ordering::SeqCst);
        }
    }

    /// How long ago (nanoseconds) the latest confirmed look for changes
    /// began, as of `at`.
    fn age(&self, at: Instant) -> u64 {
        self.since_base(at)
            .saturating_sub(self.confirmed.load(Ordering::SeqCst))
    }

    /// While the feed is late past the deadline but not yet by as much
    /// again: how much longer it may take before it counts as stalled (see
    /// [`KeyCache::feed_wait`]).
    fn wait(&self, at: Instant) -> Option<Duration> {
        if !self.is_live() {
            return None;
        }
        let deadline = self.deadline.load(Ordering::Relaxed);
        let age = self.age(at);
        let limit = deadline.saturating_mul(2);
        (age > deadline && age < limit).then(|| Duration::from_nanos(limit - age))
    }

    fn since_base(&self, at: Instant) -> u64 {
        nanos(at.saturating_duration_since(self.base)).saturating_add(1)
    }

    /// [`Freshness::answers_at`] an instant.
    #[cfg(test)]
    fn answers(&self, at: Instant) -> bool {
        self.answers_at(self.since_base(at))
    }

    /// Whether the cache may answer at `now` ([`Freshness::since_base`] of
    /// the instant): the feed runs and has confirmed the cache current
    /// within the deadline. (The epochs are read after this, so they
    /// include what that confirmation found.)
    fn answers_at(&self, now: u64) -> bool {
        self.is_live()
            && now.saturating_sub(self.confirmed.load(Ordering::SeqCst))
                <= self.deadline.load(Ordering::Relaxed)
    }

    /// Changes the feed deadline (clamped to `MIN_FEED_DEADLINE..=MAX_AGE_LIMIT`).
    pub(crate) fn set_deadline(&self, deadline: Duration) {
        self.deadline.store(
            nanos(deadline.clamp(MIN_FEED_DEADLINE, MAX_AGE_LIMIT)),
            Ordering::Relaxed,
        );
    }

    /// The feed deadline.
    pub(crate) fn deadline(&self) -> Duration {
        Duration::from_nanos(self.deadline.load(Ordering::Relaxed))
    }

    pub(crate) fn is_live(&self) -> bool {
        self.live.load(Ordering::Acquire)
    }
}

/// Whether two digests are equal, in constant time: every byte pair is
/// compared (the differences folded together, no branch on them) and only
/// the fold is tested, through `subtle` (one optimisation barrier instead
/// of one per byte).
fn digests_equal<const N: usize>(a: &[u8; N], b: &[u8; N]) -> bool {
    let diff = a.iter().zip(b).fold(0u8, |diff, (x, y)| diff | (x ^ y));
    bool::from(diff.ct_eq(&0))
}

/// A duration in nanoseconds, saturated.
fn nanos(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

/// How many cached prefixes one revalidation query reads.
pub(crate) const REVALIDATE_CHUNK: usize = 500;

/// What an entry compares a presented key with.
#[derive(Clone, Copy)]
enum Check {
    /// SHA-512 of the key, as the row stores it (an entry made by a lookup
    /// whose secret was wrong: the right key is unknown here).
    Stored([u8; 64]),
    /// The cache's keyed SHA-256 of the key that just verified (cheaper:
    /// one block, in hardware where the CPU has it).
    Verified([u8; 32]),
}

/// A cached key. Aligned to 128 bytes so that, behind its `Arc`, the
/// fields every hit reads start on a cache line (two, with the adjacent-
/// line prefetcher) of their own, away from the reference count every hit
/// writes: when they shared one, two workers hitting the same key made
/// each other's reads miss, and a hit took ~600 ns instead of ~180 ns in
/// about half the processes (wherever the allocator put the entry; `cargo
/// bench -p apikey-bench -- 'cache hit'`, BENCHMARKS.md run 16).
#[repr(align(128))]
struct Entry<M> {
    check: Check,
    /// The stored hash's SHA-512 when the entry was made: a revalidated row
    /// keeps the entry only with the same.
    stored: [u8; 64],
    model: M,
    epoch: u64,
    /// When it stops being answered: its lookup's start plus the cache's
    /// `max_age` (a hit compares instants, no duration arithmetic).
    dies: Instant,
    /// When the last-used tracker last recorded a use of this key, in
    /// nanoseconds since the cache's `base`, plus one (0: not known). A hit
    /// asks the tracker (a lock and a map) only once that is an interval
    /// old.
    /// Shared by the entry, the entries that refile it and every thread's
    /// copy ([`front`]): one record per key, whoever answered the hit.
    reported: Arc<Reported>,
}

/// [`Entry::reported`], on cache lines of its own: every hit reads it, and
/// a small allocation could otherwise share a line with memory another
/// thread writes on every request.
#[repr(align(128))]
#[derive(Default)]
struct Reported(AtomicU64);

impl std::ops::Deref for Reported {
    type Target = AtomicU64;

    fn deref(&self) -> &AtomicU64 {
        &self.0
    }
}

impl<M: Clone> Entry<M> {
    /// A copy for one thread ([`front`]).
    fn copy(&self) -> Self {
        Entry {
            check: self.check,
            stored: self.stored,
            model: self.model.clone(),
            epoch: self.epoch,
            dies: self.dies,
            reported: Arc::clone(&self.reported),
        }
    }
}

/// Each thread's own copies of the entries it hits, so that a hit writes
/// nothing another thread reads: the map's shard lock and the shared
/// entry's reference count, written by every hit, made two threads
/// hitting the same key take turns owning those cache lines (`cargo bench
/// -p apikey-bench -- 'cache hit'`: ~575 ns a hit with a second thread on
/// the key, ~225 ns with copies; ~130 ns alone). A copy is answered only
/// while its prefix's generation (one of [`STRIPES`], moved whenever an
/// entry of that stripe is filed, refiled, removed or evicted) is the one
/// it was made under and, like the entry, while its epoch is current and it
/// is younger than `max_age`: it answers nothing the map would not.
mod front {
    use std::any::Any;
    use std::cell::RefCell;
    use std::collections::HashMap;
    use std::sync::atomic::{AtomicU64, Ordering};
    use std::sync::Arc;

    use super::Entry;

    /// The most copies a thread keeps (all are dropped when it is full).
    const CAPACITY: usize = 256;

    /// How many generations a cache keeps: a change voids the copies of
    /// the prefixes of its stripe only.
    pub(super) const STRIPES: usize = 64;

    /// A cache's generations, one per stripe of prefixes.
    #[derive(Debug)]
    pub(super) struct Generations([AtomicU64; STRIPES]);

    impl Default for Generations {
        fn default() -> Self {
            Generations(std::array::from_fn(|_| AtomicU64::new(0)))
        }
    }

    impl Generations {
        /// The stripe of `prefix` (FNV-1a: a stripe shared by chosen
        /// prefixes only voids more copies).
        pub(super) fn stripe(prefix: &str) -> usize {
            let hash = prefix.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
                (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
            });
            (hash % STRIPES as u64) as usize
        }

        pub(super) fn current(&self, stripe: usize) -> u64 {
            self.0[stripe % STRIPES].load(Ordering::Acquire)
        }

        /// `prefix`'s entry changed: its copies are void. Call it after
        /// the change.
        pub(super) fn bump(&self, prefix: &str) {
            self.0[Generations::stripe(prefix)].fetch_add(1, Ordering::AcqRel);
        }
    }

    /// Moves the generation of an entry the map evicts (its copies would
    /// otherwise outlive it, unseen by the revalidation sweep).
    #[derive(Debug, Clone)]
    pub(super) struct OnEvict(pub(super) Arc<Generations>);

    impl<V> quick_cache::Lifecycle<String, V> for OnEvict {
        type RequestState = ();

        fn begin_request(&self) -> Self::RequestState {}

        fn on_evict(&self, _state: &mut Self::RequestState, key: String, _value: V) {
            self.0.bump(&key);
        }
    }

    struct Copy {
        cache: u64,
        stripe: usize,
        generation: u64,
        entry: Arc<dyn Any + Send + Sync>,
    }

    /// The map's own hasher (quick_cache's: fast, randomly seeded per map).
    type Copies = HashMap<Box<str>, Copy, quick_cache::DefaultHashBuilder>;

    thread_local! {
        static COPIES: RefCell<Copies> = RefCell::new(Copies::default());
    }

    /// A new cache's id.
    pub(super) fn next_cache_id() -> u64 {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        NEXT.fetch_add(1, Ordering::Relaxed)
    }

    /// This thread's copy of `prefix`'s entry in cache `cache`, if its
    /// stripe's generation has not moved since it was made.
    pub(super) fn get<M: Send + Sync + 'static>(
        cache: u64,
        generations: &Generations,
        prefix: &str,
    ) -> Option<Arc<Entry<M>>> {
        COPIES
            .try_with(|copies| {
                let copies = copies.try_borrow().ok()?;
                let copy = copies.get(prefix)?;
                if copy.cache != cache || generations.current(copy.stripe) != copy.generation {
                    return None;
                }
                Arc::clone(&copy.entry).downcast::<Entry<M>>().ok()
            })
            .ok()
            .flatten()
    }

    /// Keeps `entry` as this thread's copy of `prefix`'s entry in `cache`,
    /// made under `generation` of `stripe`; answers it.
    pub(super) fn put<M: Send + Sync + 'static>(
        cache: u64,
        stripe: usize,
        generation: u64,
        prefix: &str,
        entry: Arc<Entry<M>>,
    ) -> Arc<Entry<M>> {
        let _ = COPIES.try_with(|copies| {
            let Ok(mut copies) = copies.try_borrow_mut() else {
                return;
            };
            if copies.len() >= CAPACITY && !copies.contains_key(prefix) {
                copies.clear();
            }
            let copy = Copy {
                cache,
                stripe,
                generation,
                entry: Arc::clone(&entry) as Arc<dyn Any + Send + Sync>,
            };
            copies.insert(prefix.into(), copy);
        });
        entry
    }
}

/// A prefix known to have no usable key.
struct Absent {
    epoch: u64,
    born: Instant,
}

/// The most rows a key table may have for the cache to keep the set of its
/// prefixes (about 10 MB at the limit); a larger table goes without it.
pub const PREFIX_SET_LIMIT: usize = 250_000;

/// How long a table found too large for the prefix set waits before it is
/// counted again.
const PREFIX_SET_RETRY: Duration = Duration::from_secs(60);

/// A load of the prefix set may take at most this share of the time: the
/// next load waits `LOAD_SPACING` times as long as the last one took.
const LOAD_SPACING: u32 = 10;

/// Every prefix in the key table, as of an absent-epoch.
struct PrefixSet {
    /// The absent-epoch read before the load's query.
    epoch: u64,
    born: Instant,
    /// Hashes of the prefixes (a collision only costs a query); `None`: the
    /// table has more rows than the limit, or the load failed.
    hashes: Option<HashSet<u64>>,
}

/// The prefix set and when it may be loaded next.
struct PrefixState {
    current: Option<Arc<PrefixSet>>,
    /// No load starts before this instant.
    next_load: Instant,
}

#[derive(QueryableByName)]
struct PrefixRow {
    #[diesel(sql_type = Text)]
    prefix: String,
}

/// A lookup's claim, taken before its query: the epochs its result belongs to.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Ticket {
    epoch: u64,
    absent_epoch: u64,
}

/// What the cache knows of a key.
pub(crate) enum Cached<M> {
    /// Verified, current: the model, and the entry when the key is due to
    /// be recorded as used (see [`KeyCache::lookup`]).
    Hit(VerifiedKey<M>, Option<DueUse<M>>),
    /// Certainly not usable, as of the current epoch: a different secret for
    /// a prefix whose current key is cached, a cached key that expired, or
    /// a prefix known to have no usable key.
    Refused,
    /// Not known: ask the database.
    Miss,
}

/// A verified key's model as the guards hand it on: shared with the
/// verification cache when it was answered from there (the row is not
/// copied per request), owned otherwise. Derefs to `M`; cloning it clones
/// a reference count, not the row.
///
/// [`crate::BaseApiKeyManager::verify_cached`] and
/// [`crate::BaseApiKeyManager::try_verify_inline`] answer with it;
/// `apikey-actix`'s `HasApiKey` holds one.
pub struct VerifiedKey<M>(Shared<M>);

enum Shared<M> {
    /// The cache's entry (kept alive as long as this is).
    Cached(Arc<Entry<M>>),
    /// A row read from the database.
    Owned(Arc<M>),
}

impl<M> Clone for VerifiedKey<M> {
    fn clone(&self) -> Self {
        VerifiedKey(match &self.0 {
            Shared::Cached(entry) => Shared::Cached(Arc::clone(entry)),
            Shared::Owned(model) => Shared::Owned(Arc::clone(model)),
        })
    }
}

impl<M> std::ops::Deref for VerifiedKey<M> {
    type Target = M;

    fn deref(&self) -> &M {
        match &self.0 {
            Shared::Cached(entry) => &entry.model,
            Shared::Owned(model) => model,
        }
    }
}

impl<M> AsRef<M> for VerifiedKey<M> {
    fn as_ref(&self) -> &M {
        self
    }
}

impl<M> From<M> for VerifiedKey<M> {
    fn from(model: M) -> Self {
        VerifiedKey(Shared::Owned(Arc::new(model)))
    }
}

impl<M: Clone> VerifiedKey<M> {
    /// The model itself: moved out when this is its only holder, else a
    /// copy of it.
    pub fn into_inner(self) -> M {
        match self.0 {
            Shared::Cached(entry) => entry.model.clone(),
            Shared::Owned(model) => Arc::try_unwrap(model).unwrap_or_else(|m| (*m).clone()),
        }
    }
}

/// The model without its stored hash ([`crate::debug_redacted`]).
impl<M: AbstractApiKey> fmt::Debug for VerifiedKey<M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        crate::debug_redacted(&**self, f)
    }
}

/// A cache hit whose key has not been reported to the last-used tracker
/// for an interval: report it, then [`KeyCache::reported_use`].
pub(crate) struct DueUse<M>(Arc<Entry<M>>);

/// Verified keys of model `M`.
pub(crate) struct KeyCache<M> {
    entries: quick_cache::sync::Cache<
        String,
        Arc<Entry<M>>,
        quick_cache::UnitWeighter,
        quick_cache::DefaultHashBuilder,
        front::OnEvict,
    >,
    absent: quick_cache::sync::Cache<String, Arc<Absent>>,
    prefixes: RwLock<PrefixState>,
    /// Held while the prefix set loads (one load at a time).
    loading: Mutex<()>,
    prefix_hasher: RandomState,
    /// SHA-256 that has absorbed one block of this cache's random key:
    /// cloned and fed a presented key for [`Check::Verified`].
    keyed: Sha256,
    prefix_limit: AtomicU64,
    freshness: Arc<Freshness>,
    max_age: Duration,
    capacity: usize,
    feed: FeedKind,
    db: Database,
    /// The feed starts with the cache's first use, not with the manager
    /// (a manager built and turned off, or never used, starts no thread).
    started: Once,
    /// The definition of usable the revalidation reads through (the
    /// manager's; a manager given another one gets another cache).
    usable: Arc<dyn UsableKeys<M>>,
    /// This cache, for the revalidation thread (which ends with it).
    me: Weak<KeyCache<M>>,
    /// Revalidation passes completed (for tests).
    passes: AtomicU64,
    /// This cache among all caches of the process ([`front`]'s copies
    /// name it: an address could be reused by a later cache).
    id: u64,
    /// Move whenever an entry is filed, refiled or removed: a thread's own
    /// copy ([`front`]) is answered only while its prefix's has not moved.
    generations: Arc<front::Generations>,
    /// Loads of the prefix set started (for tests).
    loads: AtomicU64,
}

impl<M> fmt::Debug for KeyCache<M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeyCache")
            .field("max_age", &self.max_age)
            .field("capacity", &self.capacity)
            .field("feed", &self.feed)
            .field("freshness", &self.freshness)
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
    pub(crate) fn new(
        db: &Database,
        max_age: Duration,
        capacity: usize,
        usable: Arc<dyn UsableKeys<M>>,
    ) -> Arc<Self> {
        let capacity = capacity.max(1);
        let max_age = max_age.min(MAX_AGE_LIMIT);
        let feed = FeedKind::of(db);
        let generations = Arc::new(front::Generations::default());
        Arc::new_cyclic(|me| KeyCache {
            usable,
            me: me.clone(),
            passes: AtomicU64::new(0),
            id: front::next_cache_id(),
            generations: Arc::clone(&generations),
            loads: AtomicU64::new(0),
            entries: quick_cache::sync::Cache::with(
                capacity,
                capacity as u64,
                quick_cache::UnitWeighter,
                quick_cache::DefaultHashBuilder::default(),
                front::OnEvict(Arc::clone(&generations)),
            ),
            absent: quick_cache::sync::Cache::new(capacity),
            prefixes: RwLock::new(PrefixState {
                current: None,
                next_load: Instant::now(),
            }),
            loading: Mutex::new(()),
            prefix_hasher: RandomState::new(),
            keyed: Sha256::new_with_prefix(rand::random::<[u8; 64]>()),
            prefix_limit: AtomicU64::new(PREFIX_SET_LIMIT as u64),
            freshness: Arc::new(Freshness::new(false)),
            max_age,
            capacity,
            feed,
            db: db.clone(),
            started: Once::new(),
        })
    }

    /// The longest time an entry is answered after its row was read.
    pub(crate) fn max_age(&self) -> Duration {
        self.max_age
    }

    /// How many keys the map holds at most.
    pub(crate) fn capacity(&self) -> usize {
        self.capacity
    }

    fn start(&self) {
        self.started.call_once(|| {
            self.feed.start(&self.db, &self.freshness);
            if self.feed != FeedKind::None {
                self.start_revalidation();
            }
        });
    }

    fn start_revalidation(&self) {
        let me = self.me.clone();
        let spawned = std::thread::Builder::new()
            .name("apikey-cache-revalidate".into())
            .spawn(move || revalidation_loop(&me));
        if let Err(e) = spawned {
            // Entries then live until max_age or the next change, as
            // without revalidation: slower, not less fresh.
            log::warn!("apikey: cannot start the cache's revalidation thread ({e})");
        }
    }

    /// Re-reads every cached key through the usable-keys query, on `conn`,
    /// and files again under `epoch` (read before the first query) those
    /// whose row is usable with the same hash; drops the others. Stops early
    /// when the epoch moves again (the next pass starts over).
    fn revalidate(&self, conn: &mut DbConnection, epoch: u64) -> diesel::QueryResult<()> {
        let cached: Vec<(String, Arc<Entry<M>>)> = self.entries.iter().collect();
        for chunk in cached.chunks(REVALIDATE_CHUNK) {
            if self.freshness.epoch.load(Ordering::Acquire) != epoch {
                return Ok(());
            }
            let read = Instant::now();
            let at = now();
            let prefixes: Vec<&str> = chunk.iter().map(|(p, _)| p.as_str()).collect();
            let rows = self.usable.find_usable_among(conn, at, &prefixes)?;
            let mut rows: std::collections::HashMap<String, M> = rows
                .into_iter()
                .map(|row| (row.prefix().to_owned(), row))
                .collect();
            for (prefix, entry) in chunk {
                let confirmed = rows.remove(prefix.as_str()).filter(|row| {
                    !row.revoked()
                        && stored_digest(row.hashed_key())
                            .is_some_and(|d| bool::from(d.ct_eq(&entry.stored)))
                });
                match confirmed {
                    Some(row) => {
                        if self.freshness.epoch.load(Ordering::Acquire) != epoch {
                            return Ok(());
                        }
                        // Only where the entry still is (soft: a refresh
                        // is not a use, it does not make the key hotter).
                        let _ = self.entries.replace(
                            prefix.clone(),
                            Arc::new(Entry {
                                check: entry.check,
                                stored: entry.stored,
                                model: row,
                                epoch,
                                dies: self.until(read),
                                reported: Arc::clone(&entry.reported),
                            }),
                            true,
                        );
                        // After: a copy made from the old entry meanwhile
                        // is filed under the old generation. (quick_cache
                        // also hands the replaced value to `OnEvict`; not
                        // documented, so not relied on.)
                        self.generations.bump(prefix);
                    }
                    None => {
                        self.entries.remove(prefix.as_str());
                        self.generations.bump(prefix);
                    }
                }
            }
        }
        self.revalidate_absent(conn)?;
        // A set in use is reloaded before it ages out (a lookup would
        // otherwise reload it, after a burst of queries for unknown keys).
        if self.prefix_set_in_use() {
            self.load_prefixes_after(conn, self.max_age / 2);
        }
        self.passes.fetch_add(1, Ordering::AcqRel);
        Ok(())
    }

    /// Re-reads the prefixes remembered as having no usable key and files
    /// again, under the absent-epoch read before the first query, those
    /// that still have none (a flood of a revoked key then costs no query
    /// when `max_age` passes); drops the others.
    fn revalidate_absent(&self, conn: &mut DbConnection) -> diesel::QueryResult<()> {
        let epoch = self.freshness.absent_epoch.load(Ordering::Acquire);
        let remembered: Vec<String> = self.absent.iter().map(|(prefix, _)| prefix).collect();
        for chunk in remembered.chunks(REVALIDATE_CHUNK) {
            if self.freshness.absent_epoch.load(Ordering::Acquire) != epoch {
                return Ok(());
            }
            let read = Instant::now();
            let prefixes: Vec<&str> = chunk.iter().map(String::as_str).collect();
            let usable: HashSet<String> = self
                .usable
                .find_usable_among(conn, now(), &prefixes)?
                .into_iter()
                .map(|row| row.prefix().to_owned())
                .collect();
            for prefix in chunk {
                if usable.contains(prefix) {
                    self.absent.remove(prefix.as_str());
                } else if self.freshness.absent_epoch.load(Ordering::Acquire) == epoch {
                    let _ = self.absent.replace(
                        prefix.clone(),
                        Arc::new(Absent { epoch, born: read }),
                        true,
                    );
                } else {
                    return Ok(());
                }
            }
        }
        Ok(())
    }

    /// Revalidation passes completed so far.
    pub(crate) fn revalidations(&self) -> u64 {
        self.passes.load(Ordering::Acquire)
    }

    /// What the cache knows of this full key. Answers only while the feed is
    /// live, from entries of the current epoch younger than `max_age`.
    /// With `report_every` (the last-used tracker's interval), a hit whose
    /// key was last reported that long ago or more (or never) carries a
    /// [`DueUse`].
    pub(crate) fn lookup(
        &self,
        prefix: &str,
        key: &str,
        report_every: Option<Duration>,
    ) -> Cached<M> {
        self.start();
        let at = Instant::now();
        // The clock as the feed's confirmations and the last-use records
        // count it: one subtraction, the rest integer comparisons.
        let ticks = self.freshness.since_base(at);
        if !self.freshness.answers_at(ticks) {
            return Cached::Miss;
        }
        let epoch = self.freshness.epoch.load(Ordering::Acquire);
        let current = |entry: &Entry<M>| entry.epoch == epoch && at < entry.dies;
        let entry = match front::get::<M>(self.id, &self.generations, prefix) {
            Some(own) => Some(own),
            None => {
                // Read before the map: a copy made from what the map
                // answers is filed under it, so a change to the map
                // meanwhile voids the copy.
                let stripe = front::Generations::stripe(prefix);
                let generation = self.generations.current(stripe);
                self.entries.get(prefix).map(|shared| {
                    if current(&shared) {
                        let copy = Arc::new(shared.copy());
                        front::put(self.id, stripe, generation, prefix, copy)
                    } else {
                        shared
                    }
                })
            }
        };
        if let Some(entry) = entry {
            if current(&entry) {
                // The row's current hash is the one this digest verified
                // (legacy hashes are rewritten on first use), so another
                // secret for the same prefix cannot verify either.
                let same = match &entry.check {
                    Check::Verified(d) => digests_equal(d, &self.keyed_digest(key)),
                    Check::Stored(d) => digests_equal(d, &digest(key)),
                };
                if !same {
                    return Cached::Refused;
                }
                // (The clock is read only for a key that has an expiry date.)
                if entry.model.revoked()
                    || entry
                        .model
                        .expiry_date_naive()
                        .is_some_and(|expiry| expiry <= now())
                {
                    return Cached::Refused;
                }
                let due = report_every.is_some_and(|every| {
                    let reported = entry.reported.load(Ordering::Relaxed);
                    reported == 0 || ticks.saturating_sub(reported) >= nanos(every)
                });
                let due = due.then(|| DueUse(Arc::clone(&entry)));
                // The entry itself is handed on: no copy of the row.
                return Cached::Hit(VerifiedKey(Shared::Cached(entry)), due);
            }
        }
        if let Some(absent) = self.absent.get(prefix) {
            if absent.epoch == self.freshness.absent_epoch.load(Ordering::Acquire)
                && at.saturating_duration_since(absent.born) < self.max_age
            {
                return Cached::Refused;
            }
        }
        if let Some(set) = self.current_prefixes() {
            if set
                .hashes
                .as_ref()
                .is_some_and(|h| !h.contains(&self.prefix_hasher.hash_one(prefix)))
            {
                return Cached::Refused;
            }
        }
        Cached::Miss
    }

    /// When an entry made from a lookup that began at `read` stops being
    /// answered (at once if that instant cannot be represented).
    fn until(&self, read: Instant) -> Instant {
        read.checked_add(self.max_age).unwrap_or(read)
    }

    /// Records that the tracker counted a use of the entry's key at `at`
    /// (its interval runs from there).
    pub(crate) fn reported_use(&self, due: &DueUse<M>, at: Instant) {
        due.0
            .reported
            .store(self.freshness.since_base(at), Ordering::Relaxed);
    }

    /// The prefix set, when it is current: loaded at the current
    /// absent-epoch, younger than `max_age`, complete.
    fn current_prefixes(&self) -> Option<Arc<PrefixSet>> {
        let state = self.prefixes.read().ok()?;
        let set = state.current.as_ref()?;
        (set.hashes.is_some()
            && set.epoch == self.freshness.absent_epoch.load(Ordering::Acquire)
            && set.born.elapsed() < self.max_age)
            .then(|| Arc::clone(set))
    }

    /// Whether a prefix set was loaded (lookups use it while current).
    fn prefix_set_in_use(&self) -> bool {
        self.prefixes
            .read()
            .is_ok_and(|state| state.current.is_some())
    }

    /// Whether a lookup that goes to the database should also load the
    /// prefix set: it is not current, and the last load (or count) allows
    /// another now.
    pub(crate) fn wants_prefixes(&self) -> bool {
        // Not while another thread loads it.
        if self.loading.try_lock().is_err() {
            return false;
        }
        self.prefixes_due()
    }

    /// Whether the prefix set should be loaded: none yet, or loaded at an
    /// older absent-epoch, or older than `refresh_age`; and the spacing
    /// after the last load allows it.
    fn prefixes_due_after(&self, refresh_age: Duration) -> bool {
        if !self.freshness.is_live() {
            return false;
        }
        let Ok(state) = self.prefixes.read() else {
            return false;
        };
        if Instant::now() < state.next_load {
            return false;
        }
        match &state.current {
            None => true,
            Some(set) => {
                set.epoch != self.freshness.absent_epoch.load(Ordering::Acquire)
                    || set.born.elapsed() >= refresh_age
            }
        }
    }

    fn prefixes_due(&self) -> bool {
        self.prefixes_due_after(self.max_age)
    }

    /// Loads the set of every prefix in `table` on `conn` (a blocking
    /// thread's), unless another thread is loading it. Errors are logged and
    /// leave the set unused (lookups query as without it).
    pub(crate) fn load_prefixes(&self, conn: &mut DbConnection) {
        self.load_prefixes_after(conn, self.max_age);
    }

    /// [`KeyCache::load_prefixes`], also when the set is older than
    /// `refresh_age`.
    fn load_prefixes_after(&self, conn: &mut DbConnection, refresh_age: Duration) {
        let Ok(_loading) = self.loading.try_lock() else {
            return;
        };
        if !self.prefixes_due_after(refresh_age) {
            return;
        }
        self.loads.fetch_add(1, Ordering::AcqRel);
        // Read before the query, as a lookup's ticket: an insert the feed
        // reports after this makes the set stale, whenever it committed.
        let epoch = self.freshness.absent_epoch.load(Ordering::Acquire);
        let limit = self.prefix_limit.load(Ordering::Relaxed);
        let started = Instant::now();
        let sql = format!(
            "SELECT prefix FROM \"{}\" LIMIT {}",
            M::TABLE_NAME,
            limit.saturating_add(1)
        );
        let mut retry = PREFIX_SET_RETRY;
        if self.feed == FeedKind::PostgresListen && !has_notify_trigger(conn, M::TABLE_NAME) {
            // No trigger (Django's own table, a table made by hand): nothing
            // reports inserts, so a key created elsewhere would be refused
            // until the set's next load. Go without the set.
            log::info!(
                "apikey: {} has no apikey_notify_change trigger: never-issued keys are \
                 looked up one by one (each unknown prefix then remembered)",
                M::TABLE_NAME
            );
            if let Ok(mut state) = self.prefixes.write() {
                state.current = Some(Arc::new(PrefixSet {
                    epoch,
                    born: started,
                    hashes: None,
                }));
                state.next_load = Instant::now() + retry;
            }
            return;
        }
        let hashes = match diesel::sql_query(sql).load::<PrefixRow>(conn) {
            Ok(rows) if rows.len() as u64 <= limit => Some(
                rows.iter()
                    .map(|r| self.prefix_hasher.hash_one(r.prefix.as_str()))
                    .collect::<HashSet<u64>>(),
            ),
            Ok(_) => {
                log::info!(
                    "apikey: {} has more than {limit} keys: never-issued keys are \
                     looked up one by one (each unknown prefix then remembered)",
                    M::TABLE_NAME
                );
                None
            }
            Err(e) => {
                log::warn!("apikey: cannot load the prefixes of {}: {e}", M::TABLE_NAME);
                retry = Duration::from_secs(1);
                None
            }
        };
        let took = started.elapsed();
        let next_load = if hashes.is_some() {
            Instant::now() + took * LOAD_SPACING
        } else {
            Instant::now() + retry
        };
        if let Ok(mut state) = self.prefixes.write() {
            state.current = Some(Arc::new(PrefixSet {
                epoch,
                born: started,
                hashes,
            }));
            state.next_load = next_load;
        }
    }

    /// Loads of the prefix set started so far (for tests).
    pub(crate) fn prefix_set_loads(&self) -> u64 {
        self.loads.load(Ordering::Acquire)
    }

    /// How many prefixes the current prefix set holds (`None`: no current set).
    pub(crate) fn prefixes_len(&self) -> Option<usize> {
        self.current_prefixes()
            .and_then(|set| set.hashes.as_ref().map(HashSet::len))
    }

    /// Changes the most rows a table may have for the prefix set.
    pub(crate) fn set_prefix_limit(&self, limit: usize) {
        self.prefix_limit.store(limit as u64, Ordering::Relaxed);
    }

    /// The keyed SHA-256 of a presented key.
    fn keyed_digest(&self, key: &str) -> [u8; 32] {
        self.keyed
            .clone()
            .chain_update(key.as_bytes())
            .finalize()
            .into()
    }

    /// Taken before a lookup's query.
    pub(crate) fn ticket(&self) -> Ticket {
        self.start();
        self.freshness.reading(Instant::now());
        Ticket {
            epoch: self.freshness.epoch.load(Ordering::Acquire),
            absent_epoch: self.freshness.absent_epoch.load(Ordering::Acquire),
        }
    }

    /// Remembers a usable row that the lookup that took `ticket` just read
    /// from the database, whatever secret was presented: its stored hash
    /// (`sha512$$` + hex of SHA-512 of the whole key) is the digest the
    /// cache compares, so the right key is answered and any other refused
    /// without a query. With `verified_key` (the key this lookup just
    /// verified against that hash) the entry keeps the cache's keyed SHA-256
    /// of it instead, cheaper to compare. Nothing for a legacy hash (verified and upgraded on
    /// the database path first), nor when an invalidation came since the
    /// ticket (the entry would be refused anyway).
    pub(crate) fn insert_row(&self, ticket: Ticket, model: &M, verified_key: Option<&str>) {
        if ticket.epoch != self.freshness.epoch.load(Ordering::Acquire) || model.revoked() {
            return;
        }
        let Some(stored) = stored_digest(model.hashed_key()) else {
            return;
        };
        let check: Check = match verified_key {
            Some(key) if bool::from(digest(key).ct_eq(&stored)) => {
                Check::Verified(self.keyed_digest(key))
            }
            _ => Check::Stored(stored),
        };
        self.entries.insert(
            model.prefix().to_owned(),
            Arc::new(Entry {
                check,
                stored,
                model: model.clone(),
                epoch: ticket.epoch,
                dies: self.until(Instant::now()),
                reported: Arc::default(),
            }),
        );
        // (An entry the insert evicts moved its own: `front::OnEvict`.)
        self.generations.bump(model.prefix());
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

    /// The feed that runs quiet writes on its own connection: SQLite's
    /// (`None` for PostgreSQL, whose writes are marked quiet instead, and
    /// without a feed).
    pub(crate) fn quiet_feed(&self) -> Option<&Arc<Freshness>> {
        (self.feed == FeedKind::SqliteDataVersion).then_some(&self.freshness)
    }

    /// True while the change feed runs (the cache answers while it also
    /// keeps its deadline).
    pub(crate) fn is_live(&self) -> bool {
        self.freshness.is_live()
    }

    /// How long a lookup may wait for a late feed before it reads the
    /// database instead: `Some` while the feed runs and is past the
    /// deadline by less than the deadline again (a feed thread or a
    /// database backend that missed the CPU for a moment answers soon, and
    /// a lookup that waits for it adds no query to a database that is
    /// already slow to answer); `None` when the cache answers, or its
    /// feed is lost or late for longer (stalled: read the database).
    pub(crate) fn feed_wait(&self) -> Option<Duration> {
        self.freshness.wait(Instant::now())
    }

    /// See [`Freshness::set_deadline`].
    pub(crate) fn set_feed_deadline(&self, deadline: Duration) {
        self.freshness.set_deadline(deadline);
    }

    /// See [`Freshness::deadline`].
    pub(crate) fn feed_deadline(&self) -> Duration {
        self.freshness.deadline()
    }
}

/// The revalidation thread: a pass after every change of either epoch, and a sweep
/// every `max_age / 2` without one; ends with the cache. Its connection is
/// its own, opened when needed and dropped on an error (the next pass
/// reconnects).
fn revalidation_loop<M: AbstractApiKey>(cache: &Weak<KeyCache<M>>) {
    let mut conn: Option<DbConnection> = None;
    let mut done_epoch: Option<(u64, u64)> = None;
    let mut last_pass = Instant::now();
    loop {
        std::thread::sleep(feed::POLL);
        let Some(cache) = cache.upgrade() else {
            return;
        };
        if !cache.freshness.is_live() {
            continue;
        }
        // An insert moves only the absent-epoch: it too calls for a pass
        // (the prefixes known absent and the prefix set are then stale).
        let epoch = cache.freshness.epoch.load(Ordering::Acquire);
        let absent_epoch = cache.freshness.absent_epoch.load(Ordering::Acquire);
        let pass_due =
            done_epoch != Some((epoch, absent_epoch)) || last_pass.elapsed() >= cache.max_age / 2;
        // A set in use that an insert made stale while the spacing between
        // loads held the pass's own load back is loaded once the spacing
        // allows, not only at the next sweep (never-issued keys would cost
        // a query each meanwhile). Only staleness counts here: an ageing
        // set is the sweep's (its pass reloads it).
        let set_due = cache.prefix_set_in_use() && cache.prefixes_due_after(Duration::MAX);
        if !pass_due && !set_due {
            continue;
        }
        if conn.is_none() {
            match cache.db.url().connect_raw() {
                Ok(c) => conn = Some(c),
                Err(e) => {
                    log::debug!("apikey: cache revalidation cannot connect: {e}");
                    continue;
                }
            }
        }
        let Some(c) = conn.as_mut() else {
            continue;
        };
        if !pass_due {
            cache.load_prefixes_after(c, Duration::MAX);
            continue;
        }
        let started = Instant::now();
        match cache.revalidate(c, epoch) {
            Ok(()) => {
                done_epoch = Some((epoch, absent_epoch));
                last_pass = started;
            }
            Err(e) => {
                log::debug!("apikey: cache revalidation failed: {e}");
                conn = None;
            }
        }
    }
}

#[derive(QueryableByName)]
struct Present {
    #[diesel(sql_type = diesel::sql_types::Bool)]
    present: bool,
}

/// Whether `table` (PostgreSQL) has the statement trigger that reports its
/// changes (`apikey_notify_change`, installed by the built-in migrations and
/// `apikey scaffold`). False when it cannot be told.
fn has_notify_trigger(conn: &mut DbConnection, table: &str) -> bool {
    let sql = format!(
        "SELECT EXISTS (SELECT 1 FROM pg_trigger t JOIN pg_proc p ON p.oid = t.tgfoid \
         WHERE t.tgrelid = to_regclass('{}') AND p.proname = 'apikey_notify_change' \
         AND NOT t.tgisinternal) AS present",
        table.replace('\'', "''")
    );
    diesel::sql_query(sql)
        .get_result::<Present>(conn)
        .map(|p| p.present)
        .unwrap_or(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: Duration = Duration::from_millis(1);

    fn entry(name: &str) -> Arc<Entry<String>> {
        Arc::new(Entry {
            check: Check::Stored([0; 64]),
            stored: [0; 64],
            model: name.to_owned(),
            epoch: 0,
            dies: Instant::now() + Duration::from_secs(60),
            reported: Arc::default(),
        })
    }

    /// A thread's copy answers for its cache, under its generation, on its
    /// thread: not once its stripe moved, not for another cache, not on
    /// another thread; a full thread map starts again.
    #[test]
    fn a_copy_answers_until_its_generation_moves() {
        let gens = front::Generations::default();
        let stripe = front::Generations::stripe("Copy0001");
        let (a, b) = (front::next_cache_id(), front::next_cache_id());
        assert_ne!(a, b);
        let got = |cache| front::get::<String>(cache, &gens, "Copy0001").map(|e| e.model.clone());
        assert_eq!(got(a), None);
        front::put(a, stripe, gens.current(stripe), "Copy0001", entry("one"));
        assert_eq!(got(a).as_deref(), Some("one"));
        assert_eq!(got(b), None, "another cache");
        assert_eq!(
            front::get::<u32>(a, &gens, "Copy0001").map(|e| e.model),
            None,
            "another model"
        );
        std::thread::scope(|s| {
            s.spawn(|| assert!(front::get::<String>(a, &gens, "Copy0001").is_none()));
        });
        // Another stripe's change leaves it.
        let other = (0..1000)
            .map(|i| format!("Othr{i:04}"))
            .find(|p| front::Generations::stripe(p) != stripe)
            .unwrap_or_default();
        gens.bump(&other);
        assert_eq!(got(a).as_deref(), Some("one"));
        gens.bump("Copy0001");
        assert_eq!(got(a), None, "its stripe moved");
        // Made under an old generation: void at once.
        front::put(
            a,
            stripe,
            gens.current(stripe) - 1,
            "Copy0001",
            entry("two"),
        );
        assert_eq!(got(a), None);
        front::put(a, stripe, gens.current(stripe), "Copy0001", entry("three"));
        assert_eq!(got(a).as_deref(), Some("three"));
        // Other prefixes' copies sit beside it while there is room.
        front::put(a, 0, 0, "Besi0001", entry("beside"));
        assert_eq!(got(a).as_deref(), Some("three"), "kept while there is room");
        // Prefixes spread over the stripes (a change voids few copies).
        let stripes: std::collections::HashSet<usize> = (0..1000)
            .map(|i| front::Generations::stripe(&format!("Sp{i:06}")))
            .collect();
        assert!(stripes.len() >= 60, "{} stripes of 64 used", stripes.len());
        for i in 0..300 {
            let p = format!("Fill{i:04}");
            front::put(a, front::Generations::stripe(&p), 0, &p, entry("x"));
        }
        assert_eq!(got(a), None, "dropped when the thread's map was full");
    }

    /// The map's evictions move the evicted prefix's generation (the
    /// lifecycle is wired into the map a cache uses).
    #[test]
    fn an_eviction_moves_the_evicted_generation() {
        let gens = Arc::new(front::Generations::default());
        let map: quick_cache::sync::Cache<String, u32, _, quick_cache::DefaultHashBuilder, _> =
            quick_cache::sync::Cache::with(
                2,
                2,
                quick_cache::UnitWeighter,
                quick_cache::DefaultHashBuilder::default(),
                front::OnEvict(Arc::clone(&gens)),
            );
        let before: Vec<u64> = (0..front::STRIPES).map(|s| gens.current(s)).collect();
        for i in 0..50 {
            map.insert(format!("Evic{i:04}"), i);
        }
        let evicted: Vec<String> = (0..50)
            .map(|i| format!("Evic{i:04}"))
            .filter(|p| map.get(p.as_str()).is_none())
            .collect();
        assert!(
            evicted.len() >= 40,
            "a map of 2 kept {}",
            50 - evicted.len()
        );
        for p in &evicted {
            let s = front::Generations::stripe(p);
            assert!(gens.current(s) > before[s], "{p}'s stripe did not move");
        }
    }

    /// A feed on time answers; past the deadline it is late (worth waiting
    /// for, the time left until twice the deadline); at twice the deadline
    /// it is stalled. Exact instants, so the boundaries are checked.
    #[test]
    fn late_then_stalled_at_exact_boundaries() {
        let f = Freshness::new(true);
        let t0 = Instant::now();
        f.confirm(t0);
        let deadline = f.deadline();
        assert_eq!(deadline, DEFAULT_FEED_DEADLINE);
        assert!(f.answers(t0 + 10 * MS));
        assert_eq!(f.wait(t0 + 10 * MS), None, "on time");
        assert!(f.answers(t0 + deadline), "the deadline itself is on time");
        assert_eq!(f.wait(t0 + deadline), None);
        assert!(!f.answers(t0 + deadline + Duration::from_nanos(1)));
        assert_eq!(f.wait(t0 + deadline + 10 * MS), Some(deadline - 10 * MS));
        assert_eq!(f.wait(t0 + 2 * deadline - MS), Some(MS));
        assert_eq!(f.wait(t0 + 2 * deadline), None, "stalled");
        assert_eq!(f.wait(t0 + 3 * deadline), None);
        let lost = Freshness::new(false);
        lost.confirm(t0);
        assert_eq!(lost.wait(t0 + deadline + 10 * MS), None, "a lost feed");
    }

    /// A read of the database while the feed is late (and only then) makes
    /// the feed's next confirmation invalidate everything, once.
    #[test]
    fn a_read_while_late_stales_the_cache_at_the_next_confirmation() {
        let f = Freshness::new(true);
        let t0 = Instant::now();
        f.confirm(t0);
        let epochs = |f: &Freshness| {
            (
                f.epoch.load(Ordering::SeqCst),
                f.absent_epoch.load(Ordering::SeqCst),
            )
        };
        let before = epochs(&f);
        f.reading(t0 + f.deadline());
        f.confirm(t0 + MS);
        assert_eq!(epochs(&f), before, "a read on time changes nothing");
        f.reading(t0 + MS + f.deadline() + Duration::from_nanos(1));
        f.confirm(t0 + 2 * MS);
        assert_eq!(
            epochs(&f),
            (before.0 + 1, before.1 + 1),
            "stale after a late read"
        );
        f.confirm(t0 + 3 * MS);
        assert_eq!(epochs(&f), (before.0 + 1, before.1 + 1), "once");
        let lost = Freshness::new(false);
        let before = epochs(&lost);
        lost.reading(t0 + 10 * f.deadline());
        lost.confirm(t0 + MS);
        assert_eq!(epochs(&lost), before, "not late without a feed");
    }
}
