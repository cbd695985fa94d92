//! POST …/api-keys/{id}/edit: Save. The same validation as Add; on an error nothing is saved
//! and the form comes back with the message beside the field.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use serde::Deserialize;

use super::chart::Period;
use super::{EditForm, Fragment, KeyPage};
use crate::auth::scope::{EnvScope, ManageKeys};
use crate::domain::api_key::KeyType;
use crate::domain::api_key::{Expiry, RateLimit};
use crate::domain::ids::KeyId;
use crate::error::AppError;
use crate::routes::page::{FieldErrors, KeyPath, PolicyForm};
use crate::routes::page::{add_key_errors, retarget};
use crate::services::keys::EditDraft;
use crate::services::{self, keys as key_service};
use crate::state::AppState;

#[derive(Deserialize)]
pub struct EditFormData {
    #[serde(default)]
    name: String,
    #[serde(default)]
    description: String,
    #[serde(default)]
    rate_limit: String,
    #[serde(default)]
    expiration: String,
    #[serde(default)]
    expires_on: String,
    /// Owner, Allowed IPs, Allowed origins, Quota and Quota period, shared with the other form.
    #[serde(flatten)]
    policy: PolicyForm,
}

impl EditFormData {
    fn into_view(self, key_type: KeyType) -> EditForm {
        EditForm {
            policy: self.policy,
            key_type,
            name: self.name,
            description: self.description,
            rate_limit: self.rate_limit,
            expiration: self.expiration,
            expires_on: self.expires_on,
            errors: FieldErrors::default(),
            open: true,
        }
    }
}

/// The Edit form's name for each field (the Add panel's names).
fn validate(
    form: &mut EditForm,
    now: chrono::DateTime<chrono::Utc>,
) -> Option<crate::db::api_keys::KeyChanges> {
    let draft = EditDraft {
        name: &form.name,
        description: &form.description,
        expiry: match form.expiration.as_str() {
            "" | "keep" => None,
            choice => Some(Expiry::from_choice(choice, &form.expires_on, now)),
        },
        rate_limit: RateLimit::parse_optional(&form.rate_limit),
        key_type: form.key_type,
        policy: form.policy.draft(),
    };
    match draft.parse() {
        Ok(changes) => Some(changes),
        Err(errors) => {
            add_key_errors(&mut form.errors, errors);
            None
        }
    }
}

pub async fn submit(
    scope: EnvScope<ManageKeys>,
    path: web::Path<KeyPath>,
    state: web::Data<AppState>,
    form: web::Form<EditFormData>,
) -> Result<HttpResponse, AppError> {
    let id = path.id;
    // A key's type never changes: reading it before the locked update is safe.
    let env_id = scope.env_id();
    let key_type = services::run(&state.pool, move |conn| {
        crate::db::api_keys::find(conn, env_id, id)?.ok_or(AppError::NotFound)
    })
    .await?
    .key_type;
    let mut view = form.into_inner().into_view(key_type);
    let Some(changes) = validate(&mut view, state.clock.now()) else {
        return show_form_again(&state, &scope, id, view).await;
    };
    let (env_id, change) = (scope.env_id(), state.change(scope.actor()));
    let updated = services::run(&state.pool, move |conn| {
        key_service::update(conn, env_id, id, changes, &change)
    })
    .await?;
    if updated.is_none() {
        view.errors.add("name", key_service::DUPLICATE_NAME);
        return show_form_again(&state, &scope, id, view).await;
    }
    tracing::info!(key_id = %id, "API key edited");
    let mut page = KeyPage::load(&state, &scope, id, Period::default()).await?;
    page.flash = Some("Saved.".to_owned());
    page.respond(StatusCode::OK, scope.htmx, Fragment::Section)
}

async fn show_form_again(
    state: &AppState,
    scope: &EnvScope<ManageKeys>,
    id: KeyId,
    view: EditForm,
) -> Result<HttpResponse, AppError> {
    let mut page = KeyPage::load(state, scope, id, Period::default()).await?;
    page.edit = view;
    if scope.htmx {
        Ok(retarget(
            page.respond(StatusCode::OK, true, Fragment::Edit)?,
            "#key-edit",
            "outerHTML",
        ))
    } else {
        page.respond(StatusCode::UNPROCESSABLE_ENTITY, false, Fragment::Edit)
    }
}
