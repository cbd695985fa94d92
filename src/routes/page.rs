//! What every dashboard page shares: the header chrome, the environment check, rendering.

use actix_session::Session;
use actix_web::HttpResponse;
use actix_web::http::{StatusCode, header};
use askama::Template;
use chrono::{DateTime, Utc};

use crate::auth::current_user::{CurrentUser, csrf_token};
use crate::auth::permissions::EnvAccess;
use crate::db;
use crate::domain::ids::{KeyId, UserId};
use crate::error::AppError;
use crate::services;
use crate::state::AppState;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tab {
    ApiKeys,
    Members,
    Activity,
    Admin,
    None,
}

pub struct NavEnv {
    pub slug: String,
    pub name: String,
}

pub struct NavProject {
    pub slug: String,
    pub name: String,
    pub envs: Vec<NavEnv>,
}

pub struct Current {
    pub project_slug: String,
    pub project_name: String,
    pub env_slug: String,
    pub env_name: String,
}

/// The header: who is signed in, where they are, where they can go.
pub struct Chrome {
    pub user: CurrentUser,
    pub csrf: String,
    pub nav: Vec<NavProject>,
    pub current: Option<Current>,
    pub tab: Tab,
    /// Owners and admins see the Activity tab.
    pub can_view_activity: bool,
}

impl Chrome {
    pub async fn load(
        state: &AppState,
        user: &CurrentUser,
        session: &Session,
        access: Option<&EnvAccess>,
        tab: Tab,
    ) -> Result<Self, AppError> {
        let csrf = csrf_token(session)?;
        let (user_id, is_admin) = (user.id, user.is_admin);
        let rows = services::run(&state.pool, move |conn| {
            Ok(db::projects::accessible_environments(
                conn, user_id, is_admin,
            )?)
        })
        .await?;
        let mut nav: Vec<NavProject> = Vec::new();
        for (project, env) in rows {
            let env = NavEnv {
                slug: env.slug,
                name: env.name,
            };
            match nav.last_mut() {
                Some(last) if last.slug == project.slug => last.envs.push(env),
                _ => nav.push(NavProject {
                    slug: project.slug,
                    name: project.name,
                    envs: vec![env],
                }),
            }
        }
        let current = access.map(|a| Current {
            project_slug: a.project.slug.clone(),
            project_name: a.project.name.clone(),
            env_slug: a.env.slug.clone(),
            env_name: a.env.name.clone(),
        });
        Ok(Self {
            user: user.clone(),
            csrf,
            nav,
            current,
            tab,
            can_view_activity: access
                .is_some_and(|a| a.may(crate::auth::permissions::Action::ViewActivity)),
        })
    }

    /// The path of a tab in the current environment, e.g. `/projects/default/environments/production/members`.
    pub fn env_path(&self, tab: &str) -> String {
        match &self.current {
            Some(c) => env_path(&c.project_slug, &c.env_slug, tab),
            None => "/".to_owned(),
        }
    }

    pub fn tab_path_for(&self, project_slug: &str, env_slug: &str) -> String {
        let tab = if self.tab == Tab::Members {
            "members"
        } else {
            "api-keys"
        };
        env_path(project_slug, env_slug, tab)
    }

    pub fn current_envs(&self) -> &[NavEnv] {
        self.current
            .as_ref()
            .and_then(|c| self.nav.iter().find(|p| p.slug == c.project_slug))
            .map_or(&[], |p| p.envs.as_slice())
    }
}

pub fn env_path(project_slug: &str, env_slug: &str, tab: &str) -> String {
    format!("/projects/{project_slug}/environments/{env_slug}/{tab}")
}

pub fn html(status: StatusCode, template: &impl Template) -> Result<HttpResponse, AppError> {
    let body = template
        .render()
        .map_err(|e| AppError::Unexpected(anyhow::anyhow!("rendering a template: {e}")))?;
    Ok(HttpResponse::build(status)
        .content_type("text/html; charset=utf-8")
        .body(body))
}

pub fn see_other(location: &str) -> HttpResponse {
    HttpResponse::SeeOther()
        .insert_header((header::LOCATION, location.to_owned()))
        .finish()
}

/// Field-by-field messages for a form that is shown again, keyed by the form's field names.
pub type FieldErrors = crate::domain::FieldErrors<&'static str>;

pub fn format_time(t: &DateTime<Utc>) -> String {
    t.format("%Y-%m-%d %H:%M UTC").to_string()
}

pub fn format_date_or(t: Option<&DateTime<Utc>>, none: &str) -> String {
    t.map_or_else(|| none.to_owned(), format_time)
}

/// `…/api-keys/{id}/…`: a path segment that is not a key id names nothing, so it is not found.
#[derive(Debug, serde::Deserialize)]
pub struct KeyPath {
    pub id: KeyId,
}

/// `…/members/{user_id}/…` and `/admin/users/{user_id}/…`.
#[derive(Debug, serde::Deserialize)]
pub struct UserPath {
    pub user_id: UserId,
}

