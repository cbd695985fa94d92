//! The management API (SPEC §6), authenticated by admin-scope keys.

use reqwest::Method;
use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::*;

#[tokio::test]
async fn an_admin_key_creates_lists_patches_rotates_and_revokes_keys() {
    let app = spawn_app().await;
    let base = &app.address;
    let (_, admin_key) = make_key(&app, ENV, "automation", &["admin"], None);

    let created = api(
        base,
        Method::POST,
        "/api/v1/api-keys",
        Some(&admin_key),
        Some(json!({
            "name": "ci deployer", "description": "deploys", "type": "secret",
            "scopes": ["read", "write"], "rate_limit_per_minute": 120
        })),
    )
    .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.json);
    assert_eq!(created.header("cache-control"), Some("no-store"));
    let plain = created.json["key"].as_str().unwrap().to_owned();
    let id = created.json["id"].as_i64().unwrap();
    for field in [
        "id",
        "name",
        "description",
        "type",
        "scopes",
        "status",
        "masked",
        "created_at",
        "last_used_at",
        "expires_at",
        "rate_limit_per_minute",
    ] {
        assert!(
            created.json.get(field).is_some(),
            "{field} in {}",
            created.json
        );
    }
    assert_eq!(created.json["status"], "on");
    assert_eq!(verify(base, Some(&plain), None).await.code(), "VALID");

    let list = api(
        base,
        Method::GET,
        "/api/v1/api-keys",
        Some(&admin_key),
        None,
    )
    .await;
    assert_eq!(list.status, StatusCode::OK);
    let text = list.json.to_string();
    assert!(
        !text.contains(&plain) && !text.contains(&admin_key),
        "no secrets in a list"
    );
    assert!(
        list.json["data"]
            .as_array()
            .unwrap()
            .iter()
            .all(|k| k.get("key").is_none())
    );
    assert_eq!(list.json["data"].as_array().unwrap().len(), 2);

    let got = api(
        base,
        Method::GET,
        &format!("/api/v1/api-keys/{id}"),
        Some(&admin_key),
        None,
    )
    .await;
    assert_eq!(got.json["name"], "ci deployer");
    assert!(got.json.get("key").is_none());

    let patched = api(
        base,
        Method::PATCH,
        &format!("/api/v1/api-keys/{id}"),
        Some(&admin_key),
        Some(json!({
            "name": "ci deployer v2", "enabled": false, "rate_limit_per_minute": null
        })),
    )
    .await;
    assert_eq!(patched.status, StatusCode::OK, "{}", patched.json);
    assert_eq!(patched.json["name"], "ci deployer v2");
    assert_eq!(patched.json["status"], "off");
    assert_eq!(
        patched.json["rate_limit_per_minute"],
        serde_json::Value::Null
    );
    assert_eq!(
        patched.json["description"], "deploys",
        "fields left out stay as they were"
    );
    assert_eq!(verify(base, Some(&plain), None).await.code(), "DISABLED");
    api(
        base,
        Method::PATCH,
        &format!("/api/v1/api-keys/{id}"),
        Some(&admin_key),
        Some(json!({"enabled": true})),
    )
    .await;

    let rotated = api(
        base,
        Method::POST,
        &format!("/api/v1/api-keys/{id}/rotate"),
        Some(&admin_key),
        Some(json!({})),
    )
    .await;
    assert_eq!(rotated.status, StatusCode::OK);
    let new_plain = rotated.json["key"].as_str().unwrap().to_owned();
    assert_eq!(verify(base, Some(&plain), None).await.code(), "NOT_FOUND");
    assert_eq!(verify(base, Some(&new_plain), None).await.code(), "VALID");

    let revoked = api(
        base,
        Method::DELETE,
        &format!("/api/v1/api-keys/{id}"),
        Some(&admin_key),
        None,
    )
    .await;
    assert_eq!(revoked.status, StatusCode::NO_CONTENT);
    assert_eq!(verify(base, Some(&new_plain), None).await.code(), "REVOKED");
    let after = api(
        base,
        Method::GET,
        &format!("/api/v1/api-keys/{id}"),
        Some(&admin_key),
        None,
    )
    .await;
    assert_eq!(after.json["status"], "revoked");
    // Revoked for good: valid changes conflict with the key's state, and revoking again is a no-op.
    let patch = api(
        base,
        Method::PATCH,
        &format!("/api/v1/api-keys/{id}"),
        Some(&admin_key),
        Some(json!({"enabled": true})),
    )
    .await;
    assert_eq!(patch.status, StatusCode::CONFLICT);
    assert_eq!(patch.json["error"]["code"], "CONFLICT");
    let rotate = api(
        base,
        Method::POST,
        &format!("/api/v1/api-keys/{id}/rotate"),
        Some(&admin_key),
        None,
    )
    .await;
    assert_eq!(rotate.status, StatusCode::CONFLICT);
    let again = api(
        base,
        Method::DELETE,
        &format!("/api/v1/api-keys/{id}"),
        Some(&admin_key),
        None,
    )
    .await;
    assert_eq!(again.status, StatusCode::NO_CONTENT);

    let actions = app.audit_actions();
    for action in [
        "api_key.created",
        "api_key.updated",
        "api_key.rotated",
        "api_key.revoked",
    ] {
        assert!(
            actions.iter().any(|a| a == action),
            "{action} audited: {actions:?}"
        );
    }
}

