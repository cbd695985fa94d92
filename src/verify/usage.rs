//! Usage without write amplification: each verification bumps an in-memory counter; a flusher
//! writes the swapped-out buffer in one batch at most every few seconds, and on shutdown.
//! A failed write merges its counts back, so nothing is lost and nothing is counted twice.
//!
//! The buffer is sharded by thread and keyed by plain integers (unix minute, code): one shared
//! lock and calendar arithmetic per request measurably slowed the hot path, and with shards
//! by thread each worker takes a lock nobody else wants (the flusher, every few seconds).

use std::cell::Cell;
use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use chrono::{DateTime, Utc};
use diesel::PgConnection;

use super::Code;
use crate::db::usage::UsageCell;
use crate::domain::ids::KeyId;

const SHARDS: usize = 16;

#[derive(Default, Debug)]
struct Shard {
    /// (key id, unix minute, code) → count.
    counts: HashMap<(KeyId, i64, Code), i64>,
    /// key id → newest accepted use, in unix microseconds, and the client address the caller
    /// reported with it.
    last_used: HashMap<KeyId, (i64, Option<IpAddr>)>,
}

impl Shard {
    fn is_empty(&self) -> bool {
        self.counts.is_empty() && self.last_used.is_empty()
    }

    fn merge(&mut self, other: Shard) {
        for (cell, n) in other.counts {
            *self.counts.entry(cell).or_default() += n;
        }
        for (id, used) in other.last_used {
            let e = self.last_used.entry(id).or_insert(used);
            if used.0 > e.0 {
                *e = used;
            }
        }
    }
}

pub struct UsageBuffer {
    shards: [Mutex<Shard>; SHARDS],
}

impl Default for UsageBuffer {
    fn default() -> Self {
        Self {
            shards: std::array::from_fn(|_| Mutex::new(Shard::default())),
        }
    }
}

/// The start of the minute `t` falls in.
pub fn minute_of(t: DateTime<Utc>) -> DateTime<Utc> {
    minute_start(t.timestamp().div_euclid(60))
}

fn minute_start(unix_minute: i64) -> DateTime<Utc> {
    DateTime::from_timestamp(unix_minute * 60, 0).unwrap_or_default()
}

/// This thread's shard number, handed out round-robin the first time a thread records.
fn this_threads_shard() -> usize {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    thread_local!(static SHARD: Cell<Option<usize>> = const { Cell::new(None) });
    SHARD.with(|slot| match slot.get() {
        Some(n) => n,
        None => {
            let n = NEXT.fetch_add(1, Ordering::Relaxed) % SHARDS;
            slot.set(Some(n));
            n
        }
    })
}

impl UsageBuffer {
    pub fn record(&self, key_id: KeyId, code: Code, now: DateTime<Utc>) {
        self.record_from(key_id, code, now, None);
    }

    /// Counts one answer; a VALID one also becomes the key's last use, from `ip` (the client
    /// address the caller reported, shown on the key's page), written by the next flush.
    pub fn record_from(&self, key_id: KeyId, code: Code, now: DateTime<Utc>, ip: Option<IpAddr>) {
        let Ok(mut shard) = self.shards[this_threads_shard()].lock() else {
            return;
        };
        *shard
            .counts
            .entry((key_id, now.timestamp().div_euclid(60), code))
            .or_default() += 1;
        if code == Code::Valid {
            let micros = now.timestamp_micros();
            let e = shard.last_used.entry(key_id).or_insert((micros, ip));
            if micros >= e.0 {
                *e = (micros, ip.or(e.1));
            }
        }
    }

    fn take(&self) -> Vec<Shard> {
        self.shards
            .iter()
            .filter_map(|s| s.lock().ok().map(|mut s| std::mem::take(&mut *s)))
            .filter(|s| !s.is_empty())
            .collect()
    }

    /// Writes everything buffered so far. Returns how many counters were written.
    pub fn flush(&self, conn: &mut PgConnection) -> anyhow::Result<usize> {
        let batch = self.take();
        if batch.is_empty() {
            return Ok(0);
        }
        // Several threads may hold the same counter: sum them first, since one INSERT … ON
        // CONFLICT may not touch a row twice.
        let mut combined = Shard::default();
        for shard in batch {
            combined.merge(shard);
        }
        let counts: Vec<(UsageCell, i64)> = combined
            .counts
            .iter()
            .map(|((key_id, minute, code), n)| {
                (
                    UsageCell {
                        key_id: *key_id,
                        minute: minute_start(*minute),
                        code: code.as_str(),
                    },
                    *n,
                )
            })
            .collect();
        let last_used: Vec<(KeyId, DateTime<Utc>, Option<String>)> = combined
            .last_used
            .iter()
            .filter_map(|(id, (micros, ip))| {
                DateTime::from_timestamp_micros(*micros)
                    .map(|t| (*id, t, ip.map(|ip| ip.to_string())))
            })
            .collect();
        match crate::db::usage::add(conn, &counts, &last_used) {
            Ok(()) => Ok(counts.len()),
            Err(e) => {
                if let Ok(mut live) = self.shards[0].lock() {
                    live.merge(combined);
                }
                Err(e.into())
            }
        }
    }

    /// Counts not yet written for one key: (minute, code, count), summed over the shards.
    pub fn unflushed(&self, key_id: KeyId) -> Vec<(DateTime<Utc>, &'static str, i64)> {
        let mut totals: HashMap<(i64, Code), i64> = HashMap::new();
        for shard in self.shards.iter().filter_map(|s| s.lock().ok()) {
            for ((id, minute, code), n) in &shard.counts {
                if *id == key_id {
                    *totals.entry((*minute, *code)).or_default() += n;
                }
            }
        }
        totals
            .into_iter()
            .map(|((minute, code), n)| (minute_start(minute), code.as_str(), n))
            .collect()
    }

    pub fn unflushed_last_used(&self, key_id: KeyId) -> Option<DateTime<Utc>> {
        self.shards
            .iter()
            .filter_map(|s| {
                s.lock()
                    .ok()
                    .and_then(|s| s.last_used.get(&key_id).map(|(t, _)| *t))
            })
            .max()
            .and_then(DateTime::from_timestamp_micros)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_by_key_minute_and_code() {
        let buffer = UsageBuffer::default();
        let t = DateTime::from_timestamp(1_800_000_030, 0).unwrap_or_default();
        for _ in 0..3 {
            buffer.record(KeyId(7), Code::Valid, t);
        }
        buffer.record(KeyId(7), Code::Disabled, t);
        buffer.record(KeyId(23), Code::Valid, t);
        std::thread::scope(|scope| {
            scope.spawn(|| buffer.record(KeyId(7), Code::Valid, t));
        });
        let mut seven = buffer.unflushed(KeyId(7));
        assert_eq!(
            buffer
                .shards
                .iter()
                .filter(|s| s.lock().is_ok_and(|s| !s.is_empty()))
                .count(),
            2
        );
        seven.sort();
        assert_eq!(
            seven,
            vec![(minute_of(t), "DISABLED", 1), (minute_of(t), "VALID", 4)]
        );
        assert_eq!(minute_of(t).timestamp() % 60, 0);
        assert_eq!(buffer.unflushed_last_used(KeyId(7)), Some(t));
        assert_eq!(buffer.unflushed(KeyId(23)).len(), 1);
    }
}
