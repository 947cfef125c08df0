//! Bounds on verifying legacy (PBKDF2) hashes, so that wrong guesses at a
//! legacy key cannot starve the server.
//!
//! A `pbkdf2_sha256` hash written by Django costs up to a million rounds of
//! HMAC (a few hundred milliseconds of CPU) per check, and without a bound a
//! flood of wrong secrets at the prefix of such a key keeps every core busy.
//! The manager checks such hashes within its [`LegacyLimits`], which
//!
//! - remembers failed checks, by a digest of the stored hash and of the
//!   presented key: the same wrong key against the same stored hash is
//!   refused from memory, so repeating a wrong guess costs one PBKDF2, not
//!   one per request. A *different* key for the same prefix (the right one,
//!   right after a wrong one) is still checked;
//! - runs at most `max_concurrent` checks at once; the others wait their
//!   turn (each on its blocking thread), first come first served, for at
//!   most `max_wait`; a check that finds `max_waiting` others waiting, or
//!   that waited too long, is refused with [`crate::Error::Busy`] (an HTTP
//!   layer answers 503 with `Retry-After`; never a grant).
//!
//! What it cannot do is tell the owner's first request with the right key
//! from a wrong guess before checking it: under a flood of *distinct* wrong
//! secrets at a legacy key's prefix, that request waits behind the guesses
//! already queued (it is checked when the queue has room for it and its
//! turn comes within `max_wait`), while every other key is answered as
//! usual. Once checked, the key is rewritten in the fast format.
//!
//! The iteration count itself is capped by
//! [`crate::hashers::MAX_PBKDF2_ITERATIONS`]. Once a legacy hash has
//! verified, the manager rewrites it in the fast `sha512$$` format, and the
//! guard is out of the way for that key.

use std::collections::VecDeque;
use std::fmt;
use std::sync::{Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};

use crate::error::{Error, Result};

/// How a manager bounds legacy (PBKDF2) verifications (see the
/// [module docs](self)).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LegacyLimits {
    max_concurrent: usize,
    max_waiting: usize,
    max_wait: Duration,
    remembered_failures: usize,
}

impl Default for LegacyLimits {
    /// One check at a time on up to 7 cores, a quarter of the cores above;
    /// at most 64 waiting, each for 20 s at most (32 checks of a
    /// million-iteration hash take about 10 s on one core); 10,000
    /// remembered failures.
    fn default() -> Self {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        LegacyLimits {
            max_concurrent: (cores / 4).max(1),
            max_waiting: 64,
            max_wait: Duration::from_secs(20),
            remembered_failures: 10_000,
        }
    }
}

impl LegacyLimits {
    /// At most `n` legacy hashes are checked at once (at least 1).
    pub fn max_concurrent(mut self, n: usize) -> Self {
        self.max_concurrent = n.max(1);
        self
    }

    /// How many checks may wait for their turn (each holds a blocking
    /// thread while it waits); more are refused at once with
    /// [`Error::Busy`].
    pub fn max_waiting(mut self, n: usize) -> Self {
        self.max_waiting = n;
        self
    }

    /// How long a check waits for its turn before it is refused with
    /// [`Error::Busy`] (zero: refused at once when all slots are taken).
    pub fn max_wait(mut self, wait: Duration) -> Self {
        self.max_wait = wait;
        self
    }

    /// How many failed checks are remembered (at least 1; the least used
    /// are forgotten first).
    pub fn remembered_failures(mut self, n: usize) -> Self {
        self.remembered_failures = n.max(1);
        self
    }
}

#[derive(Debug, Default)]
struct Slots {
    running: usize,
    /// Tickets of the checks waiting, oldest first.
    waiting: VecDeque<u64>,
    next_ticket: u64,
}

/// Runs legacy checks within [`LegacyLimits`].
pub(crate) struct LegacyGuard {
    limits: LegacyLimits,
    slots: Mutex<Slots>,
    turn: Condvar,
    failures: quick_cache::sync::Cache<[u8; 32], ()>,
}

impl fmt::Debug for LegacyGuard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LegacyGuard")
            .field("limits", &self.limits)
            .field("remembered", &self.failures.len())
            .finish()
    }
}

/// A digest of a (stored hash, presented key) pair; the key is not kept.
fn attempt_digest(hashed_key: &str, key: &str) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(b"apikey-legacy-failure\0");
    h.update(hashed_key.as_bytes());
    h.update([0u8]);
    h.update(key.as_bytes());
    h.finalize().into()
}

