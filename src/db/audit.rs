//! The append-only audit trail. There is deliberately no update or delete here.

use diesel::prelude::*;

use super::schema::audit_events;
use crate::domain::audit::{ActorKind, AuditAction, AuditTarget};
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
    pub actor_type: &'a str,
    pub actor_email: Option<&'a str>,
    pub actor_key_masked: Option<&'a str>,
    pub target_type: Option<&'a str>,
    pub target_id: Option<i64>,
    pub target_name: Option<&'a str>,
    pub target_masked: Option<&'a str>,
}

pub fn record(conn: &mut PgConnection, event: &NewAuditEvent<'_>) -> QueryResult<()> {
    diesel::insert_into(audit_events::table)
        .values(event)
        .execute(conn)
        .map(|_| ())
}

/// Appends many events in as few statements as PostgreSQL's bind limit allows (one for any
/// bulk change the dashboard can send).
pub fn record_many(conn: &mut PgConnection, events: &[NewAuditEvent<'_>]) -> QueryResult<()> {
    // 14 columns a row; PostgreSQL takes at most 65 535 bind parameters a statement.
    for chunk in events.chunks(4000) {
        diesel::insert_into(audit_events::table)
            .values(chunk)
            .execute(conn)?;
    }
    Ok(())
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

/// One event as the Activity tab, the CSV export and the API show it.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = audit_events)]
pub struct AuditEvent {
    pub id: i64,
    pub occurred_at: chrono::DateTime<chrono::Utc>,
    pub actor_type: String,
    pub actor_email: Option<String>,
    pub actor_key_id: Option<KeyId>,
    pub actor_key_masked: Option<String>,
    pub client_ip: Option<String>,
    pub action: String,
    pub target_type: Option<String>,
    pub target_id: Option<i64>,
    pub target_name: Option<String>,
    pub target_masked: Option<String>,
    pub details: String,
}

/// Which events: one environment's (or, with `None`, the installation's own: users and
/// projects), optionally one action's or one key's.
#[derive(Debug, Clone, Default)]
pub struct AuditFilter {
    pub environment: Option<EnvironmentId>,
    pub action: Option<String>,
    pub key: Option<KeyId>,
}

/// Where a page starts: newest first from the top, or older than / newer than an event id.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuditCursor {
    Newest,
    Before(i64),
    After(i64),
}

/// Up to `limit` events, newest first, by keyset (`id`), never OFFSET.
pub fn page(
    conn: &mut PgConnection,
    filter: &AuditFilter,
    cursor: AuditCursor,
    limit: i64,
) -> QueryResult<Vec<AuditEvent>> {
    let mut query = audit_events::table
        .select(AuditEvent::as_select())
        .into_boxed();
    query = match filter.environment {
        Some(env) => query.filter(audit_events::environment_id.eq(env)),
        None => query.filter(audit_events::environment_id.is_null()),
    };
    if let Some(action) = &filter.action {
        query = query.filter(audit_events::action.eq(action.clone()));
    }
    if let Some(key) = filter.key {
        query = query
            .filter(audit_events::target_type.eq("api_key"))
            .filter(audit_events::target_id.eq(key.get()));
    }
    match cursor {
        AuditCursor::Newest => query.order(audit_events::id.desc()).limit(limit).load(conn),
        AuditCursor::Before(id) => query
            .filter(audit_events::id.lt(id))
            .order(audit_events::id.desc())
            .limit(limit)
            .load(conn),
        AuditCursor::After(id) => {
            let mut newer: Vec<AuditEvent> = query
                .filter(audit_events::id.gt(id))
                .order(audit_events::id.asc())
                .limit(limit)
                .load(conn)?;
            newer.reverse();
            Ok(newer)
        }
    }
}

/// Who did something, as they are at that moment: a signed-in person, an API key (management
/// API), a leak report, or Keyward itself.
#[derive(Debug, Clone, Default)]
pub struct Actor {
    pub kind: ActorKind,
    pub user_id: Option<UserId>,
    pub key_id: Option<KeyId>,
    pub email: Option<String>,
    pub key_masked: Option<String>,
    pub ip: Option<String>,
}

impl Actor {
    pub fn user(user_id: UserId, email: &str, ip: Option<String>) -> Self {
        Self {
            kind: ActorKind::User,
            user_id: Some(user_id),
            email: Some(email.to_owned()),
            ip,
            ..Self::default()
        }
    }

    pub fn api_key(key_id: KeyId, masked: &str, ip: Option<String>) -> Self {
        Self {
            kind: ActorKind::ApiKey,
            key_id: Some(key_id),
            key_masked: Some(masked.to_owned()),
            ip,
            ..Self::default()
        }
    }

    /// A secret-scanning partner's report (GitHub) naming a leaked key.
    pub fn leak_report() -> Self {
        Self {
            kind: ActorKind::LeakReport,
            ..Self::default()
        }
    }

    /// Keyward itself (expiry warnings, background work).
    pub fn system() -> Self {
        Self::default()
    }

    /// Appends one event per target, all with the same action, in one statement; call it
    /// inside the transaction that makes the changes.
    pub fn record_each(
        &self,
        conn: &mut PgConnection,
        environment_id: Option<EnvironmentId>,
        action: AuditAction,
        events: &[(AuditTarget<'_>, serde_json::Value)],
    ) -> QueryResult<()> {
        let written: Vec<(String, String)> = events
            .iter()
            .map(|(target, details)| (target.to_string(), details.to_string()))
            .collect();
        let rows: Vec<NewAuditEvent<'_>> = events
            .iter()
            .zip(&written)
            .map(|((target, _), (target_text, details))| NewAuditEvent {
                actor_user_id: self.user_id,
                actor_key_id: self.key_id,
                client_ip: self.ip.as_deref(),
                environment_id,
                target: target_text,
                action: action.as_str(),
                details: details.clone(),
                actor_type: self.kind.as_str(),
                actor_email: self.email.as_deref(),
                actor_key_masked: self.key_masked.as_deref(),
                target_type: Some(target.kind()),
                target_id: Some(target.id()),
                target_name: Some(target.name()),
                target_masked: target.masked(),
            })
            .collect();
        record_many(conn, &rows)
    }

    /// Appends one event; call it inside the transaction that makes the change.
    pub fn record(
        &self,
        conn: &mut PgConnection,
        environment_id: Option<EnvironmentId>,
        target: AuditTarget<'_>,
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
                actor_type: self.kind.as_str(),
                actor_email: self.email.as_deref(),
                actor_key_masked: self.key_masked.as_deref(),
                target_type: Some(target.kind()),
                target_id: Some(target.id()),
                target_name: Some(target.name()),
                target_masked: target.masked(),
            },
        )
    }
}
