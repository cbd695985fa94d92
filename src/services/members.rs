//! Who belongs to an environment, and as what. Each change and its audit event commit together.

use diesel::{Connection, PgConnection};
use serde_json::json;

use crate::db::{self, audit::Actor, users::User};
use crate::domain::audit::{AuditAction, AuditTarget};
use crate::domain::ids::{EnvironmentId, UserId};
use crate::domain::user::{Email, Role};
use crate::error::AppError;

/// Why a person could not be added, in words for the form.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AddRefused {
    NoSuchUser(String),
}

impl std::fmt::Display for AddRefused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::NoSuchUser(email) => write!(
                f,
                "No user has the email {email}. An administrator can create the account under Admin."
            ),
        }
    }
}

/// Adds an existing user with `role`, or changes the role of one who is already a member.
#[tracing::instrument(skip_all, fields(environment_id = %environment_id))]
pub fn add(
    conn: &mut PgConnection,
    environment_id: EnvironmentId,
    email: &Email,
    role: Role,
    actor: &Actor,
) -> Result<Result<(), AddRefused>, AppError> {
    conn.transaction(|conn| {
        let Some(member) = db::users::find_by_email(conn, email.as_str())? else {
            return Ok(Err(AddRefused::NoSuchUser(email.as_str().to_owned())));
        };
        let previous = db::memberships::upsert(conn, member.id, environment_id, role)?;
        let action = if previous.is_some() {
            AuditAction::MembershipRoleChanged
        } else {
            AuditAction::MembershipAdded
        };
        actor.record(
            conn,
            Some(environment_id),
            AuditTarget::User {
                id: member.id,
                email: &member.email,
            },
            action,
            json!({"email": member.email, "role": role.as_str(),
                   "previous_role": previous.map(Role::as_str)}),
        )?;
        Ok(Ok(()))
    })
}

/// A member's role in the environment and who they are; 404 when they are not a member.
fn membership(
    conn: &mut PgConnection,
    environment_id: EnvironmentId,
    member: UserId,
) -> Result<(Role, User), AppError> {
    let role = db::memberships::role_of(conn, member, environment_id)?.ok_or(AppError::NotFound)?;
    let person = db::users::find(conn, member)?.ok_or(AppError::NotFound)?;
    Ok((role, person))
}

/// Changes a member's role (nothing is recorded when it stays the same).
#[tracing::instrument(skip_all, fields(environment_id = %environment_id, user_id = %member))]
pub fn change_role(
    conn: &mut PgConnection,
    environment_id: EnvironmentId,
    member: UserId,
    role: Role,
    actor: &Actor,
) -> Result<(), AppError> {
    conn.transaction(|conn| {
        let (previous, person) = membership(conn, environment_id, member)?;
        if previous != role {
            db::memberships::upsert(conn, member, environment_id, role)?;
            actor.record(
                conn,
                Some(environment_id),
                AuditTarget::User {
                    id: member,
                    email: &person.email,
                },
                AuditAction::MembershipRoleChanged,
                json!({"role": role.as_str(), "previous_role": previous.as_str()}),
            )?;
        }
        Ok(())
    })
}

#[tracing::instrument(skip_all, fields(environment_id = %environment_id, user_id = %member))]
pub fn remove(
    conn: &mut PgConnection,
    environment_id: EnvironmentId,
    member: UserId,
    actor: &Actor,
) -> Result<(), AppError> {
    conn.transaction(|conn| {
        let (previous, person) = membership(conn, environment_id, member)?;
        db::memberships::remove(conn, member, environment_id)?;
        actor.record(
            conn,
            Some(environment_id),
            AuditTarget::User {
                id: member,
                email: &person.email,
            },
            AuditAction::MembershipRemoved,
            json!({"previous_role": previous.as_str()}),
        )?;
        Ok(())
    })
}
