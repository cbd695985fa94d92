//! The one integration-test binary: real PostgreSQL, real HTTP, and a real browser.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod helpers;

mod management;

mod api_keys;
mod auth;
mod browser;
mod conformance;
mod envelope;
mod nodes;
mod permissions;
mod security;
mod verify;
