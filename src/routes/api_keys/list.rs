use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};

use super::{ApiKeysPage, Fragment, KeyListQuery};
use crate::auth::scope::{EnvScope, ViewKeys};
use crate::error::AppError;
use crate::routes::page::take_flash;
use crate::state::AppState;

/// GET …/api-keys?q=&status=&type=&scope=&after=|before=: a page of 50 keys, newest first;
/// for htmx only the section, so filters and the pager update in place.
pub async fn show(
    scope: EnvScope<ViewKeys>,
    query: web::Query<KeyListQuery>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, AppError> {
    let mut page = ApiKeysPage::load_view(&state, &scope, &query).await?;
    page.flash = take_flash(&scope.session);
    page.respond(StatusCode::OK, scope.htmx, Fragment::Section)
}
