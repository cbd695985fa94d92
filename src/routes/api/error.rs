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
    pub code: ErrorCode,
    pub message: &'a str,
    /// Present on INVALID_INPUT when particular fields are at fault.
    #[serde(skip_serializing_if = "<[FieldError]>::is_empty")]
    pub fields: &'a [FieldError],
}

/// What went wrong; each code has its own status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
#[schema(example = "INVALID_INPUT")]
pub enum ErrorCode {
    /// 400: a request the server cannot read as HTTP for this route.
    BadRequest,
    /// 401
    Unauthenticated,
    /// 403
    Forbidden,
    /// 403: a key calling the management API from an address outside its `allowed_ips`.
    IpNotAllowed,
    /// 404
    NotFound,
    /// 405, with `Allow`.
    MethodNotAllowed,
    /// 409: valid, but the key's state does not allow it (a name taken, a key revoked).
    Conflict,
    /// 413
    PayloadTooLarge,
    /// 422
    InvalidInput,
    /// 429, with `Retry-After`.
    RateLimited,
    /// 500
    Internal,
}

impl ErrorCode {
    pub fn status(self) -> StatusCode {
        match self {
            Self::BadRequest => StatusCode::BAD_REQUEST,
            Self::Unauthenticated => StatusCode::UNAUTHORIZED,
            Self::Forbidden | Self::IpNotAllowed => StatusCode::FORBIDDEN,
            Self::NotFound => StatusCode::NOT_FOUND,
            Self::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            Self::Conflict => StatusCode::CONFLICT,
            Self::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            Self::InvalidInput => StatusCode::UNPROCESSABLE_ENTITY,
            Self::RateLimited => StatusCode::TOO_MANY_REQUESTS,
            Self::Internal => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The code of an answer some layer below the handlers made (routing, actix's extractors).
    pub fn of_status(status: StatusCode) -> Self {
        match status.as_u16() {
            401 => Self::Unauthenticated,
            403 => Self::Forbidden,
            404 => Self::NotFound,
            405 => Self::MethodNotAllowed,
            409 => Self::Conflict,
            413 => Self::PayloadTooLarge,
            422 => Self::InvalidInput,
            429 => Self::RateLimited,
            500.. => Self::Internal,
            _ => Self::BadRequest,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::BadRequest => "BAD_REQUEST",
            Self::Unauthenticated => "UNAUTHENTICATED",
            Self::Forbidden => "FORBIDDEN",
            Self::IpNotAllowed => "IP_NOT_ALLOWED",
            Self::NotFound => "NOT_FOUND",
            Self::MethodNotAllowed => "METHOD_NOT_ALLOWED",
            Self::Conflict => "CONFLICT",
            Self::PayloadTooLarge => "PAYLOAD_TOO_LARGE",
            Self::InvalidInput => "INVALID_INPUT",
            Self::RateLimited => "RATE_LIMITED",
            Self::Internal => "INTERNAL",
        }
    }
}

#[derive(Debug)]
pub struct ApiError {
    pub code: ErrorCode,
    pub message: String,
    pub fields: Vec<FieldError>,
    pub retry_after_secs: Option<u64>,
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.code.as_str(), self.message)
    }
}

impl ApiError {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
            fields: Vec::new(),
            retry_after_secs: None,
        }
    }

    pub fn invalid(fields: Vec<FieldError>) -> Self {
        Self {
            fields,
            ..Self::new(ErrorCode::InvalidInput, "The request has invalid fields.")
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
            ErrorCode::InvalidInput,
            format!("The body is not valid JSON for this request: {message}"),
        )
    }

    pub fn too_large() -> Self {
        Self::new(
            ErrorCode::PayloadTooLarge,
            AppError::PayloadTooLarge.to_string(),
        )
    }

    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::NotFound, message)
    }
}

impl From<AppError> for ApiError {
    fn from(e: AppError) -> Self {
        let code = match &e {
            AppError::Validation(_) => ErrorCode::InvalidInput,
            AppError::NotFound => ErrorCode::NotFound,
            AppError::Forbidden | AppError::Csrf => ErrorCode::Forbidden,
            AppError::Conflict(_) => ErrorCode::Conflict,
            AppError::Unauthenticated | AppError::AccountSetupRequired => {
                ErrorCode::Unauthenticated
            }
            AppError::TooManyRequests { .. } => ErrorCode::RateLimited,
            AppError::PayloadTooLarge => ErrorCode::PayloadTooLarge,
            AppError::Unexpected(err) => {
                tracing::error!(error = %format!("{err:#}"), "API request failed");
                ErrorCode::Internal
            }
        };
        let retry_after_secs = match &e {
            AppError::TooManyRequests {
                retry_after_secs, ..
            } => Some(*retry_after_secs),
            _ => None,
        };
        Self {
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
        self.code.status()
    }

    fn error_response(&self) -> HttpResponse {
        let mut response = HttpResponse::build(self.code.status());
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
