//! What a key may carry besides its scopes (SPEC §11): where it may be used from (allowed IPs
//! and origins), how much (a quota), and whose it is (owner and metadata). Each is parsed once
//! at the edge and again, from its stored form, when a key's state enters the verify cache.

use std::fmt;
use std::net::IpAddr;

use chrono::{DateTime, Datelike, NaiveDate, Utc};
use ipnet::IpNet;

use super::{Invalid, Lines, check_text};

/// Up to 50 IPv4/IPv6 addresses or CIDR blocks a key may be used from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AllowedIps(Vec<IpNet>);

impl AllowedIps {
    pub const MAX: usize = 50;
    /// An IPv4 address or block, as a JSON Schema pattern (IPv6 is documented as `format: ipv6`).
    pub const IPV4_PATTERN: &str = r"^((25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9])\.){3}(25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9])(/(3[0-2]|[12]?[0-9]))?$";

    /// One entry: an address (a /32 or /128 block) or a CIDR block. A block written with host
    /// bits set (`10.0.0.7/24`) means its network (`10.0.0.0/24`).
    fn parse_entry(entry: &str) -> Result<IpNet, Invalid> {
        let entry = entry.trim();
        entry
            .parse::<IpNet>()
            .map(|net| net.trunc())
            .or_else(|_| entry.parse::<IpAddr>().map(|a| IpNet::from(canonical(a))))
            .map_err(|_| {
                Invalid::new(format!(
                    "\"{entry}\" is not an IP address or CIDR block (such as 203.0.113.7, \
                     10.0.0.0/8 or 2001:db8::/32)."
                ))
            })
    }

    /// A list of entries; it may not be empty (no restriction is `null`, not `[]`).
    pub fn parse_list<S: AsRef<str>>(entries: &[S]) -> Result<Self, Invalid> {
        if entries.is_empty() {
            return Err(Invalid::new(
                "Give at least one address or CIDR block (no restriction is null).",
            ));
        }
        if entries.len() > Self::MAX {
            return Err(Invalid::new(format!(
                "At most {} addresses or CIDR blocks ({} given).",
                Self::MAX,
                entries.len()
            )));
        }
        let mut nets = entries
            .iter()
            .map(|e| Self::parse_entry(e.as_ref()))
            .collect::<Result<Vec<_>, _>>()?;
        nets.dedup();
        Ok(Self(nets))
    }

    /// A form's textarea: one entry a line, blank lines ignored; nothing at all is no restriction.
    pub fn parse_lines(text: &str) -> Result<Option<Self>, Invalid> {
        let entries: Vec<&str> = non_blank_lines(text);
        if entries.is_empty() {
            return Ok(None);
        }
        Self::parse_list(&entries).map(Some)
    }

    /// From the stored form, when a key's state enters the cache. A list that no longer parses
    /// (it was checked on the way in) allows nothing: a restriction never fails open.
    pub fn from_stored(entries: &[String]) -> Self {
        Self::parse_list(entries).unwrap_or(Self(Vec::new()))
    }

    pub fn contains(&self, addr: IpAddr) -> bool {
        let addr = canonical(addr);
        self.0.iter().any(|net| net.contains(&addr))
    }

    pub fn nets(&self) -> &[IpNet] {
        &self.0
    }

    /// The stored form: one string per entry, a single address without its prefix length.
    pub fn to_strings(&self) -> Vec<String> {
        self.0
            .iter()
            .map(|net| {
                if net.prefix_len() == net.max_prefix_len() {
                    net.addr().to_string()
                } else {
                    net.to_string()
                }
            })
            .collect()
    }

    pub fn into_nets(self) -> Vec<IpNet> {
        self.0
    }
}

/// IPv4 written as IPv6 (`::ffff:10.0.0.1`) is the IPv4 address.
fn canonical(addr: IpAddr) -> IpAddr {
    addr.to_canonical()
}

fn non_blank_lines(text: &str) -> Vec<&str> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect()
}

/// One allowed origin: `scheme://host[:port]`, where the host may start with `*.`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OriginPattern {
    scheme: Box<str>,
    /// Lower case; for a wildcard, the domain after `*.`.
    host: Box<str>,
    wildcard: bool,
    /// The port as written; an origin without one matches only a pattern without one.
    port: Option<u16>,
}

