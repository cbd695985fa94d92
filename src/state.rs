//! What every handler shares.

use crate::auth::throttle::LoginThrottle;
use crate::config::Config;
use crate::db::PgPool;

pub struct AppState {
    pub pool: PgPool,
    pub config: Config,
    /// Failed sign-ins per email (tight) and per client address (looser: offices share one).
    pub email_throttle: LoginThrottle,
    pub ip_throttle: LoginThrottle,
}
