//! The manager: creating, finding, checking and revoking keys.

use std::fmt;
use std::marker::PhantomData;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, NaiveDateTime, Utc};
use diesel::result::{DatabaseErrorKind, Error as DieselError};
use diesel::QueryResult;

use crate::cache::{Cached, FeedRun, KeyCache, Ticket, VerifiedKey};
use crate::db::{BackendKind, Database, DbConnection};
use crate::error::{Error, Result};
use crate::hashers::Verification;
use crate::key::{split_prefix, GenerateKey, KeyGenerator, PlainKey};
use crate::last_used::LastUsed;
use crate::legacy::{LegacyGuard, LegacyLimits};
use crate::limits::{validate_uses, QuotaUse, RateLimit, Refill};
use crate::model::{
    now, truncate_micros, validate_expiry_date, validate_name, AbstractApiKey, KeyFilter,
};
use crate::scopes::Scopes;
use crate::storage::NewKeyRow;

/// The longest key `get_from_key` looks up; anything longer is invalid
/// without touching the database.
pub const MAX_KEY_LENGTH: usize = 512;

/// How many prefixes `create_key` tries before giving up.
pub const MAX_CREATE_ATTEMPTS: u32 = 10;

/// How many verified keys the cache of a manager holds by default.
pub const DEFAULT_CACHE_CAPACITY: usize = 10_000;

/// How long a cached key is answered at most, by default, on SQLite: 60
/// seconds (the no-change sweep then runs every 30 s). The change feed
/// sees every commit to the database file, so this only bounds memory of a
/// key nobody changes.
pub const DEFAULT_MAX_AGE_SQLITE: Duration = Duration::from_secs(60);

/// How long a cached key is answered at most after its row was read, by
/// default, on PostgreSQL; the cache re-reads what it holds every half of
/// it, which bounds what the triggers' notifications cannot see (a table
/// without the trigger, such as Django's, and the tables a narrowing joins,
/// such as a deactivated organization): one second (a sweep every 0.5 s).
pub const DEFAULT_MAX_AGE_POSTGRES: Duration = Duration::from_secs(1);

/// The one definition of which keys are usable.
///
/// The default ([`AllUsable`]) is the model's own: not revoked and not
/// expired. An application narrows it by filtering that query further, e.g.
/// only keys of active organizations:
///
/// ```ignore
/// struct ActiveOrganizations;
/// impl UsableKeys<OrganizationApiKey> for ActiveOrganizations {
///     fn get_usable_keys(&self, now: NaiveDateTime) -> <OrganizationApiKey as AbstractApiKey>::Query {
///         OrganizationApiKey::usable_keys(now).filter(
///             org_keys::organization_id.eq_any(organizations::table.filter(organizations::active).select(organizations::id)),
///         )
///     }
/// }
/// ```
pub trait UsableKeys<M: AbstractApiKey>: Send + Sync + 'static {
    /// The usable keys at `now`, as a diesel query.
    fn get_usable_keys(&self, now: NaiveDateTime) -> M::Query {
        M::usable_keys(now)
    }

    /// The usable key with this prefix: the first row of
    /// [`UsableKeys::get_usable_keys`] with it. Override only to answer the
    /// same thing faster.
    fn find_usable(
        &self,
        conn: &mut DbConnection,
        now: NaiveDateTime,
        prefix: &str,
    ) -> QueryResult<Option<M>> {
        M::first_by_prefix(conn, self.get_usable_keys(now), prefix)
    }

    /// The usable keys with any of these prefixes: the rows of
    /// [`UsableKeys::get_usable_keys`] with them (the verification cache
    /// revalidates what it holds with this, many prefixes per query).
    fn find_usable_among(
        &self,
        conn: &mut DbConnection,
        now: NaiveDateTime,
        prefixes: &[&str],
    ) -> QueryResult<Vec<M>> {
        M::rows_among(conn, self.get_usable_keys(now), prefixes)
    }
}

/// The model's own definition of usable: not revoked, not expired.
#[derive(Debug, Clone, Copy, Default)]
pub struct AllUsable;

impl<M: AbstractApiKey> UsableKeys<M> for AllUsable {
    fn find_usable(
        &self,
        conn: &mut DbConnection,
        now: NaiveDateTime,
        prefix: &str,
    ) -> QueryResult<Option<M>> {
        // Same rows as the boxed query (tests compare the two); this one is
        // a cached prepared statement.
        M::find_usable_by_prefix(conn, now, prefix)
    }
}

/// The longest [`BaseApiKeyManager::use_quota`] waits for the SQLite
/// cache's change feed to run its write (it runs one every few
/// milliseconds) before answering [`Error::Unavailable`].
pub(crate) const QUIET_WRITE_WAIT: Duration = Duration::from_secs(5);

/// SQLite's "database is locked" (`SQLITE_BUSY`): the transaction wrote
/// nothing.
fn is_locked(e: &DieselError) -> bool {
    match e {
        DieselError::DatabaseError(_, info) => {
            let m = info.message();
            m.contains("database is locked") || m.contains("database table is locked")
        }
        _ => false,
    }
}

/// What to create: a name, an optional expiry, and the model's own fields.
#[derive(Debug, Clone)]
pub struct NewKey<E = ()> {
    /// The key's name (required, at most 50 characters).
    pub name: String,
    /// When the key stops working, if ever.
    pub expiry_date: Option<DateTime<Utc>>,
    /// The model's own columns.
    pub extra: E,
    /// The key's scopes (none by default); only for a model with a
    /// `scopes` column ([`AbstractApiKey::HAS_SCOPES`]).
    pub scopes: Scopes,
    /// The key's own rate limit (none by default: the application's
    /// default applies); only for a model with a `rate_limit` column
    /// ([`AbstractApiKey::HAS_RATE_LIMIT`]).
    pub rate_limit: Option<RateLimit>,
    /// The key's usage quota, in uses (`None`, the default: unlimited);
    /// only for a model with a `remaining_uses` column
    /// ([`AbstractApiKey::HAS_QUOTA`]).
    pub remaining_uses: Option<i64>,
    /// The quota's daily or monthly refill (none by default); only for a
    /// model with the refill columns ([`AbstractApiKey::HAS_REFILL`]).
    /// Without `remaining_uses`, the key starts with the refill's uses.
    pub uses_refill: Option<Refill>,
}

impl NewKey<()> {
    /// A key for the built-in model, or any model without columns of its own.
    pub fn new(name: impl Into<String>) -> Self {
        NewKey {
            name: name.into(),
            expiry_date: None,
            extra: (),
            scopes: Scopes::none(),
            rate_limit: None,
            remaining_uses: None,
            uses_refill: None,
        }
    }
}

impl<E> NewKey<E> {
    /// A key with the model's own fields.
    pub fn with_extra(name: impl Into<String>, extra: E) -> Self {
        NewKey {
            name: name.into(),
            expiry_date: None,
            extra,
            scopes: Scopes::none(),
            rate_limit: None,
            remaining_uses: None,
            uses_refill: None,
        }
    }