impl OriginPattern {
    pub fn parse(entry: &str) -> Result<Self, Invalid> {
        let entry = entry.trim();
        let refuse = |why: &str| {
            Err(Invalid::new(format!(
                "\"{entry}\" is not an origin: {why} Write scheme://host[:port], such as \
                 https://app.example.com or https://*.example.com."
            )))
        };
        let (origin, wildcard) = match parse_origin(entry) {
            Ok(parts) => parts,
            Err(why) => return refuse(why),
        };
        if origin.host == "*" {
            return refuse("a bare * would allow every site.");
        }
        Ok(Self {
            scheme: origin.scheme.into(),
            host: origin.host.into(),
            wildcard,
            port: origin.port,
        })
    }

    /// Whether a presented origin (the verify body's `origin`) is this one: scheme and port
    /// exactly, the host exactly or, for `*.example.com`, one or more labels before
    /// `.example.com` (never `example.com` itself, never `evil-example.com`).
    fn matches(&self, presented: &Origin) -> bool {
        if *self.scheme != *presented.scheme || self.port != presented.port {
            return false;
        }
        if !self.wildcard {
            return *self.host == *presented.host;
        }
        presented
            .host
            .strip_suffix(&*self.host)
            .and_then(|rest| rest.strip_suffix('.'))
            .is_some_and(|labels| !labels.is_empty())
    }
}

impl fmt::Display for OriginPattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}://", self.scheme)?;
        if self.wildcard {
            f.write_str("*.")?;
        }
        f.write_str(&self.host)?;
        if let Some(port) = self.port {
            write!(f, ":{port}")?;
        }
        Ok(())
    }
}

/// A parsed `scheme://host[:port]`, lower case.
struct Origin {
    scheme: String,
    host: String,
    port: Option<u16>,
}

/// Splits an origin; `Ok((origin, true))` when the host starts with `*.` (then `host` is the
/// rest). The error says what is wrong in a sentence.
fn parse_origin(text: &str) -> Result<(Origin, bool), &'static str> {
    let Some((scheme, rest)) = text.split_once("://") else {
        return Err("it has no scheme://.");
    };
    let scheme = scheme.to_ascii_lowercase();
    let scheme_ok = scheme.starts_with(|c: char| c.is_ascii_alphabetic())
        && scheme
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'));
    if !scheme_ok {
        return Err("the scheme is not valid.");
    }
    if rest.contains(['/', '?', '#']) {
        return Err("an origin has no path, query string or fragment.");
    }
    if rest.contains('@') {
        return Err("an origin has no user name or password.");
    }
    let (host, port) = split_port(rest)?;
    let host = host.to_ascii_lowercase();
    let (wildcard, host) = match host.strip_prefix("*.") {
        Some(domain) => (true, domain.to_owned()),
        None => (false, host),
    };
    if host == "*" && !wildcard {
        return Ok((Origin { scheme, host, port }, false));
    }
    let host_ok = if host.starts_with('[') {
        !wildcard
            && host
                .strip_prefix('[')
                .and_then(|h| h.strip_suffix(']'))
                .is_some_and(|h| h.parse::<std::net::Ipv6Addr>().is_ok())
    } else {
        !host.is_empty()
            && host.split('.').all(|label| {
                !label.is_empty()
                    && label.len() <= 63
                    && label
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
            })
    };
    if !host_ok {
        return Err("the host is not a domain name or IP address.");
    }
    Ok((Origin { scheme, host, port }, wildcard))
}

/// `host:port` into its parts; `[v6]:port` keeps the brackets on the host.
fn split_port(rest: &str) -> Result<(&str, Option<u16>), &'static str> {
    let (host, port) = if rest.starts_with('[') {
        match rest.find(']') {
            Some(end) => match &rest[end + 1..] {
                "" => (rest, None),
                tail => match tail.strip_prefix(':') {
                    Some(port) => (&rest[..=end], Some(port)),
                    None => return Err("the host is not a domain name or IP address."),
                },
            },
            None => return Err("the host is not a domain name or IP address."),
        }
    } else {
        match rest.rsplit_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (rest, None),
        }
    };
    let port = match port {
        None => None,
        Some(p) => match p.parse::<u16>() {
            Ok(n) if n > 0 && p.chars().all(|c| c.is_ascii_digit()) => Some(n),
            _ => return Err("the port is not a number from 1 to 65535."),
        },
    };
    Ok((host, port))
}