#[tokio::test]
async fn usage_is_counted_per_minute_newest_first() {
    let app = spawn_app().await;
    let base = &app.address;
    let (_, admin_key) = make_key(&app, ENV, "automation", &["admin"], None);
    let (id, key) = make_key(&app, ENV, "busy", &["read"], None);
    for _ in 0..7 {
        verify(base, Some(&key), None).await;
    }
    for _ in 0..3 {
        verify(base, Some(&key), Some(json!({"environment": "staging"}))).await;
    }
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
    assert_eq!(minutes.len(), 5);
    let stamps: Vec<&str> = minutes
        .iter()
        .map(|m| m["minute"].as_str().unwrap())
        .collect();
    assert!(
        stamps.windows(2).all(|w| w[0] > w[1]),
        "newest first: {stamps:?}"
    );
    let valid: i64 = minutes.iter().map(|m| m["valid"].as_i64().unwrap()).sum();
    let refused: i64 = minutes.iter().map(|m| m["refused"].as_i64().unwrap()).sum();
    assert_eq!((valid, refused), (7, 3));
    let bad = api(
        base,
        Method::GET,
        &format!("/api/v1/api-keys/{id}/usage?minutes=0"),
        Some(&admin_key),
        None,
    )
    .await;
    assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY);
    let got = api(
        base,
        Method::GET,
        &format!("/api/v1/api-keys/{id}"),
        Some(&admin_key),
        None,
    )
    .await;
    assert!(
        got.json["last_used_at"].is_string(),
        "last used includes what is not yet written"
    );
}

