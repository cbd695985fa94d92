//! The API Keys tab at scale (SPEC §9): keyset pages, filters, search, a pasted key, expiry
//! badges and banner, and the management API's pages and look-up.

use std::collections::HashSet;
use std::io::Write;
use std::sync::{Arc, Mutex, OnceLock};

use chrono::{DateTime, TimeDelta, Utc};
use diesel::connection::SimpleConnection;
use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::helpers::*;

/// Every log line the server writes while these tests run (all tests share the process, so a
/// plaintext that appears in none of them appeared in no log line).
fn captured_logs() -> &'static Arc<Mutex<Vec<u8>>> {
    static LOGS: OnceLock<Arc<Mutex<Vec<u8>>>> = OnceLock::new();
    LOGS.get_or_init(|| {
        let logs = Arc::new(Mutex::new(Vec::new()));
        let sink = logs.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::new("debug"))
            .with_writer(move || LogWriter(sink.clone()))
            .finish();
        // Another test may have installed one first; then these tests cannot see the logs.
        tracing::subscriber::set_global_default(subscriber).expect("capture the logs");
        logs
    })
}

struct LogWriter(Arc<Mutex<Vec<u8>>>);

impl Write for LogWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// A key written straight into the table: fast, and free to be in any state at any age.
struct Seed<'a> {
    name: &'a str,
    description: &'a str,
    masked: &'a str,
    key_type: &'a str,
    scopes: &'a [&'a str],
    enabled: bool,
    expires_at: Option<DateTime<Utc>>,
    revoked_at: Option<DateTime<Utc>>,
    created_at: DateTime<Utc>,
}

impl Default for Seed<'_> {
    fn default() -> Self {
        Self {
            name: "seeded",
            description: "",
            masked: "kw_sk_live_AAAA…ZZZZ",
            key_type: "secret",
            scopes: &["read"],
            enabled: true,
            expires_at: None,
            revoked_at: None,
            created_at: Utc::now(),
        }
    }
}

fn sql_time(t: Option<DateTime<Utc>>) -> String {
    t.map(|t| format!("'{}'", t.to_rfc3339()))
        .unwrap_or_else(|| "NULL".to_owned())
}

fn seed(app: &TestApp, env: &str, key: Seed<'_>) {
    let scopes = key
        .scopes
        .iter()
        .map(|s| format!("'{s}'"))
        .collect::<Vec<_>>()
        .join(",");
    app.conn()
        .batch_execute(&format!(
            "INSERT INTO api_keys (environment_id, name, description, key_type, scopes, digest,
                masked, enabled, expires_at, revoked_at, created_at)
             VALUES ({env}, '{name}', '{description}', '{key_type}', ARRAY[{scopes}],
                sha256(convert_to('{name}' || random()::text, 'UTF8')), '{masked}', {enabled},
                {expires}, {revoked}, {created})",
            env = app.environment_id(env).get(),
            name = key.name,
            description = key.description.replace('\'', "''"),
            key_type = key.key_type,
            masked = key.masked,
            enabled = key.enabled,
            expires = sql_time(key.expires_at),
            revoked = sql_time(key.revoked_at),
            created = sql_time(Some(key.created_at)),
        ))
        .unwrap();
}

/// `n` keys named `{prefix}-{i}` in one statement, 40 to an hour so that many share their
/// creation time (the id breaks the tie).
fn seed_many(app: &TestApp, prefix: &str, n: i64) {
    app.conn()
        .batch_execute(&format!(
            "INSERT INTO api_keys (environment_id, name, key_type, scopes, digest, masked, created_at)
             SELECT {env}, '{prefix}-' || g, 'secret', ARRAY['read'],
                    sha256(convert_to('{prefix}' || g || random()::text, 'UTF8')),
                    'kw_sk_live_Seed…' || lpad(g::text, 4, '0'),
                    date_trunc('hour', now()) - make_interval(hours => (g / 40)::int)
             FROM generate_series(1, {n}) g",
            env = app.environment_id(ENV).get()
        ))
        .unwrap();
}

