//! First start: an administrator and the `Default` project, so a new installation is usable.

use diesel::connection::SimpleConnection;
use diesel::prelude::*;

use crate::auth::{password, random_token};
use crate::config::Config;
use crate::db;
use crate::domain::project::ProjectName;
use crate::domain::user::{Email, Password};

const BOOTSTRAP_LOCK: i64 = 0x6b65_7977_6172_6402;

/// Idempotent, and safe when several nodes start at once (they take turns on an advisory lock).
pub fn first_start(conn: &mut PgConnection, config: &Config) -> anyhow::Result<()> {
    conn.batch_execute(&format!("SELECT pg_advisory_lock({BOOTSTRAP_LOCK})"))?;
    let result = create_missing(conn, config);
    conn.batch_execute(&format!("SELECT pg_advisory_unlock({BOOTSTRAP_LOCK})"))?;
    result
}

fn create_missing(conn: &mut PgConnection, config: &Config) -> anyhow::Result<()> {
    if db::users::count(conn)? == 0 {
        let email = Email::parse(
            config
                .admin_email
                .as_deref()
                .unwrap_or("admin@keyward.local"),
        )
        .map_err(|e| anyhow::anyhow!("KEYWARD_ADMIN_EMAIL: {e}"))?;
        let (password, generated) = match &config.admin_password {
            Some(p) => (
                Password::new_for_account(p)
                    .map_err(|e| anyhow::anyhow!("KEYWARD_ADMIN_PASSWORD: {e}"))?,
                false,
            ),
            None => (Password::presented(random_token(12)?), true),
        };
        let hash = password::hash(&password)?;
        db::users::create(
            conn,
            &db::users::NewUser {
                email: email.as_str(),
                display_name: "Administrator",
                password_hash: &hash,
                is_admin: true,
            },
        )?;
        if generated {
            // Printed once, to the terminal only (never through the log pipeline), as SPEC §7 asks.
            eprintln!(
                "\n  Keyward created the administrator {}\n  with the one-time password: {}\n  Sign in and keep it safe; it is not shown again.\n",
                email.as_str(),
                password.expose()
            );
        } else {
            tracing::info!(
                email = email.as_str(),
                "created the administrator from KEYWARD_ADMIN_EMAIL"
            );
        }
    }
    if db::projects::count(conn)? == 0 {
        let name = ProjectName::parse("Default")?;
        db::projects::create_with_default_environments(conn, &name)?;
        tracing::info!("created the project Default with production, staging and development");
    }
    Ok(())
}
