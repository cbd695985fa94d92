use actix_session::Session;
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use serde::Deserialize;

use crate::auth::current_user::{csrf_token, sign_in};
use crate::auth::password;
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

pub async fn show(req: HttpRequest, session: Session) -> Result<HttpResponse, AppError> {
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
    let page = LoginPage {
        csrf: csrf_token(&session)?,
        email: String::new(),
        error: None,
    };
    html(StatusCode::OK, &page)
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
        let page = LoginPage {
            csrf: csrf_token(&session)?,
            email: email.clone(),
            error: Some(message),
        };
        html(status, &page)
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
        Some(user) => {
            state.email_throttle.clear(&email_key);
            sign_in(&session, user.id)?;
            Ok(see_other("/"))
        }
        None => {
            state.email_throttle.record_failure(&email_key);
            state.ip_throttle.record_failure(&ip_key);
            refuse(StatusCode::UNAUTHORIZED, WRONG_CREDENTIALS.to_owned())
        }
    }
}
