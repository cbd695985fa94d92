use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use askama::Template;

use crate::auth::scope::AdminScope;
use crate::db;
use crate::db::audit::{AuditCursor, AuditFilter};
use crate::domain::ids::UserId;
use crate::error::AppError;
use crate::routes::activity::list::EventRow;
use crate::routes::page::{Chrome, FieldErrors, Tab, html};
use crate::services;
use crate::state::AppState;

pub struct UserRow {
    pub id: UserId,
    pub email: String,
    pub display_name: String,
    pub is_admin: bool,
    pub disabled: bool,
    pub is_self: bool,
    pub has_two_factor: bool,
}

/// An administrator's reset: the one-time password, shown in this one response only.
pub struct OneTimePassword {
    pub email: String,
    pub password: String,
}

#[derive(Default)]
pub struct UserFormView {
    pub email: String,
    pub display_name: String,
    pub errors: FieldErrors,
}

#[derive(Default)]
pub struct ProjectFormView {
    pub name: String,
    pub errors: FieldErrors,
}

#[derive(Template)]
#[template(path = "pages/admin.html")]
pub struct AdminPage {
    pub chrome: Chrome,
    pub csrf: String,
    pub users: Vec<UserRow>,
    pub user_form: UserFormView,
    pub project_form: ProjectFormView,
    pub error: Option<String>,
    /// The installation's own events (users, projects), newest first.
    pub events: Vec<EventRow>,
    pub one_time: Option<OneTimePassword>,
}

/// How many of the installation's events the Admin page lists.
const INSTALLATION_EVENTS: i64 = 50;

impl AdminPage {
    pub async fn load(state: &AppState, admin: &AdminScope) -> Result<Self, AppError> {
        let me = admin.user.id;
        let users = services::run(&state.pool, |conn| Ok(db::users::list_all(conn)?)).await?;
        let events = services::run(&state.pool, |conn| {
            Ok(db::audit::page(
                conn,
                &AuditFilter::default(),
                AuditCursor::Newest,
                INSTALLATION_EVENTS,
            )?)
        })
        .await?;
        let chrome = Chrome::load(state, &admin.user, &admin.session, None, Tab::Admin).await?;
        Ok(Self {
            csrf: chrome.csrf.clone(),
            chrome,
            users: users
                .into_iter()
                .map(|u| UserRow {
                    id: u.id,
                    is_self: u.id == me,
                    disabled: u.is_disabled(),
                    is_admin: u.is_admin,
                    has_two_factor: u.has_two_factor(),
                    email: u.email,
                    display_name: u.display_name,
                })
                .collect(),
            user_form: UserFormView::default(),
            project_form: ProjectFormView::default(),
            error: None,
            events: events.iter().map(EventRow::of).collect(),
            one_time: None,
        })
    }
}

pub async fn show(admin: AdminScope, state: web::Data<AppState>) -> Result<HttpResponse, AppError> {
    html(StatusCode::OK, &AdminPage::load(&state, &admin).await?)
}
