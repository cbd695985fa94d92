//! Administration: users and projects. Administrators only (the `AdminScope` extractor).

pub mod page;
pub mod projects;
pub mod users;
