use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use serde::Deserialize;

use super::page::{AdminPage, OneTimePassword, UserFormView};
use crate::auth::password;
use crate::auth::scope::AdminScope;
use crate::domain::user::{DisplayName, Email, Password};
use crate::error::AppError;
use crate::routes::page::{FieldErrors, UserPath, html, no_store, see_other};
use crate::services::{self, accounts, users};
use crate::state::AppState;

#[derive(Deserialize)]
pub struct NewUserForm {
    #[serde(default)]
    email: String,
    #[serde(default)]
    display_name: String,
    #[serde(default)]
    password: String,
}

pub async fn create(
    admin: AdminScope,
    state: web::Data<AppState>,
    form: web::Form<NewUserForm>,
) -> Result<HttpResponse, AppError> {
    let NewUserForm {
        email,
        display_name,
        password,
    } = form.into_inner();
    let mut errors = FieldErrors::default();
    let parsed_email = errors.check("email", Email::parse(&email));
    let parsed_name = errors.check("display_name", DisplayName::parse(&display_name));
    let parsed_password = errors.check("password", Password::new_for_account(&password));

    if let (Some(email), Some(display_name), Some(chosen)) =
        (parsed_email, parsed_name, parsed_password)
    {
        // argon2 runs before a connection is taken from the pool.
        let password_hash = services::blocking(move || Ok(password::hash(&chosen)?)).await?;
        let account = users::NewAccount {
            email,
            display_name,
            password_hash,
        };
        let actor = admin.actor();
        if services::run(&state.pool, move |conn| {
            users::create(conn, &account, &actor)
        })
        .await?
        {
            return Ok(see_other("/admin"));
        }
        errors.add("email", users::EMAIL_TAKEN);
    }
    let mut page = AdminPage::load(&state, &admin).await?;
    page.user_form = UserFormView {
        email,
        display_name,
        errors,
    };
    html(StatusCode::UNPROCESSABLE_ENTITY, &page)
}

#[derive(Deserialize)]
pub struct StatusForm {
    disabled: bool,
}

/// Disable or enable a user. Disabling ends all of their sessions at once, on every node.
pub async fn set_status(
    admin: AdminScope,
    path: web::Path<UserPath>,
    state: web::Data<AppState>,
    form: web::Form<StatusForm>,
) -> Result<HttpResponse, AppError> {
    let (target, disabled, actor) = (path.user_id, form.disabled, admin.actor());
    services::run(&state.pool, move |conn| {
        users::set_disabled(conn, target, disabled, &actor)
    })
    .await?;
    Ok(see_other("/admin"))
}

#[derive(Deserialize)]
pub struct AdminFlagForm {
    is_admin: bool,
}

pub async fn set_admin(
    admin: AdminScope,
    path: web::Path<UserPath>,
    state: web::Data<AppState>,
    form: web::Form<AdminFlagForm>,
) -> Result<HttpResponse, AppError> {
    let (target, is_admin, actor) = (path.user_id, form.is_admin, admin.actor());
    services::run(&state.pool, move |conn| {
        users::set_admin(conn, target, is_admin, &actor)
    })
    .await?;
    Ok(see_other("/admin"))
}

/// **Reset password**: a one-time password, shown once on the page this answers with; the user
/// must choose a new one at their next sign-in, and every session of theirs ends now.
pub async fn reset_password(
    admin: AdminScope,
    path: web::Path<UserPath>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, AppError> {
    let (target, actor) = (path.user_id, admin.actor());
    // 24 hex digits (96 bits): long enough to be a valid password, short enough to pass on.
    let one_time = crate::auth::random_token(12)?;
    let presented = Password::presented(one_time.clone());
    let hash = services::blocking(move || Ok(password::hash(&presented)?)).await?;
    let email = services::run(&state.pool, move |conn| {
        accounts::reset_password(conn, target, &hash, &actor)
    })
    .await?;
    let mut page = AdminPage::load(&state, &admin).await?;
    page.one_time = Some(OneTimePassword {
        email,
        password: one_time,
    });
    Ok(no_store(html(StatusCode::OK, &page)?))
}

/// **Reset two-factor**: turns a user's two-factor off (a lost device).
pub async fn reset_two_factor(
    admin: AdminScope,
    path: web::Path<UserPath>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, AppError> {
    let (target, actor) = (path.user_id, admin.actor());
    services::run(&state.pool, move |conn| {
        accounts::disable_two_factor(conn, target, true, &actor)
    })
    .await?;
    Ok(see_other("/admin"))
}
