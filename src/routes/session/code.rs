//! The sign-in's second step: **Code** (from the authenticator app, or a recovery code) after
//! the password, before any session exists (`crate::auth::pending_sign_in`).

use actix_session::Session;
use actix_web::cookie::Cookie;
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use serde::Deserialize;

use super::login::{form_token, signed_in_response};
use crate::auth::current_user::{Origin, sign_in};
use crate::auth::pending_sign_in;
use crate::auth::scope::client_ip;
use crate::db::{self, audit::Actor};
use crate::domain::two_factor::PresentedCode;
use crate::error::AppError;
use crate::routes::page::{html, see_other};
use crate::services::{self, accounts};
use crate::state::AppState;

const WRONG_CODE: &str = "That code is not right, or it was used already.";

#[derive(Template)]
#[template(path = "pages/login_code.html")]
struct CodePage {
    csrf: String,
    error: Option<String>,
}

pub fn code_page(
    status: StatusCode,
    (csrf, cookie): (String, Option<Cookie<'static>>),
    error: Option<String>,
) -> Result<HttpResponse, AppError> {
    let mut response = html(status, &CodePage { csrf, error })?;
    if let Some(cookie) = cookie {
        response
            .add_cookie(&cookie)
            .map_err(|e| AppError::Unexpected(e.into()))?;
    }
    Ok(response)
}

#[derive(Deserialize)]
pub struct CodeForm {
    #[serde(default)]
    code: String,
}

pub async fn submit(
    req: HttpRequest,
    session: Session,
    state: web::Data<AppState>,
    form: web::Form<CodeForm>,
) -> Result<HttpResponse, AppError> {
    let now = state.clock.now();
    // No pending sign-in (none, forged, expired): back to the password.
    let Some(pending) = pending_sign_in::presented(&req, &state.cookie_key, now) else {
        return Ok(see_other("/login"));
    };
    let user_id = pending.user;
    let user = services::run(&state.pool, move |conn| Ok(db::users::find(conn, user_id)?))
        .await?
        .filter(|u| !u.is_disabled() && u.has_two_factor() && pending.matches(&u.password_hash));
    let Some(user) = user else {
        return Ok(see_other("/login"));
    };
    let email_key = format!("email:{}", user.email.trim().to_lowercase());
    let ip_key = format!("ip:{}", client_ip(&req).unwrap_or_default());
    if let Err(wait) = state
        .email_throttle
        .check(&email_key)
        .and_then(|()| state.ip_throttle.check(&ip_key))
    {
        let minutes = wait.as_secs().div_ceil(60).max(1);
        return code_page(
            StatusCode::TOO_MANY_REQUESTS,
            form_token(&req, &state)?,
            Some(format!(
                "Too many failed sign-in attempts. Try again in {minutes} minute(s)."
            )),
        );
    }
    let accepted = match PresentedCode::parse(&form.into_inner().code) {
        Ok(code) => {
            let (shared, checked) = (state.clone(), user.clone());
            let actor = Actor::user(user.id, &user.email, client_ip(&req));
            services::run(&state.pool, move |conn| {
                accounts::check_second_factor(conn, &shared.secrets, &checked, &code, now, &actor)
            })
            .await?
        }
        Err(_) => false,
    };
    if !accepted {
        state.email_throttle.record_failure(&email_key);
        state.ip_throttle.record_failure(&ip_key);
        return code_page(
            StatusCode::UNAUTHORIZED,
            form_token(&req, &state)?,
            Some(WRONG_CODE.to_owned()),
        );
    }
    state.email_throttle.clear(&email_key);
    sign_in(&session, user.id, &Origin::of(&req), now)?;
    signed_in_response()
}
