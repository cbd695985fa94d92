//! What an API key is made of, each part parsed once at the edge.

use chrono::{DateTime, Days, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::{Invalid, Lines, check_text};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum KeyType {
    /// `pk`: safe in browsers and mobile apps, may only carry `read`.
    Publishable,
    /// `sk`: server side only.
    Secret,
}

impl KeyType {
    pub fn code(self) -> &'static str {
        match self {
            Self::Publishable => "pk",
            Self::Secret => "sk",
        }
    }
    pub fn from_code(code: &str) -> Option<Self> {
        match code {
            "pk" => Some(Self::Publishable),
            "sk" => Some(Self::Secret),
            _ => None,
        }
    }
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Publishable => "publishable",
            Self::Secret => "secret",
        }
    }
    pub fn parse(s: &str) -> Result<Self, Invalid> {
        match s {
            "publishable" => Ok(Self::Publishable),
            "secret" => Ok(Self::Secret),
            _ => Err(Invalid::new("Choose a type: publishable or secret.")),
        }
    }
    pub fn label(self) -> &'static str {
        match self {
            Self::Publishable => "Publishable",
            Self::Secret => "Secret",
        }
    }
}

#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, ToSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum Scope {
    Read,
    Write,
    Admin,
}

impl Scope {
    pub const ALL: [Scope; 3] = [Scope::Read, Scope::Write, Scope::Admin];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Read => "read",
            Self::Write => "write",
            Self::Admin => "admin",
        }
    }
    pub fn parse(s: &str) -> Result<Self, Invalid> {
        match s {
            "read" => Ok(Self::Read),
            "write" => Ok(Self::Write),
            "admin" => Ok(Self::Admin),
            other => Err(Invalid::new(format!(
                "Unknown scope \"{other}\"; scopes are read, write and admin."
            ))),
        }
    }
}

/// A set of scopes in one byte, for the hot path's cached key state: a bit per `Scope::ALL`
/// entry, read back as a sorted `'static` slice (there are only eight sets).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ScopeSet(u8);

impl ScopeSet {
    const SLICES: [&'static [Scope]; 8] = [
        &[],
        &[Scope::Read],
        &[Scope::Write],
        &[Scope::Read, Scope::Write],
        &[Scope::Admin],
        &[Scope::Read, Scope::Admin],
        &[Scope::Write, Scope::Admin],
        &[Scope::Read, Scope::Write, Scope::Admin],
    ];

    fn bit(scope: Scope) -> u8 {
        match scope {
            Scope::Read => 1,
            Scope::Write => 2,
            Scope::Admin => 4,
        }
    }

    pub fn contains(self, scope: Scope) -> bool {
        self.0 & Self::bit(scope) != 0
    }

    /// The scopes in `Scope::ALL`'s order, as the API lists them.
    pub fn as_slice(self) -> &'static [Scope] {
        Self::SLICES[usize::from(self.0 & 7)]
    }
}

impl FromIterator<Scope> for ScopeSet {
    fn from_iter<I: IntoIterator<Item = Scope>>(scopes: I) -> Self {
        Self(scopes.into_iter().fold(0, |set, s| set | Self::bit(s)))
    }
}

/// A non-empty set of scopes, valid for its key type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scopes(Vec<Scope>);

impl Scopes {
    pub fn new(mut scopes: Vec<Scope>, key_type: KeyType) -> Result<Self, Invalid> {
        scopes.sort();
        let given = scopes.len();
        scopes.dedup();
        if scopes.is_empty() {
            return Err(Invalid::new("Choose at least one scope."));
        }
        // A set, as the API documents it (`uniqueItems`): a repeat is a mistake worth naming.
        if scopes.len() != given {
            return Err(Invalid::new("Name each scope once."));
        }
        if key_type == KeyType::Publishable && scopes.iter().any(|s| *s != Scope::Read) {
            return Err(Invalid::new(
                "A publishable key may only carry the read scope; use a secret key for write or admin.",
            ));
        }
        Ok(Self(scopes))
    }
    pub fn parse_strs<S: AsRef<str>>(names: &[S], key_type: KeyType) -> Result<Self, Invalid> {
        let scopes = names
            .iter()
            .map(|n| Scope::parse(n.as_ref()))
            .collect::<Result<Vec<_>, _>>()?;
        Self::new(scopes, key_type)
    }
    pub fn as_slice(&self) -> &[Scope] {
        &self.0
    }
    pub fn to_strings(&self) -> Vec<String> {
        self.0.iter().map(|s| s.as_str().to_owned()).collect()
    }
}

