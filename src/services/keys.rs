//! Every change to a key, shared by the dashboard and the management API. Each one locks the
//! key's row (`FOR UPDATE`), so concurrent changes queue up instead of acting on a stale read,
//! and writes its audit event and its change notice in the same transaction: other nodes hear
//! of it only on commit, and the notice names every digest the locked row held before and after.

use chrono::TimeDelta;
use diesel::{Connection, PgConnection};
use serde_json::json;

use super::Change;
use crate::db::{
    self,
    api_keys::{ApiKey, KeyChanges, LockedKey, NewApiKey},
    projects::Environment,
};
use crate::domain::api_key::{ApiKeyName, Expiry, KeyDescription, KeyType, RateLimit, Scopes};
use crate::domain::audit::{AuditAction, AuditTarget};
use crate::domain::ids::{EnvironmentId, KeyId};
use crate::domain::key_format::{KeyDigest, KeyPrefix, KeyTag, PlainApiKey};
use crate::domain::policy::{AllowedIps, AllowedOrigins, KeyMeta, OwnerId, Quota};
use crate::domain::{FieldErrors, Invalid};
use crate::error::AppError;

/// A new key's settings, each already parsed.
pub struct KeySpec {
    pub name: ApiKeyName,
    pub description: KeyDescription,
    pub key_type: KeyType,
    pub scopes: Scopes,
    pub expiry: Expiry,
    pub rate_limit: Option<RateLimit>,
    pub policy: PolicySpec,
}

/// The fields of a new key, as the parser names them; each edge (the Add panel, the JSON API)
/// maps them to its own field names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyField {
    Name,
    Description,
    Type,
    Scopes,
    Expiry,
    RateLimit,
    AllowedIps,
    AllowedOrigins,
    Quota,
    Owner,
    Meta,
}

/// A key's restrictions, quota, owner and metadata as typed (SPEC §11), each already run
/// through its parser by the edge that read it (textarea lines, JSON lists). A field left at
/// `None` was not given: a new key goes without, an edit keeps what the key has.
#[derive(Default)]
pub struct PolicyDraft {
    pub allowed_ips: Option<Result<Option<AllowedIps>, Invalid>>,
    pub allowed_origins: Option<Result<Option<AllowedOrigins>, Invalid>>,
    pub quota: Option<Result<Option<Quota>, Invalid>>,
    pub owner_id: Option<Result<Option<OwnerId>, Invalid>>,
    pub meta: Option<Result<Option<KeyMeta>, Invalid>>,
}

/// The parsed policy fields: `None` keeps (or, for a new key, leaves unset), `Some(None)` clears.
#[derive(Debug, Default, Clone)]
pub struct PolicySpec {
    pub allowed_ips: Option<Option<AllowedIps>>,
    pub allowed_origins: Option<Option<AllowedOrigins>>,
    pub quota: Option<Option<Quota>>,
    pub owner_id: Option<Option<OwnerId>>,
    pub meta: Option<Option<KeyMeta>>,
}

pub const ORIGINS_ON_SECRET: &str = "Allowed origins are for publishable keys, which run in \
     browsers; a secret key is used from servers, so restrict it with Allowed IPs.";

impl PolicyDraft {
    /// The one parser of the policy fields, for a key of `key_type` (a key's type never
    /// changes, so an edit checks against the stored one).
    pub fn parse(self, key_type: KeyType, errors: &mut FieldErrors<KeyField>) -> PolicySpec {
        fn take<T>(
            errors: &mut FieldErrors<KeyField>,
            field: KeyField,
            given: Option<Result<T, Invalid>>,
        ) -> Option<T> {
            given.and_then(|parsed| errors.check(field, parsed))
        }
        let allowed_ips = take(errors, KeyField::AllowedIps, self.allowed_ips);
        let quota = take(errors, KeyField::Quota, self.quota);
        let owner_id = take(errors, KeyField::Owner, self.owner_id);
        let meta = take(errors, KeyField::Meta, self.meta);
        let allowed_origins = take(errors, KeyField::AllowedOrigins, self.allowed_origins);
        let allowed_origins = match allowed_origins {
            Some(Some(_)) if key_type == KeyType::Secret => {
                errors.add(KeyField::AllowedOrigins, ORIGINS_ON_SECRET);
                None
            }
            other => other,
        };
        PolicySpec {
            allowed_ips,
            allowed_origins,
            quota,
            owner_id,
            meta,
        }
    }
}

