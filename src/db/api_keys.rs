use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel::sql_types::Text;

use super::schema::{api_key_previous_secrets, api_keys};
use crate::domain::api_key::{KeyStatus, KeyType, Scope};
use crate::domain::ids::{EnvironmentId, KeyId, UserId};
use crate::domain::key_format::KeyDigest;
use crate::domain::policy::KeyMeta;

#[derive(Debug, Clone, Queryable, Selectable, Identifiable)]
#[diesel(table_name = api_keys)]
pub struct ApiKey {
    pub id: KeyId,
    pub environment_id: EnvironmentId,
    pub name: String,
    pub description: String,
    pub key_type: KeyType,
    pub scopes: Vec<Scope>,
    pub digest: KeyDigest,
    pub masked: String,
    pub enabled: bool,
    pub expires_at: Option<DateTime<Utc>>,
    pub rate_limit_per_minute: Option<i32>,
    pub revoked_at: Option<DateTime<Utc>>,
    pub created_by: Option<UserId>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub last_used_at: Option<DateTime<Utc>>,
    /// Bumped by every change: a cached copy with another version is stale.
    pub version: i64,
    pub allowed_ips: Option<Vec<String>>,
    pub allowed_origins: Option<Vec<String>>,
    pub quota_limit: Option<i64>,
    pub quota_period: Option<String>,
    pub owner_id: Option<String>,
    pub meta: Option<KeyMeta>,
    /// The client address the caller last reported, written by the usage flusher.
    pub last_used_ip: Option<String>,
}

impl ApiKey {
    pub fn status(&self, now: DateTime<Utc>) -> KeyStatus {
        KeyStatus::of(
            self.revoked_at.is_some(),
            self.expires_at,
            self.enabled,
            now,
        )
    }
}

/// A rotated key's earlier secret that still works until `valid_until`.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = api_key_previous_secrets)]
pub struct PreviousSecret {
    pub digest: KeyDigest,
    pub valid_until: DateTime<Utc>,
}

/// A key read with `FOR UPDATE`, with its earlier secrets: until the transaction ends nobody
/// else can change it, so every digest named here is every digest a node may have cached.
#[derive(Debug, Clone)]
pub struct LockedKey {
    pub key: ApiKey,
    pub previous: Vec<PreviousSecret>,
}

impl LockedKey {
    pub fn digests(&self) -> Vec<KeyDigest> {
        std::iter::once(self.key.digest)
            .chain(self.previous.iter().map(|p| p.digest))
            .collect()
    }
}

#[derive(Debug, Insertable)]
#[diesel(table_name = api_keys)]
pub struct NewApiKey<'a> {
    pub environment_id: EnvironmentId,
    pub name: &'a str,
    pub description: &'a str,
    pub key_type: KeyType,
    pub scopes: &'a [Scope],
    pub digest: KeyDigest,
    pub masked: &'a str,
    pub expires_at: Option<DateTime<Utc>>,
    pub rate_limit_per_minute: Option<i32>,
    pub created_by: Option<UserId>,
    pub allowed_ips: Option<&'a [String]>,
    pub allowed_origins: Option<&'a [String]>,
    pub quota_limit: Option<i64>,
    pub quota_period: Option<&'a str>,
    pub owner_id: Option<&'a str>,
    pub meta: Option<&'a KeyMeta>,
}

/// The constraint behind "names are unique per environment among keys that are not revoked".
pub const LIVE_NAME_CONSTRAINT: &str = "api_keys_live_name_key";

pub fn list_for_environment(
    conn: &mut PgConnection,
    environment_id: EnvironmentId,
) -> QueryResult<Vec<ApiKey>> {
    api_keys::table
        .filter(api_keys::environment_id.eq(environment_id))
        .order((api_keys::created_at.desc(), api_keys::id.desc()))
        .select(ApiKey::as_select())
        .load(conn)
}

