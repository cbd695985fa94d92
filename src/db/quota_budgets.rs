//! Quotas shared by the cluster: a node reserves a slice of a key's period budget in one
//! transaction (rolling the period over, taking back expired leases' unspent parts, and
//! recording its own lease), and gives back what it did not spend.

use chrono::{DateTime, TimeDelta, Utc};
use diesel::prelude::*;

use super::schema::{quota_budgets, quota_leases};
use crate::domain::ids::KeyId;

/// What a node asks for: the key's quota as the node knows it, the period it is in by the
/// node's clock, and what the node spent from its current lease.
#[derive(Debug, Clone, Copy)]
pub struct Ask {
    pub key: KeyId,
    pub node: i64,
    pub limit: i64,
    pub period: &'static str,
    pub period_start: DateTime<Utc>,
    pub spent: i64,
    pub want: i64,
    pub now: DateTime<Utc>,
    pub lease: TimeDelta,
}

/// What the reservation added to the node's lease, and what the cluster has left after it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Granted {
    pub granted: i64,
    pub left: i64,
    /// The node's lease after this: taken in all, and reported spent (0 for a fresh lease).
    pub lease_amount: i64,
    pub lease_spent: i64,
}

pub fn reserve(conn: &mut PgConnection, ask: Ask) -> QueryResult<Granted> {
    conn.transaction(|conn| {
        // Create the budget, or lock it; a new period (or a changed period kind) starts at 0,
        // a changed limit keeps what the period has used.
        diesel::insert_into(quota_budgets::table)
            .values((
                quota_budgets::api_key_id.eq(ask.key),
                quota_budgets::quota_limit.eq(ask.limit),
                quota_budgets::period.eq(ask.period),
                quota_budgets::period_start.eq(ask.period_start),
                quota_budgets::used.eq(0_i64),
            ))
            .on_conflict(quota_budgets::api_key_id)
            .do_nothing()
            .execute(conn)?;
        let (period, start, mut used): (String, DateTime<Utc>, i64) = quota_budgets::table
            .find(ask.key)
            .select((
                quota_budgets::period,
                quota_budgets::period_start,
                quota_budgets::used,
            ))
            .for_update()
            .first(conn)?;
        if period != ask.period || start != ask.period_start {
            if start > ask.period_start && period == ask.period {
                // This node's clock is behind the period another node already started.
                return Ok(Granted {
                    granted: 0,
                    left: 0,
                    lease_amount: 0,
                    lease_spent: 0,
                });
            }
            used = 0;
            diesel::delete(quota_leases::table.filter(quota_leases::api_key_id.eq(ask.key)))
                .execute(conn)?;
        }
        // This node's report of its own lease first, then expired leases' unspent parts back.
        diesel::update(quota_leases::table.find((ask.key, ask.node)))
            .set(quota_leases::spent.eq(ask.spent))
            .execute(conn)?;
        let expired: Vec<(i64, i64)> = diesel::delete(
            quota_leases::table
                .filter(quota_leases::api_key_id.eq(ask.key))
                .filter(quota_leases::expires_at.le(ask.now)),
        )
        .returning((quota_leases::amount, quota_leases::spent))
        .get_results(conn)?;
        used -= expired.iter().map(|(a, s)| a - s).sum::<i64>();
        let holders: i64 = quota_leases::table
            .filter(quota_leases::api_key_id.eq(ask.key))
            .filter(quota_leases::node_id.ne(ask.node))
            .count()
            .get_result(conn)?;
        let left = (ask.limit - used).max(0);
        let share = left / (4 * (holders + 1));
        let granted = ask.want.min(share).max(1).min(left);
        used += granted;
        diesel::update(quota_budgets::table.find(ask.key))
            .set((
                quota_budgets::quota_limit.eq(ask.limit),
                quota_budgets::period.eq(ask.period),
                quota_budgets::period_start.eq(ask.period_start),
                quota_budgets::used.eq(used),
            ))
            .execute(conn)?;
        diesel::insert_into(quota_leases::table)
            .values((
                quota_leases::api_key_id.eq(ask.key),
                quota_leases::node_id.eq(ask.node),
                quota_leases::period_start.eq(ask.period_start),
                quota_leases::amount.eq(granted),
                quota_leases::spent.eq(0_i64),
                quota_leases::expires_at.eq(ask.now + ask.lease),
            ))
            .on_conflict((quota_leases::api_key_id, quota_leases::node_id))
            .do_update()
            .set((
                quota_leases::amount.eq(quota_leases::amount + granted),
                quota_leases::expires_at.eq(ask.now + ask.lease),
            ))
            .returning((quota_leases::amount, quota_leases::spent))
            .get_result::<(i64, i64)>(conn)
            .map(|(lease_amount, lease_spent)| Granted {
                granted,
                left: ask.limit - used,
                lease_amount,
                lease_spent,
            })
    })
}

/// What the period has left beyond every lease, as stored (for the `X-Quota-*` headers of an
/// answer that spends nothing): the whole limit when the period has not been started yet.
pub fn left(
    conn: &mut PgConnection,
    key: KeyId,
    limit: i64,
    period: &str,
    period_start: DateTime<Utc>,
) -> QueryResult<i64> {
    let stored: Option<(String, DateTime<Utc>, i64)> = quota_budgets::table
        .find(key)
        .select((
            quota_budgets::period,
            quota_budgets::period_start,
            quota_budgets::used,
        ))
        .first(conn)
        .optional()?;
    let used = match stored {
        Some((p, start, used)) if p == period && start == period_start => used,
        // This node's clock is behind a period another node started: claim nothing is left.
        Some((p, start, _)) if p == period && start > period_start => limit,
        _ => 0,
    };
    Ok((limit - used).clamp(0, limit))
}

/// Ends a node's lease on a key: what it took and did not spend goes back to the period.
pub fn give_back(conn: &mut PgConnection, key: KeyId, node: i64, spent: i64) -> QueryResult<()> {
    conn.transaction(|conn| {
        let lease: Option<(i64, DateTime<Utc>)> =
            diesel::delete(quota_leases::table.find((key, node)))
                .returning((quota_leases::amount, quota_leases::period_start))
                .get_result(conn)
                .optional()?;
        if let Some((amount, period_start)) = lease {
            diesel::update(
                quota_budgets::table
                    .find(key)
                    .filter(quota_budgets::period_start.eq(period_start)),
            )
            .set(quota_budgets::used.eq(quota_budgets::used - (amount - spent)))
            .execute(conn)?;
        }
        Ok(())
    })
}

/// Records, before the node serves them, that it may have spent up to `claimed` of its lease
/// (so a lease that expires with its node gives back only what was never claimed). False when
/// the lease is gone or expired: the node must reserve again.
pub fn claim(
    conn: &mut PgConnection,
    key: KeyId,
    node: i64,
    claimed: i64,
    now: DateTime<Utc>,
) -> QueryResult<bool> {
    let updated = diesel::update(
        quota_leases::table
            .find((key, node))
            .filter(quota_leases::expires_at.gt(now))
            .filter(quota_leases::amount.ge(claimed)),
    )
    .set(quota_leases::spent.eq(claimed))
    .execute(conn)?;
    Ok(updated == 1)
}
