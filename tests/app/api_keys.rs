use keyward::domain::key_format::{KeyDigest, ParsedKey};
use reqwest::StatusCode;

use crate::helpers::*;
use keyward::domain::api_key::Scope;

#[tokio::test]
async fn a_key_is_created_revealed_once_switched_off_and_on_rotated_and_revoked() {
    let app = spawn_app().await;
    let admin = app.signed_in_as(Who::Admin).await;
    let base = keys_path(ENV);

    // Create: the plaintext appears once, in a no-store response.
    let created = admin
        .post_form(
            &base,
            &key_form("Checkout service", "secret", &["read", "write"]),
        )
        .await;
    assert_eq!(created.status, StatusCode::OK);
    assert_eq!(created.headers.get("cache-control").unwrap(), "no-store");
    assert!(created.body.contains("This key will be shown only once."));
    let plain = revealed_key(&created.body).unwrap();
    let parsed = ParsedKey::parse(&plain).expect("a well-formed, checksummed key");
    assert_eq!((parsed.prefix, parsed.tag), ("kw", "live"));
    assert_eq!(plain.len(), "kw_sk_live_".len() + 49);

    let key = app.keys().remove(0);
    assert_eq!(key.digest, KeyDigest::of(&plain));
    assert_eq!(key.masked, parsed.masked());
    assert_eq!(key.scopes, [Scope::Read, Scope::Write]);
    let id = key.id;

    let list = admin.get(&base).await;
    assert!(
        !list.body.contains(&plain),
        "the plaintext is never shown again"
    );
    assert!(list.body.contains(&key.masked));
    assert!(list.body.contains("Never"), "Last used says Never");
    assert!(list.body.contains(r#"role="switch" aria-checked="true""#));

    // OFF, twice (a double click), stays OFF: the switch posts the desired state.
    for _ in 0..2 {
        let off = admin
            .post_form(&format!("{base}/{id}/enabled"), &[("enabled", "false")])
            .await;
        assert_eq!(off.status, StatusCode::SEE_OTHER);
        assert!(!app.keys()[0].enabled);
    }
    assert!(
        admin
            .get(&base)
            .await
            .body
            .contains(r#"role="switch" aria-checked="false""#)
    );

    // ON through htmx answers with the new row only.
    let on = admin
        .post_htmx(&format!("{base}/{id}/enabled"), &[("enabled", "true")])
        .await;
    assert_eq!(on.status, StatusCode::OK);
    assert!(on.body.trim_start().starts_with("<tr"));
    assert!(on.body.contains(r#"aria-checked="true""#));
    assert!(app.keys()[0].enabled);

    // Rotate: same id, a new secret; the old digest is gone.
    let confirm = admin.get(&format!("{base}/{id}/rotate")).await;
    assert!(confirm.body.contains("Rotate key"));
    let rotated = admin.post_form(&format!("{base}/{id}/rotate"), &[]).await;
    assert_eq!(rotated.status, StatusCode::OK);
    assert_eq!(rotated.headers.get("cache-control").unwrap(), "no-store");
    let new_plain = revealed_key(&rotated.body).unwrap();
    assert_ne!(new_plain, plain);
    let after = app.keys().remove(0);
    assert_eq!(after.id, id);
    assert_eq!(after.name, "Checkout service");
    assert_eq!(after.scopes, [Scope::Read, Scope::Write]);
    assert_eq!(after.digest, KeyDigest::of(&new_plain));
    assert!(app.keys().iter().all(|k| k.digest != KeyDigest::of(&plain)));
    // The dashboard rotates without a grace period: no earlier secret is kept.
    assert!(
        keyward::db::api_keys::previous_secrets(&mut app.conn(), id)
            .unwrap()
            .is_empty()
    );
    assert!(!admin.get(&base).await.body.contains(&new_plain));

    // Revoke: permanent, listed greyed without a switch.
    assert!(
        admin
            .get(&format!("{base}/{id}/revoke"))
            .await
            .body
            .contains("Revoke key")
    );
    let revoked = admin.post_form(&format!("{base}/{id}/revoke"), &[]).await;
    assert_eq!(revoked.status, StatusCode::SEE_OTHER);
    let key = app.keys().remove(0);
    assert!(key.revoked_at.is_some());
    let list = admin.get(&base).await;
    assert!(list.body.contains(r#"class="key-row revoked""#));
    assert!(!list.body.contains(r#"role="switch""#));
    let back_on = admin
        .post_form(&format!("{base}/{id}/enabled"), &[("enabled", "true")])
        .await;
    assert_eq!(back_on.status, StatusCode::CONFLICT);
    assert!(app.keys()[0].revoked_at.is_some() && !app.keys()[0].enabled);

    assert_eq!(
        app.audit_actions(),
        [
            "api_key.revoked",
            "api_key.rotated",
            "api_key.enabled",
            "api_key.disabled",
            "api_key.created"
        ]
    );
}

#[tokio::test]
async fn bad_input_re_renders_the_form_with_a_message_and_saves_nothing() {
    let app = spawn_app().await;
    let admin = app.signed_in_as(Who::Admin).await;
    let base = keys_path(ENV);
    let long = "a".repeat(101);
    let cases: Vec<(Vec<(&str, &str)>, &str)> = vec![
        (key_form("", "secret", &["read"]), "Enter a name."),
        (key_form("   ", "secret", &["read"]), "Enter a name."),
        (
            key_form(&long, "secret", &["read"]),
            "The name is 101 characters long; the limit is 100.",
        ),
        (
            key_form("browser", "publishable", &["read", "write"]),
            "A publishable key may only carry the read scope",
        ),
        (
            key_form("no scopes", "secret", &[]),
            "Choose at least one scope.",
        ),
        (key_form("odd type", "root", &["read"]), "Choose a type"),
        (
            [
                key_form("limit", "secret", &["read"]),
                vec![("rate_limit", "0")],
            ]
            .concat(),
            "from 1 to",
        ),
        (
            vec![
                ("name", "past"),
                ("type", "secret"),
                ("scope_read", "on"),
                ("expiration", "date"),
                ("expires_on", "2001-01-01"),
            ],
            "The expiry must be in the future.",
        ),
    ];
    for (fields, message) in cases {
        let answer = admin.post_form(&base, &fields).await;
        assert_eq!(answer.status, StatusCode::UNPROCESSABLE_ENTITY, "{message}");
        assert!(
            answer.body.contains(message),
            "expected «{message}» in the panel"
        );
        assert!(
            answer.body.contains("Add API key"),
            "the panel is shown again"
        );
        assert!(revealed_key(&answer.body).is_none());
    }
    assert!(app.keys().is_empty());

    // 100 characters (not bytes) is fine.
    let hundred = "é".repeat(100);
    app.create_key(&admin, &hundred, &["read"]).await;

    // A duplicate name among live keys is refused…
    app.create_key(&admin, "dup", &["read"]).await;
    let answer = admin
        .post_form(&base, &key_form("dup", "secret", &["read"]))
        .await;
    assert_eq!(answer.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        answer
            .body
            .contains("An active key with this name already exists")
    );
    assert_eq!(app.keys().len(), 2);

    // …but free again once the first is revoked.
    let dup_id = app.keys().iter().find(|k| k.name == "dup").unwrap().id;
    admin
        .post_form(&format!("{base}/{dup_id}/revoke"), &[])
        .await;
    app.create_key(&admin, "dup", &["read"]).await;
    assert_eq!(app.keys().len(), 3);
}

#[tokio::test]
async fn an_htmx_submit_with_bad_input_re_targets_the_panel() {
    let app = spawn_app().await;
    let admin = app.signed_in_as(Who::Admin).await;
    let answer = admin
        .post_htmx(&keys_path(ENV), &key_form("", "secret", &["read"]))
        .await;
    assert_eq!(answer.status, StatusCode::OK, "htmx swaps only 2xx answers");
    assert_eq!(answer.headers.get("hx-retarget").unwrap(), "#panel");
    assert!(answer.body.contains("Enter a name."));
    assert!(!answer.body.contains("<table"), "only the panel comes back");
    assert!(app.keys().is_empty());
}

#[tokio::test]
async fn forged_forms_and_unknown_targets_change_nothing() {
    let app = spawn_app().await;
    let admin = app.signed_in_as(Who::Admin).await;
    app.create_key(&admin, "target", &["read"]).await;
    let id = app.keys()[0].id;
    let base = keys_path(ENV);

    let maybe = admin
        .post_form(&format!("{base}/{id}/enabled"), &[("enabled", "maybe")])
        .await;
    assert_eq!(maybe.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        admin
            .post_form(&format!("{base}/999999/enabled"), &[("enabled", "false")])
            .await
            .status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        admin
            .post_form(&format!("{base}/abc/revoke"), &[])
            .await
            .status,
        StatusCode::NOT_FOUND
    );
    // The same id under another environment does not exist there.
    let staging = keys_path("staging");
    assert_eq!(
        admin
            .post_form(&format!("{staging}/{id}/revoke"), &[])
            .await
            .status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        admin
            .post_form(
                "/projects/default/environments/nowhere/api-keys",
                &key_form("x", "secret", &["read"])
            )
            .await
            .status,
        StatusCode::NOT_FOUND
    );
    let key = &app.keys()[0];
    assert!(key.enabled && key.revoked_at.is_none());
    assert_eq!(app.keys().len(), 1);
}

#[tokio::test]
async fn markup_in_a_key_name_is_shown_as_text() {
    let app = spawn_app().await;
    let admin = app.signed_in_as(Who::Admin).await;
    let name = r#"<script>alert("x")</script><b>bold</b>"#;
    app.create_key(&admin, name, &["read"]).await;
    let page = admin.get(&keys_path(ENV)).await;
    assert!(!page.body.contains("<script>alert"));
    assert!(!page.body.contains("<b>bold</b>"));
    assert!(
        page.body.contains("&#60;script&#62;") || page.body.contains("&lt;script&gt;"),
        "the name is there, escaped"
    );
    assert_eq!(app.keys()[0].name, name);
}

#[tokio::test]
async fn keys_carry_the_environment_tag_and_the_configured_prefix() {
    let app = spawn_app_with(|c| {
        c.key_prefix = keyward::domain::key_format::KeyPrefix::parse("acme").unwrap()
    })
    .await;
    let admin = app.signed_in_as(Who::Admin).await;
    let answer = admin
        .post_form(
            &keys_path("staging"),
            &key_form("browser app", "publishable", &["read"]),
        )
        .await;
    let plain = revealed_key(&answer.body).unwrap();
    assert!(plain.starts_with("acme_pk_stg_"), "{plain}");
    assert!(ParsedKey::parse(&plain).is_ok());
}

#[tokio::test]
async fn the_add_panel_opens_as_a_fragment_for_htmx_and_as_a_page_without_javascript() {
    let app = spawn_app().await;
    let admin = app.signed_in_as(Who::Admin).await;
    let fragment = admin.get_htmx(&format!("{}/new", keys_path(ENV))).await;
    assert_eq!(fragment.status, StatusCode::OK);
    assert!(fragment.body.contains("Add API key") && !fragment.body.contains("<html"));
    for label in [
        "Name",
        "Description",
        "Type",
        "Scopes",
        "Expiration",
        "Rate limit (requests per minute)",
        "Submit",
    ] {
        assert!(fragment.body.contains(label), "the panel has {label}");
    }
    let page = admin.get(&format!("{}/new", keys_path(ENV))).await;
    assert!(
        page.body.contains("<html")
            && page.body.contains("Add API key")
            && page.body.contains("<table")
    );
}
