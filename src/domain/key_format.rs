//! The key format of SPEC §2: `<prefix>_<type>_<tag>_<secret><check>`.
//!
//! Parsing does no I/O, so garbage is refused before any look-up.

use std::fmt;

use sha2::{Digest, Sha256};

use super::Invalid;
use super::api_key::KeyType;

const BASE62: &[u8; 62] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
pub const SECRET_LEN: usize = 43;
pub const CHECK_LEN: usize = 6;

/// Big-endian base62 of `bytes`, left-padded with '0' to `width`.
fn base62(bytes: &[u8], width: usize) -> String {
    let mut number = bytes.to_vec();
    let mut digits = Vec::with_capacity(width);
    while number.iter().any(|&b| b != 0) {
        let mut remainder = 0u32;
        for byte in number.iter_mut() {
            let acc = (remainder << 8) | u32::from(*byte);
            *byte = (acc / 62) as u8;
            remainder = acc % 62;
        }
        digits.push(BASE62[remainder as usize]);
    }
    while digits.len() < width {
        digits.push(b'0');
    }
    digits.reverse();
    digits.into_iter().map(char::from).collect()
}

/// CRC32 of `body` in base62, six digits (62^6 > 2^32). On the stack: parsing runs per request.
fn checksum(body: &str) -> [u8; CHECK_LEN] {
    let mut digits = [b'0'; CHECK_LEN];
    let mut n = crc32fast::hash(body.as_bytes());
    for slot in digits.iter_mut().rev() {
        *slot = BASE62[(n % 62) as usize];
        n /= 62;
    }
    digits
}

fn is_prefix(s: &str) -> bool {
    (2..=8).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_lowercase())
}

fn is_tag(s: &str) -> bool {
    (1..=8).contains(&s.len())
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
}

fn is_base62(s: &str) -> bool {
    s.bytes().all(|b| b.is_ascii_alphanumeric())
}

/// The installation's key prefix: 2–8 of `a-z`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyPrefix(String);

impl KeyPrefix {
    pub fn parse(s: &str) -> Result<Self, Invalid> {
        if is_prefix(s) {
            Ok(Self(s.to_owned()))
        } else {
            Err(Invalid::new(
                "A key prefix is 2 to 8 lowercase letters (a-z).",
            ))
        }
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl Default for KeyPrefix {
    fn default() -> Self {
        Self("kw".to_owned())
    }
}

/// An environment's key tag: 1–8 of `a-z0-9`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyTag(String);

impl KeyTag {
    pub fn parse(s: &str) -> Result<Self, Invalid> {
        if is_tag(s) {
            Ok(Self(s.to_owned()))
        } else {
            Err(Invalid::new(
                "A key tag is 1 to 8 characters of a-z and 0-9.",
            ))
        }
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// SHA-256 of a whole key: the only form in which a key is stored.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct KeyDigest(pub [u8; 32]);

impl KeyDigest {
    pub fn of(key: &str) -> Self {
        Self(Sha256::digest(key.as_bytes()).into())
    }
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }
    pub fn from_slice(bytes: &[u8]) -> Option<Self> {
        bytes.try_into().ok().map(Self)
    }
}

impl fmt::Debug for KeyDigest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "KeyDigest({})", hex::encode(self.0))
    }
}

/// A key's plaintext. It lives only long enough to be shown once; Debug never prints it.
pub struct PlainApiKey(String);

impl PlainApiKey {
    /// A new key with 32 bytes from the OS CSPRNG.
    pub fn generate(prefix: &KeyPrefix, key_type: KeyType, tag: &KeyTag) -> anyhow::Result<Self> {
        let mut random = [0u8; 32];
        getrandom::fill(&mut random).map_err(|e| anyhow::anyhow!("OS random source: {e}"))?;
        Ok(Self::from_random(prefix, key_type, tag, &random))
    }

    pub fn from_random(
        prefix: &KeyPrefix,
        key_type: KeyType,
        tag: &KeyTag,
        random: &[u8; 32],
    ) -> Self {
        let body = format!(
            "{}_{}_{}_{}",
            prefix.as_str(),
            key_type.code(),
            tag.as_str(),
            base62(random, SECRET_LEN)
        );
        let check = checksum(&body);
        Self(body + &String::from_utf8_lossy(&check))
    }

    pub fn expose(&self) -> &str {
        &self.0
    }

    pub fn digest(&self) -> KeyDigest {
        KeyDigest::of(&self.0)
    }

    pub fn masked(&self) -> String {
        // A generated key always parses; fall back to a fixed mask rather than panic.
        ParsedKey::parse(&self.0).map_or_else(|_| "…".to_owned(), |k| k.masked())
    }
}

