//! The one permission check: SPEC §3's table, applied to (user, environment, action).

use crate::db::projects::{Environment, Project};
use crate::domain::user::Role;
use crate::error::AppError;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    ViewKeys,
    ManageKeys,
    ViewMembers,
    ManageMembers,
    /// The Activity tab and the audit events (SPEC §10): owners and admins.
    ViewActivity,
}

/// What a user is in one environment they can see. Existing at all means they may view it.
#[derive(Debug, Clone)]
pub struct EnvAccess {
    pub project: Project,
    pub env: Environment,
    pub role: Option<Role>,
    pub is_admin: bool,
}

impl EnvAccess {
    /// `None` when the user is neither admin nor a member: the environment does not exist for them.
    pub fn grant(
        project: Project,
        env: Environment,
        role: Option<Role>,
        is_admin: bool,
    ) -> Option<Self> {
        (is_admin || role.is_some()).then_some(Self {
            project,
            env,
            role,
            is_admin,
        })
    }

    pub fn may(&self, action: Action) -> bool {
        match action {
            Action::ViewKeys | Action::ViewMembers => true,
            Action::ManageKeys | Action::ManageMembers | Action::ViewActivity => {
                self.is_admin || self.role == Some(Role::Owner)
            }
        }
    }

    pub fn require(&self, action: Action) -> Result<(), AppError> {
        if self.may(action) {
            Ok(())
        } else {
            Err(AppError::Forbidden)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::ids::{EnvironmentId, ProjectId};
    use chrono::Utc;

    fn access(role: Option<Role>, is_admin: bool) -> Option<EnvAccess> {
        let project = Project {
            id: ProjectId(1),
            slug: "p".into(),
            name: "P".into(),
            created_at: Utc::now(),
        };
        let env = Environment {
            id: EnvironmentId(1),
            project_id: ProjectId(1),
            slug: "e".into(),
            name: "E".into(),
            key_tag: "live".into(),
            position: 0,
            created_at: Utc::now(),
        };
        EnvAccess::grant(project, env, role, is_admin)
    }

    #[test]
    fn the_table_of_spec_section_3() {
        assert!(access(None, false).is_none());
        let member = access(Some(Role::Member), false);
        let owner = access(Some(Role::Owner), false);
        let admin = access(None, true);
        for (who, manage) in [(member, false), (owner, true), (admin, true)] {
            let Some(who) = who else {
                panic!("should have access")
            };
            assert!(who.may(Action::ViewKeys));
            assert_eq!(who.may(Action::ManageKeys), manage);
            assert_eq!(who.may(Action::ManageMembers), manage);
        }
    }
}
