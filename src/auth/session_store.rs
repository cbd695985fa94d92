//! Server-side sessions in the `sessions` table, so that signing out or disabling a user ends
//! access at once on every node. The cookie holds a random key; the table only its SHA-256.

use std::collections::HashMap;

use actix_session::storage::{LoadError, SaveError, SessionKey, SessionStore, UpdateError};
use actix_web::cookie::time::Duration;
use chrono::Utc;
use sha2::{Digest, Sha256};

use crate::db::{self, PgPool};
use crate::services;

pub const USER_ID_KEY: &str = "user_id";

#[derive(Clone)]
pub struct PgSessionStore {
    pool: PgPool,
}

impl PgSessionStore {
    pub fn new(pool: PgPool) -> Self {
        Self { pool }
    }
}

fn digest(key: &SessionKey) -> Vec<u8> {
    Sha256::digest(key.as_ref().as_bytes()).to_vec()
}

fn expiry(ttl: &Duration) -> chrono::DateTime<Utc> {
    Utc::now() + chrono::Duration::seconds(ttl.whole_seconds())
}

/// actix-session keeps values JSON-encoded; the user id column makes "end all sessions of X" one DELETE.
fn user_id_of(state: &HashMap<String, String>) -> Option<i64> {
    state
        .get(USER_ID_KEY)
        .and_then(|v| serde_json::from_str(v).ok())
}

fn new_key() -> anyhow::Result<SessionKey> {
    let token = super::random_token(32)?;
    SessionKey::try_from(token).map_err(anyhow::Error::new)
}

async fn blocking<T: Send + 'static>(
    pool: &PgPool,
    work: impl FnOnce(&mut diesel::PgConnection) -> anyhow::Result<T> + Send + 'static,
) -> anyhow::Result<T> {
    services::run(pool, move |conn| work(conn).map_err(Into::into))
        .await
        .map_err(|e| anyhow::anyhow!("{e:?}"))
}

impl SessionStore for PgSessionStore {
    async fn load(&self, key: &SessionKey) -> Result<Option<HashMap<String, String>>, LoadError> {
        let digest = digest(key);
        let state = blocking(&self.pool, move |conn| {
            Ok(db::sessions::load(conn, &digest)?)
        })
        .await
        .map_err(LoadError::Other)?;
        state
            .map(|s| serde_json::from_str(&s))
            .transpose()
            .map_err(|e| LoadError::Deserialization(e.into()))
    }

    async fn save(
        &self,
        state: HashMap<String, String>,
        ttl: &Duration,
    ) -> Result<SessionKey, SaveError> {
        let body = serde_json::to_string(&state).map_err(|e| SaveError::Serialization(e.into()))?;
        let key = new_key().map_err(SaveError::Other)?;
        let digest = digest(&key);
        let user_id = user_id_of(&state);
        let expires_at = expiry(ttl);
        blocking(&self.pool, move |conn| {
            Ok(db::sessions::insert(
                conn, &digest, user_id, &body, expires_at,
            )?)
        })
        .await
        .map_err(SaveError::Other)?;
        Ok(key)
    }

    async fn update(
        &self,
        key: SessionKey,
        state: HashMap<String, String>,
        ttl: &Duration,
    ) -> Result<SessionKey, UpdateError> {
        let body =
            serde_json::to_string(&state).map_err(|e| UpdateError::Serialization(e.into()))?;
        let digest = digest(&key);
        let user_id = user_id_of(&state);
        let expires_at = expiry(ttl);
        let updated = blocking(&self.pool, move |conn| {
            Ok(db::sessions::update(
                conn, &digest, user_id, &body, expires_at,
            )?)
        })
        .await
        .map_err(UpdateError::Other)?;
        if updated > 0 {
            return Ok(key);
        }
        // The row is gone (signed out or disabled elsewhere): start a fresh session without
        // the identity, rather than resurrect the one that was ended.
        let mut anonymous = state;
        anonymous.remove(USER_ID_KEY);
        self.save(anonymous, ttl).await.map_err(|e| match e {
            SaveError::Serialization(e) => UpdateError::Serialization(e),
            SaveError::Other(e) => UpdateError::Other(e),
        })
    }

    async fn update_ttl(&self, key: &SessionKey, ttl: &Duration) -> Result<(), anyhow::Error> {
        let digest = digest(key);
        let expires_at = expiry(ttl);
        blocking(&self.pool, move |conn| {
            Ok(db::sessions::touch(conn, &digest, expires_at)?)
        })
        .await?;
        Ok(())
    }

    async fn delete(&self, key: &SessionKey) -> Result<(), anyhow::Error> {
        let digest = digest(key);
        blocking(&self.pool, move |conn| {
            Ok(db::sessions::delete(conn, &digest)?)
        })
        .await?;
        Ok(())
    }
}
