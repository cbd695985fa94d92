use diesel::prelude::*;

use super::schema::{memberships, users};
use super::users::User;
use crate::domain::ids::{EnvironmentId, UserId};
use crate::domain::user::Role;

pub fn role_of(
    conn: &mut PgConnection,
    user_id: UserId,
    environment_id: EnvironmentId,
) -> QueryResult<Option<Role>> {
    memberships::table
        .find((user_id, environment_id))
        .select(memberships::role)
        .first::<Role>(conn)
        .optional()
}

pub fn list(
    conn: &mut PgConnection,
    environment_id: EnvironmentId,
) -> QueryResult<Vec<(User, Role)>> {
    memberships::table
        .inner_join(users::table)
        .filter(memberships::environment_id.eq(environment_id))
        .order(users::email.asc())
        .select((User::as_select(), memberships::role))
        .load(conn)
}

/// Adds or changes a membership; returns the previous role, if any.
pub fn upsert(
    conn: &mut PgConnection,
    user_id: UserId,
    environment_id: EnvironmentId,
    role: Role,
) -> QueryResult<Option<Role>> {
    let previous = role_of(conn, user_id, environment_id)?;
    diesel::insert_into(memberships::table)
        .values((
            memberships::user_id.eq(user_id),
            memberships::environment_id.eq(environment_id),
            memberships::role.eq(role),
        ))
        .on_conflict((memberships::user_id, memberships::environment_id))
        .do_update()
        .set(memberships::role.eq(role))
        .execute(conn)?;
    Ok(previous)
}

pub fn remove(
    conn: &mut PgConnection,
    user_id: UserId,
    environment_id: EnvironmentId,
) -> QueryResult<usize> {
    diesel::delete(memberships::table.find((user_id, environment_id))).execute(conn)
}
