use chrono::{DateTime, Utc};
use diesel::prelude::*;

use super::schema::sessions;

/// The state of a live session, if the digest names one that has not expired.
pub fn load(conn: &mut PgConnection, digest: &[u8]) -> QueryResult<Option<String>> {
    sessions::table
        .find(digest)
        .filter(sessions::expires_at.gt(Utc::now()))
        .select(sessions::state)
        .first(conn)
        .optional()
}

pub fn insert(
    conn: &mut PgConnection,
    digest: &[u8],
    user_id: Option<i64>,
    state: &str,
    expires_at: DateTime<Utc>,
) -> QueryResult<()> {
    diesel::insert_into(sessions::table)
        .values((
            sessions::id_digest.eq(digest),
            sessions::user_id.eq(user_id),
            sessions::state.eq(state),
            sessions::expires_at.eq(expires_at),
        ))
        .execute(conn)
        .map(|_| ())
}

/// Rows changed: 0 means the session is gone (signed out, or its user disabled).
pub fn update(
    conn: &mut PgConnection,
    digest: &[u8],
    user_id: Option<i64>,
    state: &str,
    expires_at: DateTime<Utc>,
) -> QueryResult<usize> {
    diesel::update(sessions::table.find(digest))
        .set((
            sessions::user_id.eq(user_id),
            sessions::state.eq(state),
            sessions::expires_at.eq(expires_at),
        ))
        .execute(conn)
}

pub fn touch(
    conn: &mut PgConnection,
    digest: &[u8],
    expires_at: DateTime<Utc>,
) -> QueryResult<usize> {
    diesel::update(sessions::table.find(digest))
        .set(sessions::expires_at.eq(expires_at))
        .execute(conn)
}

pub fn delete(conn: &mut PgConnection, digest: &[u8]) -> QueryResult<usize> {
    diesel::delete(sessions::table.find(digest)).execute(conn)
}

/// Ends every session of a user, on every node at once.
pub fn delete_for_user(
    conn: &mut PgConnection,
    user_id: crate::domain::ids::UserId,
) -> QueryResult<usize> {
    diesel::delete(sessions::table.filter(sessions::user_id.eq(user_id))).execute(conn)
}

pub fn delete_expired(conn: &mut PgConnection) -> QueryResult<usize> {
    diesel::delete(sessions::table.filter(sessions::expires_at.le(Utc::now()))).execute(conn)
}