impl LegacyGuard {
    pub(crate) fn new(limits: LegacyLimits) -> Self {
        LegacyGuard {
            limits,
            slots: Mutex::new(Slots::default()),
            turn: Condvar::new(),
            failures: quick_cache::sync::Cache::new(limits.remembered_failures),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Slots> {
        // The state stays consistent whatever panicked while holding it.
        self.slots
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Runs `check` (true: the key matches `hashed_key`) within the limits:
    /// `Ok(false)` at once for a key already known wrong for this hash,
    /// [`Error::Busy`] when no slot frees up in time.
    pub(crate) fn check(
        &self,
        hashed_key: &str,
        key: &str,
        check: impl FnOnce() -> bool,
    ) -> Result<bool> {
        let attempt = attempt_digest(hashed_key, key);
        if self.failures.get(&attempt).is_some() {
            return Ok(false);
        }
        let _slot = self.acquire()?;
        // Someone else may have found it wrong while this one waited.
        if self.failures.get(&attempt).is_some() {
            return Ok(false);
        }
        let ok = check();
        if !ok {
            self.failures.insert(attempt, ());
        }
        Ok(ok)
    }

    fn acquire(&self) -> Result<Slot<'_>> {
        let mut slots = self.lock();
        let busy = || Error::Busy("too many legacy (pbkdf2) key checks at once".into());
        if slots.running >= self.limits.max_concurrent
            && slots.waiting.len() >= self.limits.max_waiting
        {
            return Err(busy());
        }
        let ticket = slots.next_ticket;
        slots.next_ticket += 1;
        slots.waiting.push_back(ticket);
        let deadline = Instant::now() + self.limits.max_wait;
        loop {
            if slots.waiting.front() == Some(&ticket) && slots.running < self.limits.max_concurrent
            {
                slots.waiting.pop_front();
                slots.running += 1;
                // The next in line may have a slot too.
                self.turn.notify_all();
                return Ok(Slot { guard: self });
            }
            let now = Instant::now();
            if now >= deadline {
                slots.waiting.retain(|&t| t != ticket);
                self.turn.notify_all();
                return Err(busy());
            }
            slots = self
                .turn
                .wait_timeout(slots, deadline - now)
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .0;
        }
    }

    /// How many checks run now and how many wait (for tests).
    #[cfg(test)]
    fn load(&self) -> (usize, usize) {
        let slots = self.lock();
        (slots.running, slots.waiting.len())
    }
}

struct Slot<'a> {
    guard: &'a LegacyGuard,
}

impl Drop for Slot<'_> {
    fn drop(&mut self) {
        let mut slots = self.guard.lock();
        slots.running -= 1;
        drop(slots);
        self.guard.turn.notify_all();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::{mpsc, Arc};

    #[test]
    fn limits_are_what_the_builder_says() {
        let limits = LegacyLimits::default()
            .max_concurrent(3)
            .max_waiting(5)
            .max_wait(Duration::from_secs(7))
            .remembered_failures(9);
        assert_eq!(
            limits,
            LegacyLimits {
                max_concurrent: 3,
                max_waiting: 5,
                max_wait: Duration::from_secs(7),
                remembered_failures: 9,
            }
        );
        let floors = LegacyLimits::default()
            .max_concurrent(0)
            .remembered_failures(0);
        assert_eq!((floors.max_concurrent, floors.remembered_failures), (1, 1));
        let shown = format!("{:?}", LegacyGuard::new(limits));
        assert!(shown.contains("max_concurrent: 3"), "{shown}");
        assert!(shown.contains("remembered: 0"), "{shown}");
    }

    #[test]
    fn two_checks_at_once_when_two_are_allowed() {
        let guard = Arc::new(LegacyGuard::new(
            LegacyLimits::default()
                .max_concurrent(2)
                .max_wait(Duration::ZERO),
        ));
        let (entered_tx, entered_rx) = mpsc::channel();
        let (release_tx, release_rx) = mpsc::channel::<()>();
        let release_rx = Arc::new(Mutex::new(release_rx));
        let holders: Vec<_> = (0..2)
            .map(|i| {
                let (guard, entered_tx, release_rx) = (
                    Arc::clone(&guard),
                    entered_tx.clone(),
                    Arc::clone(&release_rx),
                );
                std::thread::spawn(move || {
                    guard.check("h", &format!("k{i}"), || {
                        entered_tx.send(()).expect("send");
                        release_rx.lock().expect("lock").recv().is_ok()
                    })
                })
            })
            .collect();
        let entered = || entered_rx.recv_timeout(Duration::from_secs(30));
        entered().expect("one runs");
        entered().expect("and the other at the same time");
        assert_eq!(guard.load(), (2, 0));
        assert!(matches!(
            guard.check("h", "k3", || true),
            Err(Error::Busy(_))
        ));
        for _ in 0..2 {
            release_tx.send(()).expect("release");
        }
        for h in holders {
            assert!(h.join().expect("join").expect("ran"));
        }
    }

    #[test]
    fn a_wrong_key_is_checked_once_per_stored_hash() {
        let guard = LegacyGuard::new(LegacyLimits::default());
        let runs = AtomicUsize::new(0);
        let wrong = || {
            runs.fetch_add(1, Ordering::SeqCst);
            false
        };
        for _ in 0..5 {
            assert!(!guard
                .check("pbkdf2_sha256$1$s$h", "p.wrong", wrong)
                .expect("ok"));
        }
        assert_eq!(runs.load(Ordering::SeqCst), 1);
        // Another key for the same hash (the right one after a wrong one)
        // is checked, and so is the same key against another stored hash.
        assert!(guard
            .check("pbkdf2_sha256$1$s$h", "p.right", || true)
            .expect("ok"));
        assert!(!guard
            .check("pbkdf2_sha256$1$t$h", "p.wrong", wrong)
            .expect("ok"));
        assert_eq!(runs.load(Ordering::SeqCst), 2);
    }

    #[test]
    fn beyond_the_limit_checks_wait_then_are_refused_never_granted() {
        let guard = Arc::new(LegacyGuard::new(
            LegacyLimits::default()
                .max_concurrent(1)
                .max_wait(Duration::ZERO),
        ));
        let (entered_tx, entered_rx) = mpsc::channel();
        let (release_tx, release_rx) = mpsc::channel::<()>();
        let holder = {
            let guard = Arc::clone(&guard);
            std::thread::spawn(move || {
                guard.check("h", "k1", || {
                    entered_tx.send(()).expect("send");
                    release_rx.recv().is_ok()
                })
            })
        };
        entered_rx.recv().expect("the first check runs");
        assert_eq!(guard.load(), (1, 0));
        let refused = guard.check("h", "k2", || true);
        let full = LegacyGuard::new(LegacyLimits::default().max_concurrent(1).max_waiting(0));
        let _slot = full.acquire().expect("free");
        assert!(matches!(full.check("h", "k", || true), Err(Error::Busy(_))));
        assert!(matches!(refused, Err(Error::Busy(_))), "{refused:?}");
        assert!(refused.expect_err("busy").is_unavailable());
        release_tx.send(()).expect("release");
        assert!(holder.join().expect("join").expect("ran"));
        assert_eq!(guard.load(), (0, 0));
        assert!(guard.check("h", "k2", || true).expect("a free slot"));
    }

    #[test]
    fn waiting_checks_run_in_arrival_order() {
        let guard = Arc::new(LegacyGuard::new(
            LegacyLimits::default()
                .max_concurrent(1)
                .max_wait(Duration::from_secs(30)),
        ));
        let (release_tx, release_rx) = mpsc::channel::<()>();
        let (entered_tx, entered_rx) = mpsc::channel();
        let order = Arc::new(Mutex::new(Vec::new()));
        let holder = {
            let guard = Arc::clone(&guard);
            std::thread::spawn(move || {
                guard.check("h", "first", || {
                    entered_tx.send(()).expect("send");
                    release_rx.recv().is_ok()
                })
            })
        };
        entered_rx.recv().expect("first runs");
        let mut waiters = Vec::new();
        for i in 0..4 {
            let (g, order) = (Arc::clone(&guard), Arc::clone(&order));
            waiters.push(std::thread::spawn(move || {
                g.check("h", &format!("k{i}"), || {
                    order.lock().expect("order").push(i);
                    true
                })
            }));
            // Each waiter queues before the next one starts.
            while guard.load().1 != i + 1 {
                std::thread::yield_now();
            }
        }
        release_tx.send(()).expect("release");
        assert!(holder.join().expect("join").expect("ran"));
        for w in waiters {
            assert!(w.join().expect("join").expect("ran"));
        }
        assert_eq!(*order.lock().expect("order"), [0, 1, 2, 3]);
    }
}
