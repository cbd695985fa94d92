//! The only list of URLs.

pub mod account;
pub mod activity;
pub mod admin;
pub mod api;
pub mod api_keys;
pub mod assets;
pub mod health;
pub mod home;
pub mod key_page;
pub mod members;
pub mod page;
pub mod session;
pub mod webhooks;

use actix_web::error::UrlencodedError;
use actix_web::web;

use crate::domain::Invalid;
use crate::error::AppError;

/// Routes without a session: static files, health checks, metrics and the JSON API.
pub fn configure_public(cfg: &mut web::ServiceConfig) {
    cfg.route("/static/{file}", web::get().to(assets::serve))
        .route("/healthz", web::get().to(health::alive))
        .route("/readyz", web::get().to(health::ready))
        .route("/metrics", web::get().to(health::metrics))
        .configure(api::configure);
}

/// Cookie-authenticated dashboard routes (wrapped in sessions and the CSRF guard).
pub fn configure_dashboard(cfg: &mut web::ServiceConfig) {
    const ENV: &str = "/projects/{project}/environments/{env}";
    cfg.app_data(
        web::FormConfig::default()
            .limit(crate::middleware::BODY_LIMIT)
            .error_handler(|err, _| form_refused(err).into()),
    )
    // A path segment that is not an id names nothing: 404, as an unknown id would be.
    .app_data(web::PathConfig::default().error_handler(|_, _| AppError::NotFound.into()))
    .route("/", web::get().to(home::show))
    .route("/login", web::get().to(session::login::show))
    .route("/login", web::post().to(session::login::submit))
    .route("/login/code", web::post().to(session::code::submit))
    .route("/logout", web::post().to(session::logout::submit))
    .route("/account", web::get().to(account::page::show))
    .route(
        "/account/password",
        web::post().to(account::password::change),
    )
    .route(
        "/account/sessions/sign-out-others",
        web::post().to(account::sessions::sign_out_others),
    )
    .route(
        "/account/sessions/{handle}/sign-out",
        web::post().to(account::sessions::sign_out),
    )
    .route(
        "/account/two-factor/setup",
        web::get().to(account::two_factor::setup),
    )
    .route(
        "/account/two-factor",
        web::post().to(account::two_factor::confirm),
    )
    .route(
        "/account/two-factor/off",
        web::post().to(account::two_factor::turn_off),
    )
    .route("/account/required", web::get().to(account::required::show))
    .route(
        "/account/required/password",
        web::post().to(account::required::new_password),
    )
    .route(
        &format!("{ENV}/api-keys"),
        web::get().to(api_keys::list::show),
    )
    .route(
        &format!("{ENV}/api-keys"),
        web::post().to(api_keys::create::submit),
    )
    .route(
        &format!("{ENV}/api-keys/search"),
        web::post().to(api_keys::search::submit),
    )
    .route(
        &format!("{ENV}/api-keys/bulk"),
        web::post().to(api_keys::bulk::submit),
    )
    .route(
        &format!("{ENV}/api-keys/new"),
        web::get().to(api_keys::create::show),
    )
    // After `…/api-keys/new`, which is not an id anyway (a segment that is not one is 404).
    .route(
        &format!("{ENV}/api-keys/{{id}}"),
        web::get().to(key_page::show::show),
    )
    .route(
        &format!("{ENV}/api-keys/{{id}}/edit"),
        web::post().to(key_page::edit::submit),
    )
    .route(
        &format!("{ENV}/api-keys/{{id}}/rotation"),
        web::post().to(key_page::rotate::submit),
    )
    .route(
        &format!("{ENV}/api-keys/{{id}}/enabled"),
        web::post().to(api_keys::toggle::submit),
    )
    .route(
        &format!("{ENV}/api-keys/{{id}}/rotate"),
        web::get().to(api_keys::rotate::confirm),
    )
    .route(
        &format!("{ENV}/api-keys/{{id}}/rotate"),
        web::post().to(api_keys::rotate::submit),
    )
    .route(
        &format!("{ENV}/api-keys/{{id}}/revoke"),
        web::get().to(api_keys::revoke::confirm),
    )
    .route(
        &format!("{ENV}/api-keys/{{id}}/revoke"),
        web::post().to(api_keys::revoke::submit),
    )
    .route(
        &format!("{ENV}/members"),
        web::get().to(members::list::show),
    )
    .route(
        &format!("{ENV}/activity"),
        web::get().to(activity::list::show),
    )
    .route(
        &format!("{ENV}/activity/export"),
        web::get().to(activity::export::csv),
    )
    .route(
        &format!("{ENV}/activity/webhooks"),
        web::get().to(webhooks::list::show),
    )
    .route(
        &format!("{ENV}/activity/webhooks"),
        web::post().to(webhooks::list::create),
    )
    .route(
        &format!("{ENV}/activity/webhooks/{{webhook_id}}"),
        web::get().to(webhooks::endpoint::show),
    )
    .route(
        &format!("{ENV}/activity/webhooks/{{webhook_id}}/enabled"),
        web::post().to(webhooks::endpoint::set_enabled),
    )
    .route(
        &format!("{ENV}/activity/webhooks/{{webhook_id}}/delete"),
        web::post().to(webhooks::endpoint::delete),
    )
    .route(
        &format!("{ENV}/activity/webhooks/{{webhook_id}}/secret"),
        web::post().to(webhooks::endpoint::roll_secret),
    )
    .route(
        &format!("{ENV}/activity/webhooks/{{webhook_id}}/deliveries/{{delivery_id}}/redeliver"),
        web::post().to(webhooks::endpoint::redeliver),
    )
    .route(
        &format!("{ENV}/members"),
        web::post().to(members::add::submit),
    )
    .route(
        &format!("{ENV}/members/{{user_id}}/role"),
        web::post().to(members::role::submit),
    )
    .route(
        &format!("{ENV}/members/{{user_id}}/remove"),
        web::post().to(members::remove::submit),
    )
    .route("/admin", web::get().to(admin::page::show))
    .route("/admin/users", web::post().to(admin::users::create))
    .route(
        "/admin/users/{user_id}/status",
        web::post().to(admin::users::set_status),
    )
    .route(
        "/admin/users/{user_id}/admin",
        web::post().to(admin::users::set_admin),
    )
    .route(
        "/admin/users/{user_id}/password-reset",
        web::post().to(admin::users::reset_password),
    )
    .route(
        "/admin/users/{user_id}/two-factor-reset",
        web::post().to(admin::users::reset_two_factor),
    )
    .route("/admin/projects", web::post().to(admin::projects::create));
}

/// A form that cannot be read as its handler's fields: a clear 422 (or 413), never a bare 400.
fn form_refused(err: UrlencodedError) -> AppError {
    match err {
        UrlencodedError::Overflow { .. } => AppError::PayloadTooLarge,
        other => AppError::Validation(Invalid::new(format!(
            "This form could not be read ({other}). Reload the page and try again."
        ))),
    }
}