/// A checkbox: present in the form (whatever its value) means checked.
pub fn checkbox<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<bool, D::Error> {
    let _: serde::de::IgnoredAny = serde::Deserialize::deserialize(deserializer)?;
    Ok(true)
}

/// An invalid form answered to htmx: htmx swaps only 2xx answers, so the form comes back as 200
/// and is re-targeted where its messages land beside the fields (`target`, swapped by `swap`).
pub fn retarget(
    mut response: HttpResponse,
    target: &'static str,
    swap: &'static str,
) -> HttpResponse {
    let headers = response.headers_mut();
    headers.insert(
        header::HeaderName::from_static("hx-retarget"),
        header::HeaderValue::from_static(target),
    );
    headers.insert(
        header::HeaderName::from_static("hx-reswap"),
        header::HeaderValue::from_static(swap),
    );
    response
}

/// A page that carries a key's plaintext. Every page is no-store already; belt and braces.
pub fn no_store(mut response: HttpResponse) -> HttpResponse {
    response.headers_mut().insert(
        header::CACHE_CONTROL,
        header::HeaderValue::from_static("no-store"),
    );
    response
}

/// `no_store` when the page shows a secret once (a new or rotated key's plaintext).
pub fn no_store_if(shows_secret: bool, response: HttpResponse) -> HttpResponse {
    if shows_secret {
        no_store(response)
    } else {
        response
    }
}

/// The Add panel's and the Edit form's name for each field of a key.
pub fn key_form_field(field: crate::services::keys::KeyField) -> &'static str {
    use crate::services::keys::KeyField;
    match field {
        KeyField::Name => "name",
        KeyField::Description => "description",
        KeyField::Type => "type",
        KeyField::Scopes => "scopes",
        KeyField::Expiry => "expiration",
        KeyField::RateLimit => "rate_limit",
        KeyField::AllowedIps => "allowed_ips",
        KeyField::AllowedOrigins => "allowed_origins",
        KeyField::Quota => "quota",
        KeyField::Owner => "owner",
        // The forms do not set metadata; the API does.
        KeyField::Meta => "meta",
    }
}

/// Puts a key parser's messages beside the form's fields.
pub fn add_key_errors(
    form: &mut FieldErrors,
    errors: crate::domain::FieldErrors<crate::services::keys::KeyField>,
) {
    for (field, message) in errors.into_vec() {
        form.add(key_form_field(field), message);
    }
}

const FLASH_KEY: &str = "flash";

/// A message for the next page this session shows (a plain form's change, then its redirect).
pub fn set_flash(session: &Session, message: &str) -> Result<(), AppError> {
    Ok(session.insert(FLASH_KEY, message)?)
}

/// The message left by the change before the redirect, once.
pub fn take_flash(session: &Session) -> Option<String> {
    // `remove` marks the session changed even when the key is absent, which would write the
    // session row on every list view; only a message actually there is worth a write.
    if !session.contains_key(FLASH_KEY) {
        return None;
    }
    session.remove_as::<String>(FLASH_KEY).and_then(Result::ok)
}

/// The Add panel's and the Edit form's policy fields as typed (SPEC §11): Owner, Allowed IPs
/// and Allowed origins (one a line), Quota and Quota period.
#[derive(Debug, Clone, Default, serde::Deserialize)]
#[serde(default)]
pub struct PolicyForm {
    pub owner: String,
    pub allowed_ips: String,
    pub allowed_origins: String,
    pub quota: String,
    pub quota_period: String,
}

impl PolicyForm {
    /// Each field through its parser; a blank field is no restriction, no quota, no owner.
    pub fn draft(&self) -> crate::services::keys::PolicyDraft {
        use crate::domain::policy::{AllowedIps, AllowedOrigins, OwnerId, Quota};
        crate::services::keys::PolicyDraft {
            allowed_ips: Some(AllowedIps::parse_lines(&self.allowed_ips)),
            allowed_origins: Some(AllowedOrigins::parse_lines(&self.allowed_origins)),
            quota: Some(Quota::parse_form(&self.quota, &self.quota_period)),
            owner_id: Some(OwnerId::parse_optional(&self.owner)),
            meta: None,
        }
    }

    /// A key's current values, to edit.
    pub fn of_key(key: &crate::db::api_keys::ApiKey) -> Self {
        Self {
            owner: key.owner_id.clone().unwrap_or_default(),
            allowed_ips: key.allowed_ips.as_deref().unwrap_or_default().join("\n"),
            allowed_origins: key
                .allowed_origins
                .as_deref()
                .unwrap_or_default()
                .join("\n"),
            quota: key.quota_limit.map(|n| n.to_string()).unwrap_or_default(),
            quota_period: key
                .quota_period
                .clone()
                .unwrap_or_else(|| "month".to_owned()),
        }
    }

    /// The Quota period choices: (value, label, selected).
    pub fn periods(&self) -> Vec<(&'static str, &'static str, bool)> {
        crate::domain::policy::QuotaPeriod::ALL
            .iter()
            .map(|p| (p.as_str(), p.label(), p.as_str() == self.quota_period))
            .collect()
    }
}
