//! Per-key rate limits, per node, in memory: a GCRA limiter (governor) for each key that has a
//! limit, replaced when the key's limit changes. With N nodes the effective limit is up to N×.

use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;

use governor::clock::Clock as _;
use governor::middleware::StateInformationMiddleware;
use governor::nanos::Nanos;
use governor::state::{InMemoryState, NotKeyed};
use governor::{Quota, RateLimiter};

use crate::clock::SharedClock;
use crate::domain::ids::KeyId;

type Limiter = RateLimiter<NotKeyed, InMemoryState, LimiterClock, StateInformationMiddleware>;

/// The app's injectable clock, as governor wants it: nanoseconds since the Unix epoch.
#[derive(Clone)]
struct LimiterClock(SharedClock);

impl governor::clock::Clock for LimiterClock {
    type Instant = Nanos;
    fn now(&self) -> Nanos {
        let nanos = self.0.now().timestamp_nanos_opt().unwrap_or(0);
        Nanos::from(u64::try_from(nanos).unwrap_or(0))
    }
}

/// What the `X-RateLimit-*` and `Retry-After` headers say.
#[derive(Debug, Clone, Copy)]
pub struct RateInfo {
    pub limit: u32,
    pub remaining: u32,
    /// Seconds until the full allowance is back.
    pub reset_secs: u64,
    /// Set when this request was refused.
    pub retry_after_secs: Option<u64>,
}

pub struct RateLimits {
    limiters: moka::sync::Cache<KeyId, Arc<(u32, Limiter)>>,
    clock: LimiterClock,
}

impl RateLimits {
    pub fn new(clock: SharedClock) -> Self {
        Self {
            limiters: moka::sync::Cache::builder()
                .time_to_idle(Duration::from_secs(10 * 60))
                .build(),
            clock: LimiterClock(clock),
        }
    }

    fn limiter(&self, key_id: KeyId, per_minute: NonZeroU32) -> Arc<(u32, Limiter)> {
        let make = || {
            Arc::new((
                per_minute.get(),
                RateLimiter::direct_with_clock(Quota::per_minute(per_minute), self.clock.clone())
                    .with_middleware(),
            ))
        };
        let current = self.limiters.get_with(key_id, make);
        if current.0 == per_minute.get() {
            return current;
        }
        let fresh = make();
        self.limiters.insert(key_id, fresh.clone());
        fresh
    }

    pub fn check(&self, key_id: KeyId, per_minute: u32) -> RateInfo {
        let Some(per_minute) = NonZeroU32::new(per_minute) else {
            return RateInfo {
                limit: 0,
                remaining: 0,
                reset_secs: 60,
                retry_after_secs: Some(60),
            };
        };
        let entry = self.limiter(key_id, per_minute);
        let limit = per_minute.get();
        let per_cell = 60.0 / f64::from(limit);
        match entry.1.check() {
            Ok(snapshot) => {
                let remaining = snapshot.remaining_burst_capacity();
                let used = limit.saturating_sub(remaining);
                RateInfo {
                    limit,
                    remaining,
                    reset_secs: (f64::from(used) * per_cell).ceil() as u64,
                    retry_after_secs: None,
                }
            }
            Err(not_until) => {
                let wait = not_until.wait_time_from(self.clock.now());
                RateInfo {
                    limit,
                    remaining: 0,
                    reset_secs: (f64::from(limit) * per_cell).ceil() as u64,
                    retry_after_secs: Some(wait.as_secs_f64().ceil().max(1.0) as u64),
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_past_the_allowance_and_says_when_to_retry() {
        let limits = RateLimits::new(crate::clock::system());
        for n in (0..3).rev() {
            let info = limits.check(KeyId(1), 3);
            assert_eq!(info.retry_after_secs, None);
            assert_eq!(info.remaining, n);
        }
        let refused = limits.check(KeyId(1), 3);
        assert!(
            refused
                .retry_after_secs
                .is_some_and(|s| (1..=20).contains(&s))
        );
        // Another key has its own allowance; a changed limit gets a fresh limiter.
        assert!(limits.check(KeyId(2), 3).retry_after_secs.is_none());
        assert!(limits.check(KeyId(1), 10).retry_after_secs.is_none());
    }
}
