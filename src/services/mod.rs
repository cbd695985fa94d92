//! One module per kind of change. Each function owns its transaction, writes its typed audit
//! event and change notice inside it, and updates this node's cache after commit; handlers
//! call exactly one of them.

pub mod accounts;
pub mod bulk;
pub mod expiry;
pub mod key_list;
pub mod keys;
pub mod leaks;
pub mod members;
pub mod projects;
pub mod usage;
pub mod users;
pub mod webhooks;

use std::sync::Arc;

use chrono::{DateTime, Utc};

use actix_web::web;
use diesel::PgConnection;

use crate::db::PgPool;
use crate::db::audit::Actor;
use crate::error::AppError;
use crate::verify::cache::KeyCache;

/// Who makes a change, when, and the node's key cache to update once it commits.
#[derive(Clone)]
pub struct Change {
    pub actor: Actor,
    pub now: DateTime<Utc>,
    pub cache: Arc<KeyCache>,
}

/// Runs blocking work (argon2, say) off the async workers, holding no database connection.
pub async fn blocking<T, F>(work: F) -> Result<T, AppError>
where
    F: FnOnce() -> Result<T, AppError> + Send + 'static,
    T: Send + 'static,
{
    web::block(work).await.map_err(|e| {
        AppError::Unexpected(anyhow::Error::new(e).context("a blocking task failed"))
    })?
}

/// Runs blocking database work off the async workers, on a pooled connection.
pub async fn run<T, F>(pool: &PgPool, work: F) -> Result<T, AppError>
where
    F: FnOnce(&mut PgConnection) -> Result<T, AppError> + Send + 'static,
    T: Send + 'static,
{
    let pool = pool.clone();
    blocking(move || {
        let mut conn = pool.get().map_err(|e| AppError::Unexpected(e.into()))?;
        work(&mut conn)
    })
    .await
}
