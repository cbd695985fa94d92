//! Webhook endpoints and the outbox of their deliveries (SPEC §12).

use chrono::{DateTime, TimeDelta, Utc};
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Bool, Integer, Nullable, Text, Timestamptz};

use super::schema::{webhook_deliveries, webhook_endpoints};
use crate::domain::ids::{DeliveryId, EnvironmentId, WebhookId};

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = webhook_endpoints)]
pub struct Endpoint {
    pub id: WebhookId,
    pub environment_id: EnvironmentId,
    pub url: String,
    pub events: Vec<String>,
    pub secret_sealed: Vec<u8>,
    pub enabled: bool,
    pub disabled_for_failures_at: Option<DateTime<Utc>>,
    pub failing_since: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
}

/// Inserts an endpoint whose secret is sealed next (the seal is bound to the row's id).
pub fn insert_endpoint(
    conn: &mut PgConnection,
    environment_id: EnvironmentId,
    url: &str,
    events: &[&str],
    now: DateTime<Utc>,
) -> QueryResult<Endpoint> {
    diesel::insert_into(webhook_endpoints::table)
        .values((
            webhook_endpoints::environment_id.eq(environment_id),
            webhook_endpoints::url.eq(url),
            webhook_endpoints::events.eq(events),
            webhook_endpoints::secret_sealed.eq(Vec::<u8>::new()),
            webhook_endpoints::created_at.eq(now),
        ))
        .returning(Endpoint::as_returning())
        .get_result(conn)
}

pub fn set_secret(conn: &mut PgConnection, id: WebhookId, sealed: &[u8]) -> QueryResult<Endpoint> {
    diesel::update(webhook_endpoints::table.find(id))
        .set(webhook_endpoints::secret_sealed.eq(sealed))
        .returning(Endpoint::as_returning())
        .get_result(conn)
}

pub fn list_endpoints(
    conn: &mut PgConnection,
    environment_id: EnvironmentId,
) -> QueryResult<Vec<Endpoint>> {
    webhook_endpoints::table
        .filter(webhook_endpoints::environment_id.eq(environment_id))
        .order(webhook_endpoints::id.asc())
        .select(Endpoint::as_select())
        .load(conn)
}

/// The endpoint, locked for a change.
pub fn lock_endpoint(
    conn: &mut PgConnection,
    environment_id: EnvironmentId,
    id: WebhookId,
) -> QueryResult<Option<Endpoint>> {
    webhook_endpoints::table
        .filter(webhook_endpoints::environment_id.eq(environment_id))
        .filter(webhook_endpoints::id.eq(id))
        .select(Endpoint::as_select())
        .for_update()
        .first(conn)
        .optional()
}

pub fn find_endpoint(
    conn: &mut PgConnection,
    environment_id: EnvironmentId,
    id: WebhookId,
) -> QueryResult<Option<Endpoint>> {
    webhook_endpoints::table
        .filter(webhook_endpoints::environment_id.eq(environment_id))
        .filter(webhook_endpoints::id.eq(id))
        .select(Endpoint::as_select())
        .first(conn)
        .optional()
}

/// Switches an endpoint on or off by hand; switching it on forgets its failures.
pub fn set_enabled(conn: &mut PgConnection, id: WebhookId, enabled: bool) -> QueryResult<Endpoint> {
    diesel::update(webhook_endpoints::table.find(id))
        .set((
            webhook_endpoints::enabled.eq(enabled),
            webhook_endpoints::disabled_for_failures_at.eq(None::<DateTime<Utc>>),
            webhook_endpoints::failing_since.eq(None::<DateTime<Utc>>),
        ))
        .returning(Endpoint::as_returning())
        .get_result(conn)
}

pub fn delete_endpoint(conn: &mut PgConnection, id: WebhookId) -> QueryResult<()> {
    diesel::delete(webhook_endpoints::table.find(id))
        .execute(conn)
        .map(|_| ())
}

/// The environment's endpoints that are on and receive `event_type`.
pub fn subscribed(
    conn: &mut PgConnection,
    environment_id: EnvironmentId,
    event_type: &str,
) -> QueryResult<Vec<WebhookId>> {
    webhook_endpoints::table
        .filter(webhook_endpoints::environment_id.eq(environment_id))
        .filter(webhook_endpoints::enabled.eq(true))
        .filter(webhook_endpoints::events.contains(vec![event_type]))
        .select(webhook_endpoints::id)
        .load(conn)
}

