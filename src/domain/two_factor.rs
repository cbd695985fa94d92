//! Two-factor sign-in: TOTP (RFC 6238: HMAC-SHA-1, 6 digits, 30-second steps) and single-use
//! recovery codes. Pure computation; where the secret is kept and which step was used last is
//! the caller's business.

use std::fmt;

use sha2::{Digest, Sha256};
use totp_rs::{Algorithm, Builder, Secret, Totp};

use super::Invalid;

/// Seconds per time step.
pub const STEP_SECONDS: u64 = 30;
const DIGITS: u8 = 6;
/// RFC 4226 recommends 160 bits.
const SECRET_BYTES: usize = 20;
/// How many recovery codes a set-up hands out.
pub const RECOVERY_CODES: usize = 10;
/// Recovery codes use an alphabet without look-alikes (no 0/o, 1/l).
const RECOVERY_ALPHABET: &[u8; 32] = b"abcdefghijkmnpqrstuvwxyz23456789";

/// A TOTP shared secret. Debug never prints it.
#[derive(Clone)]
pub struct TotpSecret(Vec<u8>);

impl fmt::Debug for TotpSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("TotpSecret(redacted)")
    }
}

impl TotpSecret {
    pub fn generate() -> Result<Self, Invalid> {
        let mut bytes = vec![0u8; SECRET_BYTES];
        getrandom::fill(&mut bytes).map_err(|e| Invalid::new(format!("OS random source: {e}")))?;
        Ok(Self(bytes))
    }

    /// Bytes as stored (sealed) and read back; anything shorter than 128 bits is refused.
    pub fn from_bytes(bytes: Vec<u8>) -> Result<Self, Invalid> {
        if bytes.len() < 16 {
            return Err(Invalid::new("A two-factor secret is at least 128 bits."));
        }
        Ok(Self(bytes))
    }

    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    /// The form an authenticator app takes when typed in (RFC 4648 base32, no padding).
    pub fn base32(&self) -> String {
        Secret::from(self.0.clone()).to_base32()
    }

    /// What the QR code holds (Google Authenticator's key URI format).
    pub fn otpauth_uri(&self, issuer: &str, account: &str) -> String {
        use percent_encoding::{NON_ALPHANUMERIC, utf8_percent_encode};
        let issuer = utf8_percent_encode(issuer, NON_ALPHANUMERIC);
        let account = utf8_percent_encode(account, NON_ALPHANUMERIC);
        format!(
            "otpauth://totp/{issuer}:{account}?secret={}&issuer={issuer}&algorithm=SHA1&digits={DIGITS}&period={STEP_SECONDS}",
            self.base32()
        )
    }

    fn totp(&self) -> Totp {
        // The parameters are RFC 6238's own and the secret is ≥ 128 bits, so the compliant
        // build cannot fail for a secret made here; the non-compliant one skips the re-check.
        Builder::new()
            .with_algorithm(Algorithm::SHA1)
            .with_digits(DIGITS)
            .with_skew(1)
            .with_step_duration(STEP_SECONDS)
            .with_secret(Secret::from(self.0.clone()))
            .build_noncompliant()
    }

    /// The code an authenticator shows at `unix_seconds`.
    pub fn code_at(&self, unix_seconds: u64) -> String {
        self.totp().generate(unix_seconds).to_string()
    }

    /// The time step the code belongs to, if it is the code of the current step or of the one
    /// before or after it (clocks drift; people type slowly). Compared in constant time.
    pub fn matching_step(&self, code: &str, unix_seconds: u64) -> Option<u64> {
        self.totp().check(code, unix_seconds)
    }
}

/// What was typed into the sign-in's **Code** field.
#[derive(PartialEq, Eq)]
pub enum PresentedCode {
    /// Six digits from the authenticator app.
    Totp(String),
    /// Anything else is tried as a recovery code (normalised: lowercase, no spaces or dashes).
    Recovery(String),
}

impl fmt::Debug for PresentedCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("PresentedCode(redacted)")
    }
}

impl PresentedCode {
    pub fn parse(typed: &str) -> Result<Self, Invalid> {
        let compact: String = typed
            .chars()
            .filter(|c| !c.is_whitespace() && *c != '-')
            .collect();
        if compact.is_empty() {
            return Err(Invalid::new(
                "Enter the 6-digit code from your authenticator app, or a recovery code.",
            ));
        }
        if compact.len() == usize::from(DIGITS) && compact.chars().all(|c| c.is_ascii_digit()) {
            return Ok(Self::Totp(compact));
        }
        if compact.chars().count() > 64 {
            return Err(Invalid::new("That is not a code."));
        }
        Ok(Self::Recovery(compact.to_lowercase()))
    }
}

