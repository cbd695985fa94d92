//! One Config read from the environment at start.

use std::path::PathBuf;

use anyhow::Context;

use crate::domain::key_format::KeyPrefix;

#[derive(Debug, Clone)]
pub enum DatabaseChoice {
    /// `DATABASE_URL`: an existing PostgreSQL server.
    Url(String),
    /// Unset: a private cluster under this directory, started and stopped with the app.
    Embedded(PathBuf),
}

#[derive(Clone)]
pub struct Config {
    pub bind: String,
    pub database: DatabaseChoice,
    pub key_prefix: KeyPrefix,
    pub admin_email: Option<String>,
    pub admin_password: Option<String>,
    /// Mark the session cookie `Secure`: set when the public URL is https.
    pub secure_cookies: bool,
    pub pool_size: u32,
    /// How often cached keys are checked against their row versions (the bound on a missed
    /// change notice). Not read from the environment; tests shorten it.
    pub cache_revalidate_every: std::time::Duration,
    /// Peers whose `X-Forwarded-For` is believed (`KEYWARD_TRUSTED_PROXIES`, default none).
    pub trusted_proxies: crate::net::TrustedProxies,
    /// Seals secrets stored in the database (`KEYWARD_SECRET_KEY`, or generated into the data
    /// directory on first start); the same on every node.
    pub secret_key: crate::secret_box::SecretKey,
    /// GitHub's public keys for secret-scanning reports, read at start from the file named by
    /// `KEYWARD_SECRET_SCANNING_KEYS` (none: every report is refused with 401).
    pub secret_scanning_keys: crate::domain::leak::ScanningKeys,
    /// What a leak report does to a live key (`KEYWARD_LEAK_ACTION`: `disable`, or `revoke`).
    pub leak_action: crate::domain::leak::LeakAction,
    /// How often each node looks for keys due an expiry warning (real time; at most a minute).
    /// Not read from the environment; tests shorten it.
    pub expiry_sweep_every: std::time::Duration,
    /// Who must use two-factor sign-in (`KEYWARD_REQUIRE_2FA`: `none`, `admins`, `all`).
    pub require_2fa: Require2fa,
}

/// Who must set up two-factor sign-in before anything else.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Require2fa {
    #[default]
    None,
    Admins,
    All,
}

impl Require2fa {
    pub fn parse(text: &str) -> anyhow::Result<Self> {
        match text.trim() {
            "none" => Ok(Self::None),
            "admins" => Ok(Self::Admins),
            "all" => Ok(Self::All),
            other => Err(anyhow::anyhow!(
                "KEYWARD_REQUIRE_2FA must be none, admins or all, not {other:?}"
            )),
        }
    }

    /// Whether a user with this admin flag must have two-factor on.
    pub fn applies_to(self, is_admin: bool) -> bool {
        match self {
            Self::None => false,
            Self::Admins => is_admin,
            Self::All => true,
        }
    }
}

impl std::fmt::Debug for Config {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Config")
            .field("bind", &self.bind)
            .field("key_prefix", &self.key_prefix)
            .field("secure_cookies", &self.secure_cookies)
            .field("pool_size", &self.pool_size)
            .field("require_2fa", &self.require_2fa)
            .finish_non_exhaustive()
    }
}

fn var(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.trim().is_empty())
}

impl Config {
    pub fn from_env() -> anyhow::Result<Self> {
        let data_dir =
            PathBuf::from(var("KEYWARD_DATA_DIR").unwrap_or_else(|| "./data".to_owned()));
        let database = match var("DATABASE_URL") {
            Some(url) => DatabaseChoice::Url(url),
            None => DatabaseChoice::Embedded(data_dir.clone()),
        };
        let secret_key = match var("KEYWARD_SECRET_KEY") {
            Some(hex) => crate::secret_box::SecretKey::parse_hex(&hex)
                .map_err(|e| anyhow::anyhow!("KEYWARD_SECRET_KEY: {e}"))?,
            None => crate::secret_box::SecretKey::load_or_create(&data_dir.join("secret.key"))?,
        };
        let key_prefix = match var("KEYWARD_KEY_PREFIX") {
            Some(p) => {
                KeyPrefix::parse(&p).map_err(|e| anyhow::anyhow!("KEYWARD_KEY_PREFIX: {e}"))?
            }
            None => KeyPrefix::default(),
        };
        let secure_cookies = var("KEYWARD_PUBLIC_URL").is_some_and(|u| u.starts_with("https://"));
        let pool_size = match var("KEYWARD_DB_POOL_SIZE") {
            Some(n) => n.parse().context("KEYWARD_DB_POOL_SIZE must be a number")?,
            None => 16,
        };
        Ok(Self {
            bind: var("KEYWARD_BIND").unwrap_or_else(|| "127.0.0.1:8080".to_owned()),
            database,
            key_prefix,
            admin_email: var("KEYWARD_ADMIN_EMAIL"),
            admin_password: var("KEYWARD_ADMIN_PASSWORD"),
            secure_cookies,
            pool_size,
            cache_revalidate_every: crate::jobs::REVALIDATE_EVERY,
            trusted_proxies: match var("KEYWARD_TRUSTED_PROXIES") {
                Some(list) => crate::net::TrustedProxies::parse(&list)
                    .map_err(|e| anyhow::anyhow!("KEYWARD_TRUSTED_PROXIES: {e}"))?,
                None => crate::net::TrustedProxies::default(),
            },
            secret_key,
            secret_scanning_keys: match var("KEYWARD_SECRET_SCANNING_KEYS") {
                Some(path) => crate::domain::leak::ScanningKeys::load(std::path::Path::new(&path))
                    .context("KEYWARD_SECRET_SCANNING_KEYS")?,
                None => crate::domain::leak::ScanningKeys::default(),
            },
            leak_action: match var("KEYWARD_LEAK_ACTION") {
                Some(a) => crate::domain::leak::LeakAction::parse(&a)
                    .map_err(|e| anyhow::anyhow!("KEYWARD_LEAK_ACTION: {e}"))?,
                None => crate::domain::leak::LeakAction::default(),
            },
            expiry_sweep_every: crate::jobs::EXPIRY_SWEEP_EVERY,
            require_2fa: match var("KEYWARD_REQUIRE_2FA") {
                Some(v) => Require2fa::parse(&v)?,
                None => Require2fa::default(),
            },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn require_2fa_takes_three_words_and_refuses_the_rest() {
        assert_eq!(Require2fa::parse("none").ok(), Some(Require2fa::None));
        assert_eq!(Require2fa::parse("admins").ok(), Some(Require2fa::Admins));
        assert_eq!(Require2fa::parse(" all ").ok(), Some(Require2fa::All));
        for bad in ["", "yes", "Admins", "everyone"] {
            assert!(Require2fa::parse(bad).is_err(), "{bad:?}");
        }
        assert!(Require2fa::Admins.applies_to(true));
        assert!(!Require2fa::Admins.applies_to(false));
        assert!(Require2fa::All.applies_to(false));
        assert!(!Require2fa::None.applies_to(true));
    }
}
