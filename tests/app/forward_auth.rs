//! `/api/v1/auth` (SPEC §13): directly, every code with its status and headers; through a real
//! nginx (`gateway` below), the configuration the README shows.

mod gateway;

use diesel::prelude::*;
use keyward::db::schema::api_keys;
use keyward::domain::api_key::KeyType;
use keyward::domain::key_format::{KeyPrefix, KeyTag, PlainApiKey};
use reqwest::{Method, StatusCode};

use crate::helpers::*;

/// A forward-auth call with the given headers (and optional query).
pub async fn auth(base: &str, query: &str, headers: &[(&str, &str)]) -> Reply {
    auth_with(base, Method::GET, query, headers, None).await
}

pub async fn auth_with(
    base: &str,
    method: Method,
    query: &str,
    headers: &[(&str, &str)],
    body: Option<Vec<u8>>,
) -> Reply {
    let mut request = reqwest::Client::new().request(method, format!("{base}/api/v1/auth{query}"));
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    if let Some(body) = body {
        request = request.body(body);
    }
    Reply::of(request.send().await.unwrap()).await
}

fn refused(r: &Reply, status: StatusCode, code: &str) {
    assert_eq!(r.status, status, "{code}: {:?}", r.json);
    assert_eq!(r.header("x-keyward-code"), Some(code));
    assert_eq!(r.code(), code, "the body says it too");
    assert_eq!(r.json["valid"], false);
    assert!(r.header("x-keyward-key-id").is_none());
}

#[tokio::test]
async fn each_code_has_its_status_and_header_and_a_valid_key_its_identity() {
    let app = spawn_app().await;
    let base = &app.address;
    let (id, key) = make_key(&app, ENV, "billing svc/é", &["read", "write"], None);

    for method in [
        Method::GET,
        Method::POST,
        Method::PUT,
        Method::DELETE,
        Method::HEAD,
    ] {
        let r = auth_with(base, method.clone(), "", &[("X-API-Key", &key)], None).await;
        assert_eq!(r.status, StatusCode::OK, "{method}");
        assert_eq!(r.header("x-keyward-key-id"), Some(id.to_string().as_str()));
    }
    let r = auth_with(
        base,
        Method::from_bytes(b"PROPFIND").unwrap(),
        "",
        &[("X-API-Key", &key)],
        None,
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "any method at all");

    let r = auth(
        base,
        "",
        &[
            ("X-API-Key", &key),
            ("X-Keyward-Environment", "production"),
            ("X-Keyward-Scope", "write"),
        ],
    )
    .await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(
        r.header("x-keyward-key-name"),
        Some("billing%20svc%2F%C3%A9")
    );
    assert_eq!(r.header("x-keyward-scopes"), Some("read,write"));
    assert_eq!(r.header("x-keyward-environment"), Some("production"));
    assert!(r.header("x-keyward-code").is_none());
    assert!(
        r.header("x-keyward-owner").is_none(),
        "a key without an owner"
    );

    refused(
        &auth(base, "", &[]).await,
        StatusCode::UNAUTHORIZED,
        "MALFORMED",
    );
    refused(
        &auth(base, "", &[("X-API-Key", "hello")]).await,
        StatusCode::UNAUTHORIZED,
        "MALFORMED",
    );
    let invented = PlainApiKey::generate(
        &KeyPrefix::default(),
        KeyType::Secret,
        &KeyTag::parse("live").unwrap(),
    )
    .unwrap();
    refused(
        &auth(base, "", &[("X-API-Key", invented.expose())]).await,
        StatusCode::UNAUTHORIZED,
        "NOT_FOUND",
    );
    refused(
        &auth(
            base,
            "",
            &[("X-API-Key", &key), ("X-Keyward-Environment", "staging")],
        )
        .await,
        StatusCode::UNAUTHORIZED,
        "WRONG_ENVIRONMENT",
    );
    refused(
        &auth(
            base,
            "",
            &[("X-API-Key", &key), ("X-Keyward-Scope", "admin")],
        )
        .await,
        StatusCode::FORBIDDEN,
        "INSUFFICIENT_SCOPE",
    );
    // A scope header the gateway could not spell as text refuses; it is not skipped.
    let r = reqwest::Client::new()
        .get(format!("{base}/api/v1/auth"))
        .header("X-API-Key", &key)
        .header(
            "X-Keyward-Scope",
            reqwest::header::HeaderValue::from_bytes(b"r\xe9ad").unwrap(),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);

    let (expiring, expiring_key) = make_key(&app, ENV, "expiring", &["read"], None);
    diesel::update(api_keys::table.find(expiring))
        .set(api_keys::expires_at.eq(chrono::Utc::now() - chrono::Duration::seconds(1)))
        .execute(&mut app.conn())
        .unwrap();
    refused(
        &auth(base, "", &[("X-API-Key", &expiring_key)]).await,
        StatusCode::UNAUTHORIZED,
        "EXPIRED",
    );

    let admin = app.signed_in_as(Who::Admin).await;
    admin.switch(id, false).await;
    refused(
        &auth(base, "", &[("X-API-Key", &key)]).await,
        StatusCode::UNAUTHORIZED,
        "DISABLED",
    );
    admin.revoke(id).await;
    refused(
        &auth(base, "", &[("X-API-Key", &key)]).await,
        StatusCode::UNAUTHORIZED,
        "REVOKED",
    );

    // A gateway value it does not know is a mistake in the gateway's configuration.
    let r = auth(base, "?gateway=haproxy", &[("X-API-Key", &key)]).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(r.json["error"]["code"], "INVALID_INPUT");
}

