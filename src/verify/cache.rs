//! Key state by digest, in memory, with short-lived negative entries for unknown digests.
//!
//! Invalidation must never lose to a concurrent read-through: a miss notes the epoch before it
//! queries and stores its answer only if no invalidation happened meanwhile. While the node
//! is not listening for change notices, nothing is served from memory at all (fail closed).
//! Known keys leave by notices; as a bound on a notice that never arrived, each entry also
//! lives at most `POSITIVE_TTL` unless a revalidation (off the request path) found its row
//! version still current and renewed it.
//!
//! The map is `quick_cache` (sharded, S3-FIFO eviction, about 90 bytes per entry) with each
//! entry's deadline stored beside it: a general cache with per-entry timers cost some 290 bytes
//! per entry, which with 100 000 keys was a third of the process (issue #8's memory target).

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use quick_cache::UnitWeighter;
use quick_cache::sync::{Cache, DefaultLifecycle};

use super::key_state::{KeyState, Place};
use crate::domain::ids::{EnvironmentId, KeyId};
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

fn lifetime(value: &Lookup) -> Duration {
    if value.is_some() {
        POSITIVE_TTL
    } else {
        NEGATIVE_TTL
    }
}

/// A lookup and the moment it stops being served, in milliseconds since the cache was made
/// (16 bytes, where an `Instant` alone takes as many).
#[derive(Clone)]
struct Entry {
    lookup: Lookup,
    until_ms: u64,
}

/// SHA-256 digests are uniform, but a keyed hash still keeps an attacker who grinds digests
/// from piling invented keys into one bucket.
type Hasher = foldhash::fast::RandomState;

pub struct KeyCache {
    entries: Cache<KeyDigest, Entry, UnitWeighter, Hasher, DefaultLifecycle<KeyDigest, Entry>>,
    started: Instant,
    epoch: AtomicU64,
    listening: AtomicBool,
    /// Serialises "check the epoch and insert" against "bump the epoch and drop".
    writes: Mutex<()>,
    /// Project and environment slugs, one copy per environment shared by all its keys.
    places: Mutex<HashMap<EnvironmentId, Arc<Place>>>,
}

impl Default for KeyCache {
    fn default() -> Self {
        Self::new()
    }
}

impl KeyCache {
    pub fn new() -> Self {
        Self {
            entries: Cache::with(
                // Estimated and maximal count alike: the map grows as keys arrive.
                MAX_ENTRIES as usize,
                MAX_ENTRIES,
                UnitWeighter,
                Hasher::default(),
                DefaultLifecycle::default(),
            ),
            started: Instant::now(),
            epoch: AtomicU64::new(0),
            listening: AtomicBool::new(false),
            writes: Mutex::new(()),
            places: Mutex::new(HashMap::new()),
        }
    }

    fn now_ms(&self) -> u64 {
        self.started.elapsed().as_millis() as u64
    }

    fn entry(&self, lookup: Lookup) -> Entry {
        let until_ms = self.now_ms() + lifetime(&lookup).as_millis() as u64;
        Entry { lookup, until_ms }
    }

    /// The entry for `digest` if it is still within its lifetime.
    fn live(&self, digest: &KeyDigest) -> Option<Lookup> {
        self.live_at(digest, self.now_ms())
    }

    fn live_at(&self, digest: &KeyDigest, now_ms: u64) -> Option<Lookup> {
        let entry = self.entries.get(digest)?;
        (entry.until_ms > now_ms).then_some(entry.lookup)
    }

    /// `Some(lookup)` on a hit; `None` on a miss or while not listening.
    pub fn get(&self, digest: &KeyDigest) -> Option<Lookup> {
        if !self.listening.load(Ordering::Acquire) {
            return None;
        }
        self.live(digest)
    }

    /// The shared slugs of an environment's keys (a renamed slug replaces the old copy).
    pub fn place(
        &self,
        environment_id: EnvironmentId,
        project: &str,
        environment: &str,
    ) -> Arc<Place> {
        let fresh = || Arc::new(Place::new(project, environment));
        let Ok(mut places) = self.places.lock() else {
            return fresh();
        };
        let place = places.entry(environment_id).or_insert_with(fresh);
        if place.project() != project || place.environment() != environment {
            *place = fresh();
        }
        place.clone()
    }

    /// Drops entries past their lifetime (a lookup ignores them; this returns their memory).
    pub fn sweep(&self) {
        self.sweep_at(self.now_ms());
    }

