//! The sign-in form's CSRF protection without a session: a signed double-submit cookie. An
//! anonymous visitor costs no session row; the form carries the token, the cookie carries the
//! same token signed with the installation's cookie key, and a sign-in needs both to agree.
//! The cookie is dropped at sign-in (the session then gets a fresh token of its own).

use actix_web::HttpRequest;
use actix_web::cookie::{Cookie, CookieJar, Key, SameSite};

use super::random_token;

pub const COOKIE: &str = "keyward_login_csrf";

/// The token of a valid signed cookie on this request, if any.
pub fn presented(req: &HttpRequest, key: &Key) -> Option<String> {
    let cookie = req.cookie(COOKIE)?;
    let mut jar = CookieJar::new();
    jar.add_original(cookie.into_owned());
    jar.signed(key).get(COOKIE).map(|c| c.value().to_owned())
}

/// A new token and the signed cookie that carries it.
pub fn issue(key: &Key, secure: bool) -> anyhow::Result<(String, Cookie<'static>)> {
    let token = random_token(32)?;
    let mut jar = CookieJar::new();
    jar.signed_mut(key).add(Cookie::new(COOKIE, token.clone()));
    let mut cookie = jar
        .get(COOKIE)
        .cloned()
        .ok_or_else(|| anyhow::anyhow!("the signed cookie jar lost its cookie"))?;
    cookie.set_path("/login");
    cookie.set_http_only(true);
    cookie.set_same_site(SameSite::Strict);
    cookie.set_secure(secure);
    Ok((token, cookie))
}

/// Removes the cookie (after sign-in).
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
    fn only_a_cookie_signed_with_the_key_is_believed() {
        let key = Key::generate();
        let (token, cookie) = issue(&key, false).unwrap();
        let req = TestRequest::default()
            .cookie(cookie.clone())
            .to_http_request();
        assert_eq!(presented(&req, &key), Some(token.clone()));
        let other = TestRequest::default()
            .cookie(Cookie::new(COOKIE, token))
            .to_http_request();
        assert_eq!(
            presented(&other, &key),
            None,
            "an unsigned cookie is not a token"
        );
        let req = TestRequest::default().cookie(cookie).to_http_request();
        assert_eq!(
            presented(&req, &Key::generate()),
            None,
            "another key's signature fails"
        );
    }
}
