//! [`RedisStore`]: the rate limit budget of each key in Redis, shared by
//! every server that uses the same Redis (feature `redis`).
//!
//! One round trip per check: a server-side Lua script (loaded once, then
//! called by its SHA-1 with `EVALSHA`) runs the GCRA step of
//! [`super::gcra`] atomically on one string key per API key,
//! `<namespace><table>:<prefix>` (default namespace `apikey:rate:`),
//! holding the TAT in microseconds of Redis' own clock (`TIME`), so the
//! servers' clocks do not matter. The key expires when the budget is whole
//! again: Redis holds only the keys used within their period.
//!
//! The connection is one multiplexed connection per store (the `redis`
//! crate's `ConnectionManager`, shared by every worker and clone; it
//! reconnects by itself), opened at the first check. Each check is bounded
//! by [`RedisStore::timeout`] (default [`DEFAULT_REDIS_TIMEOUT`]); a check
//! that fails or times out is "unavailable", which
//! [`super::KeyLimits::when_unavailable`] turns into a pass (the default)
//! or a 503. While Redis is unreachable, a new connection is tried at most
//! every [`RECONNECT_EVERY`], and checks in between fail at once.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use apikey_core::RateLimit;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};

use super::gcra::{Outcome, Params};

/// How long a check may take, by default, before Redis counts as
/// unavailable for it: 250 ms.
pub const DEFAULT_REDIS_TIMEOUT: Duration = Duration::from_millis(250);

/// After a failed connection, how long checks fail at once before the
/// next attempt.
pub const RECONNECT_EVERY: Duration = Duration::from_secs(1);

/// The GCRA step ([`super::gcra::step`]) in Redis. KEYS[1]: the key's
/// budget; ARGV: interval and window in microseconds. Returns
/// `{allowed (0/1), microseconds the TAT is ahead of now}`.
const GCRA: &str = r"
local interval = tonumber(ARGV[1])
local window = tonumber(ARGV[2])
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local tat = now
local stored = redis.call('GET', KEYS[1])
if stored then
  tat = math.max(tonumber(stored), now)
end
local new_tat = tat + interval
if new_tat - now > window then
  return {0, tat - now}
end
redis.call('SET', KEYS[1], string.format('%d', new_tat), 'PX', math.floor((new_tat - now) / 1000) + 1)
return {1, new_tat - now}
";

/// The Redis budget store of [`super::KeyLimits::redis`].
///
/// ```no_run
/// use apikey_actix::{KeyLimits, RedisStore};
/// use apikey_core::ApiKey;
///
/// let store = RedisStore::new("redis://127.0.0.1:6379/").expect("a redis:// URL");
/// let limits = KeyLimits::<ApiKey>::redis(store);
/// ```
#[derive(Clone)]
pub struct RedisStore {
    client: redis::Client,
    script: Arc<redis::Script>,
    namespace: Arc<str>,
    timeout: Duration,
    state: Arc<Mutex<Connection>>,
}

#[derive(Default)]
enum Connection {
    #[default]
    None,
    Open(ConnectionManager),
    FailedAt(Instant),
}

impl std::fmt::Debug for RedisStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The address without any password.
        let info = self.client.get_connection_info();
        f.debug_struct("RedisStore")
            .field("addr", &info.addr().to_string())
            .field("namespace", &self.namespace)
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

impl RedisStore {
    /// A store for the Redis at `url` (`redis://[:password@]host[:port][/db]`,
    /// or `redis+unix:///path`). Nothing is connected yet: the first check
    /// connects. A malformed URL is an error (its text is not repeated:
    /// it may hold a password).
    pub fn new(url: &str) -> Result<Self, String> {
        let client =
            redis::Client::open(url).map_err(|e| format!("invalid redis url ({:?})", e.kind()))?;
        Ok(RedisStore {
            client,
            script: Arc::new(redis::Script::new(GCRA)),
            namespace: "apikey:rate:".into(),
            timeout: DEFAULT_REDIS_TIMEOUT,
            state: Arc::new(Mutex::new(Connection::None)),
        })
    }

    /// Bounds each check, connecting included (default
    /// [`DEFAULT_REDIS_TIMEOUT`]).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// The prefix of the Redis keys (default `apikey:rate:`), for a Redis
    /// shared with other applications or several key tables' deployments.
    pub fn namespace(mut self, namespace: &str) -> Self {
        self.namespace = namespace.into();
        self
    }

