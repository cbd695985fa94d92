//! Keys that carry policy (SPEC §11): allowed IPs and origins, quota, owner and metadata —
//! validation on every edge, the key's JSON, and the checks on the verify path.

use reqwest::Method;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::*;

const KEYS: &str = "/api/v1/api-keys";

fn key_path(id: impl std::fmt::Display) -> String {
    format!("{}/{id}", keys_path(ENV))
}

/// Creates a key through the API with `extra` fields; returns its JSON (with `key`).
async fn create(base: &str, admin: &str, extra: Value) -> Value {
    let mut body = json!({"name": format!("k{}", rand_suffix()), "scopes": ["read"]});
    body.as_object_mut()
        .unwrap()
        .extend(extra.as_object().unwrap().clone());
    let created = api(base, Method::POST, KEYS, Some(admin), Some(body)).await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.json);
    created.json
}

fn rand_suffix() -> String {
    keyward::auth::random_token(6).unwrap()
}

#[tokio::test]
async fn the_api_stores_shows_and_clears_each_policy_field() {
    let app = spawn_app().await;
    let base = &app.address;
    let (_, admin) = make_key(&app, ENV, "automation", &["admin"], None);
    let key = create(
        base,
        &admin,
        json!({
            "allowed_ips": ["203.0.113.7", "10.0.0.7/8", "2001:db8::/32"],
            "quota": {"limit": 1000, "period": "month"},
            "owner_id": "  cus_42 ",
            "meta": {"plan": "pro", "seats": 3}
        }),
    )
    .await;
    assert_eq!(
        key["allowed_ips"],
        json!(["203.0.113.7", "10.0.0.0/8", "2001:db8::/32"])
    );
    assert_eq!(key["allowed_origins"], Value::Null);
    assert_eq!(key["quota"], json!({"limit": 1000, "period": "month"}));
    assert_eq!(key["owner_id"], "cus_42");
    assert_eq!(key["meta"], json!({"plan": "pro", "seats": 3}));
    let id = key["id"].as_i64().unwrap();

    let got = api(
        base,
        Method::GET,
        &format!("{KEYS}/{id}"),
        Some(&admin),
        None,
    )
    .await;
    assert_eq!(got.json["owner_id"], "cus_42");
    assert_eq!(got.json["quota"]["period"], "month");

    // A field left out is kept; null clears it.
    let patched = api(
        base,
        Method::PATCH,
        &format!("{KEYS}/{id}"),
        Some(&admin),
        Some(json!({"allowed_ips": null, "quota": null})),
    )
    .await;
    assert_eq!(patched.status, StatusCode::OK, "{}", patched.json);
    assert_eq!(patched.json["allowed_ips"], Value::Null);
    assert_eq!(patched.json["quota"], Value::Null);
    assert_eq!(patched.json["owner_id"], "cus_42");
    let patched = api(
        base,
        Method::PATCH,
        &format!("{KEYS}/{id}"),
        Some(&admin),
        Some(json!({"owner_id": null, "meta": null, "quota": {"limit": 5, "period": "total"}})),
    )
    .await;
    assert_eq!(patched.json["owner_id"], Value::Null);
    assert_eq!(patched.json["meta"], Value::Null);
    assert_eq!(
        patched.json["quota"],
        json!({"limit": 5, "period": "total"})
    );
    let row = app.keys().into_iter().find(|k| k.id.get() == id).unwrap();
    assert_eq!(row.allowed_ips, None);
    assert_eq!(row.owner_id, None);
    assert_eq!(
        (row.quota_limit, row.quota_period.as_deref()),
        (Some(5), Some("total"))
    );

    // Every key's JSON carries the five fields, null when unset.
    let list = api(base, Method::GET, KEYS, Some(&admin), None).await;
    for key in list.json["data"].as_array().unwrap() {
        for field in [
            "allowed_ips",
            "allowed_origins",
            "quota",
            "owner_id",
            "meta",
        ] {
            assert!(key.get(field).is_some(), "{field} in {key}");
        }
    }
}

