//! What every dashboard page shares: the header chrome, the environment check, rendering.

use actix_session::Session;
use actix_web::http::{StatusCode, header};
use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use chrono::{DateTime, Utc};

use crate::auth::current_user::{CurrentUser, csrf_token};
use crate::auth::permissions::EnvAccess;
use crate::db;
use crate::error::AppError;
use crate::state::AppState;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tab {
    ApiKeys,
    Members,
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
}

impl Chrome {
    pub async fn load(
        state: &AppState,
        user: CurrentUser,
        session: &Session,
        access: Option<&EnvAccess>,
        tab: Tab,
    ) -> Result<Self, AppError> {
        let csrf = csrf_token(session)?;
        let (user_id, is_admin) = (user.id, user.is_admin);
        let rows = db::run(&state.pool, move |conn| {
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
            user,
            csrf,
            nav,
            current,
            tab,
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

/// The environment as this user may see it; 404 when it does not exist or is not theirs.
pub async fn env_access(
    state: &AppState,
    user: &CurrentUser,
    project_slug: String,
    env_slug: String,
) -> Result<EnvAccess, AppError> {
    let (user_id, is_admin) = (user.id, user.is_admin);
    db::run(&state.pool, move |conn| {
        let Some((project, env)) = db::projects::find_environment(conn, &project_slug, &env_slug)?
        else {
            return Err(AppError::NotFound);
        };
        let role = db::memberships::role_of(conn, user_id, env.id)?;
        EnvAccess::grant(project, env, role, is_admin).ok_or(AppError::NotFound)
    })
    .await
}

pub type EnvPath = web::Path<(String, String)>;

/// htmx asked for a fragment (not a boosted full navigation).
pub fn is_htmx(req: &HttpRequest) -> bool {
    req.headers().contains_key("HX-Request") && !req.headers().contains_key("HX-Boosted")
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

pub fn client_ip(req: &HttpRequest) -> Option<String> {
    req.peer_addr().map(|a| a.ip().to_string())
}

/// Field-by-field messages for a form that is shown again.
#[derive(Debug, Default)]
pub struct FieldErrors(Vec<(&'static str, String)>);

impl FieldErrors {
    pub fn add(&mut self, field: &'static str, message: impl std::fmt::Display) {
        self.0.push((field, message.to_string()));
    }
    pub fn get(&self, field: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(f, _)| *f == field)
            .map(|(_, m)| m.as_str())
    }
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
    /// Runs a parser and records its message under `field` when it fails.
    pub fn check<T>(
        &mut self,
        field: &'static str,
        parsed: Result<T, crate::domain::Invalid>,
    ) -> Option<T> {
        match parsed {
            Ok(v) => Some(v),
            Err(e) => {
                self.add(field, e);
                None
            }
        }
    }
}

pub fn format_time(t: &DateTime<Utc>) -> String {
    t.format("%Y-%m-%d %H:%M UTC").to_string()
}

pub fn format_date_or(t: Option<&DateTime<Utc>>, none: &str) -> String {
    t.map_or_else(|| none.to_owned(), format_time)
}

/// An id from a URL; anything that is not one names nothing, so it is simply not found.
pub fn parse_id(raw: &str) -> Result<i64, AppError> {
    raw.parse().map_err(|_| AppError::NotFound)
}
