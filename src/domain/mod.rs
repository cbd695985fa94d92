//! Typed values parsed at the edge. Nothing here knows about Diesel or actix.

pub mod api_key;
pub mod audit;
pub mod ids;
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

/// Each field's problem, collected so that one answer lists them all. `F` names a field: a
/// form's field name, or an enum of the fields a parser knows.
#[derive(Debug)]
pub struct FieldErrors<F>(Vec<(F, String)>);

impl<F> Default for FieldErrors<F> {
    fn default() -> Self {
        Self(Vec::new())
    }
}

impl<F: Copy + PartialEq> FieldErrors<F> {
    pub fn add(&mut self, field: F, message: impl std::fmt::Display) {
        self.0.push((field, message.to_string()));
    }
    pub fn get(&self, field: F) -> Option<&str> {
        self.0
            .iter()
            .find(|(f, _)| *f == field)
            .map(|(_, m)| m.as_str())
    }
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
    /// Runs a parser and records its message under `field` when it fails.
    pub fn check<T>(&mut self, field: F, parsed: Result<T, Invalid>) -> Option<T> {
        match parsed {
            Ok(v) => Some(v),
            Err(e) => {
                self.add(field, e);
                None
            }
        }
    }
    pub fn into_vec(self) -> Vec<(F, String)> {
        self.0
    }
}
