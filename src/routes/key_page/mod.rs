//! One key's page (SPEC §10): what the key is, its usage chart, and for owners and admins
//! Edit, Rotate with a grace period, and the key's own audit events. One page template whose
//! blocks also answer htmx (section, edit).

pub mod chart;
pub mod edit;
pub mod rotate;
pub mod show;

use actix_web::HttpResponse;
use actix_web::http::StatusCode;
use askama::Template;

use crate::auth::permissions::Action;
use crate::auth::scope::{EnvScope, Permission};
use crate::db::{self, api_keys::ApiKey, audit};
use crate::domain::api_key::KeyStatus;
use crate::domain::ids::KeyId;
use crate::error::AppError;
use crate::routes::activity::list::EventRow;
use crate::routes::api_keys::{Reveal, base_path};
use crate::routes::page::no_store_if;
use crate::routes::page::{Chrome, FieldErrors, Tab, format_date_or, format_time, html};
use crate::services;
use crate::state::AppState;
use chart::{Chart, Period};

/// The newest events shown on the page; the Activity tab, filtered by the key, has the rest.
pub const EVENTS_SHOWN: i64 = 20;

/// The key as the page shows it.
pub struct KeyView {
    pub id: KeyId,
    pub name: String,
    pub description: String,
    pub masked: String,
    pub status: &'static str,
    pub revoked: bool,
    pub type_label: &'static str,
    pub scopes: Vec<&'static str>,
    pub rate_limit: String,
    pub created: String,
    /// The creator's email; `None` for a key made by automation or Keyward itself.
    pub created_by: Option<String>,
    pub last_used: String,
    /// The client address the caller last reported (the verify body's `ip`).
    pub last_used_ip: Option<String>,
    pub expires: String,
    pub owner: String,
    /// The API Keys tab filtered to this key's owner, when it has one.
    pub owner_keys: Option<String>,
    pub allowed_ips: Vec<String>,
    pub allowed_origins: Vec<String>,
    pub is_publishable: bool,
    pub quota: String,
    /// The metadata, indented (Askama escapes it).
    pub meta: Option<String>,
    /// A leak report named this key: the **Leaked** badge links to where it was found.
    pub leak_url: Option<String>,
}

/// The Edit form: the values typed so far and what was wrong with them.
pub struct EditForm {
    pub name: String,
    pub description: String,
    pub rate_limit: String,
    /// `keep`, `never`, `30`, `90`, `365` or `date`.
    pub expiration: String,
    pub expires_on: String,
    pub policy: crate::routes::page::PolicyForm,
    /// The edited key's type: origins are for publishable keys.
    pub key_type: crate::domain::api_key::KeyType,
    pub errors: FieldErrors,
    /// Opened by the person (or by errors): without JavaScript it shows open.
    pub open: bool,
}

impl EditForm {
    pub fn of(key: &ApiKey) -> Self {
        Self {
            name: key.name.clone(),
            description: key.description.clone(),
            rate_limit: key
                .rate_limit_per_minute
                .map(|n| n.to_string())
                .unwrap_or_default(),
            expiration: "keep".to_owned(),
            expires_on: String::new(),
            policy: crate::routes::page::PolicyForm::of_key(key),
            key_type: key.key_type,
            errors: FieldErrors::default(),
            open: false,
        }
    }
}

/// A period link above the chart.
pub struct PeriodLink {
    pub label: &'static str,
    pub href: String,
    pub current: bool,
}

#[derive(Template)]
#[template(path = "pages/key.html", blocks = ["section", "edit"])]
pub struct KeyPage {
    pub chrome: Chrome,
    pub csrf: String,
    /// This page's own path; the reveal's Done comes back here.
    pub base: String,
    /// The API Keys tab.
    pub list: String,
    pub activity: String,
    pub access_label: String,
    pub key: KeyView,
    pub can_manage: bool,
    pub can_view_events: bool,
    pub edit: EditForm,
    pub periods: Vec<PeriodLink>,
    pub chart: Chart,
    pub events: Vec<EventRow>,
    pub reveal: Option<Reveal>,
    pub flash: Option<String>,
}