/// Each invalid policy field: its name in `fields`, and a word of its message.
fn invalid_policy_bodies() -> Vec<(Value, &'static str, &'static str)> {
    let many_ips: Vec<String> = (0..51).map(|i| format!("10.0.0.{i}")).collect();
    vec![
        (
            json!({"allowed_ips": ["10.0.0.0/33"]}),
            "allowed_ips",
            "10.0.0.0/33",
        ),
        (json!({"allowed_ips": ["::g"]}), "allowed_ips", "::g"),
        (
            json!({"allowed_ips": many_ips}),
            "allowed_ips",
            "At most 50",
        ),
        (json!({"allowed_ips": []}), "allowed_ips", "at least one"),
        (
            json!({"allowed_origins": ["https://app.example.com"]}),
            "allowed_origins",
            "publishable",
        ),
        (
            json!({"quota": {"limit": 0, "period": "day"}}),
            "quota",
            "10^12",
        ),
        (
            json!({"quota": {"limit": -3, "period": "day"}}),
            "quota",
            "10^12",
        ),
        (
            json!({"quota": {"limit": 1_000_000_000_001_i64, "period": "day"}}),
            "quota",
            "10^12",
        ),
        (
            json!({"quota": {"limit": 10, "period": "week"}}),
            "quota",
            "week",
        ),
        (json!({"meta": [1, 2]}), "meta", "object"),
        (json!({"meta": {"a": "x".repeat(4100)}}), "meta", "4096"),
        (json!({"owner_id": "o".repeat(129)}), "owner_id", "128"),
    ]
}

fn assert_field_error(reply: &Reply, field: &str, word: &str, case: &Value) {
    assert_eq!(
        reply.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{case}: {}",
        reply.json
    );
    let fields = reply.json["error"]["fields"].as_array().unwrap();
    let entry = fields
        .iter()
        .find(|f| f["field"] == field)
        .unwrap_or_else(|| panic!("{field} in {}", reply.json));
    assert!(
        entry["message"].as_str().unwrap().contains(word),
        "{case}: {entry}"
    );
}

#[tokio::test]
async fn the_api_refuses_each_invalid_policy_field_by_name_and_saves_nothing() {
    let app = spawn_app().await;
    let base = &app.address;
    let (_, admin) = make_key(&app, ENV, "automation", &["admin"], None);
    let (id, _) = make_key(&app, ENV, "target", &["read"], None);
    let before = app.keys();
    for (case, field, word) in invalid_policy_bodies() {
        let mut body = json!({"name": "new one", "scopes": ["read"]});
        body.as_object_mut()
            .unwrap()
            .extend(case.as_object().unwrap().clone());
        let created = api(base, Method::POST, KEYS, Some(&admin), Some(body)).await;
        assert_field_error(&created, field, word, &case);
        let patched = api(
            base,
            Method::PATCH,
            &format!("{KEYS}/{id}"),
            Some(&admin),
            Some(case.clone()),
        )
        .await;
        assert_field_error(&patched, field, word, &case);
    }
    // Origins that are not scheme://host[:port], on a publishable key.
    for origin in [
        "https://app.example.com/path",
        "*",
        "https://x.example.com?q=1",
    ] {
        let case = json!({"type": "publishable", "allowed_origins": [origin]});
        let mut body = json!({"name": "new one", "scopes": ["read"]});
        body.as_object_mut()
            .unwrap()
            .extend(case.as_object().unwrap().clone());
        let created = api(base, Method::POST, KEYS, Some(&admin), Some(body)).await;
        assert_field_error(&created, "allowed_origins", origin, &case);
    }
    let after = app.keys();
    assert_eq!(after.len(), before.len(), "nothing was created");
    let target = after.iter().find(|k| k.id == id).unwrap();
    assert_eq!(
        (target.version, &target.allowed_ips, &target.owner_id),
        (
            before.iter().find(|k| k.id == id).unwrap().version,
            &None,
            &None
        ),
        "nothing was changed"
    );
}

