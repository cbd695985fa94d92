//! The webhook delivery worker (SPEC §12), on every node: it claims due deliveries from the
//! outbox, posts them signed, and records each answer, retrying with growing delays. It runs
//! on a thread of its own with actix's client (`awc`, rustls): a slow receiver never holds up
//! a dashboard or verify request, and due times come from the injectable clock.

use std::sync::Arc;
use std::time::Duration;

use actix_web::http::header;
use chrono::TimeDelta;
use futures_util::future::join_all;
use tokio::sync::watch;

use crate::clock::SharedClock;
use crate::db::{self, PgPool, webhooks::Claimed, webhooks::Outcome};
use crate::domain::ids::DeliveryId;
use crate::domain::webhook::{WebhookSecret, retry_delay};
use crate::metrics::Metrics;
use crate::secret_box::SecretBox;
use crate::services;

/// How often the outbox is looked at (real time; what is due is decided by the clock).
const POLL_EVERY: Duration = Duration::from_millis(250);
/// Pending and failed counts for /metrics are refreshed every this many polls.
const COUNT_EVERY_POLLS: u32 = 8;
/// A receiver has this long to answer.
pub const TIMEOUT: Duration = Duration::from_secs(10);
/// A claimed delivery is this node's for this long; past it, another node may send it.
const LEASE: TimeDelta = TimeDelta::seconds(60);
/// Deliveries claimed at once by one node.
const BATCH: i64 = 16;
/// Kept in an attempt's error text: enough to see why, never a whole answer.
const MAX_ERROR_CHARS: usize = 200;

pub struct Worker {
    pub pool: PgPool,
    pub secrets: SecretBox,
    pub clock: SharedClock,
    pub metrics: Arc<Metrics>,
}

/// Starts the worker on its own thread; it stops when `stop` turns true.
pub fn start(
    worker: Worker,
    stop: watch::Receiver<bool>,
) -> std::io::Result<std::thread::JoinHandle<()>> {
    std::thread::Builder::new()
        .name("keyward-webhooks".to_owned())
        .spawn(move || {
            let system = actix_web::rt::System::new();
            system.block_on(worker.run(stop));
        })
}

fn client() -> anyhow::Result<awc::Client> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let tls = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_root_certificates(actix_tls::connect::rustls_0_23::webpki_roots_cert_store())
        .with_no_client_auth();
    Ok(awc::Client::builder()
        .connector(awc::Connector::new().rustls_0_23(Arc::new(tls)))
        .timeout(TIMEOUT)
        .disable_redirects()
        .add_default_header((header::USER_AGENT, "Keyward-Webhooks/1"))
        .finish())
}

impl Worker {
    async fn run(self, mut stop: watch::Receiver<bool>) {
        let client = match client() {
            Ok(c) => c,
            Err(e) => {
                tracing::error!(error = %e, "webhook deliveries cannot start: no TLS client");
                return;
            }
        };
        let worker = Arc::new(self);
        let mut polls: u32 = 0;
        loop {
            tokio::select! {
                _ = tokio::time::sleep(POLL_EVERY) => {}
                _ = stop.changed() => return,
            }
            if *stop.borrow() {
                return;
            }
            if polls.is_multiple_of(COUNT_EVERY_POLLS) {
                worker.refresh_counts().await;
            }
            polls = polls.wrapping_add(1);
            let claimed = match worker.claim().await {
                Ok(c) => c,
                Err(e) => {
                    tracing::warn!(error = %e, "claiming webhook deliveries failed");
                    continue;
                }
            };
            if claimed.is_empty() {
                continue;
            }
            let sends = join_all(claimed.into_iter().map(|c| {
                let (worker, client) = (worker.clone(), client.clone());
                async move { worker.deliver(&client, c).await }
            }));
            // Stopping abandons what is in flight: its lease runs out and a node sends it then.
            tokio::select! {
                _ = sends => {}
                _ = stop.changed() => return,
            }
        }
    }

    async fn claim(&self) -> anyhow::Result<Vec<Claimed>> {
        let (pool, now) = (self.pool.clone(), self.clock.now());
        tokio::task::spawn_blocking(move || {
            let mut conn = pool.get()?;
            Ok(db::webhooks::claim_due(&mut conn, now, LEASE, BATCH)?)
        })
        .await?
    }

    async fn refresh_counts(&self) {
        let pool = self.pool.clone();
        let counts = tokio::task::spawn_blocking(move || -> anyhow::Result<_> {
            let mut conn = pool.get()?;
            Ok(db::webhooks::counts(&mut conn)?)
        })
        .await;
        if let Ok(Ok(c)) = counts {
            self.metrics.webhook_deliveries_pending.set(c.pending);
            self.metrics.webhook_deliveries_failed.set(c.failed);
        }
    }

    async fn deliver(&self, client: &awc::Client, claimed: Claimed) {
        let outcome = self.send(client, &claimed).await;
        let now = self.clock.now();
        let retry_at = match &outcome.error {
            None => None,
            Some(_) => retry_delay(claimed.attempts).map(|d| now + d),
        };
        if let Some(error) = &outcome.error {
            tracing::info!(delivery_id = claimed.id, attempt = claimed.attempts, error = %error, "webhook delivery failed");
        }
        let (pool, id) = (self.pool.clone(), DeliveryId(claimed.id));
        let recorded = tokio::task::spawn_blocking(move || {
            let mut conn = pool
                .get()
                .map_err(|e| crate::error::AppError::Unexpected(e.into()))?;
            services::webhooks::record_attempt(&mut conn, id, &outcome, retry_at, now)
        })
        .await;
        let failed = match recorded {
            Ok(Ok(())) => return,
            Ok(Err(e)) => format!("{e:?}"),
            Err(e) => format!("{e:?}"),
        };
        // The lease runs out and the delivery is tried again: at least once, never lost.
        tracing::warn!(delivery_id = claimed.id, error = %failed, "recording a webhook delivery failed");
    }

    async fn send(&self, client: &awc::Client, claimed: &Claimed) -> Outcome {
        let context =
            services::webhooks::secret_context(crate::domain::ids::WebhookId(claimed.endpoint_id));
        let secret = match self
            .secrets
            .open(&context, &claimed.secret_sealed)
            .map_err(|e| e.to_string())
            .and_then(|b| WebhookSecret::from_opened(b).map_err(|e| e.to_string()))
        {
            Ok(s) => s,
            Err(_) => {
                return failure(
                    None,
                    "the signing secret does not open with this KEYWARD_SECRET_KEY",
                );
            }
        };
        let body = claimed.payload.clone();
        let signature = secret.signature(self.clock.now().timestamp(), body.as_bytes());
        let sent = client
            .post(&claimed.url)
            .insert_header((header::CONTENT_TYPE, "application/json"))
            .insert_header(("Keyward-Signature", signature))
            .send_body(body)
            .await;
        match sent {
            Ok(response) if response.status().is_success() => Outcome {
                status: Some(i32::from(response.status().as_u16())),
                error: None,
            },
            Ok(response) => {
                let status = response.status();
                failure(
                    Some(i32::from(status.as_u16())),
                    &format!("the receiver answered {status}"),
                )
            }
            Err(awc::error::SendRequestError::Timeout) => {
                failure(None, "no answer within 10 seconds")
            }
            Err(e) => failure(None, &e.to_string()),
        }
    }
}

fn failure(status: Option<i32>, error: &str) -> Outcome {
    Outcome {
        status,
        error: Some(error.chars().take(MAX_ERROR_CHARS).collect()),
    }
}
