//! GET …/api-keys/{id}: the key's page. Everyone who may see the environment may see it;
//! members read only.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use serde::Deserialize;

use super::chart::Period;
use super::{Fragment, KeyPage};
use crate::auth::scope::{EnvScope, ViewKeys};
use crate::error::AppError;
use crate::routes::page::KeyPath;
use crate::state::AppState;

/// `?period=24h|7d|30d` (24 hours when absent or unknown).
#[derive(Debug, Default, Deserialize)]
pub struct PageQuery {
    #[serde(default)]
    pub period: String,
}

pub async fn show(
    scope: EnvScope<ViewKeys>,
    path: web::Path<KeyPath>,
    query: web::Query<PageQuery>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, AppError> {
    let page = KeyPage::load(&state, &scope, path.id, Period::parse(&query.period)).await?;
    page.respond(StatusCode::OK, scope.htmx, Fragment::Section)
}
