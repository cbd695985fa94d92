//! Projects and their environments.

use super::{Invalid, Lines, check_text};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProjectName(String);

impl ProjectName {
    pub fn parse(s: &str) -> Result<Self, Invalid> {
        let s = s.trim();
        let count = s.chars().count();
        if count == 0 {
            return Err(Invalid::new("Enter a project name."));
        }
        if count > 100 {
            return Err(Invalid::new("A project name is at most 100 characters."));
        }
        check_text(s, "A project name", Lines::One)?;
        if Slug::from_name(s).is_none() {
            return Err(Invalid::new(
                "A project name needs at least one letter or digit (a-z, 0-9).",
            ));
        }
        Ok(Self(s.to_owned()))
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
    pub fn slug(&self) -> Slug {
        // parse() guarantees a slug exists.
        Slug::from_name(&self.0).unwrap_or_else(|| Slug("project".to_owned()))
    }
}

/// A URL-safe identifier: `a-z0-9` words joined by `-`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Slug(String);

impl Slug {
    pub const MAX_CHARS: usize = 60;

    /// A slug from a URL: `a-z`, `0-9` and `-` only, so nothing else reaches a look-up.
    pub fn parse(s: &str) -> Result<Self, Invalid> {
        let fits = (1..=Self::MAX_CHARS).contains(&s.len())
            && s.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
        if fits {
            Ok(Self(s.to_owned()))
        } else {
            Err(Invalid::new(
                "A slug is 1 to 60 characters of a-z, 0-9 and -.",
            ))
        }
    }

    pub fn from_name(name: &str) -> Option<Self> {
        let mut slug = String::new();
        for c in name.chars().flat_map(char::to_lowercase) {
            if c.is_ascii_alphanumeric() {
                slug.push(c);
            } else if !slug.is_empty() && !slug.ends_with('-') {
                slug.push('-');
            }
        }
        let slug = slug
            .trim_end_matches('-')
            .chars()
            .take(Self::MAX_CHARS)
            .collect::<String>();
        let slug = slug.trim_end_matches('-').to_owned();
        (!slug.is_empty()).then_some(Self(slug))
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// The environments every new project starts with: (slug, name, key tag).
pub const DEFAULT_ENVIRONMENTS: [(&str, &str, &str); 3] = [
    ("production", "Production", "live"),
    ("staging", "Staging", "stg"),
    ("development", "Development", "dev"),
];

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn slugs_come_from_names() {
        assert_eq!(
            Slug::from_name("My  Great App!").unwrap().as_str(),
            "my-great-app"
        );
        assert!(Slug::from_name("!!!").is_none());
        assert!(ProjectName::parse("   ").is_err());
        assert_eq!(
            ProjectName::parse("Default").unwrap().slug().as_str(),
            "default"
        );
    }

    #[test]
    fn project_names_refuse_control_and_direction_characters() {
        assert_eq!(
            ProjectName::parse(" Billing API ").unwrap().as_str(),
            "Billing API"
        );
        for bad in [
            "Bill\0ing",
            "Bill\ning",
            "Bill\ting",
            "Bill\u{85}ing",
            "Bill\u{202E}ing",
        ] {
            assert!(ProjectName::parse(bad).is_err(), "{bad:?}");
        }
        assert_eq!(
            ProjectName::parse("a\0").unwrap_err().to_string(),
            "A project name may not contain tabs, line breaks or other control characters."
        );
    }

    #[test]
    fn slugs_from_urls_are_what_from_name_makes() {
        for good in [
            "default",
            "production",
            "my-great-app",
            "a",
            &"a".repeat(60),
        ] {
            assert_eq!(Slug::parse(good).unwrap().as_str(), good);
        }
        for bad in [
            "",
            "Default",
            "a b",
            "a\0",
            "a_b",
            "..",
            "é",
            &"a".repeat(61),
        ] {
            assert!(Slug::parse(bad).is_err(), "{bad:?}");
        }
        let made = Slug::from_name(&"Long Name ".repeat(20)).unwrap();
        assert_eq!(Slug::parse(made.as_str()).unwrap(), made);
    }
}
