use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use serde::Deserialize;

use super::page::{AdminPage, ProjectFormView};
use crate::auth::scope::AdminScope;
use crate::domain::project::ProjectName;
use crate::error::AppError;
use crate::routes::page::{FieldErrors, env_path, html, see_other};
use crate::services::{self, projects};
use crate::state::AppState;

#[derive(Deserialize)]
pub struct NewProjectForm {
    #[serde(default)]
    name: String,
}

/// Creates a project with its production, staging and development environments.
pub async fn create(
    admin: AdminScope,
    state: web::Data<AppState>,
    form: web::Form<NewProjectForm>,
) -> Result<HttpResponse, AppError> {
    let raw = form.into_inner().name;
    let mut errors = FieldErrors::default();
    if let Some(name) = errors.check("name", ProjectName::parse(&raw)) {
        let actor = admin.actor();
        let created = services::run(&state.pool, move |conn| {
            projects::create(conn, &name, &actor)
        })
        .await?;
        if let Some((project, envs)) = created {
            let first = envs.first().map_or_else(
                || "/".to_owned(),
                |e| env_path(&project.slug, &e.slug, "api-keys"),
            );
            return Ok(see_other(&first));
        }
        errors.add("name", projects::NAME_TAKEN);
    }
    let mut page = AdminPage::load(&state, &admin).await?;
    page.project_form = ProjectFormView { name: raw, errors };
    html(StatusCode::UNPROCESSABLE_ENTITY, &page)
}
