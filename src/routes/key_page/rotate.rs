//! POST …/api-keys/{id}/rotation: Rotate key, with a grace period during which the current
//! secret keeps working; the new secret is shown once.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use chrono::TimeDelta;
use serde::Deserialize;

use super::chart::Period;
use super::{Fragment, KeyPage};
use crate::auth::scope::{EnvScope, ManageKeys};
use crate::domain::Invalid;
use crate::error::AppError;
use crate::routes::api_keys::Reveal;
use crate::routes::page::KeyPath;
use crate::services::{self, keys as key_service};
use crate::state::AppState;

/// The Grace period choices: None, 1 hour, 24 hours, 7 days.
pub const GRACE_CHOICES: [(&str, &str); 4] = [
    ("none", "None"),
    ("1h", "1 hour"),
    ("24h", "24 hours"),
    ("7d", "7 days"),
];

fn grace_period(choice: &str) -> Result<Option<TimeDelta>, Invalid> {
    match choice {
        "" | "none" => Ok(None),
        "1h" => Ok(Some(TimeDelta::hours(1))),
        "24h" => Ok(Some(TimeDelta::hours(24))),
        "7d" => Ok(Some(TimeDelta::days(7))),
        _ => Err(Invalid::new(
            "Choose a grace period: None, 1 hour, 24 hours or 7 days.",
        )),
    }
}

#[derive(Deserialize)]
pub struct RotateFormData {
    #[serde(default)]
    grace_period: String,
}

pub async fn submit(
    scope: EnvScope<ManageKeys>,
    path: web::Path<KeyPath>,
    state: web::Data<AppState>,
    form: web::Form<RotateFormData>,
) -> Result<HttpResponse, AppError> {
    let grace = grace_period(&form.grace_period)?;
    let home = key_service::KeyHome::of(&scope.access.env, &state.config.key_prefix)?;
    let (id, change) = (path.id, state.change(scope.actor()));
    let (key, plain) = services::run(&state.pool, move |conn| {
        key_service::rotate(conn, &home, id, grace, &change)
    })
    .await?;
    tracing::info!(key_id = %key.id, "API key rotated");
    let mut page = KeyPage::load(&state, &scope, id, Period::default()).await?;
    page.reveal = Some(Reveal {
        title: "API key rotated",
        name: key.name,
        key: plain,
    });
    page.respond(StatusCode::OK, scope.htmx, Fragment::Section)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_offered_grace_period_parses() {
        for (value, _) in GRACE_CHOICES {
            assert!(grace_period(value).is_ok(), "{value}");
        }
        assert_eq!(grace_period("24h"), Ok(Some(TimeDelta::hours(24))));
        assert!(grace_period("forever").is_err());
    }
}
