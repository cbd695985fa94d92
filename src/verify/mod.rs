//! The hot path: is this key good? Format and checksum first (no I/O for garbage), then
//! SHA-256, the in-memory key state, the decision, the rate limiter and the usage counter.
//! In steady state nothing here touches the database.

pub mod cache;
pub mod key_state;
pub mod quota;
pub mod rate_limit;
pub mod usage;

use std::sync::Arc;

use std::collections::HashMap;

use chrono::Utc;
use diesel::PgConnection;

use crate::clock::SharedClock;
use crate::db::{self, PgPool};
use crate::domain::api_key::KeyStatus;
use crate::domain::ids::KeyId;
use crate::domain::key_format::{KeyDigest, ParsedKey};
use crate::error::AppError;
use crate::metrics::Metrics;
use crate::services;
use cache::{KeyCache, Revalidated};
use key_state::KeyState;
use rate_limit::{RateInfo, RateLimits};
use usage::UsageBuffer;

/// SPEC §5's outcome codes (in `ALL`'s order: the discriminant indexes it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Code {
    Valid,
    Malformed,
    NotFound,
    Disabled,
    Expired,
    Revoked,
    WrongEnvironment,
    InsufficientScope,
    RateLimited,
    IpNotAllowed,
    OriginNotAllowed,
    QuotaExceeded,
}

impl Code {
    pub const ALL: [Code; 12] = [
        Code::Valid,
        Code::Malformed,
        Code::NotFound,
        Code::Disabled,
        Code::Expired,
        Code::Revoked,
        Code::WrongEnvironment,
        Code::InsufficientScope,
        Code::RateLimited,
        Code::IpNotAllowed,
        Code::OriginNotAllowed,
        Code::QuotaExceeded,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Valid => "VALID",
            Self::Malformed => "MALFORMED",
            Self::NotFound => "NOT_FOUND",
            Self::Disabled => "DISABLED",
            Self::Expired => "EXPIRED",
            Self::Revoked => "REVOKED",
            Self::WrongEnvironment => "WRONG_ENVIRONMENT",
            Self::InsufficientScope => "INSUFFICIENT_SCOPE",
            Self::RateLimited => "RATE_LIMITED",
            Self::IpNotAllowed => "IP_NOT_ALLOWED",
            Self::OriginNotAllowed => "ORIGIN_NOT_ALLOWED",
            Self::QuotaExceeded => "QUOTA_EXCEEDED",
        }
    }

    pub fn status(self) -> u16 {
        match self {
            Self::Valid => 200,
            Self::InsufficientScope | Self::IpNotAllowed | Self::OriginNotAllowed => 403,
            Self::RateLimited | Self::QuotaExceeded => 429,
            _ => 401,
        }
    }

    pub fn message(self) -> &'static str {
        match self {
            Self::Valid => "The key is valid.",
            Self::Malformed => "Send a well-formed API key in the X-API-Key header.",
            Self::NotFound => "No such API key.",
            Self::Disabled => "This API key is switched off.",
            Self::Expired => "This API key has expired.",
            Self::Revoked => "This API key has been revoked.",
            Self::WrongEnvironment => "This API key belongs to another environment.",
            Self::InsufficientScope => "This API key does not hold the required scope.",
            Self::RateLimited => "This API key is over its rate limit; retry later.",
            Self::IpNotAllowed => "This API key may not be used from this IP address.",
            Self::OriginNotAllowed => "This API key may not be used from this origin.",
            Self::QuotaExceeded => "This API key has used up its quota for the period.",
        }
    }
}

/// Why a key is being checked: verify and forward auth spend quota; a key calling the
/// management API itself is rate limited but spends none (SPEC §11).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    Verify,
    ForwardAuth,
    Management,
}

