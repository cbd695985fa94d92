//! Webhook endpoints, on the Activity tab (SPEC §12): admins and owners add, switch, delete
//! and roll the secret of an environment's endpoints, and see each one's deliveries.

pub mod endpoint;
pub mod list;

use crate::auth::permissions::EnvAccess;
use crate::db::webhooks::{Delivery, Endpoint};
use crate::domain::ids::{DeliveryId, WebhookId};
use crate::domain::webhook::WebhookSecret;
use crate::routes::page::{env_path, format_time};

/// `…/activity/webhooks`.
pub fn webhooks_path(access: &EnvAccess) -> String {
    env_path(&access.project.slug, &access.env.slug, "activity/webhooks")
}

/// `…/activity/webhooks/{webhook_id}/…`.
#[derive(Debug, serde::Deserialize)]
pub struct WebhookPath {
    pub webhook_id: WebhookId,
}

/// `…/activity/webhooks/{webhook_id}/deliveries/{delivery_id}/redeliver`.
#[derive(Debug, serde::Deserialize)]
pub struct DeliveryPath {
    pub webhook_id: WebhookId,
    pub delivery_id: DeliveryId,
}

/// An endpoint as the pages show it.
pub struct EndpointView {
    pub id: WebhookId,
    pub url: String,
    pub events: String,
    pub enabled: bool,
    /// Keyward switched it off: every delivery failed for 24 hours.
    pub off_for_failures: Option<String>,
    pub created: String,
}

impl EndpointView {
    pub fn of(e: &Endpoint) -> Self {
        let all = crate::domain::audit::AuditAction::key_events().count();
        Self {
            id: e.id,
            url: e.url.clone(),
            events: if e.events.len() == all {
                "All key events".to_owned()
            } else {
                e.events.join(", ")
            },
            enabled: e.enabled,
            off_for_failures: e.disabled_for_failures_at.as_ref().map(format_time),
            created: format_time(&e.created_at),
        }
    }

    pub fn status(&self) -> &'static str {
        match (self.enabled, &self.off_for_failures) {
            (true, _) => "On",
            (false, Some(_)) => "Off: failing",
            (false, None) => "Off",
        }
    }
}

/// A delivery as the endpoint's page lists it.
pub struct DeliveryView {
    pub id: DeliveryId,
    pub event_id: String,
    pub event_type: String,
    pub created: String,
    pub state: String,
    pub attempts: i32,
    pub answer: String,
    pub next_try: Option<String>,
}

impl DeliveryView {
    pub fn of(d: &Delivery) -> Self {
        let answer = match (d.last_status, &d.last_error) {
            (Some(code), _) => code.to_string(),
            (None, Some(error)) => error.clone(),
            (None, None) => "—".to_owned(),
        };
        Self {
            id: d.id,
            event_id: d.event_id.clone(),
            event_type: d.event_type.clone(),
            created: format_time(&d.created_at),
            state: match d.state.as_str() {
                "delivered" => "Delivered",
                "failed" => "Failed",
                _ => "Pending",
            }
            .to_owned(),
            attempts: d.attempts,
            answer,
            next_try: (d.state == "pending" && d.attempts > 0)
                .then(|| format_time(&d.next_attempt_at)),
        }
    }
}

/// A signing secret on the one page that shows it.
pub struct SecretReveal {
    pub title: &'static str,
    pub secret: WebhookSecret,
}
