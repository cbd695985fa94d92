//! Accounts: created, disabled and enabled, made administrators, by administrators.

use diesel::{Connection, PgConnection};
use serde_json::json;

use crate::db::{self, audit::Actor};
use crate::domain::Invalid;
use crate::domain::audit::{AuditAction, AuditTarget};
use crate::domain::ids::UserId;
use crate::domain::user::{DisplayName, Email};
use crate::error::AppError;

pub const EMAIL_TAKEN: &str = "A user with this email already exists.";
pub const LAST_ADMIN: &str =
    "This is the last active administrator: make someone else an administrator first.";

/// Refuses a change that would leave no active administrator. The admins' rows stay locked
/// until the transaction ends, so two administrators removing each other cannot both succeed.
fn keep_an_admin(conn: &mut PgConnection, losing: UserId) -> Result<(), AppError> {
    let admins = db::users::lock_active_admins(conn)?;
    if admins.iter().all(|id| *id == losing) && admins.contains(&losing) {
        return Err(Invalid::new(LAST_ADMIN).into());
    }
    Ok(())
}

/// A new account whose password is already hashed (argon2 runs before any connection is held).
pub struct NewAccount {
    pub email: Email,
    pub display_name: DisplayName,
    pub password_hash: String,
}

/// `Ok(false)` when the email is taken.
#[tracing::instrument(skip_all)]
pub fn create(
    conn: &mut PgConnection,
    account: &NewAccount,
    actor: &Actor,
) -> Result<bool, AppError> {
    conn.transaction(|conn| {
        let new = db::users::NewUser {
            email: account.email.as_str(),
            display_name: account.display_name.as_str(),
            password_hash: &account.password_hash,
            is_admin: false,
        };
        let Some(created) = db::users::create(conn, &new)? else {
            return Ok(false);
        };
        actor.record(
            conn,
            None,
            AuditTarget::User {
                id: created.id,
                email: &created.email,
            },
            AuditAction::UserCreated,
            json!({"email": created.email}),
        )?;
        Ok(true)
    })
}

/// Disables or enables an account. Disabling ends all of its sessions at once, on every node.
#[tracing::instrument(skip_all, fields(user_id = %target, disabled = disabled))]
pub fn set_disabled(
    conn: &mut PgConnection,
    target: UserId,
    disabled: bool,
    actor: &Actor,
) -> Result<(), AppError> {
    if Some(target) == actor.user_id && disabled {
        return Err(Invalid::new("You cannot disable yourself.").into());
    }
    conn.transaction(|conn| {
        let person = db::users::find(conn, target)?.ok_or(AppError::NotFound)?;
        if disabled {
            keep_an_admin(conn, target)?;
        }
        db::users::set_disabled(conn, target, disabled)?;
        if disabled {
            db::sessions::delete_for_user(conn, target)?;
        }
        let action = if disabled {
            AuditAction::UserDisabled
        } else {
            AuditAction::UserEnabled
        };
        let about = AuditTarget::User {
            id: target,
            email: &person.email,
        };
        actor.record(conn, None, about, action, json!({}))?;
        Ok(())
    })
}

#[tracing::instrument(skip_all, fields(user_id = %target, is_admin = is_admin))]
pub fn set_admin(
    conn: &mut PgConnection,
    target: UserId,
    is_admin: bool,
    actor: &Actor,
) -> Result<(), AppError> {
    if Some(target) == actor.user_id && !is_admin {
        return Err(Invalid::new("You cannot remove your own administrator rights.").into());
    }
    conn.transaction(|conn| {
        let person = db::users::find(conn, target)?.ok_or(AppError::NotFound)?;
        if !is_admin {
            keep_an_admin(conn, target)?;
        }
        db::users::set_admin(conn, target, is_admin)?;
        let action = if is_admin {
            AuditAction::UserAdminGranted
        } else {
            AuditAction::UserAdminRevoked
        };
        let about = AuditTarget::User {
            id: target,
            email: &person.email,
        };
        actor.record(conn, None, about, action, json!({}))?;
        Ok(())
    })
}
