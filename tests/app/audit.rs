//! The audit trail records who did what to which key as they were at that moment.

use diesel::prelude::*;
use keyward::db::schema::audit_events;

use crate::helpers::*;

type Snapshot = (
    String,
    String,
    Option<String>,
    Option<String>,
    Option<String>,
    Option<i64>,
    Option<String>,
    Option<String>,
);

fn snapshots(app: &TestApp) -> Vec<Snapshot> {
    audit_events::table
        .filter(audit_events::environment_id.eq(app.environment_id(ENV)))
        .order(audit_events::id.asc())
        .select((
            audit_events::action,
            audit_events::actor_type,
            audit_events::actor_email,
            audit_events::actor_key_masked,
            audit_events::target_type,
            audit_events::target_id,
            audit_events::target_name,
            audit_events::target_masked,
        ))
        .load(&mut app.conn())
        .unwrap()
}

#[tokio::test]
async fn each_event_keeps_its_actor_and_target_as_they_were() {
    let app = spawn_app().await;
    let admin = app.signed_in_as(Who::Admin).await;
    let plain = app.create_key(&admin, "Billing", &["read"]).await;
    let key = app.keys().remove(0);
    let (_, automation) = make_key(&app, ENV, "automation", &["admin"], None);
    let renamed = api(
        &app.address,
        reqwest::Method::PATCH,
        &format!("/api/v1/api-keys/{}", key.id),
        Some(&automation),
        Some(serde_json::json!({"name": "Billing v2", "enabled": false})),
    )
    .await;
    assert_eq!(renamed.status, reqwest::StatusCode::OK);

    let events = snapshots(&app);
    let created = events
        .iter()
        .find(|e| e.0 == "api_key.created" && e.5 == Some(key.id.get()))
        .unwrap();
    assert_eq!(created.1, "user");
    assert_eq!(created.2.as_deref(), Some(ADMIN_EMAIL));
    assert_eq!(created.4.as_deref(), Some("api_key"));
    assert_eq!(
        created.6.as_deref(),
        Some("Billing"),
        "the name it had then"
    );
    assert_eq!(created.7.as_deref(), Some(key.masked.as_str()));
    assert_ne!(key.masked, plain);

    // A PATCH that switches the key off and renames it: two events, each with the key's
    // management key as the actor (masked, never the plaintext).
    let actions: Vec<&str> = events
        .iter()
        .filter(|e| e.5 == Some(key.id.get()))
        .map(|e| e.0.as_str())
        .collect();
    assert_eq!(
        actions,
        ["api_key.created", "api_key.disabled", "api_key.updated"]
    );
    let updated = events.iter().find(|e| e.0 == "api_key.updated").unwrap();
    assert_eq!(updated.1, "api_key");
    let masked = updated.3.as_deref().unwrap();
    assert!(masked.starts_with("kw_sk_live_") && masked.contains('…'));
    assert!(
        masked.len() < automation.len(),
        "a masked form, not the secret"
    );
    assert_eq!(updated.6.as_deref(), Some("Billing v2"));
}