/// The key ids of the rows on a page, top to bottom.
fn row_ids(body: &str) -> Vec<i64> {
    body.split("<tr id=\"key-")
        .skip(1)
        .map(|rest| rest[..rest.find('"').unwrap()].parse().unwrap())
        .collect()
}

/// The href of the pager link `rel` (`prev`, `next`).
fn pager_link(body: &str, rel: &str) -> Option<String> {
    let at = body.find(&format!("rel=\"{rel}\""))?;
    let start = body[..at].rfind("<a href=\"")? + "<a href=\"".len();
    let end = start + body[start..].find('"')?;
    Some(body[start..end].replace("&amp;", "&"))
}

fn names_in(body: &str) -> Vec<String> {
    body.split("<span class=\"key-name\">")
        .skip(1)
        .map(|rest| rest[..rest.find('<').unwrap()].to_owned())
        .collect()
}

#[tokio::test]
async fn the_dashboard_pages_by_50_and_returns_every_key_once_while_keys_are_added() {
    let app = spawn_app().await;
    seed_many(&app, "old", 120);
    let expected: HashSet<i64> = app.keys().iter().map(|k| k.id.get()).collect();
    assert_eq!(expected.len(), 120);
    let client = app.signed_in_as(Who::Admin).await;

    let first = client.get(&keys_path(ENV)).await;
    assert_eq!(first.status, StatusCode::OK);
    let first_ids = row_ids(&first.body);
    assert_eq!(first_ids.len(), 50);
    assert!(pager_link(&first.body, "prev").is_none());
    let mut seen = first_ids.clone();
    let mut page = first;
    let mut pages = 1;
    while let Some(next) = pager_link(&page.body, "next") {
        assert!(next.contains("after="), "{next}");
        // Someone adds keys between two page loads: they are newer, so no later page moves.
        make_key(
            &app,
            ENV,
            &format!("added while paging {pages}"),
            &["read"],
            None,
        );
        page = client.get(&next).await;
        assert_eq!(page.status, StatusCode::OK);
        seen.extend(row_ids(&page.body));
        pages += 1;
    }
    assert_eq!(pages, 3);
    assert_eq!(seen.len(), 120, "no key twice");
    assert_eq!(seen.iter().copied().collect::<HashSet<_>>(), expected);

    // Previous from the last page leads back through the same pages.
    let prev = pager_link(&page.body, "prev").expect("a Previous link");
    assert!(prev.contains("before="), "{prev}");
    let second = client.get(&prev).await;
    assert_eq!(row_ids(&second.body), seen[50..100].to_vec());
    let back = client.get(&pager_link(&second.body, "prev").unwrap()).await;
    // The first page as it was, and a Previous link to the keys added since.
    assert_eq!(row_ids(&back.body), first_ids);
    let newest = client
        .get(&pager_link(&back.body, "prev").expect("newer keys exist"))
        .await;
    assert_eq!(names_in(&newest.body).len(), 2);
    assert!(newest.body.contains("added while paging 1"));
}

#[tokio::test]
async fn the_api_walks_every_key_exactly_once_and_ends_with_a_null_cursor() {
    let app = spawn_app().await;
    let (admin_id, admin_key) = make_key(&app, ENV, "automation", &["admin"], None);
    seed_many(&app, "old", 130);
    let mut expected: HashSet<i64> = app.keys().iter().map(|k| k.id.get()).collect();
    expected.insert(admin_id.get());

    let first = api(
        &app.address,
        Method::GET,
        "/api/v1/api-keys",
        Some(&admin_key),
        None,
    )
    .await;
    assert_eq!(first.status, StatusCode::OK, "{}", first.json);
    assert_eq!(first.json["data"].as_array().unwrap().len(), 50);

    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    for round in 0.. {
        let path = match &cursor {
            None => "/api/v1/api-keys?limit=37".to_owned(),
            Some(c) => format!("/api/v1/api-keys?limit=37&cursor={c}"),
        };
        let page = api(&app.address, Method::GET, &path, Some(&admin_key), None).await;
        assert_eq!(page.status, StatusCode::OK, "{}", page.json);
        let data = page.json["data"].as_array().unwrap();
        assert!(data.len() <= 37);
        seen.extend(data.iter().map(|k| k["id"].as_i64().unwrap()));
        assert!(data.iter().all(|k| k.get("key").is_none()), "no secrets");
        make_key(&app, ENV, &format!("added {round}"), &["read"], None);
        match page.json["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_owned()),
            None => {
                assert!(page.json["next_cursor"].is_null());
                break;
            }
        }
    }
    assert_eq!(seen.len(), 131, "no key twice");
    assert_eq!(seen.into_iter().collect::<HashSet<_>>(), expected);
}

