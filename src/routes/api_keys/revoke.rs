//! Revoke: the key stops working for good and stays listed, greyed.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};

use super::{ApiKeysPage, Confirm, Fragment, base_path};
use crate::auth::scope::{EnvScope, ManageKeys};
use crate::error::AppError;
use crate::routes::page::{KeyPath, see_other};
use crate::services::{self, keys as key_service};
use crate::state::AppState;

pub async fn confirm(
    scope: EnvScope<ManageKeys>,
    path: web::Path<KeyPath>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, AppError> {
    let (env_id, id) = (scope.env_id(), path.id);
    let key = services::run(&state.pool, move |conn| {
        key_service::find_live(conn, env_id, id)
    })
    .await?;
    let mut page = ApiKeysPage::load(&state, &scope).await?;
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
    page.respond(StatusCode::OK, scope.htmx, Fragment::Panel)
}

pub async fn submit(
    scope: EnvScope<ManageKeys>,
    path: web::Path<KeyPath>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, AppError> {
    let (env_id, id, change) = (scope.env_id(), path.id, state.change(scope.actor()));
    let key = services::run(&state.pool, move |conn| {
        key_service::revoke(conn, env_id, id, &change)
    })
    .await?;
    if !scope.htmx {
        return Ok(see_other(&base_path(&scope.access)));
    }
    let mut page = ApiKeysPage::load(&state, &scope).await?;
    page.flash = Some(format!("Revoked “{}”. It no longer works.", key.name));
    page.respond(StatusCode::OK, true, Fragment::Section)
}
