//! Server-side sessions in the `sessions` table, so that signing out or disabling a user ends
//! access at once on every node. The cookie holds a random key; the table only its SHA-256.

use std::collections::HashMap;

use actix_session::storage::{LoadError, SaveError, SessionKey, SessionStore, UpdateError};
use actix_web::cookie::time::Duration;
use chrono::{DateTime, Utc};
use sha2::{Digest, Sha256};

use crate::db::sessions::SessionColumns;
use crate::db::{self, PgPool};
use crate::services;

pub const USER_ID_KEY: &str = "user_id";
/// A random name for the session that the account page can show and sign out (never the key).
pub const HANDLE_KEY: &str = "sid";
/// Unix seconds; with the address and browser below, copied into columns for the Sessions list.
pub const SIGNED_IN_KEY: &str = "signed_in_at";
pub const SEEN_KEY: &str = "seen_at";
pub const IP_KEY: &str = "ip";
pub const USER_AGENT_KEY: &str = "ua";
/// Everything that belongs to a signed-in person, dropped together when the row is gone.
const IDENTITY_KEYS: [&str; 6] = [
    USER_ID_KEY,
    HANDLE_KEY,
    SIGNED_IN_KEY,
    SEEN_KEY,
    IP_KEY,
    USER_AGENT_KEY,
];

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

/// actix-session keeps values JSON-encoded. The user id column makes "end all sessions of X"
/// one DELETE; the others feed the account page's Sessions list.
fn columns_of(state: &HashMap<String, String>) -> SessionColumns {
    fn get<T: serde::de::DeserializeOwned>(
        state: &HashMap<String, String>,
        key: &str,
    ) -> Option<T> {
        state.get(key).and_then(|v| serde_json::from_str(v).ok())
    }
    let time = |key| get::<i64>(state, key).and_then(|s| DateTime::from_timestamp(s, 0));
    SessionColumns {
        user_id: get(state, USER_ID_KEY),
        handle: get(state, HANDLE_KEY),
        signed_in_at: time(SIGNED_IN_KEY),
        last_seen_at: time(SEEN_KEY),
        user_agent: get(state, USER_AGENT_KEY),
        client_ip: get(state, IP_KEY),
    }
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
        let columns = columns_of(&state);
        let expires_at = expiry(ttl);
        blocking(&self.pool, move |conn| {
            Ok(db::sessions::insert(
                conn, &digest, &columns, &body, expires_at,
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
        let columns = columns_of(&state);
        let expires_at = expiry(ttl);
        let updated = blocking(&self.pool, move |conn| {
            Ok(db::sessions::update(
                conn, &digest, &columns, &body, expires_at,
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
        for key in IDENTITY_KEYS {
            anonymous.remove(key);
        }
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
