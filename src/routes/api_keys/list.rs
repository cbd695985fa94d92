use actix_session::Session;
use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};

use super::{ApiKeysPage, Fragment};
use crate::auth::current_user::CurrentUser;
use crate::auth::permissions::Action;
use crate::error::AppError;
use crate::routes::page::{EnvPath, env_access};
use crate::state::AppState;

pub async fn show(
    path: EnvPath,
    user: CurrentUser,
    session: Session,
    state: web::Data<AppState>,
) -> Result<HttpResponse, AppError> {
    let (project, env) = path.into_inner();
    let access = env_access(&state, &user, project, env).await?;
    access.require(Action::ViewKeys)?;
    let page = ApiKeysPage::load(&state, user, &session, &access).await?;
    page.respond(StatusCode::OK, false, Fragment::Section)
}
