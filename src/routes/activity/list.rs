//! GET …/activity: the environment's audit events, newest first, 50 a page.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use askama::Template;

use super::{ActivityQuery, PAGE_SIZE, actor_label, details_label, target_label, time_label};
use crate::auth::scope::{EnvScope, ViewActivity};
use crate::db::audit::{self, AuditCursor, AuditEvent};
use crate::domain::audit::AuditAction;
use crate::error::AppError;
use crate::routes::page::{Chrome, Tab, env_path, html};
use crate::services;
use crate::state::AppState;

pub struct EventRow {
    pub time: String,
    pub who: String,
    pub action: String,
    pub target: String,
    /// A key's events link to that key's own view of the trail.
    pub key_id: Option<i64>,
    pub ip: String,
    pub details: String,
}

impl EventRow {
    pub fn of(e: &AuditEvent) -> Self {
        Self {
            time: time_label(e),
            who: actor_label(e),
            action: e.action.clone(),
            target: target_label(e),
            key_id: (e.target_type.as_deref() == Some("api_key"))
                .then_some(e.target_id)
                .flatten(),
            ip: e.client_ip.clone().unwrap_or_default(),
            details: details_label(e),
        }
    }
}

#[derive(Template)]
#[template(path = "pages/activity.html")]
pub struct ActivityPage {
    pub chrome: Chrome,
    pub base: String,
    pub access_label: String,
    pub actions: Vec<&'static str>,
    pub action: String,
    pub key: String,
    pub rows: Vec<EventRow>,
    /// Query strings of the neighbouring pages, when there are any.
    pub previous: Option<String>,
    pub next: Option<String>,
    pub export: String,
}

fn query_string(action: &str, key: &str, cursor: Option<(&str, i64)>) -> String {
    let mut pairs: Vec<(&str, String)> = Vec::new();
    if !action.is_empty() {
        pairs.push(("action", action.to_owned()));
    }
    if !key.is_empty() {
        pairs.push(("key", key.to_owned()));
    }
    if let Some((name, id)) = cursor {
        pairs.push((name, id.to_string()));
    }
    serde_urlencoded::to_string(&pairs).unwrap_or_default()
}

pub async fn show(
    scope: EnvScope<ViewActivity>,
    query: web::Query<ActivityQuery>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, AppError> {
    let filter = query.filter(scope.env_id());
    let cursor = match (query.before, query.after) {
        (Some(id), _) => AuditCursor::Before(id),
        (None, Some(id)) => AuditCursor::After(id),
        (None, None) => AuditCursor::Newest,
    };
    // One more than a page tells whether there is a page beyond it.
    let page_filter = filter.clone();
    let mut events = services::run(&state.pool, move |conn| {
        Ok(audit::page(conn, &page_filter, cursor, PAGE_SIZE + 1)?)
    })
    .await?;
    let more = events.len() as i64 > PAGE_SIZE;
    if more {
        match cursor {
            AuditCursor::After(_) => {
                events.remove(0);
            }
            _ => {
                events.pop();
            }
        }
    }
    let action = filter.action.clone().unwrap_or_default();
    let key = filter.key.map(|k| k.to_string()).unwrap_or_default();
    let (newest, oldest) = (events.first().map(|e| e.id), events.last().map(|e| e.id));
    let has_newer = matches!(cursor, AuditCursor::Before(_))
        || (matches!(cursor, AuditCursor::After(_)) && more);
    let has_older = matches!(cursor, AuditCursor::After(_)) || more;
    let base = env_path(
        &scope.access.project.slug,
        &scope.access.env.slug,
        "activity",
    );
    let page = ActivityPage {
        chrome: Chrome::load(
            &state,
            &scope.user,
            &scope.session,
            Some(&scope.access),
            Tab::Activity,
        )
        .await?,
        access_label: format!("{} · {}", scope.access.project.name, scope.access.env.name),
        actions: AuditAction::ALL
            .iter()
            .filter(|a| a.in_environment())
            .map(|a| a.as_str())
            .collect(),
        previous: newest
            .filter(|_| has_newer)
            .map(|id| query_string(&action, &key, Some(("after", id)))),
        next: oldest
            .filter(|_| has_older)
            .map(|id| query_string(&action, &key, Some(("before", id)))),
        export: format!("{base}/export?{}", query_string(&action, &key, None)),
        rows: events.iter().map(EventRow::of).collect(),
        base,
        action,
        key,
    };
    html(StatusCode::OK, &page)
}
