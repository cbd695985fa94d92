//! Usage without write amplification: each verification bumps an in-memory counter; a flusher
//! writes the swapped-out buffer in one batch at most every few seconds, and on shutdown.
//! A failed write merges its counts back, so nothing is lost and nothing is counted twice.

use std::collections::HashMap;
use std::sync::Mutex;

use chrono::{DateTime, DurationRound, TimeDelta, Utc};
use diesel::PgConnection;

use super::Code;
use crate::db::usage::UsageCell;

#[derive(Default, Debug)]
pub struct Pending {
    pub counts: HashMap<UsageCell, i64>,
    pub last_used: HashMap<i64, DateTime<Utc>>,
}

impl Pending {
    pub fn is_empty(&self) -> bool {
        self.counts.is_empty() && self.last_used.is_empty()
    }

    fn merge(&mut self, other: Pending) {
        for (cell, n) in other.counts {
            *self.counts.entry(cell).or_default() += n;
        }
        for (id, t) in other.last_used {
            let e = self.last_used.entry(id).or_insert(t);
            *e = (*e).max(t);
        }
    }
}

#[derive(Default)]
pub struct UsageBuffer {
    pending: Mutex<Pending>,
}

pub fn minute_of(t: DateTime<Utc>) -> DateTime<Utc> {
    t.duration_trunc(TimeDelta::minutes(1)).unwrap_or(t)
}

impl UsageBuffer {
    pub fn record(&self, key_id: i64, code: Code, now: DateTime<Utc>) {
        let Ok(mut pending) = self.pending.lock() else {
            return;
        };
        let cell = UsageCell {
            key_id,
            minute: minute_of(now),
            code: code.as_str(),
        };
        *pending.counts.entry(cell).or_default() += 1;
        if code == Code::Valid {
            let e = pending.last_used.entry(key_id).or_insert(now);
            *e = (*e).max(now);
        }
    }

    fn take(&self) -> Pending {
        self.pending
            .lock()
            .map(|mut p| std::mem::take(&mut *p))
            .unwrap_or_default()
    }

    fn merge_back(&self, counts: Pending) {
        if let Ok(mut pending) = self.pending.lock() {
            pending.merge(counts);
        }
    }

    /// Writes everything buffered so far. Returns how many counters were written.
    pub fn flush(&self, conn: &mut PgConnection) -> anyhow::Result<usize> {
        let batch = self.take();
        if batch.is_empty() {
            return Ok(0);
        }
        let counts: Vec<_> = batch.counts.iter().map(|(c, n)| (c.clone(), *n)).collect();
        let last_used: Vec<_> = batch.last_used.iter().map(|(id, t)| (*id, *t)).collect();
        match crate::db::usage::add(conn, &counts, &last_used) {
            Ok(()) => Ok(counts.len()),
            Err(e) => {
                self.merge_back(batch);
                Err(e.into())
            }
        }
    }

    /// Counts not yet written for one key: (minute, code, count).
    pub fn unflushed(&self, key_id: i64) -> Vec<(DateTime<Utc>, &'static str, i64)> {
        let Ok(pending) = self.pending.lock() else {
            return Vec::new();
        };
        pending
            .counts
            .iter()
            .filter(|(c, _)| c.key_id == key_id)
            .map(|(c, n)| (c.minute, c.code, *n))
            .collect()
    }

    pub fn unflushed_last_used(&self, key_id: i64) -> Option<DateTime<Utc>> {
        self.pending
            .lock()
            .ok()
            .and_then(|p| p.last_used.get(&key_id).copied())
    }
}
