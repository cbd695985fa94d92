//! The JSON API. Routes and the OpenAPI document come from one list, so neither can miss one.

pub mod auth;
pub mod error;
pub mod keys;
pub mod openapi;
pub mod verify;

use actix_web::web;

use openapi::{
    Credential, INTERNAL, INVALID, KEY_REFUSED, NOT_FOUND, RATE_LIMIT, Reply, Request, TOO_LARGE,
    VERIFY_REFUSED, of, query,
};

/// One API operation: how it is routed and how it is documented.
pub struct Operation {
    /// Lower case, as in the route list.
    pub method: &'static str,
    pub http_method: utoipa::openapi::HttpMethod,
    pub path: &'static str,
    pub summary: &'static str,
    pub credential: Credential,
    pub request: Option<Request>,
    pub query: Option<openapi::Params>,
    /// Every answer it can give: its success first, then its refusals, in groups.
    pub answers: &'static [&'static [Reply]],
}

macro_rules! http_method {
    (get) => {
        utoipa::openapi::HttpMethod::Get
    };
    (post) => {
        utoipa::openapi::HttpMethod::Post
    };
    (patch) => {
        utoipa::openapi::HttpMethod::Patch
    };
    (delete) => {
        utoipa::openapi::HttpMethod::Delete
    };
}

macro_rules! api_operations {
    ($( $method:ident $path:literal => $handler:path, $summary:literal,
        key: $credential:ident, request: $request:expr, query: $query:expr,
        ok: $ok:expr, refusals: [$($refusals:expr),* $(,)?]; )*) => {
        /// Every operation under /api/v1, in the order the document lists them.
        pub const OPERATIONS: &[Operation] = &[
            $( Operation {
                method: stringify!($method),
                http_method: http_method!($method),
                path: $path,
                summary: $summary,
                credential: Credential::$credential,
                request: $request,
                query: $query,
                answers: &[&[$ok], $($refusals),*],
            }, )*
        ];

        fn register(cfg: &mut web::ServiceConfig) {
            $( cfg.route($path, web::$method().to($handler)); )*
        }
    };
}

api_operations! {
    post "/keys/verify" => verify::verify, "Verify an API key",
        key: AnyKey, request: Some(Request::optional(of::<verify::VerifyBody>)), query: None,
        ok: Reply::json(200, "The key is valid.", of::<verify::ValidBody>).with_headers(RATE_LIMIT),
        refusals: [VERIFY_REFUSED, TOO_LARGE, INTERNAL];
    get "/api-keys" => keys::list, "List the environment's API keys (no secrets), a page at a time",
        key: AdminKey, request: None, query: Some(query::<keys::ListQuery>),
        ok: Reply::json(200, "A page of keys, newest first, and the cursor of the next page.",
            of::<keys::ApiKeyList>),
        refusals: [KEY_REFUSED, INVALID, INTERNAL];
    post "/api-keys/lookup" => keys::lookup, "Which key is this? Find a key by its whole plaintext",
        key: AdminKey, request: Some(Request::required(of::<keys::LookupBody>)), query: None,
        ok: Reply::json(200, "The key.", of::<keys::ApiKeyJson>),
        refusals: [KEY_REFUSED, NOT_FOUND, TOO_LARGE, INVALID, INTERNAL];
    post "/api-keys" => keys::create, "Create an API key; the response carries its plaintext once",
        key: AdminKey, request: Some(Request::required(of::<keys::CreateBody>)), query: None,
        ok: Reply::json(201, "Created; `key` holds the plaintext, shown in this response only.",
            openapi::api_key_with_secret),
        refusals: [KEY_REFUSED, TOO_LARGE, INVALID, INTERNAL];
    get "/api-keys/{id}" => keys::get, "Get one API key",
        key: AdminKey, request: None, query: None,
        ok: Reply::json(200, "The key.", of::<keys::ApiKeyJson>),
        refusals: [KEY_REFUSED, NOT_FOUND, INTERNAL];
    patch "/api-keys/{id}" => keys::patch, "Change name, description, ON/OFF, rate limit or expiry",
        key: AdminKey, request: Some(Request::required(of::<keys::PatchBody>)), query: None,
        ok: Reply::json(200, "The key as changed.", of::<keys::ApiKeyJson>),
        refusals: [KEY_REFUSED, NOT_FOUND, TOO_LARGE, INVALID, INTERNAL];
    delete "/api-keys/{id}" => keys::revoke, "Revoke an API key for good",
        key: AdminKey, request: None, query: None,
        ok: Reply::empty(204, "Revoked."),
        refusals: [KEY_REFUSED, NOT_FOUND, INTERNAL];
    post "/api-keys/{id}/rotate" => keys::rotate, "Rotate: a new secret, optionally keeping the old one for a grace period",
        key: AdminKey, request: Some(Request::optional(of::<keys::RotateBody>)), query: None,
        ok: Reply::json(200, "Rotated; `key` holds the new plaintext, shown in this response only.",
            openapi::api_key_with_secret),
        refusals: [KEY_REFUSED, NOT_FOUND, TOO_LARGE, INVALID, INTERNAL];
    get "/api-keys/{id}/usage" => keys::usage, "Per-minute verification counts, newest first",
        key: AdminKey, request: None, query: Some(query::<keys::UsageQuery>),
        ok: Reply::json(200, "One entry per minute, newest first.",
            openapi::array_of::<keys::MinuteUsage>),
        refusals: [KEY_REFUSED, NOT_FOUND, INVALID, INTERNAL];
    get "/openapi.json" => openapi::document, "This document",
        key: NoKey, request: None, query: None,
        ok: Reply::json(200, "The OpenAPI 3.1 document of this API.", openapi::any_object),
        refusals: [];
}

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::scope("/api/v1")
            .app_data(
                web::JsonConfig::default()
                    .limit(crate::middleware::BODY_LIMIT)
                    .error_handler(|err, _| {
                        let api_error = match &err {
                            actix_web::error::JsonPayloadError::Overflow { .. }
                            | actix_web::error::JsonPayloadError::OverflowKnownLength { .. } => {
                                error::ApiError::new(
                                    actix_web::http::StatusCode::PAYLOAD_TOO_LARGE,
                                    "PAYLOAD_TOO_LARGE",
                                    "The request body is too large.",
                                )
                            }
                            other => error::ApiError::bad_json(other),
                        };
                        api_error.into()
                    }),
            )
            .app_data(web::PayloadConfig::default().limit(crate::middleware::BODY_LIMIT))
            .configure(register)
            .default_service(web::to(not_found)),
    );
}

async fn not_found() -> actix_web::HttpResponse {
    actix_web::ResponseError::error_response(&error::ApiError::new(
        actix_web::http::StatusCode::NOT_FOUND,
        "NOT_FOUND",
        "No such API route.",
    ))
}
