//! Secrets the server must read back (TOTP seeds, webhook signing secrets) are stored sealed
//! with a key kept outside the database: a copy of the database alone reveals none of them.
//!
//! The key is `KEYWARD_SECRET_KEY` (64 hex digits) or, when unset, a key generated on first
//! start into `<data dir>/secret.key` (mode 0600). Every node of a cluster needs the same key.
//! Sealing is XChaCha20-Poly1305 with a random 24-byte nonce per value; the caller's `context`
//! (e.g. `totp:user:42`) is bound in as associated data, so a sealed value copied into another
//! row or column does not open there.

use std::path::Path;

use anyhow::Context;
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};

use crate::error::AppError;

const KEY_LEN: usize = 32;
const NONCE_LEN: usize = 24;
/// The first byte of every sealed value: which scheme sealed it, so a later one can be added.
const VERSION: u8 = 1;

/// The 32-byte key that seals and opens stored secrets.
#[derive(Clone)]
pub struct SecretKey([u8; KEY_LEN]);

impl std::fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SecretKey(redacted)")
    }
}

impl SecretKey {
    /// 64 hex digits, as `KEYWARD_SECRET_KEY` holds it.
    pub fn parse_hex(text: &str) -> anyhow::Result<Self> {
        let bytes = hex::decode(text.trim()).context("must be 64 hex digits")?;
        let bytes: [u8; KEY_LEN] = bytes
            .try_into()
            .map_err(|_| anyhow::anyhow!("must be 64 hex digits (32 bytes)"))?;
        Ok(Self(bytes))
    }

    pub fn generate() -> anyhow::Result<Self> {
        let mut bytes = [0u8; KEY_LEN];
        getrandom::fill(&mut bytes).map_err(|e| anyhow::anyhow!("OS random source: {e}"))?;
        Ok(Self(bytes))
    }

    /// The key in `path`, or a new one written there (readable by this user only) when the
    /// file does not exist yet.
    pub fn load_or_create(path: &Path) -> anyhow::Result<Self> {
        match std::fs::read_to_string(path) {
            Ok(text) => Self::parse_hex(&text).with_context(|| format!("{}", path.display())),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let key = Self::generate()?;
                if let Some(dir) = path.parent() {
                    std::fs::create_dir_all(dir)
                        .with_context(|| format!("creating {}", dir.display()))?;
                }
                write_private(path, &hex::encode(key.0))
                    .with_context(|| format!("writing {}", path.display()))?;
                tracing::info!(path = %path.display(), "generated a new secret key; every node needs the same KEYWARD_SECRET_KEY");
                Ok(key)
            }
            Err(e) => Err(e).with_context(|| format!("reading {}", path.display())),
        }
    }
}

#[cfg(unix)]
fn write_private(path: &Path, contents: &str) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)?;
    file.write_all(contents.as_bytes())
}

#[cfg(not(unix))]
fn write_private(path: &Path, contents: &str) -> std::io::Result<()> {
    std::fs::write(path, contents)
}

/// Seals and opens stored secrets with the installation's [`SecretKey`].
pub struct SecretBox {
    cipher: XChaCha20Poly1305,
}

impl SecretBox {
    pub fn new(key: &SecretKey) -> Self {
        Self {
            cipher: XChaCha20Poly1305::new((&key.0).into()),
        }
    }

    /// `VERSION ‖ nonce ‖ ciphertext-and-tag`.
    pub fn seal(&self, context: &str, plaintext: &[u8]) -> Result<Vec<u8>, AppError> {
        let mut nonce = [0u8; NONCE_LEN];
        getrandom::fill(&mut nonce)
            .map_err(|e| AppError::Unexpected(anyhow::anyhow!("OS random source: {e}")))?;
        let sealed = self
            .cipher
            .encrypt(
                XNonce::from_slice(&nonce),
                Payload {
                    msg: plaintext,
                    aad: context.as_bytes(),
                },
            )
            .map_err(|_| AppError::Unexpected(anyhow::anyhow!("sealing a secret failed")))?;
        let mut out = Vec::with_capacity(1 + NONCE_LEN + sealed.len());
        out.push(VERSION);
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&sealed);
        Ok(out)
    }

    /// The plaintext, or an error when the value was sealed with another key or context, or
    /// was altered.
    pub fn open(&self, context: &str, sealed: &[u8]) -> Result<Vec<u8>, AppError> {
        let unreadable = || {
            AppError::Unexpected(anyhow::anyhow!(
                "a stored secret does not open with this KEYWARD_SECRET_KEY"
            ))
        };
        let (version, rest) = sealed.split_first().ok_or_else(unreadable)?;
        if *version != VERSION || rest.len() < NONCE_LEN {
            return Err(unreadable());
        }
        let (nonce, ciphertext) = rest.split_at(NONCE_LEN);
        self.cipher
            .decrypt(
                XNonce::from_slice(nonce),
                Payload {
                    msg: ciphertext,
                    aad: context.as_bytes(),
                },
            )
            .map_err(|_| unreadable())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn a_sealed_value_opens_only_with_its_key_and_context() {
        let sealer = SecretBox::new(&SecretKey::generate().unwrap());
        let sealed = sealer.seal("totp:user:1", b"JBSWY3DPEHPK3PXP").unwrap();
        assert!(!sealed.windows(16).any(|w| w == b"JBSWY3DPEHPK3PXP"));
        assert_eq!(
            sealer.open("totp:user:1", &sealed).unwrap(),
            b"JBSWY3DPEHPK3PXP"
        );
        assert!(sealer.open("totp:user:2", &sealed).is_err());
        let other = SecretBox::new(&SecretKey::generate().unwrap());
        assert!(other.open("totp:user:1", &sealed).is_err());
        let mut altered = sealed.clone();
        *altered.last_mut().unwrap() ^= 1;
        assert!(sealer.open("totp:user:1", &altered).is_err());
        assert!(sealer.open("totp:user:1", &[]).is_err());
    }

    #[test]
    fn two_seals_of_one_value_differ() {
        let sealer = SecretBox::new(&SecretKey::generate().unwrap());
        assert_ne!(
            sealer.seal("c", b"same").unwrap(),
            sealer.seal("c", b"same").unwrap()
        );
    }

    #[test]
    fn the_key_file_is_created_once_and_read_back() {
        let dir = std::env::temp_dir().join(format!("keyward-secret-{}", std::process::id()));
        let path = dir.join("secret.key");
        let _ = std::fs::remove_dir_all(&dir);
        let first = SecretKey::load_or_create(&path).unwrap();
        let again = SecretKey::load_or_create(&path).unwrap();
        assert_eq!(first.0, again.0);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        std::fs::remove_dir_all(&dir).unwrap();
        assert!(SecretKey::parse_hex("abc").is_err());
        assert!(format!("{first:?}").contains("redacted"));
    }
}
