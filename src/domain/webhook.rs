//! Webhook endpoints and their deliveries (SPEC §12): the endpoint URL rule, the events an
//! endpoint receives, the signing secret, the `Keyward-Signature` header and the retry schedule.

use std::fmt;
use std::net::IpAddr;

use chrono::TimeDelta;
use hmac::{Hmac, Mac};
use sha2::Sha256;

use super::Invalid;
use super::audit::AuditAction;

/// Long enough for any real receiver, short enough to keep a row and a log line small.
pub const MAX_URL_CHARS: usize = 2000;

/// Where deliveries go: `https://`, or `http://` to this machine only (local receivers, tests).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookUrl(String);

impl WebhookUrl {
    pub fn parse(text: &str) -> Result<Self, Invalid> {
        let text = text.trim();
        if text.is_empty() {
            return Err(Invalid::new("Enter the endpoint's URL."));
        }
        if text.chars().count() > MAX_URL_CHARS {
            return Err(Invalid::new(format!(
                "The URL may be at most {MAX_URL_CHARS} characters long."
            )));
        }
        if text.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(Invalid::new(
                "The URL may not contain spaces or control characters.",
            ));
        }
        let url = url::Url::parse(text).map_err(|_| {
            Invalid::new("This is not a URL. Enter one such as https://example.com/keyward-events.")
        })?;
        if !url.username().is_empty() || url.password().is_some() {
            return Err(Invalid::new(
                "The URL may not carry a user name or password; each delivery is signed instead.",
            ));
        }
        if url.fragment().is_some() {
            return Err(Invalid::new("The URL may not have a #fragment."));
        }
        let refused = || {
            Invalid::new(
                "Use an https:// URL. Plain http:// is accepted only for this machine \
                 (localhost, 127.0.0.1 or [::1]).",
            )
        };
        match (url.scheme(), url.host()) {
            ("https", Some(_)) => {}
            ("http", Some(url::Host::Domain(d))) if d.eq_ignore_ascii_case("localhost") => {}
            ("http", Some(url::Host::Ipv4(ip))) if IpAddr::V4(ip).is_loopback() => {}
            ("http", Some(url::Host::Ipv6(ip))) if IpAddr::V6(ip).is_loopback() => {}
            _ => return Err(refused()),
        }
        Ok(Self(url.to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// The key events an endpoint receives: a non-empty set, in the order of `AuditAction::ALL`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventSelection(Vec<AuditAction>);

impl EventSelection {
    pub fn all() -> Self {
        Self(AuditAction::key_events().collect())
    }

    /// The checked boxes' values; nothing checked is refused (an endpoint that hears nothing).
    pub fn parse<'a>(names: impl IntoIterator<Item = &'a str>) -> Result<Self, Invalid> {
        let mut chosen = Vec::new();
        for name in names {
            match AuditAction::parse(name).filter(|a| a.is_key_event()) {
                Some(action) => chosen.push(action),
                None => return Err(Invalid::new(format!("There is no event named {name:?}."))),
            }
        }
        let selection: Vec<_> = AuditAction::key_events()
            .filter(|a| chosen.contains(a))
            .collect();
        if selection.is_empty() {
            return Err(Invalid::new("Choose at least one event to send."));
        }
        Ok(Self(selection))
    }

    pub fn contains(&self, action: AuditAction) -> bool {
        self.0.contains(&action)
    }

    pub fn names(&self) -> Vec<&'static str> {
        self.0.iter().map(|a| a.as_str()).collect()
    }
}

/// The signing secret, `whsec_` and 64 hex digits. The HMAC key is the whole string's bytes.
#[derive(Clone)]
pub struct WebhookSecret(String);

impl fmt::Debug for WebhookSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("WebhookSecret(redacted)")
    }
}

pub const SECRET_PREFIX: &str = "whsec_";

impl WebhookSecret {
    pub fn generate() -> anyhow::Result<Self> {
        let mut bytes = [0u8; 32];
        getrandom::fill(&mut bytes).map_err(|e| anyhow::anyhow!("OS random source: {e}"))?;
        Ok(Self(format!("{SECRET_PREFIX}{}", hex::encode(bytes))))
    }

