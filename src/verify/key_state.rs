use chrono::{DateTime, Utc};

use crate::db::api_keys::ApiKey;
use crate::domain::api_key::{KeyStatus, KeyType, Scope};
use crate::domain::ids::{EnvironmentId, KeyId};

/// What the hot path needs to know about a key, cached by digest.
#[derive(Debug, Clone)]
pub struct KeyState {
    pub key_id: KeyId,
    pub environment_id: EnvironmentId,
    pub name: String,
    pub project: String,
    pub environment: String,
    pub key_type: KeyType,
    pub scopes: Vec<Scope>,
    pub enabled: bool,
    pub revoked: bool,
    pub expires_at: Option<DateTime<Utc>>,
    pub rate_limit: Option<u32>,
    /// Set when this digest is a rotated key's previous secret: it works until then.
    pub valid_until: Option<DateTime<Utc>>,
    /// The row version this was read at: a copy whose version is no longer current is stale.
    pub version: i64,
}

impl KeyState {
    pub fn from_row(
        key: &ApiKey,
        project: String,
        environment: String,
        valid_until: Option<DateTime<Utc>>,
    ) -> Self {
        Self {
            key_id: key.id,
            environment_id: key.environment_id,
            name: key.name.clone(),
            project,
            environment,
            key_type: key.key_type,
            scopes: key.scopes.clone(),
            enabled: key.enabled,
            revoked: key.revoked_at.is_some(),
            expires_at: key.expires_at,
            rate_limit: key
                .rate_limit_per_minute
                .and_then(|n| u32::try_from(n).ok()),
            valid_until,
            version: key.version,
        }
    }

    pub fn has_scope(&self, scope: &str) -> bool {
        self.scopes.iter().any(|s| s.as_str() == scope)
    }

    /// The key's status now, decided where the dashboard's list decides it.
    pub fn status(&self, now: DateTime<Utc>) -> KeyStatus {
        KeyStatus::of(self.revoked, self.expires_at, self.enabled, now)
    }
}
