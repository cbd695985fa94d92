//! Verification counts, written in batches: one statement per table per flush.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel::sql_types::{Array, BigInt, Text, Timestamptz};

use super::schema::api_key_usage;
use crate::domain::ids::KeyId;

/// One counter of the in-memory buffer.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct UsageCell {
    pub key_id: KeyId,
    pub minute: DateTime<Utc>,
    pub code: &'static str,
}

/// Adds `counts` to the stored ones and raises `last_used_at`, in one transaction.
pub fn add(
    conn: &mut PgConnection,
    counts: &[(UsageCell, i64)],
    last_used: &[(KeyId, DateTime<Utc>)],
) -> QueryResult<()> {
    conn.transaction(|conn| {
        if !counts.is_empty() {
            diesel::sql_query(
                "INSERT INTO api_key_usage (api_key_id, minute, code, count) \
                 SELECT * FROM unnest($1, $2, $3, $4) \
                 ON CONFLICT (api_key_id, minute, code) \
                 DO UPDATE SET count = api_key_usage.count + excluded.count",
            )
            .bind::<Array<BigInt>, _>(
                counts
                    .iter()
                    .map(|(c, _)| c.key_id.get())
                    .collect::<Vec<_>>(),
            )
            .bind::<Array<Timestamptz>, _>(counts.iter().map(|(c, _)| c.minute).collect::<Vec<_>>())
            .bind::<Array<Text>, _>(counts.iter().map(|(c, _)| c.code).collect::<Vec<_>>())
            .bind::<Array<BigInt>, _>(counts.iter().map(|(_, n)| *n).collect::<Vec<_>>())
            .execute(conn)?;
        }
        if !last_used.is_empty() {
            diesel::sql_query(
                "UPDATE api_keys SET last_used_at = GREATEST(api_keys.last_used_at, u.used_at) \
                 FROM unnest($1, $2) AS u(id, used_at) WHERE api_keys.id = u.id",
            )
            .bind::<Array<BigInt>, _>(last_used.iter().map(|(id, _)| id.get()).collect::<Vec<_>>())
            .bind::<Array<Timestamptz>, _>(last_used.iter().map(|(_, t)| *t).collect::<Vec<_>>())
            .execute(conn)?;
        }
        Ok(())
    })
}

/// Stored counts of one key since `since`: (minute, code, count).
pub fn since(
    conn: &mut PgConnection,
    key_id: KeyId,
    since: DateTime<Utc>,
) -> QueryResult<Vec<(DateTime<Utc>, String, i64)>> {
    api_key_usage::table
        .filter(api_key_usage::api_key_id.eq(key_id))
        .filter(api_key_usage::minute.ge(since))
        .select((
            api_key_usage::minute,
            api_key_usage::code,
            api_key_usage::count,
        ))
        .load(conn)
}

pub fn total(conn: &mut PgConnection, key_id: KeyId) -> QueryResult<i64> {
    api_key_usage::table
        .filter(api_key_usage::api_key_id.eq(key_id))
        .select(diesel::dsl::sql::<BigInt>(
            "COALESCE(SUM(count), 0)::bigint",
        ))
        .first(conn)
}
