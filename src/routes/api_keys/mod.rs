//! The API Keys tab: one page template whose blocks also answer htmx (section, panel).

pub mod create;
pub mod list;
pub mod revoke;
pub mod rotate;
pub mod toggle;

use actix_web::HttpResponse;
use actix_web::http::StatusCode;
use askama::Template;
use chrono::Utc;

use crate::auth::permissions::{Action, EnvAccess};
use crate::auth::scope::{EnvScope, Permission};
use crate::db::{self, api_keys::ApiKey};
use crate::domain::api_key::KeyStatus;
use crate::domain::ids::KeyId;
use crate::domain::key_format::PlainApiKey;
use crate::error::AppError;
use crate::routes::page::{Chrome, Tab, env_path, format_date_or, format_time, html};
use crate::services;
use crate::state::AppState;

/// One row of the table, as a person reads it.
pub struct KeyRow {
    pub id: KeyId,
    pub name: String,
    pub description: String,
    pub masked: String,
    pub type_label: &'static str,
    pub scopes: Vec<&'static str>,
    pub enabled: bool,
    pub revoked: bool,
    pub expired: bool,
    pub created: String,
    pub created_full: String,
    pub last_used: String,
    pub expires: String,
}

impl KeyRow {
    pub fn from_key(key: &ApiKey, now: chrono::DateTime<Utc>) -> Self {
        let status = key.status(now);
        Self {
            id: key.id,
            name: key.name.clone(),
            description: key.description.clone(),
            masked: key.masked.clone(),
            type_label: key.key_type.label(),
            scopes: key.scopes.iter().map(|s| s.as_str()).collect(),
            enabled: key.enabled,
            revoked: status == KeyStatus::Revoked,
            expired: status == KeyStatus::Expired,
            created: key.created_at.format("%Y-%m-%d").to_string(),
            created_full: format_time(&key.created_at),
            last_used: format_date_or(key.last_used_at.as_ref(), "Never"),
            expires: format_date_or(key.expires_at.as_ref(), "Never"),
        }
    }
}

/// What the Add panel shows: the values typed so far and what was wrong with them.
pub struct NewKeyForm {
    pub name: String,
    pub description: String,
    pub key_type: String,
    pub scope_read: bool,
    pub scope_write: bool,
    pub scope_admin: bool,
    pub expiration: String,
    pub expires_on: String,
    pub rate_limit: String,
    pub errors: crate::routes::page::FieldErrors,
}

impl Default for NewKeyForm {
    fn default() -> Self {
        Self {
            name: String::new(),
            description: String::new(),
            key_type: "secret".to_owned(),
            scope_read: true,
            scope_write: false,
            scope_admin: false,
            expiration: "never".to_owned(),
            expires_on: String::new(),
            rate_limit: String::new(),
            errors: Default::default(),
        }
    }
}

/// A rotate or revoke waiting for the person to confirm it.
pub struct Confirm {
    pub id: KeyId,
    pub action: &'static str,
    pub title: &'static str,
    pub question: String,
    pub consequence: &'static str,
    pub button: &'static str,
    pub name: String,
    pub masked: String,
}

/// The one-time display of a plaintext key.
pub struct Reveal {
    pub title: &'static str,
    pub name: String,
    pub key: PlainApiKey,
}

#[derive(Template)]
#[template(path = "pages/api_keys.html", blocks = ["section", "panel"])]
pub struct ApiKeysPage {
    pub chrome: Chrome,
    pub csrf: String,
    pub base: String,
    pub access_label: String,
    pub key_shape: String,
    pub can_manage: bool,
    pub rows: Vec<KeyRow>,
    pub new_key: Option<NewKeyForm>,
    pub confirm: Option<Confirm>,
    pub reveal: Option<Reveal>,
    pub flash: Option<String>,
}

#[derive(Template)]
#[template(path = "partials/key_row.html")]
pub struct KeyRowPartial {
    pub row: KeyRow,
    pub base: String,
    pub csrf: String,
    pub can_manage: bool,
}

impl ApiKeysPage {
    pub async fn load<P: Permission>(
        state: &AppState,
        scope: &EnvScope<P>,
    ) -> Result<Self, AppError> {
        let access = &scope.access;
        let env_id = access.env.id;
        let keys = services::run(&state.pool, move |conn| {
            Ok(db::api_keys::list_for_environment(conn, env_id)?)
        })
        .await?;
        let chrome = Chrome::load(
            state,
            &scope.user,
            &scope.session,
            Some(access),
            Tab::ApiKeys,
        )
        .await?;
        Ok(Self {
            csrf: chrome.csrf.clone(),
            chrome,
            base: base_path(access),
            access_label: format!("{} · {}", access.project.name, access.env.name),
            key_shape: format!(
                "{}_sk_{}_…",
                state.config.key_prefix.as_str(),
                access.env.key_tag
            ),
            can_manage: access.may(Action::ManageKeys),
            rows: keys
                .iter()
                .map(|k| KeyRow::from_key(k, state.clock.now()))
                .collect(),
            new_key: None,
            confirm: None,
            reveal: None,
            flash: None,
        })
    }

    /// The whole page, or for htmx the part that `target` names.
    pub fn respond(
        &self,
        status: StatusCode,
        htmx: bool,
        target: Fragment,
    ) -> Result<HttpResponse, AppError> {
        let mut response = match (htmx, target) {
            (false, _) => html(status, self)?,
            (true, Fragment::Section) => html(status, &self.as_section())?,
            (true, Fragment::Panel) => html(status, &self.as_panel())?,
        };
        if self.reveal.is_some() {
            // Belt and braces: every page is no-store already; this one carries a secret.
            response.headers_mut().insert(
                actix_web::http::header::CACHE_CONTROL,
                actix_web::http::header::HeaderValue::from_static("no-store"),
            );
        }
        Ok(response)
    }
}

#[derive(Debug, Clone, Copy)]
pub enum Fragment {
    Section,
    Panel,
}

pub fn base_path(access: &EnvAccess) -> String {
    env_path(&access.project.slug, &access.env.slug, "api-keys")
}
