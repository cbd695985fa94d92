//! The one integration-test binary: real PostgreSQL, real HTTP, and a real browser.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod helpers;

mod management;

mod accounts;
mod activity;
mod api_keys;
mod audit;
mod auth;
mod browser;
mod budgets;
mod bulk;
mod conformance;
mod envelope;
mod expiry;
mod forward_auth;
mod hostile;
mod key_page;
mod leaks;
mod list_at_scale;
mod nodes;
mod permissions;
mod policies;
mod security;
mod sessions;
mod verify;
mod webhooks;
