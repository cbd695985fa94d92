use std::net::IpAddr;

use chrono::{DateTime, Utc};

use crate::db::api_keys::ApiKey;
use std::sync::Arc;

use crate::domain::api_key::{KeyStatus, KeyType, Scope, ScopeSet};
use crate::domain::ids::{EnvironmentId, KeyId};
use crate::domain::policy::{AllowedIps, AllowedOrigins, Quota};

/// What the hot path needs to know about a key, cached by digest. Kept lean (issue #8: 100 000
/// cached keys within 64 MiB): the slugs are shared per environment, the scopes are a byte.
#[derive(Debug, Clone)]
pub struct KeyState {
    pub key_id: KeyId,
    pub environment_id: EnvironmentId,
    pub name: Box<str>,
    pub place: Arc<Place>,
    pub key_type: KeyType,
    pub scopes: ScopeSet,
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

/// The slugs of a key's project and environment, one copy per environment.
#[derive(Debug)]
pub struct Place {
    project: Box<str>,
    environment: Box<str>,
}

impl Place {
    pub fn new(project: &str, environment: &str) -> Self {
        Self {
            project: project.into(),
            environment: environment.into(),
        }
    }

    pub fn project(&self) -> &str {
        &self.project
    }

    pub fn environment(&self) -> &str {
        &self.environment
    }
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
    pub fn from_row(key: &ApiKey, place: Arc<Place>, valid_until: Option<DateTime<Utc>>) -> Self {
        Self {
            key_id: key.id,
            environment_id: key.environment_id,
            name: key.name.as_str().into(),
            place,
            key_type: key.key_type,
            scopes: key.scopes.iter().copied().collect(),
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
        Scope::ALL
            .iter()
            .any(|s| s.as_str() == scope && self.scopes.contains(*s))
    }

    pub fn project(&self) -> &str {
        self.place.project()
    }

    pub fn environment(&self) -> &str {
        self.place.environment()
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

#[cfg(test)]
mod tests {
    use super::*;

    /// 100 000 cached keys must fit in 64 MiB: the policy parts cost one pointer when unset.
    #[test]
    fn a_key_without_policy_pays_one_pointer_for_it() {
        assert_eq!(std::mem::size_of::<Option<Box<KeyPolicy>>>(), 8);
        let size = std::mem::size_of::<KeyState>();
        println!("KeyState: {size} bytes inline");
        assert!(size <= 192, "KeyState grew to {size} bytes");
    }
}
