//! POST /api/v1/keys/verify: what SDKs and services call on every request.

use std::time::Instant;

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, ResponseError, web};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa::openapi::schema::{Object, ObjectBuilder, Type};

use super::body::{ApiBody, from_object};
use super::error::{ApiError, ErrorCode};
use crate::domain::api_key::{KeyType, Scope};
use crate::state::AppState;
use crate::verify::{Code, Presentation, Purpose, Verdict};

pub const KEY_HEADER: &str = "X-API-Key";

// Serialised straight from the cached state: no intermediate JSON tree on the hot path.
/// The key is valid.
#[derive(Serialize, ToSchema)]
#[schema(as = VerifyValid)]
pub struct ValidBody<'a> {
    valid: bool,
    #[schema(schema_with = valid_code)]
    code: &'static str,
    #[schema(value_type = i64)]
    key_id: crate::domain::ids::KeyId,
    name: &'a str,
    /// The slug of the key's project.
    project: &'a str,
    /// The slug of the key's environment.
    environment: &'a str,
    #[serde(rename = "type")]
    #[schema(value_type = KeyType)]
    key_type: &'static str,
    #[schema(value_type = Vec<Scope>)]
    scopes: &'a [crate::domain::api_key::Scope],
    #[schema(required = true)]
    expires_at: Option<chrono::DateTime<chrono::Utc>>,
    /// The customer or service the key belongs to.
    #[schema(required = true)]
    owner_id: Option<&'a str>,
    /// The key's metadata (a JSON object), or null. Written after the other fields straight
    /// from the cached JSON text (see `valid_response`), so serde never sees it.
    #[serde(skip_serializing_if = "always")]
    #[schema(value_type = Option<Object>, required = true)]
    meta: (),
}

fn always(_: &()) -> bool {
    true
}

/// The key is refused, or the request is malformed.
#[derive(Serialize, ToSchema)]
#[schema(as = VerifyRefused)]
pub struct RefusedBody<'a> {
    valid: bool,
    #[schema(schema_with = refused_code)]
    code: &'static str,
    message: &'a str,
}

impl<'a> RefusedBody<'a> {
    /// A refusal with one of §5's codes.
    pub fn new(code: Code, message: &'a str) -> Self {
        Self {
            valid: false,
            code: code.as_str(),
            message,
        }
    }
}

/// The code `verify` answers, with 400, to a body that is not a JSON object like `VerifyBody`.
const BAD_REQUEST: &str = "BAD_REQUEST";

fn valid_code() -> Object {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .enum_values(Some([Code::Valid.as_str()]))
        .build()
}

fn refused_code() -> Object {
    let codes = Code::ALL.iter().filter(|c| **c != Code::Valid);
    ObjectBuilder::new()
        .schema_type(Type::String)
        .enum_values(Some(codes.map(|c| c.as_str()).chain([BAD_REQUEST])))
        .build()
}

/// Optional constraints: the environment the caller expects, and a scope it needs.
/// Unknown fields are ignored.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[schema(as = VerifyRequest)]
pub struct VerifyBody<'a> {
    /// The slug of the environment the caller expects the key to belong to.
    #[serde(borrow)]
    #[schema(example = "production")]
    pub environment: Option<std::borrow::Cow<'a, str>>,
    /// A scope the key must hold.
    #[serde(borrow)]
    #[schema(value_type = Option<Scope>)]
    pub scope: Option<std::borrow::Cow<'a, str>>,
    /// The address of the caller's own client, as the calling service sees it: what a key's
    /// `allowed_ips` restrict.
    #[serde(borrow)]
    #[schema(schema_with = ip_schema)]
    pub ip: Option<std::borrow::Cow<'a, str>>,
    /// The `Origin` the caller's client sent: what a key's `allowed_origins` restrict.
    #[serde(borrow)]
    #[schema(value_type = Option<String>, example = "https://app.example.com")]
    pub origin: Option<std::borrow::Cow<'a, str>>,
}

