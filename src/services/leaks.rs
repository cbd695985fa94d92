//! Leak reports (SPEC §12): a reported token that is a live key of this installation is
//! switched off (or revoked) at once, with `api_key.leaked` then `api_key.disabled` (or
//! `api_key.revoked`) and their webhooks, all in one transaction.

use std::collections::HashSet;

use diesel::{Connection, PgConnection};
use serde_json::json;

use super::Change;
use super::keys::{self, record_key_event_with};
use crate::db;
use crate::domain::audit::AuditAction;
use crate::domain::key_format::{KeyDigest, ParsedKey};
use crate::domain::leak::{LeakAction, LeakFeedback, ReportedToken, stored, token_hash};
use crate::error::AppError;

/// Acts on every token of a report and answers GitHub's feedback, one entry per token.
pub fn report(
    conn: &mut PgConnection,
    tokens: &[ReportedToken],
    action: LeakAction,
    change: &Change,
) -> Result<Vec<LeakFeedback>, AppError> {
    let mut handled = HashSet::new();
    let mut feedback = Vec::with_capacity(tokens.len());
    for reported in tokens {
        let ours = match ParsedKey::parse(&reported.token) {
            // A malformed token or a bad checksum is no key of ours: no look-up at all.
            Err(_) => None,
            Ok(_) => db::api_keys::find_by_digest(conn, KeyDigest::of(&reported.token))?,
        };
        if let Some((key, _, _, _)) = &ours
            && handled.insert(key.id)
        {
            leak(conn, key, reported, action, change)?;
        }
        feedback.push(LeakFeedback {
            token_hash: token_hash(&reported.token),
            token_type: reported.token_type.clone(),
            label: if ours.is_some() {
                "true_positive"
            } else {
                "false_positive"
            },
        });
    }
    Ok(feedback)
}

/// Records the leak and switches the key off (or revokes it); a revoked key changes nothing.
fn leak(
    conn: &mut PgConnection,
    key: &db::api_keys::ApiKey,
    reported: &ReportedToken,
    action: LeakAction,
    change: &Change,
) -> Result<(), AppError> {
    let (env, id) = (key.environment_id, key.id);
    let (url, source) = (stored(&reported.url), stored(&reported.source));
    // Only a web address becomes the badge's link (never `javascript:` and the like).
    let link = if url.starts_with("https://") || url.starts_with("http://") {
        url.clone()
    } else {
        String::new()
    };
    conn.transaction(|conn| {
        let Some(locked) = db::api_keys::lock(conn, env, id)? else {
            return Ok(());
        };
        if locked.key.revoked_at.is_some() {
            return Ok(());
        }
        db::leaks::insert(conn, id, &link, &source, change.now)?;
        let mut extra = serde_json::Map::new();
        extra.insert("leak".to_owned(), json!({"url": url, "source": source}));
        record_key_event_with(
            conn,
            change,
            env,
            &locked.key,
            AuditAction::ApiKeyLeaked,
            json!({"name": locked.key.name, "url": url, "source": source,
                   "type": reported.token_type}),
            extra,
        )?;
        tracing::warn!(key_id = %id, action = ?action, "a leak report named a live key");
        match action {
            LeakAction::Disable => keys::set_enabled(conn, env, id, false, change).map(|_| ()),
            LeakAction::Revoke => keys::revoke(conn, env, id, change).map(|_| ()),
        }
    })
}
