use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};

use super::{ApiKeysPage, Fragment};
use crate::auth::scope::{EnvScope, ViewKeys};
use crate::error::AppError;
use crate::state::AppState;

pub async fn show(
    scope: EnvScope<ViewKeys>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, AppError> {
    let page = ApiKeysPage::load(&state, &scope).await?;
    page.respond(StatusCode::OK, false, Fragment::Section)
}
