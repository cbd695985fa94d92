//! Management API authentication: an `X-API-Key` holding the `admin` scope. It acts on that
//! key's own environment.

use std::future::Future;
use std::pin::Pin;

use actix_web::{FromRequest, HttpRequest, dev::Payload, web};

use super::error::{ApiError, ErrorCode};
use super::verify::presented_key;
use crate::auth::scope::client_addr;
use crate::db::audit::Actor;
use crate::domain::ids::{EnvironmentId, KeyId};
use crate::domain::key_format::ParsedKey;
use crate::state::AppState;
use crate::verify::{Code, Presentation, Purpose};

pub struct AdminKey {
    pub key_id: KeyId,
    pub environment_id: EnvironmentId,
    /// The masked form of the secret the caller presented, for the audit trail.
    pub masked: String,
    pub ip: Option<String>,
}

impl AdminKey {
    pub fn actor(&self) -> Actor {
        Actor::api_key(self.key_id, &self.masked, self.ip.clone())
    }
}

impl FromRequest for AdminKey {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, ApiError>>>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let req = req.clone();
        Box::pin(async move {
            let state = req
                .app_data::<web::Data<AppState>>()
                .ok_or_else(|| ApiError::new(ErrorCode::Internal, "no app state"))?;
            // The key's own client address is what its allowed_ips restrict (SPEC §11).
            let ip = client_addr(&req);
            let verdict = state
                .verifier
                .verify(&Presentation {
                    key: presented_key(&req),
                    environment: None,
                    scope: Some("admin"),
                    ip,
                    origin: None,
                    purpose: Purpose::Management,
                })
                .await?;
            match (verdict.code, verdict.key) {
                (Code::Valid, Some(key)) => Ok(Self {
                    key_id: key.key_id,
                    environment_id: key.environment_id,
                    masked: presented_key(&req)
                        .and_then(|k| ParsedKey::parse(k).ok())
                        .map(|k| k.masked())
                        .unwrap_or_default(),
                    ip: ip.map(|a| a.to_string()),
                }),
                (Code::IpNotAllowed, _) => Err(ApiError::new(
                    ErrorCode::IpNotAllowed,
                    Code::IpNotAllowed.message(),
                )),
                (Code::InsufficientScope, _) => Err(ApiError::new(
                    ErrorCode::Forbidden,
                    "The management API needs a key with the admin scope.",
                )),
                (Code::RateLimited, _) => Err(ApiError {
                    retry_after_secs: verdict.rate.and_then(|r| r.retry_after_secs),
                    ..ApiError::new(ErrorCode::RateLimited, Code::RateLimited.message())
                }),
                (code, _) => Err(ApiError::new(ErrorCode::Unauthenticated, code.message())),
            }
        })
    }
}
