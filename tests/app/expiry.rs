//! Expiry warnings (SPEC §12): 30, 7 and 1 days before expiry, once for the cluster, with the
//! rule for thresholds already passed when the expiry was set. The clock is moved, not waited on.

use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use diesel::prelude::*;
use keyward::db::schema::{audit_events, webhook_deliveries};
use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::helpers::*;

/// The `days_before` of every `api_key.expiring` event, oldest first, with its actor type.
fn warnings(app: &TestApp) -> Vec<(i64, String)> {
    let rows: Vec<(String, String)> = audit_events::table
        .filter(audit_events::action.eq("api_key.expiring"))
        .order(audit_events::id.asc())
        .select((audit_events::details, audit_events::actor_type))
        .load(&mut app.conn())
        .unwrap();
    rows.into_iter()
        .map(|(details, actor)| {
            let details: serde_json::Value = serde_json::from_str(&details).unwrap();
            (details["days_before"].as_i64().unwrap(), actor)
        })
        .collect()
}

fn days(w: &[(i64, String)]) -> Vec<i64> {
    w.iter().map(|(d, _)| *d).collect()
}

/// Lets every node's sweep (every 200 ms in tests) run a few times: for "nothing more".
async fn a_few_sweeps() {
    tokio::time::sleep(Duration::from_millis(700)).await;
}

async fn key_expiring_at(app: &TestApp, admin_key: &str, name: &str, at: DateTime<Utc>) -> i64 {
    let created = api(
        &app.address,
        Method::POST,
        "/api/v1/api-keys",
        Some(admin_key),
        Some(json!({"name": name, "type": "secret", "scopes": ["read"],
                    "expires_at": at.to_rfc3339()})),
    )
    .await;
    assert_eq!(created.status, StatusCode::CREATED, "{:?}", created.json);
    created.json["id"].as_i64().unwrap()
}

#[tokio::test]
async fn a_key_set_to_expire_in_20_days_gets_the_7_day_then_the_1_day_warning_once_across_two_nodes()
 {
    let start = Utc::now();
    let clock = ManualClock::starting_at(start);
    let app = spawn_app_with_clock(clock.clone()).await;
    let _node_b = new_node_with_clock(&app.db_url, clock.clone()).await;
    let admin = app.signed_in_as(Who::Admin).await;
    // A receiver that answers: an endpoint failing for the 13 days moved through would be off.
    let receiver = crate::webhooks::Receiver::start().await;
    crate::webhooks::add_endpoint(&app, &admin, &receiver.url).await;
    let (_, admin_key) = make_key(&app, ENV, "automation", &["admin"], None);
    let expires = start + TimeDelta::days(20);
    key_expiring_at(&app, &admin_key, "twenty days", expires).await;

    a_few_sweeps().await;
    assert!(
        warnings(&app).is_empty(),
        "the 30-day threshold had passed when it was set"
    );
    clock.set(expires - TimeDelta::days(7) - TimeDelta::hours(1));
    a_few_sweeps().await;
    assert!(warnings(&app).is_empty());

    clock.set(expires - TimeDelta::days(7) + TimeDelta::minutes(1));
    eventually(Duration::from_secs(5), "the 7-day warning", async || {
        days(&warnings(&app)) == [7]
    })
    .await;
    a_few_sweeps().await;
    assert_eq!(days(&warnings(&app)), [7], "once for the cluster");

    clock.set(expires - TimeDelta::hours(23));
    eventually(Duration::from_secs(5), "the 1-day warning", async || {
        days(&warnings(&app)) == [7, 1]
    })
    .await;
    a_few_sweeps().await;
    let sent = warnings(&app);
    assert_eq!(days(&sent), [7, 1]);
    assert!(sent.iter().all(|(_, actor)| actor == "system"));
    let webhooks: i64 = webhook_deliveries::table
        .filter(webhook_deliveries::event_type.eq("api_key.expiring"))
        .count()
        .get_result(&mut app.conn())
        .unwrap();
    assert_eq!(webhooks, 2);
    eventually(
        Duration::from_secs(5),
        "both warnings delivered",
        async || {
            receiver
                .received()
                .iter()
                .filter(|r| r.json()["type"] == "api_key.expiring")
                .count()
                == 2
        },
    )
    .await;
    let activity = admin
        .get(&format!("/projects/{PROJECT}/environments/{ENV}/activity"))
        .await;
    assert!(activity.body.contains("api_key.expiring") && activity.body.contains("Keyward"));
}

#[tokio::test]
async fn a_key_set_to_expire_in_12_hours_gets_only_the_1_day_warning_and_a_new_expiry_rearms() {
    let start = Utc::now();
    let clock = ManualClock::starting_at(start);
    let app = spawn_app_with_clock(clock.clone()).await;
    let _node_b = new_node_with_clock(&app.db_url, clock.clone()).await;
    let (_, admin_key) = make_key(&app, ENV, "automation", &["admin"], None);
    let id = key_expiring_at(&app, &admin_key, "half a day", start + TimeDelta::hours(12)).await;

    eventually(Duration::from_secs(5), "the 1-day warning", async || {
        days(&warnings(&app)) == [1]
    })
    .await;
    clock.advance(TimeDelta::hours(1));
    a_few_sweeps().await;
    assert_eq!(days(&warnings(&app)), [1]);

    // A new expiry 40 days out: all three warnings again, each when its time comes.
    let new_expiry = keyward::clock::Clock::now(&*clock) + TimeDelta::days(40);
    let patched = api(
        &app.address,
        Method::PATCH,
        &format!("/api/v1/api-keys/{id}"),
        Some(&admin_key),
        Some(json!({"expires_at": new_expiry.to_rfc3339()})),
    )
    .await;
    assert_eq!(patched.status, StatusCode::OK, "{:?}", patched.json);
    for (at, expected) in [
        (new_expiry - TimeDelta::days(30), vec![1, 30]),
        (new_expiry - TimeDelta::days(7), vec![1, 30, 7]),
        (new_expiry - TimeDelta::days(1), vec![1, 30, 7, 1]),
    ] {
        clock.set(at + TimeDelta::seconds(1));
        eventually(
            Duration::from_secs(5),
            &format!("warnings {expected:?}"),
            async || days(&warnings(&app)) == expected,
        )
        .await;
    }
    a_few_sweeps().await;
    assert_eq!(days(&warnings(&app)), [1, 30, 7, 1]);
    // Expired and revoked keys are never warned about.
    clock.set(new_expiry + TimeDelta::days(1));
    a_few_sweeps().await;
    assert_eq!(warnings(&app).len(), 4);
}
