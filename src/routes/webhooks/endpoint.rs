//! One webhook endpoint: its deliveries with **Redeliver**, and switching it, deleting it and
//! rolling its secret.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use askama::Template;
use serde::Deserialize;

use super::{DeliveryPath, DeliveryView, EndpointView, SecretReveal, WebhookPath, webhooks_path};
use crate::auth::scope::{EnvScope, ViewActivity};
use crate::db::{self, webhooks::Endpoint};
use crate::error::AppError;
use crate::routes::page::{Chrome, Tab, html, no_store, see_other};
use crate::services;
use crate::state::AppState;

/// Deliveries listed on an endpoint's page (newest first; history is kept 30 days).
const SHOWN_DELIVERIES: i64 = 100;

#[derive(Template)]
#[template(path = "pages/webhook.html")]
pub struct EndpointPage {
    pub chrome: Chrome,
    pub csrf: String,
    pub list: String,
    pub base: String,
    pub access_label: String,
    pub endpoint: EndpointView,
    pub deliveries: Vec<DeliveryView>,
    pub reveal: Option<SecretReveal>,
}

impl EndpointPage {
    pub async fn load(
        state: &AppState,
        scope: &EnvScope<ViewActivity>,
        endpoint: Endpoint,
        reveal: Option<SecretReveal>,
    ) -> Result<Self, AppError> {
        let id = endpoint.id;
        let deliveries = services::run(&state.pool, move |conn| {
            Ok(db::webhooks::list_deliveries(conn, id, SHOWN_DELIVERIES)?)
        })
        .await?;
        let chrome = Chrome::load(
            state,
            &scope.user,
            &scope.session,
            Some(&scope.access),
            Tab::Activity,
        )
        .await?;
        let list = webhooks_path(&scope.access);
        Ok(Self {
            csrf: chrome.csrf.clone(),
            chrome,
            base: format!("{list}/{id}"),
            list,
            access_label: format!("{} · {}", scope.access.project.name, scope.access.env.name),
            endpoint: EndpointView::of(&endpoint),
            deliveries: deliveries.iter().map(DeliveryView::of).collect(),
            reveal,
        })
    }
}

async fn find(
    state: &AppState,
    scope: &EnvScope<ViewActivity>,
    id: crate::domain::ids::WebhookId,
) -> Result<Endpoint, AppError> {
    let env_id = scope.env_id();
    services::run(&state.pool, move |conn| {
        db::webhooks::find_endpoint(conn, env_id, id)?.ok_or(AppError::NotFound)
    })
    .await
}

pub async fn show(
    scope: EnvScope<ViewActivity>,
    path: web::Path<WebhookPath>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, AppError> {
    let endpoint = find(&state, &scope, path.webhook_id).await?;
    html(
        StatusCode::OK,
        &EndpointPage::load(&state, &scope, endpoint, None).await?,
    )
}

#[derive(Debug, Deserialize)]
pub struct EnabledForm {
    pub enabled: String,
}

/// Sets the state the button shows (`enabled=true|false`), not a blind flip.
pub async fn set_enabled(
    scope: EnvScope<ViewActivity>,
    path: web::Path<WebhookPath>,
    form: web::Form<EnabledForm>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, AppError> {
    let enabled = match form.enabled.as_str() {
        "true" => true,
        "false" => false,
        _ => {
            return Err(AppError::Validation(crate::domain::Invalid::new(
                "enabled must be true or false.",
            )));
        }
    };
    let (env_id, id, change) = (scope.env_id(), path.webhook_id, state.change(scope.actor()));
    services::run(&state.pool, move |conn| {
        services::webhooks::set_enabled(conn, env_id, id, enabled, &change)
    })
    .await?;
    Ok(see_other(&format!("{}/{id}", webhooks_path(&scope.access))))
}

pub async fn delete(
    scope: EnvScope<ViewActivity>,
    path: web::Path<WebhookPath>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, AppError> {
    let (env_id, id, change) = (scope.env_id(), path.webhook_id, state.change(scope.actor()));
    services::run(&state.pool, move |conn| {
        services::webhooks::delete(conn, env_id, id, &change)
    })
    .await?;
    Ok(see_other(&webhooks_path(&scope.access)))
}

pub async fn roll_secret(
    scope: EnvScope<ViewActivity>,
    path: web::Path<WebhookPath>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, AppError> {
    let (env_id, id, change) = (scope.env_id(), path.webhook_id, state.change(scope.actor()));
    let pool_state = state.clone();
    let (endpoint, secret) = services::run(&state.pool, move |conn| {
        services::webhooks::roll_secret(conn, &pool_state.secrets, env_id, id, &change)
    })
    .await?;
    let reveal = SecretReveal {
        title: "Secret rolled",
        secret,
    };
    let page = EndpointPage::load(&state, &scope, endpoint, Some(reveal)).await?;
    Ok(no_store(html(StatusCode::OK, &page)?))
}

pub async fn redeliver(
    scope: EnvScope<ViewActivity>,
    path: web::Path<DeliveryPath>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, AppError> {
    let (env_id, now) = (scope.env_id(), state.clock.now());
    let (endpoint, delivery) = (path.webhook_id, path.delivery_id);
    services::run(&state.pool, move |conn| {
        services::webhooks::redeliver(conn, env_id, endpoint, delivery, now)
    })
    .await?;
    Ok(see_other(&format!(
        "{}/{endpoint}",
        webhooks_path(&scope.access)
    )))
}