#[tokio::test]
async fn verify_checks_the_ip_against_v4_and_v6_addresses_and_blocks() {
    let app = spawn_app().await;
    let base = &app.address;
    let (_, admin) = make_key(&app, ENV, "automation", &["admin"], None);
    let key = create(
        base,
        &admin,
        json!({"allowed_ips": ["203.0.113.7", "10.0.0.0/8", "2001:db8::/32"]}),
    )
    .await;
    let plain = key["key"].as_str().unwrap();
    for inside in [
        "203.0.113.7",
        "10.200.3.4",
        "2001:db8::1",
        "::ffff:10.1.1.1",
    ] {
        let reply = verify(base, Some(plain), Some(json!({"ip": inside}))).await;
        assert_eq!(reply.code(), "VALID", "{inside}");
    }
    for outside in ["203.0.113.8", "11.0.0.1", "2001:db9::1", "::1"] {
        let reply = verify(base, Some(plain), Some(json!({"ip": outside}))).await;
        assert_eq!(reply.status, StatusCode::FORBIDDEN, "{outside}");
        assert_eq!(reply.code(), "IP_NOT_ALLOWED", "{outside}");
    }
    let missing = verify(base, Some(plain), None).await;
    assert_eq!(missing.code(), "IP_NOT_ALLOWED");
    let garbage = verify(base, Some(plain), Some(json!({"ip": "10.0.0.300"}))).await;
    assert_eq!(garbage.status, StatusCode::BAD_REQUEST);
    assert_eq!(garbage.code(), "BAD_REQUEST");
    assert!(garbage.json["message"].as_str().unwrap().contains("\"ip\""));

    // Without allowed_ips, an ip (or none) changes nothing.
    let (_, open) = make_key(&app, ENV, "open", &["read"], None);
    assert_eq!(verify(base, Some(&open), None).await.code(), "VALID");
    let with_ip = verify(base, Some(&open), Some(json!({"ip": "192.0.2.1"}))).await;
    assert_eq!(with_ip.code(), "VALID");
}

#[tokio::test]
async fn verify_checks_the_origin_exactly_or_by_subdomain_wildcard() {
    let app = spawn_app().await;
    let base = &app.address;
    let (_, admin) = make_key(&app, ENV, "automation", &["admin"], None);
    let key = create(
        base,
        &admin,
        json!({"type": "publishable",
               "allowed_origins": ["https://app.example.com", "https://*.example.org", "http://localhost:3000"]}),
    )
    .await;
    let plain = key["key"].as_str().unwrap();
    for allowed in [
        "https://app.example.com",
        "https://shop.example.org",
        "https://a.b.example.org",
        "http://localhost:3000",
    ] {
        let reply = verify(base, Some(plain), Some(json!({"origin": allowed}))).await;
        assert_eq!(reply.code(), "VALID", "{allowed}");
    }
    for refused in [
        "https://example.org",
        "https://evil-example.org",
        "http://app.example.com",
        "https://app.example.com:8443",
        "http://localhost:3001",
        "https://other.example.com",
        "null",
    ] {
        let reply = verify(base, Some(plain), Some(json!({"origin": refused}))).await;
        assert_eq!(reply.status, StatusCode::FORBIDDEN, "{refused}");
        assert_eq!(reply.code(), "ORIGIN_NOT_ALLOWED", "{refused}");
    }
    assert_eq!(
        verify(base, Some(plain), None).await.code(),
        "ORIGIN_NOT_ALLOWED"
    );
}

