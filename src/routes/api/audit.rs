//! `GET /api/v1/audit-events` (SPEC §10): the key's own environment's audit events, newest
//! first, by cursor, with the actor and target as they were when each event was written.

use actix_web::{HttpResponse, web};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::auth::AdminKey;
use super::body::WholeNumber;
use super::error::ApiError;
use crate::db::audit::{self, AuditCursor, AuditEvent};
use crate::domain::audit::AuditAction;
use crate::routes::activity::ActivityQuery;
use crate::services;
use crate::state::AppState;

pub const DEFAULT_LIMIT: i64 = 50;
pub const MAX_LIMIT: i64 = 100;

/// Unknown parameters are refused, as unknown body fields are.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct AuditQuery {
    /// How many events, 1 to 100.
    #[param(value_type = Option<i64>, minimum = 1, maximum = 100, default = 50)]
    pub limit: Option<String>,
    /// `next_cursor` of the previous page.
    #[param(pattern = "^ev[1-9a-f][0-9a-f]{0,14}$")]
    pub cursor: Option<String>,
    /// Only this key's events.
    #[param(value_type = Option<i64>, minimum = 1)]
    pub key_id: Option<String>,
    /// Only this action's events.
    #[param(inline)]
    pub action: Option<ActionParam>,
}

/// The actions an environment's trail holds, as the `action` parameter names them.
#[derive(Debug, Clone, Copy, Deserialize, ToSchema)]
pub enum ActionParam {
    #[serde(rename = "api_key.created")]
    ApiKeyCreated,
    #[serde(rename = "api_key.enabled")]
    ApiKeyEnabled,
    #[serde(rename = "api_key.disabled")]
    ApiKeyDisabled,
    #[serde(rename = "api_key.updated")]
    ApiKeyUpdated,
    #[serde(rename = "api_key.rotated")]
    ApiKeyRotated,
    #[serde(rename = "api_key.revoked")]
    ApiKeyRevoked,
    #[serde(rename = "api_key.leaked")]
    ApiKeyLeaked,
    #[serde(rename = "api_key.expiring")]
    ApiKeyExpiring,
    #[serde(rename = "membership.added")]
    MembershipAdded,
    #[serde(rename = "membership.role_changed")]
    MembershipRoleChanged,
    #[serde(rename = "membership.removed")]
    MembershipRemoved,
    #[serde(rename = "webhook.created")]
    WebhookCreated,
    #[serde(rename = "webhook.disabled")]
    WebhookDisabled,
    #[serde(rename = "webhook.enabled")]
    WebhookEnabled,
    #[serde(rename = "webhook.deleted")]
    WebhookDeleted,
    #[serde(rename = "webhook.secret_rolled")]
    WebhookSecretRolled,
}

impl ActionParam {
    fn action(self) -> AuditAction {
        match self {
            Self::ApiKeyCreated => AuditAction::ApiKeyCreated,
            Self::ApiKeyEnabled => AuditAction::ApiKeyEnabled,
            Self::ApiKeyDisabled => AuditAction::ApiKeyDisabled,
            Self::ApiKeyUpdated => AuditAction::ApiKeyUpdated,
            Self::ApiKeyRotated => AuditAction::ApiKeyRotated,
            Self::ApiKeyRevoked => AuditAction::ApiKeyRevoked,
            Self::ApiKeyLeaked => AuditAction::ApiKeyLeaked,
            Self::ApiKeyExpiring => AuditAction::ApiKeyExpiring,
            Self::MembershipAdded => AuditAction::MembershipAdded,
            Self::MembershipRoleChanged => AuditAction::MembershipRoleChanged,
            Self::MembershipRemoved => AuditAction::MembershipRemoved,
            Self::WebhookCreated => AuditAction::WebhookCreated,
            Self::WebhookDisabled => AuditAction::WebhookDisabled,
            Self::WebhookEnabled => AuditAction::WebhookEnabled,
            Self::WebhookDeleted => AuditAction::WebhookDeleted,
            Self::WebhookSecretRolled => AuditAction::WebhookSecretRolled,
        }
    }
}

/// Who did it, as they were then.
#[derive(Debug, Serialize, ToSchema)]
pub struct AuditActor {
    /// `user`, `api_key`, `leak_report` or `system`.
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key_id: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub masked: Option<String>,
}