impl fmt::Debug for PlainApiKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("PlainApiKey(redacted)")
    }
}

/// A presented key split into its parts, with its checksum verified.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ParsedKey<'a> {
    pub prefix: &'a str,
    pub key_type: KeyType,
    pub tag: &'a str,
    pub secret: &'a str,
}

impl<'a> ParsedKey<'a> {
    pub fn parse(key: &'a str) -> Result<Self, Invalid> {
        let malformed = || Invalid::new("The API key is malformed.");
        let mut parts = key.splitn(4, '_');
        let (Some(prefix), Some(kind), Some(tag), Some(tail)) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(malformed());
        };
        if !is_prefix(prefix) || !is_tag(tag) {
            return Err(malformed());
        }
        let key_type = KeyType::from_code(kind).ok_or_else(malformed)?;
        if tail.len() != SECRET_LEN + CHECK_LEN || !is_base62(tail) {
            return Err(malformed());
        }
        let (secret, check) = tail.split_at(SECRET_LEN);
        let body = &key[..key.len() - CHECK_LEN];
        let expected = checksum(body);
        if !bool::from(subtle::ConstantTimeEq::ct_eq(
            &expected[..],
            check.as_bytes(),
        )) {
            return Err(Invalid::new(
                "The API key's checksum does not match; it was mistyped or invented.",
            ));
        }
        Ok(Self {
            prefix,
            key_type,
            tag,
            secret,
        })
    }

    /// `kw_sk_live_AbCd…wXyZ`: enough to recognise a key, useless to an attacker.
    pub fn masked(&self) -> String {
        format!(
            "{}_{}_{}_{}…{}",
            self.prefix,
            self.key_type.code(),
            self.tag,
            &self.secret[..4],
            &self.secret[SECRET_LEN - 4..]
        )
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    #[derive(serde::Deserialize)]
    struct Vectors {
        valid: Vec<Valid>,
        malformed: Vec<String>,
    }
    #[derive(serde::Deserialize)]
    struct Valid {
        prefix: String,
        #[serde(rename = "type")]
        key_type: String,
        tag: String,
        random_bytes_hex: String,
        secret_base62: String,
        check: String,
        key: String,
        masked: String,
        sha256_hex: String,
    }

    fn vectors() -> Vectors {
        serde_json::from_str(include_str!("../../tests/key-vectors.json")).unwrap()
    }

    #[test]
    fn generated_keys_match_the_published_vectors() {
        for v in vectors().valid {
            let random: [u8; 32] = hex::decode(&v.random_bytes_hex)
                .unwrap()
                .try_into()
                .unwrap();
            let key_type = KeyType::from_code(&v.key_type).unwrap();
            let key = PlainApiKey::from_random(
                &KeyPrefix::parse(&v.prefix).unwrap(),
                key_type,
                &KeyTag::parse(&v.tag).unwrap(),
                &random,
            );
            assert_eq!(key.expose(), v.key);
            assert!(key.expose().contains(&v.secret_base62));
            assert!(key.expose().ends_with(&v.check));
            assert_eq!(key.masked(), v.masked);
            assert_eq!(hex::encode(key.digest().0), v.sha256_hex);
            let parsed = ParsedKey::parse(&v.key).unwrap();
            assert_eq!(parsed.prefix, v.prefix);
            assert_eq!(parsed.tag, v.tag);
        }
    }

    #[test]
    fn malformed_vectors_are_refused() {
        for bad in vectors().malformed {
            assert!(ParsedKey::parse(&bad).is_err(), "{bad} should be refused");
        }
        for bad in ["", "kw", "kw_sk_live_", "KW_sk_live_x", "kw_sk_LIVE_0000"] {
            assert!(ParsedKey::parse(bad).is_err(), "{bad} should be refused");
        }
    }

    #[test]
    fn a_generated_key_parses_and_has_the_documented_length() {
        let key = PlainApiKey::generate(
            &KeyPrefix::default(),
            KeyType::Secret,
            &KeyTag::parse("live").unwrap(),
        )
        .unwrap();
        assert_eq!(key.expose().len(), "kw_sk_live_".len() + 43 + 6);
        assert!(ParsedKey::parse(key.expose()).is_ok());
        assert_eq!(format!("{key:?}"), "PlainApiKey(redacted)");
    }

    /// SPEC §2 written out again, independently of the parser: the parts, their alphabets and
    /// lengths, and the CRC32 of the body in six base62 digits.
    fn well_formed(s: &str) -> bool {
        let parts: Vec<&str> = s.split('_').collect();
        let [prefix, kind, tag, tail] = parts[..] else {
            return false;
        };
        let lower = |c: char| c.is_ascii_lowercase();
        let ok_prefix = (2..=8).contains(&prefix.len()) && prefix.chars().all(lower);
        let ok_tag =
            (1..=8).contains(&tag.len()) && tag.chars().all(|c| lower(c) || c.is_ascii_digit());
        let ok_tail = tail.len() == 49 && tail.chars().all(|c| c.is_ascii_alphanumeric());
        if !(ok_prefix && ok_tag && ok_tail && matches!(kind, "sk" | "pk")) {
            return false;
        }
        let (body, check) = s.split_at(s.len() - 6);
        let alphabet: Vec<char> = ('0'..='9').chain('A'..='Z').chain('a'..='z').collect();
        let mut n = u64::from(crc32fast::hash(body.as_bytes()));
        let mut digits = Vec::new();
        for _ in 0..6 {
            digits.push(alphabet[(n % 62) as usize]);
            n /= 62;
        }
        digits.reverse();
        check == digits.into_iter().collect::<String>()
    }

    /// A generated key, whole.
    fn a_key() -> impl Strategy<Value = String> {
        (
            "[a-z]{2,8}",
            prop_oneof![Just(KeyType::Secret), Just(KeyType::Publishable)],
            "[a-z0-9]{1,8}",
            any::<[u8; 32]>(),
        )
            .prop_map(|(prefix, key_type, tag, random)| {
                let prefix = KeyPrefix::parse(&prefix).unwrap();
                let tag = KeyTag::parse(&tag).unwrap();
                PlainApiKey::from_random(&prefix, key_type, &tag, &random)
                    .expose()
                    .to_owned()
            })
    }

    /// A generated key with one edit: a character replaced, inserted or removed, the case of
    /// one flipped, or something put before or after it.
    fn a_near_key() -> impl Strategy<Value = String> {
        (a_key(), any::<prop::sample::Index>(), any::<char>(), 0..6u8).prop_map(
            |(key, at, c, edit)| {
                let mut chars: Vec<char> = key.chars().collect();
                let i = at.index(chars.len());
                match edit {
                    0 => chars[i] = c,
                    1 => chars.insert(i, c),
                    2 => {
                        chars.remove(i);
                    }
                    3 => {
                        chars[i] = if chars[i].is_ascii_lowercase() {
                            chars[i].to_ascii_uppercase()
                        } else {
                            chars[i].to_ascii_lowercase()
                        }
                    }
                    4 => chars.insert(0, c),
                    _ => chars.push(c),
                }
                chars.into_iter().collect()
            },
        )
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 256, failure_persistence: None, ..ProptestConfig::default() })]

        #[test]
        fn generated_keys_are_well_formed_and_parse(key in a_key()) {
            prop_assert!(well_formed(&key));
            let parsed = ParsedKey::parse(&key).unwrap();
            prop_assert_eq!(parsed.masked().chars().count(), key.len() - 49 + 4 + 1 + 4);
        }

        #[test]
        fn a_near_key_parses_exactly_when_it_is_well_formed(key in a_near_key()) {
            prop_assert_eq!(ParsedKey::parse(&key).is_ok(), well_formed(&key), "{:?}", key);
        }

        #[test]
        fn one_changed_character_is_always_caught(
            key in a_key(),
            at in any::<prop::sample::Index>(),
            c in any::<char>(),
        ) {
            let mut chars: Vec<char> = key.chars().collect();
            let i = at.index(chars.len());
            prop_assume!(chars[i] != c);
            chars[i] = c;
            let changed: String = chars.into_iter().collect();
            prop_assert!(ParsedKey::parse(&changed).is_err(), "{:?}", changed);
        }

        #[test]
        fn arbitrary_text_never_panics_and_parses_only_when_well_formed(s in any::<String>()) {
            prop_assert_eq!(ParsedKey::parse(&s).is_ok(), well_formed(&s));
        }

        #[test]
        fn arbitrary_bytes_never_panic_and_parse_only_when_well_formed(
            bytes in prop::collection::vec(any::<u8>(), 0..200),
        ) {
            let s = String::from_utf8_lossy(&bytes);
            prop_assert_eq!(ParsedKey::parse(&s).is_ok(), well_formed(&s));
        }

        #[test]
        fn key_shaped_and_long_text_parses_only_when_well_formed(
            s in prop_oneof![
                "[a-z]{1,9}_(sk|pk|SK|xk)_[a-z0-9]{0,9}_[0-9A-Za-z]{48,50}",
                ".{0,2000}",
            ],
        ) {
            prop_assert_eq!(ParsedKey::parse(&s).is_ok(), well_formed(&s));
        }
    }
}
