//! The ON/OFF switch. It posts the state the person wants, never a blind flip, so a double
//! click or two open tabs cannot produce the opposite of what was seen.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use serde::Deserialize;

use super::{KeyRow, KeyRowPartial, base_path};
use crate::auth::current_user::csrf_token;
use crate::auth::scope::{EnvScope, ManageKeys};
use crate::error::AppError;
use crate::routes::page::{KeyPath, html, see_other};
use crate::services::{self, keys as key_service};
use crate::state::AppState;

#[derive(Deserialize)]
pub struct ToggleForm {
    enabled: bool,
}

pub async fn submit(
    scope: EnvScope<ManageKeys>,
    path: web::Path<KeyPath>,
    state: web::Data<AppState>,
    form: web::Form<ToggleForm>,
) -> Result<HttpResponse, AppError> {
    let (env_id, id, enabled) = (scope.env_id(), path.id, form.enabled);
    let change = state.change(scope.actor());
    let (key, leak_url) = services::run(&state.pool, move |conn| {
        let key = key_service::set_enabled(conn, env_id, id, enabled, &change)?;
        Ok((key, crate::db::leaks::latest_urls(conn, &[id])?.remove(&id)))
    })
    .await?;
    if !scope.htmx {
        return Ok(see_other(&base_path(&scope.access)));
    }
    let partial = KeyRowPartial {
        row: KeyRow::from_key(&key, state.clock.now()).with_leak(leak_url.as_ref()),
        base: base_path(&scope.access),
        csrf: csrf_token(&scope.session)?,
        can_manage: true,
    };
    html(StatusCode::OK, &partial)
}