#[tokio::test]
async fn the_management_api_refuses_what_it_should() {
    let app = spawn_app().await;
    let base = &app.address;
    let (_, admin_key) = make_key(&app, ENV, "automation", &["admin"], None);
    let (_, read_key) = make_key(&app, ENV, "reader", &["read", "write"], None);
    let (staging_id, _) = make_key(&app, "staging", "elsewhere", &["read"], None);

    let none = api(base, Method::GET, "/api/v1/api-keys", None, None).await;
    assert_eq!(none.status, StatusCode::UNAUTHORIZED);
    assert_eq!(none.json["error"]["code"], "UNAUTHENTICATED");
    let weak = api(base, Method::GET, "/api/v1/api-keys", Some(&read_key), None).await;
    assert_eq!(weak.status, StatusCode::FORBIDDEN);
    assert_eq!(weak.json["error"]["code"], "FORBIDDEN");
    let other_env = api(
        base,
        Method::GET,
        &format!("/api/v1/api-keys/{staging_id}"),
        Some(&admin_key),
        None,
    )
    .await;
    assert_eq!(other_env.status, StatusCode::NOT_FOUND);
    let other_env = api(
        base,
        Method::DELETE,
        &format!("/api/v1/api-keys/{staging_id}"),
        Some(&admin_key),
        None,
    )
    .await;
    assert_eq!(other_env.status, StatusCode::NOT_FOUND);

    let invalid = api(base, Method::POST, "/api/v1/api-keys", Some(&admin_key), Some(json!({
        "name": "x".repeat(101), "type": "publishable", "scopes": ["read", "write"], "rate_limit_per_minute": 0
    })))
    .await;
    assert_eq!(invalid.status, StatusCode::UNPROCESSABLE_ENTITY);
    let fields: Vec<&str> = invalid.json["error"]["fields"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["field"].as_str().unwrap())
        .collect();
    assert_eq!(fields, ["name", "scopes", "rate_limit_per_minute"]);
    let past = api(
        base,
        Method::POST,
        "/api/v1/api-keys",
        Some(&admin_key),
        Some(json!({"name": "late", "scopes": ["read"], "expires_at": "2000-01-01T00:00:00Z"})),
    )
    .await;
    assert_eq!(past.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(past.json["error"]["fields"][0]["field"], "expires_at");
    let unknown_field = api(
        base,
        Method::POST,
        "/api/v1/api-keys",
        Some(&admin_key),
        Some(json!({"name": "x", "scopes": ["read"], "owner": "me"})),
    )
    .await;
    assert_eq!(unknown_field.status, StatusCode::UNPROCESSABLE_ENTITY);
    let duplicate = api(
        base,
        Method::POST,
        "/api/v1/api-keys",
        Some(&admin_key),
        Some(json!({"name": "reader", "scopes": ["read"]})),
    )
    .await;
    // Valid input, but the name is taken: a conflict with the environment's keys.
    assert_eq!(duplicate.status, StatusCode::CONFLICT);
    assert_eq!(duplicate.json["error"]["code"], "CONFLICT");
    assert_eq!(duplicate.json["error"]["fields"][0]["field"], "name");
    let grace = api(
        base,
        Method::POST,
        &format!("/api/v1/api-keys/{staging_id}/rotate"),
        Some(&admin_key),
        Some(json!({"grace_period_seconds": -1})),
    )
    .await;
    assert_eq!(grace.status, StatusCode::UNPROCESSABLE_ENTITY);

    let huge = reqwest::Client::new()
        .post(format!("{base}/api/v1/api-keys"))
        .header("X-API-Key", &admin_key)
        .header("content-type", "application/json")
        .body(vec![b' '; 10 * 1024 * 1024])
        .send()
        .await
        .unwrap();
    assert_eq!(huge.status(), StatusCode::PAYLOAD_TOO_LARGE);
    let body: serde_json::Value = huge.json().await.unwrap();
    assert_eq!(body["error"]["code"], "PAYLOAD_TOO_LARGE");

    // Nothing above created or changed a key.
    assert_eq!(app.keys().len(), 2);
    assert!(app.audit_actions().iter().all(|a| a == "api_key.created"));
}

#[tokio::test]
async fn the_openapi_document_lists_every_route_and_every_route_it_lists_exists() {
    let app = spawn_app().await;
    let doc = api(
        &app.address,
        Method::GET,
        "/api/v1/openapi.json",
        None,
        None,
    )
    .await;
    assert_eq!(doc.status, StatusCode::OK);
    assert_eq!(doc.json["openapi"], "3.1.0");
    let expected = [
        ("post", "/api/v1/keys/verify"),
        ("get", "/api/v1/api-keys"),
        ("post", "/api/v1/api-keys"),
        ("post", "/api/v1/api-keys/lookup"),
        ("get", "/api/v1/api-keys/{id}"),
        ("patch", "/api/v1/api-keys/{id}"),
        ("delete", "/api/v1/api-keys/{id}"),
        ("post", "/api/v1/api-keys/{id}/rotate"),
        ("get", "/api/v1/api-keys/{id}/usage"),
        ("get", "/api/v1/audit-events"),
        ("post", "/api/v1/secret-scanning/github"),
        ("get", "/api/v1/auth"),
        ("post", "/api/v1/auth"),
        ("put", "/api/v1/auth"),
        ("patch", "/api/v1/auth"),
        ("delete", "/api/v1/auth"),
        ("head", "/api/v1/auth"),
        ("options", "/api/v1/auth"),
        ("trace", "/api/v1/auth"),
        ("get", "/api/v1/openapi.json"),
    ];
    let paths = doc.json["paths"].as_object().unwrap();
    let documented: usize = paths.values().map(|p| p.as_object().unwrap().len()).sum();
    assert_eq!(documented, expected.len(), "{paths:?}");
    for (method, path) in expected {
        let operation = paths.get(path).and_then(|p| p.get(method));
        assert!(operation.is_some(), "{method} {path} is documented");
        let concrete = path.replace("{id}", "1");
        let m = Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
        let r = api(&app.address, m, &concrete, None, None).await;
        assert_ne!(
            r.json["error"]["message"], "No such API route.",
            "{method} {path} is routed"
        );
        assert!(
            operation.unwrap()["responses"]
                .get(r.status.as_str())
                .is_some(),
            "{method} {path} documents the {} it answers without a key",
            r.status
        );
    }
    // The schemas carry the limits the server enforces.
    let schemas = &doc.json["components"]["schemas"];
    let create = &schemas["CreateApiKey"];
    assert_eq!(create["properties"]["name"]["maxLength"], 100);
    assert_eq!(create["properties"]["name"]["minLength"], 1);
    assert_eq!(create["properties"]["description"]["maxLength"], 500);
    assert_eq!(create["properties"]["scopes"]["minItems"], 1);
    assert_eq!(create["properties"]["scopes"]["uniqueItems"], true);
    assert_eq!(create["properties"]["rate_limit_per_minute"]["minimum"], 1);
    assert_eq!(create["required"], json!(["name", "scopes"]));
    assert_eq!(
        create["additionalProperties"], false,
        "the server refuses unknown fields"
    );
    assert_eq!(schemas["Scope"]["enum"], json!(["read", "write", "admin"]));
    assert_eq!(schemas["KeyType"]["enum"], json!(["publishable", "secret"]));
    let rotate = &schemas["RotateApiKey"]["properties"]["grace_period_seconds"];
    assert_eq!(
        (&rotate["minimum"], &rotate["maximum"]),
        (&json!(0), &json!(604800))
    );
    let created = &paths["/api/v1/api-keys"]["post"]["responses"];
    for status in ["201", "401", "403", "413", "422", "429"] {
        assert!(created.get(status).is_some(), "create documents {status}");
    }
    assert_eq!(
        created["422"]["content"]["application/json"]["schema"]["$ref"],
        "#/components/schemas/Error"
    );

    let unrouted = api(
        &app.address,
        Method::GET,
        "/api/v1/nothing-here",
        None,
        None,
    )
    .await;
    assert_eq!(unrouted.json["error"]["message"], "No such API route.");
}
