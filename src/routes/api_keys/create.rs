use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use serde::Deserialize;

use super::{ApiKeysPage, Fragment, NewKeyForm, Reveal};
use crate::auth::scope::{EnvScope, ManageKeys};
use crate::domain::api_key::{Expiry, RateLimit};
use crate::error::AppError;
use crate::routes::page::{FieldErrors, PolicyForm, checkbox};
use crate::routes::page::{add_key_errors, retarget};
use crate::services;
use crate::services::keys::{self as key_service, KeyDraft, KeyHome, KeySpec};
use crate::state::AppState;

/// GET …/api-keys/new: the Add panel (htmx), or the page with it open (no JavaScript).
pub async fn show(
    scope: EnvScope<ManageKeys>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, AppError> {
    let mut page = ApiKeysPage::load(&state, &scope).await?;
    page.new_key = Some(NewKeyForm::default());
    page.respond(StatusCode::OK, scope.htmx, Fragment::Panel)
}

#[derive(Deserialize)]
pub struct NewKeyFormData {
    #[serde(default)]
    name: String,
    #[serde(default)]
    description: String,
    #[serde(rename = "type", default)]
    key_type: String,
    #[serde(default, deserialize_with = "checkbox")]
    scope_read: bool,
    #[serde(default, deserialize_with = "checkbox")]
    scope_write: bool,
    #[serde(default, deserialize_with = "checkbox")]
    scope_admin: bool,
    #[serde(default)]
    expiration: String,
    #[serde(default)]
    expires_on: String,
    #[serde(default)]
    rate_limit: String,
    /// Owner, Allowed IPs, Allowed origins, Quota and Quota period, shared with the other form.
    #[serde(flatten)]
    policy: PolicyForm,
}

impl NewKeyFormData {
    fn into_view(self) -> NewKeyForm {
        NewKeyForm {
            name: self.name,
            description: self.description,
            key_type: self.key_type,
            scope_read: self.scope_read,
            scope_write: self.scope_write,
            scope_admin: self.scope_admin,
            expiration: self.expiration,
            expires_on: self.expires_on,
            rate_limit: self.rate_limit,
            policy: self.policy,
            errors: FieldErrors::default(),
        }
    }
}

fn validate(form: &mut NewKeyForm, now: chrono::DateTime<chrono::Utc>) -> Option<KeySpec> {
    let scopes: Vec<&str> = [
        (form.scope_read, "read"),
        (form.scope_write, "write"),
        (form.scope_admin, "admin"),
    ]
    .into_iter()
    .filter_map(|(on, scope)| on.then_some(scope))
    .collect();
    let draft = KeyDraft {
        name: &form.name,
        description: &form.description,
        key_type: &form.key_type,
        scopes: &scopes,
        expiry: Expiry::from_choice(&form.expiration, &form.expires_on, now),
        rate_limit: RateLimit::parse_optional(&form.rate_limit),
        policy: form.policy.draft(),
    };
    match KeySpec::parse(draft) {
        Ok(spec) => Some(spec),
        Err(errors) => {
            add_key_errors(&mut form.errors, errors);
            None
        }
    }
}

/// POST …/api-keys: creates the key and shows its plaintext once.
pub async fn submit(
    scope: EnvScope<ManageKeys>,
    state: web::Data<AppState>,
    form: web::Form<NewKeyFormData>,
) -> Result<HttpResponse, AppError> {
    let mut view = form.into_inner().into_view();
    let Some(valid) = validate(&mut view, state.clock.now()) else {
        return show_form_again(&state, &scope, view).await;
    };
    let home = KeyHome::of(&scope.access.env, &state.config.key_prefix)?;
    let change = state.change(scope.actor());
    let created = services::run(&state.pool, move |conn| {
        key_service::create(conn, &home, &valid, &change)
    })
    .await?;
    let Some((key, plain)) = created else {
        view.errors.add("name", key_service::DUPLICATE_NAME);
        return show_form_again(&state, &scope, view).await;
    };
    tracing::info!(key_id = %key.id, environment_id = %key.environment_id, "API key created");
    let mut page = ApiKeysPage::load(&state, &scope).await?;
    page.reveal = Some(Reveal {
        title: "API key created",
        name: key.name,
        key: plain,
    });
    page.respond(StatusCode::OK, scope.htmx, Fragment::Section)
}

async fn show_form_again(
    state: &AppState,
    scope: &EnvScope<ManageKeys>,
    view: NewKeyForm,
) -> Result<HttpResponse, AppError> {
    let mut page = ApiKeysPage::load(state, scope).await?;
    page.new_key = Some(view);
    if scope.htmx {
        Ok(retarget(
            page.respond(StatusCode::OK, true, Fragment::Panel)?,
            "#panel",
            "innerHTML",
        ))
    } else {
        page.respond(StatusCode::UNPROCESSABLE_ENTITY, false, Fragment::Panel)
    }
}
