use actix_session::Session;
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use diesel::Connection;
use serde::Deserialize;
use serde_json::json;

use super::{MembersPage, members_path};
use crate::auth::current_user::CurrentUser;
use crate::auth::permissions::Action;
use crate::db::{self, audit::Actor};
use crate::domain::audit::{AuditAction, AuditTarget};
use crate::domain::user::{Email, Role};
use crate::error::AppError;
use crate::routes::page::{EnvPath, client_ip, env_access, html, see_other};
use crate::state::AppState;

#[derive(Deserialize)]
pub struct AddMemberForm {
    #[serde(default)]
    email: String,
    #[serde(default)]
    role: String,
}

pub async fn submit(
    req: HttpRequest,
    path: EnvPath,
    user: CurrentUser,
    session: Session,
    state: web::Data<AppState>,
    form: web::Form<AddMemberForm>,
) -> Result<HttpResponse, AppError> {
    let (project, env) = path.into_inner();
    let access = env_access(&state, &user, project, env).await?;
    access.require(Action::ManageMembers)?;
    let AddMemberForm { email, role } = form.into_inner();

    let parsed = Email::parse(&email).and_then(|e| Role::parse(&role).map(|r| (e, r)));
    let outcome = match parsed {
        Err(e) => Err(e.to_string()),
        Ok((email, role)) => {
            let actor = Actor::user(user.id, client_ip(&req));
            let env_id = access.env.id;
            db::run(&state.pool, move |conn| {
                conn.transaction(|conn| {
                    let Some(member) = db::users::find_by_email(conn, email.as_str())? else {
                        return Ok(Err(format!(
                            "No user has the email {}. An administrator can create the account under Admin.",
                            email.as_str()
                        )));
                    };
                    let previous = db::memberships::upsert(conn, member.id, env_id, role)?;
                    let action = if previous.is_some() { AuditAction::MembershipRoleChanged } else { AuditAction::MembershipAdded };
                    actor.record(
                        conn,
                        Some(env_id),
                        AuditTarget::User(member.id),
                        action,
                        json!({"email": member.email, "role": role.as_str(),
                               "previous_role": previous.map(Role::as_str)}),
                    )?;
                    Ok::<_, AppError>(Ok(()))
                })
            })
            .await?
        }
    };
    match outcome {
        Ok(()) => Ok(see_other(&members_path(&access))),
        Err(message) => {
            let mut page = MembersPage::load(&state, user, &session, &access).await?;
            page.form_email = email;
            page.form_role = role;
            page.error = Some(message);
            html(StatusCode::UNPROCESSABLE_ENTITY, &page)
        }
    }
}
