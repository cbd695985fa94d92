//! POST /api/v1/keys/verify: every row of SPEC §5, and the dashboard's switch taking effect.

use diesel::prelude::*;
use keyward::db::schema::api_keys;
use keyward::domain::api_key::KeyType;
use keyward::domain::key_format::{KeyPrefix, KeyTag, PlainApiKey};
use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::*;

#[tokio::test]
async fn every_row_of_the_verify_table() {
    let app = spawn_app().await;
    let base = &app.address;
    let (id, key) = make_key(&app, ENV, "svc", &["read", "write"], None);

    let valid = verify(base, Some(&key), None).await;
    assert_eq!(valid.status, StatusCode::OK);
    assert_eq!(valid.json["valid"], true);
    assert_eq!(valid.code(), "VALID");
    assert_eq!(valid.json["key_id"], id.get());
    assert_eq!(valid.json["name"], "svc");
    assert_eq!(valid.json["project"], "default");
    assert_eq!(valid.json["environment"], "production");
    assert_eq!(valid.json["type"], "secret");
    assert_eq!(valid.json["scopes"], json!(["read", "write"]));
    assert_eq!(valid.json["expires_at"], serde_json::Value::Null);

    let bad_check = format!(
        "{}{}",
        &key[..key.len() - 1],
        if key.ends_with('A') { 'B' } else { 'A' }
    );
    for (presented, what) in [
        (None, "no header"),
        (Some("hello"), "garbage"),
        (Some(bad_check.as_str()), "bad checksum"),
    ] {
        let r = verify(base, presented, None).await;
        assert_eq!(
            (r.status, r.code()),
            (StatusCode::UNAUTHORIZED, "MALFORMED"),
            "{what}"
        );
        assert_eq!(r.json["valid"], false);
        assert!(r.json["message"].as_str().is_some_and(|m| !m.is_empty()));
    }
    let in_url = api(
        base,
        reqwest::Method::POST,
        &format!("/api/v1/keys/verify?api_key={key}"),
        None,
        None,
    )
    .await;
    assert_eq!(
        in_url.code(),
        "MALFORMED",
        "keys are never taken from the query string"
    );
    assert!(
        in_url.json["message"]
            .as_str()
            .unwrap()
            .contains("never in the URL")
    );

    let invented = PlainApiKey::generate(
        &KeyPrefix::default(),
        KeyType::Secret,
        &KeyTag::parse("live").unwrap(),
    )
    .unwrap();
    let r = verify(base, Some(invented.expose()), None).await;
    assert_eq!(
        (r.status, r.code()),
        (StatusCode::UNAUTHORIZED, "NOT_FOUND")
    );

    let r = verify(base, Some(&key), Some(json!({"environment": "staging"}))).await;
    assert_eq!(
        (r.status, r.code()),
        (StatusCode::UNAUTHORIZED, "WRONG_ENVIRONMENT")
    );
    let r = verify(
        base,
        Some(&key),
        Some(json!({"environment": "production", "scope": "write"})),
    )
    .await;
    assert_eq!(r.code(), "VALID");
    let r = verify(base, Some(&key), Some(json!({"scope": "admin"}))).await;
    assert_eq!(
        (r.status, r.code()),
        (StatusCode::FORBIDDEN, "INSUFFICIENT_SCOPE")
    );

    // Expired: the expiry is compared with the clock at each request.
    let (expiring, expiring_key) = make_key(&app, ENV, "expiring", &["read"], None);
    diesel::update(api_keys::table.find(expiring))
        .set(api_keys::expires_at.eq(chrono::Utc::now() - chrono::Duration::seconds(1)))
        .execute(&mut app.conn())
        .unwrap();
    let r = verify(base, Some(&expiring_key), None).await;
    assert_eq!((r.status, r.code()), (StatusCode::UNAUTHORIZED, "EXPIRED"));

    // Off and revoked, through the dashboard.
    let admin = app.signed_in_as(Who::Admin).await;
    admin.switch(id, false).await;
    let r = verify(base, Some(&key), None).await;
    assert_eq!((r.status, r.code()), (StatusCode::UNAUTHORIZED, "DISABLED"));
    admin.revoke(id).await;
    let r = verify(base, Some(&key), None).await;
    assert_eq!((r.status, r.code()), (StatusCode::UNAUTHORIZED, "REVOKED"));

    let r = verify(base, Some(&key), Some(json!(["not", "an", "object"]))).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn a_key_switched_off_in_the_dashboard_is_refused_on_the_very_next_request() {
    let app = spawn_app().await;
    let (id, key) = make_key(&app, ENV, "hot", &["read"], None);
    let admin = app.signed_in_as(Who::Admin).await;
    for _ in 0..3 {
        assert_eq!(verify(&app.address, Some(&key), None).await.code(), "VALID");
    }
    admin
        .post_htmx(
            &format!("{}/{id}/enabled", keys_path(ENV)),
            &[("enabled", "false")],
        )
        .await;
    assert_eq!(
        verify(&app.address, Some(&key), None).await.code(),
        "DISABLED"
    );
    admin
        .post_htmx(
            &format!("{}/{id}/enabled", keys_path(ENV)),
            &[("enabled", "true")],
        )
        .await;
    assert_eq!(verify(&app.address, Some(&key), None).await.code(), "VALID");
}

#[tokio::test]
async fn over_its_rate_limit_a_key_gets_429_then_recovers() {
    let clock = ManualClock::starting_at(chrono::Utc::now());
    let app = spawn_app_with_clock(clock.clone()).await;
    // 60 a minute: a burst of 60, then one more each second.
    let (_, key) = make_key(&app, ENV, "limited", &["read"], Some(60));
    for n in (0..60).rev() {
        let r = verify(&app.address, Some(&key), None).await;
        assert_eq!(r.code(), "VALID");
        assert_eq!(r.header("x-ratelimit-limit"), Some("60"));
        assert_eq!(
            r.header("x-ratelimit-remaining"),
            Some(n.to_string().as_str())
        );
        assert!(r.header("x-ratelimit-reset").is_some());
    }
    let refused = verify(&app.address, Some(&key), None).await;
    assert_eq!(
        (refused.status, refused.code()),
        (StatusCode::TOO_MANY_REQUESTS, "RATE_LIMITED")
    );
    let retry: u64 = refused.header("retry-after").unwrap().parse().unwrap();
    assert!((1..=2).contains(&retry), "retry after {retry}s");
    clock.advance(chrono::TimeDelta::milliseconds(1100));
    assert_eq!(
        verify(&app.address, Some(&key), None).await.code(),
        "VALID",
        "recovers after the window"
    );
}

#[tokio::test]
async fn after_warm_up_a_verification_reads_nothing_from_the_database() {
    let app = spawn_app().await;
    let (_, key) = make_key(&app, ENV, "warm", &["read"], None);
    let misses = |text: &str| -> u64 {
        text.lines()
            .find(|l| l.starts_with("keyward_key_cache_misses_total"))
            .and_then(|l| l.split_whitespace().last())
            .and_then(|n| n.parse().ok())
            .unwrap()
    };
    // Warm-up: until one answer comes from memory (the key's creation notice may still be on
    // its way and keep the first read-through out of the cache).
    let mut warm_up = 0;
    while metric(&app.address, "keyward_key_cache_hits_total").await < 1.0 {
        verify(&app.address, Some(&key), None).await;
        warm_up += 1;
        assert!(warm_up < 1000, "the key never settled in memory");
    }
    let before = misses(&app.browser_client().get("/metrics").await.body);
    for _ in 0..50 {
        assert_eq!(verify(&app.address, Some(&key), None).await.code(), "VALID");
    }
    let metrics = app.browser_client().get("/metrics").await.body;
    assert_eq!(
        misses(&metrics),
        before,
        "50 verifications, 0 database look-ups"
    );
    assert!(
        metrics.contains(&format!(
            r#"keyward_verifications_total{{code="VALID"}} {}"#,
            50 + warm_up
        )),
        "{metrics}"
    );
    assert!(metrics.contains("keyward_verify_duration_seconds_bucket"));
}

#[tokio::test]
async fn rotation_without_grace_ends_the_old_secret_at_once_and_with_grace_later() {
    let clock = ManualClock::starting_at(chrono::Utc::now());
    let app = spawn_app_with_clock(clock.clone()).await;
    let (_, admin_key) = make_key(&app, ENV, "automation", &["admin"], None);
    let (id, old) = make_key(&app, ENV, "rotating", &["read"], Some(1000));
    assert_eq!(verify(&app.address, Some(&old), None).await.code(), "VALID");

    let r = api(
        &app.address,
        reqwest::Method::POST,
        &format!("/api/v1/api-keys/{id}/rotate"),
        Some(&admin_key),
        None,
    )
    .await;
    assert_eq!(r.status, StatusCode::OK);
    let new = r.json["key"].as_str().unwrap().to_owned();
    assert_eq!(r.json["id"], id.get());
    assert_eq!(r.json["name"], "rotating");
    assert_eq!(r.json["rate_limit_per_minute"], 1000);
    assert_eq!(
        verify(&app.address, Some(&old), None).await.code(),
        "NOT_FOUND"
    );
    assert_eq!(verify(&app.address, Some(&new), None).await.code(), "VALID");

    let r = api(
        &app.address,
        reqwest::Method::POST,
        &format!("/api/v1/api-keys/{id}/rotate"),
        Some(&admin_key),
        Some(json!({"grace_period_seconds": 2})),
    )
    .await;
    let newest = r.json["key"].as_str().unwrap().to_owned();
    assert_eq!(
        verify(&app.address, Some(&new), None).await.code(),
        "VALID",
        "the old secret works during the grace period"
    );
    assert_eq!(
        verify(&app.address, Some(&newest), None).await.code(),
        "VALID"
    );
    clock.advance(chrono::TimeDelta::milliseconds(1900));
    assert_eq!(
        verify(&app.address, Some(&new), None).await.code(),
        "VALID",
        "still inside the grace period"
    );
    clock.advance(chrono::TimeDelta::milliseconds(100));
    assert_eq!(
        verify(&app.address, Some(&new), None).await.code(),
        "NOT_FOUND",
        "and not after it"
    );
    assert_eq!(
        verify(&app.address, Some(&newest), None).await.code(),
        "VALID"
    );
}
