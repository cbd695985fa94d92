//! Key state by digest, in memory, with short-lived negative entries for unknown digests.
//!
//! Invalidation must never lose to a concurrent read-through: a miss notes the epoch before it
//! queries and stores its answer only if no invalidation happened meanwhile. While the node
//! is not listening for change notices, nothing is served from memory at all (fail closed).
//! Known keys leave by notices; as a bound on a notice that never arrived, each entry also
//! lives at most `POSITIVE_TTL` unless a revalidation (off the request path) found its row
//! version still current and renewed it.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use moka::sync::Cache;

use super::key_state::KeyState;
use crate::domain::ids::KeyId;
use crate::domain::key_format::KeyDigest;

pub type Lookup = Option<Arc<KeyState>>;

/// How long "no such key" is remembered: a flood of invented keys costs one query per few seconds.
const NEGATIVE_TTL: Duration = Duration::from_secs(5);
/// The longest a known key's state is served without its row version being checked again.
pub const POSITIVE_TTL: Duration = Duration::from_secs(60);
/// This bound only caps memory under a flood of invented keys.
const MAX_ENTRIES: u64 = 1_000_000;
/// Revalidation holds the write lock for this many entries at a time, so notices never wait long.
const REVALIDATE_CHUNK: usize = 1024;

struct Lifetimes;

fn lifetime(value: &Lookup) -> Duration {
    if value.is_some() {
        POSITIVE_TTL
    } else {
        NEGATIVE_TTL
    }
}

impl moka::Expiry<KeyDigest, Lookup> for Lifetimes {
    fn expire_after_create(&self, _: &KeyDigest, value: &Lookup, _: Instant) -> Option<Duration> {
        Some(lifetime(value))
    }

    /// A re-insert (a read-through or a renewal after revalidation) starts a fresh lifetime.
    fn expire_after_update(
        &self,
        _: &KeyDigest,
        value: &Lookup,
        _: Instant,
        _: Option<Duration>,
    ) -> Option<Duration> {
        Some(lifetime(value))
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

    pub fn is_listening(&self) -> bool {
        self.listening.load(Ordering::Acquire)
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

    /// Every known key's cached state (not the negative entries), for revalidation.
    pub fn known(&self) -> Vec<(KeyDigest, Arc<KeyState>)> {
        self.entries
            .iter()
            .filter_map(|(digest, lookup)| lookup.map(|state| (*digest, state)))
            .collect()
    }

    /// Compares each cached state in `known` with its row's current version: stale or deleted
    /// ones are dropped; with `renew`, current ones start a fresh lifetime. An entry replaced
    /// meanwhile (by a notice or a read-through) is left to its newer owner.
    pub fn revalidate(
        &self,
        known: Vec<(KeyDigest, Arc<KeyState>)>,
        current: &HashMap<KeyId, i64>,
        renew: bool,
    ) -> Revalidated {
        let mut outcome = Revalidated::default();
        for chunk in known.chunks(REVALIDATE_CHUNK) {
            let Ok(_guard) = self.writes.lock() else {
                return outcome;
            };
            for (digest, state) in chunk {
                let still_cached = matches!(
                    self.entries.get(digest),
                    Some(Some(cached)) if Arc::ptr_eq(&cached, state)
                );
                if !still_cached {
                    continue;
                }
                if current.get(&state.key_id) == Some(&state.version) {
                    if renew {
                        self.entries.insert(*digest, Some(state.clone()));
                    }
                    outcome.current += 1;
                } else {
                    self.epoch.fetch_add(1, Ordering::AcqRel);
                    self.entries.invalidate(digest);
                    outcome.stale += 1;
                }
            }
        }
        outcome
    }

    /// Called by the listener: memory is trusted only while notices can arrive. Entries are
    /// kept while not listening (they are not served), and revalidated before listening resumes.
    pub fn set_listening(&self, listening: bool) {
        let _guard = self.writes.lock();
        // Read-throughs that began before this moment must not insert what they read.
        self.epoch.fetch_add(1, Ordering::AcqRel);
        self.listening.store(listening, Ordering::Release);
    }
}

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Revalidated {
    pub current: usize,
    pub stale: usize,
}
