//! `/api/v1/auth`, any method: forward authentication for gateways (SPEC §13). nginx
//! `auth_request`, Traefik `ForwardAuth`, Envoy `ext_authz` and Caddy `forward_auth` ask it
//! about each request they carry; it answers from the same decision as verify (the one
//! `Verifier`: same cache, rate limits, usage counts and metrics), from headers only. The body
//! is never read, so a gateway that forwards one costs nothing but the bytes.

use std::time::Instant;

use actix_web::http::StatusCode;
use actix_web::http::header::{HeaderMap, HeaderValue};
use actix_web::{HttpRequest, HttpResponse, ResponseError, web};
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use serde::Deserialize;
use utoipa::openapi::Required;
use utoipa::openapi::path::{Parameter, ParameterBuilder, ParameterIn};
use utoipa::openapi::schema::{ObjectBuilder, Type};

use super::error::ApiError;
use super::verify::{KEY_HEADER, RefusedBody};
use crate::auth::scope::client_addr;
use crate::state::AppState;
use crate::verify::key_state::KeyState;
use crate::verify::{Code, Presentation, Purpose, Verdict};

pub const ENVIRONMENT_HEADER: &str = "X-Keyward-Environment";
pub const SCOPE_HEADER: &str = "X-Keyward-Scope";

/// Identity headers of a 200, for the gateway to pass upstream.
pub const KEY_ID_HEADER: &str = "X-Keyward-Key-Id";
pub const KEY_NAME_HEADER: &str = "X-Keyward-Key-Name";
pub const OWNER_HEADER: &str = "X-Keyward-Owner";
pub const SCOPES_HEADER: &str = "X-Keyward-Scopes";
/// On every refusal: §5's code, for the gateway to pass back to the client.
pub const CODE_HEADER: &str = "X-Keyward-Code";

/// Stands for a header that is present but not readable text: it names no environment, scope
/// or origin, so the checks that read it refuse rather than skip.
const UNREADABLE: &str = "\u{fffd}";

/// Everything but letters, digits and `-._~` is percent-encoded (UTF-8) in a name or owner.
const HEADER_TEXT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// Which gateway is asking, when it cannot pass a 429 on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Gateway {
    /// nginx's `auth_request` accepts 200, 401 and 403 only: a 429 becomes 403.
    Nginx,
}

#[derive(Debug, Default, Deserialize)]
pub struct AuthQuery {
    pub gateway: Option<Gateway>,
}

/// `/api/v1/auth?gateway=`: the path gateways are configured with.
pub async fn check(
    req: HttpRequest,
    query: web::Query<AuthQuery>,
    state: web::Data<AppState>,
) -> HttpResponse {
    answer(&req, query.gateway, &state).await
}

/// `/api/v1/auth/<anything>`: Envoy's `ext_authz` appends the original request's path (and
/// query) to the configured prefix. That query is the client's, so nothing is read from it.
pub async fn check_appended(req: HttpRequest, state: web::Data<AppState>) -> HttpResponse {
    answer(&req, None, &state).await
}

async fn answer(req: &HttpRequest, gateway: Option<Gateway>, state: &AppState) -> HttpResponse {
    let started = Instant::now();
    let headers = req.headers();
    let verdict = state
        .verifier
        .verify(&Presentation {
            key: presented_key(headers),
            environment: given(headers, ENVIRONMENT_HEADER),
            scope: given(headers, SCOPE_HEADER),
            ip: client_addr(req),
            origin: given(headers, "origin"),
            purpose: Purpose::ForwardAuth,
        })
        .await;
    let response = match verdict {
        Ok(verdict) => respond(&verdict, gateway),
        Err(e) => ApiError::from(e).error_response(),
    };
    state.metrics.verify_seconds.observe(started.elapsed());
    response
}

/// A header's value; empty counts as absent, and one that is not text as `UNREADABLE`.
fn given<'r>(headers: &'r HeaderMap, name: &str) -> Option<&'r str> {
    let value = headers.get(name)?;
    if value.as_bytes().trim_ascii().is_empty() {
        return None;
    }
    Some(value.to_str().map_or(UNREADABLE, str::trim))
}

/// The key from `X-API-Key`, or only when that is absent (or empty) from `Authorization:
/// Bearer`: an app may carry its end user's token there beside its own API key.
pub fn presented_key(headers: &HeaderMap) -> Option<&str> {
    match given(headers, KEY_HEADER) {
        Some(key) => Some(key),
        None => bearer(headers),
    }
}

fn bearer(headers: &HeaderMap) -> Option<&str> {
    let value = given(headers, "authorization")?;
    let (scheme, token) = value.split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}