impl PolicySpec {
    /// The columns an update sets.
    pub fn apply(self, changes: &mut KeyChanges) {
        changes.allowed_ips = self.allowed_ips.map(|v| v.map(|ips| ips.to_strings()));
        changes.allowed_origins = self
            .allowed_origins
            .map(|v| v.map(|origins| origins.to_strings()));
        changes.quota_limit = self.quota.map(|q| q.map(Quota::limit));
        changes.quota_period = self
            .quota
            .map(|q| q.map(|q| q.period().as_str().to_owned()));
        changes.owner_id = self.owner_id.map(|o| o.map(OwnerId::into_string));
        changes.meta = self.meta;
    }
}

/// A new key as typed, before parsing. The Add panel and the API fill one each; expiry and
/// rate limit arrive already parsed because each edge says them its own way.
pub struct KeyDraft<'a> {
    pub name: &'a str,
    pub description: &'a str,
    pub key_type: &'a str,
    pub scopes: &'a [&'a str],
    pub expiry: Result<Expiry, Invalid>,
    pub rate_limit: Result<Option<RateLimit>, Invalid>,
    pub policy: PolicyDraft,
}

impl KeySpec {
    /// The one parser of a new key's settings: every field's problem, or the spec.
    pub fn parse(draft: KeyDraft<'_>) -> Result<Self, FieldErrors<KeyField>> {
        let mut errors = FieldErrors::default();
        let name = errors.check(KeyField::Name, ApiKeyName::parse(draft.name));
        let description = errors.check(
            KeyField::Description,
            KeyDescription::parse(draft.description),
        );
        let key_type = errors.check(KeyField::Type, KeyType::parse(draft.key_type));
        let scopes = key_type
            .and_then(|t| errors.check(KeyField::Scopes, Scopes::parse_strs(draft.scopes, t)));
        let expiry = errors.check(KeyField::Expiry, draft.expiry);
        let rate_limit = errors.check(KeyField::RateLimit, draft.rate_limit);
        // An unreadable type already has its message; the policy is checked as for a secret
        // key then, which refuses nothing a publishable key would allow but origins.
        let policy = draft
            .policy
            .parse(key_type.unwrap_or(KeyType::Publishable), &mut errors);
        match (name, description, key_type, scopes, expiry, rate_limit) {
            (
                Some(name),
                Some(description),
                Some(key_type),
                Some(scopes),
                Some(expiry),
                Some(rate_limit),
            ) if errors.is_empty() => Ok(Self {
                name,
                description,
                key_type,
                scopes,
                expiry,
                rate_limit,
                policy,
            }),
            _ => Err(errors),
        }
    }
}

/// Where a key lives and how new secrets there look.
pub struct KeyHome {
    pub environment_id: EnvironmentId,
    pub tag: KeyTag,
    pub prefix: KeyPrefix,
}

impl KeyHome {
    pub fn of(env: &Environment, prefix: &KeyPrefix) -> Result<Self, AppError> {
        Ok(Self {
            environment_id: env.id,
            tag: KeyTag::parse(&env.key_tag)?,
            prefix: prefix.clone(),
        })
    }
}

/// A key of this environment that is not revoked (what a confirmation asks about).
pub fn find_live(
    conn: &mut PgConnection,
    environment_id: EnvironmentId,
    id: KeyId,
) -> Result<ApiKey, AppError> {
    db::api_keys::find(conn, environment_id, id)?
        .filter(|k| k.revoked_at.is_none())
        .ok_or(AppError::NotFound)
}

pub const DUPLICATE_NAME: &str = "An active key with this name already exists in this environment.";

/// SPEC §6: a key keeps at most this many earlier secrets, each until its own grace ends.
pub const MAX_PREVIOUS_SECRETS: i64 = 3;

/// Names `digests` to every node, inside the transaction (so only on commit).
fn announce(conn: &mut PgConnection, digests: &[KeyDigest]) -> Result<(), AppError> {
    Ok(db::api_keys::notify_changed(conn, digests)?)
}

/// The changing node drops its own cached state at once (after commit, before it answers);
/// other nodes hear the NOTIFY sent inside the transaction.
fn forget(change: &Change, digests: &[KeyDigest]) {
    change.cache.invalidate(digests.iter().copied());
}

/// A key as the audit trail records it.
fn key_target(key: &ApiKey) -> AuditTarget<'_> {
    AuditTarget::ApiKey {
        id: key.id,
        name: &key.name,
        masked: &key.masked,
    }
}

