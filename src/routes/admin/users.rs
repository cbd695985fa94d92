use actix_session::Session;
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use diesel::Connection;
use serde::Deserialize;
use serde_json::json;

use super::page::{AdminPage, UserFormView};
use super::require_admin;
use crate::auth::current_user::CurrentUser;
use crate::auth::password;
use crate::db::{self, audit::Actor};
use crate::domain::Invalid;
use crate::domain::audit::{AuditAction, AuditTarget};
use crate::domain::user::{DisplayName, Email, Password};
use crate::error::AppError;
use crate::routes::page::{FieldErrors, client_ip, html, parse_id, see_other};
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
    req: HttpRequest,
    user: CurrentUser,
    session: Session,
    state: web::Data<AppState>,
    form: web::Form<NewUserForm>,
) -> Result<HttpResponse, AppError> {
    require_admin(&user)?;
    let NewUserForm {
        email,
        display_name,
        password,
    } = form.into_inner();
    let mut errors = FieldErrors::default();
    let parsed_email = errors.check("email", Email::parse(&email));
    let parsed_name = errors.check("display_name", DisplayName::parse(&display_name));
    let parsed_password = errors.check("password", Password::new_for_account(&password));

    if let (Some(e), Some(n), Some(p)) = (parsed_email, parsed_name, parsed_password) {
        let actor = Actor::user(user.id, client_ip(&req));
        let created = db::run(&state.pool, move |conn| {
            let hash = password::hash(&p)?;
            conn.transaction(|conn| {
                let new = db::users::NewUser {
                    email: e.as_str(),
                    display_name: n.as_str(),
                    password_hash: &hash,
                    is_admin: false,
                };
                let Some(created) = db::users::create(conn, &new)? else {
                    return Ok(false);
                };
                actor.record(
                    conn,
                    None,
                    AuditTarget::User(created.id),
                    AuditAction::UserCreated,
                    json!({"email": created.email}),
                )?;
                Ok::<_, AppError>(true)
            })
        })
        .await?;
        if created {
            return Ok(see_other("/admin"));
        }
        errors.add("email", "A user with this email already exists.");
    }
    let mut page = AdminPage::load(&state, user, &session).await?;
    page.user_form = UserFormView {
        email,
        display_name,
        errors,
    };
    html(StatusCode::UNPROCESSABLE_ENTITY, &page)
}

#[derive(Deserialize)]
pub struct StatusForm {
    #[serde(default)]
    disabled: String,
}

fn parse_flag(value: &str) -> Result<bool, AppError> {
    match value {
        "true" => Ok(true),
        "false" => Ok(false),
        _ => Err(Invalid::new("Expected true or false.").into()),
    }
}

/// Disable or enable a user. Disabling ends all of their sessions at once, on every node.
pub async fn set_status(
    req: HttpRequest,
    path: web::Path<String>,
    user: CurrentUser,
    state: web::Data<AppState>,
    form: web::Form<StatusForm>,
) -> Result<HttpResponse, AppError> {
    require_admin(&user)?;
    let target = parse_id(&path)?;
    let disabled = parse_flag(&form.disabled)?;
    if target == user.id {
        return Err(Invalid::new("You cannot disable yourself.").into());
    }
    let actor = Actor::user(user.id, client_ip(&req));
    db::run(&state.pool, move |conn| {
        conn.transaction(|conn| {
            if db::users::set_disabled(conn, target, disabled)? == 0 {
                return Err(AppError::NotFound);
            }
            if disabled {
                db::sessions::delete_for_user(conn, target)?;
            }
            let action = if disabled {
                AuditAction::UserDisabled
            } else {
                AuditAction::UserEnabled
            };
            actor.record(conn, None, AuditTarget::User(target), action, json!({}))?;
            Ok(())
        })
    })
    .await?;
    Ok(see_other("/admin"))
}

#[derive(Deserialize)]
pub struct AdminFlagForm {
    #[serde(default)]
    is_admin: String,
}

pub async fn set_admin(
    req: HttpRequest,
    path: web::Path<String>,
    user: CurrentUser,
    state: web::Data<AppState>,
    form: web::Form<AdminFlagForm>,
) -> Result<HttpResponse, AppError> {
    require_admin(&user)?;
    let target = parse_id(&path)?;
    let is_admin = parse_flag(&form.is_admin)?;
    if target == user.id && !is_admin {
        return Err(Invalid::new("You cannot remove your own administrator rights.").into());
    }
    let actor = Actor::user(user.id, client_ip(&req));
    db::run(&state.pool, move |conn| {
        conn.transaction(|conn| {
            if db::users::set_admin(conn, target, is_admin)? == 0 {
                return Err(AppError::NotFound);
            }
            let action = if is_admin {
                AuditAction::UserAdminGranted
            } else {
                AuditAction::UserAdminRevoked
            };
            actor.record(conn, None, AuditTarget::User(target), action, json!({}))?;
            Ok(())
        })
    })
    .await?;
    Ok(see_other("/admin"))
}