    fn connection(&self) -> Result<ConnectionManager, String> {
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        match &*state {
            Connection::Open(conn) => return Ok(conn.clone()),
            Connection::FailedAt(at) if at.elapsed() < RECONNECT_EVERY => {
                return Err("redis unreachable (next attempt within 1 s)".into());
            }
            _ => {}
        }
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(self.timeout))
            .set_response_timeout(Some(self.timeout))
            .set_number_of_retries(1)
            .set_max_delay(RECONNECT_EVERY);
        match ConnectionManager::new_lazy_with_config(self.client.clone(), config) {
            Ok(conn) => {
                *state = Connection::Open(conn.clone());
                Ok(conn)
            }
            Err(e) => {
                *state = Connection::FailedAt(Instant::now());
                Err(format!("redis connection: {e}"))
            }
        }
    }

    /// One check of `id` against `limit`, bounded by the timeout.
    pub(crate) async fn check(&self, id: &str, limit: RateLimit) -> Result<Outcome, String> {
        let mut conn = self.connection()?;
        let p = Params::of(limit);
        let mut key = String::with_capacity(self.namespace.len() + id.len());
        key.push_str(&self.namespace);
        key.push_str(id);
        let mut call = self.script.prepare_invoke();
        call.key(key).arg(p.interval).arg(p.window);
        let answer =
            actix_web::rt::time::timeout(self.timeout, call.invoke_async::<(i64, i64)>(&mut conn))
                .await;
        match answer {
            Ok(Ok((allowed, ahead))) => Ok(Outcome {
                allowed: allowed == 1,
                ahead: u64::try_from(ahead).unwrap_or(0),
            }),
            Ok(Err(e)) => {
                if e.is_io_error() || e.is_connection_dropped() || e.is_connection_refusal() {
                    // The manager reconnects by itself; the next attempt
                    // waits a little.
                    self.note_failure();
                }
                Err(format!("redis: {e}"))
            }
            Err(_) => {
                self.note_failure();
                Err(format!("redis: no answer within {:?}", self.timeout))
            }
        }
    }

    fn note_failure(&self) {
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        *state = Connection::FailedAt(Instant::now());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A "Redis" that accepts connections and never answers, and how many
    /// it accepted.
    fn silent_server() -> (String, Arc<std::sync::atomic::AtomicUsize>) {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let url = format!("redis://{}", listener.local_addr().expect("addr"));
        let accepted = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let count = Arc::clone(&accepted);
        std::thread::spawn(move || {
            let mut held = Vec::new();
            for conn in listener.incoming().flatten() {
                count.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                held.push(conn);
            }
        });
        (url, accepted)
    }

    #[test]
    fn a_failed_check_makes_the_next_ones_fail_at_once() {
        let (url, accepted) = silent_server();
        let store = RedisStore::new(&url)
            .expect("url")
            .timeout(Duration::from_millis(100));
        let limit: RateLimit = "5/min".parse().expect("limit");
        actix_web::rt::System::new().block_on(async {
            let first = store.check("t:a", limit).await.expect_err("no answer");
            assert!(first.starts_with("redis: "), "{first}");
            // Right after: no new attempt, a clear reason.
            let next = store.check("t:a", limit).await.expect_err("backing off");
            assert_eq!(next, "redis unreachable (next attempt within 1 s)");
        });
        let dialed = accepted.load(std::sync::atomic::Ordering::SeqCst);
        assert!((1..=2).contains(&dialed), "{dialed} connections");
    }

    /// A "Redis" that closes every connection at once (a dropped
    /// connection, not a refused one).
    fn closing_server() -> String {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let url = format!("redis://{}", listener.local_addr().expect("addr"));
        std::thread::spawn(move || {
            for conn in listener.incoming().flatten() {
                drop(conn);
            }
        });
        url
    }

    #[test]
    fn a_dropped_connection_makes_the_next_checks_fail_at_once() {
        let store = RedisStore::new(&closing_server())
            .expect("url")
            .timeout(Duration::from_secs(5));
        let limit: RateLimit = "5/min".parse().expect("limit");
        actix_web::rt::System::new().block_on(async {
            let first = store.check("t:a", limit).await.expect_err("dropped");
            assert!(first.starts_with("redis: "), "{first}");
            let next = store.check("t:a", limit).await.expect_err("backing off");
            assert_eq!(next, "redis unreachable (next attempt within 1 s)");
        });
    }

    #[test]
    fn debug_shows_the_address_not_the_password() {
        let store = RedisStore::new("redis://:hunter2@127.0.0.1:6390/0")
            .expect("url")
            .namespace("app:");
        let shown = format!("{store:?}");
        assert!(shown.starts_with("RedisStore {"), "{shown}");
        assert!(
            shown.contains("127.0.0.1:6390") && shown.contains("app:"),
            "{shown}"
        );
        assert!(!shown.contains("hunter2"), "{shown}");
    }
}
