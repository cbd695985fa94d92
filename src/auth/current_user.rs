//! The signed-in person, loaded fresh on every request so that disabling takes effect at once.

use std::future::Future;
use std::pin::Pin;

use actix_session::{Session, SessionExt};
use actix_web::{FromRequest, HttpRequest, dev::Payload, http::header, web};
use chrono::{DateTime, Utc};

use super::session_store::{
    HANDLE_KEY, IP_KEY, SEEN_KEY, SIGNED_IN_KEY, USER_AGENT_KEY, USER_ID_KEY,
};
use crate::db;
use crate::domain::ids::UserId;
use crate::error::AppError;
use crate::services;
use crate::state::AppState;

const CSRF_KEY: &str = "csrf";
/// The Sessions list's "last seen" is refreshed at most this often: one write per session per
/// minute, however many requests it makes.
pub const SEEN_EVERY_SECONDS: i64 = 60;
/// A browser's self-description is kept to this many characters.
const USER_AGENT_CHARS: usize = 300;

#[derive(Debug, Clone)]
pub struct CurrentUser {
    pub id: UserId,
    pub email: String,
    pub display_name: String,
    pub is_admin: bool,
    pub has_two_factor: bool,
}

impl CurrentUser {
    fn of(u: &db::users::User) -> Self {
        Self {
            id: u.id,
            email: u.email.clone(),
            display_name: u.display_name.clone(),
            is_admin: u.is_admin,
            has_two_factor: u.has_two_factor(),
        }
    }
}

/// Where a request comes from, as the Sessions list shows it.
#[derive(Debug, Clone)]
pub struct Origin {
    pub ip: Option<String>,
    pub user_agent: Option<String>,
}

impl Origin {
    pub fn of(req: &HttpRequest) -> Self {
        let user_agent = req
            .headers()
            .get(header::USER_AGENT)
            .and_then(|v| v.to_str().ok())
            .map(|ua| ua.chars().take(USER_AGENT_CHARS).collect());
        Self {
            ip: super::scope::client_ip(req),
            user_agent,
        }
    }
}

/// What must happen before a signed-in person may open anything else.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SetupStep {
    /// An administrator reset the password: choose a new one.
    NewPassword,
    /// `KEYWARD_REQUIRE_2FA` covers this person and two-factor is off.
    TwoFactor,
}

pub fn setup_step(user: &db::users::User, state: &AppState) -> Option<SetupStep> {
    if user.must_change_password {
        Some(SetupStep::NewPassword)
    } else if state.config.require_2fa.applies_to(user.is_admin) && !user.has_two_factor() {
        Some(SetupStep::TwoFactor)
    } else {
        None
    }
}

/// A signed-in person whose account may still need a step before anything else (the pages
/// that take that step use this; every other page uses [`CurrentUser`]).
pub struct AccountHolder {
    pub user: db::users::User,
    pub session: Session,
    pub ip: Option<String>,
    pub setup: Option<SetupStep>,
}

impl AccountHolder {
    pub fn current(&self) -> CurrentUser {
        CurrentUser::of(&self.user)
    }
    pub fn actor(&self) -> db::audit::Actor {
        db::audit::Actor::user(self.user.id, &self.user.email, self.ip.clone())
    }
}

type Resolving<T> = Pin<Box<dyn Future<Output = Result<T, AppError>>>>;

impl FromRequest for AccountHolder {
    type Error = AppError;
    type Future = Resolving<Self>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let session = req.get_session();
        let state = req.app_data::<web::Data<AppState>>().cloned();
        let origin = Origin::of(req);
        Box::pin(async move {
            let state =
                state.ok_or_else(|| AppError::Unexpected(anyhow::anyhow!("no app state")))?;
            let user_id = session
                .get::<UserId>(USER_ID_KEY)?
                .ok_or(AppError::Unauthenticated)?;
            let user =
                services::run(&state.pool, move |conn| Ok(db::users::find(conn, user_id)?)).await?;
            match user {
                Some(u) if !u.is_disabled() => {
                    note_seen(&session, &origin, state.clock.now())?;
                    Ok(Self {
                        setup: setup_step(&u, &state),
                        user: u,
                        session,
                        ip: origin.ip,
                    })
                }
                _ => {
                    session.purge();
                    Err(AppError::Unauthenticated)
                }
            }
        })
    }
}

impl FromRequest for CurrentUser {
    type Error = AppError;
    type Future = Resolving<Self>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let holder = AccountHolder::from_request(req, payload);
        Box::pin(async move {
            let holder = holder.await?;
            if holder.setup.is_some() {
                return Err(AppError::AccountSetupRequired);
            }
            Ok(Self::of(&holder.user))
        })
    }
}

/// Refreshes "last seen", address and browser once a minute at most: changing the session's
/// state is what makes the session store write its row, so between refreshes a request costs
/// no write at all.
fn note_seen(session: &Session, origin: &Origin, now: DateTime<Utc>) -> Result<(), AppError> {
    if session.get::<String>(HANDLE_KEY)?.is_none() {
        // A session begun before sessions had handles gets one, so it can be listed and ended.
        session.insert(HANDLE_KEY, super::random_token(16)?)?;
    }
    let seen = session.get::<i64>(SEEN_KEY)?;
    let now = now.timestamp();
    if seen.is_some_and(|s| (0..SEEN_EVERY_SECONDS).contains(&(now - s))) {
        return Ok(());
    }
    session.insert(SEEN_KEY, now)?;
    session.insert(IP_KEY, &origin.ip)?;
    session.insert(USER_AGENT_KEY, &origin.user_agent)?;
    Ok(())
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

/// This session's handle (the name the Sessions list signs it out by).
pub fn session_handle(session: &Session) -> Option<String> {
    session.get::<String>(HANDLE_KEY).ok().flatten()
}

pub fn sign_in(
    session: &Session,
    user_id: UserId,
    origin: &Origin,
    now: DateTime<Utc>,
) -> Result<(), AppError> {
    // A new session key at sign-in, so a key planted before it (fixation) is worthless.
    session.renew();
    session.insert(USER_ID_KEY, user_id)?;
    session.insert(HANDLE_KEY, super::random_token(16)?)?;
    session.insert(SIGNED_IN_KEY, now.timestamp())?;
    session.remove(SEEN_KEY);
    note_seen(session, origin, now)?;
    // The pre-sign-in state (if any) had no token; the new session makes its own on first use.
    session.remove(CSRF_KEY);
    Ok(())
}

/// Continues this session under a new key and a new CSRF token (after a password change).
pub fn renew(session: &Session) {
    session.renew();
    session.remove(CSRF_KEY);
}
