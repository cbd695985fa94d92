//! Single-use recovery codes, stored as digests only.

use chrono::{DateTime, Utc};
use diesel::prelude::*;

use super::schema::recovery_codes;
use crate::domain::ids::UserId;

/// Replaces a user's codes with a new set.
pub fn replace(conn: &mut PgConnection, user: UserId, digests: &[Vec<u8>]) -> QueryResult<()> {
    delete_all(conn, user)?;
    let rows: Vec<_> = digests
        .iter()
        .map(|d| {
            (
                recovery_codes::user_id.eq(user),
                recovery_codes::digest.eq(d.as_slice()),
            )
        })
        .collect();
    diesel::insert_into(recovery_codes::table)
        .values(&rows)
        .execute(conn)
        .map(|_| ())
}

/// Marks the code used: 1 when it was an unused code of this user, else 0. One statement, so a
/// code works once even when two sign-ins race.
pub fn use_code(
    conn: &mut PgConnection,
    user: UserId,
    digest: &[u8],
    now: DateTime<Utc>,
) -> QueryResult<usize> {
    diesel::update(
        recovery_codes::table
            .find((user, digest))
            .filter(recovery_codes::used_at.is_null()),
    )
    .set(recovery_codes::used_at.eq(now))
    .execute(conn)
}

pub fn count_unused(conn: &mut PgConnection, user: UserId) -> QueryResult<i64> {
    recovery_codes::table
        .filter(recovery_codes::user_id.eq(user))
        .filter(recovery_codes::used_at.is_null())
        .count()
        .get_result(conn)
}

pub fn delete_all(conn: &mut PgConnection, user: UserId) -> QueryResult<usize> {
    diesel::delete(recovery_codes::table.filter(recovery_codes::user_id.eq(user))).execute(conn)
}