/// What a caller presented and asked for: the verify body, forward-auth headers, or a
/// management call's own key.
#[derive(Debug, Clone, Copy)]
pub struct Presentation<'a> {
    pub key: Option<&'a str>,
    pub environment: Option<&'a str>,
    pub scope: Option<&'a str>,
    /// The client address that counts for `allowed_ips` (verify: the body's `ip`; forward
    /// auth and management: the request's client address through the trusted-proxy rule).
    pub ip: Option<std::net::IpAddr>,
    /// For `allowed_origins`: the verify body's `origin`, or forward auth's `Origin` header.
    pub origin: Option<&'a str>,
    pub purpose: Purpose,
}

/// The decision for a known key, before its budgets (rate limit, quota): SPEC §11's order of
/// precedence.
pub fn judge(key: &KeyState, presented: &Presentation<'_>, now: chrono::DateTime<Utc>) -> Code {
    if key.valid_until.is_some_and(|t| t <= now) {
        // The old secret of a rotated key, past its grace period: it no longer exists.
        Code::NotFound
    } else if let Some(refusal) = refusal_for(key.status(now)) {
        refusal
    } else if presented
        .environment
        .is_some_and(|e| e != key.environment())
    {
        Code::WrongEnvironment
    } else if !key.allows_ip(presented.ip) {
        Code::IpNotAllowed
    } else if !key.allows_origin(presented.origin) {
        Code::OriginNotAllowed
    } else if presented.scope.is_some_and(|s| !key.has_scope(s)) {
        Code::InsufficientScope
    } else {
        Code::Valid
    }
}

/// The refusal a key's status calls for, if any.
fn refusal_for(status: KeyStatus) -> Option<Code> {
    match status {
        KeyStatus::Revoked => Some(Code::Revoked),
        KeyStatus::Expired => Some(Code::Expired),
        KeyStatus::Off => Some(Code::Disabled),
        KeyStatus::On => None,
    }
}

/// What the verifier decided, with what the response needs to say about it.
pub struct Verdict {
    pub code: Code,
    pub key: Option<Arc<KeyState>>,
    pub rate: Option<RateInfo>,
    /// For a key with a quota: what the `X-Quota-*` headers say.
    pub quota: Option<QuotaInfo>,
}

/// A key's quota as a verify answer reports it (SPEC §11).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QuotaInfo {
    pub limit: i64,
    /// What the cluster had left when this node last reserved, minus what it spent since.
    pub remaining: i64,
    /// Seconds until the period rolls over (day and month quotas).
    pub reset_secs: Option<i64>,
}

impl From<quota::QuotaCheck> for QuotaInfo {
    fn from(q: quota::QuotaCheck) -> Self {
        Self {
            limit: q.limit as i64,
            remaining: q.remaining as i64,
            reset_secs: q.reset_secs.map(|s| s as i64),
        }
    }
}

fn quota_spec(q: crate::domain::policy::Quota) -> quota::QuotaSpec {
    quota::QuotaSpec {
        limit: q.limit().max(0) as u64,
        period: q.period(),
    }
}

pub struct Verifier {
    pub cache: Arc<KeyCache>,
    pub usage: Arc<UsageBuffer>,
    pub limits: Arc<RateLimits>,
    pub quotas: Arc<quota::Quotas>,
    metrics: Arc<Metrics>,
    pool: PgPool,
    clock: SharedClock,
}

impl Verifier {
    pub fn new(pool: PgPool, metrics: Arc<Metrics>, clock: SharedClock) -> anyhow::Result<Self> {
        Ok(Self {
            cache: Arc::new(KeyCache::new()),
            usage: Arc::new(UsageBuffer::default()),
            limits: RateLimits::new(pool.clone(), metrics.clone(), clock.clone()),
            quotas: quota::Quotas::new(pool.clone(), metrics.clone(), clock.clone())?,
            metrics,
            pool,
            clock,
        })
    }

    /// Checks every cached key against its row's current version (one query), dropping stale
    /// copies; with `renew`, current ones start a fresh lifetime. Runs off the request path.
    pub fn revalidate(&self, conn: &mut PgConnection, renew: bool) -> anyhow::Result<Revalidated> {
        let known = self.cache.known();
        let mut ids: Vec<KeyId> = known.iter().map(|(_, state)| state.key_id).collect();
        ids.sort_unstable();
        ids.dedup();
        let current: HashMap<KeyId, i64> =
            db::api_keys::versions(conn, &ids)?.into_iter().collect();
        Ok(self.cache.revalidate(known, &current, renew))
    }

