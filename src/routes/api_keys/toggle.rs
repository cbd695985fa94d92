//! The ON/OFF switch. It posts the state the person wants, never a blind flip, so a double
//! click or two open tabs cannot produce the opposite of what was seen.

use actix_web::{HttpRequest, HttpResponse, web};
use serde::Deserialize;

use super::{KeyRow, KeyRowPartial, base_path};
use crate::auth::current_user::{CurrentUser, csrf_token};
use crate::auth::permissions::Action;
use crate::db::{self, audit::Actor};
use crate::domain::Invalid;
use crate::error::AppError;
use crate::routes::page::{client_ip, env_access, html, is_htmx, parse_id, see_other};
use crate::services::keys as key_service;
use crate::state::AppState;

#[derive(Deserialize)]
pub struct ToggleForm {
    #[serde(default)]
    enabled: String,
}

pub async fn submit(
    req: HttpRequest,
    path: web::Path<(String, String, String)>,
    user: CurrentUser,
    session: actix_session::Session,
    state: web::Data<AppState>,
    form: web::Form<ToggleForm>,
) -> Result<HttpResponse, AppError> {
    let (project, env, id) = path.into_inner();
    let access = env_access(&state, &user, project, env).await?;
    access.require(Action::ManageKeys)?;
    let id = parse_id(&id)?;
    let enabled = match form.enabled.as_str() {
        "true" => true,
        "false" => false,
        _ => return Err(Invalid::new("enabled must be true or false.").into()),
    };
    let change = state.change(Actor::user(user.id, client_ip(&req)));
    let env_id = access.env.id;
    let key = db::run(&state.pool, move |conn| {
        key_service::set_enabled(conn, env_id, id, enabled, &change)
    })
    .await?;

    if is_htmx(&req) {
        let partial = KeyRowPartial {
            row: KeyRow::from_key(&key),
            base: base_path(&access),
            csrf: csrf_token(&session)?,
            can_manage: true,
        };
        html(actix_web::http::StatusCode::OK, &partial)
    } else {
        Ok(see_other(&base_path(&access)))
    }
}
