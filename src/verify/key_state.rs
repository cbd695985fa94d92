use std::net::IpAddr;

use chrono::{DateTime, Utc};

use crate::db::api_keys::ApiKey;
use crate::domain::api_key::{KeyStatus, KeyType, Scope};
use crate::domain::ids::{EnvironmentId, KeyId};
use crate::domain::policy::{AllowedIps, AllowedOrigins, Quota};

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
    pub quota: Option<Quota>,
    /// Restrictions, owner and metadata, parsed once here; one pointer when a key has none.
    pub policy: Option<Box<KeyPolicy>>,
    /// Set when this digest is a rotated key's previous secret: it works until then.
    pub valid_until: Option<DateTime<Utc>>,
    /// The row version this was read at: a copy whose version is no longer current is stale.
    pub version: i64,
}

/// The rarer parts of a key's state, parsed from the row when it enters the cache (never per
/// request), kept behind one box so that a key without them costs a null pointer.
#[derive(Debug, Clone, Default)]
pub struct KeyPolicy {
    pub allowed_ips: Option<AllowedIps>,
    pub allowed_origins: Option<AllowedOrigins>,
    pub owner_id: Option<Box<str>>,
    /// The metadata's compact JSON text, ready to be written into a VALID answer.
    pub meta: Option<Box<str>>,
}

impl KeyPolicy {
    fn of(key: &ApiKey) -> Option<Box<Self>> {
        let policy = Self {
            allowed_ips: key.allowed_ips.as_deref().map(AllowedIps::from_stored),
            allowed_origins: key
                .allowed_origins
                .as_deref()
                .map(AllowedOrigins::from_stored),
            owner_id: key.owner_id.as_deref().map(Into::into),
            meta: key.meta.as_ref().map(|m| m.as_json().into()),
        };
        let empty = policy.allowed_ips.is_none()
            && policy.allowed_origins.is_none()
            && policy.owner_id.is_none()
            && policy.meta.is_none();
        (!empty).then(|| Box::new(policy))
    }
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
            quota: Quota::from_stored(key.quota_limit, key.quota_period.as_deref()),
            policy: KeyPolicy::of(key),
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

    /// A key with `allowed_ips` needs an address inside them; a missing one is refused.
    pub fn allows_ip(&self, ip: Option<IpAddr>) -> bool {
        match self.policy.as_ref().and_then(|p| p.allowed_ips.as_ref()) {
            None => true,
            Some(allowed) => ip.is_some_and(|ip| allowed.contains(ip)),
        }
    }

    /// A key with `allowed_origins` needs a matching origin; a missing one is refused.
    pub fn allows_origin(&self, origin: Option<&str>) -> bool {
        match self
            .policy
            .as_ref()
            .and_then(|p| p.allowed_origins.as_ref())
        {
            None => true,
            Some(allowed) => origin.is_some_and(|o| allowed.allows(o)),
        }
    }

    pub fn owner_id(&self) -> Option<&str> {
        self.policy.as_ref().and_then(|p| p.owner_id.as_deref())
    }

    pub fn meta_json(&self) -> Option<&str> {
        self.policy.as_ref().and_then(|p| p.meta.as_deref())
    }
}