    /// Sets the expiry date.
    pub fn expires(mut self, at: DateTime<Utc>) -> Self {
        self.expiry_date = Some(at);
        self
    }

    /// Sets the scopes.
    pub fn scopes(mut self, scopes: Scopes) -> Self {
        self.scopes = scopes;
        self
    }

    /// Sets or clears the key's own rate limit.
    pub fn rate_limit(mut self, limit: Option<RateLimit>) -> Self {
        self.rate_limit = limit;
        self
    }

    /// Sets or clears the usage quota (a number of uses, 0 to
    /// [`crate::limits::MAX_USES`]).
    pub fn uses(mut self, uses: Option<i64>) -> Self {
        self.remaining_uses = uses;
        self
    }

    /// Sets or clears the quota's refill.
    pub fn refill(mut self, refill: Option<Refill>) -> Self {
        self.uses_refill = refill;
        self
    }

    /// Sets or clears the expiry date.
    pub fn expiry(mut self, at: Option<DateTime<Utc>>) -> Self {
        self.expiry_date = at;
        self
    }
}

/// Creates, finds, checks and revokes keys of model `M` (the counterpart of
/// the reference's `BaseAPIKeyManager`). Cheap to clone; blocking (call it
/// from a blocking thread in async code).
pub struct BaseApiKeyManager<M: AbstractApiKey> {
    db: Database,
    usable: Arc<dyn UsableKeys<M>>,
    generator: Arc<dyn GenerateKey>,
    cache: Option<Arc<KeyCache<M>>>,
    legacy: Arc<LegacyGuard>,
    after_query: Option<Arc<dyn Fn() + Send + Sync>>,
    last_used: Option<Arc<LastUsed>>,
    _model: PhantomData<fn() -> M>,
}

impl<M: AbstractApiKey> Clone for BaseApiKeyManager<M> {
    fn clone(&self) -> Self {
        BaseApiKeyManager {
            db: self.db.clone(),
            usable: Arc::clone(&self.usable),
            generator: Arc::clone(&self.generator),
            cache: self.cache.clone(),
            legacy: Arc::clone(&self.legacy),
            after_query: self.after_query.clone(),
            last_used: self.last_used.clone(),
            _model: PhantomData,
        }
    }
}

impl<M: AbstractApiKey> fmt::Debug for BaseApiKeyManager<M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BaseApiKeyManager")
            .field("model", &M::VERBOSE_NAME)
            .field("db", &self.db)
            .field("generator", &self.generator)
            .field("cache", &self.cache)
            .field("legacy", &self.legacy)
            .field("last_used", &self.last_used)
            .finish()
    }
}

/// Scopes for a model: none, or a model with a `scopes` column.
fn check_scopes<M: AbstractApiKey>(scopes: &Scopes) -> Result<()> {
    if !scopes.is_empty() && !M::HAS_SCOPES {
        return Err(Error::validation(
            "scopes",
            format!(
                "{} has no scopes column (Django's table has none; a derived model adds \
                 a `scopes: String` field)",
                M::TABLE_NAME
            ),
        ));
    }
    Ok(())
}

/// A rate limit and a quota for a model: none, or a model with the column.
fn check_limits<M: AbstractApiKey>(
    rate_limit: Option<RateLimit>,
    remaining_uses: Option<i64>,
) -> Result<()> {
    if rate_limit.is_some() && !M::HAS_RATE_LIMIT {
        return Err(Error::validation(
            "rate_limit",
            format!(
                "{} has no rate_limit column (Django's table has none; a derived model adds \
                 a `rate_limit: Option<String>` field)",
                M::TABLE_NAME
            ),
        ));
    }
    if let Some(uses) = remaining_uses {
        validate_uses(uses)?;
        if !M::HAS_QUOTA {
            return Err(Error::validation(
                "remaining_uses",
                format!(
                    "{} has no remaining_uses column (Django's table has none; a derived \
                     model adds a `remaining_uses: Option<i64>` field)",
                    M::TABLE_NAME
                ),
            ));
        }
    }
    Ok(())
}

/// A refill for a model: none, or a model with the refill columns.
fn check_refill<M: AbstractApiKey>(refill: Option<Refill>) -> Result<()> {
    if refill.is_some() && !M::HAS_REFILL {
        return Err(Error::validation(
            "uses_refill",
            format!(
                "{} has no uses_refill columns (a derived model adds `uses_refill: \
                 Option<String>` and `uses_refill_period: Option<i64>`)",
                M::TABLE_NAME
            ),
        ));
    }
    Ok(())
}

/// What one attempt of [`BaseApiKeyManager::rotate`] found.
enum Rotated<M> {
    Done(M),
    NotFound,
    Refused(&'static str),
}

fn is_unique_violation(err: &DieselError) -> bool {
    matches!(
        err,
        DieselError::DatabaseError(DatabaseErrorKind::UniqueViolation, _)
    )
}

impl<M: AbstractApiKey> BaseApiKeyManager<M> {
    /// A manager with the default generator, definition of usable and
    /// verification cache (see [`BaseApiKeyManager::with_cache`]).
    ///
    /// Build it once and clone it (clones share one cache, its change feed
    /// and its revalidation: two threads, each with a database connection of
    /// its own, started by the first lookup and ended with the last clone);
    /// on an in-memory SQLite database the cache stays off.
    pub fn new(db: Database) -> Self {
        let max_age = match db.backend() {
            BackendKind::Sqlite => DEFAULT_MAX_AGE_SQLITE,
            BackendKind::Postgres => DEFAULT_MAX_AGE_POSTGRES,
        };
        let usable: Arc<dyn UsableKeys<M>> = Arc::new(AllUsable);
        let cache = Some(KeyCache::new(
            &db,
            max_age,
            DEFAULT_CACHE_CAPACITY,
            Arc::clone(&usable),
        ));
        let manager = BaseApiKeyManager {
            db,
            usable,
            generator: Arc::new(KeyGenerator::default()),
            cache,
            legacy: Arc::new(LegacyGuard::new(LegacyLimits::default())),
            after_query: None,
            last_used: None,
            _model: PhantomData,
        };
        if M::TRACKS_LAST_USE {
            manager.with_last_used(crate::last_used::DEFAULT_INTERVAL)
        } else {
            manager
        }
    }

