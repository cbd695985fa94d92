//! The append-only audit trail. There is deliberately no update or delete here.

use diesel::prelude::*;

use super::schema::audit_events;
use crate::domain::audit::{AuditAction, AuditTarget};
use crate::domain::ids::{EnvironmentId, KeyId, UserId};

#[derive(Debug, Insertable)]
#[diesel(table_name = audit_events)]
pub struct NewAuditEvent<'a> {
    pub actor_user_id: Option<UserId>,
    pub actor_key_id: Option<KeyId>,
    pub client_ip: Option<&'a str>,
    pub environment_id: Option<EnvironmentId>,
    pub target: &'a str,
    pub action: &'a str,
    pub details: String,
}

pub fn record(conn: &mut PgConnection, event: &NewAuditEvent<'_>) -> QueryResult<()> {
    diesel::insert_into(audit_events::table)
        .values(event)
        .execute(conn)
        .map(|_| ())
}

#[derive(Debug, Queryable)]
pub struct AuditRow {
    pub action: String,
    pub target: String,
    pub details: String,
}

pub fn list_for_environment(
    conn: &mut PgConnection,
    environment_id: EnvironmentId,
) -> QueryResult<Vec<AuditRow>> {
    audit_events::table
        .filter(audit_events::environment_id.eq(environment_id))
        .order(audit_events::id.desc())
        .select((
            audit_events::action,
            audit_events::target,
            audit_events::details,
        ))
        .load(conn)
}

/// Who did something: a signed-in person, or an API key (management API).
#[derive(Debug, Clone, Default)]
pub struct Actor {
    pub user_id: Option<UserId>,
    pub key_id: Option<KeyId>,
    pub ip: Option<String>,
}

impl Actor {
    pub fn user(user_id: UserId, ip: Option<String>) -> Self {
        Self {
            user_id: Some(user_id),
            key_id: None,
            ip,
        }
    }

    /// Appends one event; call it inside the transaction that makes the change.
    pub fn record(
        &self,
        conn: &mut PgConnection,
        environment_id: Option<EnvironmentId>,
        target: AuditTarget,
        action: AuditAction,
        details: serde_json::Value,
    ) -> QueryResult<()> {
        record(
            conn,
            &NewAuditEvent {
                actor_user_id: self.user_id,
                actor_key_id: self.key_id,
                client_ip: self.ip.as_deref(),
                environment_id,
                target: &target.to_string(),
                action: action.as_str(),
                details: details.to_string(),
            },
        )
    }
}