#[tokio::test]
async fn refusals_come_in_the_order_of_spec_11() {
    let app = spawn_app().await;
    let base = &app.address;
    let (_, admin) = make_key(&app, ENV, "automation", &["admin"], None);
    let key = create(base, &admin, json!({"allowed_ips": ["10.0.0.0/8"]})).await;
    let plain = key["key"].as_str().unwrap().to_owned();
    let id = key["id"].as_i64().unwrap();
    let bad_ip_and_scope = json!({"ip": "192.0.2.1", "scope": "write"});
    assert_eq!(
        verify(base, Some(&plain), Some(bad_ip_and_scope.clone()))
            .await
            .code(),
        "IP_NOT_ALLOWED"
    );
    let good_ip_bad_scope = json!({"ip": "10.0.0.1", "scope": "write"});
    assert_eq!(
        verify(base, Some(&plain), Some(good_ip_bad_scope))
            .await
            .code(),
        "INSUFFICIENT_SCOPE"
    );
    let bad_ip_other_env = json!({"ip": "192.0.2.1", "environment": "staging"});
    assert_eq!(
        verify(base, Some(&plain), Some(bad_ip_other_env))
            .await
            .code(),
        "WRONG_ENVIRONMENT"
    );
    let off = api(
        base,
        Method::PATCH,
        &format!("{KEYS}/{id}"),
        Some(&admin),
        Some(json!({"enabled": false})),
    )
    .await;
    assert_eq!(off.status, StatusCode::OK);
    assert_eq!(
        verify(base, Some(&plain), Some(bad_ip_and_scope))
            .await
            .code(),
        "DISABLED"
    );

    // A publishable key: a bad origin comes before a missing scope, after a bad ip.
    let pk = create(
        base,
        &admin,
        json!({"type": "publishable", "allowed_origins": ["https://app.example.com"],
               "allowed_ips": ["10.0.0.0/8"]}),
    )
    .await;
    let pk = pk["key"].as_str().unwrap();
    let cases = [
        (
            json!({"ip": "192.0.2.1", "origin": "https://evil.test", "scope": "write"}),
            "IP_NOT_ALLOWED",
        ),
        (
            json!({"ip": "10.0.0.1", "origin": "https://evil.test", "scope": "write"}),
            "ORIGIN_NOT_ALLOWED",
        ),
        (
            json!({"ip": "10.0.0.1", "origin": "https://app.example.com", "scope": "write"}),
            "INSUFFICIENT_SCOPE",
        ),
        (
            json!({"ip": "10.0.0.1", "origin": "https://app.example.com"}),
            "VALID",
        ),
    ];
    for (body, code) in cases {
        assert_eq!(
            verify(base, Some(pk), Some(body.clone())).await.code(),
            code,
            "{body}"
        );
    }
}

#[tokio::test]
async fn a_valid_answer_carries_the_owner_and_the_metadata() {
    let app = spawn_app().await;
    let base = &app.address;
    let (_, admin) = make_key(&app, ENV, "automation", &["admin"], None);
    let key = create(
        base,
        &admin,
        json!({"owner_id": "acct_7", "meta": {"plan": "pro", "note": "<b>&"}}),
    )
    .await;
    let reply = verify(base, Some(key["key"].as_str().unwrap()), None).await;
    assert_eq!(reply.code(), "VALID");
    assert_eq!(reply.json["owner_id"], "acct_7");
    assert_eq!(reply.json["meta"], json!({"plan": "pro", "note": "<b>&"}));
    assert_eq!(reply.json["name"], key["name"]);
    let plain = verify(base, Some(&admin), None).await;
    assert_eq!(plain.code(), "VALID");
    assert_eq!(plain.json["owner_id"], Value::Null);
    assert_eq!(plain.json["meta"], Value::Null);

    // The key's page shows them, the metadata escaped.
    let page = app
        .signed_in_as(Who::Admin)
        .await
        .get(&key_path(key["id"].as_i64().unwrap()))
        .await;
    assert!(page.body.contains("acct_7"));
    assert!(
        page.body.contains("&lt;b&gt;") || page.body.contains("&#60;b&#62;"),
        "escaped metadata"
    );
    assert!(!page.body.contains("<b>&"));
}

