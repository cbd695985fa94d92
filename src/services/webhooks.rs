//! Webhook endpoints (add, switch, delete, roll the secret, redeliver) and the outbox: every
//! `api_key.*` event becomes one delivery row per subscribed endpoint, written in the
//! transaction of the change itself, so an event is sent if and only if its change commits.

use chrono::{DateTime, Utc};
use diesel::{Connection, PgConnection};
use serde_json::json;

use super::Change;
use crate::db::{self, api_keys::ApiKey, webhooks::Endpoint};
use crate::domain::audit::{AuditAction, AuditTarget};
use crate::domain::ids::{DeliveryId, EnvironmentId, WebhookId};
use crate::domain::webhook::{EventSelection, WebhookSecret, WebhookUrl};
use crate::error::AppError;
use crate::secret_box::SecretBox;

/// The sealed secret of endpoint `id` opens only under this context.
pub fn secret_context(id: WebhookId) -> String {
    format!("webhook:{id}")
}

fn target(endpoint: &Endpoint) -> AuditTarget<'_> {
    AuditTarget::Webhook {
        id: endpoint.id,
        url: &endpoint.url,
    }
}

fn seal_new_secret(
    conn: &mut PgConnection,
    secrets: &SecretBox,
    id: WebhookId,
) -> Result<(Endpoint, WebhookSecret), AppError> {
    let secret = WebhookSecret::generate()?;
    let sealed = secrets.seal(&secret_context(id), secret.expose().as_bytes())?;
    Ok((db::webhooks::set_secret(conn, id, &sealed)?, secret))
}

/// Adds an endpoint; its secret is returned to be shown once.
pub fn create(
    conn: &mut PgConnection,
    secrets: &SecretBox,
    environment_id: EnvironmentId,
    url: &WebhookUrl,
    events: &EventSelection,
    change: &Change,
) -> Result<(Endpoint, WebhookSecret), AppError> {
    conn.transaction(|conn| {
        let inserted = db::webhooks::insert_endpoint(
            conn,
            environment_id,
            url.as_str(),
            &events.names(),
            change.now,
        )?;
        let (endpoint, secret) = seal_new_secret(conn, secrets, inserted.id)?;
        change.actor.record(
            conn,
            Some(environment_id),
            target(&endpoint),
            AuditAction::WebhookCreated,
            json!({"url": endpoint.url, "events": endpoint.events}),
        )?;
        Ok((endpoint, secret))
    })
}

fn lock(
    conn: &mut PgConnection,
    environment_id: EnvironmentId,
    id: WebhookId,
) -> Result<Endpoint, AppError> {
    db::webhooks::lock_endpoint(conn, environment_id, id)?.ok_or(AppError::NotFound)
}

/// Switches an endpoint on or off (idempotent); on again, it forgets its past failures.
pub fn set_enabled(
    conn: &mut PgConnection,
    environment_id: EnvironmentId,
    id: WebhookId,
    enabled: bool,
    change: &Change,
) -> Result<Endpoint, AppError> {
    conn.transaction(|conn| {
        let before = lock(conn, environment_id, id)?;
        if before.enabled == enabled {
            return Ok(before);
        }
        let after = db::webhooks::set_enabled(conn, id, enabled)?;
        let action = if enabled {
            AuditAction::WebhookEnabled
        } else {
            AuditAction::WebhookDisabled
        };
        change.actor.record(
            conn,
            Some(environment_id),
            target(&after),
            action,
            json!({"url": after.url}),
        )?;
        Ok(after)
    })
}

/// Deletes an endpoint and its delivery history.
pub fn delete(
    conn: &mut PgConnection,
    environment_id: EnvironmentId,
    id: WebhookId,
    change: &Change,
) -> Result<(), AppError> {
    conn.transaction(|conn| {
        let endpoint = lock(conn, environment_id, id)?;
        db::webhooks::delete_endpoint(conn, id)?;
        change.actor.record(
            conn,
            Some(environment_id),
            target(&endpoint),
            AuditAction::WebhookDeleted,
            json!({"url": endpoint.url}),
        )?;
        Ok(())
    })
}

/// A new signing secret, shown once; deliveries from now on are signed with it.
pub fn roll_secret(
    conn: &mut PgConnection,
    secrets: &SecretBox,
    environment_id: EnvironmentId,
    id: WebhookId,
    change: &Change,
) -> Result<(Endpoint, WebhookSecret), AppError> {
    conn.transaction(|conn| {
        lock(conn, environment_id, id)?;
        let (endpoint, secret) = seal_new_secret(conn, secrets, id)?;
        change.actor.record(
            conn,
            Some(environment_id),
            target(&endpoint),
            AuditAction::WebhookSecretRolled,
            json!({"url": endpoint.url}),
        )?;
        Ok((endpoint, secret))
    })
}