    /// Records when each key is used (models with a `last_used_at` column,
    /// [`AbstractApiKey::TRACKS_LAST_USE`]; on by default for them, every 60
    /// seconds): the first use of a key in each `interval` is written to its
    /// row within about a second ([`crate::last_used::FLUSH_EVERY`]), by a
    /// thread of the manager, in batches; later uses in the interval cost a
    /// map lookup and write nothing. Zero turns tracking off.
    ///
    /// - Never a query on the request path, and never a write per request.
    /// - Several servers write the same rows: a row only ever moves to a
    ///   later time (the latest use wins, whatever order the writes commit
    ///   in).
    /// - The writes do not make the verification caches revalidate (on
    ///   PostgreSQL they are marked quiet for the key tables' change
    ///   trigger; on SQLite they run on the cache's change-feed connection,
    ///   so only other processes' caches see them).
    /// - A failed write (database down) is retried every second; uses not
    ///   yet written when the process ends are lost: call
    ///   [`BaseApiKeyManager::flush_last_used`] at shutdown.
    ///
    /// Every key found usable counts as a use ([`Self::get_from_key`],
    /// [`Self::is_valid`], [`Self::cached`], [`Self::verify_cached`],
    /// [`Self::try_get_from_key_inline`], [`Self::try_verify_inline`], the
    /// actix guards). A model
    /// handed out from the cache may show a `last_used_at` up to an
    /// interval old. Clones made before share the old setting.
    pub fn with_last_used(mut self, interval: Duration) -> Self {
        self.last_used = (M::TRACKS_LAST_USE && !interval.is_zero())
            .then(|| LastUsed::new(&self.db, interval, M::touch_last_used));
        self.wire_last_used();
        self
    }

    /// Turns last-used tracking off.
    pub fn without_last_used(self) -> Self {
        self.with_last_used(Duration::ZERO)
    }

    /// The interval of last-used tracking (`None`: off, or a model without
    /// the column).
    pub fn last_used_interval(&self) -> Option<Duration> {
        self.last_used.as_ref().map(|t| t.interval())
    }

    /// Writes every queued last use now, instead of within a second (at
    /// shutdown, or in a test); returns how many rows changed. What cannot be
    /// written stays queued. `Ok(0)` when tracking is off.
    pub fn flush_last_used(&self) -> Result<usize> {
        self.last_used.as_ref().map_or(Ok(0), |t| t.flush())
    }