#[derive(Debug, Insertable)]
#[diesel(table_name = webhook_deliveries)]
pub struct NewDelivery<'a> {
    pub endpoint_id: WebhookId,
    pub event_id: &'a str,
    pub event_type: &'a str,
    pub payload: &'a str,
    pub created_at: DateTime<Utc>,
    pub next_attempt_at: DateTime<Utc>,
}

pub fn insert_deliveries(conn: &mut PgConnection, rows: &[NewDelivery<'_>]) -> QueryResult<()> {
    if rows.is_empty() {
        return Ok(());
    }
    diesel::insert_into(webhook_deliveries::table)
        .values(rows)
        .execute(conn)
        .map(|_| ())
}

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = webhook_deliveries)]
pub struct Delivery {
    pub id: DeliveryId,
    pub endpoint_id: WebhookId,
    pub event_id: String,
    pub event_type: String,
    pub payload: String,
    pub created_at: DateTime<Utc>,
    pub state: String,
    pub attempts: i32,
    pub next_attempt_at: DateTime<Utc>,
    pub last_attempt_at: Option<DateTime<Utc>>,
    pub last_status: Option<i32>,
    pub last_error: Option<String>,
}

/// An endpoint's newest deliveries.
pub fn list_deliveries(
    conn: &mut PgConnection,
    endpoint_id: WebhookId,
    limit: i64,
) -> QueryResult<Vec<Delivery>> {
    webhook_deliveries::table
        .filter(webhook_deliveries::endpoint_id.eq(endpoint_id))
        .order(webhook_deliveries::id.desc())
        .limit(limit)
        .select(Delivery::as_select())
        .load(conn)
}

/// The same event (same id and body) queued again for the same endpoint, due now.
pub fn redeliver(
    conn: &mut PgConnection,
    endpoint_id: WebhookId,
    id: DeliveryId,
    now: DateTime<Utc>,
) -> QueryResult<Option<DeliveryId>> {
    let Some(original) = webhook_deliveries::table
        .filter(webhook_deliveries::endpoint_id.eq(endpoint_id))
        .filter(webhook_deliveries::id.eq(id))
        .select(Delivery::as_select())
        .first(conn)
        .optional()?
    else {
        return Ok(None);
    };
    diesel::insert_into(webhook_deliveries::table)
        .values(&NewDelivery {
            endpoint_id,
            event_id: &original.event_id,
            event_type: &original.event_type,
            payload: &original.payload,
            created_at: now,
            next_attempt_at: now,
        })
        .returning(webhook_deliveries::id)
        .get_result(conn)
        .map(Some)
}

/// A delivery claimed by this node, with what it takes to send it.
#[derive(Debug, QueryableByName)]
pub struct Claimed {
    #[diesel(sql_type = BigInt)]
    pub id: i64,
    #[diesel(sql_type = BigInt)]
    pub endpoint_id: i64,
    #[diesel(sql_type = Text)]
    pub url: String,
    #[diesel(sql_type = diesel::sql_types::Bytea)]
    pub secret_sealed: Vec<u8>,
    #[diesel(sql_type = Text)]
    pub payload: String,
    #[diesel(sql_type = Integer)]
    pub attempts: i32,
}

/// Claims up to `limit` due deliveries of endpoints that are on, for `lease`: one worker at a
/// time per delivery (`FOR UPDATE SKIP LOCKED` while claiming, `locked_until` while sending),
/// and a node that dies mid-delivery leaves it to another once the lease runs out. The try is
/// counted when claimed, so a delivery that kills its node still ends.
pub fn claim_due(
    conn: &mut PgConnection,
    now: DateTime<Utc>,
    lease: TimeDelta,
    limit: i64,
) -> QueryResult<Vec<Claimed>> {
    diesel::sql_query(
        "WITH due AS (
             SELECT d.id FROM webhook_deliveries d
             JOIN webhook_endpoints e ON e.id = d.endpoint_id AND e.enabled
             WHERE d.state = 'pending' AND d.next_attempt_at <= $1
               AND (d.locked_until IS NULL OR d.locked_until <= $1)
             ORDER BY d.next_attempt_at, d.id
             LIMIT $3
             FOR UPDATE OF d SKIP LOCKED)
         UPDATE webhook_deliveries d
            SET locked_until = $2, attempts = d.attempts + 1, last_attempt_at = $1
           FROM due, webhook_endpoints e
          WHERE d.id = due.id AND e.id = d.endpoint_id
         RETURNING d.id, d.endpoint_id, e.url, e.secret_sealed, d.payload, d.attempts",
    )
    .bind::<Timestamptz, _>(now)
    .bind::<Timestamptz, _>(now + lease)
    .bind::<BigInt, _>(limit)
    .load(conn)
}

