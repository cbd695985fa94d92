use actix_web::{HttpResponse, web};

use crate::services;
use crate::state::AppState;

/// The process is up.
pub async fn alive() -> HttpResponse {
    HttpResponse::Ok().content_type("text/plain").body("ok")
}

/// The database answers.
pub async fn ready(state: web::Data<AppState>) -> HttpResponse {
    match services::run(&state.pool, |conn| Ok(crate::db::ping(conn)?)).await {
        Ok(()) => HttpResponse::Ok().content_type("text/plain").body("ready"),
        Err(_) => HttpResponse::ServiceUnavailable()
            .content_type("text/plain")
            .body("database unreachable"),
    }
}

/// Prometheus text.
pub async fn metrics(state: web::Data<AppState>) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4; charset=utf-8")
        .body(state.metrics.render())
}