/// A key's name: trimmed, 1–100 characters (characters, not bytes, counted as sent, so the
/// limit is the one the API documents as `maxLength`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiKeyName(String);

/// What `str::trim` removes, Unicode's White_Space, as the body of a regular-expression class.
macro_rules! white_space {
    () => {
        r"\t\n\u000B\u000C\r \u0085\u00A0\u1680\u2000-\u200A\u2028\u2029\u202F\u205F\u3000"
    };
}
/// Neither white space nor a control character (Unicode's Cc), as a class body.
macro_rules! visible_edge {
    () => {
        r"^\u0000-\u0020\u007F-\u00A0\u1680\u2000-\u200A\u2028\u2029\u202A-\u202F\u205F\u2066-\u2069\u3000"
    };
}

impl ApiKeyName {
    pub const MAX_CHARS: usize = 100;
    /// `parse`'s rule as a JSON Schema pattern (ECMA-262, also read by Rust's and Python's
    /// regular expressions): around any white space, a first and last character that are
    /// neither white space nor control characters, and no control character between.
    pub const PATTERN: &str = concat!(
        "^[",
        white_space!(),
        "]*[",
        visible_edge!(),
        r"](?:[^\u0000-\u001F\u007F-\u009F\u202A-\u202E\u2066-\u2069]*[",
        visible_edge!(),
        "])?[",
        white_space!(),
        "]*$"
    );