#[tokio::test]
async fn an_allowed_ips_change_in_the_dashboard_reaches_verify_on_the_next_request() {
    let app = spawn_app().await;
    let base = &app.address;
    let admin = app.signed_in_as(Who::Admin).await;
    let plain = app.create_key(&admin, "Checkout", &["read"]).await;
    let id = app.keys().iter().find(|k| k.name == "Checkout").unwrap().id;
    let from = json!({"ip": "192.0.2.10"});
    assert_eq!(
        verify(base, Some(&plain), Some(from.clone())).await.code(),
        "VALID"
    );
    let saved = admin
        .post_form(
            &format!("{}/edit", key_path(id)),
            &[
                ("name", "Checkout"),
                ("expiration", "keep"),
                ("allowed_ips", "10.0.0.0/8\n2001:db8::/32"),
                ("owner", "team-shop"),
                ("quota", "500"),
                ("quota_period", "day"),
            ],
        )
        .await;
    assert_eq!(saved.status, StatusCode::OK, "{}", saved.body);
    assert_eq!(
        verify(base, Some(&plain), Some(from)).await.code(),
        "IP_NOT_ALLOWED"
    );
    assert_eq!(
        verify(base, Some(&plain), Some(json!({"ip": "10.1.2.3"})))
            .await
            .code(),
        "VALID"
    );
    let key = app.keys().into_iter().find(|k| k.id == id).unwrap();
    assert_eq!(key.owner_id.as_deref(), Some("team-shop"));
    assert_eq!(
        (key.quota_limit, key.quota_period.as_deref()),
        (Some(500), Some("day"))
    );
    let page = admin.get(&key_path(id)).await;
    assert!(page.body.contains("<code>10.0.0.0/8</code>"));
    assert!(page.body.contains("500 per day"));
}

#[tokio::test]
async fn the_add_panel_and_edit_refuse_bad_policy_fields_beside_the_field_saving_nothing() {
    let app = spawn_app().await;
    let admin = app.signed_in_as(Who::Admin).await;
    app.create_key(&admin, "Existing", &["read"]).await;
    let id = app.keys()[0].id;
    let long_owner = "o".repeat(129);
    // (extra form fields, the field's id part, a word of the message)
    type Case<'a> = (Vec<(&'a str, &'a str)>, &'a str, &'a str);
    let cases: Vec<Case> = vec![
        (
            vec![("allowed_ips", "10.0.0.1\n10.0.0.0/33")],
            "allowed-ips",
            "10.0.0.0/33",
        ),
        (vec![("allowed_ips", "::g")], "allowed-ips", "::g"),
        (
            vec![("allowed_origins", "https://app.example.com")],
            "allowed-origins",
            "publishable",
        ),
        (
            vec![("quota", "0"), ("quota_period", "day")],
            "quota",
            "10^12",
        ),
        (
            vec![("quota", "1000000000001"), ("quota_period", "day")],
            "quota",
            "10^12",
        ),
        (
            vec![("quota", "5"), ("quota_period", "week")],
            "quota",
            "week",
        ),
        (vec![("owner", &long_owner)], "owner", "128"),
    ];
    let before = app.keys();
    for (extra, field, word) in &cases {
        let mut add = key_form("New key", "secret", &["read"]);
        add.extend(extra.iter().copied());
        let refused = admin.post_form(&keys_path(ENV), &add).await;
        assert_eq!(
            refused.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{extra:?}"
        );
        assert!(
            refused.body.contains(&format!("id=\"key-{field}-error\"")),
            "{extra:?}"
        );
        assert!(refused.body.contains(word), "{extra:?}");

        let mut edit = vec![("name", "Existing"), ("expiration", "keep")];
        edit.extend(extra.iter().copied());
        let refused = admin
            .post_form(&format!("{}/edit", key_path(id)), &edit)
            .await;
        assert_eq!(
            refused.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{extra:?}"
        );
        assert!(
            refused.body.contains(&format!("id=\"edit-{field}-error\"")),
            "{extra:?}"
        );
    }
    // Origins that are not scheme://host[:port] on a publishable key.
    for origin in ["https://app.example.com/path", "*"] {
        let mut add = key_form("New key", "publishable", &["read"]);
        add.push(("allowed_origins", origin));
        let refused = admin.post_form(&keys_path(ENV), &add).await;
        assert_eq!(refused.status, StatusCode::UNPROCESSABLE_ENTITY, "{origin}");
        assert!(refused.body.contains("id=\"key-allowed-origins-error\""));
    }
    let after = app.keys();
    assert_eq!(after.len(), before.len(), "nothing was created");
    assert_eq!(after[0].version, before[0].version, "nothing was changed");

    // The Add panel saves them all.
    let mut add = key_form("Publishable", "publishable", &["read"]);
    add.extend([
        ("owner", "cus_9"),
        (
            "allowed_origins",
            "https://*.example.com\n\nhttp://localhost:3000",
        ),
        ("allowed_ips", "203.0.113.0/24"),
        ("quota", "1000"),
        ("quota_period", "month"),
    ]);
    let created = admin.post_form(&keys_path(ENV), &add).await;
    assert_eq!(created.status, StatusCode::OK, "{}", created.body);
    let key = app
        .keys()
        .into_iter()
        .find(|k| k.name == "Publishable")
        .unwrap();
    assert_eq!(
        key.allowed_origins,
        Some(vec![
            "https://*.example.com".to_owned(),
            "http://localhost:3000".to_owned()
        ])
    );
    assert_eq!(key.owner_id.as_deref(), Some("cus_9"));
    assert_eq!(key.quota_limit, Some(1000));
}

