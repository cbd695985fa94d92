use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};

use super::MembersPage;
use crate::auth::scope::{EnvScope, ViewMembers};
use crate::error::AppError;
use crate::routes::page::html;
use crate::state::AppState;

pub async fn show(
    scope: EnvScope<ViewMembers>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, AppError> {
    html(StatusCode::OK, &MembersPage::load(&state, &scope).await?)
}
