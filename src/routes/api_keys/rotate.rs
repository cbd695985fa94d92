//! Rotate: a new secret for the same key (same id, name, scopes and limits).

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};

use super::{ApiKeysPage, Confirm, Fragment, Reveal};
use crate::auth::scope::{EnvScope, ManageKeys};
use crate::error::AppError;
use crate::routes::page::KeyPath;
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
        action: "rotate",
        title: "Rotate API key",
        question: "Replace this key's secret with a new one?".to_owned(),
        consequence: "The current secret stops working at once; the key keeps its name, scopes and limits. \
                      The new secret is shown once.",
        button: "Rotate key",
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
    let home = key_service::KeyHome::of(&scope.access.env, &state.config.key_prefix)?;
    let (id, change) = (path.id, state.change(scope.actor()));
    let (key, plain) = services::run(&state.pool, move |conn| {
        key_service::rotate(conn, &home, id, None, &change)
    })
    .await?;
    tracing::info!(key_id = %key.id, "API key rotated");
    let mut page = ApiKeysPage::load(&state, &scope).await?;
    page.reveal = Some(Reveal {
        title: "API key rotated",
        name: key.name,
        key: plain,
    });
    page.respond(StatusCode::OK, scope.htmx, Fragment::Section)
}
