//! The Activity tab and its CSV export (SPEC §10).

use reqwest::StatusCode;

use crate::helpers::*;

fn activity_path(env: &str) -> String {
    format!("/projects/{PROJECT}/environments/{env}/activity")
}

#[tokio::test]
async fn owners_and_admins_see_the_trail_members_get_403_strangers_404() {
    let app = spawn_app().await;
    let admin = app.signed_in_as(Who::Admin).await;
    let plain = app.create_key(&admin, "Checkout", &["read"]).await;
    let id = app.keys()[0].id;
    admin.switch(id, false).await;

    let page = admin.get(&activity_path(ENV)).await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.body.contains("api_key.created"));
    assert!(page.body.contains("api_key.disabled"));
    assert!(page.body.contains(ADMIN_EMAIL));
    assert!(page.body.contains("Checkout ("));
    assert!(!page.body.contains(&plain), "never the plaintext");
    // Newest first: the switch comes before the creation.
    assert!(
        page.body.find("<code>api_key.disabled</code>")
            < page.body.find("<code>api_key.created</code>")
    );
    let filtered = admin
        .get(&format!("{}?action=api_key.created", activity_path(ENV)))
        .await;
    assert!(filtered.body.contains("api_key.created"));
    assert!(!filtered.body.contains("<code>api_key.disabled</code>"));

    let owner = app.signed_in_as(Who::Owner).await;
    assert_eq!(owner.get(&activity_path(ENV)).await.status, StatusCode::OK);
    let member = app.signed_in_as(Who::Member).await;
    assert_eq!(
        member.get(&activity_path(ENV)).await.status,
        StatusCode::FORBIDDEN
    );
    assert!(
        !member
            .get(&keys_path(ENV))
            .await
            .body
            .contains(">Activity<"),
        "no tab for members"
    );
    assert_eq!(
        member
            .get(&format!("{}/export", activity_path(ENV)))
            .await
            .status,
        StatusCode::FORBIDDEN
    );
    let stranger = app.signed_in_as(Who::Outsider).await;
    assert_eq!(
        stranger.get(&activity_path(ENV)).await.status,
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn the_activity_pages_by_fifty_without_losing_or_repeating_an_event() {
    let app = spawn_app().await;
    let admin = app.signed_in_as(Who::Admin).await;
    app.create_key(&admin, "toggled", &["read"]).await;
    let id = app.keys()[0].id;
    for n in 0..60 {
        admin.switch(id, n % 2 == 1).await;
    }
    // 1 creation + 60 switches = 61 events: a full page, then 11.
    let first = admin.get(&activity_path(ENV)).await;
    assert_eq!(first.body.matches("<tr>").count() - 1, 50);
    let next = first.body.split("rel=\"next\"").next().unwrap();
    let href = next
        .rsplit("href=\"")
        .next()
        .unwrap()
        .trim_end_matches("\" ");
    let second = admin.get(&href.replace("&amp;", "&")).await;
    assert_eq!(second.status, StatusCode::OK);
    assert_eq!(second.body.matches("<tr>").count() - 1, 11);
    assert!(second.body.contains("api_key.created"));
    assert!(second.body.contains("rel=\"prev\""));
    assert!(!second.body.contains("rel=\"next\""));
}

#[tokio::test]
async fn the_csv_export_quotes_correctly_and_keeps_formulas_inert() {
    let app = spawn_app().await;
    let admin = app.signed_in_as(Who::Admin).await;
    app.create_key(&admin, "=HYPERLINK(\"x\")", &["read"]).await;
    app.create_key(&admin, "comma, \"quote\"", &["read"]).await;
    let export = admin.get(&format!("{}/export", activity_path(ENV))).await;
    assert_eq!(export.status, StatusCode::OK);
    assert!(
        export.headers["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/csv")
    );
    assert!(
        export.headers["content-disposition"]
            .to_str()
            .unwrap()
            .starts_with("attachment")
    );
    let mut reader = csv::Reader::from_reader(export.body.as_bytes());
    assert_eq!(
        reader.headers().unwrap().iter().collect::<Vec<_>>(),
        ["time", "actor", "action", "target", "ip", "details"]
    );
    let rows: Vec<csv::StringRecord> = reader.records().map(|r| r.unwrap()).collect();
    assert_eq!(rows.len(), 2);
    assert!(
        rows[0][3].starts_with("comma, \"quote\" (kw_sk_live_"),
        "{:?}",
        rows[0]
    );
    assert!(
        rows[1][3].starts_with("'=HYPERLINK(\"x\") ("),
        "{:?}",
        rows[1]
    );
    for row in &rows {
        for cell in row {
            assert!(!cell.starts_with(['=', '+', '-', '@']), "{cell}");
        }
    }
}

#[tokio::test]
async fn the_admin_page_lists_the_installations_own_events() {
    let app = spawn_app().await;
    let admin = app.signed_in_as(Who::Admin).await;
    let created = admin
        .post_form(
            "/admin/users",
            &[
                ("email", "new.person@example.com"),
                ("display_name", "New Person"),
                ("password", "a long enough password"),
            ],
        )
        .await;
    assert_eq!(created.status, StatusCode::SEE_OTHER);
    let page = admin.get("/admin").await;
    assert!(page.body.contains("Installation activity"));
    assert!(page.body.contains("<code>user.created</code>"));
    assert!(page.body.contains("new.person@example.com"));
    // Key events stay on their environment's tab.
    app.create_key(&admin, "not here", &["read"]).await;
    assert!(
        !admin
            .get("/admin")
            .await
            .body
            .contains("<code>api_key.created</code>")
    );
}

#[tokio::test]
async fn the_audit_events_api_pages_by_cursor_with_actor_and_target_objects() {
    let app = spawn_app().await;
    let admin = app.signed_in_as(Who::Admin).await;
    app.create_key(&admin, "Payments", &["read"]).await;
    let id = app.keys()[0].id;
    admin.switch(id, false).await;
    let (_, automation) = make_key(&app, ENV, "automation", &["admin"], None);
    let (_, reader) = make_key(&app, ENV, "reader", &["read"], None);
    let (_, elsewhere) = make_key(&app, "staging", "staging automation", &["admin"], None);

    let get = |key: String, query: &'static str| {
        let base = app.address.clone();
        async move {
            api(
                &base,
                reqwest::Method::GET,
                &format!("/api/v1/audit-events{query}"),
                Some(&key),
                None,
            )
            .await
        }
    };
    let all = get(automation.clone(), "").await;
    assert_eq!(all.status, StatusCode::OK);
    let data = all.json["data"].as_array().unwrap();
    assert_eq!(all.json["next_cursor"], serde_json::Value::Null);
    let switched = &data[data.len() - 2];
    assert_eq!(switched["action"], "api_key.disabled");
    assert_eq!(switched["actor"]["type"], "user");
    assert_eq!(switched["actor"]["email"], ADMIN_EMAIL);
    assert_eq!(switched["target"]["type"], "api_key");
    assert_eq!(switched["target"]["id"], id.get());
    assert_eq!(switched["target"]["name"], "Payments");
    assert!(switched["target"]["masked"].as_str().unwrap().contains('…'));
    assert!(switched["details"].is_object());

    // One at a time, by cursor: the same events, each once.
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let query = match &cursor {
            Some(c) => format!("?limit=1&cursor={c}"),
            None => "?limit=1".to_owned(),
        };
        let page = api(
            &app.address,
            reqwest::Method::GET,
            &format!("/api/v1/audit-events{query}"),
            Some(&automation),
            None,
        )
        .await;
        assert_eq!(page.status, StatusCode::OK, "{:?}", page.json);
        seen.extend(
            page.json["data"]
                .as_array()
                .unwrap()
                .iter()
                .map(|e| e["id"].clone()),
        );
        match page.json["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => break,
        }
    }
    let every: Vec<_> = data.iter().map(|e| e["id"].clone()).collect();
    assert_eq!(seen, every);

    let one_key = get(automation.clone(), "?action=api_key.created").await;
    assert!(
        one_key.json["data"]
            .as_array()
            .unwrap()
            .iter()
            .all(|e| e["action"] == "api_key.created")
    );
    for bad in [
        "?limit=0",
        "?limit=101",
        "?limit=abc",
        "?cursor=12",
        "?key_id=x",
    ] {
        let refused = get(automation.clone(), bad).await;
        assert_eq!(refused.status, StatusCode::UNPROCESSABLE_ENTITY, "{bad}");
        assert!(refused.json["error"]["fields"].is_array(), "{bad}");
    }
    let unknown = get(automation.clone(), "?action=nope").await;
    assert_eq!(unknown.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(unknown.json["error"]["code"], "INVALID_INPUT");
    assert_eq!(get(reader, "").await.status, StatusCode::FORBIDDEN);
    // Another environment's key sees its own environment only.
    let staging = get(elsewhere, "").await;
    assert!(
        staging.json["data"]
            .as_array()
            .unwrap()
            .iter()
            .all(|e| e["target"]["name"] != "Payments")
    );
}