/// The verify body's `ip`: an IPv4 or IPv6 address, or null.
fn ip_schema() -> utoipa::openapi::schema::Schema {
    use utoipa::openapi::schema::{AnyOfBuilder, KnownFormat, SchemaFormat};
    let of = |format| {
        ObjectBuilder::new()
            .schema_type(Type::String)
            .format(Some(SchemaFormat::KnownFormat(format)))
    };
    AnyOfBuilder::new()
        .description(Some(
            "The address of the caller's own client, as the calling service sees it: what a \
             key's allowed_ips restrict.",
        ))
        .item(of(KnownFormat::Ipv4))
        .item(of(KnownFormat::Ipv6))
        .item(ObjectBuilder::new().schema_type(Type::Null))
        .build()
        .into()
}

pub fn presented_key(req: &HttpRequest) -> Option<&str> {
    req.headers()
        .get(KEY_HEADER)
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
}

pub async fn verify(
    req: HttpRequest,
    body: Result<ApiBody, ApiError>,
    state: web::Data<AppState>,
) -> HttpResponse {
    let started = Instant::now();
    let body = match body {
        Ok(body) => body,
        Err(e) if e.code == ErrorCode::PayloadTooLarge => return e.error_response(),
        Err(_) => return bad_request(format_args!("the body could not be read")),
    };
    let constraints = if body.is_empty() {
        VerifyBody::default()
    } else {
        match from_object::<VerifyBody>(&body.0) {
            Ok(c) => c,
            Err(e) => return bad_request(e),
        }
    };
    let ip = match constraints.ip.as_deref().map(|ip| ip.trim().parse()) {
        None => None,
        Some(Ok(ip)) => Some(ip),
        Some(Err(_)) => {
            return bad_request(format_args!(
                "\"ip\" must be an IPv4 or IPv6 address such as 203.0.113.7"
            ));
        }
    };
    let verdict = state
        .verifier
        .verify(&Presentation {
            key: presented_key(&req),
            environment: constraints.environment.as_deref(),
            scope: constraints.scope.as_deref(),
            ip,
            origin: constraints.origin.as_deref(),
            purpose: Purpose::Verify,
        })
        .await;
    let response = match verdict {
        Ok(verdict) => respond(&req, &verdict),
        Err(e) => ApiError::from(e).error_response(),
    };
    state.metrics.verify_seconds.observe(started.elapsed());
    response
}

/// SPEC §5's 400: the body is not a JSON object like `VerifyRequest`.
fn bad_request(why: impl std::fmt::Display) -> HttpResponse {
    HttpResponse::BadRequest().json(RefusedBody {
        valid: false,
        code: BAD_REQUEST,
        message: &format!(
            "The body must be a JSON object like {{\"environment\": \"production\", \"scope\": \"write\"}}: {why}"
        ),
    })
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
    if let Some(quota) = &verdict.quota {
        response
            .insert_header(("X-Quota-Limit", quota.limit.to_string()))
            .insert_header(("X-Quota-Remaining", quota.remaining.to_string()));
        if let Some(secs) = quota.reset_secs {
            response.insert_header(("X-Quota-Reset", secs.to_string()));
        }
    }
    match (&verdict.key, verdict.code) {
        (Some(key), Code::Valid) => valid_response(response, key),
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

/// The 200 body, serialised from the cached state; the metadata's cached JSON text is appended
/// as the last member, so a VALID answer never builds a JSON tree for it.
fn valid_response(
    mut response: actix_web::HttpResponseBuilder,
    key: &crate::verify::key_state::KeyState,
) -> HttpResponse {
    let body = ValidBody {
        valid: true,
        code: Code::Valid.as_str(),
        key_id: key.key_id,
        name: &key.name,
        project: key.project(),
        environment: key.environment(),
        key_type: key.key_type.as_str(),
        scopes: key.scopes.as_slice(),
        expires_at: key.expires_at,
        owner_id: key.owner_id(),
        meta: (),
    };
    let Ok(mut json) = serde_json::to_vec(&body) else {
        return HttpResponse::InternalServerError().finish();
    };
    // `json` is an object; replace its closing brace with the metadata member.
    json.pop();
    json.extend_from_slice(b",\"meta\":");
    json.extend_from_slice(key.meta_json().unwrap_or("null").as_bytes());
    json.push(b'}');
    response.content_type("application/json").body(json)
}
