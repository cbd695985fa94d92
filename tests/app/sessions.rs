//! Sessions cost nothing until sign-in, tokens rotate at sign-in and sign-out, and behind a
//! trusted proxy the forwarded client address is the one that counts.

use diesel::prelude::*;
use keyward::db::schema::{audit_events, sessions};
use keyward::net::TrustedProxies;
use reqwest::StatusCode;
use reqwest::header::{HeaderMap, HeaderValue};

use crate::helpers::*;

fn session_rows(app: &TestApp) -> i64 {
    sessions::table.count().get_result(&mut app.conn()).unwrap()
}

#[tokio::test]
async fn an_anonymous_visitor_costs_no_session_row() {
    let app = spawn_app().await;
    for n in 0..20 {
        let visitor = Client::new(&app.address);
        assert_eq!(visitor.get("/login").await.status, StatusCode::OK);
        assert_eq!(visitor.get("/").await.status, StatusCode::SEE_OTHER);
        // A failed sign-in re-renders the form; it still creates nothing.
        let refused = visitor
            .sign_in(&format!("visitor{n}@example.com"), "wrong password!")
            .await;
        assert_eq!(refused.status, StatusCode::UNAUTHORIZED);
    }
    assert_eq!(session_rows(&app), 0);
    app.signed_in_as(Who::Admin).await;
    assert_eq!(session_rows(&app), 1, "the session begins at sign-in");
}

#[tokio::test]
async fn the_csrf_token_changes_at_sign_in_and_at_sign_out() {
    let app = spawn_app().await;
    let person = Client::new(&app.address);
    person.get("/login").await;
    let before = person.last_csrf().unwrap();
    let signed_in = person.sign_in(ADMIN_EMAIL, PASSWORD).await;
    assert_eq!(signed_in.status, StatusCode::SEE_OTHER);
    assert_eq!(person.get(&keys_path(ENV)).await.status, StatusCode::OK);
    let during = person.last_csrf().unwrap();
    assert_ne!(during, before);

    assert_eq!(
        person.post_form("/logout", &[]).await.status,
        StatusCode::SEE_OTHER
    );
    person.get("/login").await;
    let after = person.last_csrf().unwrap();
    assert_ne!(after, during);
    assert_ne!(after, before);
    // The signed-in token died with its session.
    let stale = person
        .post_raw("/logout", &[("csrf_token", during.as_str())])
        .await;
    assert_eq!(stale.status, StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn a_sign_in_needs_the_form_token_and_its_own_signed_cookie() {
    let app = spawn_app().await;
    let mine = Client::new(&app.address);
    mine.get("/login").await;
    let token = mine.last_csrf().unwrap();
    // Another browser presents my token without my cookie (a forged cross-site form).
    let forger = Client::new(&app.address);
    let forged = forger
        .post_raw(
            "/login",
            &[
                ("email", ADMIN_EMAIL),
                ("password", PASSWORD),
                ("csrf_token", &token),
            ],
        )
        .await;
    assert_eq!(forged.status, StatusCode::FORBIDDEN);
    // Its own cookie with my token does not match either.
    forger.get("/login").await;
    let mixed = forger
        .post_raw(
            "/login",
            &[
                ("email", ADMIN_EMAIL),
                ("password", PASSWORD),
                ("csrf_token", &token),
            ],
        )
        .await;
    assert_eq!(mixed.status, StatusCode::FORBIDDEN);
    assert_eq!(session_rows(&app), 0);
    let mine_signed_in = mine
        .post_raw(
            "/login",
            &[
                ("email", ADMIN_EMAIL),
                ("password", PASSWORD),
                ("csrf_token", &token),
            ],
        )
        .await;
    assert_eq!(mine_signed_in.status, StatusCode::SEE_OTHER);
}

fn forwarded_for(addr: &str) -> HeaderMap {
    let mut headers = HeaderMap::new();
    headers.insert("x-forwarded-for", HeaderValue::from_str(addr).unwrap());
    headers
}

fn last_audit_ip(app: &TestApp) -> Option<String> {
    audit_events::table
        .order(audit_events::id.desc())
        .select(audit_events::client_ip)
        .first(&mut app.conn())
        .unwrap()
}

#[tokio::test]
async fn behind_a_trusted_proxy_the_forwarded_client_is_audited_and_throttled() {
    let app = spawn_app_with(|c| {
        c.trusted_proxies = TrustedProxies::parse("127.0.0.1/32").unwrap();
    })
    .await;
    let behind_proxy = Client::with_headers(&app.address, forwarded_for("6.6.6.6, 198.51.100.7"));
    assert_eq!(
        behind_proxy.sign_in(ADMIN_EMAIL, PASSWORD).await.status,
        StatusCode::SEE_OTHER
    );
    app.create_key(&behind_proxy, "audited", &["read"]).await;
    assert_eq!(last_audit_ip(&app).as_deref(), Some("198.51.100.7"));

    // Fifty failures from one client address close it; another client behind the same proxy
    // still gets its own answer.
    for n in 0..50 {
        let noisy = Client::with_headers(&app.address, forwarded_for("203.0.113.1"));
        let refused = noisy
            .sign_in(&format!("nobody{n}@example.com"), "wrong password!")
            .await;
        assert_eq!(refused.status, StatusCode::UNAUTHORIZED);
    }
    let noisy = Client::with_headers(&app.address, forwarded_for("203.0.113.1"));
    assert_eq!(
        noisy.sign_in(ADMIN_EMAIL, PASSWORD).await.status,
        StatusCode::TOO_MANY_REQUESTS
    );
    let quiet = Client::with_headers(&app.address, forwarded_for("203.0.113.2"));
    assert_eq!(
        quiet.sign_in(ADMIN_EMAIL, PASSWORD).await.status,
        StatusCode::SEE_OTHER
    );
}

#[tokio::test]
async fn without_trusted_proxies_a_forwarded_address_is_ignored() {
    let app = spawn_app().await;
    let spoofer = Client::with_headers(&app.address, forwarded_for("198.51.100.7"));
    spoofer.sign_in(ADMIN_EMAIL, PASSWORD).await;
    app.create_key(&spoofer, "spoofed", &["read"]).await;
    assert_eq!(last_audit_ip(&app).as_deref(), Some("127.0.0.1"));
}
