use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel::sql_types::Text;

use super::schema::api_keys;
use crate::domain::api_key::{KeyStatus, KeyType};

#[derive(Debug, Clone, Queryable, Selectable, Identifiable)]
#[diesel(table_name = api_keys)]
pub struct ApiKey {
    pub id: i64,
    pub environment_id: i64,
    pub name: String,
    pub description: String,
    pub key_type: String,
    pub scopes: Vec<String>,
    pub digest: Vec<u8>,
    pub masked: String,
    pub enabled: bool,
    pub expires_at: Option<DateTime<Utc>>,
    pub rate_limit_per_minute: Option<i32>,
    pub revoked_at: Option<DateTime<Utc>>,
    pub previous_digest: Option<Vec<u8>>,
    pub previous_valid_until: Option<DateTime<Utc>>,
    pub created_by: Option<i64>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub last_used_at: Option<DateTime<Utc>>,
}

impl ApiKey {
    pub fn status(&self, now: DateTime<Utc>) -> KeyStatus {
        KeyStatus::derive(self.revoked_at, self.expires_at, self.enabled, now)
    }
    pub fn key_type(&self) -> KeyType {
        KeyType::parse(&self.key_type).unwrap_or(KeyType::Secret)
    }
    /// Every digest that may currently be cached for this key.
    pub fn digests(&self) -> Vec<Vec<u8>> {
        std::iter::once(self.digest.clone())
            .chain(self.previous_digest.clone())
            .collect()
    }
}

#[derive(Debug, Insertable)]
#[diesel(table_name = api_keys)]
pub struct NewApiKey<'a> {
    pub environment_id: i64,
    pub name: &'a str,
    pub description: &'a str,
    pub key_type: &'a str,
    pub scopes: Vec<String>,
    pub digest: &'a [u8],
    pub masked: &'a str,
    pub expires_at: Option<DateTime<Utc>>,
    pub rate_limit_per_minute: Option<i32>,
    pub created_by: Option<i64>,
}

/// The constraint behind "names are unique per environment among keys that are not revoked".
pub const LIVE_NAME_CONSTRAINT: &str = "api_keys_live_name_key";

pub fn list_for_environment(
    conn: &mut PgConnection,
    environment_id: i64,
) -> QueryResult<Vec<ApiKey>> {
    api_keys::table
        .filter(api_keys::environment_id.eq(environment_id))
        .order((api_keys::created_at.desc(), api_keys::id.desc()))
        .select(ApiKey::as_select())
        .load(conn)
}

/// A key of this environment; another environment's id is simply not found.
pub fn find(conn: &mut PgConnection, environment_id: i64, id: i64) -> QueryResult<Option<ApiKey>> {
    api_keys::table
        .filter(api_keys::environment_id.eq(environment_id))
        .filter(api_keys::id.eq(id))
        .select(ApiKey::as_select())
        .first(conn)
        .optional()
}

/// `None` when a live key of this environment already has the name.
pub fn insert(conn: &mut PgConnection, new: &NewApiKey<'_>) -> QueryResult<Option<ApiKey>> {
    super::none_if_taken(
        diesel::insert_into(api_keys::table)
            .values(new)
            .returning(ApiKey::as_returning())
            .get_result(conn),
        LIVE_NAME_CONSTRAINT,
    )
}

/// Sets the switch to the state asked for (not a flip); revoked keys stay as they are.
pub fn set_enabled(
    conn: &mut PgConnection,
    environment_id: i64,
    id: i64,
    enabled: bool,
) -> QueryResult<Option<ApiKey>> {
    diesel::update(
        api_keys::table
            .filter(api_keys::environment_id.eq(environment_id))
            .filter(api_keys::id.eq(id))
            .filter(api_keys::revoked_at.is_null()),
    )
    .set((
        api_keys::enabled.eq(enabled),
        api_keys::updated_at.eq(Utc::now()),
    ))
    .returning(ApiKey::as_returning())
    .get_result(conn)
    .optional()
}

