//! The JSON face of AppError: `{"error": {"code", "message", "fields"?}}`.

use actix_web::http::{StatusCode, header};
use actix_web::{HttpResponse, ResponseError};
use serde::Serialize;
use utoipa::ToSchema;

use crate::error::AppError;

/// One invalid field of the request and what is wrong with it.
#[derive(Debug, Serialize, ToSchema)]
pub struct FieldError {
    #[schema(example = "name")]
    pub field: &'static str,
    pub message: String,
}

/// Every refusal of the management API, and the verification API's own failures.
#[derive(Serialize, ToSchema)]
#[schema(as = Error)]
pub struct ErrorBody<'a> {
    pub error: ErrorDetail<'a>,
}

#[derive(Serialize, ToSchema)]
pub struct ErrorDetail<'a> {
    /// One of UNAUTHENTICATED, FORBIDDEN, NOT_FOUND, INVALID_INPUT, PAYLOAD_TOO_LARGE,
    /// RATE_LIMITED, INTERNAL.
    #[schema(example = "INVALID_INPUT")]
    pub code: &'a str,
    pub message: &'a str,
    /// Present on INVALID_INPUT when particular fields are at fault.
    #[serde(skip_serializing_if = "<[FieldError]>::is_empty")]
    pub fields: &'a [FieldError],
}

#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
    pub fields: Vec<FieldError>,
    pub retry_after_secs: Option<u64>,
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.code, self.message)
    }
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
            fields: Vec::new(),
            retry_after_secs: None,
        }
    }

    pub fn invalid(fields: Vec<FieldError>) -> Self {
        Self {
            fields,
            ..Self::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "INVALID_INPUT",
                "The request has invalid fields.",
            )
        }
    }

    /// 422 for one field.
    pub fn field(field: &'static str, message: impl Into<String>) -> Self {
        Self::invalid(vec![FieldError {
            field,
            message: message.into(),
        }])
    }

    pub fn bad_json(message: impl std::fmt::Display) -> Self {
        Self::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "INVALID_INPUT",
            format!("The body is not valid JSON for this request: {message}"),
        )
    }
}

impl From<AppError> for ApiError {
    fn from(e: AppError) -> Self {
        let status = e.status_code();
        let code = match &e {
            AppError::Validation(_) => "INVALID_INPUT",
            AppError::NotFound => "NOT_FOUND",
            AppError::Forbidden | AppError::Csrf => "FORBIDDEN",
            AppError::Unauthenticated => "UNAUTHENTICATED",
            AppError::TooManyRequests { .. } => "RATE_LIMITED",
            AppError::PayloadTooLarge => "PAYLOAD_TOO_LARGE",
            AppError::Unexpected(err) => {
                tracing::error!(error = %format!("{err:#}"), "API request failed");
                "INTERNAL"
            }
        };
        let status = if status == StatusCode::SEE_OTHER {
            StatusCode::UNAUTHORIZED
        } else {
            status
        };
        let retry_after_secs = match &e {
            AppError::TooManyRequests {
                retry_after_secs, ..
            } => Some(*retry_after_secs),
            _ => None,
        };
        Self {
            status,
            code,
            message: e.to_string(),
            fields: Vec::new(),
            retry_after_secs,
        }
    }
}

impl From<diesel::result::Error> for ApiError {
    fn from(e: diesel::result::Error) -> Self {
        AppError::from(e).into()
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        self.status
    }

    fn error_response(&self) -> HttpResponse {
        let mut response = HttpResponse::build(self.status);
        if let Some(secs) = self.retry_after_secs {
            response.insert_header((header::RETRY_AFTER, secs.to_string()));
        }
        response.json(ErrorBody {
            error: ErrorDetail {
                code: self.code,
                message: &self.message,
                fields: &self.fields,
            },
        })
    }
}