/// Refuses a change to a revoked key. The locked row is the truth, so this node also drops
/// whatever it still holds for the key's digests instead of waiting for the revocation's notice.
fn refuse_revoked(change: &Change, locked: &LockedKey, message: &'static str) -> AppError {
    forget(change, &locked.digests());
    AppError::Conflict(message)
}

/// Writes a key's audit event and, in the same transaction, its webhook deliveries (the
/// outbox): every path that changes a key (dashboard, API, bulk, leak report) comes here.
pub(crate) fn record_key_event(
    conn: &mut PgConnection,
    change: &Change,
    environment_id: EnvironmentId,
    key: &ApiKey,
    action: AuditAction,
    details: serde_json::Value,
) -> Result<(), AppError> {
    record_key_event_with(
        conn,
        change,
        environment_id,
        key,
        action,
        details,
        serde_json::Map::new(),
    )
}

/// `record_key_event` whose webhook carries `extra` fields beside `data.key`.
pub(crate) fn record_key_event_with(
    conn: &mut PgConnection,
    change: &Change,
    environment_id: EnvironmentId,
    key: &ApiKey,
    action: AuditAction,
    details: serde_json::Value,
    extra: serde_json::Map<String, serde_json::Value>,
) -> Result<(), AppError> {
    change
        .actor
        .record(conn, Some(environment_id), key_target(key), action, details)?;
    super::webhooks::announce_key_event(conn, environment_id, action, key, change.now, extra)
}

fn lock(
    conn: &mut PgConnection,
    environment_id: EnvironmentId,
    id: KeyId,
) -> Result<LockedKey, AppError> {
    db::api_keys::lock(conn, environment_id, id)?.ok_or(AppError::NotFound)
}

/// `Ok(None)` when the name is taken by a live key of the environment.
#[tracing::instrument(skip_all, fields(environment_id = %home.environment_id))]
pub fn create(
    conn: &mut PgConnection,
    home: &KeyHome,
    spec: &KeySpec,
    change: &Change,
) -> Result<Option<(ApiKey, PlainApiKey)>, AppError> {
    let plain = PlainApiKey::generate(&home.prefix, spec.key_type, &home.tag)?;
    let (masked, digest) = (plain.masked(), plain.digest());
    let ips = spec
        .policy
        .allowed_ips
        .as_ref()
        .and_then(Option::as_ref)
        .map(AllowedIps::to_strings);
    let origins = spec
        .policy
        .allowed_origins
        .as_ref()
        .and_then(Option::as_ref)
        .map(AllowedOrigins::to_strings);
    let quota = spec.policy.quota.flatten();
    let outcome = conn.transaction::<_, AppError, _>(|conn| {
        let new = NewApiKey {
            environment_id: home.environment_id,
            name: spec.name.as_str(),
            description: spec.description.as_str(),
            key_type: spec.key_type,
            scopes: spec.scopes.as_slice(),
            digest,
            masked: &masked,
            expires_at: spec.expiry.get(),
            rate_limit_per_minute: spec.rate_limit.map(RateLimit::get),
            created_by: change.actor.user_id,
            allowed_ips: ips.as_deref(),
            allowed_origins: origins.as_deref(),
            quota_limit: quota.map(Quota::limit),
            quota_period: quota.map(|q| q.period().as_str()),
            owner_id: spec
                .policy
                .owner_id
                .as_ref()
                .and_then(Option::as_ref)
                .map(OwnerId::as_str),
            meta: spec.policy.meta.as_ref().and_then(Option::as_ref),
        };
        let Some(key) = db::api_keys::insert(conn, &new)? else {
            return Ok(None);
        };
        super::expiry::arm(conn, key.id, key.expires_at, change.now)?;
        record_key_event(
            conn,
            change,
            home.environment_id,
            &key,
            AuditAction::ApiKeyCreated,
            json!({"name": key.name, "type": key.key_type, "scopes": key.scopes,
                   "expires_at": key.expires_at, "rate_limit_per_minute": key.rate_limit_per_minute,
                   "allowed_ips": key.allowed_ips, "allowed_origins": key.allowed_origins,
                   "quota_limit": key.quota_limit, "quota_period": key.quota_period,
                   "owner_id": key.owner_id}),
        )?;
        // Drops a negative cache entry for this digest, should one exist anywhere.
        announce(conn, std::slice::from_ref(&key.digest))?;
        Ok(Some((key, plain)))
    })?;
    if let Some((key, _)) = &outcome {
        forget(change, std::slice::from_ref(&key.digest));
    }
    Ok(outcome)
}

