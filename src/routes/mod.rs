//! The only list of URLs.

pub mod admin;
pub mod api;
pub mod api_keys;
pub mod assets;
pub mod health;
pub mod home;
pub mod members;
pub mod page;
pub mod session;

use actix_web::web;

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
    cfg.route("/", web::get().to(home::show))
        .route("/login", web::get().to(session::login::show))
        .route("/login", web::post().to(session::login::submit))
        .route("/logout", web::post().to(session::logout::submit))
        .route(
            &format!("{ENV}/api-keys"),
            web::get().to(api_keys::list::show),
        )
        .route(
            &format!("{ENV}/api-keys"),
            web::post().to(api_keys::create::submit),
        )
        .route(
            &format!("{ENV}/api-keys/new"),
            web::get().to(api_keys::create::show),
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
        .route("/admin/projects", web::post().to(admin::projects::create));
}
