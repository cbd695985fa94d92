//! Expiry warnings (SPEC §12): `api_key.expiring` at 30, 7 and 1 days before a key expires,
//! once for the whole cluster. A row per key, threshold and expiry decides who sends: the
//! node whose sweep inserts it. Setting an expiry writes `skipped` rows for the thresholds
//! already passed then (never the 1-day one), and a new expiry re-arms all three.

use std::collections::BTreeMap;

use chrono::{DateTime, TimeDelta, Utc};
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Integer, Timestamptz};
use serde_json::json;

use super::Change;
use super::keys::record_key_event_with;
use crate::db::{self, schema::expiry_warnings};
use crate::domain::audit::AuditAction;
use crate::domain::ids::{EnvironmentId, KeyId};
use crate::error::AppError;

/// Days before expiry, largest first.
pub const THRESHOLDS: [i32; 3] = [30, 7, 1];

fn before(days: i32) -> TimeDelta {
    TimeDelta::days(i64::from(days))
}

/// Inserts a warning row; `true` when this call inserted it (and so owns sending it).
fn claim(
    conn: &mut PgConnection,
    key: KeyId,
    days: i32,
    expires_at: DateTime<Utc>,
    skipped: bool,
    now: DateTime<Utc>,
) -> QueryResult<bool> {
    diesel::insert_into(expiry_warnings::table)
        .values((
            expiry_warnings::api_key_id.eq(key),
            expiry_warnings::days_before.eq(days),
            expiry_warnings::expires_at.eq(expires_at),
            expiry_warnings::skipped.eq(skipped),
            expiry_warnings::at.eq(now),
        ))
        .on_conflict_do_nothing()
        .execute(conn)
        .map(|n| n == 1)
}

/// Call when a key's expiry is set (creation, edit): the 30- and 7-day warnings whose time has
/// already come are skipped for this expiry.
pub fn arm(
    conn: &mut PgConnection,
    key: KeyId,
    expires_at: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
) -> Result<(), AppError> {
    let Some(expires_at) = expires_at else {
        return Ok(());
    };
    for days in THRESHOLDS.into_iter().filter(|d| *d > 1) {
        if expires_at - before(days) <= now {
            claim(conn, key, days, expires_at, true, now)?;
        }
    }
    Ok(())
}

#[derive(QueryableByName)]
struct Due {
    #[diesel(sql_type = BigInt)]
    id: i64,
    #[diesel(sql_type = BigInt)]
    environment_id: i64,
    #[diesel(sql_type = Timestamptz)]
    expires_at: DateTime<Utc>,
    #[diesel(sql_type = Integer)]
    days: i32,
}

/// Sends every warning that is due and not yet sent (or skipped) by any node; returns how
/// many this call sent. Of several thresholds due at once (a node was down), only the nearest
/// is sent and the others are skipped.
pub fn sweep(conn: &mut PgConnection, change: &Change) -> Result<usize, AppError> {
    let due: Vec<Due> = diesel::sql_query(
        "SELECT k.id, k.environment_id, k.expires_at, t.days
           FROM api_keys k
           CROSS JOIN (VALUES (30), (7), (1)) AS t (days)
          WHERE k.revoked_at IS NULL AND k.expires_at IS NOT NULL
            AND k.expires_at > $1 AND k.expires_at <= $1 + t.days * interval '1 day'
            AND NOT EXISTS (SELECT 1 FROM expiry_warnings w
                             WHERE w.api_key_id = k.id AND w.days_before = t.days
                               AND w.expires_at = k.expires_at)
          ORDER BY k.id, t.days
          LIMIT 5000",
    )
    .bind::<Timestamptz, _>(change.now)
    .load(conn)?;
    let mut by_key: BTreeMap<i64, Vec<Due>> = BTreeMap::new();
    for d in due {
        by_key.entry(d.id).or_default().push(d);
    }
    let mut sent = 0;
    for (_, thresholds) in by_key {
        // Ordered by days: the first is the nearest threshold.
        let mut thresholds = thresholds.into_iter();
        let Some(nearest) = thresholds.next() else {
            continue;
        };
        let passed: Vec<i32> = thresholds.map(|d| d.days).collect();
        if warn(conn, &nearest, &passed, change)? {
            sent += 1;
        }
    }
    Ok(sent)
}

fn warn(
    conn: &mut PgConnection,
    due: &Due,
    passed: &[i32],
    change: &Change,
) -> Result<bool, AppError> {
    let (key_id, env) = (KeyId(due.id), EnvironmentId(due.environment_id));
    conn.transaction(|conn| {
        for days in passed {
            claim(conn, key_id, *days, due.expires_at, true, change.now)?;
        }
        if !claim(conn, key_id, due.days, due.expires_at, false, change.now)? {
            return Ok(false); // another node sent it
        }
        let Some(key) = db::api_keys::find(conn, env, key_id)? else {
            return Ok(false);
        };
        if key.revoked_at.is_some() || key.expires_at != Some(due.expires_at) {
            return Ok(false); // changed since the sweep looked; its new expiry has its own rows
        }
        let mut extra = serde_json::Map::new();
        extra.insert("days_before".to_owned(), json!(due.days));
        record_key_event_with(
            conn,
            change,
            env,
            &key,
            AuditAction::ApiKeyExpiring,
            json!({"name": key.name, "expires_at": due.expires_at, "days_before": due.days}),
            extra,
        )?;
        Ok(true)
    })
}