/// Replaces the secret. With `old_valid_until` the old digest keeps working until then.
pub fn rotate(
    conn: &mut PgConnection,
    key: &ApiKey,
    new_digest: &[u8],
    new_masked: &str,
    old_valid_until: Option<DateTime<Utc>>,
) -> QueryResult<ApiKey> {
    let previous = old_valid_until.map(|_| key.digest.clone());
    diesel::update(api_keys::table.find(key.id))
        .set((
            api_keys::digest.eq(new_digest),
            api_keys::masked.eq(new_masked),
            api_keys::previous_digest.eq(previous),
            api_keys::previous_valid_until.eq(old_valid_until),
            api_keys::updated_at.eq(Utc::now()),
        ))
        .returning(ApiKey::as_returning())
        .get_result(conn)
}

/// Revokes for good; `None` when already revoked or not in this environment.
pub fn revoke(
    conn: &mut PgConnection,
    environment_id: i64,
    id: i64,
) -> QueryResult<Option<ApiKey>> {
    let now = Utc::now();
    diesel::update(
        api_keys::table
            .filter(api_keys::environment_id.eq(environment_id))
            .filter(api_keys::id.eq(id))
            .filter(api_keys::revoked_at.is_null()),
    )
    .set((
        api_keys::revoked_at.eq(now),
        api_keys::enabled.eq(false),
        api_keys::previous_digest.eq(None::<Vec<u8>>),
        api_keys::previous_valid_until.eq(None::<DateTime<Utc>>),
        api_keys::updated_at.eq(now),
    ))
    .returning(ApiKey::as_returning())
    .get_result(conn)
    .optional()
}

/// The channel every node listens on to drop cached key state.
pub const CHANGE_CHANNEL: &str = "keyward_keys";

/// Tells every node (inside the caller's transaction, so only on commit) which digests changed.
pub fn notify_changed(conn: &mut PgConnection, digests: &[Vec<u8>]) -> QueryResult<()> {
    let payload = digests
        .iter()
        .map(hex::encode)
        .collect::<Vec<_>>()
        .join(",");
    diesel::sql_query("SELECT pg_notify($1, $2)")
        .bind::<Text, _>(CHANGE_CHANNEL)
        .bind::<Text, _>(payload)
        .execute(conn)
        .map(|_| ())
}

/// The key a presented digest names (current secret, or the previous one during a grace
/// period), with the slugs of its project and environment.
pub fn find_by_digest(
    conn: &mut PgConnection,
    digest: &[u8],
) -> QueryResult<Option<(ApiKey, String, String)>> {
    use super::schema::{environments, projects};
    api_keys::table
        .inner_join(environments::table.inner_join(projects::table))
        .filter(
            api_keys::digest
                .eq(digest)
                .or(api_keys::previous_digest.eq(digest)),
        )
        .select((ApiKey::as_select(), projects::slug, environments::slug))
        .first(conn)
        .optional()
}

/// Changes from the management API; `None` leaves a field as it is.
#[derive(Debug, Default, AsChangeset)]
#[diesel(table_name = api_keys)]
pub struct KeyChanges {
    pub name: Option<String>,
    pub description: Option<String>,
    pub enabled: Option<bool>,
    pub rate_limit_per_minute: Option<Option<i32>>,
    pub expires_at: Option<Option<DateTime<Utc>>>,
    pub updated_at: Option<DateTime<Utc>>,
}

/// `Ok(None)` when the new name is taken by another live key.
pub fn update(
    conn: &mut PgConnection,
    key: &ApiKey,
    changes: &KeyChanges,
) -> QueryResult<Option<ApiKey>> {
    super::none_if_taken(
        diesel::update(api_keys::table.find(key.id))
            .set(changes)
            .returning(ApiKey::as_returning())
            .get_result(conn),
        LIVE_NAME_CONSTRAINT,
    )
}
