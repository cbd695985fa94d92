use reqwest::StatusCode;

use crate::helpers::*;

#[tokio::test]
async fn pages_carry_the_security_headers_and_a_locked_down_session_cookie() {
    let app = spawn_app().await;
    let client = app.browser_client();
    let answer = client.get("/login").await;
    let header = |name: &str| {
        answer
            .headers
            .get(name)
            .unwrap()
            .to_str()
            .unwrap()
            .to_owned()
    };
    assert!(header("content-security-policy").contains("default-src 'self'"));
    assert!(!answer.body.contains("<script>"), "no inline script");
    assert_eq!(header("x-frame-options"), "DENY");
    assert_eq!(header("x-content-type-options"), "nosniff");
    assert_eq!(header("referrer-policy"), "no-referrer");
    // Before sign-in, only the sign-in form's own CSRF cookie.
    let form_cookie = header("set-cookie");
    assert!(form_cookie.starts_with("keyward_login_csrf="));
    assert!(form_cookie.contains("HttpOnly"));
    assert!(form_cookie.contains("SameSite=Strict"));
    assert!(
        csrf_from(&answer.body).is_some(),
        "every page carries the csrf-token meta tag"
    );
    let signed_in = client.sign_in(ADMIN_EMAIL, PASSWORD).await;
    let session_cookie = signed_in
        .headers
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .find(|c| c.starts_with("keyward_session="))
        .expect("the session begins at sign-in");
    assert!(session_cookie.contains("HttpOnly"));
    assert!(session_cookie.contains("SameSite=Lax"));
}

