//! Rotate: a new secret for the same key (same id, name, scopes and limits).

use actix_session::Session;
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};

use super::{ApiKeysPage, Confirm, Fragment, Reveal};
use crate::auth::current_user::CurrentUser;
use crate::auth::permissions::Action;
use crate::db::{self, audit::Actor};
use crate::domain::key_format::KeyTag;
use crate::error::AppError;
use crate::routes::page::{client_ip, env_access, is_htmx, parse_id};
use crate::services::keys::{self as key_service, KeyHome};
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
        action: "rotate",
        title: "Rotate API key",
        question: "Replace this key's secret with a new one?".to_owned(),
        consequence: "The current secret stops working at once; the key keeps its name, scopes and limits. \
                      The new secret is shown once.",
        button: "Rotate key",
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
    let home = KeyHome {
        environment_id: env_id,
        tag: KeyTag::parse(&access.env.key_tag)?,
        prefix: state.config.key_prefix.clone(),
    };
    let change = state.change(Actor::user(user.id, client_ip(&req)));
    let (key, plain) = db::run(&state.pool, move |conn| {
        key_service::rotate(conn, &home, id, None, &change)
    })
    .await?;
    tracing::info!(key_id = key.id, "API key rotated");
    let mut page = ApiKeysPage::load(&state, user, &session, &access).await?;
    page.reveal = Some(Reveal {
        title: "API key rotated",
        name: key.name,
        key: plain,
    });
    page.respond(StatusCode::OK, is_htmx(&req), Fragment::Section)
}
