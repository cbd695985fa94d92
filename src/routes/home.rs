use actix_session::Session;
use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use askama::Template;

use crate::auth::current_user::CurrentUser;
use crate::db;
use crate::error::AppError;
use crate::routes::page::{Chrome, Tab, env_path, html, see_other};
use crate::services;
use crate::state::AppState;

#[derive(Template)]
#[template(path = "pages/home.html")]
struct NoEnvironmentsPage {
    chrome: Chrome,
}

/// Straight to the first environment the person can open.
pub async fn show(
    user: CurrentUser,
    session: Session,
    state: web::Data<AppState>,
) -> Result<HttpResponse, AppError> {
    let (user_id, is_admin) = (user.id, user.is_admin);
    let first = services::run(&state.pool, move |conn| {
        Ok(
            db::projects::accessible_environments(conn, user_id, is_admin)?
                .into_iter()
                .next(),
        )
    })
    .await?;
    match first {
        Some((project, env)) => Ok(see_other(&env_path(&project.slug, &env.slug, "api-keys"))),
        None => {
            let chrome = Chrome::load(&state, &user, &session, None, Tab::None).await?;
            html(StatusCode::OK, &NoEnvironmentsPage { chrome })
        }
    }
}
