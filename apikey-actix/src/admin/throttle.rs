//! [`Throttle`]: back-off after failed login attempts, per client address
//! and for the whole server.

use std::collections::HashMap;
use std::fmt;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Back-off after failed attempts (used by [`crate::admin::BasicAuth`]).
///
/// Each client address has a few free failures; after them, each further
/// failure blocks the address for a doubling time (1 s, 2 s, 4 s, ... up to
/// `max_backoff`), during which every attempt from it, right or wrong, is
/// answered 429 with `Retry-After` and not checked. The whole server has the
/// same with a larger allowance, against guesses spread over many
/// addresses. A success resets its address; failures are forgotten after
/// `forget_after` without one. A correct password is therefore never
/// refused for longer than the back-off in force.
///
/// ```text
/// default          per address   server-wide
/// free failures    5             50
/// back-off         1 s, doubling, at most 60 s (both)
/// forgotten after  15 min without a failure (both)
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Throttle {
    per_address: u32,
    global: u32,
    first_backoff: Duration,
    max_backoff: Duration,
    forget_after: Duration,
}

impl Default for Throttle {
    fn default() -> Self {
        Throttle {
            per_address: 5,
            global: 50,
            first_backoff: Duration::from_secs(1),
            max_backoff: Duration::from_secs(60),
            forget_after: Duration::from_secs(15 * 60),
        }
    }
}

impl Throttle {
    /// Failures allowed from one address before the back-off starts.
    pub fn free_failures_per_address(mut self, n: u32) -> Self {
        self.per_address = n;
        self
    }

    /// Failures allowed server-wide before the back-off starts.
    pub fn free_failures_global(mut self, n: u32) -> Self {
        self.global = n;
        self
    }

    /// The first back-off (it doubles with each further failure) and the
    /// longest one.
    pub fn backoff(mut self, first: Duration, max: Duration) -> Self {
        self.first_backoff = first;
        self.max_backoff = max.max(first);
        self
    }

    /// How long after its last failure a count is forgotten.
    pub fn forget_after(mut self, after: Duration) -> Self {
        self.forget_after = after;
        self
    }
}

#[derive(Debug, Clone, Copy)]
struct Count {
    failures: u32,
    last: Instant,
    blocked_until: Option<Instant>,
}

/// The most addresses remembered; older counts are dropped beyond it.
const MAX_ADDRESSES: usize = 100_000;

/// The failure counts of one [`Throttle`], shared by the clones of its
/// owner (every worker).
pub(crate) struct Failures {
    policy: Throttle,
    state: Mutex<(HashMap<IpAddr, Count>, Option<Count>)>,
}

impl fmt::Debug for Failures {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Failures")
            .field("policy", &self.policy)
            .finish_non_exhaustive()
    }
}

/// Seconds to announce in `Retry-After` (rounded up, at least 1).
fn seconds(d: Duration) -> u32 {
    u32::try_from(d.as_millis().div_ceil(1000))
        .unwrap_or(u32::MAX)
        .max(1)
}

impl Failures {
    pub(crate) fn new(policy: Throttle) -> Self {
        Failures {
            policy,
            state: Mutex::new((HashMap::new(), None)),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, (HashMap<IpAddr, Count>, Option<Count>)> {
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// `Some(seconds)` while `addr` (or the server) is backing off.
    pub(crate) fn blocked(&self, addr: Option<IpAddr>) -> Option<u32> {
        let now = Instant::now();
        let state = self.lock();
        let counts = addr
            .and_then(|a| state.0.get(&a))
            .into_iter()
            .chain(&state.1);
        counts
            .filter_map(|c| c.blocked_until)
            .filter(|&until| until > now)
            .map(|until| seconds(until - now))
            .max()
    }

    /// Counts a failure; `Some(seconds)` when it starts a back-off.
    pub(crate) fn failed(&self, addr: Option<IpAddr>) -> Option<u32> {
        let now = Instant::now();
        let policy = self.policy;
        let bump = |count: &mut Option<Count>, free: u32| -> Option<Duration> {
            let c = match count {
                Some(c) if now.duration_since(c.last) < policy.forget_after => c,
                _ => count.insert(Count {
                    failures: 0,
                    last: now,
                    blocked_until: None,
                }),
            };
            c.failures = c.failures.saturating_add(1);
            c.last = now;
            let over = c.failures.checked_sub(free).filter(|&n| n > 0)?;
            let backoff = policy
                .first_backoff
                .saturating_mul(1u32 << (over - 1).min(20))
                .min(policy.max_backoff);
            c.blocked_until = Some(now + backoff);
            Some(backoff)
        };
        let mut state = self.lock();
        let mut longest = None;
        if let Some(addr) = addr {
            if state.0.len() >= MAX_ADDRESSES {
                let forget = policy.forget_after;
                state.0.retain(|_, c| now.duration_since(c.last) < forget);
                if state.0.len() >= MAX_ADDRESSES {
                    state.0.clear();
                }
            }
            let mut count = state.0.get(&addr).copied();
            longest = bump(&mut count, policy.per_address);
            if let Some(count) = count {
                state.0.insert(addr, count);
            }
        }
        let global = bump(&mut state.1, policy.global);
        longest.max(global).map(seconds)
    }

    /// A success from `addr`: its count starts again.
    pub(crate) fn succeeded(&self, addr: Option<IpAddr>) {
        if let Some(addr) = addr {
            self.lock().0.remove(&addr);
        }
    }
}