/// A key of this environment; another environment's id is simply not found.
pub fn find(
    conn: &mut PgConnection,
    environment_id: EnvironmentId,
    id: KeyId,
) -> QueryResult<Option<ApiKey>> {
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

/// Locks one key of this environment for the rest of the transaction (`FOR UPDATE`), with its
/// earlier secrets. Every read-then-write of a key starts here, so concurrent changes queue up
/// instead of acting on a row that is already stale.
pub fn lock(
    conn: &mut PgConnection,
    environment_id: EnvironmentId,
    id: KeyId,
) -> QueryResult<Option<LockedKey>> {
    let Some(key) = api_keys::table
        .filter(api_keys::environment_id.eq(environment_id))
        .filter(api_keys::id.eq(id))
        .select(ApiKey::as_select())
        .for_update()
        .first(conn)
        .optional()?
    else {
        return Ok(None);
    };
    let previous = previous_secrets(conn, id)?;
    Ok(Some(LockedKey { key, previous }))
}

/// A key's earlier secrets, newest first.
pub fn previous_secrets(conn: &mut PgConnection, id: KeyId) -> QueryResult<Vec<PreviousSecret>> {
    api_key_previous_secrets::table
        .filter(api_key_previous_secrets::api_key_id.eq(id))
        .order(api_key_previous_secrets::id.desc())
        .select(PreviousSecret::as_select())
        .load(conn)
}

/// Sets the switch to the state asked for (not a flip). The caller holds the row's lock.
pub fn set_enabled(
    conn: &mut PgConnection,
    id: KeyId,
    enabled: bool,
    now: DateTime<Utc>,
) -> QueryResult<ApiKey> {
    diesel::update(api_keys::table.find(id))
        .set((api_keys::enabled.eq(enabled), api_keys::updated_at.eq(now)))
        .returning(ApiKey::as_returning())
        .get_result(conn)
}

/// Replaces the current secret. The caller holds the row's lock and decides what becomes of
/// the old one (`keep_previous` or `drop_previous`).
pub fn replace_secret(
    conn: &mut PgConnection,
    id: KeyId,
    new_digest: KeyDigest,
    new_masked: &str,
    now: DateTime<Utc>,
) -> QueryResult<ApiKey> {
    diesel::update(api_keys::table.find(id))
        .set((
            api_keys::digest.eq(new_digest),
            api_keys::masked.eq(new_masked),
            api_keys::updated_at.eq(now),
        ))
        .returning(ApiKey::as_returning())
        .get_result(conn)
}

/// Keeps `digest` working until `valid_until`, then trims the key's earlier secrets to the
/// newest `keep` that have not yet ended.
pub fn keep_previous(
    conn: &mut PgConnection,
    id: KeyId,
    digest: KeyDigest,
    valid_until: DateTime<Utc>,
    keep: i64,
    now: DateTime<Utc>,
) -> QueryResult<()> {
    diesel::insert_into(api_key_previous_secrets::table)
        .values((
            api_key_previous_secrets::api_key_id.eq(id),
            api_key_previous_secrets::digest.eq(digest),
            api_key_previous_secrets::valid_until.eq(valid_until),
        ))
        .execute(conn)?;
    let kept: Vec<i64> = api_key_previous_secrets::table
        .filter(api_key_previous_secrets::api_key_id.eq(id))
        .filter(api_key_previous_secrets::valid_until.gt(now))
        .order(api_key_previous_secrets::id.desc())
        .limit(keep)
        .select(api_key_previous_secrets::id)
        .load(conn)?;
    diesel::delete(
        api_key_previous_secrets::table
            .filter(api_key_previous_secrets::api_key_id.eq(id))
            .filter(api_key_previous_secrets::id.ne_all(kept)),
    )
    .execute(conn)
    .map(|_| ())
}

/// Ends every earlier secret of a key at once.
pub fn drop_previous(conn: &mut PgConnection, id: KeyId) -> QueryResult<()> {
    diesel::delete(
        api_key_previous_secrets::table.filter(api_key_previous_secrets::api_key_id.eq(id)),
    )
    .execute(conn)
    .map(|_| ())
}

/// Revokes for good. The caller holds the row's lock and has checked it is not revoked yet.
pub fn revoke(conn: &mut PgConnection, id: KeyId, now: DateTime<Utc>) -> QueryResult<ApiKey> {
    drop_previous(conn, id)?;
    diesel::update(api_keys::table.find(id))
        .set((
            api_keys::revoked_at.eq(now),
            api_keys::enabled.eq(false),
            api_keys::updated_at.eq(now),
        ))
        .returning(ApiKey::as_returning())
        .get_result(conn)
}

/// The current row version of each of these keys (a missing id is a deleted key).
pub fn versions(conn: &mut PgConnection, ids: &[KeyId]) -> QueryResult<Vec<(KeyId, i64)>> {
    api_keys::table
        .filter(api_keys::id.eq_any(ids))
        .select((api_keys::id, api_keys::version))
        .load(conn)
}

/// The channel every node listens on to drop cached key state.
pub const CHANGE_CHANNEL: &str = "keyward_keys";

/// Tells every node (inside the caller's transaction, so only on commit) which digests changed.
pub fn notify_changed(conn: &mut PgConnection, digests: &[KeyDigest]) -> QueryResult<()> {
    let payload = digests
        .iter()
        .map(|d| hex::encode(d.as_bytes()))
        .collect::<Vec<_>>()
        .join(",");
    diesel::sql_query("SELECT pg_notify($1, $2)")
        .bind::<Text, _>(CHANGE_CHANNEL)
        .bind::<Text, _>(payload)
        .execute(conn)
        .map(|_| ())
}

/// What a presented digest names: the key, its project and environment slugs, and for an
/// earlier secret of a rotated key the time it stops working.
pub type DigestMatch = (ApiKey, String, String, Option<DateTime<Utc>>);

/// The key a presented digest names (its current secret, or an earlier one during a grace
/// period), with the slugs of its project and environment.
pub fn find_by_digest(
    conn: &mut PgConnection,
    digest: KeyDigest,
) -> QueryResult<Option<DigestMatch>> {
    use super::schema::{environments, projects};
    let current = api_keys::table
        .inner_join(environments::table.inner_join(projects::table))
        .filter(api_keys::digest.eq(digest))
        .select((ApiKey::as_select(), projects::slug, environments::slug))
        .first::<(ApiKey, String, String)>(conn)
        .optional()?;
    if let Some((key, project, env)) = current {
        return Ok(Some((key, project, env, None)));
    }
    let previous = api_key_previous_secrets::table
        .inner_join(api_keys::table.inner_join(environments::table.inner_join(projects::table)))
        .filter(api_key_previous_secrets::digest.eq(digest))
        .select((
            ApiKey::as_select(),
            projects::slug,
            environments::slug,
            api_key_previous_secrets::valid_until,
        ))
        .first::<(ApiKey, String, String, DateTime<Utc>)>(conn)
        .optional()?;
    Ok(previous.map(|(key, project, env, until)| (key, project, env, Some(until))))
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
    pub allowed_ips: Option<Option<Vec<String>>>,
    pub allowed_origins: Option<Option<Vec<String>>>,
    pub quota_limit: Option<Option<i64>>,
    pub quota_period: Option<Option<String>>,
    pub owner_id: Option<Option<String>>,
    pub meta: Option<Option<KeyMeta>>,
    pub updated_at: Option<DateTime<Utc>>,
}

/// `Ok(None)` when the new name is taken by another live key.
pub fn update(
    conn: &mut PgConnection,
    id: KeyId,
    changes: &KeyChanges,
) -> QueryResult<Option<ApiKey>> {
    super::none_if_taken(
        diesel::update(api_keys::table.find(id))
            .set(changes)
            .returning(ApiKey::as_returning())
            .get_result(conn),
        LIVE_NAME_CONSTRAINT,
    )
}

/// Locks every key of this environment among `ids` (`FOR UPDATE`, in id order so two bulk
/// changes never wait on each other crosswise), with their earlier secrets. Ids of other
/// environments' keys, or of no key, are simply not among the answer.
pub fn lock_many(
    conn: &mut PgConnection,
    environment_id: EnvironmentId,
    ids: &[KeyId],
) -> QueryResult<Vec<LockedKey>> {
    let keys: Vec<ApiKey> = api_keys::table
        .filter(api_keys::environment_id.eq(environment_id))
        .filter(api_keys::id.eq_any(ids))
        .order(api_keys::id.asc())
        .select(ApiKey::as_select())
        .for_update()
        .load(conn)?;
    let locked_ids: Vec<KeyId> = keys.iter().map(|k| k.id).collect();
    let rows: Vec<(KeyId, PreviousSecret)> = api_key_previous_secrets::table
        .filter(api_key_previous_secrets::api_key_id.eq_any(&locked_ids))
        .order(api_key_previous_secrets::id.desc())
        .select((
            api_key_previous_secrets::api_key_id,
            PreviousSecret::as_select(),
        ))
        .load(conn)?;
    let mut previous: std::collections::HashMap<KeyId, Vec<PreviousSecret>> = Default::default();
    for (id, secret) in rows {
        previous.entry(id).or_default().push(secret);
    }
    Ok(keys
        .into_iter()
        .map(|key| LockedKey {
            previous: previous.remove(&key.id).unwrap_or_default(),
            key,
        })
        .collect())
}

/// Sets the switch of each of these keys to `enabled`, in one statement. The caller holds the
/// rows' locks and has left out revoked keys.
pub fn set_enabled_many(
    conn: &mut PgConnection,
    ids: &[KeyId],
    enabled: bool,
    now: DateTime<Utc>,
) -> QueryResult<Vec<ApiKey>> {
    diesel::update(api_keys::table.filter(api_keys::id.eq_any(ids)))
        .set((api_keys::enabled.eq(enabled), api_keys::updated_at.eq(now)))
        .returning(ApiKey::as_returning())
        .get_results(conn)
}

/// Revokes each of these keys for good, ending their earlier secrets, in two statements. The
/// caller holds the rows' locks and has left out keys already revoked.
pub fn revoke_many(
    conn: &mut PgConnection,
    ids: &[KeyId],
    now: DateTime<Utc>,
) -> QueryResult<Vec<ApiKey>> {
    diesel::delete(
        api_key_previous_secrets::table.filter(api_key_previous_secrets::api_key_id.eq_any(ids)),
    )
    .execute(conn)?;
    diesel::update(api_keys::table.filter(api_keys::id.eq_any(ids)))
        .set((
            api_keys::revoked_at.eq(now),
            api_keys::enabled.eq(false),
            api_keys::updated_at.eq(now),
        ))
        .returning(ApiKey::as_returning())
        .get_results(conn)
}

/// One notice per changed key, each naming that key's digests, sent in one statement (inside
/// the caller's transaction, so only on commit). A notice per key keeps every payload far
/// below PostgreSQL's 8000-byte limit, however many keys change at once.
pub fn notify_each_changed(conn: &mut PgConnection, keys: &[Vec<KeyDigest>]) -> QueryResult<()> {
    if keys.is_empty() {
        return Ok(());
    }
    let payloads: Vec<String> = keys
        .iter()
        .map(|digests| {
            digests
                .iter()
                .map(|d| hex::encode(d.as_bytes()))
                .collect::<Vec<_>>()
                .join(",")
        })
        .collect();
    diesel::sql_query("SELECT pg_notify($1, payload) FROM unnest($2) AS payload")
        .bind::<Text, _>(CHANGE_CHANNEL)
        .bind::<diesel::sql_types::Array<Text>, _>(payloads)
        .execute(conn)
        .map(|_| ())
}

/// The keys of this environment among `ids`, newest first; other ids are left out.
pub fn find_many(
    conn: &mut PgConnection,
    environment_id: EnvironmentId,
    ids: &[KeyId],
) -> QueryResult<Vec<ApiKey>> {
    api_keys::table
        .filter(api_keys::environment_id.eq(environment_id))
        .filter(api_keys::id.eq_any(ids))
        .order((api_keys::created_at.desc(), api_keys::id.desc()))
        .select(ApiKey::as_select())
        .load(conn)
}