/// A recovery code as shown once (`abcde-fghjk`); only its digest is stored.
pub struct RecoveryCode(String);

impl fmt::Debug for RecoveryCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("RecoveryCode(redacted)")
    }
}

impl RecoveryCode {
    /// Ten characters from a 32-letter alphabet: 50 bits each, ample behind the sign-in throttle.
    pub fn generate() -> Result<Self, Invalid> {
        let mut bytes = [0u8; 10];
        getrandom::fill(&mut bytes).map_err(|e| Invalid::new(format!("OS random source: {e}")))?;
        let letters: String = bytes
            .iter()
            .map(|b| char::from(RECOVERY_ALPHABET[usize::from(*b) % RECOVERY_ALPHABET.len()]))
            .collect();
        Ok(Self(format!("{}-{}", &letters[..5], &letters[5..])))
    }

    pub fn generate_set() -> Result<Vec<Self>, Invalid> {
        (0..RECOVERY_CODES).map(|_| Self::generate()).collect()
    }

    pub fn expose(&self) -> &str {
        &self.0
    }

    pub fn digest(&self) -> Vec<u8> {
        recovery_digest(&self.0.replace('-', ""))
    }
}

/// SHA-256 of a normalised recovery code (lowercase, no dashes): the codes are random and
/// high-entropy, so a fast digest is enough.
pub fn recovery_digest(normalised: &str) -> Vec<u8> {
    Sha256::digest(normalised.as_bytes()).to_vec()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn rfc_6238_sha1_vectors() {
        // RFC 6238 appendix B's SHA-1 secret, codes truncated to 6 digits.
        let secret = TotpSecret::from_bytes(b"12345678901234567890".to_vec()).unwrap();
        assert_eq!(secret.code_at(59), "287082");
        assert_eq!(secret.code_at(1_111_111_109), "081804");
        assert_eq!(secret.code_at(1_234_567_890), "005924");
        assert_eq!(secret.base32(), "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ");
    }

    #[test]
    fn a_code_matches_its_step_and_the_neighbouring_ones_only() {
        let secret = TotpSecret::generate().unwrap();
        let now = 1_800_000_015;
        let step = now / STEP_SECONDS;
        let code = secret.code_at(now);
        assert_eq!(secret.matching_step(&code, now), Some(step));
        assert_eq!(secret.matching_step(&code, now + 30), Some(step));
        assert_eq!(secret.matching_step(&code, now - 30), Some(step));
        assert_eq!(secret.matching_step(&code, now + 60), None);
        assert_eq!(secret.matching_step("abcdef", now), None);
    }

    #[test]
    fn six_digits_are_a_totp_code_anything_else_a_recovery_code() {
        assert_eq!(
            PresentedCode::parse(" 123 456 ").unwrap(),
            PresentedCode::Totp("123456".into())
        );
        assert_eq!(
            PresentedCode::parse("ABCDE-fghjk").unwrap(),
            PresentedCode::Recovery("abcdefghjk".into())
        );
        assert!(PresentedCode::parse("  ").is_err());
        assert!(PresentedCode::parse(&"x".repeat(65)).is_err());
    }

    #[test]
    fn recovery_codes_are_distinct_and_their_digest_ignores_the_dash() {
        let codes = RecoveryCode::generate_set().unwrap();
        assert_eq!(codes.len(), 10);
        let first = &codes[0];
        assert_eq!(first.expose().len(), 11);
        let typed = PresentedCode::parse(&first.expose().to_uppercase()).unwrap();
        let PresentedCode::Recovery(normalised) = typed else {
            panic!("a recovery code")
        };
        assert_eq!(recovery_digest(&normalised), first.digest());
        assert!(format!("{first:?}").contains("redacted"));
        assert!(codes[1..].iter().all(|c| c.expose() != first.expose()));
    }

    #[test]
    fn the_otpauth_uri_names_the_account_and_the_parameters() {
        let secret = TotpSecret::from_bytes(b"12345678901234567890".to_vec()).unwrap();
        let uri = secret.otpauth_uri("Keyward", "ann@example.com");
        assert!(uri.starts_with("otpauth://totp/Keyward:ann%40example%2Ecom?secret=GEZDGNBV"));
        assert!(uri.contains("&digits=6&period=30"));
    }
}
