//! What every handler shares.

use std::sync::Arc;

use crate::auth::throttle::LoginThrottle;
use crate::clock::SharedClock;
use crate::config::Config;
use crate::db::PgPool;
use crate::metrics::Metrics;
use crate::verify::Verifier;

pub struct AppState {
    pub pool: PgPool,
    pub config: Config,
    /// Failed sign-ins per email (tight) and per client address (looser: offices share one).
    pub email_throttle: LoginThrottle,
    pub ip_throttle: LoginThrottle,
    pub verifier: Arc<Verifier>,
    pub metrics: Arc<Metrics>,
    pub clock: SharedClock,
    /// Signs the session cookie and the sign-in form's CSRF cookie; shared by every node.
    pub cookie_key: actix_web::cookie::Key,
    /// Seals and opens the secrets stored in the database (TOTP seeds, webhook secrets).
    pub secrets: crate::secret_box::SecretBox,
    /// Leak reports per client address (SPEC §12: the endpoint is rate limited).
    pub leak_limiter: LeakLimiter,
}

pub type LeakLimiter = governor::RateLimiter<
    std::net::IpAddr,
    governor::state::keyed::HashMapStateStore<std::net::IpAddr>,
    governor::clock::DefaultClock,
>;

/// Reports per client address and minute: GitHub batches its findings, so this is generous
/// for it and still stops a flood of bad signatures from taking the CPU.
pub const LEAK_REPORTS_PER_MINUTE: u32 = 60;

pub fn leak_limiter() -> LeakLimiter {
    let per_minute =
        std::num::NonZeroU32::new(LEAK_REPORTS_PER_MINUTE).unwrap_or(std::num::NonZeroU32::MIN);
    governor::RateLimiter::hashmap(governor::Quota::per_minute(per_minute))
}

impl AppState {
    /// A change made now by `actor`, updating this node's key cache once it commits.
    pub fn change(&self, actor: crate::db::audit::Actor) -> crate::services::Change {
        crate::services::Change {
            actor,
            now: self.clock.now(),
            cache: self.verifier.cache.clone(),
        }
    }
}
