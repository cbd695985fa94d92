//! Leak reports that named a key of this installation (the Leaked badge links to the last).

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use diesel::prelude::*;

use super::schema::api_key_leaks;
use crate::domain::ids::KeyId;

pub fn insert(
    conn: &mut PgConnection,
    key: KeyId,
    url: &str,
    source: &str,
    now: DateTime<Utc>,
) -> QueryResult<()> {
    diesel::insert_into(api_key_leaks::table)
        .values((
            api_key_leaks::api_key_id.eq(key),
            api_key_leaks::url.eq(url),
            api_key_leaks::source.eq(source),
            api_key_leaks::reported_at.eq(now),
        ))
        .execute(conn)
        .map(|_| ())
}

/// The newest report's URL for each of `keys` that was ever reported.
pub fn latest_urls(conn: &mut PgConnection, keys: &[KeyId]) -> QueryResult<HashMap<KeyId, String>> {
    if keys.is_empty() {
        return Ok(HashMap::new());
    }
    let rows: Vec<(KeyId, String)> = api_key_leaks::table
        .filter(api_key_leaks::api_key_id.eq_any(keys))
        .order((api_key_leaks::api_key_id, api_key_leaks::id.desc()))
        .distinct_on(api_key_leaks::api_key_id)
        .select((api_key_leaks::api_key_id, api_key_leaks::url))
        .load(conn)?;
    Ok(rows.into_iter().collect())
}
