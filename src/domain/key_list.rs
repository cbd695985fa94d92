//! What a view of an environment's keys asks for (SPEC §9): filters, a keyset cursor, the
//! expiry badge. Parsed once at the edge; nothing here knows Diesel or actix.

use chrono::{DateTime, TimeDelta, Utc};

use super::Invalid;
use super::api_key::{KeyType, Scope};
use super::ids::KeyId;
use super::key_format::ParsedKey;

/// Keys a page shows.
pub const PAGE_SIZE: i64 = 50;
/// "Expiring soon" and the `Expires in N days` badge look this far ahead.
pub const EXPIRING_DAYS: i64 = 30;
/// The banner counts keys that expire this soon.
pub const BANNER_DAYS: i64 = 7;

/// `?status=`: absent is All.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StatusFilter {
    On,
    Off,
    Expired,
    Revoked,
    /// Not revoked, not yet expired, expires within 30 days (Off keys included).
    Expiring,
}

impl StatusFilter {
    pub const ALL: [Self; 5] = [
        Self::On,
        Self::Off,
        Self::Expired,
        Self::Revoked,
        Self::Expiring,
    ];

    pub fn parse(s: &str) -> Result<Self, Invalid> {
        Self::ALL
            .into_iter()
            .find(|f| f.as_str() == s)
            .ok_or_else(|| Invalid::new("status is one of on, off, expired, revoked, expiring."))
    }
    pub fn as_str(self) -> &'static str {
        match self {
            Self::On => "on",
            Self::Off => "off",
            Self::Expired => "expired",
            Self::Revoked => "revoked",
            Self::Expiring => "expiring",
        }
    }
    pub fn label(self) -> &'static str {
        match self {
            Self::On => "On",
            Self::Off => "Off",
            Self::Expired => "Expired",
            Self::Revoked => "Revoked",
            Self::Expiring => "Expiring soon",
        }
    }
}

/// Which keys a view shows. `q` is never a plaintext key: see [`SearchText::parse`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KeyFilter {
    pub q: Option<String>,
    pub status: Option<StatusFilter>,
    pub key_type: Option<KeyType>,
    pub scope: Option<Scope>,
    /// Only this owner's keys (SPEC §9, §11).
    pub owner: Option<super::policy::OwnerId>,
}

/// What was typed into Search.
#[derive(Debug, PartialEq, Eq)]
pub enum SearchText {
    Empty,
    /// A fragment of a name, description or masked form, or the masked form's last 4.
    Text(String),
    /// Something shaped like a whole key: looked up by digest, never put in a URL or echoed.
    /// Holds nothing printable (`Debug` shows no secret).
    Key(KeyLookup),
}

/// A pasted key, reduced at once to what a look-up needs.
#[derive(PartialEq, Eq)]
pub enum KeyLookup {
    /// It parses (checksum included): its digest.
    Digest(super::key_format::KeyDigest),
    /// Key-shaped but not a valid key (a typo, a truncated paste): it matches nothing.
    Invalid,
}

impl std::fmt::Debug for KeyLookup {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("KeyLookup(redacted)")
    }
}

impl SearchText {
    pub fn parse(raw: &str) -> Self {
        let text = raw.trim();
        if text.is_empty() {
            return Self::Empty;
        }
        if ParsedKey::parse(text).is_ok() {
            return Self::Key(KeyLookup::Digest(super::key_format::KeyDigest::of(text)));
        }
        if looks_like_a_key(text) {
            return Self::Key(KeyLookup::Invalid);
        }
        // Control characters match nothing a key holds (and PostgreSQL refuses NUL).
        Self::Text(text.chars().filter(|c| !c.is_control()).take(200).collect())
    }
}

/// `prefix_type_tag_` followed by a long run of base62: a key with a typo is still a secret
/// almost whole, so it must not reach a URL either.
fn looks_like_a_key(text: &str) -> bool {
    let parts: Vec<&str> = text.splitn(4, '_').collect();
    match parts.as_slice() {
        [_, kind, _, tail] => {
            KeyType::from_code(kind).is_some()
                && tail.len() >= 20
                && tail.chars().all(|c| c.is_ascii_alphanumeric())
        }
        _ => false,
    }
}

