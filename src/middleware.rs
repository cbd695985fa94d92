//! Cross-cutting HTTP policy: request ids and logging, security headers and the request body
//! limit.

use std::cell::Cell;
use std::hash::{BuildHasher, RandomState};
use std::time::{Duration, Instant};

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::error::InternalError;
use actix_web::http::header::{self, HeaderName, HeaderValue};
use actix_web::http::{Method, StatusCode};
use actix_web::middleware::{DefaultHeaders, Next};
use tracing::{Instrument, Level};

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
/// the same limit on bodies sent without a length. Forward auth reads no body, so a gateway
/// that forwards the client's (of any size) is answered all the same.
pub async fn body_limit(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    if declared.is_some_and(|len| len > BODY_LIMIT) && !is_forward_auth(req.path()) {
        if req.path().starts_with("/api/") {
            return Err(ApiError::from(AppError::PayloadTooLarge).into());
        }
        return Err(AppError::PayloadTooLarge.into());
    }
    next.call(req).await
}

pub const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// A request's id: 16 hex digits, in the `X-Request-Id` answer header and its log lines.
struct RequestId([u8; 16]);

impl RequestId {
    fn next() -> Self {
        // A keyed hash of a per-thread counter: std's RandomState draws its keys from the OS
        // once per thread, so ids are unpredictable and distinct, and the verify hot path pays
        // no syscall for its id.
        thread_local! {
            static IDS: (RandomState, Cell<u64>) = (RandomState::new(), Cell::new(0));
        }
        let id = IDS.with(|(keys, count)| {
            count.set(count.get().wrapping_add(1));
            keys.hash_one(count.get())
        });
        let mut hex = [0u8; 16];
        // 8 bytes always fill 16 hex digits.
        let _ = hex::encode_to_slice(id.to_be_bytes(), &mut hex);
        Self(hex)
    }

    fn as_str(&self) -> &str {
        std::str::from_utf8(&self.0).unwrap_or_default()
    }
}

/// `/api/v1/auth`, or a path under it (Envoy appends the original request's path).
fn is_forward_auth(path: &str) -> bool {
    path == "/api/v1/auth" || path.starts_with("/api/v1/auth/")
}

/// Requests logged at debug only: a line per verification (or forward-auth check) would cost
/// throughput, and probes, scrapes and static files would drown the rest.
fn quiet(method: &Method, path: &str) -> bool {
    (method == Method::POST && path == "/api/v1/keys/verify")
        || is_forward_auth(path)
        || path.starts_with("/static/")
        || matches!(path, "/healthz" | "/readyz" | "/metrics")
}

/// The path as logged: never the query string, and no segment shaped like an API key, even a
/// mistyped one (a key pasted into a URL by mistake must not reach a log either).
fn loggable_path(path: &str) -> String {
    path.split('/')
        .map(|segment| {
            if segment.contains("_sk_") || segment.contains("_pk_") {
                "(redacted)"
            } else {
                segment
            }
        })
        .collect::<Vec<_>>()
        .join("/")
}

/// Milliseconds with two decimals.
struct Millis(Duration);

impl std::fmt::Display for Millis {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:.2}", self.0.as_secs_f64() * 1000.0)
    }
}

/// Gives every request an id, answers it in `X-Request-Id` (errors included), and logs one line
/// per request: method, path, status, duration and id. Never the query string, headers or
/// bodies: keys, tokens and cookies stay out of the log.
pub async fn request_log(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let started = Instant::now();
    let id = RequestId::next();
    let quiet = quiet(req.method(), req.path());
    let logged = if quiet {
        tracing::enabled!(Level::DEBUG)
    } else {
        tracing::enabled!(Level::INFO)
    };
    // Only what a log line needs, and only when one will be written.
    let line = logged.then(|| (req.method().clone(), loggable_path(req.path())));
    // Lines logged while handling the request (errors, say) carry its id.
    let span = if quiet {
        tracing::debug_span!("request", request_id = %id.as_str())
    } else {
        tracing::info_span!("request", request_id = %id.as_str())
    };
    let header = HeaderValue::from_bytes(&id.0).ok();
    let (result, status) = match next.call(req).instrument(span).await {
        Ok(mut res) => {
            if let Some(value) = header {
                res.headers_mut().insert(REQUEST_ID, value);
            }
            let status = res.status();
            (Ok(res), status)
        }
        // An inner middleware refused: answer its response now, so it carries the id too.
        Err(err) => {
            let mut response = err.error_response();
            if let Some(value) = header {
                response.headers_mut().insert(REQUEST_ID, value);
            }
            let status = response.status();
            (
                Err(InternalError::from_response(err, response).into()),
                status,
            )
        }
    };
    if let Some((method, path)) = line {
        log(quiet, &method, &path, status, started.elapsed(), &id);
    }
    result
}

fn log(
    quiet: bool,
    method: &Method,
    path: &str,
    status: StatusCode,
    took: Duration,
    id: &RequestId,
) {
    let (status, duration_ms, request_id) = (status.as_u16(), Millis(took), id.as_str());
    if quiet {
        tracing::debug!(%method, %path, status, %duration_ms, %request_id, "request");
    } else {
        tracing::info!(%method, %path, status, %duration_ms, %request_id, "request");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verification_and_forward_auth_log_at_debug_and_the_dashboard_and_api_at_info() {
        assert!(quiet(&Method::POST, "/api/v1/keys/verify"));
        assert!(quiet(&Method::GET, "/api/v1/auth/check"));
        assert!(quiet(&Method::GET, "/healthz"));
        assert!(!quiet(&Method::GET, "/api/v1/keys/verify"));
        assert!(!quiet(&Method::GET, "/api/v1/api-keys"));
        assert!(!quiet(&Method::GET, "/api/v1/authors"));
        assert!(!quiet(&Method::POST, "/login"));
        assert!(!quiet(
            &Method::GET,
            "/projects/default/environments/production/api-keys"
        ));
    }

    #[test]
    fn a_key_in_a_path_is_not_logged_even_with_a_typo() {
        let key = "kw_sk_live_0000000000000000000000000000000000000000000zzzzzz";
        assert_eq!(
            loggable_path(&format!("/api/v1/api-keys/{key}/usage")),
            "/api/v1/api-keys/(redacted)/usage"
        );
        assert_eq!(loggable_path("/api/v1/api-keys/42"), "/api/v1/api-keys/42");
    }

    #[test]
    fn request_ids_are_sixteen_hex_digits_and_differ() {
        let (a, b) = (RequestId::next(), RequestId::next());
        assert_eq!(a.as_str().len(), 16);
        assert!(a.as_str().chars().all(|c| c.is_ascii_hexdigit()));
        assert_ne!(a.as_str(), b.as_str());
    }
}
