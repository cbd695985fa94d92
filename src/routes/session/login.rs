use actix_session::Session;
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use serde::Deserialize;

use crate::auth::current_user::{Origin, sign_in};
use crate::auth::login_csrf;
use crate::auth::password;
use crate::auth::pending_sign_in;
use crate::auth::scope::{client_ip, is_htmx};
use crate::auth::session_store::USER_ID_KEY;
use crate::db;
use crate::domain::user::{Email, Password};
use crate::error::AppError;
use crate::routes::page::{html, see_other};
use crate::services;
use crate::state::AppState;

/// One message for an unknown email and a wrong password, so neither can be told apart.
const WRONG_CREDENTIALS: &str = "Incorrect email or password.";

#[derive(Template)]
#[template(path = "pages/login.html")]
struct LoginPage {
    csrf: String,
    email: String,
    error: Option<String>,
}

/// The sign-in form's token: the one its valid cookie carries, or a new one with its cookie.
pub fn form_token(
    req: &HttpRequest,
    state: &AppState,
) -> Result<(String, Option<actix_web::cookie::Cookie<'static>>), AppError> {
    if let Some(token) = login_csrf::presented(req, &state.cookie_key) {
        return Ok((token, None));
    }
    let (token, cookie) = login_csrf::issue(&state.cookie_key, state.config.secure_cookies)?;
    Ok((token, Some(cookie)))
}

/// The page, with the form's cookie when it is new. No session is created for a visitor.
fn login_page(
    status: StatusCode,
    (csrf, cookie): (String, Option<actix_web::cookie::Cookie<'static>>),
    email: String,
    error: Option<String>,
) -> Result<HttpResponse, AppError> {
    let mut response = html(status, &LoginPage { csrf, email, error })?;
    if let Some(cookie) = cookie {
        response
            .add_cookie(&cookie)
            .map_err(|e| AppError::Unexpected(e.into()))?;
    }
    Ok(response)
}

pub async fn show(
    req: HttpRequest,
    session: Session,
    state: web::Data<AppState>,
) -> Result<HttpResponse, AppError> {
    if is_htmx(&req) {
        // An htmx request that was redirected here (session ended): navigate the whole page.
        return Ok(HttpResponse::Ok()
            .insert_header(("HX-Redirect", "/login"))
            .finish());
    }
    if session
        .get::<crate::domain::ids::UserId>(USER_ID_KEY)
        .ok()
        .flatten()
        .is_some()
    {
        return Ok(see_other("/"));
    }
    login_page(
        StatusCode::OK,
        form_token(&req, &state)?,
        String::new(),
        None,
    )
}

#[derive(Deserialize)]
pub struct LoginForm {
    email: String,
    password: String,
}

pub async fn submit(
    req: HttpRequest,
    session: Session,
    state: web::Data<AppState>,
    form: web::Form<LoginForm>,
) -> Result<HttpResponse, AppError> {
    let LoginForm { email, password } = form.into_inner();
    let email_key = format!("email:{}", email.trim().to_lowercase());
    let ip_key = format!("ip:{}", client_ip(&req).unwrap_or_default());
    let refuse = |status: StatusCode, message: String| -> Result<HttpResponse, AppError> {
        login_page(
            status,
            form_token(&req, &state)?,
            email.clone(),
            Some(message),
        )
    };
    if let Err(wait) = state
        .email_throttle
        .check(&email_key)
        .and_then(|()| state.ip_throttle.check(&ip_key))
    {
        let minutes = wait.as_secs().div_ceil(60).max(1);
        return refuse(
            StatusCode::TOO_MANY_REQUESTS,
            format!("Too many failed sign-in attempts. Try again in {minutes} minute(s)."),
        );
    }

    let presented = Password::presented(password);
    // Text that cannot be an address (a NUL byte, a space) is no account: it goes the way of an
    // unknown email, with the same message, count and argon2 work, and never to the database.
    let found = match Email::parse(&email) {
        Ok(address) => {
            services::run(&state.pool, move |conn| {
                Ok(db::users::find_by_email(conn, address.as_str())?)
            })
            .await?
        }
        Err(_) => None,
    };
    // argon2 runs after the connection went back to the pool.
    let user = services::blocking(move || {
        Ok(match found {
            Some(u) if password::verify(&presented, &u.password_hash) && !u.is_disabled() => {
                Some(u)
            }
            Some(_) => None,
            None => {
                password::verify_against_nothing(&presented);
                None
            }
        })
    })
    .await?;

    match user {
        Some(user) if user.has_two_factor() => {
            // Not a session yet: a signed, short-lived cookie, and the Code form.
            let now = state.clock.now();
            let pending = pending_sign_in::issue(
                &state.cookie_key,
                state.config.secure_cookies,
                user.id,
                &user.password_hash,
                now,
            )?;
            let mut response =
                super::code::code_page(StatusCode::OK, form_token(&req, &state)?, None)?;
            response
                .add_cookie(&pending)
                .map_err(|e| AppError::Unexpected(e.into()))?;
            Ok(response)
        }
        Some(user) => {
            state.email_throttle.clear(&email_key);
            // A new session with its own CSRF token; the form's cookie has served its purpose.
            sign_in(&session, user.id, &Origin::of(&req), state.clock.now())?;
            signed_in_response()
        }
        None => {
            state.email_throttle.record_failure(&email_key);
            state.ip_throttle.record_failure(&ip_key);
            refuse(StatusCode::UNAUTHORIZED, WRONG_CREDENTIALS.to_owned())
        }
    }
}

/// Into the dashboard, dropping the sign-in's own cookies (form token, pending sign-in).
pub fn signed_in_response() -> Result<HttpResponse, AppError> {
    let mut response = see_other("/");
    response
        .add_removal_cookie(&login_csrf::removal())
        .map_err(|e| AppError::Unexpected(e.into()))?;
    response
        .add_removal_cookie(&pending_sign_in::removal())
        .map_err(|e| AppError::Unexpected(e.into()))?;
    Ok(response)
}
