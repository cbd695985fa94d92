//! What an audit event says happened, and to what: typed here, spelled once.

use std::fmt;

use super::ids::{KeyId, ProjectId, UserId, WebhookId};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuditAction {
    ApiKeyCreated,
    ApiKeyEnabled,
    ApiKeyDisabled,
    ApiKeyUpdated,
    ApiKeyRotated,
    ApiKeyRevoked,
    ApiKeyLeaked,
    ApiKeyExpiring,
    MembershipAdded,
    MembershipRoleChanged,
    MembershipRemoved,
    UserCreated,
    UserDisabled,
    UserEnabled,
    UserAdminGranted,
    UserAdminRevoked,
    UserPasswordChanged,
    UserPasswordReset,
    UserTwoFactorEnabled,
    UserTwoFactorDisabled,
    UserRecoveryCodeUsed,
    UserSignedOutEverywhere,
    ProjectCreated,
    WebhookCreated,
    WebhookDisabled,
    WebhookEnabled,
    WebhookDeleted,
    WebhookSecretRolled,
}

impl AuditAction {
    pub const ALL: [AuditAction; 28] = [
        Self::ApiKeyCreated,
        Self::ApiKeyEnabled,
        Self::ApiKeyDisabled,
        Self::ApiKeyUpdated,
        Self::ApiKeyRotated,
        Self::ApiKeyRevoked,
        Self::ApiKeyLeaked,
        Self::ApiKeyExpiring,
        Self::MembershipAdded,
        Self::MembershipRoleChanged,
        Self::MembershipRemoved,
        Self::UserCreated,
        Self::UserDisabled,
        Self::UserEnabled,
        Self::UserAdminGranted,
        Self::UserAdminRevoked,
        Self::UserPasswordChanged,
        Self::UserPasswordReset,
        Self::UserTwoFactorEnabled,
        Self::UserTwoFactorDisabled,
        Self::UserRecoveryCodeUsed,
        Self::UserSignedOutEverywhere,
        Self::ProjectCreated,
        Self::WebhookCreated,
        Self::WebhookDisabled,
        Self::WebhookEnabled,
        Self::WebhookDeleted,
        Self::WebhookSecretRolled,
    ];

    /// The actions an environment's trail can hold (the Activity tab's filter).
    pub fn in_environment(self) -> bool {
        ["api_key.", "membership.", "webhook."]
            .iter()
            .any(|p| self.as_str().starts_with(p))
    }

    /// The actions a webhook can announce (SPEC §12: every `api_key.*` action).
    pub fn is_key_event(self) -> bool {
        self.as_str().starts_with("api_key.")
    }

    /// The key events, in the order the webhook form lists them.
    pub fn key_events() -> impl Iterator<Item = AuditAction> {
        Self::ALL.into_iter().filter(|a| a.is_key_event())
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|a| a.as_str() == s)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::ApiKeyCreated => "api_key.created",
            Self::ApiKeyEnabled => "api_key.enabled",
            Self::ApiKeyDisabled => "api_key.disabled",
            Self::ApiKeyUpdated => "api_key.updated",
            Self::ApiKeyRotated => "api_key.rotated",
            Self::ApiKeyRevoked => "api_key.revoked",
            Self::ApiKeyLeaked => "api_key.leaked",
            Self::ApiKeyExpiring => "api_key.expiring",
            Self::MembershipAdded => "membership.added",
            Self::MembershipRoleChanged => "membership.role_changed",
            Self::MembershipRemoved => "membership.removed",
            Self::UserCreated => "user.created",
            Self::UserDisabled => "user.disabled",
            Self::UserEnabled => "user.enabled",
            Self::UserAdminGranted => "user.admin_granted",
            Self::UserAdminRevoked => "user.admin_revoked",
            Self::UserPasswordChanged => "user.password_changed",
            Self::UserPasswordReset => "user.password_reset",
            Self::UserTwoFactorEnabled => "user.two_factor_enabled",
            Self::UserTwoFactorDisabled => "user.two_factor_disabled",
            Self::UserRecoveryCodeUsed => "user.recovery_code_used",
            Self::UserSignedOutEverywhere => "user.signed_out_everywhere",
            Self::ProjectCreated => "project.created",
            Self::WebhookCreated => "webhook.created",
            Self::WebhookDisabled => "webhook.disabled",
            Self::WebhookEnabled => "webhook.enabled",
            Self::WebhookDeleted => "webhook.deleted",
            Self::WebhookSecretRolled => "webhook.secret_rolled",
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

/// What an event is about, as it is when the event is written (a later rename does not rewrite
/// the trail).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuditTarget<'a> {
    ApiKey {
        id: KeyId,
        name: &'a str,
        masked: &'a str,
    },
    User {
        id: UserId,
        email: &'a str,
    },
    Project {
        id: ProjectId,
        name: &'a str,
    },
    Webhook {
        id: WebhookId,
        url: &'a str,
    },
}

impl AuditTarget<'_> {
    pub fn kind(&self) -> &'static str {
        match self {
            Self::ApiKey { .. } => "api_key",
            Self::User { .. } => "user",
            Self::Project { .. } => "project",
            Self::Webhook { .. } => "webhook",
        }
    }
    pub fn id(&self) -> i64 {
        match self {
            Self::ApiKey { id, .. } => id.get(),
            Self::User { id, .. } => id.get(),
            Self::Project { id, .. } => id.get(),
            Self::Webhook { id, .. } => id.get(),
        }
    }
    /// A key's or project's name, a user's email, a webhook's URL.
    pub fn name(&self) -> &str {
        match self {
            Self::ApiKey { name, .. } | Self::Project { name, .. } => name,
            Self::User { email, .. } => email,
            Self::Webhook { url, .. } => url,
        }
    }
    pub fn masked(&self) -> Option<&str> {
        match self {
            Self::ApiKey { masked, .. } => Some(masked),
            _ => None,
        }
    }
}

/// Written as `kind:id`.
impl fmt::Display for AuditTarget<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.kind(), self.id())
    }
}

/// Who made a change (SPEC §10's actor types).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ActorKind {
    User,
    ApiKey,
    LeakReport,
    #[default]
    System,
}

impl ActorKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::User => "user",
            Self::ApiKey => "api_key",
            Self::LeakReport => "leak_report",
            Self::System => "system",
        }
    }
}
