//! GitHub secret-scanning partner reports (SPEC §12): the public keys that sign them, the
//! reported tokens, and the feedback answered for each.

use std::path::Path;

use anyhow::Context;
use base64::Engine;
use p256::ecdsa::signature::Verifier;
use p256::ecdsa::{Signature, VerifyingKey};
use p256::pkcs8::DecodePublicKey;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// The public keys a report's signature may be made with, by `key_identifier`.
#[derive(Clone, Default)]
pub struct ScanningKeys(Vec<(String, VerifyingKey)>);

impl std::fmt::Debug for ScanningKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list()
            .entries(self.0.iter().map(|(id, _)| id))
            .finish()
    }
}

#[derive(Deserialize)]
struct KeysFile {
    public_keys: Vec<KeyEntry>,
}

#[derive(Deserialize)]
struct KeyEntry {
    key_identifier: String,
    key: String,
}

impl ScanningKeys {
    /// GitHub's format: `{"public_keys": [{"key_identifier", "key" (PEM), …}]}`.
    pub fn parse_json(text: &str) -> anyhow::Result<Self> {
        let file: KeysFile = serde_json::from_str(text)
            .context("expected GitHub's {\"public_keys\": [{\"key_identifier\", \"key\"}]}")?;
        let mut keys = Vec::new();
        for entry in file.public_keys {
            let key = VerifyingKey::from_public_key_pem(&entry.key).map_err(|e| {
                anyhow::anyhow!(
                    "key {}: not a P-256 public key in PEM: {e}",
                    entry.key_identifier
                )
            })?;
            keys.push((entry.key_identifier, key));
        }
        Ok(Self(keys))
    }

    pub fn load(path: &Path) -> anyhow::Result<Self> {
        let text =
            std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        Self::parse_json(&text).with_context(|| format!("{}", path.display()))
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Whether `signature` (base64 of an ASN.1 DER ECDSA signature) signs `body` (SHA-256) with
    /// the key named `identifier`.
    pub fn verify(&self, identifier: &str, signature: &str, body: &[u8]) -> bool {
        let Some((_, key)) = self.0.iter().find(|(id, _)| id == identifier) else {
            return false;
        };
        let Ok(der) = base64::engine::general_purpose::STANDARD.decode(signature.trim()) else {
            return false;
        };
        let Ok(signature) = Signature::from_der(&der) else {
            return false;
        };
        key.verify(body, &signature).is_ok()
    }
}

/// What a leak report does to a live key: switch it off (default) or revoke it
/// (`KEYWARD_LEAK_ACTION=revoke`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LeakAction {
    #[default]
    Disable,
    Revoke,
}

impl LeakAction {
    pub fn parse(text: &str) -> Result<Self, super::Invalid> {
        match text.trim() {
            "disable" | "off" => Ok(Self::Disable),
            "revoke" => Ok(Self::Revoke),
            _ => Err(super::Invalid::new("must be `disable` or `revoke`")),
        }
    }
}

/// One token of a report: `[{"token", "type", "url", "source"}]`.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[schema(as = LeakedToken)]
pub struct ReportedToken {
    /// The string found, perhaps a key of this installation.
    pub token: String,
    /// The pattern's name at GitHub; echoed as `token_type`.
    #[serde(rename = "type")]
    pub token_type: String,
    /// Where it was found.
    #[serde(default)]
    pub url: String,
    /// What kind of place (`content`, `commit`, `issue`, …).
    #[serde(default)]
    pub source: String,
}

/// The most tokens one report may carry.
pub const MAX_TOKENS: usize = 1000;
/// Stored URL and source are cut to this many characters.
pub const MAX_STORED_CHARS: usize = 2000;

/// GitHub's feedback for one token.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct LeakFeedback {
    /// SHA-256 of the token, hex: no plaintext is echoed.
    pub token_hash: String,
    pub token_type: String,
    /// `true_positive` for a key of this installation, `false_positive` otherwise.
    pub label: &'static str,
}

pub fn token_hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// `text` cut to `MAX_STORED_CHARS` characters.
pub fn stored(text: &str) -> String {
    text.chars().take(MAX_STORED_CHARS).collect()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn a_key_file_must_hold_p256_public_keys_in_pem() {
        assert!(ScanningKeys::parse_json("{}").is_err());
        assert!(
            ScanningKeys::parse_json(r#"{"public_keys":[{"key_identifier":"a","key":"nope"}]}"#)
                .is_err()
        );
        let empty = ScanningKeys::parse_json(r#"{"public_keys":[]}"#).unwrap();
        assert!(empty.is_empty());
        assert!(!empty.verify("a", "AAAA", b"[]"));
    }

    #[test]
    fn the_token_hash_is_sha256_hex() {
        assert_eq!(
            token_hash("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}