/// Up to 20 origins a publishable key may be used from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AllowedOrigins(Vec<OriginPattern>);

impl AllowedOrigins {
    pub const MAX: usize = 20;
    /// `scheme://host[:port]` as a JSON Schema pattern: a domain name or IPv4 address, maybe
    /// after `*.` (an `[IPv6]` host is accepted too, but not documented).
    pub const PATTERN: &str = r"^[A-Za-z][A-Za-z0-9+.-]*://(\*\.)?[A-Za-z0-9_-]{1,63}(\.[A-Za-z0-9_-]{1,63})*(:([1-9][0-9]{0,3}|[1-5][0-9]{4}|6[0-4][0-9]{3}|65[0-4][0-9]{2}|655[0-2][0-9]|6553[0-5]))?$";

    pub fn parse_list<S: AsRef<str>>(entries: &[S]) -> Result<Self, Invalid> {
        if entries.is_empty() {
            return Err(Invalid::new(
                "Give at least one origin (no restriction is null).",
            ));
        }
        if entries.len() > Self::MAX {
            return Err(Invalid::new(format!(
                "At most {} origins ({} given).",
                Self::MAX,
                entries.len()
            )));
        }
        let mut patterns = entries
            .iter()
            .map(|e| OriginPattern::parse(e.as_ref()))
            .collect::<Result<Vec<_>, _>>()?;
        patterns.dedup();
        Ok(Self(patterns))
    }

    /// A form's textarea: one origin a line; nothing at all is no restriction.
    pub fn parse_lines(text: &str) -> Result<Option<Self>, Invalid> {
        let entries = non_blank_lines(text);
        if entries.is_empty() {
            return Ok(None);
        }
        Self::parse_list(&entries).map(Some)
    }

    /// From the stored form; a list that no longer parses allows nothing.
    pub fn from_stored(entries: &[String]) -> Self {
        Self::parse_list(entries).unwrap_or(Self(Vec::new()))
    }

    /// Whether the presented origin is allowed; one that does not parse never is.
    pub fn allows(&self, presented: &str) -> bool {
        match parse_origin(presented.trim()) {
            Ok((origin, false)) => self.0.iter().any(|p| p.matches(&origin)),
            _ => false,
        }
    }

    pub fn to_strings(&self) -> Vec<String> {
        self.0.iter().map(ToString::to_string).collect()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QuotaPeriod {
    /// A UTC calendar day.
    Day,
    /// A UTC calendar month.
    Month,
    /// The key's whole life.
    Total,
}

impl QuotaPeriod {
    pub const ALL: [QuotaPeriod; 3] = [Self::Day, Self::Month, Self::Total];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Day => "day",
            Self::Month => "month",
            Self::Total => "total",
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            Self::Day => "Day",
            Self::Month => "Month",
            Self::Total => "Total",
        }
    }

    pub fn parse(s: &str) -> Result<Self, Invalid> {
        match s.trim() {
            "day" => Ok(Self::Day),
            "month" => Ok(Self::Month),
            "total" => Ok(Self::Total),
            other => Err(Invalid::new(format!(
                "Unknown quota period \"{other}\"; choose day, month or total."
            ))),
        }
    }

    /// The start of the period `now` falls in, and of the next one (none for `Total`).
    pub fn bounds(self, now: DateTime<Utc>) -> (DateTime<Utc>, Option<DateTime<Utc>>) {
        let day = now.date_naive();
        let midnight = |d: NaiveDate| d.and_hms_opt(0, 0, 0).map(|t| t.and_utc());
        match self {
            Self::Day => (
                midnight(day).unwrap_or(now),
                day.succ_opt().and_then(midnight),
            ),
            Self::Month => {
                let first = day.with_day(1).unwrap_or(day);
                let next = first.checked_add_months(chrono::Months::new(1));
                (midnight(first).unwrap_or(now), next.and_then(midnight))
            }
            Self::Total => (DateTime::<Utc>::UNIX_EPOCH, None),
        }
    }
}

/// At most `limit` VALID answers per period.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Quota {
    limit: i64,
    period: QuotaPeriod,
}

impl Quota {
    pub const MAX_LIMIT: i64 = 1_000_000_000_000;

