use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use serde::Deserialize;

use super::page::AccountPage;
use crate::auth::current_user::renew;
use crate::auth::password;
use crate::auth::scope::SignedIn;
use crate::db;
use crate::domain::user::Password;
use crate::error::AppError;
use crate::routes::page::{FieldErrors, html, see_other};
use crate::services::{self, accounts};
use crate::state::AppState;

pub const WRONG_PASSWORD: &str = "That is not your current password.";

#[derive(Deserialize)]
pub struct ChangePasswordForm {
    #[serde(default)]
    current_password: String,
    #[serde(default)]
    new_password: String,
}

/// The sign-in throttle's key for this person: a wrong current password here counts like a
/// wrong password at sign-in, so a borrowed session cannot guess the password at leisure.
pub fn throttle_key(email: &str) -> String {
    format!("email:{}", email.trim().to_lowercase())
}

/// Refused while the person's sign-in is throttled.
pub fn check_throttle(state: &AppState, email: &str) -> Result<(), AppError> {
    state
        .email_throttle
        .check(&throttle_key(email))
        .map_err(|wait| AppError::TooManyRequests {
            message: format!(
                "Too many wrong passwords or codes. Try again in {} minute(s).",
                wait.as_secs().div_ceil(60).max(1)
            ),
            retry_after_secs: wait.as_secs().max(1),
        })
}

/// Checks `presented` against the stored hash off the async workers, counting a failure.
pub async fn verify_current(
    state: &AppState,
    email: &str,
    presented: String,
    stored_hash: String,
) -> Result<bool, AppError> {
    check_throttle(state, email)?;
    let presented = Password::presented(presented);
    let right = services::blocking(move || Ok(password::verify(&presented, &stored_hash))).await?;
    if right {
        state.email_throttle.clear(&throttle_key(email));
    } else {
        state.email_throttle.record_failure(&throttle_key(email));
    }
    Ok(right)
}

/// **Change password**: the other sessions end; this one continues under a new key.
pub async fn change(
    me: SignedIn,
    state: web::Data<AppState>,
    form: web::Form<ChangePasswordForm>,
) -> Result<HttpResponse, AppError> {
    let ChangePasswordForm {
        current_password,
        new_password,
    } = form.into_inner();
    let mut errors = FieldErrors::default();
    let chosen = errors.check("new_password", Password::new_for_account(&new_password));
    let user_id = me.user.id;
    let stored = services::run(&state.pool, move |conn| {
        db::users::find(conn, user_id)?.ok_or(AppError::NotFound)
    })
    .await?
    .password_hash;
    if !verify_current(&state, &me.user.email, current_password, stored).await? {
        errors.add("current_password", WRONG_PASSWORD);
    }
    let Some(chosen) = chosen.filter(|_| errors.is_empty()) else {
        let mut page = AccountPage::load(&state, &me).await?;
        page.password_errors = errors;
        return html(StatusCode::UNPROCESSABLE_ENTITY, &page);
    };
    let hash = services::blocking(move || Ok(password::hash(&chosen)?)).await?;
    let actor = me.actor();
    services::run(&state.pool, move |conn| {
        accounts::change_password(conn, user_id, &hash, &actor)
    })
    .await?;
    // Every row of this user is gone; the renewed session is saved as a new one.
    renew(&me.session);
    Ok(see_other("/account?done=password"))
}
