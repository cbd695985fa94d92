//! `POST /api/v1/secret-scanning/github`: GitHub's secret-scanning partner reports (SPEC §12).
//! The signature is checked over the raw body before anything is read from it.

use actix_web::{HttpRequest, HttpResponse, web};

use super::error::{ApiError, ErrorCode};
use crate::auth::scope::client_ip;
use crate::db::audit::Actor;
use crate::domain::leak::{MAX_TOKENS, ReportedToken};
use crate::services;
use crate::state::AppState;

pub const KEY_ID_HEADER: &str = "Github-Public-Key-Identifier";
pub const SIGNATURE_HEADER: &str = "Github-Public-Key-Signature";
/// Past this many client addresses in the rate limiter, idle ones are dropped.
const TRACKED_ADDRESSES: usize = 10_000;

fn header<'r>(req: &'r HttpRequest, name: &str) -> Option<&'r str> {
    req.headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .filter(|v| !v.trim().is_empty())
}

fn unsigned(message: &str) -> ApiError {
    ApiError::new(ErrorCode::Unauthenticated, message)
}

pub async fn github(
    req: HttpRequest,
    body: web::Bytes,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let ip = client_ip(&req);
    let address = ip
        .as_deref()
        .and_then(|a| a.parse().ok())
        .unwrap_or(std::net::IpAddr::from([0, 0, 0, 0]));
    // Forget addresses whose budget is full again, so a spread-out flood cannot grow the map.
    if state.leak_limiter.len() > TRACKED_ADDRESSES {
        state.leak_limiter.retain_recent();
    }
    if let Err(wait) = state.leak_limiter.check_key(&address) {
        let secs = wait
            .wait_time_from(governor::clock::Clock::now(
                &governor::clock::DefaultClock::default(),
            ))
            .as_secs()
            .max(1);
        return Err(ApiError {
            retry_after_secs: Some(secs),
            ..ApiError::new(
                ErrorCode::RateLimited,
                "Too many leak reports; retry later.",
            )
        });
    }
    let keys = &state.config.secret_scanning_keys;
    if keys.is_empty() {
        return Err(unsigned(
            "This installation takes no leak reports: KEYWARD_SECRET_SCANNING_KEYS is not set.",
        ));
    }
    let (Some(key_id), Some(signature)) =
        (header(&req, KEY_ID_HEADER), header(&req, SIGNATURE_HEADER))
    else {
        return Err(unsigned(
            "Github-Public-Key-Identifier and Github-Public-Key-Signature are required.",
        ));
    };
    if !keys.verify(key_id, signature, &body) {
        tracing::warn!(key_identifier = %key_id, "refused a leak report whose signature does not verify");
        return Err(unsigned(
            "The signature does not verify with a known public key.",
        ));
    }
    let tokens: Vec<ReportedToken> = serde_json::from_slice(&body).map_err(|e| {
        ApiError::new(
            ErrorCode::InvalidInput,
            format!(
                "The body is not a JSON array of {{\"token\", \"type\", \"url\", \"source\"}}: {e}"
            ),
        )
    })?;
    if tokens.len() > MAX_TOKENS {
        return Err(ApiError::new(
            ErrorCode::InvalidInput,
            format!("A report may carry at most {MAX_TOKENS} tokens; split it."),
        ));
    }
    let change = state.change(Actor {
        ip,
        ..Actor::leak_report()
    });
    let action = state.config.leak_action;
    let feedback = services::run(&state.pool, move |conn| {
        services::leaks::report(conn, &tokens, action, &change)
    })
    .await?;
    Ok(HttpResponse::Ok().json(feedback))
}