    pub fn new(limit: i64, period: QuotaPeriod) -> Result<Self, Invalid> {
        if !(1..=Self::MAX_LIMIT).contains(&limit) {
            return Err(Invalid::new(
                "The quota must be a whole number from 1 to 1000000000000 (10^12).",
            ));
        }
        Ok(Self { limit, period })
    }

    /// A form's Quota and Quota period: an empty Quota is no quota, whatever the period says.
    pub fn parse_form(limit: &str, period: &str) -> Result<Option<Self>, Invalid> {
        let limit = limit.trim();
        if limit.is_empty() {
            return Ok(None);
        }
        let Ok(n) = limit.parse::<i64>() else {
            return Err(Invalid::new(
                "The quota must be a whole number from 1 to 1000000000000 (10^12).",
            ));
        };
        let quota = Self::new(n, QuotaPeriod::Day)?;
        Ok(Some(Self {
            period: QuotaPeriod::parse(period)?,
            ..quota
        }))
    }

    /// From the stored columns: both set, or no quota.
    pub fn from_stored(limit: Option<i64>, period: Option<&str>) -> Option<Self> {
        Self::new(limit?, QuotaPeriod::parse(period?).ok()?).ok()
    }

    pub fn limit(self) -> i64 {
        self.limit
    }

    pub fn period(self) -> QuotaPeriod {
        self.period
    }
}

/// The customer or service a key belongs to: trimmed, 1–128 characters, one line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OwnerId(String);

impl OwnerId {
    pub const MAX_CHARS: usize = 128;

    /// Blank is no owner. The length counts the characters as sent (so it is the limit the
    /// API documents as `maxLength`).
    pub fn parse_optional(s: &str) -> Result<Option<Self>, Invalid> {
        let chars = s.chars().count();
        let s = s.trim();
        if s.is_empty() {
            return Ok(None);
        }
        if chars > Self::MAX_CHARS {
            return Err(Invalid::new(format!(
                "The owner may be at most {} characters ({chars} given).",
                Self::MAX_CHARS
            )));
        }
        check_text(s, "The owner", Lines::One)?;
        Ok(Some(Self(s.to_owned())))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn into_string(self) -> String {
        self.0
    }
}

/// A key's metadata: a JSON object of at most 4096 bytes serialised, kept in its compact
/// serialised form (what verify answers and PostgreSQL stores).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyMeta(String);

impl KeyMeta {
    pub const MAX_BYTES: usize = 4096;

    pub fn new(value: &serde_json::Value) -> Result<Self, Invalid> {
        if !value.is_object() {
            return Err(Invalid::new("The metadata must be a JSON object."));
        }
        if holds_nul(value) {
            // PostgreSQL's JSONB cannot store it.
            return Err(Invalid::new(
                "The metadata may not contain the NUL character (\\u0000).",
            ));
        }
        let text = value.to_string();
        if text.len() > Self::MAX_BYTES {
            return Err(Invalid::new(format!(
                "The metadata may be at most {} bytes serialised ({} given).",
                Self::MAX_BYTES,
                text.len()
            )));
        }
        Ok(Self(text))
    }

    /// From stored JSON text (re-serialised compactly).
    pub fn from_json_text(text: &str) -> Result<Self, Invalid> {
        let value: serde_json::Value = serde_json::from_str(text)
            .map_err(|e| Invalid::new(format!("The metadata is not JSON: {e}")))?;
        Self::new(&value)
    }

    /// The compact JSON text of the object.
    pub fn as_json(&self) -> &str {
        &self.0
    }

    pub fn to_value(&self) -> serde_json::Value {
        serde_json::from_str(&self.0).unwrap_or_default()
    }

