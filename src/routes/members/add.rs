use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use serde::Deserialize;

use super::{MembersPage, members_path};
use crate::auth::scope::{EnvScope, ManageMembers};
use crate::domain::user::{Email, Role};
use crate::error::AppError;
use crate::routes::page::{html, see_other};
use crate::services::{self, members};
use crate::state::AppState;

#[derive(Deserialize)]
pub struct AddMemberForm {
    #[serde(default)]
    email: String,
    #[serde(default)]
    role: String,
}

pub async fn submit(
    scope: EnvScope<ManageMembers>,
    state: web::Data<AppState>,
    form: web::Form<AddMemberForm>,
) -> Result<HttpResponse, AppError> {
    let AddMemberForm { email, role } = form.into_inner();
    let outcome = match Email::parse(&email).and_then(|e| Role::parse(&role).map(|r| (e, r))) {
        Err(invalid) => Err(invalid.to_string()),
        Ok((parsed_email, parsed_role)) => {
            let (env_id, actor) = (scope.env_id(), scope.actor());
            services::run(&state.pool, move |conn| {
                members::add(conn, env_id, &parsed_email, parsed_role, &actor)
            })
            .await?
            .map_err(|refused| refused.to_string())
        }
    };
    match outcome {
        Ok(()) => Ok(see_other(&members_path(&scope.access))),
        Err(message) => {
            let mut page = MembersPage::load(&state, &scope).await?;
            page.form_email = email;
            page.form_role = role;
            page.error = Some(message);
            html(StatusCode::UNPROCESSABLE_ENTITY, &page)
        }
    }
}
