//! Every change to a key, shared by the dashboard and the management API. Each runs in one
//! transaction with its audit event and its change notice (delivered only on commit).

use chrono::{DateTime, Utc};
use diesel::{Connection, PgConnection};
use serde_json::json;

use crate::db::{self, api_keys::ApiKey, api_keys::KeyChanges, api_keys::NewApiKey, audit::Actor};
use crate::domain::Invalid;
use crate::domain::api_key::{ApiKeyName, Expiry, KeyDescription, KeyType, RateLimit, Scopes};
use crate::domain::key_format::{KeyDigest, KeyPrefix, KeyTag, PlainApiKey};
use crate::error::AppError;
use crate::verify::cache::KeyCache;

/// A new key's settings, each already parsed.
pub struct KeySpec {
    pub name: ApiKeyName,
    pub description: KeyDescription,
    pub key_type: KeyType,
    pub scopes: Scopes,
    pub expiry: Expiry,
    pub rate_limit: Option<RateLimit>,
}

/// Where a key lives and how new secrets there look.
pub struct KeyHome {
    pub environment_id: i64,
    pub tag: KeyTag,
    pub prefix: KeyPrefix,
}

pub const DUPLICATE_NAME: &str = "An active key with this name already exists in this environment.";

/// The changing node drops its own cached state at once (after commit, before it answers);
/// other nodes hear the NOTIFY sent inside the transaction.
fn forget(cache: &KeyCache, digests: &[Vec<u8>]) {
    cache.invalidate(digests.iter().filter_map(|d| KeyDigest::from_slice(d)));
}

fn target(id: i64) -> String {
    format!("api_key:{id}")
}

/// `Ok(None)` when the name is taken by a live key of the environment.
pub fn create(
    conn: &mut PgConnection,
    home: &KeyHome,
    spec: &KeySpec,
    actor: &Actor,
    cache: &KeyCache,
) -> Result<Option<(ApiKey, PlainApiKey)>, AppError> {
    let plain = PlainApiKey::generate(&home.prefix, spec.key_type, &home.tag)?;
    let (masked, digest) = (plain.masked(), plain.digest());
    let outcome = conn.transaction::<_, AppError, _>(|conn| {
        let new = NewApiKey {
            environment_id: home.environment_id,
            name: spec.name.as_str(),
            description: spec.description.as_str(),
            key_type: spec.key_type.as_str(),
            scopes: spec.scopes.to_strings(),
            digest: digest.as_bytes(),
            masked: &masked,
            expires_at: spec.expiry.get(),
            rate_limit_per_minute: spec.rate_limit.map(RateLimit::get),
            created_by: actor.user_id,
        };
        let Some(key) = db::api_keys::insert(conn, &new)? else {
            return Ok(None);
        };
        actor.record(
            conn,
            Some(home.environment_id),
            &target(key.id),
            "api_key.created",
            json!({"name": key.name, "type": key.key_type, "scopes": key.scopes,
                   "expires_at": key.expires_at, "rate_limit_per_minute": key.rate_limit_per_minute}),
        )?;
        // Drops a negative cache entry for this digest, should one exist anywhere.
        db::api_keys::notify_changed(conn, &key.digests())?;
        Ok(Some((key, plain)))
    })?;
    if let Some((key, _)) = &outcome {
        forget(cache, &key.digests());
    }
    Ok(outcome)
}

/// Sets the switch to `enabled` (idempotent). Revoked keys refuse.
pub fn set_enabled(
    conn: &mut PgConnection,
    environment_id: i64,
    id: i64,
    enabled: bool,
    actor: &Actor,
    cache: &KeyCache,
) -> Result<ApiKey, AppError> {
    let outcome = conn.transaction::<_, AppError, _>(|conn| {
        let key = db::api_keys::find(conn, environment_id, id)?.ok_or(AppError::NotFound)?;
        if key.revoked_at.is_some() {
            return Err(Invalid::new("A revoked key stays off for good.").into());
        }
        if key.enabled == enabled {
            return Ok(key);
        }
        let updated = db::api_keys::set_enabled(conn, environment_id, id, enabled)?
            .ok_or(AppError::NotFound)?;
        let action = if enabled {
            "api_key.enabled"
        } else {
            "api_key.disabled"
        };
        actor.record(
            conn,
            Some(environment_id),
            &target(id),
            action,
            json!({"name": key.name}),
        )?;
        db::api_keys::notify_changed(conn, &updated.digests())?;
        Ok(updated)
    })?;
    forget(cache, &outcome.digests());
    Ok(outcome)
}

