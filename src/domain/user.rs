//! People and what they may be in an environment.

use std::fmt;

use super::Invalid;

/// An email address, compared case-insensitively (stored as given, looked up by lowercase).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Email(String);

impl Email {
    pub fn parse(s: &str) -> Result<Self, Invalid> {
        let s = s.trim();
        let invalid = || Invalid::new("Enter an email address such as name@example.com.");
        if s.chars().count() > 254 || s.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(invalid());
        }
        let (local, domain) = s.split_once('@').ok_or_else(invalid)?;
        if local.is_empty() || domain.is_empty() || domain.contains('@') {
            return Err(invalid());
        }
        Ok(Self(s.to_owned()))
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DisplayName(String);

impl DisplayName {
    pub fn parse(s: &str) -> Result<Self, Invalid> {
        let s = s.trim();
        let count = s.chars().count();
        if count == 0 {
            Err(Invalid::new("Enter a display name."))
        } else if count > 100 {
            Err(Invalid::new("A display name is at most 100 characters."))
        } else {
            Ok(Self(s.to_owned()))
        }
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A password as typed. Debug never prints it.
pub struct Password(String);

impl Password {
    pub const MIN_CHARS: usize = 12;

    /// A new password must be long enough; one presented at sign-in is taken as it is.
    pub fn new_for_account(s: &str) -> Result<Self, Invalid> {
        let count = s.chars().count();
        if count < Self::MIN_CHARS {
            Err(Invalid::new(format!(
                "A password needs at least {} characters.",
                Self::MIN_CHARS
            )))
        } else if count > 1024 {
            Err(Invalid::new("A password is at most 1024 characters."))
        } else {
            Ok(Self(s.to_owned()))
        }
    }
    pub fn presented(s: String) -> Self {
        Self(s)
    }
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Password(redacted)")
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    Owner,
    Member,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Owner => "owner",
            Self::Member => "member",
        }
    }
    pub fn label(self) -> &'static str {
        match self {
            Self::Owner => "Owner",
            Self::Member => "Member",
        }
    }
    pub fn parse(s: &str) -> Result<Self, Invalid> {
        match s {
            "owner" | "Owner" => Ok(Self::Owner),
            "member" | "Member" => Ok(Self::Member),
            _ => Err(Invalid::new("Choose a role: Owner or Member.")),
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn emails_need_one_at_and_no_spaces() {
        assert!(Email::parse(" ann@example.com ").is_ok());
        assert!(Email::parse("ann").is_err());
        assert!(Email::parse("a n@example.com").is_err());
        assert!(Email::parse("@example.com").is_err());
    }

    #[test]
    fn passwords_are_redacted_and_long() {
        assert!(Password::new_for_account("short").is_err());
        let p = Password::new_for_account("correct horse battery").unwrap();
        assert_eq!(format!("{p:?}"), "Password(redacted)");
    }
}