    /// Runs `f` in one transaction as a *quiet* write: bookkeeping that
    /// changes no column a cached key depends on (whether it is usable, its
    /// hash, what the handler reads of it), such as a usage counter or a
    /// last-use time. The verification caches of every server then keep
    /// answering instead of revalidating after it:
    ///
    /// - PostgreSQL: the transaction runs `SET LOCAL apikey.quiet_write =
    ///   'on'`, which the key tables' change trigger skips (the trigger of
    ///   the built-in migrations since `2026-12-01-150000_last_used_at`, and
    ///   of `apikey scaffold`).
    /// - SQLite: it runs on this manager's cache feed connection, whose
    ///   `PRAGMA data_version` does not move for its own commits (it waits
    ///   for the feed's next poll, at most a few milliseconds, and for the
    ///   database lock at most 20 ms); other processes' caches still see it.
    ///   Without a live feed it runs on a pooled connection.
    ///
    /// A write that can make a key unusable (revoked, expired, rehashed,
    /// narrowed out) must never go through here: caches would keep
    /// answering the key. [`Error::Unavailable`] when the database (or, on
    /// SQLite, the feed) does not answer in time.
    pub fn write_quietly<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut DbConnection) -> QueryResult<T> + Send + 'static,
    ) -> Result<T> {
        let feed = self.cache.as_ref().and_then(|c| c.quiet_feed()).cloned();
        crate::last_used::run_quiet(&self.db, feed, f)
    }

    /// How many times the last-used tracker was asked to record a use;
    /// for tests (cache hits ask it once per interval per key).
    #[doc(hidden)]
    pub fn __last_used_touches(&self) -> u64 {
        self.last_used.as_ref().map_or(0, |t| t.touches())
    }

    /// Rows changed by last-used writes so far; for tests.
    #[doc(hidden)]
    pub fn __last_used_rows_written(&self) -> u64 {
        self.last_used.as_ref().map_or(0, |t| t.rows_written())
    }

    /// Points the last-used writer at the current cache's SQLite feed.
    fn wire_last_used(&self) {
        if let Some(tracker) = &self.last_used {
            tracker.set_feed(self.cache.as_ref().and_then(|c| c.quiet_feed()));
        }
    }

    /// A key with this prefix was found usable.
    fn used(&self, prefix: &str) {
        if let Some(tracker) = &self.last_used {
            tracker.touch(prefix);
        }
    }

    /// Replaces the bounds on legacy (PBKDF2) hash checks (see
    /// [`LegacyLimits`]): how many run at once, how long one waits for its
    /// turn before it is refused with [`Error::Busy`], and how many failed
    /// checks are remembered. Clones made before share the old bounds.
    pub fn with_legacy_limits(mut self, limits: LegacyLimits) -> Self {
        self.legacy = Arc::new(LegacyGuard::new(limits));
        self
    }

    /// Replaces the verification cache with one of at most `capacity` keys
    /// (at least 1), each answered for at most `max_age` after its row was last read
    /// (at most a day; zero turns the cache off, as
    /// [`BaseApiKeyManager::without_cache`]).
    ///
    /// The cache is on by default and as fresh as the database's change
    /// feed: only keys just verified against the database enter it (by
    /// prefix and SHA-512 digest, never the key), a write through this
    /// manager or any clone takes effect at once, and a write by anyone else
    /// stops being honoured:
    ///
    /// - **SQLite (a file)**: within a few milliseconds of its commit, for
    ///   any write to the database file by any process (the `apikey` CLI,
    ///   another server, Django, raw SQL, a narrowing's own tables): the
    ///   feed polls `PRAGMA data_version` every 5 ms.
    /// - **PostgreSQL**: within a few milliseconds for writes to a key table
    ///   that has the notification trigger (the built-in table's migrations
    ///   and `apikey scaffold` install it), through `LISTEN apikey_changes`;
    ///   within the revalidation sweep (every `max_age / 2`; `max_age`
    ///   defaults to one second) for anything else (Django's own table, the
    ///   tables a [`UsableKeys`] narrowing joins); `max_age` bounds it even
    ///   when the sweep cannot read.
    ///
    /// Quiet writes ([`BaseApiKeyManager::write_quietly`], last-use times)
    /// are not changes: on PostgreSQL for every server, on SQLite for the
    /// manager that makes them.
    ///
    /// After every change, and every `max_age / 2` without one, a thread
    /// re-reads the cached keys through the usable-keys query and files
    /// again those still usable with the same hash, so a change that leaves
    /// a key alone costs it no query on the request path.
    /// - **In-memory SQLite**: the cache stays off.
    ///
    /// The cache also knows every prefix in the key table (loaded by a
    /// lookup that goes to the database, for tables of up to
    /// [`crate::PREFIX_SET_LIMIT`] rows), so never-issued keys are refused
    /// without a query; a key created by another process is therefore
    /// accepted once the feed has seen the insert, within the same bounds.
    ///
    /// When the feed is lost (its connection dropped, the server restarted)
    /// the cache answers nothing until the feed is back, and then starts
    /// empty: requests go to the database meanwhile (fail fresh). A feed
    /// that stalls is treated the same way: the cache answers only while
    /// the feed has finished a look for changes that began within the feed
    /// deadline ([`BaseApiKeyManager::with_feed_deadline`], 50 ms), so a
    /// change its feed reports (a SQLite file; a PostgreSQL table with the
    /// trigger) is never honoured from the cache for longer than that after
    /// its commit, however slow the database or the machine. A key's own
    /// expiry date is always checked.
    pub fn with_cache(mut self, max_age: Duration, capacity: usize) -> Self {
        let deadline = self.feed_deadline();
        self.cache = if max_age.is_zero() {
            None
        } else {
            let cache = KeyCache::new(&self.db, max_age, capacity, Arc::clone(&self.usable));
            if let Some(deadline) = deadline {
                cache.set_feed_deadline(deadline);
            }
            Some(cache)
        };
        self.wire_last_used();
        self
    }

    /// How recently the cache's change feed must have looked for changes,
    /// and finished looking, for the cache to answer (default
    /// [`crate::DEFAULT_FEED_DEADLINE`], 50 ms; clamped to at least 10 ms
    /// and at most a day). The deadline is the cache's, and the cache is
    /// shared: calling this on a clone changes it for the manager it was
    /// cloned from and every other clone too (unlike `with_last_used`).
    ///
    /// The feed looks every 5 ms. When a look takes longer than this (the
    /// feed's connection hangs, the database is slow to answer, the
    /// machine does not schedule the feed's thread), the cache stops
    /// answering until the feed answers again: a write by anyone is never
    /// honoured for longer than the deadline after its commit because the
    /// feed fell behind. Lookups then wait for the feed for up to the
    /// deadline again ([`BaseApiKeyManager::feed_wait`]: the guards of
    /// apikey-actix do, without holding a thread), and only after that,
    /// with the feed still silent, query the database. Raise
    /// it for a PostgreSQL server whose round trip is more than a few tens
    /// of milliseconds away (the cache would otherwise seldom answer).
    /// Without a cache, this does nothing.
    pub fn with_feed_deadline(self, deadline: Duration) -> Self {
        if let Some(cache) = &self.cache {
            cache.set_feed_deadline(deadline);
        }
        self
    }

    /// How long it is worth waiting for the cache's change feed before
    /// querying the database: `Some(time left)` while the cache is on and
    /// its feed is late past the deadline by less than the deadline again
    /// (see [`BaseApiKeyManager::with_feed_deadline`]), the time left being
    /// until the feed counts as stalled (twice the deadline after its last
    /// look for changes began); `None` when the cache answers, when there
    /// is none, and when its feed is lost or stalled.
    ///
    /// A feed is late when the machine is short of CPU for a moment (its
    /// thread, or the database backend it asks, not scheduled): the
    /// database is then slow to answer too, and a lookup that queries it
    /// adds load where waiting for the feed adds none. Async callers look
    /// at the cache again every millisecond or so, with their runtime's
    /// sleep (`actix_web::rt::time::sleep`, `tokio::time::sleep`), while
    /// this is `Some`, then fall back to
    /// [`BaseApiKeyManager::get_from_key`] on a blocking thread; the
    /// request guards of apikey-actix do exactly that, within
    /// `ApiKeyConfig::lookup_timeout` (bound a lookup of your own the same
    /// way). Look with [`BaseApiKeyManager::verify_cached`] (no copy of the
    /// row) or [`BaseApiKeyManager::cached`]; they answer as soon as the
    /// feed is back on time. A lookup that reads the database while the
    /// feed is late makes the feed's next answer drop everything cached
    /// (the database may have refused what no feed reports), so waiting
    /// also keeps the cache warm.
    ///
    /// ```
    /// use std::future::Future;
    /// use std::time::Duration;
    /// use apikey_core::{ApiKey, BaseApiKeyManager, Result};
    ///
    /// /// The key's answer without a blocking call, or `None`: then call
    /// /// `keys.get_from_key(key)` on a blocking thread.
    /// async fn without_blocking<S, F>(
    ///     keys: &BaseApiKeyManager<ApiKey>,
    ///     key: &str,
    ///     sleep: S,
    /// ) -> Option<Result<ApiKey>>
    /// where
    ///     S: Fn(Duration) -> F,
    ///     F: Future<Output = ()>,
    /// {
    ///     if let Some(known) = keys.try_get_from_key_inline(key) {
    ///         return Some(known);
    ///     }
    ///     while keys.feed_wait().is_some() {
    ///         sleep(Duration::from_millis(1)).await;
    ///         if let Some(known) = keys.cached(key) {
    ///             return Some(known);
    ///         }
    ///     }
    ///     None
    /// }
    /// ```
    pub fn feed_wait(&self) -> Option<Duration> {
        self.cache.as_ref().and_then(|c| c.feed_wait())
    }

    /// The cache's feed deadline (see
    /// [`BaseApiKeyManager::with_feed_deadline`]); `None` without a cache.
    pub fn feed_deadline(&self) -> Option<Duration> {
        self.cache.as_ref().map(|c| c.feed_deadline())
    }

    /// Turns the verification cache off: every lookup is a query.
    pub fn without_cache(mut self) -> Self {
        self.cache = None;
        self.wire_last_used();
        self
    }

    /// True when this manager has a verification cache and its change feed
    /// runs, so that verified keys are answered from memory.
    pub fn cache_is_live(&self) -> bool {
        self.cache.as_ref().is_some_and(|c| c.is_live())
    }

    /// How many verified keys the cache holds (current or stale; 0
    /// without cache).
    #[doc(hidden)]
    pub fn cache_len(&self) -> usize {
        self.cache.as_ref().map_or(0, |c| c.len())
    }

    /// How many prefixes the cache remembers as having no usable key.
    #[doc(hidden)]
    pub fn cache_absent_len(&self) -> usize {
        self.cache.as_ref().map_or(0, |c| c.absent_len())
    }

    /// Waits up to `timeout` until the cache's change feed is live and has
    /// seen every write committed before the call (false on timeout or
    /// without a cache). For tests and tools that need "now" rather than
    /// "within milliseconds".
    pub fn settle_cache(&self, timeout: Duration) -> bool {
        self.cache.as_ref().is_some_and(|c| c.settle(timeout))
    }

    /// A test hook: runs between a lookup's query and the moment its result
    /// is cached (to make races deterministic). Not public API.
    #[doc(hidden)]
    pub fn __after_lookup_query(mut self, hook: impl Fn() + Send + Sync + 'static) -> Self {
        self.after_query = Some(Arc::new(hook));
        self
    }

    /// The key from the verification cache, without touching the database
    /// (`None`: not cached, stale, refused, or no live cache).
    pub fn get_cached(&self, key: &str) -> Option<M> {
        match self.cached(key) {
            Some(Ok(model)) => Some(model),
            _ => None,
        }
    }

    /// How many revalidation passes the cache has completed; for tests.
    #[doc(hidden)]
    pub fn cache_revalidations(&self) -> u64 {
        self.cache.as_ref().map_or(0, |c| c.revalidations())
    }

    /// How many times the cache started loading its set of every prefix in
    /// the table; for tests.
    #[doc(hidden)]
    pub fn __prefix_set_loads(&self) -> u64 {
        self.cache.as_ref().map_or(0, |c| c.prefix_set_loads())
    }

    /// How many prefixes the cache's set of every prefix in the table holds
    /// (`None`: no current set); for tests.
    #[doc(hidden)]
    pub fn cache_prefixes_len(&self) -> Option<usize> {
        self.cache.as_ref().and_then(|c| c.prefixes_len())
    }

    /// The most rows the key table may have for the cache to keep the set
    /// of its prefixes (default [`crate::PREFIX_SET_LIMIT`]); for tests.
    #[doc(hidden)]
    pub fn __prefix_set_limit(self, limit: usize) -> Self {
        if let Some(cache) = &self.cache {
            cache.set_prefix_limit(limit);
        }
        self
    }

    /// What can be said of `key` without the database: `Some(Ok)` a cached
    /// verified key, `Some(Err(Error::InvalidKey))` certainly not usable (a
    /// key the generator cannot have made, a wrong secret for a prefix whose
    /// key is cached, a prefix known to have no usable key, all as of the
    /// cache's current state), `None` ask the database
    /// ([`BaseApiKeyManager::get_from_key`]). Cheap and non-blocking: async
    /// code calls it before moving to a blocking thread.
    ///
    /// A key is in the cache once a lookup through the database verified
    /// it (a key just created, or revoked through this manager, is `None`
    /// until then), and only while the change feed runs: the first lookup
    /// starts it, and it answers a few milliseconds later
    /// ([`BaseApiKeyManager::settle_cache`] waits for that).
    ///
    /// The model is a copy of the cached row; [`BaseApiKeyManager::verify_cached`]
    /// answers the same without copying it.
    pub fn cached(&self, key: &str) -> Option<Result<M>> {
        self.verify_cached(key)
            .map(|found| found.map(VerifiedKey::into_inner))
    }

    /// [`BaseApiKeyManager::cached`], the model shared with the cache
    /// instead of copied: what the request guards use on every request.
    pub fn verify_cached(&self, key: &str) -> Option<Result<VerifiedKey<M>>> {
        // The prefix found once, for the shape check and the lookup.
        let prefix = split_prefix(key);
        if !self.is_well_formed_with(key, prefix) {
            return Some(Err(Error::InvalidKey));
        }
        let cache = self.cache.as_ref()?;
        let every = self.last_used.as_ref().map(|t| t.interval());
        match cache.lookup(prefix, key, every) {
            Cached::Hit(model, due) => {
                // The tracker (a lock and a map) only once an interval per
                // cached key.
                if let (Some(tracker), Some(due)) = (&self.last_used, due) {
                    cache.reported_use(&due, tracker.touch(model.prefix()));
                }
                Some(Ok(model))
            }
            Cached::Refused => Some(Err(Error::InvalidKey)),
            Cached::Miss => None,
        }
    }

    /// Answers `key` on the calling thread when that cannot block or take
    /// long: from the cache ([`BaseApiKeyManager::cached`]), else, on a
    /// SQLite file, with one query on this thread's own connection that
    /// never waits for a lock, for a key stored in the fast `sha512$$`
    /// format. `None`: call [`BaseApiKeyManager::get_from_key`] on a blocking
    /// thread (PostgreSQL, a locked database, a legacy hash to verify and
    /// upgrade, a late change feed to wait for first: see
    /// [`BaseApiKeyManager::feed_wait`], ...). Async code calls it first to
    /// spare the thread hop.
    pub fn try_get_from_key_inline(&self, key: &str) -> Option<Result<M>> {
        self.try_verify_inline(key)
            .map(|found| found.map(VerifiedKey::into_inner))
    }

    /// [`BaseApiKeyManager::try_get_from_key_inline`], a cached model shared
    /// with the cache instead of copied (see [`VerifiedKey`]).
    pub fn try_verify_inline(&self, key: &str) -> Option<Result<VerifiedKey<M>>> {
        if let Some(known) = self.verify_cached(key) {
            return Some(known);
        }
        let prefix = split_prefix(key);
        if self
            .cache
            .as_ref()
            .is_some_and(|c| c.wants_prefixes() || c.feed_wait().is_some())
        {
            // The feed is late (the caller may wait for it: see
            // `feed_wait`), or the prefix set is due: this lookup takes the
            // blocking path, which loads it (not on an async worker).
            return None;
        }
        let ticket = self.cache.as_ref().map(|c| c.ticket());
        let now = now();
        let found = self
            .db
            .run_inline(|conn| self.usable.find_usable(conn, now, prefix))?;
        let Some(model) = found else {
            if let (Some(cache), Some(ticket)) = (&self.cache, ticket) {
                cache.insert_absent(ticket, prefix);
            }
            return Some(Err(Error::InvalidKey));
        };
        if !model
            .hashed_key()
            .starts_with(crate::hashers::SHA512_PREFIX)
        {
            return None;
        }
        match self.generator.verify(key, model.hashed_key()) {
            Verification::Invalid => {
                // The row is usable; only the secret was wrong: cache the
                // row, so that further guesses are refused from memory.
                if let (Some(cache), Some(ticket)) = (&self.cache, ticket) {
                    cache.insert_row(ticket, &model, None);
                }
                Some(Err(Error::InvalidKey))
            }
            Verification::Valid => {
                if let (Some(cache), Some(ticket)) = (&self.cache, ticket) {
                    cache.insert_row(ticket, &model, Some(key));
                }
                self.used(model.prefix());
                Some(Ok(VerifiedKey::from(model)))
            }
            Verification::ValidOutdated => None,
        }
    }

    /// Whether `key` has a shape the key generator can produce (and is at
    /// most [`MAX_KEY_LENGTH`] bytes): a key without it is refused before
    /// any hashing or query.
    pub fn is_well_formed(&self, key: &str) -> bool {
        self.is_well_formed_with(key, split_prefix(key))
    }

    /// [`BaseApiKeyManager::is_well_formed`], `prefix` being
    /// `split_prefix(key)`.
    fn is_well_formed_with(&self, key: &str, prefix: &str) -> bool {
        !key.is_empty()
            && key.len() <= MAX_KEY_LENGTH
            && !prefix.is_empty()
            && self.generator.is_well_formed(key)
    }

    /// Replaces the key generator (lengths, or the whole algorithm).
    pub fn with_generator(mut self, generator: impl GenerateKey) -> Self {
        self.generator = Arc::new(generator);
        self
    }

    /// Replaces the definition of usable keys.
    pub fn with_usable_keys(mut self, usable: impl UsableKeys<M>) -> Self {
        self.usable = Arc::new(usable);
        // The cache revalidates through the definition of usable: a new
        // definition, a new cache (same settings).
        if let Some(cache) = &self.cache {
            let fresh = KeyCache::new(
                &self.db,
                cache.max_age(),
                cache.capacity(),
                Arc::clone(&self.usable),
            );
            fresh.set_feed_deadline(cache.feed_deadline());
            self.cache = Some(fresh);
        }
        self.wire_last_used();
        self
    }

    /// The database.
    pub fn database(&self) -> &Database {
        &self.db
    }

    /// The key generator.
    pub fn generator(&self) -> &dyn GenerateKey {
        &*self.generator
    }

    /// Creates a key; returns the stored row and the plain key (show it once).
    ///
    /// The name is validated first (nothing is written when it is refused).
    /// When the generated prefix already exists, a new key is generated and
    /// the insert retried, up to [`MAX_CREATE_ATTEMPTS`] times.
    pub fn create_key(&self, new: NewKey<M::Extra>) -> Result<(M, PlainKey)> {
        validate_name(&new.name)?;
        validate_expiry_date(new.expiry_date)?;
        check_scopes::<M>(&new.scopes)?;
        check_limits::<M>(new.rate_limit, new.remaining_uses)?;
        check_refill::<M>(new.uses_refill)?;
        let scopes = new.scopes.to_column();
        let rate_limit = new.rate_limit.map(|l| l.to_string());
        let uses_refill = new.uses_refill.map(|r| r.to_string());
        // A refilled quota starts full, for the current period.
        let (remaining_uses, uses_refill_period) = match new.uses_refill {
            Some(r) => (
                Some(new.remaining_uses.unwrap_or(r.uses())),
                Some(r.period_index(now())),
            ),
            None => (new.remaining_uses, None),
        };
        let created = now();
        let expiry_date = new.expiry_date.map(|t| truncate_micros(t.naive_utc()));
        for _ in 0..MAX_CREATE_ATTEMPTS {
            let generated = self.generator.generate();
            let row = NewKeyRow {
                prefix: &generated.prefix,
                hashed_key: &generated.hashed_key,
                created,
                name: &new.name,
                expiry_date,
                rotated_from: None,
                scopes: &scopes,
                rate_limit: rate_limit.as_deref(),
                remaining_uses,
                uses_refill: uses_refill.as_deref(),
                uses_refill_period,
            };
            match self.db.run(|conn| M::insert(conn, &row, &new.extra)) {
                Ok(model) => {
                    if let Some(cache) = &self.cache {
                        cache.inserted();
                    }
                    return Ok((model, generated.key));
                }
                Err(Error::Database(e)) if is_unique_violation(&e) => {
                    log::debug!("api key prefix collision on {}, retrying", generated.prefix);
                    continue;
                }
                Err(e) => return Err(e),
            }
        }
        Err(Error::PrefixCollision(MAX_CREATE_ATTEMPTS))
    }

    /// Rotates the key with this prefix: creates a new key with the old
    /// one's name, expiry date and own fields, and makes the old one stop
    /// working at `now + grace`, in one transaction. Returns the new row
    /// and its plain key (show it once).
    ///
    /// - `grace` zero: the old key is revoked at once.
    /// - `grace` longer: the old key's expiry date becomes `now + grace`,
    ///   unless it already expires earlier (that date is kept). It keeps
    ///   working meanwhile, so clients can move to the new key.
    /// - The new row records the old prefix in `rotated_from` when the
    ///   model has that column ([`AbstractApiKey::rotated_from`]; the
    ///   built-in table does).
    /// - A revoked or expired key cannot be rotated
    ///   ([`Error::Validation`], nothing written); an unknown prefix is
    ///   [`Error::NotFound`].
    ///
    /// The new key comes from this manager's generator (a branded generator
    /// rotates a plain key into a branded one).
    pub fn rotate(&self, prefix: &str, grace: Duration) -> Result<(M, PlainKey)> {
        let grace = chrono::Duration::from_std(grace)
            .map_err(|_| Error::validation("grace", "too long"))?;
        for _ in 0..MAX_CREATE_ATTEMPTS {
            let generated = self.generator.generate();
            let result = self.db.run(|conn| {
                use diesel::Connection;
                conn.transaction(|conn| self.rotate_once(conn, prefix, grace, &generated))
            });
            // After the write (committed or not), as `revoke` does.
            self.invalidate_cache();
            match result {
                Ok(Rotated::Done(model)) => {
                    if let Some(cache) = &self.cache {
                        cache.inserted();
                    }
                    return Ok((model, generated.key));
                }
                Ok(Rotated::NotFound) => return Err(Error::NotFound(prefix.to_owned())),
                Ok(Rotated::Refused(reason)) => return Err(Error::validation("key", reason)),
                Err(Error::Database(DieselError::RollbackTransaction)) => {
                    return Err(Error::validation("key", "a revoked key cannot be rotated"))
                }
                Err(Error::Database(e)) if is_unique_violation(&e) => {
                    log::debug!("api key prefix collision on {}, retrying", generated.prefix);
                    continue;
                }
                Err(e) => return Err(e),
            }
        }
        Err(Error::PrefixCollision(MAX_CREATE_ATTEMPTS))
    }

    fn rotate_once(
        &self,
        conn: &mut DbConnection,
        prefix: &str,
        grace: chrono::Duration,
        generated: &crate::key::GeneratedKey,
    ) -> QueryResult<Rotated<M>> {
        let Some(old) = M::find_by_prefix(conn, prefix)? else {
            return Ok(Rotated::NotFound);
        };
        let now = now();
        if old.revoked() {
            return Ok(Rotated::Refused("a revoked key cannot be rotated"));
        }
        if old.has_expired_at(now) {
            return Ok(Rotated::Refused("an expired key cannot be rotated"));
        }
        let scopes = old.scopes().to_column();
        let rate_limit = old.rate_limit().map(|l| l.to_string());
        let remaining_uses = M::load_remaining_uses(conn, old.prefix())?;
        let uses_refill = old.uses_refill().map(|r| r.to_string());
        let row = NewKeyRow {
            prefix: &generated.prefix,
            hashed_key: &generated.hashed_key,
            created: now,
            name: old.name(),
            expiry_date: old.expiry_date_naive(),
            rotated_from: Some(old.prefix()),
            scopes: &scopes,
            rate_limit: rate_limit.as_deref(),
            remaining_uses,
            uses_refill: uses_refill.as_deref(),
            uses_refill_period: old.uses_refill_period(),
        };
        let new = M::insert(conn, &row, &old.own_fields())?;
        let changed = if grace.is_zero() {
            M::revoke_by_prefix(conn, old.prefix())?
        } else {
            let stop = now.checked_add_signed(grace).unwrap_or(NaiveDateTime::MAX);
            let stop = old.expiry_date_naive().map_or(stop, |e| e.min(stop));
            M::update_details(conn, old.prefix(), old.name(), Some(stop))?
        };
        if changed == 0 {
            // Revoked by someone else since it was read: undo the insert.
            return Err(DieselError::RollbackTransaction);
        }
        Ok(Rotated::Done(new))
    }

    /// The usable keys now, as a diesel query (the one definition of usable).
    pub fn get_usable_keys(&self) -> M::Query {
        self.usable.get_usable_keys(now())
    }

    /// The usable key matching `key`.
    ///
    /// An unknown prefix, a wrong secret, a revoked and an expired key are one
    /// error, [`Error::InvalidKey`]; a store that cannot be reached is
    /// [`Error::Unavailable`]. A legacy hash that verifies is rewritten in the
    /// preferred format (only `hashed_key` changes).
    pub fn get_from_key(&self, key: &str) -> Result<M> {
        if let Some(known) = self.cached(key) {
            return known;
        }
        let prefix = split_prefix(key);
        // The epochs before the query: if anything is invalidated while the
        // query runs, its result is not answered from the cache afterwards.
        let ticket = self.cache.as_ref().map(|c| c.ticket());
        let found = self.lookup(key, prefix, ticket);
        if let Some(cache) = &self.cache {
            if cache.wants_prefixes() && !found.as_ref().is_err_and(Error::is_unavailable) {
                // Any error is logged by the cache; the lookup's answer stands.
                let _ = self.db.run(|conn| {
                    cache.load_prefixes(conn);
                    Ok(())
                });
            }
        }
        let model = found?;
        if let Some(hook) = &self.after_query {
            hook();
        }
        if let (Some(cache), Some(ticket)) = (&self.cache, ticket) {
            cache.insert_row(ticket, &model, Some(key));
        }
        self.used(model.prefix());
        Ok(model)
    }

    fn lookup(&self, key: &str, prefix: &str, ticket: Option<Ticket>) -> Result<M> {
        let now = now();
        let found = self
            .db
            .run(|conn| self.usable.find_usable(conn, now, prefix))?;
        let Some(model) = found else {
            // No usable key has this prefix: remember it, so that a flood of
            // the same never-issued (or revoked) key costs no query.
            if let (Some(cache), Some(ticket)) = (&self.cache, ticket) {
                cache.insert_absent(ticket, prefix);
            }
            return Err(Error::InvalidKey);
        };
        match self.verify(key, model.hashed_key())? {
            Verification::Invalid => {
                // The row is usable; only the secret was wrong: cache the
                // row, so that further guesses are refused from memory.
                if let (Some(cache), Some(ticket)) = (&self.cache, ticket) {
                    cache.insert_row(ticket, &model, None);
                }
                Err(Error::InvalidKey)
            }
            Verification::Valid => Ok(model),
            Verification::ValidOutdated => {
                let new_hash = self.generator.hash(key);
                let upgraded = self.db.run(|conn| {
                    M::replace_hashed_key(conn, model.prefix(), model.hashed_key(), &new_hash)
                });
                match upgraded {
                    Ok(_) => {
                        // Reload, through the usable-keys query (narrowing
                        // included), so the caller sees the row as stored now
                        // and a key that stopped being usable meanwhile is refused.
                        let now = crate::model::now();
                        self.db
                            .run(|conn| self.usable.find_usable(conn, now, model.prefix()))?
                            .ok_or(Error::InvalidKey)
                    }
                    Err(e) => {
                        log::warn!(
                            "api key {}: could not upgrade its legacy hash: {e}",
                            model.prefix()
                        );
                        Ok(model)
                    }
                }
            }
        }
    }

    /// Checks `key` against a stored hash: directly for the fast format,
    /// within the [`LegacyLimits`] for anything else (PBKDF2).
    fn verify(&self, key: &str, hashed_key: &str) -> Result<Verification> {
        if crate::hashers::is_preferred(hashed_key) {
            return Ok(self.generator.verify(key, hashed_key));
        }
        let mut found = Verification::Invalid;
        let matched = self.legacy.check(hashed_key, key, || {
            found = self.generator.verify(key, hashed_key);
            found.is_valid()
        })?;
        Ok(if matched {
            found
        } else {
            Verification::Invalid
        })
    }

    /// True when `key` is usable. `Err` only when the store cannot be reached.
    pub fn is_valid(&self, key: &str) -> Result<bool> {
        match self.get_from_key(key) {
            Ok(_) => Ok(true),
            Err(Error::InvalidKey) => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// The key with this prefix, whatever its state.
    pub fn find_by_prefix(&self, prefix: &str) -> Result<Option<M>> {
        self.db.run(|conn| M::find_by_prefix(conn, prefix))
    }

    /// Revokes the key with this prefix and returns it. Revoking a revoked key
    /// is not an error; revocation cannot be undone.
    pub fn revoke(&self, prefix: &str) -> Result<M> {
        let changed = self.db.run(|conn| M::revoke_by_prefix(conn, prefix));
        // After the write (committed or not): a lookup that read the row
        // before it holds an older ticket, so its result is never answered.
        self.invalidate_cache();
        let changed = changed?;
        if changed == 0 {
            return Err(Error::NotFound(prefix.to_owned()));
        }
        self.find_by_prefix(prefix)?
            .ok_or_else(|| Error::NotFound(prefix.to_owned()))
    }

    /// Changes the name and expiry of a key that is not revoked.
    pub fn update(
        &self,
        prefix: &str,
        name: &str,
        expiry_date: Option<DateTime<Utc>>,
    ) -> Result<M> {
        validate_name(name)?;
        validate_expiry_date(expiry_date)?;
        let expiry = expiry_date.map(|t| truncate_micros(t.naive_utc()));
        let changed = self
            .db
            .run(|conn| M::update_details(conn, prefix, name, expiry));
        self.invalidate_cache();
        let changed = changed?;
        let current = self
            .find_by_prefix(prefix)?
            .ok_or_else(|| Error::NotFound(prefix.to_owned()))?;
        if changed == 0 {
            return Err(Error::validation(
                "revoked",
                "a revoked key cannot be edited",
            ));
        }
        Ok(current)
    }

    /// Replaces the scopes of a key that is not revoked (the model must
    /// store scopes: [`AbstractApiKey::HAS_SCOPES`]). Takes effect at once
    /// through this manager and its clones, and as any write elsewhere.
    pub fn set_scopes(&self, prefix: &str, scopes: &Scopes) -> Result<M> {
        if !M::HAS_SCOPES {
            return Err(Error::validation(
                "scopes",
                format!("{} has no scopes column", M::TABLE_NAME),
            ));
        }
        let text = scopes.to_column();
        let changed = self.db.run(|conn| M::update_scopes(conn, prefix, &text));
        self.invalidate_cache();
        let changed = changed?;
        let current = self
            .find_by_prefix(prefix)?
            .ok_or_else(|| Error::NotFound(prefix.to_owned()))?;
        if changed == 0 {
            return Err(Error::validation(
                "revoked",
                "a revoked key cannot be edited",
            ));
        }
        Ok(current)
    }

    /// Sets or clears the own rate limit of a key that is not revoked (the
    /// model must store one: [`AbstractApiKey::HAS_RATE_LIMIT`]). Takes
    /// effect at once through this manager and its clones, and as any write
    /// elsewhere.
    pub fn set_rate_limit(&self, prefix: &str, limit: Option<RateLimit>) -> Result<M> {
        check_limits::<M>(limit, None)?;
        if !M::HAS_RATE_LIMIT {
            return Err(Error::validation(
                "rate_limit",
                format!("{} has no rate_limit column", M::TABLE_NAME),
            ));
        }
        let text = limit.map(|l| l.to_string());
        let changed = self
            .db
            .run(|conn| M::update_rate_limit(conn, prefix, text.as_deref()));
        self.after_edit(prefix, changed)
    }

    /// Sets (0 to [`crate::limits::MAX_USES`]) or clears (unlimited) the
    /// remaining uses of a key that is not revoked (the model must store
    /// them: [`AbstractApiKey::HAS_QUOTA`]).
    pub fn set_remaining_uses(&self, prefix: &str, uses: Option<i64>) -> Result<M> {
        check_limits::<M>(None, uses)?;
        if !M::HAS_QUOTA {
            return Err(Error::validation(
                "remaining_uses",
                format!("{} has no remaining_uses column", M::TABLE_NAME),
            ));
        }
        let changed = self
            .db
            .run(|conn| M::update_remaining_uses(conn, prefix, uses));
        self.after_edit(prefix, changed)
    }

    /// Sets or clears the daily or monthly refill of a key's quota (the
    /// model must store it: [`AbstractApiKey::HAS_REFILL`]). The remaining
    /// uses do not change now: the first refill is at the first use in the
    /// next period (UTC day or month).
    pub fn set_uses_refill(&self, prefix: &str, refill: Option<Refill>) -> Result<M> {
        if !M::HAS_REFILL {
            return Err(Error::validation(
                "uses_refill",
                format!("{} has no uses_refill columns", M::TABLE_NAME),
            ));
        }
        let text = refill.map(|r| r.to_string());
        let period = refill.map(|r| r.period_index(now()));
        let changed = self
            .db
            .run(|conn| M::update_uses_refill(conn, prefix, text.as_deref(), period));
        self.after_edit(prefix, changed)
    }

    fn after_edit(&self, prefix: &str, changed: Result<usize>) -> Result<M> {
        self.invalidate_cache();
        let changed = changed?;
        let current = self
            .find_by_prefix(prefix)?
            .ok_or_else(|| Error::NotFound(prefix.to_owned()))?;
        if changed == 0 {
            return Err(Error::validation(
                "revoked",
                "a revoked key cannot be edited",
            ));
        }
        Ok(current)
    }

    /// Takes one use of `key`'s quota, atomically in the database: never
    /// below zero, whatever the number of servers and clients at once.
    /// A key without a quota (`remaining_uses()` is `None`, or a model
    /// without the column) is [`QuotaUse::Unlimited`] and costs no query.
    /// A key with a refill ([`AbstractApiKey::uses_refill`]) is first
    /// refilled, in the same transaction, when the quota was not yet
    /// refilled for the current UTC day or month.
    ///
    /// `key` is the verified row (it may come from the cache: only whether
    /// it has a quota is read from it; the count is the database's). The
    /// write is quiet: no verification cache revalidates for it (on
    /// PostgreSQL the change trigger skips it; on SQLite it runs on this
    /// manager's cache feed connection, and falls back to a pooled one,
    /// noisily, when that finds the database locked). A feed that does not
    /// run it within 5 s is [`Error::Unavailable`], and then it never runs.
    pub fn use_quota(&self, key: &M) -> Result<QuotaUse> {
        self.__use_quota_at(key, now())
    }

    /// [`Self::use_quota`] as if it were `at` (the refill's period); for
    /// tests.
    #[doc(hidden)]
    pub fn __use_quota_at(&self, key: &M, at: NaiveDateTime) -> Result<QuotaUse> {
        if !M::HAS_QUOTA || key.remaining_uses().is_none() {
            return Ok(QuotaUse::Unlimited);
        }
        let prefix = key.prefix().to_owned();
        let refill = key
            .uses_refill()
            .filter(|_| M::HAS_REFILL)
            .map(|r| (r.uses(), r.period_index(at)));
        self.quiet_write(move |conn| {
            // The first use in a new period refills, once across servers.
            if let Some((uses, period)) = refill {
                M::refill_uses(conn, &prefix, uses, period)?;
            }
            if M::take_use(conn, &prefix)? == 0 {
                return Ok(QuotaUse::Exhausted);
            }
            Ok(match M::load_remaining_uses(conn, &prefix)? {
                Some(remaining) => QuotaUse::Used { remaining },
                None => QuotaUse::Unlimited,
            })
        })
    }

    /// Runs a bookkeeping write that no cached key depends on (a quota
    /// use) in one transaction, so that it does not make the verification
    /// caches revalidate:
    ///
    /// - PostgreSQL: marked quiet for the key tables' change trigger
    ///   (`SET LOCAL apikey.quiet_write = 'on'`).
    /// - SQLite with a live cache: on the cache's change-feed connection,
    ///   whose `data_version` does not move for its own commits (the
    ///   caller waits for it, at most [`QUIET_WRITE_WAIT`]). When that
    ///   connection finds the database locked, the write runs on a pooled
    ///   connection instead (once: it is a transaction, nothing was
    ///   written), and this process's cache revalidates.
    fn quiet_write<T, F>(&self, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: Fn(&mut DbConnection) -> QueryResult<T> + Send + Sync + 'static,
    {
        let f = Arc::new(f);
        let feed = self
            .cache
            .as_ref()
            .and_then(|c| c.quiet_feed())
            .filter(|feed| feed.is_live());
        if let Some(feed) = feed {
            let job_f = Arc::clone(&f);
            let run = feed.run_on_feed(QUIET_WRITE_WAIT, move |conn: &mut DbConnection| {
                diesel::Connection::transaction(conn, |conn| job_f(conn))
            });
            match run {
                FeedRun::Done(Ok(value)) => return Ok(value),
                // Locked: nothing was written; a pooled connection waits longer.
                FeedRun::Done(Err(e)) if is_locked(&e) => {}
                FeedRun::Done(Err(e)) => return Err(e.into()),
                FeedRun::GaveUp => {
                    return Err(Error::Unavailable(
                        "the cache's change feed did not run a quota write in time".into(),
                    ))
                }
                FeedRun::Stopped => {
                    return Err(Error::Unavailable(
                        "the cache's change feed stopped during a quota write".into(),
                    ))
                }
            }
        }
        let postgres = self.db.backend() == BackendKind::Postgres;
        self.db.run(|conn| {
            diesel::Connection::transaction(conn, |conn| {
                if postgres {
                    use diesel::RunQueryDsl;
                    diesel::sql_query("SET LOCAL apikey.quiet_write = 'on'").execute(conn)?;
                }
                f(conn)
            })
        })
    }

    fn invalidate_cache(&self) {
        if let Some(cache) = &self.cache {
            cache.invalidate();
        }
    }

    /// The keys matching `filter`, newest first.
    pub fn list(&self, filter: &KeyFilter) -> Result<Vec<M>> {
        self.db.run(|conn| M::list(conn, filter))
    }

    /// How many keys match `filter`.
    pub fn count(&self, filter: &KeyFilter) -> Result<i64> {
        self.db.run(|conn| M::count(conn, filter))
    }
}
