//! Reading a key's usage per hour, for the key's page and the management API: what the
//! database holds (hourly roll-ups and the minutes not rolled up yet) plus this node's counts
//! that are still in memory, so a verification shows at once.

use chrono::{DateTime, TimeDelta, Utc};

use crate::db;
use crate::domain::ids::KeyId;
use crate::error::AppError;
use crate::state::AppState;
use crate::verify::Code;

/// Verifications of one key in one hour.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HourCount {
    pub hour: DateTime<Utc>,
    pub valid: i64,
    pub refused: i64,
}

/// `hours` hourly counts ending with the hour of `now` (included), oldest first; every hour is
/// present, zero when nothing happened.
pub async fn hourly(
    state: &AppState,
    key_id: KeyId,
    now: DateTime<Utc>,
    hours: i64,
) -> Result<Vec<HourCount>, AppError> {
    let newest = db::usage::hour_of(now);
    let from = newest - TimeDelta::hours(hours.max(1) - 1);
    let to = newest + TimeDelta::hours(1);
    let stored = super::run(&state.pool, move |conn| {
        Ok(db::usage::hourly(conn, key_id, from, to)?)
    })
    .await?;
    let mut counts: Vec<HourCount> = (0..hours.max(1))
        .map(|i| HourCount {
            hour: from + TimeDelta::hours(i),
            valid: 0,
            refused: 0,
        })
        .collect();
    let mut add = |at: DateTime<Utc>, valid: i64, refused: i64| {
        if at < from || at >= to {
            return;
        }
        let slot = (at - from).num_hours() as usize;
        if let Some(c) = counts.get_mut(slot) {
            c.valid += valid;
            c.refused += refused;
        }
    };
    for (hour, valid, refused) in stored {
        add(hour, valid, refused);
    }
    for (minute, code, n) in state.verifier.usage.unflushed(key_id) {
        if code == Code::Valid.as_str() {
            add(minute, n, 0);
        } else {
            add(minute, 0, n);
        }
    }
    Ok(counts)
}