    /// A secret read back from its sealed form.
    pub fn from_opened(bytes: Vec<u8>) -> Result<Self, Invalid> {
        String::from_utf8(bytes)
            .ok()
            .filter(|s| s.starts_with(SECRET_PREFIX))
            .map(Self)
            .ok_or_else(|| Invalid::new("A stored webhook secret is not readable."))
    }

    /// Shown once, right after it is made; stored only sealed.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// `Keyward-Signature`: `t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>`.
    pub fn signature(&self, unix_seconds: i64, body: &[u8]) -> String {
        format!(
            "t={unix_seconds},v1={}",
            hex::encode(self.mac(unix_seconds, body))
        )
    }

    fn mac(&self, unix_seconds: i64, body: &[u8]) -> Vec<u8> {
        // HMAC takes a key of any length, so this cannot fail.
        let mut mac = match <Hmac<Sha256> as Mac>::new_from_slice(self.0.as_bytes()) {
            Ok(mac) => mac,
            Err(_) => return Vec::new(),
        };
        mac.update(unix_seconds.to_string().as_bytes());
        mac.update(b".");
        mac.update(body);
        mac.finalize().into_bytes().to_vec()
    }
}

/// Tries before a delivery is marked failed (SPEC §12: at least 6).
pub const MAX_ATTEMPTS: i32 = 8;

/// The wait after the `attempts_made`-th failed try, or `None` when it was the last: growing
/// delays, the first within 10 s, none over an hour (about 3 hours in all).
pub fn retry_delay(attempts_made: i32) -> Option<TimeDelta> {
    let seconds = match attempts_made {
        1 => 5,
        2 => 30,
        3 => 2 * 60,
        4 => 10 * 60,
        5 => 30 * 60,
        6 | 7 => 60 * 60,
        _ => return None,
    };
    Some(TimeDelta::seconds(seconds))
}

/// An endpoint that has failed every delivery for this long is switched off.
pub const FAILING_FOR: TimeDelta = TimeDelta::hours(24);

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn https_anywhere_and_http_only_to_this_machine() {
        for ok in [
            "https://example.com/hook",
            "https://example.com:8443/a?b=c",
            "http://localhost:9000/x",
            "http://127.0.0.1:1234/",
            "http://127.9.9.9/",
            "http://[::1]:80/",
        ] {
            assert!(WebhookUrl::parse(ok).is_ok(), "{ok}");
        }
        for bad in [
            "",
            "http://example.com/",
            "http://10.0.0.1/",
            "http://192.168.1.1/",
            "ftp://example.com/",
            "example.com",
            "https://user:pw@example.com/",
            "https://exa mple.com/",
            "https://example.com/#x",
            "javascript:alert(1)",
        ] {
            assert!(WebhookUrl::parse(bad).is_err(), "{bad}");
        }
        let long = format!("https://example.com/{}", "a".repeat(MAX_URL_CHARS));
        assert!(WebhookUrl::parse(&long).is_err());
    }

    #[test]
    fn the_signature_is_hmac_sha256_of_time_dot_body_keyed_by_the_whole_secret() {
        let secret = WebhookSecret("whsec_test".to_owned());
        let header = secret.signature(1_700_000_000, b"{}");
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(b"whsec_test").unwrap();
        mac.update(b"1700000000.{}");
        let expected = hex::encode(mac.finalize().into_bytes());
        assert_eq!(header, format!("t=1700000000,v1={expected}"));
    }

    #[test]
    fn retries_grow_start_within_10_s_never_wait_over_an_hour_and_end() {
        let delays: Vec<_> = (1..MAX_ATTEMPTS).map(|n| retry_delay(n).unwrap()).collect();
        assert!(delays[0] <= TimeDelta::seconds(10));
        assert!(delays.windows(2).all(|w| w[0] <= w[1]));
        assert!(delays.iter().all(|d| *d <= TimeDelta::hours(1)));
        const { assert!(MAX_ATTEMPTS >= 6) };
        assert_eq!(retry_delay(MAX_ATTEMPTS), None);
    }

    #[test]
    fn an_endpoint_hears_at_least_one_key_event() {
        assert!(EventSelection::parse([]).is_err());
        assert!(EventSelection::parse(["membership.added"]).is_err());
        let s = EventSelection::parse(["api_key.revoked", "api_key.created"]).unwrap();
        assert_eq!(s.names(), vec!["api_key.created", "api_key.revoked"]);
        assert_eq!(EventSelection::all().names().len(), 8);
    }
}
