//! Quotas for the whole cluster, exact: a node serves VALID answers only from a lease it took
//! from the key's period budget in PostgreSQL (`db::quota_budgets`), so the nodes together never
//! answer more than the limit. Slices shrink as the budget runs low (the cluster's remainder
//! over four times the nodes holding leases), the next slice is taken off the request path
//! before this one runs out, and a node stops serving from a lease `MARGIN` before it expires,
//! so the lease's unspent part can go back to the budget once it expires (a node that died) —
//! or at once when the node gives it back (lease end, SIGTERM).

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};

use crate::clock::SharedClock;
use crate::db::{self, PgPool};
use crate::domain::ids::KeyId;
pub use crate::domain::policy::QuotaPeriod;
use crate::error::AppError;
use crate::metrics::Metrics;
use crate::services;

/// How long a lease lasts in the database.
pub const LEASE: TimeDelta = TimeDelta::seconds(30);
/// A node stops serving from a lease this long before it expires, for clocks that differ a
/// little between nodes.
const MARGIN: TimeDelta = TimeDelta::seconds(2);
/// A slice never exceeds this.
const MAX_SLICE: i64 = 100_000;
/// Statements in one reservation's transaction (for `keyward_budget_reservations_total`).
const RESERVE_STATEMENTS: u64 = 7;

/// A key's quota, as the verifier knows it from the key's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QuotaSpec {
    pub limit: u64,
    pub period: QuotaPeriod,
}

/// What the `X-Quota-*` headers say, and whether this call was served.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QuotaCheck {
    pub allowed: bool,
    pub limit: u64,
    /// What the cluster had left at this node's latest reservation, minus what this node
    /// spent since: never more than is left.
    pub remaining: u64,
    /// Seconds until the period rolls over (day and month).
    pub reset_secs: Option<u64>,
}

#[derive(Debug)]
struct Lease {
    spec: QuotaSpec,
    period_start: DateTime<Utc>,
    amount: i64,
    spent: i64,
    /// Recorded in the lease row before it is served: what this node may have spent. A node
    /// serves only below it, so a lease whose node died returns `amount - claimed` exactly.
    claimed: i64,
    /// What the cluster had left beyond every lease at this node's latest reservation.
    cluster_left: i64,
    slice: i64,
    /// Served from until then (the database's expiry less `MARGIN`).
    serve_until: DateTime<Utc>,
    /// The budget was used up at the latest reservation: no need to ask again before this.
    empty_until: Option<DateTime<Utc>>,
    topping_up: bool,
    /// `cluster_left` is this node's current view until then: set by a reservation, or by a
    /// read of the budget for an answer that spends nothing.
    known_until: DateTime<Utc>,
}

impl Lease {
    fn new(spec: QuotaSpec, period_start: DateTime<Utc>) -> Self {
        Self {
            spec,
            period_start,
            amount: 0,
            spent: 0,
            claimed: 0,
            cluster_left: spec.limit as i64,
            slice: 0,
            serve_until: DateTime::<Utc>::MIN_UTC,
            empty_until: None,
            topping_up: false,
            known_until: DateTime::<Utc>::MIN_UTC,
        }
    }

    /// A lease that ran out serves nothing more. Its spent count is reported with the next
    /// reservation, which takes its unspent part back.
    fn stop_serving_if_expired(&mut self, now: DateTime<Utc>) {
        if self.serve_until <= now {
            self.amount = self.spent;
            self.claimed = self.spent;
        }
    }

    /// Starts afresh in a new period (or a new kind of period); a new limit keeps what the
    /// period has used.
    fn follow(&mut self, spec: QuotaSpec, period_start: DateTime<Utc>) {
        if self.period_start != period_start || self.spec.period != spec.period {
            *self = Lease::new(spec, period_start);
        } else if self.spec != spec {
            self.spec = spec;
            self.empty_until = None;
        }
    }

    fn local(&self) -> i64 {
        self.amount - self.spent
    }

    /// How far to raise `claimed` at a time: a quarter slice, so a dead node strands less.
    fn chunk(&self) -> i64 {
        (self.slice / 4).max(1)
    }

    fn check(&self, allowed: bool, next: Option<DateTime<Utc>>, now: DateTime<Utc>) -> QuotaCheck {
        let left = (self.cluster_left + self.local()).clamp(0, self.spec.limit as i64);
        QuotaCheck {
            allowed,
            limit: self.spec.limit,
            remaining: left as u64,
            reset_secs: next.map(|n| (n - now).num_seconds().max(0) as u64),
        }
    }
}

#[derive(Debug)]
struct Slot {
    lease: Mutex<Lease>,
    reserving: tokio::sync::Mutex<()>,
}

impl Slot {
    fn lease(&self) -> MutexGuard<'_, Lease> {
        self.lease.lock().unwrap_or_else(|p| p.into_inner())
    }
}

enum Local {
    Decided(QuotaCheck, bool),
    Empty,
}