#[tokio::test]
async fn the_session_cookie_is_secure_when_served_over_tls() {
    let app = spawn_app_with(|c| c.secure_cookies = true).await;
    let client = app.browser_client();
    let answer = client.get("/login").await;
    let form_cookie = answer.headers.get("set-cookie").unwrap().to_str().unwrap();
    assert!(form_cookie.contains("Secure"));
    // reqwest keeps no Secure cookie over http, so the sign-in below carries the form cookie
    // by hand to see the session cookie the server sets.
    let token = csrf_from(&answer.body).unwrap();
    let cookie_pair = form_cookie.split(';').next().unwrap().to_owned();
    let signed_in = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
        .post(format!("{}/login", app.address))
        .header("cookie", cookie_pair)
        .form(&[
            ("email", ADMIN_EMAIL),
            ("password", PASSWORD),
            ("csrf_token", &token),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(signed_in.status(), StatusCode::SEE_OTHER);
    let session_cookie = signed_in
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .find(|c| c.starts_with("keyward_session="))
        .unwrap();
    assert!(session_cookie.contains("Secure"));
}

#[tokio::test]
async fn a_state_changing_request_without_a_valid_csrf_token_is_refused_and_changes_nothing() {
    let app = spawn_app().await;
    let admin = app.signed_in_as(Who::Admin).await;
    let form = [
        ("name", "forged"),
        ("type", "secret"),
        ("scope_read", "on"),
        ("expiration", "never"),
    ];

    let missing = admin.post_raw(&keys_path(ENV), &form).await;
    assert_eq!(missing.status, StatusCode::FORBIDDEN);
    assert!(missing.body.contains("Reload the page"));

    let mut forged = form.to_vec();
    forged.push(("csrf_token", "0000"));
    assert_eq!(
        admin.post_raw(&keys_path(ENV), &forged).await.status,
        StatusCode::FORBIDDEN
    );

    // Another session's valid token is no good here either.
    let other = app.browser_client();
    other.get("/login").await;
    let foreign = other.csrf().await;
    let mut cross = form.to_vec();
    cross.push(("csrf_token", &foreign));
    assert_eq!(
        admin.post_raw(&keys_path(ENV), &cross).await.status,
        StatusCode::FORBIDDEN
    );

    let logout = admin.post_raw("/logout", &[]).await;
    assert_eq!(
        logout.status,
        StatusCode::FORBIDDEN,
        "even sign-out needs the token"
    );
    assert!(app.keys().is_empty());
    assert_eq!(
        admin.get(&keys_path(ENV)).await.status,
        StatusCode::OK,
        "still signed in"
    );
}

#[tokio::test]
async fn the_csrf_token_is_also_accepted_as_the_htmx_header() {
    let app = spawn_app().await;
    let admin = app.signed_in_as(Who::Admin).await;
    let answer = admin
        .post_htmx(
            &keys_path(ENV),
            &[
                ("name", "via htmx"),
                ("type", "secret"),
                ("scope_read", "on"),
                ("expiration", "never"),
            ],
        )
        .await;
    assert_eq!(answer.status, StatusCode::OK);
    assert!(revealed_key(&answer.body).is_some());
    assert!(
        !answer.body.contains("<html"),
        "htmx gets a fragment, not a page"
    );
}

#[tokio::test]
async fn a_ten_megabyte_body_is_refused_with_413_and_changes_nothing() {
    let app = spawn_app().await;
    let admin = app.signed_in_as(Who::Admin).await;
    let mut body = b"name=huge&type=secret&scope_read=on&description=".to_vec();
    body.extend(std::iter::repeat_n(b'a', 10 * 1024 * 1024));
    let answer = admin
        .post_body(&keys_path(ENV), "application/x-www-form-urlencoded", body)
        .await;
    assert_eq!(answer.status, StatusCode::PAYLOAD_TOO_LARGE);
    assert!(answer.body.contains("too large"));
    assert!(app.keys().is_empty());
}

#[tokio::test]
async fn static_assets_are_served_from_the_binary() {
    let app = spawn_app().await;
    let client = app.browser_client();
    for (path, needle) in [
        ("/static/htmx.min.js", "htmx"),
        ("/static/app.css", ".switch"),
        ("/static/app.js", "data-copy"),
    ] {
        let answer = client.get(path).await;
        assert_eq!(answer.status, StatusCode::OK, "{path}");
        assert!(answer.body.contains(needle), "{path}");
    }
    assert_eq!(
        client.get("/static/nope.js").await.status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(client.get("/healthz").await.status, StatusCode::OK);
    assert_eq!(client.get("/readyz").await.status, StatusCode::OK);
}

#[tokio::test]
async fn every_response_carries_its_own_request_id() {
    let app = spawn_app().await;
    let base = &app.address;
    let client = reqwest::Client::new();
    let huge = client
        .post(format!("{base}/api/v1/keys/verify"))
        .header("content-type", "application/json")
        .body(vec![b' '; 10 * 1024 * 1024]);
    let answers = [
        client.get(format!("{base}/login")).send().await.unwrap(),
        client.get(format!("{base}/login")).send().await.unwrap(),
        client
            .post(format!("{base}/api/v1/keys/verify?key=kw_sk_live_x"))
            .send()
            .await
            .unwrap(),
        client
            .get(format!("{base}/api/v1/nothing-here"))
            .send()
            .await
            .unwrap(),
        client.get(format!("{base}/healthz")).send().await.unwrap(),
        // Refused by a middleware before any handler runs.
        huge.send().await.unwrap(),
    ];
    assert_eq!(answers[5].status(), StatusCode::PAYLOAD_TOO_LARGE);
    let mut ids: Vec<String> = answers
        .iter()
        .map(|answer| {
            let id = answer
                .headers()
                .get("x-request-id")
                .unwrap_or_else(|| panic!("{} has an X-Request-Id", answer.url()))
                .to_str()
                .unwrap()
                .to_owned();
            assert!(
                id.len() == 16 && id.chars().all(|c| c.is_ascii_hexdigit()),
                "{id} is 16 hex digits"
            );
            id
        })
        .collect();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), answers.len(), "no two requests share an id");
}
