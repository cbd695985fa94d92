//! A person's own account: password, two-factor, sessions; and the administrator's resets.
//! Password hashing and code checks run before these are called (no connection held during
//! argon2); each function here owns its transaction and writes its audit event. No password,
//! secret or code ever reaches an event or a log line.

use chrono::{DateTime, Utc};
use diesel::{Connection, PgConnection};
use serde_json::json;

use crate::db::{self, audit::Actor};
use crate::domain::Invalid;
use crate::domain::audit::{AuditAction, AuditTarget};
use crate::domain::ids::UserId;
use crate::domain::two_factor::{PresentedCode, TotpSecret, recovery_digest};
use crate::error::AppError;
use crate::secret_box::SecretBox;

fn target(user: &db::users::User) -> AuditTarget<'_> {
    AuditTarget::User {
        id: user.id,
        email: &user.email,
    }
}

fn find(conn: &mut PgConnection, id: UserId) -> Result<db::users::User, AppError> {
    db::users::find(conn, id)?.ok_or(AppError::NotFound)
}

/// The context a user's TOTP secret is sealed under: a sealed value copied to another user's
/// row does not open there.
pub fn totp_context(user: UserId) -> String {
    format!("totp:user:{user}")
}

/// A new password chosen by its owner (on the account page, or at the sign-in after an
/// administrator's reset). Ends every session of the user; the caller renews its own, which
/// then continues under a new key.
#[tracing::instrument(skip_all, fields(user_id = %user))]
pub fn change_password(
    conn: &mut PgConnection,
    user: UserId,
    password_hash: &str,
    actor: &Actor,
) -> Result<(), AppError> {
    conn.transaction(|conn| {
        let person = find(conn, user)?;
        db::users::set_password(conn, user, password_hash, false)?;
        db::sessions::delete_for_user(conn, user)?;
        actor.record(
            conn,
            None,
            target(&person),
            AuditAction::UserPasswordChanged,
            json!({}),
        )?;
        Ok(())
    })
}

/// An administrator's reset: a one-time password (already hashed) that must be replaced at the
/// next sign-in; every session of the user ends. Two-factor stays as it is.
#[tracing::instrument(skip_all, fields(user_id = %user))]
pub fn reset_password(
    conn: &mut PgConnection,
    user: UserId,
    one_time_hash: &str,
    actor: &Actor,
) -> Result<String, AppError> {
    if Some(user) == actor.user_id {
        return Err(Invalid::new(
            "Change your own password on your account page; a reset would sign you out.",
        )
        .into());
    }
    conn.transaction(|conn| {
        let person = find(conn, user)?;
        db::users::set_password(conn, user, one_time_hash, true)?;
        db::sessions::delete_for_user(conn, user)?;
        actor.record(
            conn,
            None,
            target(&person),
            AuditAction::UserPasswordReset,
            json!({}),
        )?;
        Ok(person.email)
    })
}

/// Ends one of the user's own sessions; `false` when it is not theirs or already ended.
#[tracing::instrument(skip_all, fields(user_id = %user))]
pub fn sign_out_session(
    conn: &mut PgConnection,
    user: UserId,
    handle: &str,
) -> Result<bool, AppError> {
    Ok(db::sessions::delete_by_handle(conn, user, handle)? > 0)
}

/// Ends every session of the user but `keep` (the one asking).
#[tracing::instrument(skip_all, fields(user_id = %user))]
pub fn sign_out_everywhere_else(
    conn: &mut PgConnection,
    user: UserId,
    keep: &str,
    actor: &Actor,
) -> Result<usize, AppError> {
    conn.transaction(|conn| {
        let person = find(conn, user)?;
        let ended = db::sessions::delete_for_user_except(conn, user, keep)?;
        actor.record(
            conn,
            None,
            target(&person),
            AuditAction::UserSignedOutEverywhere,
            json!({"sessions_ended": ended}),
        )?;
        Ok(ended)
    })
}

/// Turns two-factor on with a secret whose code was just confirmed at `step`, and a new set of
/// recovery codes (digests). Refused when it is on already (a second tab's set-up).
#[tracing::instrument(skip_all, fields(user_id = %user))]
pub fn enable_two_factor(
    conn: &mut PgConnection,
    user: UserId,
    sealed_secret: &[u8],
    step: i64,
    recovery_digests: &[Vec<u8>],
    actor: &Actor,
) -> Result<(), AppError> {
    conn.transaction(|conn| {
        let person = find(conn, user)?;
        if person.has_two_factor() {
            return Err(AppError::Conflict(
                "Two-factor authentication is on already.",
            ));
        }
        db::users::set_totp(conn, user, Some(sealed_secret), Some(step))?;
        db::recovery_codes::replace(conn, user, recovery_digests)?;
        actor.record(
            conn,
            None,
            target(&person),
            AuditAction::UserTwoFactorEnabled,
            json!({"recovery_codes": recovery_digests.len()}),
        )?;
        Ok(())
    })
}

/// Turns two-factor off: by its owner (after the password) or by an administrator (for a lost
/// device). An administrator resets their own on their account page, behind their password.
#[tracing::instrument(skip_all, fields(user_id = %user))]
pub fn disable_two_factor(
    conn: &mut PgConnection,
    user: UserId,
    by_admin: bool,
    actor: &Actor,
) -> Result<(), AppError> {
    if by_admin && Some(user) == actor.user_id {
        return Err(Invalid::new(
            "Turn off your own two-factor authentication on your account page.",
        )
        .into());
    }
    conn.transaction(|conn| {
        let person = find(conn, user)?;
        db::users::set_totp(conn, user, None, None)?;
        db::recovery_codes::delete_all(conn, user)?;
        actor.record(
            conn,
            None,
            target(&person),
            AuditAction::UserTwoFactorDisabled,
            json!({"by_admin": by_admin}),
        )?;
        Ok(())
    })
}

/// The second factor at sign-in: a TOTP code of the current step or a neighbour, later than
/// the last step used, or an unused recovery code. `Ok(false)` for a wrong or replayed code.
#[tracing::instrument(skip_all, fields(user_id = %user.id))]
pub fn check_second_factor(
    conn: &mut PgConnection,
    secrets: &SecretBox,
    user: &db::users::User,
    code: &PresentedCode,
    now: DateTime<Utc>,
    actor: &Actor,
) -> Result<bool, AppError> {
    let Some(sealed) = &user.totp_secret else {
        return Ok(false);
    };
    match code {
        PresentedCode::Totp(digits) => {
            let secret = TotpSecret::from_bytes(secrets.open(&totp_context(user.id), sealed)?)?;
            let now = u64::try_from(now.timestamp()).unwrap_or_default();
            let Some(step) = secret.matching_step(digits, now) else {
                return Ok(false);
            };
            let step = i64::try_from(step).map_err(|e| AppError::Unexpected(e.into()))?;
            Ok(db::users::accept_totp_step(conn, user.id, step)? == 1)
        }
        PresentedCode::Recovery(normalised) => conn.transaction(|conn| {
            let digest = recovery_digest(normalised);
            if db::recovery_codes::use_code(conn, user.id, &digest, now)? == 0 {
                return Ok(false);
            }
            let remaining = db::recovery_codes::count_unused(conn, user.id)?;
            actor.record(
                conn,
                None,
                target(user),
                AuditAction::UserRecoveryCodeUsed,
                json!({"remaining": remaining}),
            )?;
            Ok(true)
        }),
    }
}