/// Queues the same event (same `id`, same body) for the endpoint again, due now.
pub fn redeliver(
    conn: &mut PgConnection,
    environment_id: EnvironmentId,
    endpoint: WebhookId,
    delivery: DeliveryId,
    now: DateTime<Utc>,
) -> Result<DeliveryId, AppError> {
    db::webhooks::find_endpoint(conn, environment_id, endpoint)?.ok_or(AppError::NotFound)?;
    db::webhooks::redeliver(conn, endpoint, delivery, now)?.ok_or(AppError::NotFound)
}

/// The outbox: one delivery of this key event for each of the environment's endpoints that is
/// on and receives it. Call it inside the change's transaction, right after its audit event.
/// `extra` adds fields beside `data.key` (a leak's URL, an expiry warning's threshold).
pub fn announce_key_event(
    conn: &mut PgConnection,
    environment_id: EnvironmentId,
    action: AuditAction,
    key: &ApiKey,
    now: DateTime<Utc>,
    extra: serde_json::Map<String, serde_json::Value>,
) -> Result<(), AppError> {
    announce(conn, environment_id, action, &[(key, extra)], now)
}

/// `announce_key_event` for many keys at once (bulk actions): one look-up of the endpoints and
/// batched inserts, an event (with its own id) per key.
pub fn announce_key_events(
    conn: &mut PgConnection,
    environment_id: EnvironmentId,
    action: AuditAction,
    keys: &[ApiKey],
    now: DateTime<Utc>,
) -> Result<(), AppError> {
    let keys: Vec<_> = keys.iter().map(|k| (k, serde_json::Map::new())).collect();
    announce(conn, environment_id, action, &keys, now)
}

/// Rows per INSERT: well under PostgreSQL's 65 535 bind parameters.
const ROWS_PER_INSERT: usize = 1000;

fn announce(
    conn: &mut PgConnection,
    environment_id: EnvironmentId,
    action: AuditAction,
    keys: &[(&ApiKey, serde_json::Map<String, serde_json::Value>)],
    now: DateTime<Utc>,
) -> Result<(), AppError> {
    if keys.is_empty() {
        return Ok(());
    }
    let endpoints = db::webhooks::subscribed(conn, environment_id, action.as_str())?;
    if endpoints.is_empty() {
        return Ok(());
    }
    let mut events = Vec::with_capacity(keys.len());
    for (key, extra) in keys {
        let event_id = format!("evt_{}", crate::auth::random_token(16)?);
        // The management API's own rendering of a key: the same fields, never a secret.
        let key_json = crate::routes::api::keys::ApiKeyJson::snapshot((*key).clone(), now);
        let mut data = serde_json::Map::new();
        data.insert(
            "key".to_owned(),
            serde_json::to_value(key_json).map_err(|e| AppError::Unexpected(e.into()))?,
        );
        data.extend(extra.clone());
        let payload = json!({
            "id": event_id,
            "type": action.as_str(),
            "created_at": now,
            "data": data,
        })
        .to_string();
        events.push((event_id, payload));
    }
    let rows: Vec<_> = events
        .iter()
        .flat_map(|(event_id, payload)| {
            endpoints
                .iter()
                .map(move |endpoint_id| db::webhooks::NewDelivery {
                    endpoint_id: *endpoint_id,
                    event_id,
                    event_type: action.as_str(),
                    payload,
                    created_at: now,
                    next_attempt_at: now,
                })
        })
        .collect();
    for chunk in rows.chunks(ROWS_PER_INSERT) {
        db::webhooks::insert_deliveries(conn, chunk)?;
    }
    Ok(())
}

/// Records one try of a delivery; when it makes its endpoint one that has failed every try for
/// `FAILING_FOR`, the endpoint is switched off with a `webhook.disabled` event by Keyward.
pub fn record_attempt(
    conn: &mut PgConnection,
    delivery: DeliveryId,
    outcome: &db::webhooks::Outcome,
    retry_at: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
) -> Result<(), AppError> {
    use crate::domain::webhook::FAILING_FOR;
    conn.transaction(|conn| {
        let Some(switched_off) =
            db::webhooks::record_attempt(conn, delivery, outcome, retry_at, now, FAILING_FOR)?
        else {
            return Ok(());
        };
        let Some(endpoint) = db::webhooks::endpoint_by_id(conn, switched_off)? else {
            return Ok(());
        };
        tracing::warn!(webhook_id = %endpoint.id, "switched a webhook endpoint off: every delivery failed for 24 hours");
        crate::db::audit::Actor::system().record(
            conn,
            Some(endpoint.environment_id),
            target(&endpoint),
            AuditAction::WebhookDisabled,
            json!({"url": endpoint.url, "reason": "every delivery failed for 24 hours"}),
        )?;
        Ok(())
    })
}
