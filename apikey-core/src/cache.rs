//! An opt-in, short-lived memory of verified keys ([`crate::BaseApiKeyManager::with_cache`]).
//!
//! Entries are found by prefix (not secret) and hold the SHA-512 digest of
//! the full key, compared in constant time; the plain key is never kept.
//! A hit is only returned while the entry is fresh (younger than the TTL) and
//! the key has not expired by its own `expiry_date`.

use std::collections::HashMap;
use std::fmt;
use std::sync::RwLock;
use std::time::{Duration, Instant};

use sha2::{Digest, Sha512};
use subtle::ConstantTimeEq;

use crate::model::{now, AbstractApiKey};

struct Entry<M> {
    digest: [u8; 64],
    model: M,
    fresh_until: Instant,
}

/// Verified keys of model `M`, remembered for a fixed time.
pub(crate) struct KeyCache<M> {
    ttl: Duration,
    capacity: usize,
    entries: RwLock<HashMap<String, Entry<M>>>,
}

impl<M> fmt::Debug for KeyCache<M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeyCache")
            .field("ttl", &self.ttl)
            .field("capacity", &self.capacity)
            .finish()
    }
}

fn digest(key: &str) -> [u8; 64] {
    Sha512::digest(key.as_bytes()).into()
}

impl<M: AbstractApiKey> KeyCache<M> {
    pub(crate) fn new(ttl: Duration, capacity: usize) -> Self {
        KeyCache {
            ttl,
            capacity: capacity.max(1),
            entries: RwLock::new(HashMap::new()),
        }
    }

    /// The remembered model for this full key, if fresh and not expired.
    pub(crate) fn get(&self, prefix: &str, key: &str) -> Option<M> {
        let entries = self.entries.read().ok()?;
        let entry = entries.get(prefix)?;
        if Instant::now() >= entry.fresh_until {
            return None;
        }
        if !bool::from(entry.digest.ct_eq(&digest(key))) {
            return None;
        }
        if entry.model.has_expired_at(now()) {
            return None;
        }
        Some(entry.model.clone())
    }

    /// Remembers a key that was just verified against the database.
    pub(crate) fn insert(&self, key: &str, model: &M) {
        let Ok(mut entries) = self.entries.write() else {
            return;
        };
        let at = Instant::now();
        if entries.len() >= self.capacity {
            entries.retain(|_, e| e.fresh_until > at);
            if entries.len() >= self.capacity {
                entries.clear();
            }
        }
        entries.insert(
            model.prefix().to_owned(),
            Entry {
                digest: digest(key),
                model: model.clone(),
                fresh_until: at + self.ttl,
            },
        );
    }

    /// Forgets the key with this prefix (after a revocation or an edit).
    pub(crate) fn forget(&self, prefix: &str) {
        if let Ok(mut entries) = self.entries.write() {
            entries.remove(prefix);
        }
    }
}
