use diesel::prelude::*;

use super::schema::{memberships, users};
use super::users::User;
use crate::domain::user::Role;

fn role_from_db(s: &str) -> Role {
    // The column's CHECK constraint allows only these two.
    if s == "owner" {
        Role::Owner
    } else {
        Role::Member
    }
}

pub fn role_of(
    conn: &mut PgConnection,
    user_id: i64,
    environment_id: i64,
) -> QueryResult<Option<Role>> {
    memberships::table
        .find((user_id, environment_id))
        .select(memberships::role)
        .first::<String>(conn)
        .optional()
        .map(|r| r.as_deref().map(role_from_db))
}

pub fn list(conn: &mut PgConnection, environment_id: i64) -> QueryResult<Vec<(User, Role)>> {
    let rows: Vec<(User, String)> = memberships::table
        .inner_join(users::table)
        .filter(memberships::environment_id.eq(environment_id))
        .order(users::email.asc())
        .select((User::as_select(), memberships::role))
        .load(conn)?;
    Ok(rows
        .into_iter()
        .map(|(u, r)| (u, role_from_db(&r)))
        .collect())
}

/// Adds or changes a membership; returns the previous role, if any.
pub fn upsert(
    conn: &mut PgConnection,
    user_id: i64,
    environment_id: i64,
    role: Role,
) -> QueryResult<Option<Role>> {
    let previous = role_of(conn, user_id, environment_id)?;
    diesel::insert_into(memberships::table)
        .values((
            memberships::user_id.eq(user_id),
            memberships::environment_id.eq(environment_id),
            memberships::role.eq(role.as_str()),
        ))
        .on_conflict((memberships::user_id, memberships::environment_id))
        .do_update()
        .set(memberships::role.eq(role.as_str()))
        .execute(conn)?;
    Ok(previous)
}

pub fn remove(conn: &mut PgConnection, user_id: i64, environment_id: i64) -> QueryResult<usize> {
    diesel::delete(memberships::table.find((user_id, environment_id))).execute(conn)
}