#[tokio::test]
async fn x_api_key_wins_over_bearer_and_empty_headers_count_as_absent() {
    let app = spawn_app().await;
    let base = &app.address;
    let (id, key) = make_key(&app, ENV, "bearer", &["read"], None);
    let bearer = format!("Bearer {key}");

    let r = auth(base, "", &[("Authorization", &bearer)]).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.header("x-keyward-key-id"), Some(id.to_string().as_str()));
    let lower = format!("bearer {key}");
    assert_eq!(
        auth(base, "", &[("Authorization", &lower)]).await.status,
        StatusCode::OK,
        "the scheme is case-insensitive"
    );
    // An end user's token rides in Authorization beside the app's key: the key wins.
    let r = auth(
        base,
        "",
        &[
            ("X-API-Key", &key),
            ("Authorization", "Bearer end-user-jwt"),
        ],
    )
    .await;
    assert_eq!(r.status, StatusCode::OK);
    let r = auth(
        base,
        "",
        &[("X-API-Key", "hello"), ("Authorization", &bearer)],
    )
    .await;
    refused(&r, StatusCode::UNAUTHORIZED, "MALFORMED");
    // Empty counts as absent: the Bearer key is used, and no environment or scope is asked.
    let r = auth(
        base,
        "",
        &[
            ("X-API-Key", ""),
            ("Authorization", &bearer),
            ("X-Keyward-Environment", ""),
            ("X-Keyward-Scope", ""),
        ],
    )
    .await;
    assert_eq!(r.status, StatusCode::OK);
    refused(
        &auth(base, "", &[("Authorization", &format!("Basic {key}"))]).await,
        StatusCode::UNAUTHORIZED,
        "MALFORMED",
    );
}

#[tokio::test]
async fn over_its_rate_limit_a_key_gets_429_or_for_nginx_403_with_retry_after() {
    let clock = ManualClock::starting_at(chrono::Utc::now());
    let app = spawn_app_with_clock(clock.clone()).await;
    let base = &app.address;
    let (_, key) = make_key(&app, ENV, "limited", &["read"], Some(60));
    for _ in 0..60 {
        let r = auth(base, "", &[("X-API-Key", &key)]).await;
        assert_eq!(r.status, StatusCode::OK);
        assert_eq!(r.header("x-ratelimit-limit"), Some("60"));
    }
    let r = auth(base, "", &[("X-API-Key", &key)]).await;
    refused(&r, StatusCode::TOO_MANY_REQUESTS, "RATE_LIMITED");
    let retry: u64 = r.header("retry-after").unwrap().parse().unwrap();
    assert!((1..=2).contains(&retry), "retry after {retry}s");

    let r = auth(base, "?gateway=nginx", &[("X-API-Key", &key)]).await;
    refused(&r, StatusCode::FORBIDDEN, "RATE_LIMITED");
    assert!(r.header("retry-after").is_some());
    // Only 429 is mapped: other refusals keep their status.
    refused(
        &auth(base, "?gateway=nginx", &[]).await,
        StatusCode::UNAUTHORIZED,
        "MALFORMED",
    );
    // Verify and forward auth spend the same budget.
    assert_eq!(verify(base, Some(&key), None).await.code(), "RATE_LIMITED");
    clock.advance(chrono::TimeDelta::milliseconds(1100));
    assert_eq!(
        auth(base, "?gateway=nginx", &[("X-API-Key", &key)])
            .await
            .status,
        StatusCode::OK
    );
}

