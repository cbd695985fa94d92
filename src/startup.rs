//! Builds the application: database, migrations, first-start data, and the HTTP server.

use std::net::{SocketAddr, TcpListener};
use std::sync::Arc;

use actix_session::SessionMiddleware;
use actix_session::config::{PersistentSession, TtlExtensionPolicy};
use actix_web::cookie::{Key, SameSite, time::Duration};
use actix_web::dev::{Server, ServerHandle};
use actix_web::middleware::from_fn;
use actix_web::{App, HttpServer, web};

use crate::auth::session_store::PgSessionStore;
use crate::auth::throttle::LoginThrottle;
use crate::clock::{self, SharedClock};
use crate::config::{Config, DatabaseChoice};
use crate::embedded_pg::EmbeddedPostgres;
use crate::jobs::Jobs;
use crate::metrics::Metrics;
use crate::state::AppState;
use crate::verify::Verifier;
use crate::{auth, bootstrap, db, middleware, routes};
use tokio::sync::watch;

pub struct Application {
    server: Server,
    address: SocketAddr,
    embedded: Option<EmbeddedPostgres>,
    jobs: Jobs,
}

/// Stops a running application from anywhere, without awaiting it (tests drop it at their end).
#[derive(Clone)]
pub struct StopHandle {
    server: ServerHandle,
    jobs: Arc<watch::Sender<bool>>,
}

impl StopHandle {
    /// Stops accepting, drops open connections and stops the background tasks.
    pub fn stop_now(&self) {
        self.jobs.send_replace(true);
        // The command is sent at once; the returned future only waits for completion.
        drop(self.server.stop(false));
    }
}

/// How long a dashboard session lives without activity.
const SESSION_TTL_HOURS: i64 = 12;
const THROTTLE_WINDOW: std::time::Duration = std::time::Duration::from_secs(15 * 60);

impl Application {
    /// Builds on the machine's clock. Must be called inside the tokio runtime that will run it.
    pub fn build(config: Config) -> anyhow::Result<Self> {
        Self::build_with_clock(config, clock::system())
    }

    pub fn build_with_clock(config: Config, clock: SharedClock) -> anyhow::Result<Self> {
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
        let verifier = Arc::new(Verifier::new(pool.clone(), metrics.clone(), clock.clone())?);
        let jobs = Jobs::start(
            &url,
            pool.clone(),
            verifier.clone(),
            metrics.clone(),
            crate::jobs::Periods {
                revalidate: config.cache_revalidate_every,
                expiry_sweep: config.expiry_sweep_every,
            },
            clock.clone(),
            crate::secret_box::SecretBox::new(&config.secret_key),
        );

        let listener = TcpListener::bind(&config.bind)?;
        let address = listener.local_addr()?;
        let secure_cookies = config.secure_cookies;
        let secrets = crate::secret_box::SecretBox::new(&config.secret_key);
        let state = web::Data::new(AppState {
            pool: pool.clone(),
            config,
            email_throttle: LoginThrottle::new(5, THROTTLE_WINDOW),
            ip_throttle: LoginThrottle::new(50, THROTTLE_WINDOW),
            verifier,
            metrics,
            clock,
            cookie_key: cookie_key.clone(),
            secrets,
            leak_limiter: crate::state::leak_limiter(),
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
            jobs,
        })
    }

    pub fn address(&self) -> SocketAddr {
        self.address
    }

    pub fn stop_handle(&self) -> StopHandle {
        StopHandle {
            server: self.server.handle(),
            jobs: self.jobs.stopper(),
        }
    }

    /// Serves until SIGTERM/SIGINT (in-flight requests finish), stops the background tasks,
    /// writes buffered usage, then stops the embedded database.
    pub async fn run_until_stopped(self) -> anyhow::Result<()> {
        let served = self.server.await;
        self.jobs.finish().await;
        served?;
        if let Some(pg) = &self.embedded {
            pg.stop()?;
        }
        Ok(())
    }
}