#[tokio::test]
async fn the_api_refuses_a_bad_limit_status_cursor_or_plaintext_q_with_the_envelope() {
    let app = spawn_app().await;
    let (_, admin_key) = make_key(&app, ENV, "automation", &["admin"], None);
    for (query, field) in [
        ("limit=0", "limit"),
        ("limit=101", "limit"),
        ("limit=abc", "limit"),
        ("status=sleeping", "status"),
        ("cursor=nonsense", "cursor"),
    ] {
        let reply = api(
            &app.address,
            Method::GET,
            &format!("/api/v1/api-keys?{query}"),
            Some(&admin_key),
            None,
        )
        .await;
        assert_eq!(reply.status, StatusCode::UNPROCESSABLE_ENTITY, "{query}");
        assert_eq!(reply.json["error"]["code"], "INVALID_INPUT", "{query}");
        assert!(reply.json["error"]["message"].is_string());
        assert_eq!(reply.json["error"]["fields"][0]["field"], field, "{query}");
    }
    let q = api(
        &app.address,
        Method::GET,
        &format!("/api/v1/api-keys?q={admin_key}"),
        Some(&admin_key),
        None,
    )
    .await;
    assert_eq!(q.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(q.json["error"]["fields"][0]["field"], "q");
    assert!(!q.json.to_string().contains(&admin_key));
    for limit in ["1", "100"] {
        let reply = api(
            &app.address,
            Method::GET,
            &format!("/api/v1/api-keys?limit={limit}&owner=anyone"),
            Some(&admin_key),
            None,
        )
        .await;
        assert_eq!(reply.status, StatusCode::OK, "{limit}");
        assert!(reply.json["next_cursor"].is_null(), "one key, one page");
    }
}

#[tokio::test]
async fn lookup_finds_a_key_of_this_environment_by_its_plaintext_and_nothing_else() {
    let app = spawn_app().await;
    let (_, admin_key) = make_key(&app, ENV, "automation", &["admin"], None);
    let (id, plain) = make_key(&app, ENV, "leaked", &["read"], None);
    let (_, other_env) = make_key(&app, "staging", "elsewhere", &["read"], None);
    let found = api(
        &app.address,
        Method::POST,
        "/api/v1/api-keys/lookup",
        Some(&admin_key),
        Some(json!({ "key": plain })),
    )
    .await;
    assert_eq!(found.status, StatusCode::OK, "{}", found.json);
    assert_eq!(found.json["id"], id.get());
    assert_eq!(found.json["name"], "leaked");
    assert!(found.json.get("key").is_none());
    let one = api(
        &app.address,
        Method::GET,
        &format!("/api/v1/api-keys/{id}"),
        Some(&admin_key),
        None,
    )
    .await;
    assert_eq!(found.json, one.json, "the same shape as GET one key");
    for key in [other_env.as_str(), "kw_sk_live_nope", "not a key at all"] {
        let missing = api(
            &app.address,
            Method::POST,
            "/api/v1/api-keys/lookup",
            Some(&admin_key),
            Some(json!({ "key": key })),
        )
        .await;
        assert_eq!(missing.status, StatusCode::NOT_FOUND, "{key}");
        assert_eq!(missing.json["error"]["code"], "NOT_FOUND");
        assert!(!missing.json.to_string().contains(&other_env));
    }
    let document = api(
        &app.address,
        Method::GET,
        "/api/v1/openapi.json",
        None,
        None,
    )
    .await;
    let paths = &document.json["paths"];
    assert!(
        paths["/api/v1/api-keys/lookup"]["post"].is_object(),
        "{paths}"
    );
    let params = paths["/api/v1/api-keys"]["get"]["parameters"].to_string();
    for name in ["limit", "cursor", "q", "status"] {
        assert!(
            params.contains(&format!("\"{name}\"")),
            "{name} in {params}"
        );
    }
    assert!(document.json.to_string().contains("next_cursor"));
}

#[tokio::test]
async fn each_filter_narrows_the_list_in_the_dashboard_and_the_api() {
    let clock = ManualClock::starting_at(Utc::now());
    let app = spawn_app_with_clock(clock.clone()).await;
    let now = clock_now(&clock);
    let day = TimeDelta::days(1);
    let (_, admin_key) = make_key(&app, "staging", "automation", &["admin"], None);
    let at = |mins: i64| now - TimeDelta::minutes(mins);
    seed(
        &app,
        ENV,
        Seed {
            name: "on-key",
            created_at: at(1),
            ..Seed::default()
        },
    );
    seed(
        &app,
        ENV,
        Seed {
            name: "off-key",
            enabled: false,
            created_at: at(2),
            ..Seed::default()
        },
    );
    seed(
        &app,
        ENV,
        Seed {
            name: "expired-key",
            expires_at: Some(now - day),
            created_at: at(3),
            ..Seed::default()
        },
    );
    seed(
        &app,
        ENV,
        Seed {
            name: "revoked-key",
            enabled: false,
            revoked_at: Some(now - day),
            created_at: at(4),
            ..Seed::default()
        },
    );
    seed(
        &app,
        ENV,
        Seed {
            name: "expiring-off-key",
            enabled: false,
            expires_at: Some(now + day * 20),
            created_at: at(5),
            ..Seed::default()
        },
    );
    seed(
        &app,
        ENV,
        Seed {
            name: "later-key",
            expires_at: Some(now + day * 40),
            created_at: at(6),
            ..Seed::default()
        },
    );
    seed(
        &app,
        ENV,
        Seed {
            name: "pk-key",
            key_type: "publishable",
            masked: "kw_pk_live_AAAA…ZZZZ",
            created_at: at(7),
            ..Seed::default()
        },
    );
    seed(
        &app,
        ENV,
        Seed {
            name: "writer-key",
            scopes: &["read", "write"],
            created_at: at(8),
            ..Seed::default()
        },
    );
    seed(
        &app,
        ENV,
        Seed {
            name: "admin-key",
            scopes: &["admin"],
            created_at: at(9),
            ..Seed::default()
        },
    );
    let client = app.signed_in_as(Who::Member).await;
    let cases: &[(&str, &[&str])] = &[
        (
            "status=on",
            &["on-key", "later-key", "pk-key", "writer-key", "admin-key"],
        ),
        ("status=off", &["off-key", "expiring-off-key"]),
        ("status=expired", &["expired-key"]),
        ("status=revoked", &["revoked-key"]),
        ("status=expiring", &["expiring-off-key"]),
        ("type=publishable", &["pk-key"]),
        ("scope=write", &["writer-key"]),
        ("scope=admin", &["admin-key"]),
        (
            "type=secret&scope=read&status=on",
            &["on-key", "later-key", "writer-key"],
        ),
        (
            "status=bogus",
            &[
                "on-key",
                "off-key",
                "expired-key",
                "revoked-key",
                "expiring-off-key",
                "later-key",
                "pk-key",
                "writer-key",
                "admin-key",
            ],
        ),
    ];
    for (query, names) in cases {
        let page = client.get(&format!("{}?{query}", keys_path(ENV))).await;
        assert_eq!(page.status, StatusCode::OK, "{query}");
        assert_eq!(&names_in(&page.body), names, "{query}");
    }
    // The selects show the view they are on.
    let page = client
        .get(&format!("{}?status=expiring&type=secret", keys_path(ENV)))
        .await;
    assert!(
        page.body
            .contains("<option value=\"expiring\" selected>Expiring soon</option>")
    );
    assert!(
        page.body
            .contains("<option value=\"secret\" selected>Secret</option>")
    );

    // The same statuses over the API (its key lives in staging: move the rows there).
    app.conn()
        .batch_execute(&format!(
            "UPDATE api_keys SET environment_id = {} WHERE name LIKE '%-key'",
            app.environment_id("staging").get()
        ))
        .unwrap();
    for (status, names) in [
        ("off", vec!["off-key", "expiring-off-key"]),
        ("expiring", vec!["expiring-off-key"]),
        ("revoked", vec!["revoked-key"]),
    ] {
        let reply = api(
            &app.address,
            Method::GET,
            &format!("/api/v1/api-keys?status={status}"),
            Some(&admin_key),
            None,
        )
        .await;
        let got: Vec<&str> = reply.json["data"]
            .as_array()
            .unwrap()
            .iter()
            .map(|k| k["name"].as_str().unwrap())
            .collect();
        assert_eq!(got, names, "{status}");
    }
}

fn clock_now(clock: &ManualClock) -> DateTime<Utc> {
    use keyward::clock::Clock;
    clock.now()
}

#[tokio::test]
async fn search_matches_name_description_masked_form_and_its_last_four() {
    let app = spawn_app().await;
    let now = Utc::now();
    seed(
        &app,
        ENV,
        Seed {
            name: "billing-worker",
            masked: "kw_sk_live_Bill…aaaa",
            created_at: now - TimeDelta::minutes(1),
            ..Seed::default()
        },
    );
    seed(
        &app,
        ENV,
        Seed {
            name: "mobile",
            description: "The iOS app's key (50% rollout)",
            masked: "kw_pk_live_Mobi…bbbb",
            key_type: "publishable",
            created_at: now - TimeDelta::minutes(2),
            ..Seed::default()
        },
    );
    seed(
        &app,
        ENV,
        Seed {
            name: "cron",
            masked: "kw_sk_live_QxZw…k9Tq",
            created_at: now - TimeDelta::minutes(3),
            ..Seed::default()
        },
    );
    let (_, admin_key) = make_key(&app, ENV, "automation", &["admin"], None);
    let client = app.signed_in_as(Who::Member).await;
    for (q, names) in [
        ("BILLING", vec!["billing-worker"]),
        ("ios app", vec!["mobile"]),
        ("50%", vec!["mobile"]),
        ("_pk_", vec!["mobile"]),
        ("QxZw", vec!["cron"]),
        ("k9Tq", vec!["cron"]),
        ("kw_sk_live_QxZw…k9Tq", vec!["cron"]),
        ("nothing like it", vec![]),
    ] {
        let searched = client
            .post_form(
                &format!("{}/search", keys_path(ENV)),
                &[("q", q), ("status", "")],
            )
            .await;
        assert_eq!(searched.status, StatusCode::SEE_OTHER, "{q}");
        let location = searched.location().to_owned();
        assert!(
            location.starts_with(&format!("{}?q=", keys_path(ENV))),
            "{location}"
        );
        let page = client.get(&location).await;
        assert_eq!(names_in(&page.body), names, "{q}");
        assert!(page.body.contains("id=\"keys-q\""));
        if names.is_empty() {
            assert!(page.body.contains("No keys match."));
        }
        let reply = api(
            &app.address,
            Method::GET,
            &format!("/api/v1/api-keys?q={}", urlencode(q)),
            Some(&admin_key),
            None,
        )
        .await;
        let got: Vec<&str> = reply.json["data"]
            .as_array()
            .unwrap()
            .iter()
            .map(|k| k["name"].as_str().unwrap())
            .collect();
        assert_eq!(got, names, "API q={q}");
    }
    // The form keeps the other filters, and htmx gets the view to swap in and push.
    let searched = client
        .post_htmx(
            &format!("{}/search", keys_path(ENV)),
            &[("q", "mobile"), ("type", "publishable"), ("scope", "read")],
        )
        .await;
    assert_eq!(searched.status, StatusCode::OK);
    let hx = searched.headers["hx-location"].to_str().unwrap();
    let hx: serde_json::Value = serde_json::from_str(hx).unwrap();
    assert_eq!(
        hx["path"],
        format!("{}?q=mobile&type=publishable&scope=read", keys_path(ENV))
    );
    assert_eq!(hx["target"], "#keys-section");
    let fragment = client.get_htmx(hx["path"].as_str().unwrap()).await;
    assert!(!fragment.body.contains("<html"), "only the section");
    assert_eq!(names_in(&fragment.body), vec!["mobile"]);
}

fn urlencode(s: &str) -> String {
    serde_urlencoded::to_string([("x", s)]).unwrap()[2..].to_owned()
}

#[tokio::test]
async fn a_pasted_key_leads_to_its_page_and_is_never_echoed_logged_or_put_in_a_url() {
    let logs = captured_logs();
    let app = spawn_app().await;
    let (id, plain) = make_key(&app, ENV, "leaked-one", &["read"], None);
    let (_, elsewhere) = make_key(&app, "staging", "staging-secret", &["read"], None);
    let client = app.signed_in_as(Who::Member).await;
    let search = format!("{}/search", keys_path(ENV));

    let found = client
        .post_form(&search, &[("q", &format!("  {plain} "))])
        .await;
    assert_eq!(found.status, StatusCode::SEE_OTHER);
    assert_eq!(found.location(), format!("{}/{id}", keys_path(ENV)));
    assert!(!found.body.contains(&plain));

    let htmx = client.post_htmx(&search, &[("q", &plain)]).await;
    assert_eq!(
        htmx.headers["hx-redirect"].to_str().unwrap(),
        format!("{}/{id}", keys_path(ENV))
    );
    assert!(htmx.headers.get("hx-location").is_none());
    assert!(!htmx.body.contains(&plain));

    // Another environment's key, and a key with a typo: the same answer, nothing echoed.
    let mut typo = plain.clone();
    typo.pop();
    typo.push(if plain.ends_with('A') { 'B' } else { 'A' });
    for pasted in [elsewhere.as_str(), typo.as_str()] {
        for answer in [
            client.post_form(&search, &[("q", pasted)]).await,
            client.post_htmx(&search, &[("q", pasted)]).await,
        ] {
            assert_eq!(answer.status, StatusCode::OK);
            assert!(answer.headers.get("location").is_none());
            assert!(answer.headers.get("hx-location").is_none());
            assert!(answer.body.contains("No key of this environment matches"));
            assert!(!answer.body.contains(pasted));
            assert!(!answer.body.contains(&pasted[..20]), "not even its start");
            assert!(!answer.body.contains("staging-secret"));
            assert!(row_ids(&answer.body).is_empty());
        }
    }
    // Typed into the URL by hand, it is not looked up or echoed either.
    let by_url = client
        .get(&format!("{}?q={}", keys_path(ENV), urlencode(&plain)))
        .await;
    assert!(by_url.body.contains("No key of this environment matches"));
    assert!(!by_url.body.contains(&plain));

    let logs = String::from_utf8(logs.lock().unwrap().clone()).unwrap();
    assert!(
        logs.contains("/api-keys/search"),
        "the requests were logged"
    );
    for secret in [&plain, &elsewhere, &typo] {
        assert!(!logs.contains(secret.as_str()), "a plaintext in the log");
        assert!(
            !logs.contains(&secret[11..30]),
            "part of a plaintext in the log"
        );
    }
}

#[tokio::test]
async fn keys_near_expiry_show_days_left_and_a_banner_counts_those_within_7_days() {
    let start = Utc::now();
    let clock = ManualClock::starting_at(start);
    let app = spawn_app_with_clock(clock.clone()).await;
    let hours = TimeDelta::hours;
    for (name, left) in [
        ("in-5-hours", Some(hours(5))),
        ("in-3-days", Some(hours(3 * 24 + 2))),
        ("in-10-days", Some(hours(10 * 24 + 1))),
        ("in-30-days", Some(hours(30 * 24) - TimeDelta::minutes(1))),
        ("in-40-days", Some(hours(40 * 24))),
        ("never", None),
    ] {
        seed(
            &app,
            ENV,
            Seed {
                name,
                expires_at: left.map(|l| start + l),
                created_at: start - hours(1),
                ..Seed::default()
            },
        );
    }
    seed(
        &app,
        ENV,
        Seed {
            name: "revoked-soon",
            expires_at: Some(start + hours(30)),
            revoked_at: Some(start - hours(1)),
            created_at: start - hours(1),
            ..Seed::default()
        },
    );
    let client = app.signed_in_as(Who::Member).await;
    let badge = |body: &str, name: &str| -> Option<String> {
        let row = body
            .split("<tr id=\"key-")
            .find(|r| r.contains(&format!(">{name}<")))?;
        let at =
            row.find("<span class=\"badge expiring\">")? + "<span class=\"badge expiring\">".len();
        Some(row[at..at + row[at..].find('<')?].to_owned())
    };

    let page = client.get(&keys_path(ENV)).await;
    assert_eq!(
        badge(&page.body, "in-5-hours").as_deref(),
        Some("Expires today")
    );
    assert_eq!(
        badge(&page.body, "in-3-days").as_deref(),
        Some("Expires in 3 days")
    );
    assert_eq!(
        badge(&page.body, "in-10-days").as_deref(),
        Some("Expires in 10 days")
    );
    assert_eq!(
        badge(&page.body, "in-30-days").as_deref(),
        Some("Expires in 29 days")
    );
    assert_eq!(badge(&page.body, "in-40-days"), None);
    assert_eq!(badge(&page.body, "never"), None);
    assert_eq!(badge(&page.body, "revoked-soon"), None);
    assert!(
        page.body.contains("2 keys expire within 7 days."),
        "{}",
        page.body
    );
    let expiring = format!("{}?status=expiring", keys_path(ENV));
    assert!(page.body.contains(&format!("<a href=\"{expiring}\"")));
    assert_eq!(
        names_in(&client.get(&expiring).await.body),
        // Created together: the newer id first.
        vec!["in-30-days", "in-10-days", "in-3-days", "in-5-hours"]
    );

    clock.advance(TimeDelta::days(4));
    let page = client.get(&keys_path(ENV)).await;
    assert_eq!(badge(&page.body, "in-3-days"), None, "expired now");
    assert_eq!(
        badge(&page.body, "in-10-days").as_deref(),
        Some("Expires in 6 days")
    );
    assert_eq!(
        badge(&page.body, "in-30-days").as_deref(),
        Some("Expires in 25 days")
    );
    assert_eq!(badge(&page.body, "in-40-days"), None, "36 days left");
    assert!(page.body.contains("1 key expires within 7 days."));

    clock.advance(TimeDelta::days(7));
    let page = client.get(&keys_path(ENV)).await;
    assert!(
        !page.body.contains("within 7 days"),
        "no banner without such keys"
    );
}

#[tokio::test]
async fn a_key_name_links_to_its_page() {
    let app = spawn_app().await;
    let (id, _) = make_key(&app, ENV, "linked", &["read"], None);
    let client = app.signed_in_as(Who::Member).await;
    let page = client.get(&keys_path(ENV)).await;
    assert!(
        page.body.contains(&format!(
            "<a class=\"key-link\" href=\"{}/{id}\"><span class=\"key-name\">linked</span></a>",
            keys_path(ENV)
        )),
        "{}",
        page.body
    );
}