#[tokio::test]
async fn lists_filter_by_owner_and_search_finds_the_owner() {
    let app = spawn_app().await;
    let base = &app.address;
    let (_, admin) = make_key(&app, ENV, "automation", &["admin"], None);
    create(
        base,
        &admin,
        json!({"name": "alpha one", "owner_id": "acme-corp"}),
    )
    .await;
    create(
        base,
        &admin,
        json!({"name": "alpha two", "owner_id": "acme-corp"}),
    )
    .await;
    create(base, &admin, json!({"name": "beta", "owner_id": "globex"})).await;

    let names = |reply: &Reply| -> Vec<String> {
        reply.json["data"]
            .as_array()
            .unwrap()
            .iter()
            .map(|k| k["name"].as_str().unwrap().to_owned())
            .collect()
    };
    let acme = api(
        base,
        Method::GET,
        &format!("{KEYS}?owner=acme-corp"),
        Some(&admin),
        None,
    )
    .await;
    assert_eq!(acme.status, StatusCode::OK, "{}", acme.json);
    assert_eq!(names(&acme), ["alpha two", "alpha one"]);
    let globex = api(
        base,
        Method::GET,
        &format!("{KEYS}?owner=globex"),
        Some(&admin),
        None,
    )
    .await;
    assert_eq!(names(&globex), ["beta"]);
    let nobody = api(
        base,
        Method::GET,
        &format!("{KEYS}?owner=initech"),
        Some(&admin),
        None,
    )
    .await;
    assert!(names(&nobody).is_empty());
    let by_search = api(
        base,
        Method::GET,
        &format!("{KEYS}?q=lobe"),
        Some(&admin),
        None,
    )
    .await;
    assert_eq!(names(&by_search), ["beta"]);

    let browser = app.signed_in_as(Who::Admin).await;
    let page = browser
        .get(&format!("{}?owner=globex", keys_path(ENV)))
        .await;
    assert!(page.body.contains(">beta<") || page.body.contains("beta</a>"));
    assert!(!page.body.contains("alpha one"));
    let search = browser.get(&format!("{}?q=acme", keys_path(ENV))).await;
    assert!(search.body.contains("alpha one") && search.body.contains("alpha two"));
    assert!(!search.body.contains(">beta<") && !search.body.contains("beta</a>"));

    // The Search form's Owner field, with other filters kept, and back from the view.
    let submitted = browser
        .post_form(
            &format!("{}/search", keys_path(ENV)),
            &[("q", "alpha"), ("status", "on"), ("owner", "acme-corp")],
        )
        .await;
    assert_eq!(submitted.status, StatusCode::SEE_OTHER);
    let location = submitted.location().to_owned();
    assert!(
        location.contains("owner=acme-corp") && location.contains("q=alpha"),
        "{location}"
    );
    let view = browser.get(&location).await;
    assert!(view.body.contains("alpha one") && view.body.contains("alpha two"));
    assert!(!view.body.contains(">beta<") && !view.body.contains("beta</a>"));
    assert!(
        view.body
            .contains(r#"id="keys-owner" name="owner" type="search" value="acme-corp""#)
    );
    let other_owner = browser
        .post_form(
            &format!("{}/search", keys_path(ENV)),
            &[("q", "alpha"), ("owner", "globex")],
        )
        .await;
    let none = browser.get(other_owner.location()).await;
    assert!(!none.body.contains("alpha one") && none.body.contains("No keys match."));

    // A key's page links its owner to that owner's keys.
    let beta_id = globex.json["data"][0]["id"].as_i64().unwrap();
    let key_page = browser.get(&format!("{}/{beta_id}", keys_path(ENV))).await;
    assert!(
        key_page
            .body
            .contains(&format!(r#"<a href="{}?owner=globex""#, keys_path(ENV))),
        "the owner links to the filtered list"
    );
}

#[tokio::test]
async fn a_key_calling_the_management_api_is_held_to_its_allowed_ips() {
    let app = spawn_app_with(|c| {
        c.trusted_proxies = keyward::net::TrustedProxies::parse("127.0.0.1/32").unwrap();
    })
    .await;
    let base = &app.address;
    let (_, setup) = make_key(&app, ENV, "setup", &["admin"], None);
    let restricted = create(
        base,
        &setup,
        json!({"scopes": ["admin"], "allowed_ips": ["198.51.100.0/24"]}),
    )
    .await;
    let restricted = restricted["key"].as_str().unwrap();
    let call = |forwarded: Option<&'static str>| async move {
        let mut request = reqwest::Client::new()
            .get(format!("{base}{KEYS}"))
            .header("X-API-Key", restricted);
        if let Some(addr) = forwarded {
            request = request.header("X-Forwarded-For", addr);
        }
        let response = request.send().await.unwrap();
        let status = response.status();
        (status, response.json::<Value>().await.unwrap())
    };
    let (status, _) = call(Some("198.51.100.7")).await;
    assert_eq!(status, StatusCode::OK);
    for outside in [Some("203.0.113.9"), None] {
        let (status, body) = call(outside).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{outside:?}");
        assert_eq!(body["error"]["code"], "IP_NOT_ALLOWED", "{outside:?}");
    }
}

#[tokio::test]
async fn the_flusher_records_the_client_address_the_caller_reported_without_staling_the_cache() {
    let app = spawn_app().await;
    let base = &app.address;
    let (id, plain) = make_key(&app, ENV, "reported", &["read"], None);
    let version = app.keys().into_iter().find(|k| k.id == id).unwrap().version;
    let reply = verify(base, Some(&plain), Some(json!({"ip": "192.0.2.55"}))).await;
    assert_eq!(reply.code(), "VALID");
    let key = eventually(
        std::time::Duration::from_secs(15),
        "the usage flusher writes the last client address",
        || async {
            app.keys()
                .into_iter()
                .find(|k| k.id == id && k.last_used_ip.is_some())
        },
    )
    .await;
    assert_eq!(key.last_used_ip.as_deref(), Some("192.0.2.55"));
    assert_eq!(key.version, version, "a flush is not a change of the key");
    let page = app.signed_in_as(Who::Admin).await.get(&key_path(id)).await;
    assert!(page.body.contains("from <code>192.0.2.55</code>"));
}
