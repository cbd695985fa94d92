//! Accounts that protect the keys (SPEC §14): own password, sessions list, two-factor sign-in,
//! the administrator's resets and `KEYWARD_REQUIRE_2FA`. Every step is a plain form post, as a
//! browser without JavaScript sends it.

use chrono::{TimeDelta, Utc};
use diesel::prelude::*;
use keyward::config::Require2fa;
use keyward::db::schema::{audit_events, sessions, users};
use keyward::domain::user::Role;
use reqwest::StatusCode;
use reqwest::header::{HeaderMap, HeaderValue};

use crate::helpers::*;

const NEW_PASSWORD: &str = "a brand new password 42";
const MEMBER: &str = "member@example.com";

fn unix(clock: &ManualClock) -> i64 {
    keyward::clock::Clock::now(clock).timestamp()
}

fn between<'a>(body: &'a str, start: &str, end: &str) -> Option<&'a str> {
    let from = body.find(start)? + start.len();
    let to = body[from..].find(end)? + from;
    Some(&body[from..to])
}

/// The code an authenticator app shows for `secret` (base32) at `unix`, computed with the same
/// crate the server uses.
fn totp_at(secret: &str, unix: i64) -> String {
    let bytes = totp_rs::Secret::try_from_base32(secret)
        .unwrap()
        .as_bytes()
        .to_vec();
    totp_rs::Builder::new()
        .with_algorithm(totp_rs::Algorithm::SHA1)
        .with_digits(6)
        .with_step_duration(30)
        .with_secret(bytes)
        .build()
        .unwrap()
        .generate(u64::try_from(unix).unwrap())
        .to_string()
}

fn installation_actions(app: &TestApp) -> Vec<String> {
    audit_events::table
        .filter(audit_events::environment_id.is_null())
        .order(audit_events::id.asc())
        .select(audit_events::action)
        .load(&mut app.conn())
        .unwrap()
}

fn all_audit_details(app: &TestApp) -> String {
    let rows: Vec<(String, String)> = audit_events::table
        .select((audit_events::details, audit_events::target))
        .load(&mut app.conn())
        .unwrap()
        .into_iter()
        .collect();
    format!("{rows:?}")
}

fn session_digests(app: &TestApp, email: &str) -> Vec<Vec<u8>> {
    sessions::table
        .inner_join(users::table)
        .filter(users::email.eq(email))
        .select(sessions::id_digest)
        .load(&mut app.conn())
        .unwrap()
}

async fn signed_in(app: &TestApp, email: &str, password: &str) -> Client {
    let client = app.browser_client();
    let answer = client.sign_in(email, password).await;
    assert_eq!(answer.status, StatusCode::SEE_OTHER, "{}", answer.body);
    client
}

/// Walks **Set up two-factor** with a code computed from the shown secret at `unix`; returns
/// the secret and the recovery codes shown once.
async fn set_up_two_factor(client: &Client, unix: i64) -> (String, Vec<String>) {
    let page = client.get("/account/two-factor/setup").await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    assert!(
        page.body.contains("<svg"),
        "the QR code is drawn on the server"
    );
    assert!(page.body.contains("<label for=\"setup-code\">Code</label>"));
    assert_eq!(
        page.headers.get("cache-control").unwrap(),
        "no-store",
        "the secret is not cached"
    );
    let secret = between(&page.body, "id=\"totp-secret\">", "<")
        .unwrap()
        .to_owned();
    let token = between(&page.body, "name=\"setup\" value=\"", "\"")
        .unwrap()
        .to_owned();
    confirm_set_up(client, &secret, &token, unix).await
}

