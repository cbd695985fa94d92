use actix_web::{HttpResponse, web};

use super::members_path;
use crate::auth::scope::{EnvScope, ManageMembers};
use crate::error::AppError;
use crate::routes::page::{UserPath, see_other};
use crate::services::{self, members};
use crate::state::AppState;

pub async fn submit(
    scope: EnvScope<ManageMembers>,
    path: web::Path<UserPath>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, AppError> {
    let (env_id, member, actor) = (scope.env_id(), path.user_id, scope.actor());
    services::run(&state.pool, move |conn| {
        members::remove(conn, env_id, member, &actor)
    })
    .await?;
    Ok(see_other(&members_path(&scope.access)))
}
