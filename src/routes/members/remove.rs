use actix_web::{HttpRequest, HttpResponse, web};
use diesel::Connection;
use serde_json::json;

use super::members_path;
use crate::auth::current_user::CurrentUser;
use crate::auth::permissions::Action;
use crate::db::{self, audit::Actor};
use crate::domain::audit::{AuditAction, AuditTarget};
use crate::error::AppError;
use crate::routes::page::{client_ip, env_access, parse_id, see_other};
use crate::state::AppState;

pub async fn submit(
    req: HttpRequest,
    path: web::Path<(String, String, String)>,
    user: CurrentUser,
    state: web::Data<AppState>,
) -> Result<HttpResponse, AppError> {
    let (project, env, member_id) = path.into_inner();
    let access = env_access(&state, &user, project, env).await?;
    access.require(Action::ManageMembers)?;
    let member_id = parse_id(&member_id)?;
    let actor = Actor::user(user.id, client_ip(&req));
    let env_id = access.env.id;
    db::run(&state.pool, move |conn| {
        conn.transaction(|conn| {
            let previous =
                db::memberships::role_of(conn, member_id, env_id)?.ok_or(AppError::NotFound)?;
            db::memberships::remove(conn, member_id, env_id)?;
            actor.record(
                conn,
                Some(env_id),
                AuditTarget::User(member_id),
                AuditAction::MembershipRemoved,
                json!({"previous_role": previous.as_str()}),
            )?;
            Ok::<_, AppError>(())
        })
    })
    .await?;
    Ok(see_other(&members_path(&access)))
}