pub struct Quotas {
    slots: moka::sync::Cache<KeyId, Arc<Slot>>,
    node: i64,
    clock: SharedClock,
    pool: PgPool,
    metrics: Arc<Metrics>,
}

impl Quotas {
    pub fn new(
        pool: PgPool,
        metrics: Arc<Metrics>,
        clock: SharedClock,
    ) -> anyhow::Result<Arc<Self>> {
        let mut id = [0u8; 8];
        getrandom::fill(&mut id)
            .map_err(|e| anyhow::anyhow!("no randomness for a node id: {e}"))?;
        Ok(Arc::new(Self {
            slots: moka::sync::Cache::builder()
                .time_to_idle(Duration::from_secs(10 * 60))
                .build(),
            node: i64::from_le_bytes(id),
            clock,
            pool,
            metrics,
        }))
    }

    /// Spends one call of the key's quota if the cluster has one left.
    fn slot(&self, key_id: KeyId, spec: QuotaSpec) -> Arc<Slot> {
        self.slots.get_with(key_id, || {
            Arc::new(Slot {
                lease: Mutex::new(Lease::new(spec, spec.period.bounds(self.clock.now()).0)),
                reserving: tokio::sync::Mutex::new(()),
            })
        })
    }

    /// The `X-Quota-*` headers of an answer that spends nothing (a refusal decided before the
    /// quota, SPEC §11: a key with a quota gets them on every answer): this node's view, or,
    /// when it has none that is current, one read of the stored budget, repeated at most once
    /// a second per key so that a flood of refused calls stays off the database.
    pub async fn peek(
        self: &Arc<Self>,
        key_id: KeyId,
        spec: QuotaSpec,
    ) -> Result<QuotaCheck, AppError> {
        let slot = self.slot(key_id, spec);
        let now = self.clock.now();
        let (start, next) = spec.period.bounds(now);
        {
            let mut lease = slot.lease();
            lease.follow(spec, start);
            lease.stop_serving_if_expired(now);
            if lease.known_until > now {
                return Ok(lease.check(false, next, now));
            }
        }
        self.metrics.budget_reservations.inc();
        let left = services::run(&self.pool, move |conn| {
            Ok(db::quota_budgets::left(
                conn,
                key_id,
                spec.limit as i64,
                spec.period.as_str(),
                start,
            )?)
        })
        .await?;
        let mut lease = slot.lease();
        lease.follow(spec, start);
        lease.stop_serving_if_expired(now);
        if lease.known_until <= now && lease.period_start == start {
            // The stored figure counts this node's lease as used: what it holds is added back.
            lease.cluster_left = left;
            lease.known_until = now + TimeDelta::seconds(1);
        }
        Ok(lease.check(false, next, now))
    }

    pub async fn spend(
        self: &Arc<Self>,
        key_id: KeyId,
        spec: QuotaSpec,
    ) -> Result<QuotaCheck, AppError> {
        let slot = self.slot(key_id, spec);
        if let Local::Decided(check, top_up) = self.spend_local(&slot, spec) {
            if top_up {
                self.top_up_later(key_id, slot);
            }
            return Ok(check);
        }
        let _reserving = slot.reserving.lock().await;
        if let Local::Decided(check, _) = self.spend_local(&slot, spec) {
            return Ok(check);
        }
        self.advance(key_id, &slot).await?;
        Ok(match self.spend_local(&slot, spec) {
            Local::Decided(check, _) => check,
            Local::Empty => {
                let now = self.clock.now();
                slot.lease().check(false, spec.period.bounds(now).1, now)
            }
        })
    }

    fn spend_local(&self, slot: &Slot, spec: QuotaSpec) -> Local {
        let now = self.clock.now();
        let (start, next) = spec.period.bounds(now);
        let mut lease = slot.lease();
        // In a new period the next reservation starts it afresh (and drops the old leases).
        lease.follow(spec, start);
        lease.stop_serving_if_expired(now);
        if lease.local() > 0 {
            lease.spent += 1;
            let top_up =
                !lease.topping_up && lease.local() * 2 <= lease.slice && lease.cluster_left > 0;
            if top_up {
                lease.topping_up = true;
            }
            return Local::Decided(lease.check(true, next, now), top_up);
        }
        if lease.local() > 0 {
            return Local::Empty; // held but not yet claimed
        }
        match lease.empty_until {
            Some(until) if until > now => Local::Decided(lease.check(false, next, now), false),
            _ => Local::Empty,
        }
    }

    /// Takes the next slice when the lease runs low, then claims the next chunk of it.
    async fn advance(&self, key_id: KeyId, slot: &Slot) -> Result<(), AppError> {
        let (low, empty) = {
            let lease = slot.lease();
            let low = lease.local() * 2 <= lease.slice || lease.amount == lease.claimed;
            let empty = lease.empty_until.is_some_and(|t| t > self.clock.now());
            (low, empty)
        };
        if low && !empty {
            self.reserve(key_id, slot).await?;
        }
        self.claim(key_id, slot).await
    }

