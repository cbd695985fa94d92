//! The one error type, and the one place it becomes a response.

use actix_web::http::StatusCode;
use actix_web::http::header::{self, ContentType};
use actix_web::{HttpResponse, ResponseError};
use askama::Template;

use crate::domain::Invalid;

#[derive(Debug, thiserror::Error)]
pub enum AppError {
    #[error("{0}")]
    Validation(#[from] Invalid),
    #[error("Not found.")]
    NotFound,
    #[error("You do not have permission to do that.")]
    Forbidden,
    #[error("Sign in to continue.")]
    Unauthenticated,
    /// Signed in, but the account must take a step first (a new password, two-factor set-up).
    #[error("Finish setting up your account to continue.")]
    AccountSetupRequired,
    #[error("This form has expired or did not come from Keyward. Reload the page and try again.")]
    Csrf,
    /// A valid request the thing's current state does not allow (a revoked key cannot change).
    #[error("{0}")]
    Conflict(&'static str),
    #[error("{message}")]
    TooManyRequests {
        message: String,
        retry_after_secs: u64,
    },
    #[error("The request body is too large.")]
    PayloadTooLarge,
    #[error("Something went wrong on our side.")]
    Unexpected(#[from] anyhow::Error),
}

impl From<actix_session::SessionGetError> for AppError {
    fn from(e: actix_session::SessionGetError) -> Self {
        Self::Unexpected(anyhow::Error::new(e).context("reading the session"))
    }
}

impl From<actix_session::SessionInsertError> for AppError {
    fn from(e: actix_session::SessionInsertError) -> Self {
        Self::Unexpected(anyhow::Error::new(e).context("writing the session"))
    }
}

impl From<diesel::result::Error> for AppError {
    fn from(e: diesel::result::Error) -> Self {
        match e {
            diesel::result::Error::NotFound => Self::NotFound,
            other => Self::Unexpected(other.into()),
        }
    }
}

/// Where a signed-in person goes while their account needs a step before anything else.
pub const ACCOUNT_SETUP_PATH: &str = "/account/required";

#[derive(Template)]
#[template(path = "pages/error.html")]
struct ErrorPage<'a> {
    title: &'a str,
    message: String,
}

impl ResponseError for AppError {
    fn status_code(&self) -> StatusCode {
        match self {
            Self::Validation(_) => StatusCode::UNPROCESSABLE_ENTITY,
            Self::NotFound => StatusCode::NOT_FOUND,
            Self::Forbidden | Self::Csrf => StatusCode::FORBIDDEN,
            Self::Conflict(_) => StatusCode::CONFLICT,
            Self::Unauthenticated | Self::AccountSetupRequired => StatusCode::SEE_OTHER,
            Self::TooManyRequests { .. } => StatusCode::TOO_MANY_REQUESTS,
            Self::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            Self::Unexpected(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        let status = self.status_code();
        if let Self::Unexpected(e) = self {
            tracing::error!(error = %format!("{e:#}"), "request failed");
        }
        if let Self::Unauthenticated = self {
            // /login answers htmx requests with HX-Redirect, so a redirected XHR navigates too.
            return HttpResponse::SeeOther()
                .insert_header((header::LOCATION, "/login"))
                .finish();
        }
        if let Self::AccountSetupRequired = self {
            // That page answers htmx requests with HX-Redirect, as /login does.
            return HttpResponse::SeeOther()
                .insert_header((header::LOCATION, ACCOUNT_SETUP_PATH))
                .finish();
        }
        let mut response = HttpResponse::build(status);
        if let Self::TooManyRequests {
            retry_after_secs, ..
        } = self
        {
            response.insert_header((header::RETRY_AFTER, retry_after_secs.to_string()));
        }
        let title = status.canonical_reason().unwrap_or("Error");
        let page = ErrorPage {
            title,
            message: self.to_string(),
        };
        match page.render() {
            Ok(html) => response.content_type(ContentType::html()).body(html),
            Err(_) => response
                .content_type(ContentType::plaintext())
                .body(self.to_string()),
        }
    }
}
