//! Background work, as tasks on the app's runtime with a clean stop: the change listener, the
//! cache revalidation, the usage flusher and roll-up, and the session sweeper. `finish` stops them all and
//! writes whatever usage is still buffered.

pub mod delivery;
pub mod listener;

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::clock::SharedClock;
use crate::db::{self, PgPool};
use crate::metrics::{Metrics, ResultLabel};
use crate::secret_box::SecretBox;
use crate::verify::Verifier;
use crate::verify::cache::POSITIVE_TTL;

/// Usage counts reach the database at most this often (and on shutdown).
const USAGE_FLUSH_EVERY: Duration = Duration::from_secs(5);
/// Finished hours of usage are rolled up (and old rows pruned) this often, by one node at a time.
const USAGE_ROLLUP_EVERY: Duration = Duration::from_secs(5 * 60);
/// Webhook delivery history older than 30 days is pruned this often, by one node at a time.
const DELIVERY_PRUNE_EVERY: Duration = Duration::from_secs(60 * 60);
const DELIVERY_HISTORY: chrono::TimeDelta = chrono::TimeDelta::days(30);
/// Keys due an expiry warning are looked for this often (SPEC §12: at least once a minute).
pub const EXPIRY_SWEEP_EVERY: Duration = Duration::from_secs(20);
/// Expired sessions are refused anyway; sweeping keeps the table small.
const SESSION_SWEEP_EVERY: Duration = Duration::from_secs(15 * 60);
/// Cached keys are checked against their row versions this often: well inside their lifetime,
/// so a key in use never drops out of memory while a missed notice is caught within this bound.
pub const REVALIDATE_EVERY: Duration = Duration::from_secs(POSITIVE_TTL.as_secs() / 4);

/// The periods of the tasks that tests shorten.
pub struct Periods {
    pub revalidate: Duration,
    pub expiry_sweep: Duration,
}

pub struct Jobs {
    stop: Arc<watch::Sender<bool>>,
    tasks: Vec<JoinHandle<()>>,
    /// The webhook delivery worker's own thread (awc runs on a runtime of its own).
    deliveries: Option<std::thread::JoinHandle<()>>,
    pool: PgPool,
    verifier: Arc<Verifier>,
    metrics: Arc<Metrics>,
}

impl Jobs {
    /// Starts every task on the current tokio runtime.
    pub fn start(
        url: &str,
        pool: PgPool,
        verifier: Arc<Verifier>,
        metrics: Arc<Metrics>,
        every_so_often: Periods,
        clock: SharedClock,
        secrets: SecretBox,
    ) -> Self {
        let Periods {
            revalidate: revalidate_every,
            expiry_sweep: expiry_sweep_every,
        } = every_so_often;
        let (stop, stopped) = watch::channel(false);
        let deliveries = delivery::start(
            delivery::Worker {
                pool: pool.clone(),
                secrets,
                clock: clock.clone(),
                metrics: metrics.clone(),
            },
            stopped.clone(),
        )
        .map_err(|e| tracing::error!(error = %e, "the webhook delivery worker did not start"))
        .ok();
        let tasks = vec![
            tokio::spawn(listener::run(
                url.to_owned(),
                pool.clone(),
                verifier.clone(),
                metrics.clone(),
                stopped.clone(),
            )),
            every(revalidate_every, stopped.clone(), {
                let (pool, verifier, metrics) = (pool.clone(), verifier.clone(), metrics.clone());
                move || revalidate(&pool, &verifier, &metrics)
            }),
            every(USAGE_FLUSH_EVERY, stopped.clone(), {
                let (pool, verifier, metrics) = (pool.clone(), verifier.clone(), metrics.clone());
                move || flush_usage(&pool, &verifier, &metrics)
            }),
            every(USAGE_ROLLUP_EVERY, stopped.clone(), {
                let (pool, clock) = (pool.clone(), clock.clone());
                move || roll_up_usage(&pool, &clock)
            }),
            every(expiry_sweep_every, stopped.clone(), {
                let (pool, clock, verifier) = (pool.clone(), clock.clone(), verifier.clone());
                move || warn_of_expiry(&pool, &clock, &verifier)
            }),
            every(DELIVERY_PRUNE_EVERY, stopped.clone(), {
                let (pool, clock) = (pool.clone(), clock.clone());
                move || prune_deliveries(&pool, &clock)
            }),
            every(SESSION_SWEEP_EVERY, stopped, {
                let pool = pool.clone();
                move || sweep_sessions(&pool)
            }),
        ];
        Self {
            stop: Arc::new(stop),
            tasks,
            deliveries,
            pool,
            verifier,
            metrics,
        }
    }

    /// A handle that asks every task to stop, without waiting (for callers that cannot await).
    pub fn stopper(&self) -> Arc<watch::Sender<bool>> {
        self.stop.clone()
    }

    fn signal_stop(&self) {
        self.stop.send_replace(true);
    }

    /// Stops the tasks, waits for them, then writes whatever usage is still buffered.
    pub async fn finish(self) {
        self.signal_stop();
        for task in self.tasks {
            let _ = task.await;
        }
        if let Some(thread) = self.deliveries {
            let _ = tokio::task::spawn_blocking(move || thread.join()).await;
        }
        let (pool, verifier, metrics) = (self.pool, self.verifier, self.metrics);
        let _ = tokio::task::spawn_blocking(move || {
            flush_usage(&pool, &verifier, &metrics);
            give_back_budgets(&pool, &verifier);
        })
        .await;
    }
}

