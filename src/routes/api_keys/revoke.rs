//! Revoke: the key stops working for good and stays listed, greyed.

use actix_session::Session;
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};

use super::{ApiKeysPage, Confirm, Fragment, base_path};
use crate::auth::current_user::CurrentUser;
use crate::auth::permissions::Action;
use crate::db::{self, audit::Actor};
use crate::error::AppError;
use crate::routes::page::{client_ip, env_access, is_htmx, parse_id, see_other};
use crate::services::keys as key_service;
use crate::state::AppState;

type KeyPath = web::Path<(String, String, String)>;

pub async fn confirm(
    req: HttpRequest,
    path: KeyPath,
    user: CurrentUser,
    session: Session,
    state: web::Data<AppState>,
) -> Result<HttpResponse, AppError> {
    let (project, env, id) = path.into_inner();
    let access = env_access(&state, &user, project, env).await?;
    access.require(Action::ManageKeys)?;
    let (env_id, id) = (access.env.id, parse_id(&id)?);
    let key = db::run(&state.pool, move |conn| {
        Ok(db::api_keys::find(conn, env_id, id)?)
    })
    .await?
    .filter(|k| k.revoked_at.is_none())
    .ok_or(AppError::NotFound)?;
    let mut page = ApiKeysPage::load(&state, user, &session, &access).await?;
    page.confirm = Some(Confirm {
        id: key.id,
        action: "revoke",
        title: "Revoke API key",
        question: "Revoke this key for good?".to_owned(),
        consequence: "Every request made with it is refused from now on. This cannot be undone.",
        button: "Revoke key",
        name: key.name,
        masked: key.masked,
    });
    page.respond(StatusCode::OK, is_htmx(&req), Fragment::Panel)
}

pub async fn submit(
    req: HttpRequest,
    path: KeyPath,
    user: CurrentUser,
    session: Session,
    state: web::Data<AppState>,
) -> Result<HttpResponse, AppError> {
    let (project, env, id) = path.into_inner();
    let access = env_access(&state, &user, project, env).await?;
    access.require(Action::ManageKeys)?;
    let (env_id, id) = (access.env.id, parse_id(&id)?);
    let change = state.change(Actor::user(user.id, client_ip(&req)));
    let key = db::run(&state.pool, move |conn| {
        key_service::revoke(conn, env_id, id, &change)
    })
    .await?;
    if !is_htmx(&req) {
        return Ok(see_other(&base_path(&access)));
    }
    let mut page = ApiKeysPage::load(&state, user, &session, &access).await?;
    page.flash = Some(format!("Revoked “{}”. It no longer works.", key.name));
    page.respond(StatusCode::OK, true, Fragment::Section)
}
