//! Typed values parsed at the edge. Nothing here knows about Diesel or actix.

pub mod api_key;
pub mod audit;
pub mod key_format;
pub mod project;
pub mod user;

/// Why a piece of input was refused, in words a person can act on.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct Invalid(pub String);

impl Invalid {
    pub fn new(message: impl Into<String>) -> Self {
        Self(message.into())
    }
}