/// A new secret for the same key. With a grace period the old secret works until it ends.
/// Returns the rotated key and its new plaintext.
pub fn rotate(
    conn: &mut PgConnection,
    home: &KeyHome,
    id: i64,
    grace_until: Option<DateTime<Utc>>,
    actor: &Actor,
    cache: &KeyCache,
) -> Result<(ApiKey, PlainApiKey), AppError> {
    let outcome = conn.transaction::<_, AppError, _>(|conn| {
        let key = db::api_keys::find(conn, home.environment_id, id)?.ok_or(AppError::NotFound)?;
        if key.revoked_at.is_some() {
            return Err(Invalid::new("A revoked key cannot be rotated.").into());
        }
        let plain = PlainApiKey::generate(&home.prefix, key.key_type(), &home.tag)?;
        let digest = plain.digest();
        let rotated =
            db::api_keys::rotate(conn, &key, digest.as_bytes(), &plain.masked(), grace_until)?;
        actor.record(
            conn,
            Some(home.environment_id),
            &target(id),
            "api_key.rotated",
            json!({"name": key.name, "old_masked": key.masked, "new_masked": rotated.masked,
                   "old_valid_until": grace_until}),
        )?;
        let mut changed = key.digests();
        changed.extend(rotated.digests());
        db::api_keys::notify_changed(conn, &changed)?;
        Ok((key, rotated, plain))
    })?;
    let (before, after, plain) = outcome;
    forget(cache, &before.digests());
    forget(cache, &after.digests());
    Ok((after, plain))
}

/// Revokes for good; revoking an already revoked key changes and records nothing.
pub fn revoke(
    conn: &mut PgConnection,
    environment_id: i64,
    id: i64,
    actor: &Actor,
    cache: &KeyCache,
) -> Result<ApiKey, AppError> {
    let outcome = conn.transaction::<_, AppError, _>(|conn| {
        let before = db::api_keys::find(conn, environment_id, id)?.ok_or(AppError::NotFound)?;
        let Some(after) = db::api_keys::revoke(conn, environment_id, id)? else {
            return Ok((before.clone(), before));
        };
        actor.record(
            conn,
            Some(environment_id),
            &target(id),
            "api_key.revoked",
            json!({"name": after.name}),
        )?;
        db::api_keys::notify_changed(conn, &before.digests())?;
        Ok((before, after))
    })?;
    let (before, after) = outcome;
    forget(cache, &before.digests());
    Ok(after)
}

/// Edits name, description, switch, rate limit or expiry. `Ok(None)` when the new name is taken.
pub fn update(
    conn: &mut PgConnection,
    environment_id: i64,
    id: i64,
    changes: KeyChanges,
    actor: &Actor,
    cache: &KeyCache,
) -> Result<Option<ApiKey>, AppError> {
    let outcome = conn.transaction::<_, AppError, _>(|conn| {
        let key = db::api_keys::find(conn, environment_id, id)?.ok_or(AppError::NotFound)?;
        if key.revoked_at.is_some() {
            return Err(Invalid::new("A revoked key cannot be changed.").into());
        }
        let changes = KeyChanges { updated_at: Some(Utc::now()), ..changes };
        let Some(updated) = db::api_keys::update(conn, &key, &changes)? else {
            return Ok(None);
        };
        actor.record(
            conn,
            Some(environment_id),
            &target(id),
            "api_key.updated",
            json!({"name": updated.name, "enabled": updated.enabled, "description": updated.description,
                   "rate_limit_per_minute": updated.rate_limit_per_minute, "expires_at": updated.expires_at}),
        )?;
        db::api_keys::notify_changed(conn, &updated.digests())?;
        Ok(Some(updated))
    })?;
    if let Some(key) = &outcome {
        forget(cache, &key.digests());
    }
    Ok(outcome)
}