    pub async fn verify(&self, presented: &Presentation<'_>) -> Result<Verdict, AppError> {
        let now = self.clock.now();
        let verdict = self.decide(presented, now).await?;
        self.metrics.count_verification(verdict.code);
        if let Some(key) = &verdict.key {
            self.usage
                .record_from(key.key_id, verdict.code, now, presented.ip);
        }
        Ok(verdict)
    }

    async fn decide(
        &self,
        presented: &Presentation<'_>,
        now: chrono::DateTime<Utc>,
    ) -> Result<Verdict, AppError> {
        let refuse = |code, key| {
            Ok(Verdict {
                code,
                key,
                rate: None,
                quota: None,
            })
        };
        let Some(presented_key) = presented.key else {
            return refuse(Code::Malformed, None);
        };
        if ParsedKey::parse(presented_key).is_err() {
            return refuse(Code::Malformed, None);
        }
        let digest = KeyDigest::of(presented_key);
        let Some(key) = self.lookup(digest).await? else {
            return refuse(Code::NotFound, None);
        };
        let code = judge(&key, presented, now);
        if code == Code::NotFound {
            return refuse(code, None);
        }
        // Management calls are rate limited but spend no quota (SPEC §11).
        let quota_spec = match key.quota {
            Some(q) if presented.purpose != Purpose::Management => Some(quota_spec(q)),
            _ => None,
        };
        if code != Code::Valid {
            return Ok(Verdict {
                code,
                quota: self.quota_unspent(&key, quota_spec).await?,
                key: Some(key),
                rate: None,
            });
        }
        let rate = match key.rate_limit {
            Some(limit) => Some(self.limits.check(key.key_id, limit).await?),
            None => None,
        };
        if rate.is_some_and(|r| r.retry_after_secs.is_some()) {
            return Ok(Verdict {
                code: Code::RateLimited,
                quota: self.quota_unspent(&key, quota_spec).await?,
                key: Some(key),
                rate,
            });
        }
        let quota = match quota_spec {
            Some(spec) => Some(self.quotas.spend(key.key_id, spec).await?),
            None => None,
        };
        let code = if quota.is_some_and(|q| !q.allowed) {
            Code::QuotaExceeded
        } else {
            Code::Valid
        };
        Ok(Verdict {
            code,
            key: Some(key),
            rate,
            quota: quota.map(QuotaInfo::from),
        })
    }

    /// The quota headers of a refusal decided before the quota: nothing is spent.
    async fn quota_unspent(
        &self,
        key: &KeyState,
        spec: Option<quota::QuotaSpec>,
    ) -> Result<Option<QuotaInfo>, AppError> {
        Ok(match spec {
            Some(spec) => Some(self.quotas.peek(key.key_id, spec).await?.into()),
            None => None,
        })
    }

    /// The key state for a digest: from memory, or read through from PostgreSQL on a miss.
    async fn lookup(&self, digest: KeyDigest) -> Result<Option<Arc<KeyState>>, AppError> {
        if let Some(found) = self.cache.get(&digest) {
            self.metrics.cache_hits.inc();
            return Ok(found);
        }
        self.metrics.cache_misses.inc();
        let epoch = self.cache.epoch();
        let row = services::run(&self.pool, move |conn| {
            Ok(db::api_keys::find_by_digest(conn, digest)?)
        })
        .await?;
        let state = row.map(|(key, project, env, valid_until)| {
            let place = self.cache.place(key.environment_id, &project, &env);
            Arc::new(KeyState::from_row(&key, place, valid_until))
        });
        self.cache
            .insert_unless_changed(digest, state.clone(), epoch);
        Ok(state)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_listed_in_discriminant_order() {
        for (i, code) in Code::ALL.iter().enumerate() {
            assert_eq!(*code as usize, i);
        }
    }
}
