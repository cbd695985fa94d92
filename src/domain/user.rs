//! People and what they may be in an environment.

use std::fmt;

use super::{Invalid, Lines, check_text};

/// An email address, compared case-insensitively (stored as given, looked up by lowercase).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Email(String);

impl Email {
    pub fn parse(s: &str) -> Result<Self, Invalid> {
        let s = s.trim();
        check_text(s, "An email address", Lines::One)?;
        let invalid = || Invalid::new("Enter an email address such as name@example.com.");
        if s.chars().count() > 254 || s.chars().any(char::is_whitespace) {
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
            check_text(s, "A display name", Lines::One)?;
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

    /// A new password must be long enough, and typeable: a browser's password box drops line
    /// breaks, so a password holding one could never be entered at sign-in. One presented at
    /// sign-in is taken as it is (it is only ever hashed, never stored).
    pub fn new_for_account(s: &str) -> Result<Self, Invalid> {
        let count = s.chars().count();
        if s.chars().any(char::is_control) {
            Err(Invalid::new(
                "A password may not contain tabs, line breaks or other control characters.",
            ))
        } else if count < Self::MIN_CHARS {
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
    fn emails_refuse_control_and_direction_characters() {
        for bad in [
            "ann\0@example.com",
            "ann@example.com\0",
            "ann@exa\u{7f}mple.com",
            "ann@\u{202E}moc.example",
        ] {
            assert!(Email::parse(bad).is_err(), "{bad:?}");
        }
        assert_eq!(
            Email::parse("\0").unwrap_err().to_string(),
            "An email address may not contain tabs, line breaks or other control characters."
        );
        assert!(
            Email::parse("ann@example.com\n").is_ok(),
            "trimmed, as typed with Enter"
        );
    }

    #[test]
    fn display_names_are_one_line_of_printable_text() {
        assert_eq!(DisplayName::parse(" Ann Lee ").unwrap().as_str(), "Ann Lee");
        assert!(DisplayName::parse("Zoë 😀").is_ok());
        for bad in [
            "Ann\0",
            "Ann\nLee",
            "Ann\tLee",
            "\u{9b}Ann",
            "Ann\u{202E}eeL",
            "Ann\u{2066}Lee",
        ] {
            assert!(DisplayName::parse(bad).is_err(), "{bad:?}");
        }
        assert_eq!(
            DisplayName::parse("Ann\0").unwrap_err().to_string(),
            "A display name may not contain tabs, line breaks or other control characters."
        );
        assert!(DisplayName::parse(&"a".repeat(101)).is_err());
    }

    #[test]
    fn new_passwords_refuse_control_characters_but_sign_in_takes_any() {
        for bad in [
            "correct horse\0battery",
            "correct horse\nbattery",
            "correct\thorse battery",
        ] {
            assert!(Password::new_for_account(bad).is_err(), "{bad:?}");
        }
        assert!(Password::new_for_account("correct horse battery 🐴").is_ok());
        assert_eq!(Password::presented("a\0b".to_owned()).expose(), "a\0b");
    }

    #[test]
    fn roles_are_owner_or_member() {
        assert_eq!(Role::parse("Owner").unwrap(), Role::Owner);
        assert_eq!(Role::parse("member").unwrap(), Role::Member);
        for bad in ["", "admin", "owner\0", " owner", "OWNER"] {
            assert!(Role::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn passwords_are_redacted_and_long() {
        assert!(Password::new_for_account("short").is_err());
        let p = Password::new_for_account("correct horse battery").unwrap();
        assert_eq!(format!("{p:?}"), "Password(redacted)");
    }
}
