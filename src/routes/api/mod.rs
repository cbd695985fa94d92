//! The JSON API. Routes and the OpenAPI document come from one list, so neither can miss one.

pub mod audit;
pub mod auth;
pub mod body;
pub mod error;
pub mod forward_auth;
pub mod keys;
pub mod leaks;
pub mod openapi;
pub mod verify;

use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{self, HeaderValue};
use actix_web::middleware::{Next, from_fn};
use actix_web::{HttpResponse, ResponseError, web};

use error::{ApiError, ErrorCode};
use openapi::{
    Credential, EVERY_ROUTE, FORWARD_AUTH_REFUSED, FORWARD_AUTH_VALID, INTERNAL, INVALID,
    KEY_REFUSED, NAME_TAKEN, NOT_FOUND, RATE_LIMIT, REVOKED, REVOKED_OR_NAME_TAKEN, Reply, Request,
    VERIFY_REFUSED, of, query,
};

/// One API operation: how it is routed and how it is documented.
pub struct Operation {
    /// Lower case, as in the route list; `any` routes every method.
    pub method: &'static str,
    /// The methods the document lists it under (for `any`, every one OpenAPI names).
    pub http_methods: &'static [utoipa::openapi::HttpMethod],
    pub path: &'static str,
    pub summary: &'static str,
    pub credential: Credential,
    pub request: Option<Request>,
    pub query: Option<openapi::Params>,
    /// Every answer it can give: its success first, then its refusals, in groups (the last
    /// one, `EVERY_ROUTE`, is what any route can answer).
    pub answers: &'static [&'static [Reply]],
}

macro_rules! http_methods {
    (get) => {
        &[utoipa::openapi::HttpMethod::Get]
    };
    (post) => {
        &[utoipa::openapi::HttpMethod::Post]
    };
    (patch) => {
        &[utoipa::openapi::HttpMethod::Patch]
    };
    (delete) => {
        &[utoipa::openapi::HttpMethod::Delete]
    };
    (any) => {
        &[
            utoipa::openapi::HttpMethod::Get,
            utoipa::openapi::HttpMethod::Post,
            utoipa::openapi::HttpMethod::Put,
            utoipa::openapi::HttpMethod::Patch,
            utoipa::openapi::HttpMethod::Delete,
            utoipa::openapi::HttpMethod::Head,
            utoipa::openapi::HttpMethod::Options,
            utoipa::openapi::HttpMethod::Trace,
        ]
    };
}

macro_rules! route {
    (any) => {
        web::route()
    };
    ($method:ident) => {
        web::$method()
    };
}

/// Answers every method.
const ANY: &str = "any";

macro_rules! api_operations {
    ($( $method:ident $path:literal => $handler:path, $summary:literal,
        key: $credential:ident, request: $request:expr, query: $query:expr,
        ok: $ok:expr, refusals: [$($refusals:expr),* $(,)?]; )*) => {
        /// Every operation under /api/v1, in the order the document lists them.
        pub const OPERATIONS: &[Operation] = &[
            $( Operation {
                method: stringify!($method),
                http_methods: http_methods!($method),
                path: $path,
                summary: $summary,
                credential: Credential::$credential,
                request: $request,
                query: $query,
                answers: &[&[$ok], $($refusals,)* EVERY_ROUTE],
            }, )*
        ];

        fn register(cfg: &mut web::ServiceConfig) {
            $( cfg.route($path, route!($method).to($handler)); )*
        }
    };
}

