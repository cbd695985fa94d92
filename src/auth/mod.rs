//! Who is asking, and what they may do.

pub mod csrf;
pub mod current_user;
pub mod login_csrf;
pub mod password;
pub mod pending_sign_in;
pub mod permissions;
pub mod scope;
pub mod session_store;
pub mod throttle;

/// A random token of `bytes` bytes from the OS CSPRNG, hex-encoded.
pub fn random_token(bytes: usize) -> anyhow::Result<String> {
    let mut buf = vec![0u8; bytes];
    getrandom::fill(&mut buf).map_err(|e| anyhow::anyhow!("OS random source: {e}"))?;
    Ok(hex::encode(buf))
}

/// Compares two secrets without leaking where they differ through timing.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    bool::from(subtle::ConstantTimeEq::ct_eq(a, b))
}