    async fn claim(&self, key_id: KeyId, slot: &Slot) -> Result<(), AppError> {
        let now = self.clock.now();
        let (claimed, serve_until) = {
            let lease = slot.lease();
            let target = (lease.claimed.max(lease.spent) + lease.chunk()).min(lease.amount);
            if target <= lease.claimed || lease.serve_until <= now {
                return Ok(());
            }
            (target, lease.serve_until)
        };
        self.metrics.budget_reservations.inc();
        let node = self.node;
        let recorded = services::run(&self.pool, move |conn| {
            Ok(db::quota_budgets::claim(conn, key_id, node, claimed, now)?)
        })
        .await?;
        let mut lease = slot.lease();
        if recorded && lease.serve_until == serve_until {
            lease.claimed = lease.claimed.max(claimed);
        } else if !recorded {
            lease.serve_until = DateTime::<Utc>::MIN_UTC; // gone: reserve afresh
        }
        Ok(())
    }

    async fn reserve(&self, key_id: KeyId, slot: &Slot) -> Result<(), AppError> {
        let now = self.clock.now();
        let (spec, period_start, spent) = {
            let lease = slot.lease();
            (lease.spec, lease.period_start, lease.claimed)
        };
        let ask = db::quota_budgets::Ask {
            key: key_id,
            node: self.node,
            limit: spec.limit as i64,
            period: spec.period.as_str(),
            period_start,
            spent,
            want: (spec.limit as i64 / 16).clamp(1, MAX_SLICE),
            now,
            lease: LEASE,
        };
        self.metrics.budget_reservations.inc_by(RESERVE_STATEMENTS);
        let got = services::run(&self.pool, move |conn| {
            Ok(db::quota_budgets::reserve(conn, ask)?)
        })
        .await?;
        let mut lease = slot.lease();
        if lease.spec.period != spec.period || lease.period_start != period_start {
            return Ok(()); // superseded while asking; the lease runs out in the database
        }
        if got.lease_spent == 0 && got.lease_amount == got.granted {
            // A fresh lease (the first, or the old one had expired and was taken back).
            lease.amount = got.granted;
            lease.spent = 0;
            lease.claimed = 0;
        } else {
            lease.amount = got.lease_amount;
        }
        lease.cluster_left = got.left;
        lease.slice = got.granted;
        lease.serve_until = now + LEASE - MARGIN;
        lease.known_until = lease.serve_until;
        // Used up: ask again after a while (a lease elsewhere may expire or be given back).
        lease.empty_until = (got.granted == 0).then(|| now + TimeDelta::seconds(1));
        Ok(())
    }

    fn top_up_later(self: &Arc<Self>, key_id: KeyId, slot: Arc<Slot>) {
        let quotas = self.clone();
        tokio::spawn(async move {
            if let Ok(_reserving) = slot.reserving.try_lock()
                && let Err(e) = quotas.advance(key_id, &slot).await
            {
                tracing::warn!(error = %e, "topping up a quota slice failed");
            }
            slot.lease().topping_up = false;
        });
    }

    /// Gives back every lease this node holds (at shutdown): stops serving from them first.
    pub fn give_back_all(&self, conn: &mut diesel::PgConnection) -> anyhow::Result<()> {
        for (key_id, slot) in self.slots.iter() {
            let spent = {
                let mut lease = slot.lease();
                lease.serve_until = DateTime::<Utc>::MIN_UTC;
                let spent = lease.spent;
                lease.amount = lease.spent;
                lease.claimed = lease.spent;
                spent
            };
            self.metrics.budget_reservations.inc_by(3);
            db::quota_budgets::give_back(conn, *key_id, self.node, spent)?;
        }
        Ok(())
    }

    /// Stops serving from every lease without giving anything back, as a node that died
    /// would (for tests: what it held returns only when its leases expire).
    pub fn abandon_all(&self) {
        for (_, slot) in self.slots.iter() {
            let mut lease = slot.lease();
            lease.serve_until = DateTime::<Utc>::MIN_UTC;
            lease.amount = lease.spent;
        }
        self.slots.invalidate_all();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn periods_start_at_utc_midnight_and_the_first_of_the_month() {
        let now = Utc.with_ymd_and_hms(2026, 12, 31, 23, 59, 30).unwrap();
        let (start, next) = QuotaPeriod::Day.bounds(now);
        assert_eq!(start, Utc.with_ymd_and_hms(2026, 12, 31, 0, 0, 0).unwrap());
        assert_eq!(
            next,
            Some(Utc.with_ymd_and_hms(2027, 1, 1, 0, 0, 0).unwrap())
        );
        let (start, next) = QuotaPeriod::Month.bounds(now);
        assert_eq!(start, Utc.with_ymd_and_hms(2026, 12, 1, 0, 0, 0).unwrap());
        assert_eq!(
            next,
            Some(Utc.with_ymd_and_hms(2027, 1, 1, 0, 0, 0).unwrap())
        );
        assert_eq!(QuotaPeriod::Total.bounds(now).1, None);
    }
}