api_operations! {
    post "/keys/verify" => verify::verify, "Verify an API key",
        key: AnyKey, request: Some(Request::optional(of::<verify::VerifyBody>)), query: None,
        ok: Reply::json(200, "The key is valid.", of::<verify::ValidBody>).with_headers(RATE_LIMIT),
        refusals: [VERIFY_REFUSED, INTERNAL];
    get "/api-keys" => keys::list, "List the environment's API keys (no secrets), a page at a time",
        key: AdminKey, request: None, query: Some(query::<keys::ListQuery>),
        ok: Reply::json(200, "A page of keys, newest first, and the cursor of the next page.",
            of::<keys::ApiKeyList>),
        refusals: [KEY_REFUSED, INVALID, INTERNAL];
    post "/api-keys/lookup" => keys::lookup, "Which key is this? Find a key by its whole plaintext",
        key: AdminKey, request: Some(Request::required(of::<keys::LookupBody>)), query: None,
        ok: Reply::json(200, "The key.", of::<keys::ApiKeyJson>),
        refusals: [KEY_REFUSED, NOT_FOUND, INVALID, INTERNAL];
    post "/api-keys" => keys::create, "Create an API key; the response carries its plaintext once",
        key: AdminKey, request: Some(Request::required(openapi::create_key_request)), query: None,
        ok: Reply::json(201, "Created; `key` holds the plaintext, shown in this response only.",
            openapi::api_key_with_secret),
        refusals: [KEY_REFUSED, INVALID, NAME_TAKEN, INTERNAL];
    get "/api-keys/{id}" => keys::get, "Get one API key",
        key: AdminKey, request: None, query: None,
        ok: Reply::json(200, "The key.", of::<keys::ApiKeyJson>),
        refusals: [KEY_REFUSED, NOT_FOUND, INTERNAL];
    patch "/api-keys/{id}" => keys::patch, "Change name, description, ON/OFF, rate limit or expiry",
        key: AdminKey, request: Some(Request::required(of::<keys::PatchBody>)), query: None,
        ok: Reply::json(200, "The key as changed.", of::<keys::ApiKeyJson>),
        refusals: [KEY_REFUSED, NOT_FOUND, INVALID, REVOKED_OR_NAME_TAKEN, INTERNAL];
    delete "/api-keys/{id}" => keys::revoke, "Revoke an API key for good",
        key: AdminKey, request: None, query: None,
        ok: Reply::empty(204, "Revoked."),
        refusals: [KEY_REFUSED, NOT_FOUND, INTERNAL];
    post "/api-keys/{id}/rotate" => keys::rotate, "Rotate: a new secret, optionally keeping the old one for a grace period",
        key: AdminKey, request: Some(Request::optional(of::<keys::RotateBody>)), query: None,
        ok: Reply::json(200, "Rotated; `key` holds the new plaintext, shown in this response only.",
            openapi::api_key_with_secret),
        refusals: [KEY_REFUSED, NOT_FOUND, INVALID, REVOKED, INTERNAL];
    get "/api-keys/{id}/usage" => keys::usage, "Per-minute (or with `hours`, per-hour) verification counts, newest first",
        key: AdminKey, request: None, query: Some(query::<keys::UsageQuery>),
        ok: Reply::json(200, "One entry per minute (`minutes`), or per hour (`hours`), newest first.",
            openapi::usage_rows),
        refusals: [KEY_REFUSED, NOT_FOUND, INVALID, INTERNAL];
    get "/audit-events" => audit::list, "The environment's audit events, newest first",
        key: AdminKey, request: None, query: Some(query::<audit::AuditQuery>),
        ok: Reply::json(200, "Events, newest first, and the cursor of the next page.",
            of::<audit::AuditEventList>),
        refusals: [KEY_REFUSED, INVALID, INTERNAL];
    post "/secret-scanning/github" => leaks::github, "GitHub secret-scanning partner reports: a live key named in one is switched off",
        key: NoKey, request: Some(Request::required(openapi::array_of::<crate::domain::leak::ReportedToken>)), query: None,
        ok: Reply::json(200, "GitHub's feedback: one entry per reported token.",
            openapi::array_of::<crate::domain::leak::LeakFeedback>),
        refusals: [openapi::LEAK_REFUSED, INTERNAL];
    any "/auth" => forward_auth::check, "Forward authentication: may this request through the gateway pass?",
        key: AnyKey, request: None, query: Some(forward_auth::parameters),
        ok: Reply::empty(200, "The key is valid; the identity headers are for the upstream.")
            .with_headers(FORWARD_AUTH_VALID),
        refusals: [FORWARD_AUTH_REFUSED, INVALID, INTERNAL];
    get "/openapi.json" => openapi::document, "This document",
        key: NoKey, request: None, query: None,
        ok: Reply::json(200, "The OpenAPI 3.1 document of this API.", openapi::any_object),
        refusals: [];
}

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::scope("/api")
            .wrap(from_fn(json_errors))
            .service(
                web::scope("/v1")
                    .app_data(web::PayloadConfig::default().limit(crate::middleware::BODY_LIMIT))
                    .app_data(web::QueryConfig::default().error_handler(|err, _| {
                        ApiError::new(
                            ErrorCode::InvalidInput,
                            format!("The query string is not valid for this request: {err}"),
                        )
                        .into()
                    }))
                    // A path segment that cannot be read names nothing, as an unknown id.
                    .app_data(
                        web::PathConfig::default()
                            .error_handler(|_, _| ApiError::not_found("No such API route.").into()),
                    )
                    .configure(refuse_other_methods_on_fixed_paths)
                    .configure(register)
                    // Envoy's ext_authz appends the original path to the one it is given.
                    .route(
                        "/auth/{tail:.*}",
                        web::route().to(forward_auth::check_appended),
                    )
                    .configure(refuse_other_methods)
                    .default_service(web::to(not_found)),
            )
            .default_service(web::to(not_found)),
    );
}

