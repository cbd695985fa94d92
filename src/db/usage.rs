//! Verification counts, written in batches: one statement per table per flush.

use chrono::{DateTime, TimeDelta, Utc};
use diesel::prelude::*;
use diesel::sql_types::{Array, BigInt, Bool, Nullable, Text, Timestamptz};

use super::schema::{api_key_usage, api_key_usage_hourly};
use crate::domain::ids::KeyId;

/// One counter of the in-memory buffer.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct UsageCell {
    pub key_id: KeyId,
    pub minute: DateTime<Utc>,
    pub code: &'static str,
}

/// Adds `counts` to the stored ones and raises `last_used_at` (with the client address the
/// caller reported at that use, when it reported one), in one transaction.
pub fn add(
    conn: &mut PgConnection,
    counts: &[(UsageCell, i64)],
    last_used: &[(KeyId, DateTime<Utc>, Option<String>)],
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
                "UPDATE api_keys SET last_used_at = GREATEST(api_keys.last_used_at, u.used_at), \
                 last_used_ip = CASE WHEN u.ip IS NOT NULL AND (api_keys.last_used_at IS NULL \
                     OR u.used_at >= api_keys.last_used_at) THEN u.ip ELSE api_keys.last_used_ip END \
                 FROM unnest($1, $2, $3) AS u(id, used_at, ip) WHERE api_keys.id = u.id",
            )
            .bind::<Array<BigInt>, _>(
                last_used
                    .iter()
                    .map(|(id, _, _)| id.get())
                    .collect::<Vec<_>>(),
            )
            .bind::<Array<Timestamptz>, _>(last_used.iter().map(|(_, t, _)| *t).collect::<Vec<_>>())
            .bind::<Array<Nullable<Text>>, _>(
                last_used
                    .iter()
                    .map(|(_, _, ip)| ip.clone())
                    .collect::<Vec<_>>(),
            )
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

/// The outcome code counted as `valid`; every other code is `refused`. (`verify::Code::Valid`,
/// spelled here so that db does not depend on verify; a test keeps the two equal.)
pub const VALID_CODE: &str = "VALID";

/// Per-minute rows are kept this long (SPEC §10: at least 48 hours).
pub const MINUTE_RETENTION: TimeDelta = TimeDelta::hours(48);
/// Hourly roll-ups are kept this long (SPEC §10: at least 90 days).
pub const HOURLY_RETENTION: TimeDelta = TimeDelta::days(90);
/// Each roll-up recomputes this many finished hours again, so minute rows written late (a
/// node's flush retried after a database hiccup) still reach the hourly table.
pub const LATE_WRITES: TimeDelta = TimeDelta::hours(2);
/// The advisory lock that lets one node at a time roll up ("kwusage").
pub const ROLLUP_LOCK: i64 = 0x006b_7775_7361_6765;

/// The start of `t`'s hour (UTC).
pub fn hour_of(t: DateTime<Utc>) -> DateTime<Utc> {
    DateTime::from_timestamp(t.timestamp().div_euclid(3600) * 3600, 0).unwrap_or_default()
}

/// What one roll-up did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rollup {
    /// Hourly rows written (new or recomputed).
    pub hours_written: usize,
    /// Hours before this are read from the hourly table.
    pub rolled_up_to: DateTime<Utc>,
    pub minutes_pruned: usize,
    pub hours_pruned: usize,
}

/// Rolls the finished hours (before `now`'s hour) up into `api_key_usage_hourly`, then prunes
/// minute rows older than 48 hours and hourly rows older than 90 days. One node at a time: the
/// advisory lock is taken inside the transaction, and `Ok(None)` means another node holds it.
/// Hourly rows are recomputed from the minute rows (not added to), so running it twice, or
/// after late writes, never counts anything twice.
pub fn roll_up(conn: &mut PgConnection, now: DateTime<Utc>) -> QueryResult<Option<Rollup>> {
    use super::schema::api_key_usage_rollup;
    conn.transaction(|conn| {
        let locked: bool = diesel::select(diesel::dsl::sql::<Bool>(&format!(
            "pg_try_advisory_xact_lock({ROLLUP_LOCK})"
        )))
        .get_result(conn)?;
        if !locked {
            return Ok(None);
        }
        let cutoff = hour_of(now);
        let mark: Option<DateTime<Utc>> = api_key_usage_rollup::table
            .find(1i16)
            .select(api_key_usage_rollup::rolled_up_to)
            .for_update()
            .first::<Option<DateTime<Utc>>>(conn)
            .optional()?
            .flatten();
        // No mark yet: every stored minute (an installation that kept usage before roll-ups).
        let from = mark.map(|m| m.min(cutoff) - LATE_WRITES);
        let hours_written = diesel::sql_query(
            "INSERT INTO api_key_usage_hourly (api_key_id, hour, valid, refused) \
             SELECT api_key_id, date_trunc('hour', minute AT TIME ZONE 'UTC') AT TIME ZONE 'UTC', \
                    COALESCE(SUM(count) FILTER (WHERE code = $3), 0)::bigint, \
                    COALESCE(SUM(count) FILTER (WHERE code <> $3), 0)::bigint \
             FROM api_key_usage \
             WHERE minute >= COALESCE($1, '-infinity'::timestamptz) AND minute < $2 \
             GROUP BY 1, 2 \
             ON CONFLICT (api_key_id, hour) \
             DO UPDATE SET valid = excluded.valid, refused = excluded.refused",
        )
        .bind::<Nullable<Timestamptz>, _>(from)
        .bind::<Timestamptz, _>(cutoff)
        .bind::<Text, _>(VALID_CODE)
        .execute(conn)?;
        let rolled_up_to = mark.map_or(cutoff, |m| m.max(cutoff));
        diesel::insert_into(api_key_usage_rollup::table)
            .values((
                api_key_usage_rollup::id.eq(1i16),
                api_key_usage_rollup::rolled_up_to.eq(Some(rolled_up_to)),
            ))
            .on_conflict(api_key_usage_rollup::id)
            .do_update()
            .set(api_key_usage_rollup::rolled_up_to.eq(Some(rolled_up_to)))
            .execute(conn)?;
        // Whole hours only, and never an hour the next run recomputes (LATE_WRITES < 48 h).
        let minutes_pruned = diesel::delete(
            api_key_usage::table.filter(api_key_usage::minute.lt(cutoff - MINUTE_RETENTION)),
        )
        .execute(conn)?;
        let hours_pruned = diesel::delete(
            api_key_usage_hourly::table
                .filter(api_key_usage_hourly::hour.lt(cutoff - HOURLY_RETENTION)),
        )
        .execute(conn)?;
        Ok(Some(Rollup {
            hours_written,
            rolled_up_to,
            minutes_pruned,
            hours_pruned,
        }))
    })
}

