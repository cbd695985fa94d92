//! Between a right password and the two-factor code: a short-lived signed cookie, not a session.
//! It names the user and when it ends, and is bound to the password it was earned with, so an
//! administrator's reset or a password change voids it. Only `/login/code` reads it: no page,
//! no API route and no CSRF token of a session are reachable with it.

use actix_web::HttpRequest;
use actix_web::cookie::{Cookie, CookieJar, Key, SameSite};
use chrono::{DateTime, TimeDelta, Utc};
use sha2::{Digest, Sha256};

use crate::domain::ids::UserId;

pub const COOKIE: &str = "keyward_pending_sign_in";
/// How long a person has to type the code after the password.
const LIFETIME: TimeDelta = TimeDelta::minutes(5);

/// A short fingerprint of the stored password hash: changes whenever the password does.
fn password_tag(password_hash: &str) -> String {
    hex::encode(&Sha256::digest(password_hash.as_bytes())[..12])
}

/// The signed cookie that carries a pending sign-in of `user`.
pub fn issue(
    key: &Key,
    secure: bool,
    user: UserId,
    password_hash: &str,
    now: DateTime<Utc>,
) -> anyhow::Result<Cookie<'static>> {
    let until = (now + LIFETIME).timestamp();
    let value = format!("{user}.{until}.{}", password_tag(password_hash));
    let mut jar = CookieJar::new();
    jar.signed_mut(key).add(Cookie::new(COOKIE, value));
    let mut cookie = jar
        .get(COOKIE)
        .cloned()
        .ok_or_else(|| anyhow::anyhow!("the signed cookie jar lost its cookie"))?;
    cookie.set_path("/login");
    cookie.set_http_only(true);
    cookie.set_same_site(SameSite::Strict);
    cookie.set_secure(secure);
    Ok(cookie)
}

/// A pending sign-in as its cookie presents it: the user and the password tag it was earned
/// with. `None` when there is none, its signature fails or it has expired.
pub struct Pending {
    pub user: UserId,
    tag: String,
}

impl Pending {
    /// Whether the password it was earned with is still the user's.
    pub fn matches(&self, password_hash: &str) -> bool {
        super::constant_time_eq(self.tag.as_bytes(), password_tag(password_hash).as_bytes())
    }
}

pub fn presented(req: &HttpRequest, key: &Key, now: DateTime<Utc>) -> Option<Pending> {
    let cookie = req.cookie(COOKIE)?;
    let mut jar = CookieJar::new();
    jar.add_original(cookie.into_owned());
    let value = jar.signed(key).get(COOKIE)?.value().to_owned();
    let mut parts = value.splitn(3, '.');
    let user: UserId = parts.next()?.parse().ok()?;
    let until: i64 = parts.next()?.parse().ok()?;
    let tag = parts.next()?.to_owned();
    (now.timestamp() < until).then_some(Pending { user, tag })
}

pub fn removal() -> Cookie<'static> {
    let mut cookie = Cookie::build(COOKIE, "").path("/login").finish();
    cookie.make_removal();
    cookie
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use actix_web::test::TestRequest;

    #[test]
    fn a_pending_sign_in_is_signed_short_lived_and_bound_to_the_password() {
        let key = Key::generate();
        let now = Utc::now();
        let cookie = issue(&key, false, UserId(7), "$argon2id$hash", now).unwrap();
        let req = TestRequest::default()
            .cookie(cookie.clone())
            .to_http_request();
        let pending = presented(&req, &key, now).unwrap();
        assert_eq!(pending.user, UserId(7));
        assert!(pending.matches("$argon2id$hash"));
        assert!(!pending.matches("$argon2id$other"));
        assert!(presented(&req, &key, now + TimeDelta::minutes(6)).is_none());
        assert!(presented(&req, &Key::generate(), now).is_none());
        let forged = TestRequest::default()
            .cookie(Cookie::new(COOKIE, "7.99999999999.abc"))
            .to_http_request();
        assert!(presented(&forged, &key, now).is_none());
    }
}
