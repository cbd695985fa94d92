//! Builds the application: database, migrations, first-start data, and the HTTP server.

use std::net::{SocketAddr, TcpListener};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::Instant;

use actix_session::SessionMiddleware;
use actix_session::config::{PersistentSession, TtlExtensionPolicy};
use actix_web::cookie::{Key, SameSite, time::Duration};
use actix_web::dev::Server;
use actix_web::middleware::from_fn;
use actix_web::{App, HttpServer, web};

use crate::auth::session_store::PgSessionStore;
use crate::auth::throttle::LoginThrottle;
use crate::config::{Config, DatabaseChoice};
use crate::embedded_pg::EmbeddedPostgres;
use crate::metrics::{Metrics, ResultLabel};
use crate::state::AppState;
use crate::verify::Verifier;
use crate::{auth, bootstrap, db, middleware, routes, verify};

pub struct Application {
    server: Server,
    address: SocketAddr,
    embedded: Option<EmbeddedPostgres>,
    background: Background,
}

/// The listener and usage flusher threads, stopped after the server has drained.
struct Background {
    stop: Arc<AtomicBool>,
    threads: Vec<JoinHandle<()>>,
    pool: db::PgPool,
    verifier: Arc<Verifier>,
    metrics: Arc<Metrics>,
}

impl Background {
    fn start(
        url: &str,
        pool: db::PgPool,
        verifier: Arc<Verifier>,
        metrics: Arc<Metrics>,
    ) -> anyhow::Result<Self> {
        let stop = Arc::new(AtomicBool::new(false));
        let listener =
            verify::listener::spawn(url.to_owned(), verifier.cache.clone(), stop.clone())?;
        let flusher = {
            let (stop, pool, verifier, metrics) = (
                stop.clone(),
                pool.clone(),
                verifier.clone(),
                metrics.clone(),
            );
            std::thread::Builder::new()
                .name("keyward-usage".to_owned())
                .spawn(move || {
                    let mut last = Instant::now();
                    let mut last_sweep = Instant::now();
                    while !stop.load(Ordering::Acquire) {
                        std::thread::sleep(std::time::Duration::from_millis(100));
                        if last.elapsed() >= USAGE_FLUSH_INTERVAL {
                            flush_usage(&pool, &verifier, &metrics);
                            last = Instant::now();
                        }
                        if last_sweep.elapsed() >= SESSION_SWEEP_INTERVAL {
                            // Expired sessions are refused anyway; this keeps the table small.
                            if let Ok(mut conn) = pool.get() {
                                let _ = db::sessions::delete_expired(&mut conn);
                            }
                            last_sweep = Instant::now();
                        }
                    }
                })?
        };
        Ok(Self {
            stop,
            threads: vec![listener, flusher],
            pool,
            verifier,
            metrics,
        })
    }

    /// Stops the threads, then writes whatever usage is still buffered.
    fn finish(self) {
        self.stop.store(true, Ordering::Release);
        for thread in self.threads {
            let _ = thread.join();
        }
        flush_usage(&self.pool, &self.verifier, &self.metrics);
    }
}

fn flush_usage(pool: &db::PgPool, verifier: &Verifier, metrics: &Metrics) {
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

/// How long a dashboard session lives without activity.
const SESSION_TTL_HOURS: i64 = 12;
/// Usage counts reach the database at most this often (and on shutdown).
const USAGE_FLUSH_INTERVAL: std::time::Duration = std::time::Duration::from_secs(5);
const SESSION_SWEEP_INTERVAL: std::time::Duration = std::time::Duration::from_secs(15 * 60);
const THROTTLE_WINDOW: std::time::Duration = std::time::Duration::from_secs(15 * 60);

impl Application {
    pub fn build(config: Config) -> anyhow::Result<Self> {
        let (url, embedded) = match &config.database {
            DatabaseChoice::Url(url) => (url.clone(), None),
            DatabaseChoice::Embedded(dir) => {
                let pg = EmbeddedPostgres::start(dir)?;
                pg.ensure_database("keyward")?;
                (pg.url("keyward"), Some(pg))
            }
        };
        let pool = db::build_pool(&url, config.pool_size)?;
        let cookie_key = {
            let mut conn = pool.get()?;
            db::run_migrations(&mut conn)?;
            bootstrap::first_start(&mut conn, &config)?;
            let candidate = auth::random_token(64)?;
            let stored = db::settings::get_or_init(&mut conn, "session_cookie_key", &candidate)?;
            Key::from(&hex::decode(stored)?)
        };

        let metrics = Arc::new(Metrics::new());
        let verifier = Arc::new(Verifier::new(pool.clone(), metrics.clone()));
        let background = Background::start(&url, pool.clone(), verifier.clone(), metrics.clone())?;

        let listener = TcpListener::bind(&config.bind)?;
        let address = listener.local_addr()?;
        let secure_cookies = config.secure_cookies;
        let state = web::Data::new(AppState {
            pool: pool.clone(),
            config,
            email_throttle: LoginThrottle::new(5, THROTTLE_WINDOW),
            ip_throttle: LoginThrottle::new(50, THROTTLE_WINDOW),
            verifier,
            metrics,
        });
        let server = HttpServer::new(move || {
            let sessions =
                SessionMiddleware::builder(PgSessionStore::new(pool.clone()), cookie_key.clone())
                    .cookie_name("keyward_session".to_owned())
                    .cookie_http_only(true)
                    .cookie_same_site(SameSite::Lax)
                    .cookie_secure(secure_cookies)
                    .session_lifecycle(
                        PersistentSession::default()
                            .session_ttl(Duration::hours(SESSION_TTL_HOURS))
                            .session_ttl_extension_policy(TtlExtensionPolicy::OnStateChanges),
                    )
                    .build();
            App::new()
                .app_data(state.clone())
                .app_data(web::FormConfig::default().limit(middleware::BODY_LIMIT))
                .app_data(web::JsonConfig::default().limit(middleware::BODY_LIMIT))
                .app_data(web::PayloadConfig::default().limit(middleware::BODY_LIMIT))
                .configure(routes::configure_public)
                // Sessions and CSRF only where cookies are the credential: not on the API.
                .service(
                    web::scope("")
                        .wrap(from_fn(auth::csrf::guard))
                        .wrap(sessions)
                        .configure(routes::configure_dashboard),
                )
                .wrap(from_fn(middleware::body_limit))
                // Outside the body limit, so its refusals get an id and a log line too.
                .wrap(from_fn(middleware::request_log))
                .wrap(middleware::security_headers())
        })
        .listen(listener)?
        .shutdown_timeout(30)
        .run();
        Ok(Self {
            server,
            address,
            embedded,
            background,
        })
    }

    pub fn address(&self) -> SocketAddr {
        self.address
    }

    /// Serves until SIGTERM/SIGINT (in-flight requests finish), then stops the embedded database.
    pub async fn run_until_stopped(self) -> anyhow::Result<()> {
        let served = self.server.await;
        self.background.finish();
        served?;
        if let Some(pg) = &self.embedded {
            pg.stop()?;
        }
        Ok(())
    }
}