#[derive(QueryableByName)]
struct KeyCount {
    #[diesel(sql_type = BigInt)]
    api_key_id: i64,
    #[diesel(sql_type = BigInt)]
    valid: i64,
}

/// Valid verifications since `since` of each of these keys that had any: hourly roll-ups for
/// the hours before the roll-up mark (from the start of `since`'s hour), minute rows after it.
/// Keys without any are left out.
pub fn valid_since(
    conn: &mut PgConnection,
    key_ids: &[KeyId],
    since: DateTime<Utc>,
) -> QueryResult<Vec<(KeyId, i64)>> {
    let rows: Vec<KeyCount> = diesel::sql_query(
        "WITH mark AS (SELECT COALESCE((SELECT rolled_up_to FROM api_key_usage_rollup \
                                        WHERE id = 1), '-infinity'::timestamptz) AS t), \
         counts AS ( \
           SELECT h.api_key_id, h.valid FROM api_key_usage_hourly h, mark \
           WHERE h.api_key_id = ANY($1) AND h.hour >= $2 AND h.hour < mark.t AND h.valid > 0 \
           UNION ALL \
           SELECT u.api_key_id, u.count FROM api_key_usage u, mark \
           WHERE u.api_key_id = ANY($1) AND u.minute >= GREATEST($3, mark.t) AND u.code = $4) \
         SELECT api_key_id, SUM(valid)::bigint AS valid FROM counts \
         GROUP BY api_key_id HAVING SUM(valid) > 0",
    )
    .bind::<Array<BigInt>, _>(key_ids.iter().map(|id| id.get()).collect::<Vec<_>>())
    .bind::<Timestamptz, _>(hour_of(since))
    .bind::<Timestamptz, _>(since)
    .bind::<Text, _>(VALID_CODE)
    .load(conn)?;
    Ok(rows
        .into_iter()
        .map(|r| (KeyId(r.api_key_id), r.valid))
        .collect())
}

#[derive(QueryableByName)]
struct HourRow {
    #[diesel(sql_type = Timestamptz)]
    hour: DateTime<Utc>,
    #[diesel(sql_type = BigInt)]
    valid: i64,
    #[diesel(sql_type = BigInt)]
    refused: i64,
}

/// One key's verifications per hour in `[from, to)`, oldest first, hours without any left out:
/// rolled-up hours from the hourly table, later ones (the current hour, and any the roll-up
/// has not reached) summed from the minute rows, so a verification shows once it is flushed.
pub fn hourly(
    conn: &mut PgConnection,
    key_id: KeyId,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> QueryResult<Vec<(DateTime<Utc>, i64, i64)>> {
    let rows: Vec<HourRow> = diesel::sql_query(
        "WITH mark AS (SELECT COALESCE((SELECT rolled_up_to FROM api_key_usage_rollup \
                                        WHERE id = 1), '-infinity'::timestamptz) AS t) \
         SELECT h.hour, h.valid, h.refused FROM api_key_usage_hourly h, mark \
         WHERE h.api_key_id = $1 AND h.hour >= $2 AND h.hour < $3 AND h.hour < mark.t \
         UNION ALL \
         SELECT date_trunc('hour', u.minute AT TIME ZONE 'UTC') AT TIME ZONE 'UTC' AS hour, \
                COALESCE(SUM(u.count) FILTER (WHERE u.code = $4), 0)::bigint AS valid, \
                COALESCE(SUM(u.count) FILTER (WHERE u.code <> $4), 0)::bigint AS refused \
         FROM api_key_usage u, mark \
         WHERE u.api_key_id = $1 AND u.minute >= GREATEST($2, mark.t) AND u.minute < $3 \
         GROUP BY 1 \
         ORDER BY 1",
    )
    .bind::<BigInt, _>(key_id.get())
    .bind::<Timestamptz, _>(from)
    .bind::<Timestamptz, _>(to)
    .bind::<Text, _>(VALID_CODE)
    .load(conn)?;
    Ok(rows
        .into_iter()
        .map(|r| (r.hour, r.valid, r.refused))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_valid_code_is_the_verifiers() {
        assert_eq!(VALID_CODE, crate::verify::Code::Valid.as_str());
    }

    #[test]
    fn hours_start_on_the_hour() {
        let t = DateTime::parse_from_rfc3339("2026-11-23T10:59:59.9Z")
            .map(|t| t.with_timezone(&Utc))
            .unwrap_or_default();
        assert_eq!(hour_of(t).to_rfc3339(), "2026-11-23T10:00:00+00:00");
    }
}
