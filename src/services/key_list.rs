//! Reading an environment's keys a page at a time (SPEC §9). Nothing here changes a row.

use chrono::{DateTime, Utc};
use diesel::PgConnection;

use crate::db::api_keys::{self, ApiKey};
use crate::db::key_list;
use crate::domain::ids::{EnvironmentId, KeyId};
use crate::domain::key_list::{KeyCursor, KeyFilter, KeyLookup, KeyPosition, PAGE_SIZE};
use crate::error::AppError;

/// One page of keys, newest first, with where its neighbours start.
#[derive(Debug)]
pub struct KeyPage {
    pub keys: Vec<ApiKey>,
    /// The first row, when there are newer keys in this view ("Previous").
    pub newer: Option<KeyPosition>,
    /// The last row, when there are older keys in this view ("Next").
    pub older: Option<KeyPosition>,
}

fn position(key: &ApiKey) -> KeyPosition {
    KeyPosition {
        created_at: key.created_at,
        id: key.id,
    }
}

/// `limit` keys from `cursor`; one more is read to learn whether a page lies beyond.
pub fn page(
    conn: &mut PgConnection,
    environment_id: EnvironmentId,
    filter: &KeyFilter,
    cursor: KeyCursor,
    limit: i64,
    now: DateTime<Utc>,
) -> Result<KeyPage, AppError> {
    let mut keys = key_list::page(conn, environment_id, filter, cursor, now, limit + 1)?;
    let more = keys.len() as i64 > limit;
    if more {
        match cursor {
            // Read oldest-first from the cursor: the extra row is the newest.
            KeyCursor::Before(_) => {
                keys.remove(0);
            }
            _ => {
                keys.pop();
            }
        }
    }
    let (has_newer, has_older) = match cursor {
        KeyCursor::Newest => (false, more),
        KeyCursor::After(_) => (true, more),
        KeyCursor::Before(_) => (more, true),
    };
    Ok(KeyPage {
        newer: keys.first().map(position).filter(|_| has_newer),
        older: keys.last().map(position).filter(|_| has_older),
        keys,
    })
}

/// What the API Keys tab shows: a page of keys and the expiring-soon banner's count.
#[derive(Debug)]
pub struct KeyListView {
    pub page: KeyPage,
    pub expiring_soon: i64,
}

pub fn view(
    conn: &mut PgConnection,
    environment_id: EnvironmentId,
    filter: &KeyFilter,
    cursor: KeyCursor,
    now: DateTime<Utc>,
) -> Result<KeyListView, AppError> {
    Ok(KeyListView {
        page: page(conn, environment_id, filter, cursor, PAGE_SIZE, now)?,
        expiring_soon: key_list::count_expiring_soon(conn, environment_id, now)?,
    })
}

/// The key of this environment a pasted plaintext names (its current secret or an earlier one
/// still in its grace period); a key of another environment is not found.
pub fn find_pasted(
    conn: &mut PgConnection,
    environment_id: EnvironmentId,
    lookup: &KeyLookup,
) -> Result<Option<ApiKey>, AppError> {
    let KeyLookup::Digest(digest) = lookup else {
        return Ok(None);
    };
    Ok(api_keys::find_by_digest(conn, *digest)?
        .map(|(key, ..)| key)
        .filter(|key| key.environment_id == environment_id))
}

/// Only the id, for a redirect to the key's page.
pub fn find_pasted_id(
    conn: &mut PgConnection,
    environment_id: EnvironmentId,
    lookup: &KeyLookup,
) -> Result<Option<KeyId>, AppError> {
    Ok(find_pasted(conn, environment_id, lookup)?.map(|k| k.id))
}
