//! POST /api/v1/keys/verify: what SDKs and services call on every request.

use std::time::Instant;

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::state::AppState;
use crate::verify::{Code, Verdict};

pub const KEY_HEADER: &str = "X-API-Key";

/// Serialised straight from the cached state: no intermediate JSON tree on the hot path.
#[derive(Serialize)]
struct ValidBody<'a> {
    valid: bool,
    code: &'static str,
    key_id: crate::domain::ids::KeyId,
    name: &'a str,
    project: &'a str,
    environment: &'a str,
    #[serde(rename = "type")]
    key_type: &'static str,
    scopes: &'a [crate::domain::api_key::Scope],
    expires_at: Option<chrono::DateTime<chrono::Utc>>,
}

#[derive(Serialize)]
struct RefusedBody {
    valid: bool,
    code: &'static str,
    message: &'static str,
}

/// Optional constraints: the environment the caller expects, and a scope it needs.
#[derive(Debug, Default, Deserialize)]
pub struct VerifyBody<'a> {
    #[serde(borrow)]
    pub environment: Option<std::borrow::Cow<'a, str>>,
    #[serde(borrow)]
    pub scope: Option<std::borrow::Cow<'a, str>>,
}

pub fn presented_key(req: &HttpRequest) -> Option<&str> {
    req.headers()
        .get(KEY_HEADER)
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
}

pub async fn verify(
    req: HttpRequest,
    body: web::Bytes,
    state: web::Data<AppState>,
) -> HttpResponse {
    let started = Instant::now();
    let constraints = if body.iter().all(u8::is_ascii_whitespace) {
        VerifyBody::default()
    } else {
        match serde_json::from_slice::<VerifyBody>(&body) {
            Ok(c) => c,
            Err(e) => {
                return HttpResponse::BadRequest().json(json!({
                    "valid": false, "code": "BAD_REQUEST",
                    "message": format!("The body must be JSON like {{\"environment\": \"production\", \"scope\": \"write\"}}: {e}"),
                }));
            }
        }
    };
    let verdict = state
        .verifier
        .verify(
            presented_key(&req),
            constraints.environment.as_deref(),
            constraints.scope.as_deref(),
        )
        .await;
    let response = match verdict {
        Ok(verdict) => respond(&req, &verdict),
        Err(e) => {
            actix_web::ResponseError::error_response(&crate::routes::api::error::ApiError::from(e))
        }
    };
    state.metrics.verify_seconds.observe(started.elapsed());
    response
}

fn respond(req: &HttpRequest, verdict: &Verdict) -> HttpResponse {
    let status = StatusCode::from_u16(verdict.code.status()).unwrap_or(StatusCode::UNAUTHORIZED);
    let mut response = HttpResponse::build(status);
    if let Some(rate) = &verdict.rate {
        response
            .insert_header(("X-RateLimit-Limit", rate.limit.to_string()))
            .insert_header(("X-RateLimit-Remaining", rate.remaining.to_string()))
            .insert_header(("X-RateLimit-Reset", rate.reset_secs.to_string()));
        if let Some(secs) = rate.retry_after_secs {
            response.insert_header(("Retry-After", secs.to_string()));
        }
    }
    match (&verdict.key, verdict.code) {
        (Some(key), Code::Valid) => response.json(ValidBody {
            valid: true,
            code: Code::Valid.as_str(),
            key_id: key.key_id,
            name: &key.name,
            project: &key.project,
            environment: &key.environment,
            key_type: key.key_type.as_str(),
            scopes: &key.scopes,
            expires_at: key.expires_at,
        }),
        (_, code) => {
            let message = if code == Code::Malformed
                && req.query_string().contains('_')
                && presented_key(req).is_none()
            {
                "Keys are accepted only in the X-API-Key header, never in the URL."
            } else {
                code.message()
            };
            response.json(RefusedBody {
                valid: false,
                code: code.as_str(),
                message,
            })
        }
    }
}
