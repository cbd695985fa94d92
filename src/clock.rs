//! The time, injected: the app reads it through one `Clock`, so tests move it forward instead
//! of sleeping through expiry and rate-limit windows.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

use chrono::{DateTime, TimeDelta, Utc};

pub trait Clock: Send + Sync + 'static {
    fn now(&self) -> DateTime<Utc>;
}

pub type SharedClock = Arc<dyn Clock>;

/// The machine's clock.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }
}

pub fn system() -> SharedClock {
    Arc::new(SystemClock)
}

/// A clock that stands still until told to move (for tests), kept in microseconds so reads
/// stay lock-free on the verify path.
#[derive(Debug)]
pub struct ManualClock {
    micros: AtomicI64,
}

impl ManualClock {
    pub fn starting_at(start: DateTime<Utc>) -> Arc<Self> {
        Arc::new(Self {
            micros: AtomicI64::new(start.timestamp_micros()),
        })
    }

    pub fn advance(&self, by: TimeDelta) {
        let step = by.num_microseconds().unwrap_or(i64::MAX);
        self.micros.fetch_add(step, Ordering::AcqRel);
    }

    pub fn set(&self, to: DateTime<Utc>) {
        self.micros.store(to.timestamp_micros(), Ordering::Release);
    }
}

impl Clock for ManualClock {
    fn now(&self) -> DateTime<Utc> {
        DateTime::from_timestamp_micros(self.micros.load(Ordering::Acquire)).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_manual_clock_moves_only_when_told() {
        let start = Utc::now();
        let clock = ManualClock::starting_at(start);
        assert_eq!(clock.now().timestamp_micros(), start.timestamp_micros());
        clock.advance(TimeDelta::seconds(90));
        assert_eq!(
            clock.now().timestamp_micros(),
            (start + TimeDelta::seconds(90)).timestamp_micros()
        );
    }
}
