//! The API Keys tab: one page template whose blocks also answer htmx (section, panel).

pub mod bulk;
pub mod create;
pub mod list;
pub mod revoke;
pub mod rotate;
pub mod search;
pub mod toggle;

use actix_web::HttpResponse;
use actix_web::http::StatusCode;
use askama::Template;
use chrono::Utc;

use crate::auth::permissions::{Action, EnvAccess};
use crate::auth::scope::{EnvScope, Permission};
use crate::db::api_keys::ApiKey;
use crate::domain::api_key::KeyStatus;
use crate::domain::api_key::{KeyType, Scope};
use crate::domain::ids::KeyId;
use crate::domain::key_format::PlainApiKey;
use crate::domain::key_list::{
    KeyCursor, KeyFilter, KeyPosition, SearchText, StatusFilter, expiry_badge,
};
use crate::domain::policy::OwnerId;
use crate::error::AppError;
use crate::routes::page::no_store_if;
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
    /// `Expires in N days` / `Expires today` within 30 days of expiry.
    pub expiry_badge: Option<String>,
    /// A leak report named this key: the **Leaked** badge links to where it was found.
    pub leak_url: Option<String>,
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
            expiry_badge: expiry_badge(key.expires_at, key.revoked_at.is_some(), now),
            leak_url: None,
        }
    }

    pub fn with_leak(self, leak_url: Option<&String>) -> Self {
        Self {
            leak_url: leak_url.cloned(),
            ..self
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
    pub policy: crate::routes::page::PolicyForm,
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
            policy: crate::routes::page::PolicyForm {
                quota_period: "month".to_owned(),
                ..Default::default()
            },
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
    pub list: ListControls,
    pub new_key: Option<NewKeyForm>,
    pub confirm: Option<Confirm>,
    pub bulk_confirm: Option<bulk::BulkConfirm>,
    pub reveal: Option<Reveal>,
    pub flash: Option<String>,
    /// The current view's query string: a bulk action comes back to the same page.
    pub view: String,
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
    /// The first page of all keys: what a change answers with.
    pub async fn load<P: Permission>(
        state: &AppState,
        scope: &EnvScope<P>,
    ) -> Result<Self, AppError> {
        Self::load_view(state, scope, &KeyListQuery::default()).await
    }

    /// The page of keys a view's query string asks for.
    pub async fn load_view<P: Permission>(
        state: &AppState,
        scope: &EnvScope<P>,
        query: &KeyListQuery,
    ) -> Result<Self, AppError> {
        let access = &scope.access;
        let env_id = access.env.id;
        let now = state.clock.now();
        let (filter, no_match) = match query.search() {
            // A key typed into the URL by hand: never looked up or echoed from a URL.
            SearchText::Key(_) => (None, true),
            SearchText::Text(q) => (Some(query.filter(Some(q))), false),
            SearchText::Empty => (Some(query.filter(None)), false),
        };
        let cursor = query.cursor();
        let current_view = query.view_query();
        let view = match &filter {
            Some(filter) => {
                let filter = filter.clone();
                Some(
                    services::run(&state.pool, move |conn| {
                        services::key_list::view(conn, env_id, &filter, cursor, now)
                    })
                    .await?,
                )
            }
            None => None,
        };
        let shown: Vec<_> = view
            .iter()
            .flat_map(|v| v.page.keys.iter().map(|k| k.id))
            .collect();
        let leaks = services::run(&state.pool, move |conn| {
            Ok(crate::db::leaks::latest_urls(conn, &shown)?)
        })
        .await?;
        let base = base_path(access);
        let filter = filter.unwrap_or_default();
        let list = ListControls::new(&base, &filter, view.as_ref(), no_match);
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
            access_label: format!("{} · {}", access.project.name, access.env.name),
            key_shape: format!(
                "{}_sk_{}_…",
                state.config.key_prefix.as_str(),
                access.env.key_tag
            ),
            can_manage: access.may(Action::ManageKeys),
            rows: view
                .iter()
                .flat_map(|v| v.page.keys.iter())
                .map(|k| KeyRow::from_key(k, now).with_leak(leaks.get(&k.id)))
                .collect(),
            list,
            base,
            new_key: None,
            confirm: None,
            bulk_confirm: None,
            reveal: None,
            flash: None,
            view: current_view,
        })
    }

    /// The list answering a pasted key that no key of this environment has.
    pub async fn no_match<P: Permission>(
        state: &AppState,
        scope: &EnvScope<P>,
    ) -> Result<Self, AppError> {
        let mut page = Self::load(state, scope).await?;
        page.rows.clear();
        page.list = ListControls::new(&page.base, &KeyFilter::default(), None, true);
        Ok(page)
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
            (true, Fragment::Panel) => html(status, &self.as_panel())?,
        };
        Ok(no_store_if(self.reveal.is_some(), response))
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

