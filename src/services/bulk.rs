//! Bulk actions on the API Keys tab (SPEC §9): switch many keys off or on, or revoke them, in
//! one transaction. The rows are locked (`FOR UPDATE`, in id order) like a single key's change;
//! each key changed gets its own audit event and its own change notice, written in batches
//! (one UPDATE, one multi-row INSERT, one statement of NOTIFYs), so 500 keys cost a handful
//! of round trips, not 500 of them.

use chrono::{DateTime, TimeDelta, Utc};
use diesel::{Connection, PgConnection};
use serde_json::json;

use super::Change;
use crate::db::{self, api_keys::ApiKey};
use crate::domain::audit::{AuditAction, AuditTarget};
use crate::domain::bulk::{BulkAction, KeySelection};
use crate::domain::ids::{EnvironmentId, KeyId};
use crate::domain::key_format::KeyDigest;
use crate::error::AppError;
use crate::state::AppState;
use crate::verify::Code;

/// What a bulk action did, key by key.
#[derive(Debug)]
pub struct BulkOutcome {
    pub action: BulkAction,
    /// The keys changed, as they are now.
    pub changed: Vec<ApiKey>,
    /// Already off (or on): left as they were, nothing recorded.
    pub unchanged: usize,
    /// Revoked before: they stay as they are.
    pub revoked: usize,
    /// Ids that name no key of this environment: ignored.
    pub not_found: usize,
}

/// Applies `action` to every selected key of this environment that it would change.
#[tracing::instrument(skip_all, fields(environment_id = %environment_id, action = action.as_str(), keys = selection.len()))]
pub fn apply(
    conn: &mut PgConnection,
    environment_id: EnvironmentId,
    selection: &KeySelection,
    action: BulkAction,
    change: &Change,
) -> Result<BulkOutcome, AppError> {
    let (outcome, digests) = conn.transaction::<_, AppError, _>(|conn| {
        let locked = db::api_keys::lock_many(conn, environment_id, selection.ids())?;
        let (mut unchanged, mut revoked) = (0, 0);
        // Every digest a node may hold for a locked key: revoked ones included, as a single
        // key's refused change also drops them (the locked row is the truth).
        let mut digests: Vec<KeyDigest> = Vec::new();
        let mut targets = Vec::new();
        for key in &locked {
            digests.extend(key.digests());
            if key.key.revoked_at.is_some() {
                revoked += 1;
            } else if action.enabled() == Some(key.key.enabled) {
                unchanged += 1;
            } else {
                targets.push(key);
            }
        }
        let ids: Vec<KeyId> = targets.iter().map(|k| k.key.id).collect();
        let mut changed = if ids.is_empty() {
            Vec::new()
        } else {
            match action.enabled() {
                Some(enabled) => db::api_keys::set_enabled_many(conn, &ids, enabled, change.now)?,
                None => db::api_keys::revoke_many(conn, &ids, change.now)?,
            }
        };
        changed.sort_by_key(|k| k.id);
        let audit_action = match action.enabled() {
            Some(enabled) => AuditAction::switched(enabled),
            None => AuditAction::ApiKeyRevoked,
        };
        let events: Vec<(AuditTarget<'_>, serde_json::Value)> = changed
            .iter()
            .map(|key| {
                (
                    AuditTarget::ApiKey {
                        id: key.id,
                        name: &key.name,
                        masked: &key.masked,
                    },
                    json!({"name": key.name, "bulk": true}),
                )
            })
            .collect();
        change
            .actor
            .record_each(conn, Some(environment_id), audit_action, &events)?;
        // The outbox, in the same transaction: each key's event to every subscribed endpoint.
        super::webhooks::announce_key_events(
            conn,
            environment_id,
            audit_action,
            &changed,
            change.now,
        )?;
        let notices: Vec<Vec<KeyDigest>> = targets.iter().map(|k| k.digests()).collect();
        db::api_keys::notify_each_changed(conn, &notices)?;
        Ok((
            BulkOutcome {
                action,
                changed,
                unchanged,
                revoked,
                not_found: selection.len() - locked.len(),
            },
            digests,
        ))
    })?;
    // This node forgets at once; the others on the notices sent with the commit.
    change.cache.invalidate(digests);
    Ok(outcome)
}

/// How far back a revocation's confirmation looks for use (SPEC §9).
pub const RECENT_USE: TimeDelta = TimeDelta::days(7);

/// A key a revocation would end, and how many valid verifications it answered lately.
#[derive(Debug)]
pub struct RevokeCandidate {
    pub key: ApiKey,
    /// Valid verifications within [`RECENT_USE`]; 0 when unused.
    pub recent_valid: i64,
}

/// What a bulk revocation would do, for the person to confirm.
#[derive(Debug)]
pub struct RevokePreview {
    /// Newest first, as the list shows them.
    pub keys: Vec<RevokeCandidate>,
    pub revoked: usize,
    pub not_found: usize,
}

/// The selected keys of this environment a revocation would end, each with its valid
/// verifications of the last 7 days: stored counts plus this node's not yet written.
pub async fn revoke_preview(
    state: &AppState,
    environment_id: EnvironmentId,
    selection: KeySelection,
    now: DateTime<Utc>,
) -> Result<RevokePreview, AppError> {
    let since = now - RECENT_USE;
    let ids = selection.ids().to_vec();
    let (keys, used) = super::run(&state.pool, move |conn| {
        let keys = db::api_keys::find_many(conn, environment_id, &ids)?;
        let live: Vec<KeyId> = keys
            .iter()
            .filter(|k| k.revoked_at.is_none())
            .map(|k| k.id)
            .collect();
        let used = db::usage::valid_since(conn, &live, since)?;
        Ok((keys, used))
    })
    .await?;
    let found = keys.len();
    let (live, revoked): (Vec<ApiKey>, Vec<ApiKey>) =
        keys.into_iter().partition(|k| k.revoked_at.is_none());
    let keys = live
        .into_iter()
        .map(|key| {
            let stored = used
                .iter()
                .find(|(id, _)| *id == key.id)
                .map_or(0, |(_, n)| *n);
            let unflushed: i64 = state
                .verifier
                .usage
                .unflushed(key.id)
                .into_iter()
                .filter(|(minute, code, _)| *code == Code::Valid.as_str() && *minute >= since)
                .map(|(_, _, n)| n)
                .sum();
            RevokeCandidate {
                recent_valid: stored + unflushed,
                key,
            }
        })
        .collect();
    Ok(RevokePreview {
        keys,
        revoked: revoked.len(),
        not_found: selection.len() - found,
    })
}
