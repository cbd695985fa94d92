//! The cluster's token buckets: one atomic statement takes a slice (refilling first, from the
//! time since the last refill), another gives unused tokens back.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel::sql_types::{Array, BigInt, Double, Timestamptz};

use crate::domain::ids::KeyId;

/// What a reservation got, and what the bucket held right after it.
#[derive(Debug, Clone, Copy, PartialEq, QueryableByName)]
pub struct Slice {
    #[diesel(sql_type = Double)]
    pub granted: f64,
    #[diesel(sql_type = Double)]
    pub tokens: f64,
}

/// The bucket's tokens brought up to `$4` (at `$2` per minute, at most `$2`); `b.` is the row.
const REFILLED: &str = "least($2, b.tokens + $2 * greatest(0, extract(epoch from ($4 - b.refilled_at))::float8) / 60.0)";

/// Takes up to `want` whole tokens (at least one while one is there, and at most the bucket's
/// refilled tokens divided by `share`, so a low bucket is handed out in small slices) from the
/// bucket of `key` with capacity `per_minute`, created full on first use. `now` is the app's
/// clock, never the database's, so tests can move time.
pub fn take(
    conn: &mut PgConnection,
    key: KeyId,
    per_minute: u32,
    want: u64,
    share: u64,
    now: DateTime<Utc>,
) -> QueryResult<Slice> {
    let grant = format!("least(floor({REFILLED}), greatest(1, least($3, floor({REFILLED} / $5))))");
    let first = "least($2, greatest(1, least($3, floor($2 / $5))))";
    diesel::sql_query(format!(
        "INSERT INTO rate_buckets AS b (api_key_id, capacity, tokens, granted, refilled_at) \
         VALUES ($1, $2, $2 - {first}, {first}, $4) \
         ON CONFLICT (api_key_id) DO UPDATE SET \
           capacity = $2, \
           granted = {grant}, \
           tokens = {REFILLED} - {grant}, \
           refilled_at = greatest(b.refilled_at, $4) \
         RETURNING granted, tokens"
    ))
    .bind::<BigInt, _>(key.get())
    .bind::<Double, _>(f64::from(per_minute))
    .bind::<Double, _>(want as f64)
    .bind::<Timestamptz, _>(now)
    .bind::<Double, _>(share.max(1) as f64)
    .get_result(conn)
}

/// Gives unused tokens back (never above a bucket's capacity), in one statement for all keys.
pub fn give_back(conn: &mut PgConnection, unused: &[(KeyId, u64)]) -> QueryResult<usize> {
    if unused.is_empty() {
        return Ok(0);
    }
    diesel::sql_query(
        "UPDATE rate_buckets AS b SET tokens = least(b.capacity, b.tokens + u.n) \
         FROM unnest($1, $2) AS u(id, n) WHERE b.api_key_id = u.id",
    )
    .bind::<Array<BigInt>, _>(unused.iter().map(|(k, _)| k.get()).collect::<Vec<_>>())
    .bind::<Array<Double>, _>(unused.iter().map(|(_, n)| *n as f64).collect::<Vec<_>>())
    .execute(conn)
}
