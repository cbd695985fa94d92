//! Each node keeps one dedicated connection (not from the pool) that LISTENs on the key change
//! channel and drops the named cache entries as notices arrive. It is an async client that
//! sleeps on its socket, so a notice is handled the moment it lands. While not listening the
//! cache serves nothing (fail closed) and the node reads through to PostgreSQL; before it
//! trusts memory again it checks every cached entry's row version (a notice may have been lost
//! in the gap).

use std::pin::pin;
use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt;
use tokio::sync::watch;
use tokio_postgres::{AsyncMessage, NoTls};

use crate::db::PgPool;
use crate::db::api_keys::CHANGE_CHANNEL;
use crate::metrics::Metrics;
use crate::verify::Verifier;

/// A silent network failure shows up as an unanswered ping within this long.
const PING_EVERY: Duration = Duration::from_secs(2);
const PING_TIMEOUT: Duration = Duration::from_secs(5);
const RECONNECT_AFTER: Duration = Duration::from_millis(500);

pub async fn run(
    url: String,
    pool: PgPool,
    verifier: Arc<Verifier>,
    metrics: Arc<Metrics>,
    mut stop: watch::Receiver<bool>,
) {
    while !*stop.borrow() {
        tokio::select! {
            result = listen(&url, &pool, &verifier, &metrics) => {
                if let Err(e) = result {
                    tracing::warn!(error = %e, "key change listener lost its connection; reading through");
                }
            }
            _ = stop.changed() => break,
        }
        verifier.cache.set_listening(false);
        metrics.key_cache_listening.set(0);
        tokio::select! {
            () = tokio::time::sleep(RECONNECT_AFTER) => {}
            _ = stop.changed() => break,
        }
    }
    verifier.cache.set_listening(false);
}

/// Listens until the connection fails; never returns `Ok`.
async fn listen(
    url: &str,
    pool: &PgPool,
    verifier: &Arc<Verifier>,
    metrics: &Metrics,
) -> anyhow::Result<()> {
    let (client, mut connection) = tokio_postgres::connect(url, NoTls).await?;
    let cache = verifier.cache.clone();
    // Drives the connection: every message, notices included, arrives through here.
    let driver = async move {
        let mut messages = futures_util::stream::poll_fn(move |cx| connection.poll_message(cx));
        while let Some(message) = messages.next().await {
            if let AsyncMessage::Notification(notice) = message? {
                cache.invalidate_payload(notice.payload());
            }
        }
        anyhow::Ok(())
    };
    let session = keep_listening(&client, pool, verifier, metrics);
    tokio::select! {
        result = pin!(driver) => result?,
        result = pin!(session) => result?,
    }
    anyhow::bail!("the listening connection closed")
}

/// LISTENs, revalidates what memory holds, then trusts memory until a ping goes unanswered.
async fn keep_listening(
    client: &tokio_postgres::Client,
    pool: &PgPool,
    verifier: &Arc<Verifier>,
    metrics: &Metrics,
) -> anyhow::Result<()> {
    client
        .batch_execute(&format!("LISTEN {CHANGE_CHANNEL}"))
        .await?;
    // Anything changed before LISTEN took effect shows in the row versions.
    let (pool, checker) = (pool.clone(), verifier.clone());
    let checked = tokio::task::spawn_blocking(move || {
        let mut conn = pool.get()?;
        checker.revalidate(&mut conn, false)
    })
    .await??;
    verifier.cache.set_listening(true);
    metrics.key_cache_listening.set(1);
    metrics.key_cache_stale.inc_by(checked.stale as u64);
    tracing::debug!(stale = checked.stale, "listening for key changes");
    loop {
        tokio::time::sleep(PING_EVERY).await;
        tokio::time::timeout(PING_TIMEOUT, client.simple_query("SELECT 1")).await??;
    }
}
