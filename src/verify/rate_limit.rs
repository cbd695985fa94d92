//! Per-key rate limits for the whole cluster: one token bucket per key in PostgreSQL
//! (capacity N, refilled continuously at N per minute). A node takes a slice of a key's
//! tokens in one statement, serves requests from the slice in memory, and takes the next
//! slice off the request path when the slice runs low. Slices shrink as the bucket empties, so
//! the last tokens are not stranded on an idle node; a slice is a lease that ends after
//! `LEASE`, and unused tokens go back to the bucket when it ends, when the limit changes and at
//! shutdown.

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};

use crate::clock::SharedClock;
use crate::db::{self, PgPool};
use crate::domain::ids::KeyId;
use crate::error::AppError;
use crate::metrics::Metrics;
use crate::services;

/// How long a node may serve from a slice it took.
pub const LEASE: TimeDelta = TimeDelta::seconds(30);
/// A slice is at most the bucket's tokens divided by this: four slices for each of three nodes,
/// so nodes sharing a key keep taking turns while the bucket runs low.
const SHARE: u64 = 12;
/// A slice never exceeds this, so a huge limit is not all parked on one node.
const MAX_SLICE: u64 = 100_000;

/// What the `X-RateLimit-*` and `Retry-After` headers say.
#[derive(Debug, Clone, Copy)]
pub struct RateInfo {
    pub limit: u32,
    pub remaining: u32,
    /// Seconds until the full allowance is back.
    pub reset_secs: u64,
    /// Set when this request was refused.
    pub retry_after_secs: Option<u64>,
}

/// This node's part of one key's bucket.
#[derive(Debug)]
struct Held {
    limit: u32,
    /// Tokens this node may still spend.
    local: u64,
    /// What the bucket held after this node's latest reservation.
    cluster_left: f64,
    /// The size of the latest slice: the next one is taken when `local` falls to half of it.
    slice: u64,
    /// The slice may not be served from after this.
    lease_until: DateTime<Utc>,
    /// The bucket was empty at the latest reservation: refuse without asking again until then.
    empty_until: Option<DateTime<Utc>>,
    topping_up: bool,
}

impl Held {
    fn new(limit: u32) -> Self {
        Self {
            limit,
            local: 0,
            cluster_left: 0.0,
            slice: 0,
            lease_until: DateTime::<Utc>::MIN_UTC,
            empty_until: None,
            topping_up: false,
        }
    }

    fn info(&self, retry_after_secs: Option<u64>) -> RateInfo {
        let remaining = (self.local as f64 + self.cluster_left.max(0.0)).floor();
        let remaining = remaining.min(f64::from(self.limit)) as u32;
        let per_token = 60.0 / f64::from(self.limit);
        RateInfo {
            limit: self.limit,
            remaining,
            reset_secs: (f64::from(self.limit - remaining) * per_token).ceil() as u64,
            retry_after_secs,
        }
    }
}

#[derive(Debug)]
struct Slot {
    held: Mutex<Held>,
    /// One reservation at a time per key on this node.
    reserving: tokio::sync::Mutex<()>,
}

impl Slot {
    fn held(&self) -> MutexGuard<'_, Held> {
        // A panic while holding the lock leaves plain numbers behind: still usable.
        self.held.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// The outcome of looking at what this node holds, without asking the database.
enum Local {
    Served(RateInfo, bool),
    Refused(RateInfo),
    Empty,
}

pub struct RateLimits {
    slots: moka::sync::Cache<KeyId, Arc<Slot>>,
    clock: SharedClock,
    pool: PgPool,
    metrics: Arc<Metrics>,
}

impl RateLimits {
    pub fn new(pool: PgPool, metrics: Arc<Metrics>, clock: SharedClock) -> Arc<Self> {
        Arc::new(Self {
            slots: moka::sync::Cache::builder()
                .time_to_idle(Duration::from_secs(10 * 60))
                .build(),
            clock,
            pool,
            metrics,
        })
    }

    pub async fn check(
        self: &Arc<Self>,
        key_id: KeyId,
        per_minute: u32,
    ) -> Result<RateInfo, AppError> {
        if per_minute == 0 {
            return Ok(RateInfo {
                limit: 0,
                remaining: 0,
                reset_secs: 60,
                retry_after_secs: Some(60),
            });
        }
        let slot = self.slots.get_with(key_id, || {
            Arc::new(Slot {
                held: Mutex::new(Held::new(per_minute)),
                reserving: tokio::sync::Mutex::new(()),
            })
        });
        match self.spend_local(key_id, &slot, per_minute) {
            Local::Served(info, top_up) => {
                if top_up {
                    self.top_up_later(key_id, slot);
                }
                return Ok(info);
            }
            Local::Refused(info) => return Ok(info),
            Local::Empty => {}
        }
        // Nothing held (a cold key, or a slice spent faster than it was topped up): reserve
        // now, one statement for a whole slice; concurrent requests wait for the same one.
        let _reserving = slot.reserving.lock().await;
        match self.spend_local(key_id, &slot, per_minute) {
            Local::Served(info, _) => return Ok(info),
            Local::Refused(info) => return Ok(info),
            Local::Empty => {}
        }
        self.reserve(key_id, &slot, per_minute).await?;
        Ok(match self.spend_local(key_id, &slot, per_minute) {
            Local::Served(info, _) | Local::Refused(info) => info,
            Local::Empty => slot.held().info(Some(1)),
        })
    }

