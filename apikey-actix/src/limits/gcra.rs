//! The generic cell rate algorithm (GCRA) both stores run, and the
//! in-process store.
//!
//! One number per key, its theoretical arrival time (TAT), in microseconds.
//! A limit of N per period has an emission interval `T = period / N` and a
//! window `T * N`; a request at `now` is allowed when
//! `max(TAT, now) + T - now <= T * N`, and then moves the TAT to
//! `max(TAT, now) + T`. So N requests pass at once from an idle key (the
//! burst), then one per `T`; a refused request changes nothing. The Redis
//! store runs the same arithmetic in a server-side script
//! ([`super::redis`]). Written here rather than taken from `governor`: the
//! two stores must agree to the microsecond, a key's limit is its own (not
//! one quota per limiter), and the `RateLimit-*` fields need the TAT.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Mutex;
use std::time::Instant;

use apikey_core::RateLimit;

/// A limit's two numbers, in microseconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Params {
    /// The emission interval `T` (at least 1).
    pub(crate) interval: u64,
    /// `T * N`: how far ahead of now the TAT may run.
    pub(crate) window: u64,
}

impl Params {
    pub(crate) fn of(limit: RateLimit) -> Self {
        let period = limit.period().duration().as_micros() as u64;
        let interval = (period / u64::from(limit.count())).max(1);
        Params {
            interval,
            window: interval.saturating_mul(u64::from(limit.count())),
        }
    }
}

/// What a store decided for one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Outcome {
    /// Whether the request may go on.
    pub(crate) allowed: bool,
    /// How far the key's TAT is ahead of now after the decision, in
    /// microseconds (0: idle, the whole burst available).
    pub(crate) ahead: u64,
}

/// One GCRA step: the outcome, and the new TAT when allowed.
pub(crate) fn step(tat: Option<u64>, now: u64, p: Params) -> (Outcome, Option<u64>) {
    let tat = tat.unwrap_or(now).max(now);
    let new_tat = tat.saturating_add(p.interval);
    if new_tat - now > p.window {
        (
            Outcome {
                allowed: false,
                ahead: tat - now,
            },
            None,
        )
    } else {
        (
            Outcome {
                allowed: true,
                ahead: new_tat - now,
            },
            Some(new_tat),
        )
    }
}

/// The `RateLimit-*` numbers of an outcome.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Numbers {
    /// `RateLimit-Limit`: N.
    pub(crate) limit: u32,
    /// `RateLimit-Remaining`: requests that would pass right now.
    pub(crate) remaining: u64,
    /// `RateLimit-Reset`: seconds until the whole burst is back.
    pub(crate) reset: u64,
    /// `Retry-After` of a refusal: seconds until one request passes
    /// (at least 1).
    pub(crate) retry_after: u64,
}

fn ceil_seconds(micros: u64) -> u64 {
    micros.div_ceil(1_000_000)
}

impl Outcome {
    pub(crate) fn numbers(self, limit: RateLimit) -> Numbers {
        let p = Params::of(limit);
        let remaining = p.window.saturating_sub(self.ahead) / p.interval;
        let retry_after = if self.allowed {
            0
        } else {
            ceil_seconds((self.ahead + p.interval).saturating_sub(p.window)).max(1)
        };
        Numbers {
            limit: limit.count(),
            remaining: remaining.min(u64::from(limit.count())),
            reset: ceil_seconds(self.ahead),
            retry_after,
        }
    }
}

const SHARDS: usize = 16;
/// Every this many checks a shard drops the keys that are idle again.
const SWEEP_EVERY: u32 = 4096;

/// The in-process store: one TAT per key in memory, in shards behind
/// mutexes; keys whose TAT has passed (idle: a fresh burst) are dropped
/// now and then, so memory follows the keys active within their period.
#[derive(Debug)]
pub(crate) struct InProcess {
    start: Instant,
    shards: Box<[Shard]>,
}

#[derive(Debug, Default)]
struct Shard {
    tats: Mutex<HashMap<Box<str>, u64>>,
    checks: AtomicU32,
}

impl InProcess {
    pub(crate) fn new() -> Self {
        InProcess {
            start: Instant::now(),
            shards: (0..SHARDS).map(|_| Shard::default()).collect(),
        }
    }

    /// Microseconds since the store was made (a stored TAT is at least
    /// one interval past some `now`, so never 0).
    fn now(&self) -> u64 {
        u64::try_from(self.start.elapsed().as_micros()).unwrap_or(u64::MAX)
    }

    /// One check of `id` (`<table>:<prefix>`) against `limit`.
    pub(crate) fn check(&self, id: &str, limit: RateLimit) -> Outcome {
        let p = Params::of(limit);
        let shard = &self.shards[shard_of(id)];
        let now = self.now();
        let sweep = shard.checks.fetch_add(1, Ordering::Relaxed) % SWEEP_EVERY == SWEEP_EVERY - 1;
        // A poisoned lock only means another thread panicked mid-update of
        // a number: the map itself is still sound.
        let mut tats = shard.tats.lock().unwrap_or_else(|e| e.into_inner());
        if sweep {
            tats.retain(|_, tat| *tat > now);
        }
        let (outcome, new_tat) = step(tats.get(id).copied(), now, p);
        if let Some(t) = new_tat {
            match tats.get_mut(id) {
                Some(slot) => *slot = t,
                None => {
                    tats.insert(id.into(), t);
                }
            }
        }
        outcome
    }

