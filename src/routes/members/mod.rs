//! The Members tab: who belongs to an environment, and as what.

pub mod add;
pub mod list;
pub mod remove;
pub mod role;

use askama::Template;

use crate::auth::permissions::{Action, EnvAccess};
use crate::auth::scope::{EnvScope, Permission};
use crate::db;
use crate::domain::ids::UserId;
use crate::error::AppError;
use crate::routes::page::{Chrome, Tab, env_path};
use crate::services;
use crate::state::AppState;

pub struct MemberRow {
    pub user_id: UserId,
    pub name: String,
    pub email: String,
    pub role: &'static str,
    pub role_label: &'static str,
    pub disabled: bool,
}

#[derive(Template)]
#[template(path = "pages/members.html")]
pub struct MembersPage {
    pub chrome: Chrome,
    pub csrf: String,
    pub base: String,
    pub access_label: String,
    pub can_manage: bool,
    pub members: Vec<MemberRow>,
    pub form_email: String,
    pub form_role: String,
    pub error: Option<String>,
}

impl MembersPage {
    pub async fn load<P: Permission>(
        state: &AppState,
        scope: &EnvScope<P>,
    ) -> Result<Self, AppError> {
        let access = &scope.access;
        let env_id = access.env.id;
        let members = services::run(&state.pool, move |conn| {
            Ok(db::memberships::list(conn, env_id)?)
        })
        .await?;
        let chrome = Chrome::load(
            state,
            &scope.user,
            &scope.session,
            Some(access),
            Tab::Members,
        )
        .await?;
        Ok(Self {
            csrf: chrome.csrf.clone(),
            chrome,
            base: members_path(access),
            access_label: format!("{} · {}", access.project.name, access.env.name),
            can_manage: access.may(Action::ManageMembers),
            members: members
                .into_iter()
                .map(|(u, role)| MemberRow {
                    user_id: u.id,
                    disabled: u.is_disabled(),
                    name: u.display_name,
                    email: u.email,
                    role: role.as_str(),
                    role_label: role.label(),
                })
                .collect(),
            form_email: String::new(),
            form_role: "member".to_owned(),
            error: None,
        })
    }
}

pub fn members_path(access: &EnvAccess) -> String {
    env_path(&access.project.slug, &access.env.slug, "members")
}
