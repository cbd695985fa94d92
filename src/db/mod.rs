//! The database layer: plain functions over `&mut PgConnection`. Knows nothing of HTTP.

pub mod api_keys;
pub mod audit;
pub mod key_list;
pub mod leaks;
pub mod memberships;
pub mod projects;
pub mod quota_budgets;
pub mod rate_buckets;
pub mod recovery_codes;
pub mod schema;
pub mod sessions;
pub mod settings;
pub mod types;
pub mod usage;
pub mod users;
pub mod webhooks;

use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use diesel::r2d2::{ConnectionManager, Pool, PooledConnection};
use diesel_migrations::{EmbeddedMigrations, MigrationHarness, embed_migrations};

pub type PgPool = Pool<ConnectionManager<PgConnection>>;
pub type PgPooled = PooledConnection<ConnectionManager<PgConnection>>;

pub const MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations");

/// Any fixed number: the advisory lock that lets only one node migrate at a time.
const MIGRATION_LOCK: i64 = 0x6b65_7977_6172_6401;

pub fn build_pool(url: &str, size: u32) -> anyhow::Result<PgPool> {
    let manager = ConnectionManager::<PgConnection>::new(url);
    Ok(Pool::builder()
        .max_size(size)
        .connection_timeout(std::time::Duration::from_secs(10))
        .build(manager)?)
}

/// Runs pending migrations under an advisory lock, so nodes starting together take turns.
pub fn run_migrations(conn: &mut PgConnection) -> anyhow::Result<()> {
    conn.batch_execute(&format!("SELECT pg_advisory_lock({MIGRATION_LOCK})"))?;
    let result = conn
        .run_pending_migrations(MIGRATIONS)
        .map(|_| ())
        .map_err(|e| anyhow::anyhow!("migrations failed: {e}"));
    conn.batch_execute(&format!("SELECT pg_advisory_unlock({MIGRATION_LOCK})"))?;
    result
}

/// `Ok(None)` instead of the error when `constraint` refused the row (a name already taken).
pub fn none_if_taken<T>(result: QueryResult<T>, constraint: &str) -> QueryResult<Option<T>> {
    match result {
        Ok(row) => Ok(Some(row)),
        Err(diesel::result::Error::DatabaseError(
            diesel::result::DatabaseErrorKind::UniqueViolation,
            info,
        )) if info.constraint_name() == Some(constraint) => Ok(None),
        Err(e) => Err(e),
    }
}

/// One round trip: the database answers.
pub fn ping(conn: &mut PgConnection) -> QueryResult<()> {
    conn.batch_execute("SELECT 1")
}