/// `?q=&status=&type=&scope=&owner=&after=|before=` (SPEC §9). Unknown values select nothing
/// rather than fail, so a hand-edited URL still works.
#[derive(Debug, Default, Clone, serde::Deserialize)]
pub struct KeyListQuery {
    #[serde(default)]
    pub q: String,
    #[serde(default)]
    pub status: String,
    #[serde(rename = "type", default)]
    pub key_type: String,
    #[serde(default)]
    pub scope: String,
    #[serde(default)]
    pub owner: String,
    #[serde(default)]
    pub after: String,
    #[serde(default)]
    pub before: String,
}

impl KeyListQuery {
    pub fn search(&self) -> SearchText {
        SearchText::parse(&self.q)
    }

    pub fn filter(&self, q: Option<String>) -> KeyFilter {
        KeyFilter {
            q,
            status: StatusFilter::parse(&self.status).ok(),
            key_type: KeyType::parse(&self.key_type).ok(),
            scope: Scope::parse(&self.scope).ok(),
            owner: OwnerId::parse_optional(&self.owner).ok().flatten(),
        }
    }

    /// This view's query string as this server writes it (filters, then where the page
    /// starts); a key typed into `q` by hand is dropped, never echoed.
    pub fn view_query(&self) -> String {
        let q = match self.search() {
            SearchText::Text(q) => Some(q),
            SearchText::Empty | SearchText::Key(_) => None,
        };
        let start = match self.cursor() {
            KeyCursor::Newest => None,
            KeyCursor::After(p) => Some(("after", p)),
            KeyCursor::Before(p) => Some(("before", p)),
        };
        view_query(&self.filter(q), start)
    }

    /// A cursor this server did not hand out starts at the newest key.
    pub fn cursor(&self) -> KeyCursor {
        if let Ok(p) = KeyPosition::decode(&self.before) {
            KeyCursor::Before(p)
        } else if let Ok(p) = KeyPosition::decode(&self.after) {
            KeyCursor::After(p)
        } else {
            KeyCursor::Newest
        }
    }
}

/// The query string of a view: its filters, and where the page starts.
pub fn view_query(filter: &KeyFilter, cursor: Option<(&str, KeyPosition)>) -> String {
    let mut pairs: Vec<(&str, String)> = Vec::new();
    if let Some(q) = &filter.q {
        pairs.push(("q", q.clone()));
    }
    if let Some(status) = filter.status {
        pairs.push(("status", status.as_str().to_owned()));
    }
    if let Some(t) = filter.key_type {
        pairs.push(("type", t.as_str().to_owned()));
    }
    if let Some(scope) = filter.scope {
        pairs.push(("scope", scope.as_str().to_owned()));
    }
    if let Some(owner) = &filter.owner {
        pairs.push(("owner", owner.as_str().to_owned()));
    }
    if let Some((name, position)) = cursor {
        pairs.push((name, position.encode()));
    }
    serde_urlencoded::to_string(&pairs).unwrap_or_default()
}

/// The URL of a view: the list's path, with a query string when there is one.
pub fn view_url(base: &str, query: &str) -> String {
    if query.is_empty() {
        base.to_owned()
    } else {
        format!("{base}?{query}")
    }
}

/// The Search form's values, the pager and the banner.
pub struct ListControls {
    pub q: String,
    pub status: String,
    pub key_type: String,
    pub scope: String,
    pub owner: String,
    pub statuses: Vec<(&'static str, &'static str)>,
    pub filtered: bool,
    /// URLs of the neighbouring pages, when there are any.
    pub previous: Option<String>,
    pub next: Option<String>,
    /// Keys that expire within 7 days, and the Expiring soon view.
    pub expiring_soon: i64,
    pub expiring_url: String,
    /// A pasted key that no key of this environment has.
    pub no_match: bool,
}

impl ListControls {
    fn new(
        base: &str,
        filter: &KeyFilter,
        view: Option<&services::key_list::KeyListView>,
        no_match: bool,
    ) -> Self {
        let page = view.map(|v| &v.page);
        Self {
            q: filter.q.clone().unwrap_or_default(),
            status: filter.status.map(|s| s.as_str()).unwrap_or("").to_owned(),
            key_type: filter.key_type.map(|t| t.as_str()).unwrap_or("").to_owned(),
            scope: filter.scope.map(|s| s.as_str()).unwrap_or("").to_owned(),
            owner: filter
                .owner
                .as_ref()
                .map(|o| o.as_str().to_owned())
                .unwrap_or_default(),
            statuses: StatusFilter::ALL
                .iter()
                .map(|s| (s.as_str(), s.label()))
                .collect(),
            filtered: *filter != KeyFilter::default(),
            previous: page
                .and_then(|p| p.newer)
                .map(|p| view_url(base, &view_query(filter, Some(("before", p))))),
            next: page
                .and_then(|p| p.older)
                .map(|p| view_url(base, &view_query(filter, Some(("after", p))))),
            expiring_soon: view.map(|v| v.expiring_soon).unwrap_or(0),
            expiring_url: view_url(
                base,
                &view_query(
                    &KeyFilter {
                        status: Some(StatusFilter::Expiring),
                        ..KeyFilter::default()
                    },
                    None,
                ),
            ),
            no_match,
        }
    }
}
