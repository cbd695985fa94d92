use chrono::{DateTime, Utc};
use diesel::prelude::*;

use super::schema::{environments, memberships, projects};
use crate::domain::ids::{EnvironmentId, ProjectId, UserId};
use crate::domain::project::{DEFAULT_ENVIRONMENTS, ProjectName};

#[derive(Debug, Clone, Queryable, Selectable, Identifiable)]
#[diesel(table_name = projects)]
pub struct Project {
    pub id: ProjectId,
    pub slug: String,
    pub name: String,
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Queryable, Selectable, Identifiable)]
#[diesel(table_name = environments)]
pub struct Environment {
    pub id: EnvironmentId,
    pub project_id: ProjectId,
    pub slug: String,
    pub name: String,
    pub key_tag: String,
    pub position: i32,
    pub created_at: DateTime<Utc>,
}

/// Creates a project with its three standard environments. `None` when the slug is taken.
pub fn create_with_default_environments(
    conn: &mut PgConnection,
    name: &ProjectName,
) -> QueryResult<Option<(Project, Vec<Environment>)>> {
    // The whole insert is one savepoint: when the slug is taken it is rolled back, so the
    // caller's transaction stays usable (releasing a failed savepoint would abort it).
    let created = conn.transaction(|conn| {
        let project = diesel::insert_into(projects::table)
            .values((
                projects::slug.eq(name.slug().as_str()),
                projects::name.eq(name.as_str()),
            ))
            .returning(Project::as_returning())
            .get_result(conn)?;
        let rows: Vec<_> = DEFAULT_ENVIRONMENTS
            .iter()
            .zip(0..)
            .map(|((slug, env_name, tag), position)| {
                (
                    environments::project_id.eq(project.id),
                    environments::slug.eq(*slug),
                    environments::name.eq(*env_name),
                    environments::key_tag.eq(*tag),
                    environments::position.eq(position),
                )
            })
            .collect();
        let envs = diesel::insert_into(environments::table)
            .values(&rows)
            .returning(Environment::as_returning())
            .get_results(conn)?;
        Ok((project, envs))
    });
    super::none_if_taken(created, "projects_slug_key")
}

pub fn count(conn: &mut PgConnection) -> QueryResult<i64> {
    projects::table.count().get_result(conn)
}

pub fn list_all(conn: &mut PgConnection) -> QueryResult<Vec<Project>> {
    projects::table
        .order(projects::name.asc())
        .select(Project::as_select())
        .load(conn)
}

pub fn find_environment(
    conn: &mut PgConnection,
    project_slug: &str,
    env_slug: &str,
) -> QueryResult<Option<(Project, Environment)>> {
    projects::table
        .inner_join(environments::table)
        .filter(projects::slug.eq(project_slug))
        .filter(environments::slug.eq(env_slug))
        .select((Project::as_select(), Environment::as_select()))
        .first(conn)
        .optional()
}

/// Every (project, environment) the user may open: all for admins, their memberships otherwise.
pub fn accessible_environments(
    conn: &mut PgConnection,
    user_id: UserId,
    is_admin: bool,
) -> QueryResult<Vec<(Project, Environment)>> {
    let query = projects::table
        .inner_join(environments::table)
        .order((projects::name.asc(), environments::position.asc()))
        .select((Project::as_select(), Environment::as_select()));
    if is_admin {
        query.load(conn)
    } else {
        query
            .filter(
                environments::id.eq_any(
                    memberships::table
                        .filter(memberships::user_id.eq(user_id))
                        .select(memberships::environment_id),
                ),
            )
            .load(conn)
    }
}

pub fn find_environment_by_id(
    conn: &mut PgConnection,
    id: EnvironmentId,
) -> QueryResult<Option<Environment>> {
    environments::table
        .find(id)
        .select(Environment::as_select())
        .first(conn)
        .optional()
}