    fn spend_local(&self, key_id: KeyId, slot: &Slot, per_minute: u32) -> Local {
        let now = self.clock.now();
        let mut held = slot.held();
        if held.limit != per_minute || held.lease_until <= now {
            // A changed limit or an ended lease: what is left goes back to the bucket.
            self.give_back_later(key_id, held.local);
            *held = Held {
                empty_until: held.empty_until.filter(|_| held.limit == per_minute),
                ..Held::new(per_minute)
            };
        }
        if held.local > 0 {
            held.local -= 1;
            let top_up = !held.topping_up && held.local * 2 <= held.slice;
            if top_up {
                held.topping_up = true;
            }
            return Local::Served(held.info(None), top_up);
        }
        match held.empty_until {
            Some(until) if until > now => {
                let wait = (until - now).num_milliseconds().max(0) as f64 / 1000.0;
                Local::Refused(held.info(Some(wait.ceil().max(1.0) as u64)))
            }
            _ => Local::Empty,
        }
    }

    /// Takes a slice from the bucket and adds it to what this node holds.
    async fn reserve(&self, key_id: KeyId, slot: &Slot, per_minute: u32) -> Result<(), AppError> {
        let now = self.clock.now();
        let want = (u64::from(per_minute) / SHARE).clamp(1, MAX_SLICE);
        self.metrics.budget_reservations.inc();
        let slice = services::run(&self.pool, move |conn| {
            Ok(db::rate_buckets::take(
                conn, key_id, per_minute, want, SHARE, now,
            )?)
        })
        .await?;
        let mut held = slot.held();
        if held.limit != per_minute {
            self.give_back_later(key_id, slice.granted as u64);
            return Ok(());
        }
        held.local += slice.granted as u64;
        held.cluster_left = slice.tokens;
        held.slice = slice.granted as u64;
        held.lease_until = now + LEASE;
        held.empty_until = (slice.granted < 1.0).then(|| {
            // The time for the bucket to hold one whole token again.
            let secs = (1.0 - slice.tokens).max(0.0) * 60.0 / f64::from(per_minute);
            now + TimeDelta::milliseconds((secs * 1000.0).ceil() as i64)
        });
        Ok(())
    }

    /// Takes the next slice off the request path, before this one runs out.
    fn top_up_later(self: &Arc<Self>, key_id: KeyId, slot: Arc<Slot>) {
        let limits = self.clone();
        tokio::spawn(async move {
            let per_minute = slot.held().limit;
            if let Ok(_reserving) = slot.reserving.try_lock()
                && let Err(e) = limits.reserve(key_id, &slot, per_minute).await
            {
                tracing::warn!(error = %e, "topping up a rate-limit slice failed");
            }
            slot.held().topping_up = false;
        });
    }

    fn give_back_later(&self, key_id: KeyId, unused: u64) {
        if unused == 0 {
            return;
        }
        let (pool, metrics) = (self.pool.clone(), self.metrics.clone());
        tokio::spawn(async move {
            metrics.budget_reservations.inc();
            let given = services::run(&pool, move |conn| {
                Ok(db::rate_buckets::give_back(conn, &[(key_id, unused)])?)
            })
            .await;
            if let Err(e) = given {
                tracing::warn!(error = %e, "giving rate-limit tokens back failed; they refill anyway");
            }
        });
    }

    /// Gives back every unused token this node holds (at shutdown), in one statement.
    pub fn give_back_all(&self, conn: &mut diesel::PgConnection) -> anyhow::Result<()> {
        let unused: Vec<(KeyId, u64)> = self
            .slots
            .iter()
            .filter_map(|(key_id, slot)| {
                let mut held = slot.held();
                let n = std::mem::take(&mut held.local);
                held.lease_until = DateTime::<Utc>::MIN_UTC;
                (n > 0).then_some((*key_id, n))
            })
            .collect();
        if !unused.is_empty() {
            self.metrics.budget_reservations.inc();
            db::rate_buckets::give_back(conn, &unused)?;
        }
        Ok(())
    }
}
