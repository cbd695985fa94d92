//! The JSON API. Routes and the OpenAPI document come from one list, so neither can miss one.

pub mod auth;
pub mod error;
pub mod keys;
pub mod openapi;
pub mod verify;

use actix_web::web;

/// One API operation: how it is routed and how it is documented.
pub struct Operation {
    pub method: &'static str,
    pub path: &'static str,
    pub summary: &'static str,
    /// Whether it needs an `X-API-Key` with the admin scope.
    pub admin_key: bool,
    pub request: Option<&'static str>,
    pub success: (u16, &'static str),
}

macro_rules! api_operations {
    ($( $method:ident $path:literal => $handler:path, $summary:literal, admin: $admin:literal,
        request: $request:expr, success: ($status:literal, $schema:literal); )*) => {
        /// Every operation under /api/v1, in the order the document lists them.
        pub const OPERATIONS: &[Operation] = &[
            $( Operation {
                method: stringify!($method),
                path: $path,
                summary: $summary,
                admin_key: $admin,
                request: $request,
                success: ($status, $schema),
            }, )*
        ];

        fn register(cfg: &mut web::ServiceConfig) {
            $( cfg.route($path, web::$method().to($handler)); )*
        }
    };
}

api_operations! {
    post "/keys/verify" => verify::verify, "Verify an API key", admin: false,
        request: Some("VerifyRequest"), success: (200, "VerifyValid");
    get "/api-keys" => keys::list, "List the environment's API keys (no secrets)", admin: true,
        request: None, success: (200, "ApiKeyList");
    post "/api-keys" => keys::create, "Create an API key; the response carries its plaintext once", admin: true,
        request: Some("CreateApiKey"), success: (201, "ApiKeyWithSecret");
    get "/api-keys/{id}" => keys::get, "Get one API key", admin: true,
        request: None, success: (200, "ApiKey");
    patch "/api-keys/{id}" => keys::patch, "Change name, description, ON/OFF, rate limit or expiry", admin: true,
        request: Some("PatchApiKey"), success: (200, "ApiKey");
    delete "/api-keys/{id}" => keys::revoke, "Revoke an API key for good", admin: true,
        request: None, success: (204, "");
    post "/api-keys/{id}/rotate" => keys::rotate, "Rotate: a new secret, optionally keeping the old one for a grace period", admin: true,
        request: Some("RotateApiKey"), success: (200, "ApiKeyWithSecret");
    get "/api-keys/{id}/usage" => keys::usage, "Per-minute verification counts, newest first", admin: true,
        request: None, success: (200, "Usage");
    get "/openapi.json" => openapi::document, "This document", admin: false,
        request: None, success: (200, "");
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