async fn confirm_set_up(
    client: &Client,
    secret: &str,
    token: &str,
    unix: i64,
) -> (String, Vec<String>) {
    let wrong = client
        .post_form(
            "/account/two-factor",
            &[("setup", token), ("code", "000000")],
        )
        .await;
    if wrong.status != StatusCode::OK {
        assert_eq!(wrong.status, StatusCode::UNPROCESSABLE_ENTITY);
        assert!(wrong.body.contains("That code is not right"));
    }
    let code = totp_at(secret, unix);
    let done = client
        .post_form("/account/two-factor", &[("setup", token), ("code", &code)])
        .await;
    assert_eq!(done.status, StatusCode::OK, "{}", done.body);
    let list = between(&done.body, "id=\"recovery-codes\">", "</ul>").unwrap();
    let codes: Vec<String> = list
        .split("<code>")
        .skip(1)
        .map(|c| c.split('<').next().unwrap().to_owned())
        .collect();
    assert_eq!(codes.len(), 10, "{list}");
    (secret.to_owned(), codes)
}

// ---- Change password ----------------------------------------------------------------------

#[tokio::test]
async fn a_password_change_ends_the_other_sessions_and_this_one_continues_under_a_new_id() {
    let app = spawn_app().await;
    let here = signed_in(&app, ADMIN_EMAIL, PASSWORD).await;
    let elsewhere = signed_in(&app, ADMIN_EMAIL, PASSWORD).await;
    assert_eq!(here.get("/account").await.status, StatusCode::OK);
    assert_eq!(elsewhere.get(&keys_path(ENV)).await.status, StatusCode::OK);
    let before = session_digests(&app, ADMIN_EMAIL);
    assert_eq!(before.len(), 2);

    let changed = here
        .post_form(
            "/account/password",
            &[
                ("current_password", PASSWORD),
                ("new_password", NEW_PASSWORD),
            ],
        )
        .await;
    assert_eq!(changed.status, StatusCode::SEE_OTHER, "{}", changed.body);
    assert_eq!(changed.location(), "/account?done=password");

    let page = here.get(changed.location()).await;
    assert_eq!(page.status, StatusCode::OK, "this session continues");
    assert!(page.body.contains("Your password was changed."));
    let after = session_digests(&app, ADMIN_EMAIL);
    assert_eq!(after.len(), 1, "only this session is left");
    assert!(!before.contains(&after[0]), "under a new session id");

    let other = elsewhere.get(&keys_path(ENV)).await;
    assert_eq!(other.status, StatusCode::SEE_OTHER);
    assert_eq!(other.location(), "/login");

    let old = app.browser_client().sign_in(ADMIN_EMAIL, PASSWORD).await;
    assert_eq!(
        old.status,
        StatusCode::UNAUTHORIZED,
        "the old password is refused"
    );
    signed_in(&app, ADMIN_EMAIL, NEW_PASSWORD).await;

    assert!(installation_actions(&app).contains(&"user.password_changed".to_owned()));
    let details = all_audit_details(&app);
    assert!(!details.contains(NEW_PASSWORD) && !details.contains(PASSWORD));
}