fn respond(verdict: &Verdict, gateway: Option<Gateway>) -> HttpResponse {
    let code = verdict.code;
    let status = match (code.status(), gateway) {
        (429, Some(Gateway::Nginx)) => StatusCode::FORBIDDEN,
        (status, _) => StatusCode::from_u16(status).unwrap_or(StatusCode::UNAUTHORIZED),
    };
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
    match (&verdict.key, code) {
        (Some(key), Code::Valid) => {
            for (name, value) in Identity::of(key).headers() {
                response.insert_header((name, value));
            }
            response.finish()
        }
        (_, code) => {
            let message = if code == Code::Malformed {
                "Send a well-formed API key in the X-API-Key header or as Authorization: Bearer."
            } else {
                code.message()
            };
            response
                .insert_header((CODE_HEADER, code.as_str()))
                .json(RefusedBody::new(code, message))
        }
    }
}

/// Who is calling, as the upstream is told.
struct Identity<'a> {
    key: &'a KeyState,
    /// The customer or service the key belongs to (SPEC §11's `owner_id`), when it has one.
    owner: Option<&'a str>,
}

impl<'a> Identity<'a> {
    fn of(key: &'a KeyState) -> Self {
        Self {
            key,
            owner: key.owner_id(),
        }
    }

    fn headers(&self) -> impl Iterator<Item = (&'static str, HeaderValue)> + use<'a> {
        let key = self.key;
        let scopes: Vec<&str> = key.scopes.as_slice().iter().map(|s| s.as_str()).collect();
        [
            (KEY_ID_HEADER, Some(key.key_id.to_string())),
            (KEY_NAME_HEADER, Some(encoded(&key.name))),
            (OWNER_HEADER, self.owner.map(encoded)),
            (SCOPES_HEADER, Some(scopes.join(","))),
            (ENVIRONMENT_HEADER, Some(key.environment().to_owned())),
        ]
        .into_iter()
        .filter_map(|(name, value)| Some((name, HeaderValue::try_from(value?).ok()?)))
    }
}

fn encoded(text: &str) -> String {
    utf8_percent_encode(text, HEADER_TEXT).to_string()
}

/// The document's parameters: the gateway's query and the headers it adds.
pub fn parameters() -> Vec<Parameter> {
    let text = || ObjectBuilder::new().schema_type(Type::String);
    vec![
        ParameterBuilder::new()
            .name("gateway")
            .parameter_in(ParameterIn::Query)
            .required(Required::False)
            .description(Some(
                "`nginx`: answer only what nginx's auth_request accepts (a 429 becomes 403, \
                 with the same `X-Keyward-Code` and `Retry-After`).",
            ))
            .schema(Some(text().enum_values(Some(["nginx"]))))
            .build(),
        ParameterBuilder::new()
            .name(ENVIRONMENT_HEADER)
            .parameter_in(ParameterIn::Header)
            .required(Required::False)
            .description(Some(
                "The slug of the environment the key must belong to (empty: any).",
            ))
            .schema(Some(text()))
            .build(),
        ParameterBuilder::new()
            .name(SCOPE_HEADER)
            .parameter_in(ParameterIn::Header)
            .required(Required::False)
            .description(Some("A scope the key must hold (empty: none)."))
            .schema(Some(text()))
            .build(),
    ]
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use actix_web::http::header::{HeaderName, HeaderValue};

    use super::*;

    fn headers(pairs: &[(&'static str, &[u8])]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.append(
                HeaderName::from_static(name),
                HeaderValue::from_bytes(value).unwrap(),
            );
        }
        map
    }

    #[test]
    fn x_api_key_wins_and_bearer_is_case_insensitive() {
        let both = headers(&[
            ("x-api-key", b"from-header"),
            ("authorization", b"Bearer tok"),
        ]);
        assert_eq!(presented_key(&both), Some("from-header"));
        let empty = headers(&[("x-api-key", b"  "), ("authorization", b"bEaReR  tok ")]);
        assert_eq!(presented_key(&empty), Some("tok"));
        assert_eq!(
            presented_key(&headers(&[("authorization", b"Basic dXNlcjpwYXNz")])),
            None
        );
        assert_eq!(
            presented_key(&headers(&[("authorization", b"Bearer ")])),
            None
        );
        assert_eq!(presented_key(&HeaderMap::new()), None);
    }

    #[test]
    fn an_unreadable_header_is_never_taken_for_an_absent_one() {
        let map = headers(&[("x-keyward-scope", b"\xff"), ("x-api-key", b"\xfe")]);
        assert_eq!(given(&map, SCOPE_HEADER), Some(UNREADABLE));
        // An unreadable X-API-Key is still the key presented: no falling back to Bearer.
        let map = headers(&[("x-api-key", b"\xfe"), ("authorization", b"Bearer tok")]);
        assert_eq!(presented_key(&map), Some(UNREADABLE));
    }

    #[test]
    fn names_and_owners_are_percent_encoded_as_utf8() {
        assert_eq!(encoded("billing svc/é,1"), "billing%20svc%2F%C3%A9%2C1");
        assert_eq!(encoded("a-b.c_d~e"), "a-b.c_d~e");
    }
}
