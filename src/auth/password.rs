//! argon2id (m=19456 KiB, t=2, p=1: the crate's defaults, OWASP's setting).
//! Callers run these off the async workers: a hash costs tens of milliseconds.

use argon2::Argon2;
use argon2::password_hash::phc::PasswordHash;
use argon2::password_hash::{PasswordHasher, PasswordVerifier};

use crate::domain::user::Password;

pub fn hash(password: &Password) -> anyhow::Result<String> {
    Argon2::default()
        .hash_password(password.expose().as_bytes())
        .map(|h| h.to_string())
        .map_err(|e| anyhow::anyhow!("hashing a password: {e}"))
}

pub fn verify(password: &Password, stored_hash: &str) -> bool {
    PasswordHash::new(stored_hash).is_ok_and(|parsed| {
        Argon2::default()
            .verify_password(password.expose().as_bytes(), &parsed)
            .is_ok()
    })
}

/// Spends the same time as a real check, so an unknown email cannot be told from a wrong password.
pub fn verify_against_nothing(password: &Password) {
    static DUMMY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    let dummy = DUMMY.get_or_init(|| {
        hash(&Password::presented("keyward-timing-equaliser".to_owned())).unwrap_or_default()
    });
    let _ = verify(password, dummy);
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn a_hash_verifies_only_its_password() {
        let h = hash(&Password::presented("correct horse battery".into())).unwrap();
        assert!(h.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"));
        assert!(verify(
            &Password::presented("correct horse battery".into()),
            &h
        ));
        assert!(!verify(&Password::presented("wrong".into()), &h));
        assert!(!verify(&Password::presented("x".into()), "not a hash"));
    }
}
