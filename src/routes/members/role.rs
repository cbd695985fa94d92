use actix_web::{HttpResponse, web};
use serde::Deserialize;

use super::members_path;
use crate::auth::scope::{EnvScope, ManageMembers};
use crate::domain::user::Role;
use crate::error::AppError;
use crate::routes::page::{UserPath, see_other};
use crate::services::{self, members};
use crate::state::AppState;

#[derive(Deserialize)]
pub struct RoleForm {
    #[serde(default)]
    role: String,
}

pub async fn submit(
    scope: EnvScope<ManageMembers>,
    path: web::Path<UserPath>,
    state: web::Data<AppState>,
    form: web::Form<RoleForm>,
) -> Result<HttpResponse, AppError> {
    let role = Role::parse(&form.role)?;
    let (env_id, member, actor) = (scope.env_id(), path.user_id, scope.actor());
    services::run(&state.pool, move |conn| {
        members::change_role(conn, env_id, member, role, &actor)
    })
    .await?;
    Ok(see_other(&members_path(&scope.access)))
}
