//! Projects, each created with its production, staging and development environments.

use diesel::{Connection, PgConnection};
use serde_json::json;

use crate::db::{self, audit::Actor, projects::Environment, projects::Project};
use crate::domain::audit::{AuditAction, AuditTarget};
use crate::domain::project::ProjectName;
use crate::error::AppError;

pub const NAME_TAKEN: &str = "A project with this name (or the same slug) already exists.";

/// `Ok(None)` when the name or its slug is taken.
#[tracing::instrument(skip_all)]
pub fn create(
    conn: &mut PgConnection,
    name: &ProjectName,
    actor: &Actor,
) -> Result<Option<(Project, Vec<Environment>)>, AppError> {
    conn.transaction(|conn| {
        let Some((project, envs)) = db::projects::create_with_default_environments(conn, name)?
        else {
            return Ok(None);
        };
        actor.record(
            conn,
            None,
            AuditTarget::Project {
                id: project.id,
                name: &project.name,
            },
            AuditAction::ProjectCreated,
            json!({"name": project.name, "slug": project.slug}),
        )?;
        Ok(Some((project, envs)))
    })
}