/// What it was done to, as it was then.
#[derive(Debug, Serialize, ToSchema)]
pub struct AuditTargetJson {
    /// `api_key`, `user`, `project` or `webhook`.
    #[serde(rename = "type")]
    pub kind: String,
    pub id: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub masked: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AuditEventJson {
    pub id: i64,
    pub occurred_at: DateTime<Utc>,
    pub actor: AuditActor,
    pub action: String,
    pub target: AuditTargetJson,
    #[schema(required = true)]
    pub ip: Option<String>,
    #[schema(value_type = Object)]
    pub details: serde_json::Value,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AuditEventList {
    pub data: Vec<AuditEventJson>,
    /// Pass as `cursor` for the next (older) page; `null` on the last one.
    #[schema(required = true)]
    pub next_cursor: Option<String>,
}

impl From<AuditEvent> for AuditEventJson {
    fn from(e: AuditEvent) -> Self {
        Self {
            id: e.id,
            occurred_at: e.occurred_at,
            actor: AuditActor {
                kind: e.actor_type,
                email: e.actor_email,
                key_id: e.actor_key_id.map(|k| k.get()),
                masked: e.actor_key_masked,
            },
            action: e.action,
            target: AuditTargetJson {
                kind: e.target_type.unwrap_or_default(),
                id: e.target_id.unwrap_or_default(),
                name: e.target_name,
                masked: e.target_masked,
            },
            ip: e.client_ip,
            details: serde_json::from_str(&e.details).unwrap_or_default(),
        }
    }
}

/// The cursor is opaque to clients: the id of the last event they saw, written so that nobody
/// mistakes it for a number to compute with.
fn encode_cursor(id: i64) -> String {
    format!("ev{id:x}")
}

fn decode_cursor(raw: &str) -> Option<i64> {
    i64::from_str_radix(raw.strip_prefix("ev")?, 16)
        .ok()
        .filter(|id| *id > 0)
}

pub async fn list(
    admin: AdminKey,
    state: web::Data<AppState>,
    query: web::Query<AuditQuery>,
) -> Result<HttpResponse, ApiError> {
    let query = query.into_inner();
    let limit = match query.limit.as_deref() {
        None => DEFAULT_LIMIT,
        Some(raw) => WholeNumber::parse(raw)
            .filter(|n| (1..=MAX_LIMIT).contains(n))
            .ok_or_else(|| {
                ApiError::field(
                    "limit",
                    format!("limit is a whole number from 1 to {MAX_LIMIT}."),
                )
            })?,
    };
    let cursor = match query.cursor.as_deref() {
        None => AuditCursor::Newest,
        Some(raw) => AuditCursor::Before(decode_cursor(raw).ok_or_else(|| {
            ApiError::field("cursor", "Pass a next_cursor from an earlier page.")
        })?),
    };
    let key = match query.key_id.as_deref() {
        None => String::new(),
        Some(raw) => {
            if raw.parse::<crate::domain::ids::KeyId>().is_err() {
                return Err(ApiError::field("key_id", "key_id is a key's id."));
            }
            raw.to_owned()
        }
    };
    // The same filter the Activity tab reads.
    let filter = ActivityQuery {
        action: query
            .action
            .map(|a| a.action().as_str().to_owned())
            .unwrap_or_default(),
        key,
        before: None,
        after: None,
    }
    .filter(admin.environment_id);
    let mut events = services::run(&state.pool, move |conn| {
        Ok(audit::page(conn, &filter, cursor, limit + 1)?)
    })
    .await?;
    let next_cursor = if events.len() as i64 > limit {
        events.truncate(limit as usize);
        events.last().map(|e| encode_cursor(e.id))
    } else {
        None
    };
    Ok(HttpResponse::Ok().json(AuditEventList {
        data: events.into_iter().map(AuditEventJson::from).collect(),
        next_cursor,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_refuse_what_they_did_not_write() {
        assert_eq!(decode_cursor(&encode_cursor(12345)), Some(12345));
        for bad in ["", "12345", "ev", "evzz", "ev-1", "ev0"] {
            assert_eq!(decode_cursor(bad), None, "{bad}");
        }
    }
}
