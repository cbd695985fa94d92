//! What every handler shares.

use std::sync::Arc;

use crate::auth::throttle::LoginThrottle;
use crate::config::Config;
use crate::db::PgPool;
use crate::metrics::Metrics;
use crate::verify::Verifier;

pub struct AppState {
    pub pool: PgPool,
    pub config: Config,
    /// Failed sign-ins per email (tight) and per client address (looser: offices share one).
    pub email_throttle: LoginThrottle,
    pub ip_throttle: LoginThrottle,
    pub verifier: Arc<Verifier>,
    pub metrics: Arc<Metrics>,
}