/// Sets the switch to `enabled` (idempotent). Revoked keys refuse.
#[tracing::instrument(skip_all, fields(key_id = %id, enabled = enabled))]
pub fn set_enabled(
    conn: &mut PgConnection,
    environment_id: EnvironmentId,
    id: KeyId,
    enabled: bool,
    change: &Change,
) -> Result<ApiKey, AppError> {
    let (locked, updated) = conn.transaction::<_, AppError, _>(|conn| {
        let locked = lock(conn, environment_id, id)?;
        if locked.key.revoked_at.is_some() {
            return Err(refuse_revoked(
                change,
                &locked,
                "A revoked key stays off for good.",
            ));
        }
        if locked.key.enabled == enabled {
            let key = locked.key.clone();
            return Ok((locked, key));
        }
        let updated = db::api_keys::set_enabled(conn, id, enabled, change.now)?;
        record_key_event(
            conn,
            change,
            environment_id,
            &updated,
            AuditAction::switched(enabled),
            json!({"name": updated.name}),
        )?;
        announce(conn, &locked.digests())?;
        Ok((locked, updated))
    })?;
    forget(change, &locked.digests());
    Ok(updated)
}

/// A new secret for the same key. With a grace period the current secret keeps working until it
/// ends (at most `MAX_PREVIOUS_SECRETS` earlier secrets are kept); without one every earlier
/// secret ends now. Returns the rotated key and its new plaintext.
#[tracing::instrument(skip_all, fields(key_id = %id))]
pub fn rotate(
    conn: &mut PgConnection,
    home: &KeyHome,
    id: KeyId,
    grace: Option<TimeDelta>,
    change: &Change,
) -> Result<(ApiKey, PlainApiKey), AppError> {
    let grace_until = grace
        .filter(|g| *g > TimeDelta::zero())
        .map(|g| change.now + g);
    let (before, after, plain) = conn.transaction::<_, AppError, _>(|conn| {
        let before = lock(conn, home.environment_id, id)?;
        if before.key.revoked_at.is_some() {
            return Err(refuse_revoked(
                change,
                &before,
                "A revoked key cannot be rotated.",
            ));
        }
        let plain = PlainApiKey::generate(&home.prefix, before.key.key_type, &home.tag)?;
        match grace_until {
            Some(until) => db::api_keys::keep_previous(
                conn,
                id,
                before.key.digest,
                until,
                MAX_PREVIOUS_SECRETS,
                change.now,
            )?,
            None => db::api_keys::drop_previous(conn, id)?,
        }
        let rotated =
            db::api_keys::replace_secret(conn, id, plain.digest(), &plain.masked(), change.now)?;
        let after = LockedKey {
            previous: db::api_keys::previous_secrets(conn, id)?,
            key: rotated,
        };
        record_key_event(
            conn,
            change,
            home.environment_id,
            &after.key,
            AuditAction::ApiKeyRotated,
            json!({"name": after.key.name, "old_masked": before.key.masked,
                   "new_masked": after.key.masked, "old_valid_until": grace_until}),
        )?;
        announce(conn, &changed_digests(&before, &after))?;
        Ok((before, after, plain))
    })?;
    forget(change, &changed_digests(&before, &after));
    Ok((after.key, plain))
}

/// Every digest the key held before or after a change.
fn changed_digests(before: &LockedKey, after: &LockedKey) -> Vec<KeyDigest> {
    let mut digests = before.digests();
    for digest in after.digests() {
        if !digests.contains(&digest) {
            digests.push(digest);
        }
    }
    digests
}

/// Revokes for good, ending every earlier secret too; revoking an already revoked key changes
/// and records nothing.
#[tracing::instrument(skip_all, fields(key_id = %id))]
pub fn revoke(
    conn: &mut PgConnection,
    environment_id: EnvironmentId,
    id: KeyId,
    change: &Change,
) -> Result<ApiKey, AppError> {
    let (before, after) = conn.transaction::<_, AppError, _>(|conn| {
        let before = lock(conn, environment_id, id)?;
        if before.key.revoked_at.is_some() {
            let unchanged = before.key.clone();
            return Ok((before, unchanged));
        }
        let after = db::api_keys::revoke(conn, id, change.now)?;
        record_key_event(
            conn,
            change,
            environment_id,
            &after,
            AuditAction::ApiKeyRevoked,
            json!({"name": after.name}),
        )?;
        announce(conn, &before.digests())?;
        Ok((before, after))
    })?;
    forget(change, &before.digests());
    Ok(after)
}