/// Runs blocking `work` off the async workers every `period` until told to stop.
fn every<W>(period: Duration, mut stop: watch::Receiver<bool>, work: W) -> JoinHandle<()>
where
    W: Fn() + Clone + Send + 'static,
{
    tokio::spawn(async move {
        let mut ticks = tokio::time::interval(period);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        ticks.tick().await; // the first tick is immediate
        loop {
            tokio::select! {
                _ = ticks.tick() => {}
                _ = stop.changed() => return,
            }
            if *stop.borrow() {
                return;
            }
            let _ = until_stopped(tokio::task::spawn_blocking(work.clone()), &mut stop).await;
        }
    })
}

async fn until_stopped<F: Future>(work: F, stop: &mut watch::Receiver<bool>) -> Option<F::Output> {
    tokio::select! {
        out = work => Some(out),
        _ = stop.changed() => None,
    }
}

fn revalidate(pool: &PgPool, verifier: &Verifier, metrics: &Metrics) {
    // Entries past their lifetime are never served; this hands their memory back.
    verifier.cache.sweep();
    if !verifier.cache.is_listening() {
        return; // the listener revalidates itself when it listens again
    }
    let checked = pool
        .get()
        .map_err(anyhow::Error::from)
        .and_then(|mut conn| verifier.revalidate(&mut conn, true));
    match checked {
        Ok(c) if c.stale > 0 => {
            metrics.key_cache_stale.inc_by(c.stale as u64);
            tracing::warn!(
                stale = c.stale,
                "dropped cached keys whose change notice never arrived"
            );
        }
        Ok(_) => {}
        Err(e) => tracing::warn!(error = %e, "revalidating cached keys failed"),
    }
}

pub fn flush_usage(pool: &PgPool, verifier: &Verifier, metrics: &Metrics) {
    let result = pool
        .get()
        .map_err(anyhow::Error::from)
        .and_then(|mut conn| verifier.usage.flush(&mut conn));
    let label = match result {
        Ok(0) => return,
        Ok(_) => "ok",
        Err(e) => {
            tracing::warn!(error = %e, "writing usage counts failed; they stay buffered");
            "error"
        }
    };
    metrics
        .usage_flushes
        .get_or_create(&ResultLabel { result: label })
        .inc();
}

/// Rolls finished hours of usage up and prunes what is past its retention; another node
/// holding the lock means it is doing the same, so this run skips.
fn roll_up_usage(pool: &PgPool, clock: &SharedClock) {
    let result = pool
        .get()
        .map_err(anyhow::Error::from)
        .and_then(|mut conn| Ok(db::usage::roll_up(&mut conn, clock.now())?));
    match result {
        Ok(Some(done)) => tracing::debug!(
            hours = done.hours_written,
            minutes_pruned = done.minutes_pruned,
            hours_pruned = done.hours_pruned,
            "rolled usage up"
        ),
        Ok(None) => tracing::debug!("another node is rolling usage up"),
        Err(e) => tracing::warn!(error = %e, "rolling usage up failed; the next run retries"),
    }
}

/// What this node reserved and did not spend goes back, so other nodes can spend it.
fn give_back_budgets(pool: &PgPool, verifier: &Verifier) {
    let given = pool
        .get()
        .map_err(anyhow::Error::from)
        .and_then(|mut conn| {
            verifier.limits.give_back_all(&mut conn)?;
            verifier.quotas.give_back_all(&mut conn)
        });
    if let Err(e) = given {
        tracing::warn!(error = %e, "giving back reserved budgets failed");
    }
}

/// Writes the expiry warnings that are due (each once for the cluster, whichever node finds it).
fn warn_of_expiry(pool: &PgPool, clock: &SharedClock, verifier: &Verifier) {
    let change = crate::services::Change {
        actor: db::audit::Actor::system(),
        now: clock.now(),
        cache: verifier.cache.clone(),
    };
    let result = pool
        .get()
        .map_err(|e| crate::error::AppError::Unexpected(e.into()))
        .and_then(|mut conn| crate::services::expiry::sweep(&mut conn, &change));
    match result {
        Ok(0) => {}
        Ok(n) => tracing::info!(warnings = n, "sent expiry warnings"),
        Err(e) => tracing::warn!(error = ?e, "looking for keys about to expire failed"),
    }
}

/// Deletes webhook deliveries older than 30 days; another node holding the lock skips this run.
fn prune_deliveries(pool: &PgPool, clock: &SharedClock) {
    let cutoff = clock.now() - DELIVERY_HISTORY;
    let result = pool
        .get()
        .map_err(anyhow::Error::from)
        .and_then(|mut conn| Ok(db::webhooks::prune(&mut conn, cutoff)?));
    match result {
        Ok(Some(n)) => tracing::debug!(deleted = n, "pruned webhook delivery history"),
        Ok(None) => tracing::debug!("another node is pruning webhook deliveries"),
        Err(e) => tracing::warn!(error = %e, "pruning webhook deliveries failed"),
    }
}

fn sweep_sessions(pool: &PgPool) {
    if let Ok(mut conn) = pool.get()
        && let Err(e) = db::sessions::delete_expired(&mut conn)
    {
        tracing::warn!(error = %e, "sweeping expired sessions failed");
    }
}