#[tokio::test]
async fn a_wrong_current_password_or_a_short_new_one_changes_nothing() {
    let app = spawn_app().await;
    let here = signed_in(&app, ADMIN_EMAIL, PASSWORD).await;
    let elsewhere = signed_in(&app, ADMIN_EMAIL, PASSWORD).await;

    let wrong = here
        .post_form(
            "/account/password",
            &[
                ("current_password", "not my password"),
                ("new_password", NEW_PASSWORD),
            ],
        )
        .await;
    assert_eq!(wrong.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(wrong.body.contains("That is not your current password."));

    let short = here
        .post_form(
            "/account/password",
            &[("current_password", PASSWORD), ("new_password", "short")],
        )
        .await;
    assert_eq!(short.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        short
            .body
            .contains("A password needs at least 12 characters.")
    );

    let forged = here
        .post_raw(
            "/account/password",
            &[
                ("current_password", PASSWORD),
                ("new_password", NEW_PASSWORD),
            ],
        )
        .await;
    assert_eq!(forged.status, StatusCode::FORBIDDEN, "no token, no change");

    assert_eq!(elsewhere.get(&keys_path(ENV)).await.status, StatusCode::OK);
    assert_eq!(here.get("/account").await.status, StatusCode::OK);
    signed_in(&app, ADMIN_EMAIL, PASSWORD).await;
    assert!(
        app.browser_client()
            .sign_in(ADMIN_EMAIL, NEW_PASSWORD)
            .await
            .status
            == StatusCode::UNAUTHORIZED
    );
    assert!(!installation_actions(&app).contains(&"user.password_changed".to_owned()));
}

#[tokio::test]
async fn wrong_current_passwords_count_in_the_sign_in_throttle() {
    let app = spawn_app().await;
    let here = signed_in(&app, ADMIN_EMAIL, PASSWORD).await;
    for _ in 0..5 {
        let wrong = here
            .post_form(
                "/account/password",
                &[
                    ("current_password", "guess"),
                    ("new_password", NEW_PASSWORD),
                ],
            )
            .await;
        assert_eq!(wrong.status, StatusCode::UNPROCESSABLE_ENTITY);
    }
    let throttled = here
        .post_form(
            "/account/password",
            &[
                ("current_password", PASSWORD),
                ("new_password", NEW_PASSWORD),
            ],
        )
        .await;
    assert_eq!(throttled.status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(
        app.browser_client()
            .sign_in(ADMIN_EMAIL, PASSWORD)
            .await
            .status,
        StatusCode::TOO_MANY_REQUESTS,
        "and sign-in is throttled for that email too"
    );
}

// ---- Sessions -----------------------------------------------------------------------------

#[tokio::test]
async fn the_sessions_list_shows_the_other_browser_and_signs_it_out() {
    let app = spawn_app().await;
    let here = signed_in(&app, ADMIN_EMAIL, PASSWORD).await;
    let mut headers = HeaderMap::new();
    headers.insert(
        "user-agent",
        HeaderValue::from_static(
            "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0",
        ),
    );
    let firefox = Client::with_headers(&app.address, headers);
    assert_eq!(
        firefox.sign_in(ADMIN_EMAIL, PASSWORD).await.status,
        StatusCode::SEE_OTHER
    );
    assert_eq!(firefox.get(&keys_path(ENV)).await.status, StatusCode::OK);

    let page = here.get("/account").await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.body.contains("This session"));
    let row = page
        .body
        .split("<tr>")
        .find(|r| r.contains("Firefox on Linux"))
        .expect("the other browser is listed");
    assert!(row.contains("127.0.0.1"));
    assert!(!row.contains("This session"));
    let handle = between(row, "/account/sessions/", "/sign-out").unwrap();

    // Someone else cannot end it.
    let member = app.signed_in_as(Who::Member).await;
    let foreign = member
        .post_form(&format!("/account/sessions/{handle}/sign-out"), &[])
        .await;
    assert_eq!(foreign.status, StatusCode::NOT_FOUND);
    assert_eq!(firefox.get(&keys_path(ENV)).await.status, StatusCode::OK);

    let ended = here
        .post_form(&format!("/account/sessions/{handle}/sign-out"), &[])
        .await;
    assert_eq!(ended.status, StatusCode::SEE_OTHER);
    assert_eq!(ended.location(), "/account?done=signed-out");
    let gone = firefox.get(&keys_path(ENV)).await;
    assert_eq!(gone.location(), "/login");
    let page = here.get("/account").await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(!page.body.contains("Firefox on Linux"));
}

#[tokio::test]
async fn sign_out_everywhere_else_keeps_only_this_session() {
    let app = spawn_app().await;
    let here = signed_in(&app, ADMIN_EMAIL, PASSWORD).await;
    let others = [
        signed_in(&app, ADMIN_EMAIL, PASSWORD).await,
        signed_in(&app, ADMIN_EMAIL, PASSWORD).await,
    ];
    let answer = here
        .post_form("/account/sessions/sign-out-others", &[])
        .await;
    assert_eq!(answer.status, StatusCode::SEE_OTHER);
    for other in &others {
        assert_eq!(other.get(&keys_path(ENV)).await.location(), "/login");
    }
    assert_eq!(here.get(&keys_path(ENV)).await.status, StatusCode::OK);
    assert_eq!(session_digests(&app, ADMIN_EMAIL).len(), 1);
    assert!(installation_actions(&app).contains(&"user.signed_out_everywhere".to_owned()));

    // Signing out this session from the list is signing out.
    let page = here.get("/account").await;
    let handle = between(&page.body, "/account/sessions/", "/sign-out").unwrap();
    let answer = here
        .post_form(&format!("/account/sessions/{handle}/sign-out"), &[])
        .await;
    assert_eq!(answer.location(), "/login");
    assert!(session_digests(&app, ADMIN_EMAIL).is_empty());
}

#[tokio::test]
async fn last_seen_is_written_at_most_once_a_minute() {
    let clock = ManualClock::starting_at(Utc::now());
    let app = spawn_app_with_clock(clock.clone()).await;
    let here = signed_in(&app, ADMIN_EMAIL, PASSWORD).await;
    assert_eq!(here.get("/account").await.status, StatusCode::OK);
    let row = || -> (Option<chrono::DateTime<Utc>>, chrono::DateTime<Utc>) {
        sessions::table
            .select((sessions::last_seen_at, sessions::expires_at))
            .first(&mut app.conn())
            .unwrap()
    };
    let first = row();
    assert!(first.0.is_some());
    for _ in 0..5 {
        assert_eq!(here.get(&keys_path(ENV)).await.status, StatusCode::OK);
    }
    assert_eq!(row(), first, "no write while the minute lasts");
    clock.advance(TimeDelta::seconds(59));
    here.get(&keys_path(ENV)).await;
    assert_eq!(row(), first);
    clock.advance(TimeDelta::seconds(2));
    here.get(&keys_path(ENV)).await;
    let second = row();
    assert_eq!(
        second.0.unwrap().timestamp() - first.0.unwrap().timestamp(),
        61,
        "one write after the minute"
    );
    here.get(&keys_path(ENV)).await;
    assert_eq!(row(), second);
}

// ---- Two-factor -----------------------------------------------------------------------------

#[tokio::test]
async fn two_factor_sign_in_needs_the_code_and_nothing_is_reachable_before_it() {
    let clock = ManualClock::starting_at(Utc::now());
    let app = spawn_app_with_clock(clock.clone()).await;
    let here = signed_in(&app, ADMIN_EMAIL, PASSWORD).await;
    let (secret, _) = set_up_two_factor(&here, unix(&clock)).await;
    assert!(installation_actions(&app).contains(&"user.two_factor_enabled".to_owned()));
    let stored: Option<Vec<u8>> = users::table
        .filter(users::email.eq(ADMIN_EMAIL))
        .select(users::totp_secret)
        .first(&mut app.conn())
        .unwrap();
    let raw = totp_rs::Secret::try_from_base32(&secret)
        .unwrap()
        .as_bytes()
        .to_vec();
    assert!(
        !stored.unwrap().windows(raw.len()).any(|w| w == raw),
        "the secret is stored sealed"
    );
    assert!(
        here.get("/account")
            .await
            .body
            .contains("Turn off two-factor")
    );

    let rows_before = session_digests(&app, ADMIN_EMAIL).len();
    let person = app.browser_client();
    let asked = person.sign_in(ADMIN_EMAIL, PASSWORD).await;
    assert_eq!(asked.status, StatusCode::OK);
    assert!(asked.body.contains("<label for=\"code\">Code</label>"));
    let cookies: Vec<_> = asked
        .headers
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .collect();
    assert!(
        cookies
            .iter()
            .any(|c| c.starts_with("keyward_pending_sign_in="))
    );
    assert!(!cookies.iter().any(|c| c.starts_with("keyward_session=")));
    assert_eq!(session_digests(&app, ADMIN_EMAIL).len(), rows_before);

    // Pending: no page, no dashboard POST, no CSRF token of a session.
    for path in [keys_path(ENV), "/account".to_owned(), "/admin".to_owned()] {
        let answer = person.get(&path).await;
        assert_eq!(answer.status, StatusCode::SEE_OTHER, "{path}");
        assert_eq!(answer.location(), "/login", "{path}");
    }
    let post = person
        .post_form(&keys_path(ENV), &key_form("sneaky", "secret", &["read"]))
        .await;
    assert_eq!(post.status, StatusCode::FORBIDDEN);
    assert!(app.keys().is_empty());

    // The code form is a form like any other: without its token, refused.
    let forged = person.post_raw("/login/code", &[("code", "123456")]).await;
    assert_eq!(forged.status, StatusCode::FORBIDDEN);

    // The code of the set-up's own step was used already: never twice.
    let replayed = person.submit_code(&totp_at(&secret, unix(&clock))).await;
    assert_eq!(replayed.status, StatusCode::UNAUTHORIZED);
    assert!(
        replayed
            .body
            .contains("That code is not right, or it was used already.")
    );

    clock.advance(TimeDelta::seconds(30));
    let code = totp_at(&secret, unix(&clock));
    let accepted = person.submit_code(&code).await;
    assert_eq!(accepted.status, StatusCode::SEE_OTHER, "{}", accepted.body);
    assert_eq!(person.get(&keys_path(ENV)).await.status, StatusCode::OK);

    // The same code again, from another browser: refused.
    let again = app.browser_client();
    assert_eq!(
        again.sign_in(ADMIN_EMAIL, PASSWORD).await.status,
        StatusCode::OK
    );
    assert_eq!(
        again.submit_code(&code).await.status,
        StatusCode::UNAUTHORIZED
    );
    // A code one step late still works (clock drift), once.
    clock.advance(TimeDelta::seconds(60));
    let late = totp_at(&secret, unix(&clock) - 30);
    assert_eq!(again.submit_code(&late).await.status, StatusCode::SEE_OTHER);

    // A code without a pending sign-in goes back to the password.
    let stranger = app.browser_client();
    stranger.get("/login").await;
    let answer = stranger.submit_code("123456").await;
    assert_eq!(answer.location(), "/login");
    let details = all_audit_details(&app);
    assert!(!details.contains(&secret) && !details.contains(&code));
}

#[tokio::test]
async fn a_recovery_code_works_once_and_five_wrong_codes_throttle() {
    let clock = ManualClock::starting_at(Utc::now());
    let app = spawn_app_with_clock(clock.clone()).await;
    app.create_user(MEMBER, Some((Role::Member, ENV)));
    let member = signed_in(&app, MEMBER, PASSWORD).await;
    let (secret, codes) = set_up_two_factor(&member, unix(&clock)).await;

    let person = app.browser_client();
    assert_eq!(
        person.sign_in(MEMBER, PASSWORD).await.status,
        StatusCode::OK
    );
    let used = person.submit_code(&codes[3].to_uppercase()).await;
    assert_eq!(used.status, StatusCode::SEE_OTHER, "{}", used.body);
    assert!(installation_actions(&app).contains(&"user.recovery_code_used".to_owned()));
    assert!(!all_audit_details(&app).contains(&codes[3]));
    assert!(
        member
            .get("/account")
            .await
            .body
            .contains("9 of 10 recovery codes left")
    );

    let twice = app.browser_client();
    assert_eq!(twice.sign_in(MEMBER, PASSWORD).await.status, StatusCode::OK);
    assert_eq!(
        twice.submit_code(&codes[3]).await.status,
        StatusCode::UNAUTHORIZED,
        "a recovery code works once"
    );
    for _ in 0..4 {
        assert_eq!(
            twice.submit_code("999999").await.status,
            StatusCode::UNAUTHORIZED
        );
    }
    clock.advance(TimeDelta::seconds(30));
    let right = totp_at(&secret, unix(&clock));
    let throttled = twice.submit_code(&right).await;
    assert_eq!(throttled.status, StatusCode::TOO_MANY_REQUESTS);
    assert!(throttled.body.contains("Too many failed sign-in attempts."));
    assert_eq!(
        app.browser_client().sign_in(MEMBER, PASSWORD).await.status,
        StatusCode::TOO_MANY_REQUESTS,
        "wrong codes throttle like wrong passwords"
    );
}

#[tokio::test]
async fn turning_two_factor_off_needs_the_current_password() {
    let clock = ManualClock::starting_at(Utc::now());
    let app = spawn_app_with_clock(clock.clone()).await;
    let here = signed_in(&app, ADMIN_EMAIL, PASSWORD).await;
    set_up_two_factor(&here, unix(&clock)).await;
    let wrong = here
        .post_form("/account/two-factor/off", &[("password", "not it")])
        .await;
    assert_eq!(wrong.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(wrong.body.contains("That is not your current password."));
    assert_eq!(
        app.browser_client()
            .sign_in(ADMIN_EMAIL, PASSWORD)
            .await
            .status,
        StatusCode::OK,
        "still asks for a code"
    );
    let off = here
        .post_form("/account/two-factor/off", &[("password", PASSWORD)])
        .await;
    assert_eq!(off.status, StatusCode::SEE_OTHER);
    assert!(installation_actions(&app).contains(&"user.two_factor_disabled".to_owned()));
    signed_in(&app, ADMIN_EMAIL, PASSWORD).await;
    assert!(
        here.get("/account")
            .await
            .body
            .contains("Set up two-factor")
    );
}

#[tokio::test]
async fn require_2fa_for_admins_forces_set_up_before_anything_else() {
    let app = spawn_app_with(|c| c.require_2fa = Require2fa::Admins).await;
    app.create_user(MEMBER, Some((Role::Member, ENV)));
    let member = signed_in(&app, MEMBER, PASSWORD).await;
    assert_eq!(member.get(&keys_path(ENV)).await.status, StatusCode::OK);

    let admin = signed_in(&app, ADMIN_EMAIL, PASSWORD).await;
    for path in [keys_path(ENV), "/account".to_owned(), "/admin".to_owned()] {
        let answer = admin.get(&path).await;
        assert_eq!(answer.status, StatusCode::SEE_OTHER, "{path}");
        assert_eq!(answer.location(), "/account/required", "{path}");
    }
    let page = admin.get("/account/required").await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.body.contains("Set up two-factor"));
    let post = admin
        .post_form(&keys_path(ENV), &key_form("early", "secret", &["read"]))
        .await;
    assert_eq!(post.location(), "/account/required");
    assert!(app.keys().is_empty());

    let secret = between(&page.body, "id=\"totp-secret\">", "<").unwrap();
    let token = between(&page.body, "name=\"setup\" value=\"", "\"").unwrap();
    confirm_set_up(&admin, secret, token, Utc::now().timestamp()).await;
    assert_eq!(admin.get(&keys_path(ENV)).await.status, StatusCode::OK);
    let off = admin
        .post_form("/account/two-factor/off", &[("password", PASSWORD)])
        .await;
    assert_eq!(
        off.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "required: it stays on"
    );
}

#[tokio::test]
async fn require_2fa_for_all_forces_members_too() {
    let app = spawn_app_with(|c| c.require_2fa = Require2fa::All).await;
    app.create_user(MEMBER, Some((Role::Member, ENV)));
    let member = signed_in(&app, MEMBER, PASSWORD).await;
    let answer = member.get(&keys_path(ENV)).await;
    assert_eq!(answer.location(), "/account/required");
    assert!(
        member
            .get("/account/required")
            .await
            .body
            .contains("requires two-factor authentication")
    );
}

// ---- Administrator resets ---------------------------------------------------------------------

#[tokio::test]
async fn an_admin_reset_shows_a_one_time_password_that_must_be_replaced_at_sign_in() {
    let app = spawn_app().await;
    let member_id = app.create_user(MEMBER, Some((Role::Member, ENV)));
    let member = signed_in(&app, MEMBER, PASSWORD).await;
    let admin = app.signed_in_as(Who::Admin).await;
    admin.get("/admin").await;

    let reset = admin
        .post_form(&format!("/admin/users/{member_id}/password-reset"), &[])
        .await;
    assert_eq!(reset.status, StatusCode::OK, "{}", reset.body);
    assert_eq!(reset.headers.get("cache-control").unwrap(), "no-store");
    let one_time = between(&reset.body, "id=\"one-time-password\">", "<")
        .unwrap()
        .to_owned();
    assert!(one_time.len() >= 12);
    assert!(
        !admin.get("/admin").await.body.contains(&one_time),
        "shown once"
    );
    assert_eq!(
        member.get(&keys_path(ENV)).await.location(),
        "/login",
        "the reset ends their sessions"
    );
    assert!(installation_actions(&app).contains(&"user.password_reset".to_owned()));
    assert!(!all_audit_details(&app).contains(&one_time));
    assert_eq!(
        app.browser_client().sign_in(MEMBER, PASSWORD).await.status,
        StatusCode::UNAUTHORIZED
    );

    let person = signed_in(&app, MEMBER, &one_time).await;
    for path in [keys_path(ENV), "/account".to_owned(), "/".to_owned()] {
        assert_eq!(
            person.get(&path).await.location(),
            "/account/required",
            "{path}"
        );
    }
    let page = person.get("/account/required").await;
    assert!(
        page.body
            .contains("<label for=\"new-password\">New password</label>")
    );
    assert!(page.body.contains("Save password"));
    let post = person
        .post_form(&keys_path(ENV), &key_form("early", "secret", &["read"]))
        .await;
    assert_eq!(post.location(), "/account/required");

    let same = person
        .post_form("/account/required/password", &[("new_password", &one_time)])
        .await;
    assert_eq!(same.status, StatusCode::UNPROCESSABLE_ENTITY);
    let short = person
        .post_form("/account/required/password", &[("new_password", "short")])
        .await;
    assert_eq!(short.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        short
            .body
            .contains("A password needs at least 12 characters.")
    );
    let saved = person
        .post_form(
            "/account/required/password",
            &[("new_password", NEW_PASSWORD)],
        )
        .await;
    assert_eq!(saved.status, StatusCode::SEE_OTHER);
    assert_eq!(person.get(&keys_path(ENV)).await.status, StatusCode::OK);
    assert_eq!(
        app.browser_client().sign_in(MEMBER, &one_time).await.status,
        StatusCode::UNAUTHORIZED,
        "the one-time password works once"
    );
    signed_in(&app, MEMBER, NEW_PASSWORD).await;
}

#[tokio::test]
async fn an_admin_resets_two_factor_for_a_lost_device() {
    let app = spawn_app().await;
    let member_id = app.create_user(MEMBER, Some((Role::Member, ENV)));
    let member = signed_in(&app, MEMBER, PASSWORD).await;
    set_up_two_factor(&member, Utc::now().timestamp()).await;
    assert_eq!(
        app.browser_client().sign_in(MEMBER, PASSWORD).await.status,
        StatusCode::OK,
        "asks for a code"
    );
    let admin = app.signed_in_as(Who::Admin).await;
    let page = admin.get("/admin").await;
    assert!(page.body.contains("Reset two-factor"));
    let reset = admin
        .post_form(&format!("/admin/users/{member_id}/two-factor-reset"), &[])
        .await;
    assert_eq!(reset.status, StatusCode::SEE_OTHER);
    signed_in(&app, MEMBER, PASSWORD).await;
    assert!(installation_actions(&app).contains(&"user.two_factor_disabled".to_owned()));
}

#[tokio::test]
async fn a_member_cannot_reset_and_an_admin_cannot_reset_or_remove_themselves() {
    let app = spawn_app().await;
    let member = app.signed_in_as(Who::Member).await;
    let admin_id: keyward::domain::ids::UserId = users::table
        .filter(users::email.eq(ADMIN_EMAIL))
        .select(users::id)
        .first(&mut app.conn())
        .unwrap();
    for path in [
        format!("/admin/users/{admin_id}/password-reset"),
        format!("/admin/users/{admin_id}/two-factor-reset"),
    ] {
        assert_eq!(
            member.post_form(&path, &[]).await.status,
            StatusCode::FORBIDDEN
        );
    }
    let admin = app.signed_in_as(Who::Admin).await;
    for path in [
        format!("/admin/users/{admin_id}/password-reset"),
        format!("/admin/users/{admin_id}/two-factor-reset"),
        format!("/admin/users/{admin_id}/status"),
        format!("/admin/users/{admin_id}/admin"),
    ] {
        let fields: &[(&str, &str)] = if path.ends_with("status") {
            &[("disabled", "true")]
        } else if path.ends_with("admin") {
            &[("is_admin", "false")]
        } else {
            &[]
        };
        assert_eq!(
            admin.post_form(&path, fields).await.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{path}"
        );
    }
    assert_eq!(admin.get("/admin").await.status, StatusCode::OK);
    signed_in(&app, ADMIN_EMAIL, PASSWORD).await;
}

#[tokio::test]
async fn the_last_active_admin_cannot_be_disabled_or_demoted() {
    let app = spawn_app().await;
    let admin_id: keyward::domain::ids::UserId = users::table
        .filter(users::email.eq(ADMIN_EMAIL))
        .select(users::id)
        .first(&mut app.conn())
        .unwrap();
    let mut conn = app.conn();
    // The service refuses even an actor who is not the admin in question (a system actor here,
    // as a race between two administrators would leave it).
    let system = keyward::db::audit::Actor::default();
    let refused = keyward::services::users::set_disabled(&mut conn, admin_id, true, &system);
    assert!(
        refused
            .unwrap_err()
            .to_string()
            .contains("last active administrator")
    );
    let refused = keyward::services::users::set_admin(&mut conn, admin_id, false, &system);
    assert!(
        refused
            .unwrap_err()
            .to_string()
            .contains("last active administrator")
    );
    let other = app.create_user("second@example.com", None);
    keyward::services::users::set_admin(&mut conn, other, true, &system).unwrap();
    keyward::services::users::set_disabled(&mut conn, admin_id, true, &system).unwrap();
    let refused = keyward::services::users::set_disabled(&mut conn, other, true, &system);
    assert!(refused.is_err());
}

#[tokio::test]
async fn an_unknown_keyward_require_2fa_stops_the_start() {
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_keyward"))
        .env("KEYWARD_REQUIRE_2FA", "sometimes")
        // Nothing else is touched before the configuration is refused.
        .env(
            "KEYWARD_SECRET_KEY",
            "6b657977617264207465737420736563726574206b6579206f6e6c7921212121",
        )
        .env("DATABASE_URL", "postgres://nobody@127.0.0.1:1/none")
        .env("KEYWARD_BIND", "127.0.0.1:0")
        .output()
        .await
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("KEYWARD_REQUIRE_2FA must be none, admins or all"),
        "{stderr}"
    );
}

#[tokio::test]
async fn two_factor_works_on_every_node_that_shares_the_secret_key() {
    let app = spawn_app().await;
    let here = signed_in(&app, ADMIN_EMAIL, PASSWORD).await;
    let now = Utc::now().timestamp();
    let (secret, _) = set_up_two_factor(&here, now).await;
    let other = new_node(&app.db_url, |_| {}).await;
    let person = Client::new(&other);
    assert_eq!(
        person.sign_in(ADMIN_EMAIL, PASSWORD).await.status,
        StatusCode::OK
    );
    // The next step's code: within the tolerance, and later than the set-up's.
    let answer = person.submit_code(&totp_at(&secret, now + 30)).await;
    assert_eq!(answer.status, StatusCode::SEE_OTHER, "{}", answer.body);
    assert_eq!(person.get(&keys_path(ENV)).await.status, StatusCode::OK);
}
