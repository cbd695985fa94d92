//! The signed-in person, loaded fresh on every request so that disabling takes effect at once.

use std::future::Future;
use std::pin::Pin;

use actix_session::{Session, SessionExt};
use actix_web::{FromRequest, HttpRequest, dev::Payload, web};

use super::session_store::USER_ID_KEY;
use crate::db;
use crate::domain::ids::UserId;
use crate::error::AppError;
use crate::services;
use crate::state::AppState;

const CSRF_KEY: &str = "csrf";

#[derive(Debug, Clone)]
pub struct CurrentUser {
    pub id: UserId,
    pub email: String,
    pub display_name: String,
    pub is_admin: bool,
}

impl FromRequest for CurrentUser {
    type Error = AppError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, AppError>>>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let session = req.get_session();
        let state = req.app_data::<web::Data<AppState>>().cloned();
        Box::pin(async move {
            let state =
                state.ok_or_else(|| AppError::Unexpected(anyhow::anyhow!("no app state")))?;
            let user_id = session
                .get::<UserId>(USER_ID_KEY)?
                .ok_or(AppError::Unauthenticated)?;
            let user =
                services::run(&state.pool, move |conn| Ok(db::users::find(conn, user_id)?)).await?;
            match user {
                Some(u) if !u.is_disabled() => Ok(Self {
                    id: u.id,
                    email: u.email,
                    display_name: u.display_name,
                    is_admin: u.is_admin,
                }),
                _ => {
                    session.purge();
                    Err(AppError::Unauthenticated)
                }
            }
        })
    }
}

/// This session's CSRF token, created on first use.
pub fn csrf_token(session: &Session) -> Result<String, AppError> {
    let existing = session.get::<String>(CSRF_KEY)?;
    if let Some(token) = existing {
        return Ok(token);
    }
    let token = super::random_token(32)?;
    session.insert(CSRF_KEY, &token)?;
    Ok(token)
}

/// The token stored in the session, without creating one.
pub fn stored_csrf_token(session: &Session) -> Option<String> {
    session.get::<String>(CSRF_KEY).ok().flatten()
}

pub fn sign_in(session: &Session, user_id: UserId) -> Result<(), AppError> {
    // A new session key at sign-in, so a key planted before it (fixation) is worthless.
    session.renew();
    session.insert(USER_ID_KEY, user_id).map_err(AppError::from)
}