    /// Indented for a person to read.
    pub fn pretty(&self) -> String {
        serde_json::to_string_pretty(&self.to_value()).unwrap_or_else(|_| self.0.clone())
    }
}

/// Whether a NUL character appears in any key or string of `value`.
fn holds_nul(value: &serde_json::Value) -> bool {
    use serde_json::Value;
    match value {
        Value::String(s) => s.contains('\0'),
        Value::Array(items) => items.iter().any(holds_nul),
        Value::Object(map) => map.iter().any(|(k, v)| k.contains('\0') || holds_nul(v)),
        _ => false,
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn ips(entries: &[&str]) -> AllowedIps {
        AllowedIps::parse_list(entries).unwrap()
    }

    fn origins(entries: &[&str]) -> AllowedOrigins {
        AllowedOrigins::parse_list(entries).unwrap()
    }

    #[test]
    fn ip_lists_take_addresses_and_blocks_of_both_families() {
        let list = ips(&["203.0.113.7", "10.0.0.0/8", "2001:db8::/32", "::1"]);
        for inside in [
            "203.0.113.7",
            "10.1.2.3",
            "2001:db8::42",
            "::1",
            "::ffff:10.9.9.9",
        ] {
            assert!(list.contains(inside.parse().unwrap()), "{inside}");
        }
        for outside in ["203.0.113.8", "11.0.0.1", "2001:db9::1", "::2"] {
            assert!(!list.contains(outside.parse().unwrap()), "{outside}");
        }
        assert_eq!(
            list.to_strings(),
            ["203.0.113.7", "10.0.0.0/8", "2001:db8::/32", "::1"]
        );
    }

    #[test]
    fn bad_ip_entries_are_named() {
        for bad in ["10.0.0.0/33", "::g", "1.2.3", "example.com", "10.0.0.0/-1"] {
            let err = AllowedIps::parse_list(&["10.0.0.1", bad]).unwrap_err();
            assert!(err.to_string().contains(&format!("\"{bad}\"")), "{err}");
        }
        let many: Vec<String> = (0..51).map(|i| format!("10.0.0.{i}")).collect();
        assert!(
            AllowedIps::parse_list(&many)
                .unwrap_err()
                .to_string()
                .contains("At most 50")
        );
        assert_eq!(AllowedIps::parse_lines(" \n\n").unwrap(), None);
        assert_eq!(
            AllowedIps::parse_lines("10.0.0.7/24\n\n ::1 \n")
                .unwrap()
                .unwrap()
                .to_strings(),
            ["10.0.0.0/24", "::1"]
        );
    }

    #[test]
    fn origins_match_scheme_host_and_port_exactly() {
        let list = origins(&["https://app.example.com", "http://localhost:3000"]);
        assert!(list.allows("https://app.example.com"));
        assert!(list.allows("HTTPS://App.Example.com"));
        assert!(list.allows("http://localhost:3000"));
        assert!(!list.allows("http://app.example.com"));
        assert!(!list.allows("https://app.example.com:443"));
        assert!(!list.allows("http://localhost:3001"));
        assert!(!list.allows("http://localhost"));
        assert!(!list.allows("null"));
        assert!(!list.allows("https://app.example.com/path"));
    }

    #[test]
    fn a_wildcard_matches_subdomains_but_never_the_bare_domain() {
        let list = origins(&["https://*.example.com"]);
        assert!(list.allows("https://app.example.com"));
        assert!(list.allows("https://a.b.example.com"));
        assert!(!list.allows("https://example.com"));
        assert!(!list.allows("https://evil-example.com"));
        assert!(!list.allows("https://example.com.evil.net"));
        assert!(!list.allows("https://.example.com"));
        assert!(!list.allows("https://*.example.com"));
        assert!(!list.allows("http://app.example.com"));
    }

    #[test]
    fn malformed_origins_are_refused_with_the_entry_named() {
        for bad in [
            "*",
            "https://*",
            "app.example.com",
            "https://app.example.com/",
            "https://app.example.com/path",
            "https://app.example.com?q=1",
            "https://app.example.com#x",
            "https://user@app.example.com",
            "https://app.example.com:0",
            "https://app.example.com:99999",
            "https://app..example.com",
            "https://",
            "https://*.*.example.com",
        ] {
            let err = OriginPattern::parse(bad).unwrap_err();
            assert!(err.to_string().contains(&format!("\"{bad}\"")), "{err}");
        }
        assert_eq!(
            origins(&["HTTPS://*.Example.com:8443", "http://[::1]:8080"]).to_strings(),
            ["https://*.example.com:8443", "http://[::1]:8080"]
        );
        let many: Vec<String> = (0..21)
            .map(|i| format!("https://a{i}.example.com"))
            .collect();
        assert!(AllowedOrigins::parse_list(&many).is_err());
    }

    #[test]
    fn quotas_are_from_one_to_ten_to_the_twelfth() {
        assert!(Quota::new(0, QuotaPeriod::Day).is_err());
        assert!(Quota::new(-5, QuotaPeriod::Day).is_err());
        assert!(Quota::new(1_000_000_000_001, QuotaPeriod::Day).is_err());
        assert_eq!(
            Quota::new(1_000_000_000_000, QuotaPeriod::Total)
                .unwrap()
                .limit(),
            1_000_000_000_000
        );
        assert_eq!(Quota::parse_form("", "week").unwrap(), None);
        assert!(Quota::parse_form("10", "week").is_err());
        assert!(Quota::parse_form("ten", "day").is_err());
        assert_eq!(
            Quota::parse_form(" 50 ", "month")
                .unwrap()
                .unwrap()
                .period(),
            QuotaPeriod::Month
        );
    }

    #[test]
    fn owners_are_trimmed_one_line_and_at_most_128_characters() {
        assert_eq!(OwnerId::parse_optional("  ").unwrap(), None);
        assert_eq!(
            OwnerId::parse_optional(" cus_42 ")
                .unwrap()
                .unwrap()
                .as_str(),
            "cus_42"
        );
        assert!(OwnerId::parse_optional(&"é".repeat(128)).is_ok());
        assert!(OwnerId::parse_optional(&"é".repeat(129)).is_err());
        assert!(OwnerId::parse_optional("a\nb").is_err());
    }

    #[test]
    fn metadata_is_an_object_of_at_most_4096_bytes() {
        assert!(KeyMeta::new(&serde_json::json!([1])).is_err());
        assert!(KeyMeta::new(&serde_json::json!("x")).is_err());
        let meta = KeyMeta::new(&serde_json::json!({"plan": "pro", "seats": 3})).unwrap();
        assert_eq!(meta.as_json(), r#"{"plan":"pro","seats":3}"#);
        let big = serde_json::json!({"a": "x".repeat(4096)});
        assert!(KeyMeta::new(&big).is_err());
        assert_eq!(
            KeyMeta::from_json_text(r#"{"a": 1}"#).unwrap().as_json(),
            r#"{"a":1}"#
        );
    }

    #[test]
    fn the_documented_patterns_accept_what_the_parsers_accept() {
        let v4 = regex::Regex::new(AllowedIps::IPV4_PATTERN).unwrap();
        for fine in [
            "10.0.0.0/8",
            "203.0.113.7",
            "0.0.0.0/0",
            "255.255.255.255/32",
        ] {
            assert!(v4.is_match(fine), "{fine}");
            assert!(AllowedIps::parse_list(&[fine]).is_ok(), "{fine}");
        }
        for bad in ["10.0.0.0/33", "01.2.3.4", "1.2.3", "256.1.1.1"] {
            assert!(!v4.is_match(bad), "{bad}");
        }
        let origin = regex::Regex::new(AllowedOrigins::PATTERN).unwrap();
        for fine in [
            "https://app.example.com",
            "https://*.Example.com:8443",
            "x+y://a",
        ] {
            assert!(origin.is_match(fine), "{fine}");
            assert!(OriginPattern::parse(fine).is_ok(), "{fine}");
        }
        for bad in [
            "*",
            "https://*",
            "https://a/",
            "https://a:0",
            "https://a:65536",
        ] {
            assert!(!origin.is_match(bad), "{bad}");
            assert!(OriginPattern::parse(bad).is_err(), "{bad}");
        }
    }

    proptest! {
        #[test]
        fn every_address_inside_a_v4_block_matches_and_others_do_not(
            base in any::<u32>(), len in 0u8..=32, probe in any::<u32>()
        ) {
            let net = ipnet::Ipv4Net::new(std::net::Ipv4Addr::from(base), len).unwrap().trunc();
            let list = AllowedIps::parse_list(&[net.to_string()]).unwrap();
            let addr = std::net::Ipv4Addr::from(probe);
            prop_assert_eq!(list.contains(IpAddr::V4(addr)), net.contains(&addr));
        }

        #[test]
        fn a_parsed_origin_prints_back_to_what_parses_the_same(
            sub in "[a-z][a-z0-9-]{0,10}", port in proptest::option::of(1u16..)
        ) {
            let text = match port {
                Some(p) => format!("https://*.{sub}.example:{p}"),
                None => format!("https://*.{sub}.example"),
            };
            let parsed = OriginPattern::parse(&text).unwrap();
            prop_assert_eq!(OriginPattern::parse(&parsed.to_string()).unwrap(), parsed);
        }
    }
}