    /// How many keys are held (tests).
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.shards
            .iter()
            .map(|s| s.tats.lock().map(|t| t.len()).unwrap_or(0))
            .sum()
    }
}

fn shard_of(id: &str) -> usize {
    // FNV-1a: cheap, and the prefixes are random already.
    let mut h: u32 = 0x811c_9dc5;
    for b in id.bytes() {
        h = (h ^ u32::from(b)).wrapping_mul(0x0100_0193);
    }
    h as usize % SHARDS
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limit(text: &str) -> RateLimit {
        text.parse().expect("valid")
    }

    /// Runs `times` (microseconds) through one key: which were allowed.
    fn run(l: RateLimit, times: &[u64]) -> Vec<bool> {
        let p = Params::of(l);
        let mut tat = None;
        times
            .iter()
            .map(|&now| {
                let (o, new) = step(tat, now, p);
                if new.is_some() {
                    tat = new;
                }
                o.allowed
            })
            .collect()
    }

    #[test]
    fn a_burst_of_n_then_one_per_interval() {
        let l = limit("5/s");
        let at_once = run(l, &[1_000_000; 8]);
        assert_eq!(at_once, [true, true, true, true, true, false, false, false]);
        // 5/s: one more every 200 ms after the burst, not before.
        let mut times = vec![1_000_000; 5];
        times.extend([1_199_999, 1_200_000, 1_200_001, 1_400_000]);
        assert_eq!(
            run(l, &times),
            [true, true, true, true, true, false, true, false, true]
        );
        // Idle for a period: the whole burst is back.
        let mut times = vec![1_000_000; 5];
        times.extend([2_000_000; 6]);
        let allowed = run(l, &times).iter().filter(|a| **a).count();
        assert_eq!(allowed, 10);
    }

    #[test]
    fn numbers() {
        let l = limit("10/min");
        let p = Params::of(l);
        let (first, _) = step(None, 1, p);
        assert_eq!(
            first.numbers(l),
            Numbers {
                limit: 10,
                remaining: 9,
                reset: 6,
                retry_after: 0
            }
        );
        let refused = Outcome {
            allowed: false,
            ahead: p.window,
        };
        let n = refused.numbers(l);
        assert_eq!((n.remaining, n.reset, n.retry_after), (0, 60, 6));
        // A huge count: an interval of at least 1 µs, a window of N of them.
        let big = limit("1000000000/s");
        assert_eq!(Params::of(big).interval, 1);
        assert_eq!(Params::of(big).window, 1_000_000_000);
    }

    #[test]
    fn store_counts_per_key_and_forgets_idle_keys() {
        let store = InProcess::new();
        let l = limit("3/h");
        let a: Vec<bool> = (0..5).map(|_| store.check("t:a", l).allowed).collect();
        assert_eq!(a, [true, true, true, false, false]);
        assert!(store.check("t:b", l).allowed, "another key: its own budget");
        assert_eq!(store.len(), 2);
    }

    #[test]
    fn the_store_refills_with_time() {
        // 1000/s: one more every millisecond once the burst is spent.
        let store = InProcess::new();
        let l = limit("1000/s");
        let spent = (0..1000).all(|_| store.check("t:a", l).allowed);
        assert!(spent, "the burst");
        let late = (0..5).any(|_| store.check("t:a", l).allowed);
        // (Five checks take far less than the millisecond that refills one.)
        assert!(!late, "over the limit at once");
        std::thread::sleep(std::time::Duration::from_millis(20));
        assert!(store.check("t:a", l).allowed, "refilled after 20 intervals");
    }

    #[test]
    fn idle_keys_are_dropped_every_sweep_every_checks() {
        let store = InProcess::new();
        // Its budget is back after 1 ms: idle after the sleep below.
        store.check("t:idle", limit("1000/s"));
        let busy = (0..)
            .map(|i| format!("t:busy{i}"))
            .find(|id| shard_of(id) == shard_of("t:idle"))
            .expect("a key of the same shard");
        std::thread::sleep(std::time::Duration::from_millis(5));
        // 5000/h: every check below allowed, its TAT hours ahead.
        let l = limit("5000/h");
        for _ in 1..SWEEP_EVERY - 1 {
            assert!(store.check(&busy, l).allowed);
        }
        assert_eq!(store.len(), 2, "no sweep before the {SWEEP_EVERY}th check");
        assert!(store.check(&busy, l).allowed);
        assert_eq!(store.len(), 1, "the idle key dropped, the busy one kept");
        assert_eq!(
            store.check(&busy, l).numbers(l).remaining,
            u64::from(5000 - SWEEP_EVERY),
            "the busy key's count kept"
        );
    }

    #[test]
    fn keys_spread_over_the_shards() {
        let mut per_shard = [0usize; SHARDS];
        for i in 0..1600 {
            per_shard[shard_of(&format!("api_keys:{i:08}"))] += 1;
        }
        // 100 each on average: none empty, none more than twice that.
        assert!(
            per_shard.iter().all(|&n| (1..=200).contains(&n)),
            "{per_shard:?}"
        );
    }
}