#[tokio::test]
async fn forward_auth_reads_no_body_and_nothing_from_the_database_once_warm() {
    let app = spawn_app().await;
    let base = &app.address;
    let (_, admin_key) = make_key(&app, ENV, "automation", &["admin"], None);
    let (id, key) = make_key(&app, ENV, "warm", &["read"], None);
    let mut warm_up = 0;
    while metric(base, "keyward_key_cache_hits_total").await < 1.0 {
        auth(base, "", &[("X-API-Key", &key)]).await;
        warm_up += 1;
        assert!(warm_up < 1000, "the key never settled in memory");
    }
    let misses = metric(base, "keyward_key_cache_misses_total").await;
    for _ in 0..20 {
        assert_eq!(
            auth(base, "", &[("X-API-Key", &key)]).await.status,
            StatusCode::OK
        );
    }
    for _ in 0..5 {
        auth(
            base,
            "",
            &[("X-API-Key", &key), ("X-Keyward-Scope", "write")],
        )
        .await;
    }
    // A body over every limit of the server, which forward auth never reads.
    let big = vec![b'x'; 1024 * 1024];
    let r = auth_with(base, Method::POST, "", &[("X-API-Key", &key)], Some(big)).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(
        metric(base, "keyward_key_cache_misses_total").await,
        misses,
        "26 checks, 0 database look-ups"
    );
    let metrics = app.browser_client().get("/metrics").await.body;
    assert!(
        metrics.contains(&format!(
            r#"keyward_verifications_total{{code="VALID"}} {}"#,
            21 + warm_up
        )),
        "{metrics}"
    );
    assert!(metrics.contains(r#"keyward_verifications_total{code="INSUFFICIENT_SCOPE"} 5"#));

    // Counted in usage like a verify: valid and refused answers of the key.
    let usage = api(
        base,
        Method::GET,
        &format!("/api/v1/api-keys/{id}/usage?minutes=5"),
        Some(&admin_key),
        None,
    )
    .await;
    assert_eq!(usage.status, StatusCode::OK);
    let minutes = usage.json.as_array().unwrap();
    let valid: i64 = minutes.iter().map(|m| m["valid"].as_i64().unwrap()).sum();
    let refused: i64 = minutes.iter().map(|m| m["refused"].as_i64().unwrap()).sum();
    assert_eq!((valid, refused), (21 + warm_up as i64, 5));
}

#[tokio::test]
async fn envoy_style_appended_paths_are_answered_and_their_query_ignored() {
    let app = spawn_app().await;
    let (_, key) = make_key(&app, ENV, "envoy", &["read"], None);
    let r = reqwest::Client::new()
        .post(format!(
            "{}/api/v1/auth/orders/42?gateway=whatever",
            app.address
        ))
        .header("X-API-Key", &key)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert!(r.headers().contains_key("x-keyward-key-id"));
}

#[tokio::test]
async fn a_key_with_an_owner_names_it_percent_encoded() {
    let app = spawn_app().await;
    let (id, key) = make_key(&app, ENV, "billing", &["read"], None);
    // Set before the key is first checked, so no cached state predates it.
    diesel::update(api_keys::table.find(id))
        .set(api_keys::owner_id.eq("cus 42/ü"))
        .execute(&mut app.conn())
        .unwrap();
    let r = auth(&app.address, "", &[("X-API-Key", &key)]).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.header("x-keyward-owner"), Some("cus%2042%2F%C3%BC"));
}