/// A position in the newest-first order (created_at DESC, id DESC): the sort key of a row.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeyPosition {
    pub created_at: DateTime<Utc>,
    pub id: KeyId,
}

impl KeyPosition {
    /// Opaque to clients: hex of the creation time in microseconds and the id.
    pub fn encode(&self) -> String {
        let mut bytes = [0u8; 16];
        bytes[..8].copy_from_slice(&self.created_at.timestamp_micros().to_be_bytes());
        bytes[8..].copy_from_slice(&self.id.get().to_be_bytes());
        hex::encode(bytes)
    }

    pub fn decode(s: &str) -> Result<Self, Invalid> {
        let invalid = || Invalid::new("The cursor is not one this server handed out.");
        let bytes = hex::decode(s).map_err(|_| invalid())?;
        let (micros, id) = match (bytes.get(..8), bytes.get(8..)) {
            (Some(m), Some(i)) if bytes.len() == 16 => (
                i64::from_be_bytes(m.try_into().map_err(|_| invalid())?),
                i64::from_be_bytes(i.try_into().map_err(|_| invalid())?),
            ),
            _ => return Err(invalid()),
        };
        // Any 32 hex digits name a position: one outside the years keys can have is simply
        // before (or after) every key, never an error.
        let micros = micros.clamp(0, 253_402_300_799_000_000);
        let created_at = DateTime::from_timestamp_micros(micros).ok_or_else(invalid)?;
        Ok(Self {
            created_at,
            id: KeyId(id),
        })
    }
}

/// Where a page starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum KeyCursor {
    #[default]
    Newest,
    /// Older than this row (`?after=` the last row of the page before: "Next").
    After(KeyPosition),
    /// Newer than this row (`?before=` the first row of the page after: "Previous").
    Before(KeyPosition),
}

/// `Expires in N days` within 30 days (N whole days left, rounded down), `Expires today`
/// under one day; nothing for a key that is revoked, expired or far from expiry.
pub fn expiry_badge(
    expires_at: Option<DateTime<Utc>>,
    revoked: bool,
    now: DateTime<Utc>,
) -> Option<String> {
    let at = expires_at?;
    if revoked || at <= now || at - now > TimeDelta::days(EXPIRING_DAYS) {
        return None;
    }
    Some(match (at - now).num_days() {
        0 => "Expires today".to_owned(),
        n => format!("Expires in {n} days"),
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_refuse_garbage() {
        let p = KeyPosition {
            created_at: DateTime::from_timestamp_micros(1_700_000_000_123_456).unwrap(),
            id: "42".parse().unwrap(),
        };
        assert_eq!(KeyPosition::decode(&p.encode()).unwrap(), p);
        assert!(KeyPosition::decode("zz").is_err());
        assert!(KeyPosition::decode("00").is_err());
        assert!(KeyPosition::decode("").is_err());
    }

    #[test]
    fn badges_count_whole_days_left() {
        let now = Utc::now();
        let badge = |d: TimeDelta| expiry_badge(Some(now + d), false, now);
        assert_eq!(badge(TimeDelta::hours(23)).unwrap(), "Expires today");
        assert_eq!(
            badge(TimeDelta::days(5) + TimeDelta::hours(23)).unwrap(),
            "Expires in 5 days"
        );
        assert_eq!(badge(TimeDelta::days(30)).unwrap(), "Expires in 30 days");
        assert!(badge(TimeDelta::days(31)).is_none());
        assert!(badge(TimeDelta::seconds(-1)).is_none());
        assert!(expiry_badge(Some(now + TimeDelta::days(3)), true, now).is_none());
    }

    #[test]
    fn a_pasted_key_is_never_text() {
        assert_eq!(SearchText::parse("  "), SearchText::Empty);
        assert_eq!(
            SearchText::parse(" billing "),
            SearchText::Text("billing".into())
        );
        assert_eq!(
            SearchText::parse("kw_sk_live_0123456789abcdefghijABCDEFGHIJ"),
            SearchText::Key(KeyLookup::Invalid)
        );
        assert!(matches!(
            SearchText::parse("kw_sk_live_AbCd…wXyZ"),
            SearchText::Text(_)
        ));
    }
}
