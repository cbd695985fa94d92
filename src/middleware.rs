//! Cross-cutting HTTP policy: security headers and the request body limit.

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header;
use actix_web::middleware::{DefaultHeaders, Next};

use crate::error::AppError;
use crate::routes::api::error::ApiError;

/// The largest request body accepted anywhere (dashboard forms and API JSON alike).
pub const BODY_LIMIT: usize = 64 * 1024;

/// SPEC §8: no inline script, no framing, no sniffing, no referrer; pages are never cached
/// (a one-time key reveal must not survive in a cache). Static assets set their own caching.
pub fn security_headers() -> DefaultHeaders {
    DefaultHeaders::new()
        .add((
            header::CONTENT_SECURITY_POLICY,
            "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
             frame-ancestors 'none'; base-uri 'none'; form-action 'self'",
        ))
        .add((header::X_FRAME_OPTIONS, "DENY"))
        .add((header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .add((header::REFERRER_POLICY, "no-referrer"))
        .add((header::CACHE_CONTROL, "no-store"))
}

/// Refuses bodies over the limit up front when their length is declared; extractors enforce
/// the same limit on bodies sent without a length.
pub async fn body_limit(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    if declared.is_some_and(|len| len > BODY_LIMIT) {
        if req.path().starts_with("/api/") {
            return Err(ApiError::from(AppError::PayloadTooLarge).into());
        }
        return Err(AppError::PayloadTooLarge.into());
    }
    next.call(req).await
}
