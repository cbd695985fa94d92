//! CSRF guard for every state-changing request on cookie-authenticated routes (it wraps
//! only the dashboard; key-authenticated API routes carry no cookies and need no token).
//!
//! The token is accepted as the `X-CSRF-Token` header (htmx) or the `csrf_token` field of a
//! url-encoded form (plain forms, so pages work with JavaScript off). The form body is read
//! here, bounded, and handed back to the handler untouched.

use actix_session::SessionExt;
use actix_web::HttpMessage;
use actix_web::body::MessageBody;
use actix_web::dev::{Payload, ServiceRequest, ServiceResponse};
use actix_web::http::{Method, header};
use actix_web::middleware::Next;
use actix_web::web::{Bytes, BytesMut};
use futures_util::StreamExt;

use super::constant_time_eq;
use super::current_user::stored_csrf_token;
use super::login_csrf;
use crate::error::AppError;

pub const HEADER: &str = "X-CSRF-Token";
pub const FIELD: &str = "csrf_token";
/// The unsafe requests made before a session exists: the password, then the two-factor code.
const PRE_SESSION_PATHS: [&str; 2] = ["/login", "/login/code"];
/// The largest dashboard form we accept; the API routes have their own JSON limit.
pub const FORM_LIMIT: usize = crate::middleware::BODY_LIMIT;

fn is_safe(method: &Method) -> bool {
    matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS)
}

async fn read_body(req: &mut ServiceRequest) -> Result<Bytes, AppError> {
    let mut payload = req.take_payload();
    let mut body = BytesMut::new();
    while let Some(chunk) = payload.next().await {
        let chunk =
            chunk.map_err(|e| AppError::Unexpected(anyhow::anyhow!("reading body: {e}")))?;
        if body.len() + chunk.len() > FORM_LIMIT {
            return Err(AppError::PayloadTooLarge);
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body.freeze())
}

fn field_from_form(body: &[u8]) -> Option<String> {
    serde_urlencoded::from_bytes::<Vec<(String, String)>>(body)
        .ok()?
        .into_iter()
        .find_map(|(k, v)| (k == FIELD).then_some(v))
}

pub async fn guard(
    mut req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    if is_safe(req.method()) {
        return next.call(req).await;
    }
    let expected = if PRE_SESSION_PATHS.contains(&req.path()) {
        // Before sign-in there is no session: the form's token is checked against its cookie.
        let state = req
            .app_data::<actix_web::web::Data<crate::state::AppState>>()
            .ok_or(AppError::Csrf)?;
        login_csrf::presented(req.request(), &state.cookie_key).ok_or(AppError::Csrf)?
    } else {
        stored_csrf_token(&req.get_session()).ok_or(AppError::Csrf)?
    };
    let presented = match req.headers().get(HEADER).and_then(|v| v.to_str().ok()) {
        Some(token) => Some(token.to_owned()),
        None => {
            let is_form = req
                .headers()
                .get(header::CONTENT_TYPE)
                .and_then(|v| v.to_str().ok())
                .is_some_and(|ct| ct.starts_with("application/x-www-form-urlencoded"));
            if is_form {
                let body = read_body(&mut req).await?;
                let token = field_from_form(&body);
                req.set_payload(Payload::from(body));
                token
            } else {
                None
            }
        }
    };
    match presented {
        Some(token) if constant_time_eq(token.as_bytes(), expected.as_bytes()) => {
            next.call(req).await
        }
        _ => Err(AppError::Csrf.into()),
    }
}
