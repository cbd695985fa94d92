//! Each node keeps one dedicated connection (not from the pool) that LISTENs on the key change
//! channel and drops the named cache entries as notices arrive. Diesel's notifications_iter()
//! only reads what already reached the socket, so the thread polls it every millisecond, and
//! pings now and then to notice a dead connection. While not listening, the cache serves
//! nothing (fail closed) and the node reads through to PostgreSQL.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use diesel::connection::SimpleConnection;
use diesel::{Connection, PgConnection};

use super::cache::KeyCache;
use crate::db::api_keys::CHANGE_CHANNEL;

const POLL: Duration = Duration::from_millis(1);
const PING: Duration = Duration::from_millis(250);
const RECONNECT: Duration = Duration::from_millis(500);

pub fn spawn(
    url: String,
    cache: Arc<KeyCache>,
    stop: Arc<AtomicBool>,
) -> std::io::Result<JoinHandle<()>> {
    std::thread::Builder::new()
        .name("keyward-listener".to_owned())
        .spawn(move || {
            while !stop.load(Ordering::Acquire) {
                if let Err(e) = listen(&url, &cache, &stop) {
                    tracing::warn!(error = %e, "key change listener lost its connection; reading through");
                }
                cache.set_listening(false);
                if !stop.load(Ordering::Acquire) {
                    std::thread::sleep(RECONNECT);
                }
            }
        })
}

fn listen(url: &str, cache: &KeyCache, stop: &AtomicBool) -> anyhow::Result<()> {
    let mut conn = PgConnection::establish(url)?;
    conn.batch_execute(&format!("LISTEN {CHANGE_CHANNEL}"))?;
    cache.set_listening(true);
    tracing::debug!("listening for key changes");
    let mut last_ping = Instant::now();
    while !stop.load(Ordering::Acquire) {
        for notice in conn.notifications_iter() {
            cache.invalidate_payload(&notice?.payload);
        }
        if last_ping.elapsed() >= PING {
            conn.batch_execute("SELECT 1")?;
            last_ping = Instant::now();
        }
        std::thread::sleep(POLL);
    }
    Ok(())
}
