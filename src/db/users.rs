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
    pub must_change_password: bool,
    /// Sealed with `KEYWARD_SECRET_KEY`; `None` while two-factor is off.
    pub totp_secret: Option<Vec<u8>>,
    pub totp_last_step: Option<i64>,
}

impl User {
    pub fn is_disabled(&self) -> bool {
        self.disabled_at.is_some()
    }
    pub fn has_two_factor(&self) -> bool {
        self.totp_secret.is_some()
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

/// A new password hash; `must_change` marks an administrator's one-time password.
pub fn set_password(
    conn: &mut PgConnection,
    id: UserId,
    password_hash: &str,
    must_change: bool,
) -> QueryResult<usize> {
    diesel::update(users::table.find(id))
        .set((
            users::password_hash.eq(password_hash),
            users::must_change_password.eq(must_change),
        ))
        .execute(conn)
}

/// Turns two-factor on (a sealed secret, the step its set-up code used) or off (`None`).
pub fn set_totp(
    conn: &mut PgConnection,
    id: UserId,
    sealed_secret: Option<&[u8]>,
    last_step: Option<i64>,
) -> QueryResult<usize> {
    diesel::update(users::table.find(id))
        .set((
            users::totp_secret.eq(sealed_secret),
            users::totp_last_step.eq(last_step),
        ))
        .execute(conn)
}

/// Records `step` as used if it is later than the last one used: 1 when the code is accepted,
/// 0 when this step (or a later one) was used already. One statement, so two nodes cannot both
/// accept the same code.
pub fn accept_totp_step(conn: &mut PgConnection, id: UserId, step: i64) -> QueryResult<usize> {
    diesel::update(
        users::table.find(id).filter(
            users::totp_last_step
                .is_null()
                .or(users::totp_last_step.lt(step)),
        ),
    )
    .set(users::totp_last_step.eq(step))
    .execute(conn)
}

/// The active administrators, locked until the transaction ends, so that two administrators
/// removing each other at once cannot both succeed.
pub fn lock_active_admins(conn: &mut PgConnection) -> QueryResult<Vec<UserId>> {
    users::table
        .filter(users::is_admin.eq(true))
        .filter(users::disabled_at.is_null())
        .select(users::id)
        .for_update()
        .load(conn)
}
