use actix_session::Session;
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use diesel::Connection;
use serde::Deserialize;
use serde_json::json;

use super::page::{AdminPage, ProjectFormView};
use super::require_admin;
use crate::auth::current_user::CurrentUser;
use crate::db::{self, audit::Actor};
use crate::domain::audit::{AuditAction, AuditTarget};
use crate::domain::project::ProjectName;
use crate::error::AppError;
use crate::routes::page::{FieldErrors, client_ip, env_path, html, see_other};
use crate::state::AppState;

#[derive(Deserialize)]
pub struct NewProjectForm {
    #[serde(default)]
    name: String,
}

/// Creates a project with its production, staging and development environments.
pub async fn create(
    req: HttpRequest,
    user: CurrentUser,
    session: Session,
    state: web::Data<AppState>,
    form: web::Form<NewProjectForm>,
) -> Result<HttpResponse, AppError> {
    require_admin(&user)?;
    let raw = form.into_inner().name;
    let mut errors = FieldErrors::default();
    if let Some(name) = errors.check("name", ProjectName::parse(&raw)) {
        let actor = Actor::user(user.id, client_ip(&req));
        let created = db::run(&state.pool, move |conn| {
            conn.transaction(|conn| {
                let Some((project, envs)) =
                    db::projects::create_with_default_environments(conn, &name)?
                else {
                    return Ok(None);
                };
                actor.record(
                    conn,
                    None,
                    AuditTarget::Project(project.id),
                    AuditAction::ProjectCreated,
                    json!({"name": project.name, "slug": project.slug}),
                )?;
                Ok::<_, AppError>(
                    envs.first()
                        .map(|e| env_path(&project.slug, &e.slug, "api-keys")),
                )
            })
        })
        .await?;
        if let Some(first) = created {
            return Ok(see_other(&first));
        }
        errors.add(
            "name",
            "A project with this name (or the same slug) already exists.",
        );
    }
    let mut page = AdminPage::load(&state, user, &session).await?;
    page.project_form = ProjectFormView { name: raw, errors };
    html(StatusCode::UNPROCESSABLE_ENTITY, &page)
}
