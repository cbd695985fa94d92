//! GET …/activity/webhooks: the environment's endpoints and the Add endpoint form;
//! POST adds one and shows its signing secret once.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use askama::Template;

use super::{EndpointView, webhooks_path};
use crate::auth::scope::{EnvScope, ViewActivity};
use crate::db;
use crate::domain::audit::AuditAction;
use crate::domain::webhook::{EventSelection, WebhookUrl};
use crate::error::AppError;
use crate::routes::page::{Chrome, FieldErrors, Tab, html, no_store};
use crate::services;
use crate::state::AppState;

pub struct EventChoice {
    pub name: &'static str,
    pub checked: bool,
}

#[derive(Template)]
#[template(path = "pages/webhooks.html")]
pub struct WebhooksPage {
    pub chrome: Chrome,
    pub csrf: String,
    pub base: String,
    pub activity: String,
    pub access_label: String,
    pub endpoints: Vec<EndpointView>,
    pub form_url: String,
    pub events: Vec<EventChoice>,
    pub errors: FieldErrors,
}

impl WebhooksPage {
    async fn load(
        state: &AppState,
        scope: &EnvScope<ViewActivity>,
        form_url: String,
        chosen: Option<Vec<String>>,
        errors: FieldErrors,
    ) -> Result<Self, AppError> {
        let env_id = scope.env_id();
        let endpoints = services::run(&state.pool, move |conn| {
            Ok(db::webhooks::list_endpoints(conn, env_id)?)
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
        let access = &scope.access;
        Ok(Self {
            csrf: chrome.csrf.clone(),
            chrome,
            base: webhooks_path(access),
            activity: crate::routes::page::env_path(
                &access.project.slug,
                &access.env.slug,
                "activity",
            ),
            access_label: format!("{} · {}", access.project.name, access.env.name),
            endpoints: endpoints.iter().map(EndpointView::of).collect(),
            form_url,
            events: AuditAction::key_events()
                .map(|a| EventChoice {
                    name: a.as_str(),
                    // Every event by default; a refused form keeps what was ticked.
                    checked: chosen
                        .as_ref()
                        .is_none_or(|c| c.iter().any(|n| n == a.as_str())),
                })
                .collect(),
            errors,
        })
    }
}

pub async fn show(
    scope: EnvScope<ViewActivity>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, AppError> {
    let page = WebhooksPage::load(&state, &scope, String::new(), None, FieldErrors::default());
    html(StatusCode::OK, &page.await?)
}

/// The Add endpoint form: `url` and one `events` field per ticked box (so not a serde struct).
struct AddForm {
    url: String,
    events: Vec<String>,
}

impl AddForm {
    fn read(body: &[u8]) -> Result<Self, AppError> {
        let pairs: Vec<(String, String)> = serde_urlencoded::from_bytes(body).map_err(|e| {
            AppError::Validation(crate::domain::Invalid::new(format!(
                "This form could not be read ({e}). Reload the page and try again."
            )))
        })?;
        let mut form = Self {
            url: String::new(),
            events: Vec::new(),
        };
        for (name, value) in pairs {
            match name.as_str() {
                "url" => form.url = value,
                "events" => form.events.push(value),
                _ => {}
            }
        }
        Ok(form)
    }
}

pub async fn create(
    scope: EnvScope<ViewActivity>,
    body: web::Bytes,
    state: web::Data<AppState>,
) -> Result<HttpResponse, AppError> {
    let form = AddForm::read(&body)?;
    let mut errors = FieldErrors::default();
    let url = errors.check("url", WebhookUrl::parse(&form.url));
    let events = errors.check(
        "events",
        EventSelection::parse(form.events.iter().map(String::as_str)),
    );
    let (Some(url), Some(events)) = (url, events) else {
        let page = WebhooksPage::load(&state, &scope, form.url, Some(form.events), errors);
        return html(StatusCode::UNPROCESSABLE_ENTITY, &page.await?);
    };
    let (env_id, change) = (scope.env_id(), state.change(scope.actor()));
    let pool_state = state.clone();
    let (endpoint, secret) = services::run(&state.pool, move |conn| {
        services::webhooks::create(conn, &pool_state.secrets, env_id, &url, &events, &change)
    })
    .await?;
    let page = super::endpoint::EndpointPage::load(
        &state,
        &scope,
        endpoint,
        Some(super::SecretReveal {
            title: "Endpoint added",
            secret,
        }),
    )
    .await?;
    Ok(no_store(html(StatusCode::OK, &page)?))
}
