//! Key state by digest, in memory, with short-lived negative entries for unknown digests.
//!
//! Invalidation must never lose to a concurrent read-through: a miss notes the epoch before it
//! queries and stores its answer only if no invalidation happened meanwhile. While the node
//! is not listening for change notices, nothing is served from memory at all (fail closed).

use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use moka::sync::Cache;

use super::key_state::KeyState;
use crate::domain::key_format::KeyDigest;

pub type Lookup = Option<Arc<KeyState>>;

/// How long "no such key" is remembered: a flood of invented keys costs one query per few seconds.
const NEGATIVE_TTL: Duration = Duration::from_secs(5);
/// Known keys leave by notices, unknown ones by their TTL; this bound only caps memory under a
/// flood of invented keys.
const MAX_ENTRIES: u64 = 1_000_000;

struct Lifetimes;

impl moka::Expiry<KeyDigest, Lookup> for Lifetimes {
    fn expire_after_create(&self, _: &KeyDigest, value: &Lookup, _: Instant) -> Option<Duration> {
        value.is_none().then_some(NEGATIVE_TTL)
    }
}

pub struct KeyCache {
    entries: Cache<KeyDigest, Lookup>,
    epoch: AtomicU64,
    listening: AtomicBool,
    /// Serialises "check the epoch and insert" against "bump the epoch and drop".
    writes: Mutex<()>,
}

impl Default for KeyCache {
    fn default() -> Self {
        Self::new()
    }
}

impl KeyCache {
    pub fn new() -> Self {
        Self {
            entries: Cache::builder()
                .max_capacity(MAX_ENTRIES)
                .expire_after(Lifetimes)
                .build(),
            epoch: AtomicU64::new(0),
            listening: AtomicBool::new(false),
            writes: Mutex::new(()),
        }
    }

    /// `Some(lookup)` on a hit; `None` on a miss or while not listening.
    pub fn get(&self, digest: &KeyDigest) -> Option<Lookup> {
        if !self.listening.load(Ordering::Acquire) {
            return None;
        }
        self.entries.get(digest)
    }

    pub fn epoch(&self) -> u64 {
        self.epoch.load(Ordering::Acquire)
    }

    pub fn insert_unless_changed(&self, digest: KeyDigest, lookup: Lookup, epoch_before: u64) {
        let Ok(_guard) = self.writes.lock() else {
            return;
        };
        if self.listening.load(Ordering::Acquire)
            && self.epoch.load(Ordering::Acquire) == epoch_before
        {
            self.entries.insert(digest, lookup);
        }
    }

    pub fn invalidate(&self, digests: impl IntoIterator<Item = KeyDigest>) {
        let _guard = self.writes.lock();
        self.epoch.fetch_add(1, Ordering::AcqRel);
        for digest in digests {
            self.entries.invalidate(&digest);
        }
    }

    pub fn invalidate_all(&self) {
        let _guard = self.writes.lock();
        self.epoch.fetch_add(1, Ordering::AcqRel);
        self.entries.invalidate_all();
    }

    /// A notice's payload: comma-separated hex digests.
    pub fn invalidate_payload(&self, payload: &str) {
        let digests = payload
            .split(',')
            .filter_map(|h| hex::decode(h.trim()).ok())
            .filter_map(|b| KeyDigest::from_slice(&b));
        self.invalidate(digests);
    }

    /// Called by the listener: memory is trusted only while notices can arrive.
    pub fn set_listening(&self, listening: bool) {
        self.invalidate_all();
        self.listening.store(listening, Ordering::Release);
        if listening {
            // A notice may have been lost between connecting and LISTEN taking effect.
            self.invalidate_all();
        }
    }
}