    fn sweep_at(&self, now_ms: u64) {
        self.entries.retain(|_, entry| entry.until_ms > now_ms);
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
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
            self.entries.insert(digest, self.entry(lookup));
        }
    }

    pub fn invalidate(&self, digests: impl IntoIterator<Item = KeyDigest>) {
        let _guard = self.writes.lock();
        self.epoch.fetch_add(1, Ordering::AcqRel);
        for digest in digests {
            self.entries.remove(&digest);
        }
    }

    pub fn invalidate_all(&self) {
        let _guard = self.writes.lock();
        self.epoch.fetch_add(1, Ordering::AcqRel);
        self.entries.clear();
        if let Ok(mut places) = self.places.lock() {
            places.clear();
        }
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
        let now = self.now_ms();
        self.entries
            .iter()
            .filter(|(_, entry)| entry.until_ms > now)
            .filter_map(|(digest, entry)| entry.lookup.map(|state| (digest, state)))
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
                    self.live(digest),
                    Some(Some(cached)) if Arc::ptr_eq(&cached, state)
                );
                if !still_cached {
                    continue;
                }
                if current.get(&state.key_id) == Some(&state.version) {
                    if renew {
                        self.entries
                            .insert(*digest, self.entry(Some(state.clone())));
                    }
                    outcome.current += 1;
                } else {
                    self.epoch.fetch_add(1, Ordering::AcqRel);
                    self.entries.remove(digest);
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::db::api_keys::ApiKey;

    fn digest(n: u8) -> KeyDigest {
        KeyDigest([n; 32])
    }

    fn state(cache: &KeyCache) -> Lookup {
        let now = chrono::Utc::now();
        let key = ApiKey {
            id: KeyId(1),
            environment_id: EnvironmentId(1),
            name: "cached".into(),
            description: String::new(),
            key_type: crate::domain::api_key::KeyType::Secret,
            scopes: vec![crate::domain::api_key::Scope::Read],
            digest: digest(0),
            masked: String::new(),
            enabled: true,
            expires_at: None,
            rate_limit_per_minute: None,
            revoked_at: None,
            created_by: None,
            created_at: now,
            updated_at: now,
            last_used_at: None,
            version: 1,
            allowed_ips: None,
            allowed_origins: None,
            quota_limit: None,
            quota_period: None,
            owner_id: None,
            meta: None,
            last_used_ip: None,
        };
        let place = cache.place(key.environment_id, "default", "production");
        Some(Arc::new(KeyState::from_row(&key, place, None)))
    }

    fn listening() -> KeyCache {
        let cache = KeyCache::new();
        cache.set_listening(true);
        cache
    }

    #[test]
    fn unknown_digests_are_forgotten_after_five_seconds_known_ones_after_a_minute() {
        let cache = listening();
        cache.insert_unless_changed(digest(1), None, cache.epoch());
        cache.insert_unless_changed(digest(2), state(&cache), cache.epoch());
        let now = cache.now_ms();
        assert!(matches!(cache.live_at(&digest(1), now), Some(None)));
        assert!(cache.live_at(&digest(1), now + 5_001).is_none());
        assert!(matches!(
            cache.live_at(&digest(2), now + 59_000),
            Some(Some(_))
        ));
        assert!(cache.live_at(&digest(2), now + 60_001).is_none());
        cache.sweep_at(now + 5_001);
        assert_eq!(
            cache.len(),
            1,
            "the sweep drops the expired negative entry only"
        );
        cache.sweep_at(now + 60_001);
        assert!(cache.is_empty());
    }

    #[test]
    fn nothing_is_served_while_not_listening_and_a_stale_read_through_is_not_stored() {
        let cache = KeyCache::new();
        cache.insert_unless_changed(digest(1), None, cache.epoch());
        assert!(cache.get(&digest(1)).is_none());
        cache.set_listening(true);
        let before = cache.epoch();
        cache.invalidate([digest(9)]);
        cache.insert_unless_changed(digest(1), state(&cache), before);
        assert!(cache.get(&digest(1)).is_none());
    }

    #[test]
    fn keys_of_one_environment_share_one_copy_of_its_slugs_until_a_slug_changes() {
        let cache = listening();
        let env = EnvironmentId(7);
        let a = cache.place(env, "default", "production");
        let b = cache.place(env, "default", "production");
        assert!(Arc::ptr_eq(&a, &b));
        let renamed = cache.place(env, "default", "prod");
        assert_eq!(renamed.environment(), "prod");
        assert!(!Arc::ptr_eq(&a, &renamed));
    }
}