/// Every path of the list answers the methods it does not route with 405 and `Allow`.
/// A fixed path such as `/api-keys/lookup` also matches a pattern such as `/api-keys/{id}`:
/// registered before the routes, this answers 405 for the fixed path's other methods first.
fn refuse_other_methods_on_fixed_paths(cfg: &mut web::ServiceConfig) {
    let mut paths: Vec<&'static str> = OPERATIONS
        .iter()
        .map(|op| op.path)
        .filter(|path| !path.contains('{') && !answers_any_method(path))
        .collect();
    paths.sort_unstable();
    paths.dedup();
    for path in paths {
        let allowed: Vec<String> = OPERATIONS
            .iter()
            .filter(|op| op.path == path)
            .map(|op| op.method.to_uppercase())
            .collect();
        let other = actix_web::guard::fn_guard(move |ctx| {
            !allowed.iter().any(|m| m == ctx.head().method.as_str())
        });
        cfg.route(
            path,
            web::route()
                .guard(other)
                .to(move || method_not_allowed(path)),
        );
    }
}

fn refuse_other_methods(cfg: &mut web::ServiceConfig) {
    let mut paths: Vec<&'static str> = OPERATIONS
        .iter()
        .map(|op| op.path)
        .filter(|path| !answers_any_method(path))
        .collect();
    paths.sort_unstable();
    paths.dedup();
    for path in paths {
        // Registered after the routes: reached only when no method of the path matched.
        cfg.service(web::resource(path).default_service(web::to(move || method_not_allowed(path))));
    }
}

/// A path routed for every method has no other method to refuse.
fn answers_any_method(path: &str) -> bool {
    OPERATIONS
        .iter()
        .any(|op| op.path == path && op.method == ANY)
}

/// The methods `path` answers, as `Allow` lists them.
pub fn allowed_methods(path: &str) -> String {
    OPERATIONS
        .iter()
        .filter(|op| op.path == path)
        .map(|op| op.method.to_uppercase())
        .collect::<Vec<_>>()
        .join(", ")
}

async fn method_not_allowed(path: &'static str) -> HttpResponse {
    let allow = allowed_methods(path);
    let mut response = ApiError::new(
        ErrorCode::MethodNotAllowed,
        format!("This route answers {allow} only."),
    )
    .error_response();
    if let Ok(value) = HeaderValue::from_str(&allow) {
        response.headers_mut().insert(header::ALLOW, value);
    }
    response
}

async fn not_found() -> HttpResponse {
    ApiError::not_found("No such API route.").error_response()
}

/// The last line of "every API error is the JSON envelope": an error answer made below the
/// handlers without one (an actix extractor or router this module did not configure) is
/// rewritten, keeping its status and headers.
async fn json_errors(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<EitherBody<impl MessageBody>>, actix_web::Error> {
    let res = next.call(req).await?;
    let status = res.status();
    let is_json = res
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    if !(status.is_client_error() || status.is_server_error()) || is_json {
        return Ok(res.map_into_left_body());
    }
    let (req, old) = res.into_parts();
    let code = ErrorCode::of_status(status);
    let message = status.canonical_reason().unwrap_or("The request failed.");
    let mut answer = ApiError::new(code, message).error_response();
    *answer.status_mut() = status;
    for (name, value) in old.headers() {
        if name != header::CONTENT_TYPE && name != header::CONTENT_LENGTH {
            answer.headers_mut().append(name.clone(), value.clone());
        }
    }
    Ok(ServiceResponse::new(req, answer).map_into_right_body())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use actix_web::http::{StatusCode, header};
    use actix_web::test as actix_test;
    use actix_web::{App, HttpResponse, web};

    use super::*;

    #[actix_web::test]
    async fn an_error_answer_made_without_the_envelope_gets_it_and_keeps_its_headers() {
        let app = actix_test::init_service(
            App::new().service(
                web::scope("/api")
                    .wrap(from_fn(json_errors))
                    .route(
                        "/plain",
                        web::get().to(|| async {
                            HttpResponse::BadRequest()
                                .insert_header((header::RETRY_AFTER, "7"))
                                .body("Query deserialize error")
                        }),
                    )
                    .route("/ok", web::get().to(|| async { "fine" })),
            ),
        )
        .await;
        let res = actix_test::call_service(
            &app,
            actix_test::TestRequest::get()
                .uri("/api/plain")
                .to_request(),
        )
        .await;
        assert_eq!(res.status(), StatusCode::BAD_REQUEST);
        assert_eq!(res.headers().get(header::RETRY_AFTER).unwrap(), "7");
        assert_eq!(
            res.headers().get(header::CONTENT_TYPE).unwrap(),
            "application/json"
        );
        let body: serde_json::Value = actix_test::read_body_json(res).await;
        assert_eq!(body["error"]["code"], "BAD_REQUEST");
        let ok = actix_test::call_service(
            &app,
            actix_test::TestRequest::get().uri("/api/ok").to_request(),
        )
        .await;
        assert_eq!(actix_test::read_body(ok).await, "fine");
    }

    #[test]
    fn allow_lists_each_method_of_a_path_once() {
        assert_eq!(allowed_methods("/api-keys"), "GET, POST");
        assert_eq!(allowed_methods("/api-keys/{id}"), "GET, PATCH, DELETE");
        assert_eq!(allowed_methods("/keys/verify"), "POST");
    }
}
