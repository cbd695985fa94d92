//! What an audit event says happened, and to what: typed here, spelled once.

use std::fmt;

use super::ids::{KeyId, ProjectId, UserId};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuditAction {
    ApiKeyCreated,
    ApiKeyEnabled,
    ApiKeyDisabled,
    ApiKeyUpdated,
    ApiKeyRotated,
    ApiKeyRevoked,
    MembershipAdded,
    MembershipRoleChanged,
    MembershipRemoved,
    UserCreated,
    UserDisabled,
    UserEnabled,
    UserAdminGranted,
    UserAdminRevoked,
    ProjectCreated,
}

impl AuditAction {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::ApiKeyCreated => "api_key.created",
            Self::ApiKeyEnabled => "api_key.enabled",
            Self::ApiKeyDisabled => "api_key.disabled",
            Self::ApiKeyUpdated => "api_key.updated",
            Self::ApiKeyRotated => "api_key.rotated",
            Self::ApiKeyRevoked => "api_key.revoked",
            Self::MembershipAdded => "membership.added",
            Self::MembershipRoleChanged => "membership.role_changed",
            Self::MembershipRemoved => "membership.removed",
            Self::UserCreated => "user.created",
            Self::UserDisabled => "user.disabled",
            Self::UserEnabled => "user.enabled",
            Self::UserAdminGranted => "user.admin_granted",
            Self::UserAdminRevoked => "user.admin_revoked",
            Self::ProjectCreated => "project.created",
        }
    }

    /// The action a change of the ON/OFF switch records, however it was made.
    pub fn switched(enabled: bool) -> Self {
        if enabled {
            Self::ApiKeyEnabled
        } else {
            Self::ApiKeyDisabled
        }
    }
}

impl fmt::Display for AuditAction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What an event is about, written as `kind:id`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuditTarget {
    ApiKey(KeyId),
    User(UserId),
    Project(ProjectId),
}

impl fmt::Display for AuditTarget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::ApiKey(id) => write!(f, "api_key:{id}"),
            Self::User(id) => write!(f, "user:{id}"),
            Self::Project(id) => write!(f, "project:{id}"),
        }
    }
}
