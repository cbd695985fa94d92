//! The Activity tab (SPEC §10): an environment's audit events, 50 a page, filtered by action
//! and by key, and exported as CSV with the same filters.

pub mod export;
pub mod list;

use serde::Deserialize;

use crate::db::audit::{AuditEvent, AuditFilter};
use crate::domain::audit::AuditAction;
use crate::domain::ids::{EnvironmentId, KeyId};

pub const PAGE_SIZE: i64 = 50;

/// `?action=&key=&before=&after=`: everything is in the URL, so a view can be bookmarked.
#[derive(Debug, Default, Deserialize)]
pub struct ActivityQuery {
    #[serde(default)]
    pub action: String,
    #[serde(default)]
    pub key: String,
    pub before: Option<i64>,
    pub after: Option<i64>,
}

impl ActivityQuery {
    /// Unknown filter values select nothing rather than fail: a hand-edited URL still works.
    pub fn filter(&self, environment: EnvironmentId) -> AuditFilter {
        AuditFilter {
            environment: Some(environment),
            action: AuditAction::ALL
                .iter()
                .find(|a| a.as_str() == self.action)
                .map(|a| a.as_str().to_owned()),
            key: self.key.parse::<KeyId>().ok(),
        }
    }
}

/// Who did it, in words: a user's email, `API key kw_sk_live_AbCd…wXyZ`, `Leak report`,
/// `Keyward`.
pub fn actor_label(event: &AuditEvent) -> String {
    match event.actor_type.as_str() {
        "user" => event
            .actor_email
            .clone()
            .unwrap_or_else(|| "A user".to_owned()),
        "api_key" => format!(
            "API key {}",
            event.actor_key_masked.as_deref().unwrap_or("(unknown)")
        ),
        "leak_report" => "Leak report".to_owned(),
        _ => "Keyward".to_owned(),
    }
}

/// What it was done to: a key's name and masked form, a user's email, a project's name.
pub fn target_label(event: &AuditEvent) -> String {
    match (&event.target_name, &event.target_masked) {
        (Some(name), Some(masked)) => format!("{name} ({masked})"),
        (Some(name), None) => name.clone(),
        _ => String::new(),
    }
}

/// The event's details as compact `key: value` pairs, for the table and the CSV.
pub fn details_label(event: &AuditEvent) -> String {
    match serde_json::from_str::<serde_json::Value>(&event.details) {
        Ok(serde_json::Value::Object(map)) => map
            .iter()
            .filter(|(_, v)| !v.is_null())
            .map(|(k, v)| match v {
                serde_json::Value::String(s) => format!("{k}: {s}"),
                other => format!("{k}: {other}"),
            })
            .collect::<Vec<_>>()
            .join("; "),
        _ => event.details.clone(),
    }
}

/// `time` as the table and the CSV write it.
pub fn time_label(event: &AuditEvent) -> String {
    event
        .occurred_at
        .format("%Y-%m-%d %H:%M:%S UTC")
        .to_string()
}