impl KeyPage {
    /// The key of this environment (revoked ones too); 404 for any other id.
    pub async fn load<P: Permission>(
        state: &AppState,
        scope: &EnvScope<P>,
        id: KeyId,
        period: Period,
    ) -> Result<Self, AppError> {
        let access = &scope.access;
        let env_id = access.env.id;
        let can_view_events = access.may(Action::ViewActivity);
        let (key, creator, events, leak_url) = services::run(&state.pool, move |conn| {
            let key = db::api_keys::find(conn, env_id, id)?.ok_or(AppError::NotFound)?;
            let creator = match key.created_by {
                Some(user) => db::users::find(conn, user)?.map(|u| u.email),
                None => None,
            };
            let events = if can_view_events {
                let filter = audit::AuditFilter {
                    environment: Some(env_id),
                    action: None,
                    key: Some(id),
                };
                audit::page(conn, &filter, audit::AuditCursor::Newest, EVENTS_SHOWN)?
            } else {
                Vec::new()
            };
            let leak_url = db::leaks::latest_urls(conn, &[id])?.remove(&id);
            Ok((key, creator, events, leak_url))
        })
        .await?;
        let now = state.clock.now();
        let counts = services::usage::hourly(state, id, now, period.hours_needed(now)).await?;
        let chrome = Chrome::load(
            state,
            &scope.user,
            &scope.session,
            Some(access),
            Tab::ApiKeys,
        )
        .await?;
        let list = base_path(access);
        let owner_keys = key.owner_id.as_ref().map(|owner| {
            let query = serde_urlencoded::to_string([("owner", owner)]).unwrap_or_default();
            format!("{list}?{query}")
        });
        let base = format!("{list}/{id}");
        // This node's uses not yet written count too.
        let last_used_at = key
            .last_used_at
            .max(state.verifier.usage.unflushed_last_used(id));
        let status = key.status(now);
        Ok(Self {
            csrf: chrome.csrf.clone(),
            chrome,
            periods: Period::ALL
                .into_iter()
                .map(|p| PeriodLink {
                    label: p.label(),
                    href: format!("{base}?period={}", p.param()),
                    current: p == period,
                })
                .collect(),
            activity: format!(
                "{}?key={id}",
                crate::routes::page::env_path(&access.project.slug, &access.env.slug, "activity")
            ),
            base,
            list,
            access_label: format!("{} · {}", access.project.name, access.env.name),
            can_manage: access.may(Action::ManageKeys),
            can_view_events,
            edit: EditForm::of(&key),
            chart: Chart::new(period, &counts),
            events: events.iter().map(EventRow::of).collect(),
            key: KeyView {
                id: key.id,
                status: status.label(),
                revoked: status == KeyStatus::Revoked,
                type_label: key.key_type.label(),
                scopes: key.scopes.iter().map(|s| s.as_str()).collect(),
                rate_limit: key
                    .rate_limit_per_minute
                    .map_or_else(|| "No limit".to_owned(), |n| format!("{n} per minute")),
                created: format_time(&key.created_at),
                created_by: creator,
                last_used: format_date_or(last_used_at.as_ref(), "Never"),
                expires: format_date_or(key.expires_at.as_ref(), "Never"),
                last_used_ip: key.last_used_ip.clone(),
                owner: key.owner_id.clone().unwrap_or_else(|| "None".to_owned()),
                owner_keys,
                allowed_ips: key.allowed_ips.clone().unwrap_or_default(),
                allowed_origins: key.allowed_origins.clone().unwrap_or_default(),
                is_publishable: key.key_type == crate::domain::api_key::KeyType::Publishable,
                quota: crate::domain::policy::Quota::from_stored(
                    key.quota_limit,
                    key.quota_period.as_deref(),
                )
                .map_or_else(
                    || "No quota".to_owned(),
                    |q| match q.period() {
                        crate::domain::policy::QuotaPeriod::Total => {
                            format!("{} in total", q.limit())
                        }
                        period => format!("{} per {} (UTC)", q.limit(), period.as_str()),
                    },
                ),
                meta: key
                    .meta
                    .as_ref()
                    .map(crate::domain::policy::KeyMeta::pretty),
                name: key.name,
                description: key.description,
                masked: key.masked,
                leak_url,
            },
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
        let response = match (htmx, target) {
            (false, _) => html(status, self)?,
            (true, Fragment::Section) => html(status, &self.as_section())?,
            (true, Fragment::Edit) => html(status, &self.as_edit())?,
        };
        Ok(no_store_if(self.reveal.is_some(), response))
    }
}

#[derive(Debug, Clone, Copy)]
pub enum Fragment {
    Section,
    Edit,
}
