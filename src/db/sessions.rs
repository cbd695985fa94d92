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

/// The columns a session's state fills besides the state itself: who, and what the account
/// page's Sessions list shows.
#[derive(Debug, Clone, Default, AsChangeset)]
#[diesel(table_name = sessions, treat_none_as_null = true)]
pub struct SessionColumns {
    pub user_id: Option<i64>,
    pub handle: Option<String>,
    pub signed_in_at: Option<DateTime<Utc>>,
    pub last_seen_at: Option<DateTime<Utc>>,
    pub user_agent: Option<String>,
    pub client_ip: Option<String>,
}

pub fn insert(
    conn: &mut PgConnection,
    digest: &[u8],
    columns: &SessionColumns,
    state: &str,
    expires_at: DateTime<Utc>,
) -> QueryResult<()> {
    diesel::insert_into(sessions::table)
        .values((
            sessions::id_digest.eq(digest),
            sessions::user_id.eq(columns.user_id),
            sessions::handle.eq(&columns.handle),
            sessions::signed_in_at.eq(columns.signed_in_at),
            sessions::last_seen_at.eq(columns.last_seen_at),
            sessions::user_agent.eq(&columns.user_agent),
            sessions::client_ip.eq(&columns.client_ip),
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
    columns: &SessionColumns,
    state: &str,
    expires_at: DateTime<Utc>,
) -> QueryResult<usize> {
    diesel::update(sessions::table.find(digest))
        .set((
            columns,
            sessions::state.eq(state),
            sessions::expires_at.eq(expires_at),
        ))
        .execute(conn)
}

/// One of a user's live sessions, as the account page lists it.
#[derive(Debug, Clone, Queryable)]
pub struct SessionInfo {
    pub handle: Option<String>,
    pub signed_in_at: Option<DateTime<Utc>>,
    pub last_seen_at: Option<DateTime<Utc>>,
    pub user_agent: Option<String>,
    pub client_ip: Option<String>,
}

/// A user's live sessions, most recently seen first.
pub fn list_for_user(
    conn: &mut PgConnection,
    user_id: crate::domain::ids::UserId,
) -> QueryResult<Vec<SessionInfo>> {
    sessions::table
        .filter(sessions::user_id.eq(user_id))
        .filter(sessions::expires_at.gt(Utc::now()))
        .order((
            sessions::last_seen_at.desc().nulls_last(),
            sessions::signed_in_at.desc(),
        ))
        .select((
            sessions::handle,
            sessions::signed_in_at,
            sessions::last_seen_at,
            sessions::user_agent,
            sessions::client_ip,
        ))
        .load(conn)
}

/// Ends one of a user's sessions, named by its handle; 0 when the user has no such session.
pub fn delete_by_handle(
    conn: &mut PgConnection,
    user_id: crate::domain::ids::UserId,
    handle: &str,
) -> QueryResult<usize> {
    diesel::delete(
        sessions::table
            .filter(sessions::user_id.eq(user_id))
            .filter(sessions::handle.eq(handle)),
    )
    .execute(conn)
}

/// Ends every session of a user but the one with `keep` as its handle.
pub fn delete_for_user_except(
    conn: &mut PgConnection,
    user_id: crate::domain::ids::UserId,
    keep: &str,
) -> QueryResult<usize> {
    diesel::delete(
        sessions::table
            .filter(sessions::user_id.eq(user_id))
            .filter(sessions::handle.is_distinct_from(keep)),
    )
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