    pub fn parse(s: &str) -> Result<Self, Invalid> {
        let trimmed = s.trim();
        let count = s.chars().count();
        if trimmed.is_empty() {
            Err(Invalid::new("Enter a name."))
        } else if count > Self::MAX_CHARS {
            Err(Invalid::new(format!(
                "The name is {count} characters long; the limit is {}.",
                Self::MAX_CHARS
            )))
        } else {
            check_text(trimmed, "The name", Lines::One)?;
            Ok(Self(trimmed.to_owned()))
        }
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// An optional description of at most 500 characters (counted as sent, as for names). It may
/// span lines; every line break (`\r\n`, `\r` or `\n`) is kept as `\n`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct KeyDescription(String);

impl KeyDescription {
    pub const MAX_CHARS: usize = 500;
    /// `parse`'s rule as a JSON Schema pattern: inside any white space around it, no control
    /// character but tab and line breaks.
    pub const PATTERN: &str = concat!(
        "^[",
        white_space!(),
        r"]*[^\u0000-\u0008\u000B\u000C\u000E-\u001F\u007F-\u009F\u202A-\u202E\u2066-\u2069]*[",
        white_space!(),
        "]*$"
    );

    pub fn parse(s: &str) -> Result<Self, Invalid> {
        let trimmed = s.trim();
        check_text(trimmed, "The description", Lines::Many)?;
        // Old Mac line breaks (a lone CR) count as line breaks too.
        let text = trimmed.replace("\r\n", "\n").replace('\r', "\n");
        // Counted as sent, like names, so the limit is exactly the documented `maxLength`.
        let count = s.chars().count();
        if count > Self::MAX_CHARS {
            Err(Invalid::new(format!(
                "The description is {count} characters long; the limit is {}.",
                Self::MAX_CHARS
            )))
        } else {
            Ok(Self(text))
        }
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Requests per minute; positive.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimit(i32);

impl RateLimit {
    /// A billion a minute: room for an effectively unlimited cluster-wide ceiling; fits the
    /// column (integer).
    pub const MAX: i32 = 1_000_000_000;

    pub fn new(value: i64) -> Result<Self, Invalid> {
        if value < 1 || value > i64::from(Self::MAX) {
            Err(Invalid::new(format!(
                "The rate limit is a whole number of requests per minute from 1 to {}.",
                Self::MAX
            )))
        } else {
            Ok(Self(value as i32))
        }
    }
    /// Empty means no limit.
    pub fn parse_optional(s: &str) -> Result<Option<Self>, Invalid> {
        let s = s.trim();
        if s.is_empty() {
            return Ok(None);
        }
        let value: i64 = s.parse().map_err(|_| {
            Invalid::new(
                "The rate limit is a whole number of requests per minute, or empty for none.",
            )
        })?;
        Self::new(value).map(Some)
    }
    pub fn get(self) -> i32 {
        self.0
    }
}

/// When a key stops working: a preset from now, a chosen date, or never.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Expiry(Option<DateTime<Utc>>);

impl Expiry {
    pub const NEVER: Self = Self(None);

    /// The dashboard's choices: `never`, `30`, `90`, `365` (days) or `date` with `date` set.
    pub fn from_choice(choice: &str, date: &str, now: DateTime<Utc>) -> Result<Self, Invalid> {
        match choice {
            "" | "never" => Ok(Self::NEVER),
            "30" | "90" | "365" => {
                let days: u64 = choice
                    .parse()
                    .map_err(|_| Invalid::new("Unknown expiration."))?;
                now.checked_add_days(Days::new(days))
                    .map(|t| Self(Some(t)))
                    .ok_or_else(|| Invalid::new("Unknown expiration."))
            }
            "date" => {
                let day = NaiveDate::parse_from_str(date.trim(), "%Y-%m-%d")
                    .map_err(|_| Invalid::new("Enter the expiry date as YYYY-MM-DD."))?;
                let at = day
                    .and_hms_opt(0, 0, 0)
                    .map(|t| t.and_utc())
                    .ok_or_else(|| Invalid::new("Enter the expiry date as YYYY-MM-DD."))?;
                Self::at(Some(at), now)
            }
            _ => Err(Invalid::new("Choose Never, 30, 90 or 365 days, or a date.")),
        }
    }

    /// An explicit moment, which must lie in the future.
    pub fn at(at: Option<DateTime<Utc>>, now: DateTime<Utc>) -> Result<Self, Invalid> {
        match at {
            Some(t) if t <= now => Err(Invalid::new("The expiry must be in the future.")),
            other => Ok(Self(other)),
        }
    }

    pub fn get(self) -> Option<DateTime<Utc>> {
        self.0
    }
}

/// Derived, in this order: Revoked › Expired › Off › On.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum KeyStatus {
    Revoked,
    Expired,
    Off,
    On,
}

impl KeyStatus {
    /// The one place a key's status is decided: the list shows it, verify refuses by it.
    pub fn of(
        revoked: bool,
        expires_at: Option<DateTime<Utc>>,
        enabled: bool,
        now: DateTime<Utc>,
    ) -> Self {
        if revoked {
            Self::Revoked
        } else if expires_at.is_some_and(|t| t <= now) {
            Self::Expired
        } else if !enabled {
            Self::Off
        } else {
            Self::On
        }
    }
    pub fn label(self) -> &'static str {
        match self {
            Self::Revoked => "Revoked",
            Self::Expired => "Expired",
            Self::Off => "Off",
            Self::On => "On",
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn a_scope_set_reads_back_every_subset_sorted() {
        let subsets: Vec<Vec<Scope>> = (0..8u8)
            .map(|bits| {
                Scope::ALL
                    .iter()
                    .enumerate()
                    .filter(|(i, _)| bits & (1 << i) != 0)
                    .map(|(_, s)| *s)
                    .collect()
            })
            .collect();
        for subset in subsets {
            let set: ScopeSet = subset.iter().rev().copied().collect();
            assert_eq!(set.as_slice(), subset.as_slice());
            for scope in Scope::ALL {
                assert_eq!(set.contains(scope), subset.contains(&scope));
            }
        }
    }

    /// Strings at the edges of the name and description rules: white space (trimmed or not),
    /// control characters inside and outside, letters beyond ASCII.
    fn edge_cases() -> Vec<String> {
        let mut cases: Vec<String> = [
            "",
            " ",
            "\t",
            "a",
            " a ",
            "\ta\n",
            "a b",
            "a\tb",
            "a\nb",
            "a\u{0}b",
            "\u{0}",
            "a\u{0}",
            "\u{85}a",
            "a\u{85}",
            "a\u{85}b",
            "\u{a0}a\u{a0}",
            "a\u{a0}b",
            "\u{feff}",
            "a\u{7f}",
            "\u{b}a\u{c}",
            "a\u{b}b",
            "\u{3000}",
            "Æ\u{8d}Ï",
            "ÆÏ",
            "名前",
            "🔑",
            " 🔑 ",
            "\u{2028}",
            "a\rb",
            "\u{1f}",
            "a\u{200b}b",
            "\u{200b}",
        ]
        .into_iter()
        .map(str::to_owned)
        .collect();
        cases.push("x".repeat(100));
        cases.push(format!(" {} ", "x".repeat(100)));
        cases
    }

    /// The document's `pattern` and `maxLength` together say what the parsers accept.
    #[test]
    fn the_documented_patterns_say_what_the_parsers_accept() {
        let name_pattern = regex::Regex::new(ApiKeyName::PATTERN).unwrap();
        let description_pattern = regex::Regex::new(KeyDescription::PATTERN).unwrap();
        let name = |s: &str| name_pattern.is_match(s) && s.chars().count() <= ApiKeyName::MAX_CHARS;
        let description = |s: &str| {
            description_pattern.is_match(s) && s.chars().count() <= KeyDescription::MAX_CHARS
        };
        let mut cases = edge_cases();
        for padding in ["", " ", "\u{85}", "\t\n"] {
            for (text, n) in [
                ("x", 100),
                ("é", 99),
                ("x", 101),
                ("y", 500),
                ("y", 499),
                ("y", 501),
            ] {
                cases.push(format!("{padding}{}{padding}", text.repeat(n)));
            }
        }
        for case in cases {
            assert_eq!(
                name(&case),
                ApiKeyName::parse(&case).is_ok(),
                "name {case:?}"
            );
            assert_eq!(
                description(&case),
                KeyDescription::parse(&case).is_ok(),
                "description {case:?}"
            );
        }
        // Every character of the Basic Multilingual Plane, alone and inside a name.
        for c in (0..=0xFFFF).filter_map(char::from_u32) {
            for case in [c.to_string(), format!("a{c}b")] {
                assert_eq!(
                    name(&case),
                    ApiKeyName::parse(&case).is_ok(),
                    "name {case:?}"
                );
                assert_eq!(
                    description(&case),
                    KeyDescription::parse(&case).is_ok(),
                    "description {case:?}"
                );
            }
        }
    }

    #[test]
    fn names_are_trimmed_and_counted_in_characters() {
        assert_eq!(
            ApiKeyName::parse("  backend  ").unwrap().as_str(),
            "backend"
        );
        assert!(ApiKeyName::parse("   ").is_err());
        assert!(ApiKeyName::parse(&"é".repeat(100)).is_ok());
        assert!(ApiKeyName::parse(&"a".repeat(101)).is_err());
        // The limit counts what was sent, white space included, as the API's `maxLength` does.
        assert!(ApiKeyName::parse(&format!(" {}", "a".repeat(100))).is_err());
        assert!(ApiKeyName::parse("tab\tname").is_err());
    }

    #[test]
    fn names_refuse_control_and_direction_characters() {
        for bad in [
            "nul\0name",
            "line\nbreak",
            "bell\u{7}",
            "del\u{7f}",
            "c1\u{85}x",
            "evil\u{202E}gpj.exe",
        ] {
            assert!(ApiKeyName::parse(bad).is_err(), "{bad:?}");
        }
        assert_eq!(
            ApiKeyName::parse("a\0b").unwrap_err().to_string(),
            "The name may not contain tabs, line breaks or other control characters."
        );
        // Surrounding whitespace, a pasted newline included, is trimmed rather than refused.
        assert_eq!(
            ApiKeyName::parse("\tbackend\r\n").unwrap().as_str(),
            "backend"
        );
        assert_eq!(ApiKeyName::parse("café 👩‍👩‍👧").unwrap().as_str(), "café 👩‍👩‍👧");
    }

    #[test]
    fn descriptions_keep_line_breaks_and_refuse_other_controls() {
        let d = KeyDescription::parse("first line\r\nsecond\tline\nthird").unwrap();
        assert_eq!(d.as_str(), "first line\nsecond\tline\nthird");
        assert_eq!(
            KeyDescription::parse("nul \0 byte")
                .unwrap_err()
                .to_string(),
            "The description may not contain control characters (line breaks and tabs are fine)."
        );
        assert_eq!(
            KeyDescription::parse("lone\rreturn").unwrap().as_str(),
            "lone\nreturn"
        );
        for bad in [
            "esc\u{1b}[31m",
            "c1\u{9f}",
            "rlo\u{202E}x",
            "isolate\u{2067}x",
        ] {
            assert!(KeyDescription::parse(bad).is_err(), "{bad:?}");
        }
        // Counted as sent: a browser's \r\n is two characters of the 500.
        assert!(KeyDescription::parse(&"a\r\n".repeat(166)).is_ok());
        assert!(KeyDescription::parse(&"a\r\n".repeat(167)).is_err());
        assert!(KeyDescription::parse(&"a".repeat(501)).is_err());
    }

    #[test]
    fn publishable_keys_carry_only_read() {
        assert!(Scopes::new(vec![Scope::Read], KeyType::Publishable).is_ok());
        assert!(Scopes::new(vec![Scope::Read, Scope::Write], KeyType::Publishable).is_err());
        assert!(Scopes::new(vec![], KeyType::Secret).is_err());
        let s = Scopes::new(vec![Scope::Admin, Scope::Read], KeyType::Secret).unwrap();
        assert_eq!(s.as_slice(), &[Scope::Read, Scope::Admin]);
        assert!(Scopes::new(vec![Scope::Read, Scope::Read], KeyType::Secret).is_err());
    }

    #[test]
    fn status_follows_the_documented_precedence() {
        let now = Utc::now();
        let past = Some(now - chrono::Duration::seconds(1));
        assert_eq!(KeyStatus::of(true, past, false, now), KeyStatus::Revoked);
        assert_eq!(KeyStatus::of(false, past, false, now), KeyStatus::Expired);
        assert_eq!(KeyStatus::of(false, None, false, now), KeyStatus::Off);
        assert_eq!(
            KeyStatus::of(false, Some(now + chrono::Duration::days(1)), true, now),
            KeyStatus::On
        );
    }

    #[test]
    fn expiry_choices() {
        let now = Utc::now();
        assert_eq!(
            Expiry::from_choice("never", "", now).unwrap(),
            Expiry::NEVER
        );
        assert!(Expiry::from_choice("30", "", now).unwrap().get().unwrap() > now);
        assert!(Expiry::from_choice("date", "2001-01-01", now).is_err());
        assert!(Expiry::from_choice("date", "tomorrow", now).is_err());
        assert!(Expiry::from_choice("7", "", now).is_err());
    }

    #[test]
    fn rate_limits_are_positive() {
        assert_eq!(RateLimit::parse_optional("").unwrap(), None);
        assert_eq!(RateLimit::parse_optional("60").unwrap().unwrap().get(), 60);
        assert!(RateLimit::parse_optional("0").is_err());
        assert!(RateLimit::parse_optional("-3").is_err());
        assert!(RateLimit::parse_optional("ten").is_err());
    }
}
