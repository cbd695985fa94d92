use chrono::{DateTime, Utc};
use diesel::prelude::*;

use super::schema::users;
use crate::domain::ids::UserId;

#[derive(Debug, Clone, Queryable, Selectable, Identifiable)]
#[diesel(table_name = users)]
pub struct User {
    pub id: UserId,
    pub email: String,
    pub display_name: String,
    pub password_hash: String,
    pub is_admin: bool,
    pub disabled_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
}

impl User {
    pub fn is_disabled(&self) -> bool {
        self.disabled_at.is_some()
    }
}

#[derive(Insertable)]
#[diesel(table_name = users)]
pub struct NewUser<'a> {
    pub email: &'a str,
    pub display_name: &'a str,
    pub password_hash: &'a str,
    pub is_admin: bool,
}

diesel::define_sql_function!(fn lower(x: diesel::sql_types::Text) -> diesel::sql_types::Text);

pub fn find_by_email(conn: &mut PgConnection, email: &str) -> QueryResult<Option<User>> {
    users::table
        .filter(lower(users::email).eq(email.to_lowercase()))
        .select(User::as_select())
        .first(conn)
        .optional()
}

pub fn find(conn: &mut PgConnection, id: UserId) -> QueryResult<Option<User>> {
    users::table
        .find(id)
        .select(User::as_select())
        .first(conn)
        .optional()
}

pub fn list_all(conn: &mut PgConnection) -> QueryResult<Vec<User>> {
    users::table
        .order(users::email.asc())
        .select(User::as_select())
        .load(conn)
}

pub fn count(conn: &mut PgConnection) -> QueryResult<i64> {
    users::table.count().get_result(conn)
}

/// `None` when the email is taken (case-insensitively).
pub fn create(conn: &mut PgConnection, new: &NewUser<'_>) -> QueryResult<Option<User>> {
    super::none_if_taken(
        diesel::insert_into(users::table)
            .values(new)
            .returning(User::as_returning())
            .get_result(conn),
        "users_email_lower_key",
    )
}

pub fn set_disabled(conn: &mut PgConnection, id: UserId, disabled: bool) -> QueryResult<usize> {
    let value = disabled.then(Utc::now);
    diesel::update(users::table.find(id))
        .set(users::disabled_at.eq(value))
        .execute(conn)
}

pub fn set_admin(conn: &mut PgConnection, id: UserId, is_admin: bool) -> QueryResult<usize> {
    diesel::update(users::table.find(id))
        .set(users::is_admin.eq(is_admin))
        .execute(conn)
}