/// Edits name, description, switch, rate limit or expiry. `Ok(None)` when the new name is taken.
/// A change of the switch records `api_key.enabled`/`api_key.disabled`; any other change
/// `api_key.updated`.
#[tracing::instrument(skip_all, fields(key_id = %id))]
pub fn update(
    conn: &mut PgConnection,
    environment_id: EnvironmentId,
    id: KeyId,
    changes: KeyChanges,
    change: &Change,
) -> Result<Option<ApiKey>, AppError> {
    let outcome = conn.transaction::<_, AppError, _>(|conn| {
        let before = lock(conn, environment_id, id)?;
        if before.key.revoked_at.is_some() {
            return Err(refuse_revoked(
                change,
                &before,
                "A revoked key cannot be changed.",
            ));
        }
        let changes = KeyChanges {
            updated_at: Some(change.now),
            ..changes
        };
        let Some(updated) = db::api_keys::update(conn, id, &changes)? else {
            return Ok(None);
        };
        if updated.expires_at != before.key.expires_at {
            super::expiry::arm(conn, id, updated.expires_at, change.now)?;
        }
        let switched = updated.enabled != before.key.enabled;
        let edited = updated.name != before.key.name
            || updated.description != before.key.description
            || updated.rate_limit_per_minute != before.key.rate_limit_per_minute
            || updated.expires_at != before.key.expires_at
            || updated.allowed_ips != before.key.allowed_ips
            || updated.allowed_origins != before.key.allowed_origins
            || updated.quota_limit != before.key.quota_limit
            || updated.quota_period != before.key.quota_period
            || updated.owner_id != before.key.owner_id
            || updated.meta != before.key.meta;
        if switched {
            record_key_event(
                conn,
                change,
                environment_id,
                &updated,
                AuditAction::switched(updated.enabled),
                json!({"name": updated.name}),
            )?;
        }
        if edited || !switched {
            record_key_event(
                conn,
                change,
                environment_id,
                &updated,
                AuditAction::ApiKeyUpdated,
                json!({"name": updated.name, "description": updated.description,
                       "rate_limit_per_minute": updated.rate_limit_per_minute,
                       "expires_at": updated.expires_at,
                       "allowed_ips": updated.allowed_ips,
                       "allowed_origins": updated.allowed_origins,
                       "quota_limit": updated.quota_limit, "quota_period": updated.quota_period,
                       "owner_id": updated.owner_id}),
            )?;
        }
        announce(conn, &before.digests())?;
        Ok(Some((before, updated)))
    })?;
    Ok(outcome.map(|(before, updated)| {
        forget(change, &before.digests());
        updated
    }))
}

/// An edit of a key as typed (the key page's Edit form). Expiry arrives parsed because the
/// form says it its own way; `None` keeps the key's expiry as it is.
pub struct EditDraft<'a> {
    pub name: &'a str,
    pub description: &'a str,
    pub expiry: Option<Result<Expiry, Invalid>>,
    pub rate_limit: Result<Option<RateLimit>, Invalid>,
    /// The edited key's type: origins are for publishable keys only.
    pub key_type: KeyType,
    pub policy: PolicyDraft,
}

impl EditDraft<'_> {
    /// The same parsers, and so the same messages, as a new key's (`KeySpec::parse`): every
    /// field's problem, or the changes for `update`.
    pub fn parse(self) -> Result<KeyChanges, FieldErrors<KeyField>> {
        let mut errors = FieldErrors::default();
        let name = errors.check(KeyField::Name, ApiKeyName::parse(self.name));
        let description = errors.check(
            KeyField::Description,
            KeyDescription::parse(self.description),
        );
        let expiry = self
            .expiry
            .map(|e| errors.check(KeyField::Expiry, e).map(Expiry::get));
        let rate_limit = errors.check(KeyField::RateLimit, self.rate_limit);
        let policy = self.policy.parse(self.key_type, &mut errors);
        match (name, description, expiry, rate_limit) {
            // `expiry`: None keeps it; Some(None) was refused (and is in `errors`).
            (Some(name), Some(description), expiry, Some(rate_limit)) if errors.is_empty() => {
                let mut changes = KeyChanges {
                    name: Some(name.as_str().to_owned()),
                    description: Some(description.as_str().to_owned()),
                    rate_limit_per_minute: Some(rate_limit.map(RateLimit::get)),
                    expires_at: expiry.flatten(),
                    ..KeyChanges::default()
                };
                policy.apply(&mut changes);
                Ok(changes)
            }
            _ => Err(errors),
        }
    }
}