/// What one try came to.
#[derive(Debug, Clone)]
pub struct Outcome {
    /// The receiver's status code, if it answered at all.
    pub status: Option<i32>,
    /// Why the try failed (not a 2xx, a time-out, a refused connection); `None` on success.
    pub error: Option<String>,
}

/// Records a try: delivered, retried at `retry_at`, or (with neither) failed for good. Tracks
/// since when the endpoint has failed every try; returns the endpoint's id when this try makes
/// it one that has failed for `failing_for` and it was switched off now.
pub fn record_attempt(
    conn: &mut PgConnection,
    delivery: DeliveryId,
    outcome: &Outcome,
    retry_at: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
    failing_for: TimeDelta,
) -> QueryResult<Option<WebhookId>> {
    conn.transaction(|conn| {
        let state = match (&outcome.error, retry_at) {
            (None, _) => "delivered",
            (Some(_), Some(_)) => "pending",
            (Some(_), None) => "failed",
        };
        let endpoint: WebhookId = diesel::update(webhook_deliveries::table.find(delivery))
            .set((
                webhook_deliveries::state.eq(state),
                webhook_deliveries::locked_until.eq(None::<DateTime<Utc>>),
                webhook_deliveries::last_status.eq(outcome.status),
                webhook_deliveries::last_error.eq(outcome.error.as_deref()),
                webhook_deliveries::next_attempt_at.eq(retry_at.unwrap_or(now)),
            ))
            .returning(webhook_deliveries::endpoint_id)
            .get_result(conn)?;
        if outcome.error.is_none() {
            diesel::update(webhook_endpoints::table.find(endpoint))
                .set(webhook_endpoints::failing_since.eq(None::<DateTime<Utc>>))
                .execute(conn)?;
            return Ok(None);
        }
        let switched_off: Option<WebhookId> = diesel::sql_query(
            "UPDATE webhook_endpoints
                SET failing_since = coalesce(failing_since, $2),
                    enabled = enabled AND coalesce(failing_since, $2) > $3,
                    disabled_for_failures_at = CASE
                        WHEN enabled AND coalesce(failing_since, $2) <= $3 THEN $2
                        ELSE disabled_for_failures_at END
              WHERE id = $1
          RETURNING CASE WHEN disabled_for_failures_at = $2 AND NOT enabled THEN id END AS id",
        )
        .bind::<BigInt, _>(endpoint.get())
        .bind::<Timestamptz, _>(now)
        .bind::<Timestamptz, _>(now - failing_for)
        .get_result::<SwitchedOff>(conn)
        .optional()?
        .and_then(|r| r.id.map(WebhookId));
        Ok(switched_off)
    })
}

#[derive(QueryableByName)]
struct SwitchedOff {
    #[diesel(sql_type = Nullable<BigInt>)]
    id: Option<i64>,
}

#[derive(QueryableByName)]
pub struct Counts {
    #[diesel(sql_type = BigInt)]
    pub pending: i64,
    #[diesel(sql_type = BigInt)]
    pub failed: i64,
}

/// Deliveries waiting to be sent (or retried), and those that failed for good.
pub fn counts(conn: &mut PgConnection) -> QueryResult<Counts> {
    diesel::sql_query(
        "SELECT count(*) FILTER (WHERE state = 'pending') AS pending,
                count(*) FILTER (WHERE state = 'failed') AS failed
           FROM webhook_deliveries",
    )
    .get_result(conn)
}

/// The advisory lock that lets one node at a time prune delivery history ("kwhooks").
pub const PRUNE_LOCK: i64 = 0x006b_7768_6f6f_6b73;

/// Deletes the deliveries created before `before`; `Ok(None)` when another node is at it.
pub fn prune(conn: &mut PgConnection, before: DateTime<Utc>) -> QueryResult<Option<usize>> {
    conn.transaction(|conn| {
        let locked: bool = diesel::select(diesel::dsl::sql::<Bool>(&format!(
            "pg_try_advisory_xact_lock({PRUNE_LOCK})"
        )))
        .get_result(conn)?;
        if !locked {
            return Ok(None);
        }
        // Pending rows that old belong to an endpoint switched off for weeks: stale too.
        diesel::delete(webhook_deliveries::table.filter(webhook_deliveries::created_at.lt(before)))
            .execute(conn)
            .map(Some)
    })
}

pub fn endpoint_by_id(conn: &mut PgConnection, id: WebhookId) -> QueryResult<Option<Endpoint>> {
    webhook_endpoints::table
        .find(id)
        .select(Endpoint::as_select())
        .first(conn)
        .optional()
}
