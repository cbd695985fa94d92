//! Webhooks (SPEC §12): endpoints on the Activity tab, the outbox and its delivery worker.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};
use chrono::{TimeDelta, Utc};
use diesel::prelude::*;
use hmac::{Hmac, Mac};
use keyward::db::schema::{audit_events, webhook_deliveries, webhook_endpoints};
use keyward::domain::ids::KeyId;
use reqwest::StatusCode;
use sha2::Sha256;

use crate::helpers::*;

/// One request the receiver got.
#[derive(Debug, Clone)]
pub struct Received {
    pub signature: String,
    pub body: String,
}

impl Received {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body).unwrap()
    }
}

/// A webhook receiver on loopback: records every request and answers the next scripted status
/// (200 once the script is used up, or `always` when set).
pub struct Receiver {
    pub url: String,
    got: Arc<Mutex<Vec<Received>>>,
    script: Arc<Mutex<VecDeque<u16>>>,
    always: Arc<Mutex<Option<u16>>>,
    stop: actix_web::dev::ServerHandle,
}

impl Drop for Receiver {
    fn drop(&mut self) {
        drop(self.stop.stop(false));
    }
}

impl Receiver {
    pub async fn start() -> Self {
        Self::on(std::net::TcpListener::bind("127.0.0.1:0").unwrap())
    }

    fn on(listener: std::net::TcpListener) -> Self {
        let port = listener.local_addr().unwrap().port();
        let got = Arc::new(Mutex::new(Vec::new()));
        let script = Arc::new(Mutex::new(VecDeque::new()));
        let always = Arc::new(Mutex::new(None));
        let state = (got.clone(), script.clone(), always.clone());
        let server = HttpServer::new(move || {
            let state = state.clone();
            App::new().default_service(web::to(move |req: HttpRequest, body: web::Bytes| {
                let (got, script, always) = state.clone();
                async move {
                    got.lock().unwrap().push(Received {
                        signature: req
                            .headers()
                            .get("keyward-signature")
                            .and_then(|v| v.to_str().ok())
                            .unwrap_or("")
                            .to_owned(),
                        body: String::from_utf8_lossy(&body).into_owned(),
                    });
                    let status = always
                        .lock()
                        .unwrap()
                        .or_else(|| script.lock().unwrap().pop_front())
                        .unwrap_or(200);
                    HttpResponse::build(actix_web::http::StatusCode::from_u16(status).unwrap())
                        .finish()
                }
            }))
        })
        .workers(1)
        .listen(listener)
        .unwrap()
        .run();
        let stop = server.handle();
        tokio::spawn(server);
        Self {
            url: format!("http://127.0.0.1:{port}/hooks"),
            got,
            script,
            always,
            stop,
        }
    }

    /// Answers these statuses first, then 200.
    pub fn answer(&self, statuses: &[u16]) {
        self.script.lock().unwrap().extend(statuses);
    }

    pub fn always_answer(&self, status: u16) {
        *self.always.lock().unwrap() = Some(status);
    }

    pub fn received(&self) -> Vec<Received> {
        self.got.lock().unwrap().clone()
    }
}

pub fn webhooks_path() -> String {
    format!("/projects/{PROJECT}/environments/{ENV}/activity/webhooks")
}

/// The secret inside the one-time reveal, if the page has one.
pub fn revealed_secret(body: &str) -> Option<String> {
    let marker = "id=\"revealed-secret\">";
    let start = body.find(marker)? + marker.len();
    let end = body[start..].find('<')? + start;
    Some(body[start..end].trim().to_owned())
}

/// Adds an endpoint for every event through the dashboard; returns its id and secret.
pub async fn add_endpoint(app: &TestApp, client: &Client, url: &str) -> (i64, String) {
    let mut form = vec![("url", url)];
    let events = [
        "api_key.created",
        "api_key.enabled",
        "api_key.disabled",
        "api_key.updated",
        "api_key.rotated",
        "api_key.revoked",
        "api_key.leaked",
        "api_key.expiring",
    ];
    for e in events {
        form.push(("events", e));
    }
    let page = client.post_form(&webhooks_path(), &form).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    let secret = revealed_secret(&page.body).expect("the page reveals the signing secret");
    let id = webhook_endpoints::table
        .select(webhook_endpoints::id)
        .order(webhook_endpoints::id.desc())
        .first::<i64>(&mut app.conn())
        .unwrap();
    (id, secret)
}

/// Recomputes `Keyward-Signature` as a receiver would, and checks it.
pub fn assert_signed(received: &Received, secret: &str) {
    let (t, v1) = received
        .signature
        .split_once(',')
        .and_then(|(t, v)| Some((t.strip_prefix("t=")?, v.strip_prefix("v1=")?)))
        .expect("Keyward-Signature: t=…,v1=…");
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(format!("{t}.{}", received.body).as_bytes());
    assert_eq!(
        v1,
        hex::encode(mac.finalize().into_bytes()),
        "the signature"
    );
    let t: i64 = t.parse().unwrap();
    assert!((Utc::now().timestamp() - t).abs() < 24 * 3600 * 400);
}

#[derive(Debug, Queryable)]
pub struct DeliveryRow {
    pub state: String,
    pub attempts: i32,
    pub locked: bool,
    pub last_status: Option<i32>,
}

pub fn deliveries(app: &TestApp) -> Vec<DeliveryRow> {
    webhook_deliveries::table
        .order(webhook_deliveries::id.asc())
        .select((
            webhook_deliveries::state,
            webhook_deliveries::attempts,
            webhook_deliveries::locked_until.is_not_null(),
            webhook_deliveries::last_status,
        ))
        .load(&mut app.conn())
        .unwrap()
}

/// Waits until the only delivery has been tried `n` times and the try is recorded.
async fn tried(app: &TestApp, n: i32) -> DeliveryRow {
    eventually(
        Duration::from_secs(10),
        &format!("try {n} recorded"),
        async || {
            deliveries(app)
                .into_iter()
                .next()
                .filter(|d| d.attempts == n && !d.locked)
        },
    )
    .await
}

#[tokio::test]
async fn a_key_switched_off_in_the_dashboard_reaches_the_receiver_signed_within_5_s() {
    let app = spawn_app().await;
    let admin = app.signed_in_as(Who::Admin).await;
    let receiver = Receiver::start().await;
    let (id, plaintext) = make_key(&app, ENV, "billing", &["read"], None);
    let (_, secret) = add_endpoint(&app, &admin, &receiver.url).await;
    let switched = std::time::Instant::now();
    admin.switch(id, false).await;

    let got = eventually(
        Duration::from_secs(5),
        "api_key.disabled delivered",
        async || {
            receiver
                .received()
                .into_iter()
                .find(|r| r.body.contains("api_key.disabled"))
        },
    )
    .await;
    println!(
        "api_key.disabled reached the receiver {:.0} ms after the switch",
        switched.elapsed().as_secs_f64() * 1e3
    );
    assert_signed(&got, &secret);
    let body = got.json();
    assert!(body["id"].as_str().unwrap().starts_with("evt_"));
    assert_eq!(body["type"], "api_key.disabled");
    assert!(body["created_at"].as_str().is_some());
    let key = &body["data"]["key"];
    assert_eq!(key["id"], id.get());
    assert_eq!(key["name"], "billing");
    assert_eq!(key["status"], "off");
    assert!(key["masked"].as_str().unwrap().contains('…'));
    assert!(key.get("key").is_none(), "never a secret");
    for r in receiver.received() {
        assert!(
            !r.body.contains(&plaintext),
            "no plaintext key in a delivery"
        );
        assert!(!r.body.contains(&secret), "no webhook secret in a delivery");
    }
    // The endpoint's page lists the delivery and the receiver's answer.
    let endpoint: i64 = webhook_endpoints::table
        .select(webhook_endpoints::id)
        .first(&mut app.conn())
        .unwrap();
    let page = eventually(Duration::from_secs(5), "the delivery listed", async || {
        let page = admin.get(&format!("{}/{endpoint}", webhooks_path())).await;
        (page.body.contains("Delivered") && page.body.contains(">200<")).then_some(page)
    })
    .await;
    assert!(page.body.contains("api_key.disabled"));
}

#[tokio::test]
async fn a_receiver_answering_500_twice_then_200_sees_three_tries_and_one_success() {
    let clock = ManualClock::starting_at(Utc::now());
    let app = spawn_app_with_clock(clock.clone()).await;
    let admin = app.signed_in_as(Who::Admin).await;
    let receiver = Receiver::start().await;
    receiver.answer(&[500, 500]);
    let (id, _) = make_key(&app, ENV, "retry", &["read"], None);
    let (_, secret) = add_endpoint(&app, &admin, &receiver.url).await;
    admin.switch(id, false).await;

    let first = tried(&app, 1).await;
    assert_eq!(
        (first.state.as_str(), first.last_status),
        ("pending", Some(500))
    );
    // Nothing more happens until the retry is due on the clock.
    clock.advance(TimeDelta::seconds(4));
    assert_eq!(receiver.received().len(), 1);
    clock.advance(TimeDelta::seconds(1));
    let second = tried(&app, 2).await;
    assert_eq!(second.last_status, Some(500));
    clock.advance(TimeDelta::seconds(30));
    let third = tried(&app, 3).await;
    assert_eq!(
        (third.state.as_str(), third.last_status),
        ("delivered", Some(200))
    );

    let got = receiver.received();
    assert_eq!(got.len(), 3);
    let ids: Vec<_> = got.iter().map(|r| r.json()["id"].clone()).collect();
    assert!(
        ids.iter().all(|i| *i == ids[0]),
        "every try carries the same event id"
    );
    for r in &got {
        assert_signed(r, &secret);
    }
}

#[tokio::test]
async fn a_delivery_failing_every_try_is_marked_failed_after_eight_tries_and_shown_so() {
    let clock = ManualClock::starting_at(Utc::now());
    let app = spawn_app_with_clock(clock.clone()).await;
    let admin = app.signed_in_as(Who::Admin).await;
    let receiver = Receiver::start().await;
    receiver.always_answer(503);
    let (id, _) = make_key(&app, ENV, "doomed", &["read"], None);
    let (endpoint, _) = add_endpoint(&app, &admin, &receiver.url).await;
    admin.switch(id, false).await;

    let mut gaps = Vec::new();
    for n in 1..keyward::domain::webhook::MAX_ATTEMPTS {
        let row = tried(&app, n).await;
        assert_eq!(row.state, "pending", "after try {n}");
        let gap = keyward::domain::webhook::retry_delay(n).unwrap();
        gaps.push(gap);
        clock.advance(gap);
    }
    let last = tried(&app, keyward::domain::webhook::MAX_ATTEMPTS).await;
    assert_eq!(last.state, "failed");
    assert_eq!(receiver.received().len(), 8);
    assert!(gaps[0] <= TimeDelta::seconds(10));
    assert!(gaps.iter().all(|g| *g <= TimeDelta::hours(1)));

    let page = admin.get(&format!("{}/{endpoint}", webhooks_path())).await;
    assert!(page.body.contains("Failed"), "{}", page.body);
    assert!(page.body.contains(">503<"));
    eventually(
        Duration::from_secs(10),
        "the failed count on /metrics",
        async || metric(&app.address, "keyward_webhook_deliveries_failed").await == 1.0,
    )
    .await;
}

#[tokio::test]
async fn redeliver_sends_the_same_event_id_again() {
    let app = spawn_app().await;
    let admin = app.signed_in_as(Who::Admin).await;
    let receiver = Receiver::start().await;
    let (id, _) = make_key(&app, ENV, "again", &["read"], None);
    let (endpoint, secret) = add_endpoint(&app, &admin, &receiver.url).await;
    admin.revoke(id).await;
    let first = eventually(Duration::from_secs(5), "the first delivery", async || {
        receiver.received().into_iter().next()
    })
    .await;
    assert_eq!(first.json()["type"], "api_key.revoked");
    let delivery: i64 = webhook_deliveries::table
        .select(webhook_deliveries::id)
        .first(&mut app.conn())
        .unwrap();
    let answer = admin
        .post_form(
            &format!(
                "{}/{endpoint}/deliveries/{delivery}/redeliver",
                webhooks_path()
            ),
            &[],
        )
        .await;
    assert_eq!(answer.status, StatusCode::SEE_OTHER);
    let again = eventually(Duration::from_secs(5), "the redelivery", async || {
        receiver.received().get(1).cloned()
    })
    .await;
    assert_eq!(again.json()["id"], first.json()["id"]);
    assert_eq!(again.body, first.body);
    assert_signed(&again, &secret);
}

#[tokio::test]
async fn two_nodes_deliver_each_event_once() {
    let app = spawn_app().await;
    let _node_b = new_node(&app.db_url, |_| {}).await;
    let _node_c = new_node(&app.db_url, |_| {}).await;
    let admin = app.signed_in_as(Who::Admin).await;
    let receiver = Receiver::start().await;
    let (id, _) = make_key(&app, ENV, "busy", &["read"], None);
    add_endpoint(&app, &admin, &receiver.url).await;
    const EVENTS: usize = 30;
    for i in 0..EVENTS {
        admin.switch(id, i % 2 == 1).await;
    }
    eventually(
        Duration::from_secs(15),
        "every event delivered",
        async || {
            let rows = deliveries(&app);
            rows.len() == EVENTS && rows.iter().all(|d| d.state == "delivered")
        },
    )
    .await;
    let mut seen: HashMap<String, usize> = HashMap::new();
    for r in receiver.received() {
        *seen
            .entry(r.json()["id"].as_str().unwrap().to_owned())
            .or_default() += 1;
    }
    assert_eq!(seen.len(), EVENTS);
    assert!(
        seen.values().all(|n| *n == 1),
        "an event was delivered twice: {seen:?}"
    );
    assert!(deliveries(&app).iter().all(|d| d.attempts == 1));
}

#[tokio::test]
async fn an_event_written_while_the_receiver_is_down_is_delivered_when_it_comes_back() {
    let clock = ManualClock::starting_at(Utc::now());
    let app = spawn_app_with_clock(clock.clone()).await;
    let admin = app.signed_in_as(Who::Admin).await;
    // A port nobody listens on, for now.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    drop(listener);
    let url = format!("http://127.0.0.1:{port}/hooks");
    let (id, _) = make_key(&app, ENV, "patient", &["read"], None);
    add_endpoint(&app, &admin, &url).await;
    admin.switch(id, false).await;
    let first = tried(&app, 1).await;
    assert_eq!((first.state.as_str(), first.last_status), ("pending", None));
    eventually(
        Duration::from_secs(10),
        "the pending count on /metrics",
        async || metric(&app.address, "keyward_webhook_deliveries_pending").await == 1.0,
    )
    .await;

    let receiver = Receiver::on(std::net::TcpListener::bind(("127.0.0.1", port)).unwrap());
    clock.advance(TimeDelta::seconds(5));
    let second = tried(&app, 2).await;
    assert_eq!(second.state, "delivered");
    assert_eq!(receiver.received().len(), 1);
    assert_eq!(receiver.received()[0].json()["type"], "api_key.disabled");
}

#[tokio::test]
async fn an_endpoint_failing_every_delivery_for_24_hours_is_switched_off_and_shown_so() {
    let clock = ManualClock::starting_at(Utc::now());
    let app = spawn_app_with_clock(clock.clone()).await;
    let admin = app.signed_in_as(Who::Admin).await;
    let receiver = Receiver::start().await;
    receiver.always_answer(500);
    let (id, _) = make_key(&app, ENV, "flaky", &["read"], None);
    let (endpoint, _) = add_endpoint(&app, &admin, &receiver.url).await;
    admin.switch(id, false).await;
    tried(&app, 1).await;
    clock.advance(TimeDelta::hours(25));
    admin.switch(id, true).await;
    eventually(
        Duration::from_secs(10),
        "the endpoint switched off",
        async || {
            !webhook_endpoints::table
                .find(endpoint)
                .select(webhook_endpoints::enabled)
                .first::<bool>(&mut app.conn())
                .unwrap()
        },
    )
    .await;
    let page = admin.get(&format!("{}/{endpoint}", webhooks_path())).await;
    assert!(page.body.contains("Off: failing"), "{}", page.body);
    assert!(page.body.contains("every delivery failed for 24 hours"));
    let list = admin.get(&webhooks_path()).await;
    assert!(list.body.contains("Off: failing"));
    assert!(app.audit_actions().contains(&"webhook.disabled".to_owned()));
    // An endpoint that is off gets no new deliveries.
    let before = deliveries(&app).len();
    admin.switch(id, false).await;
    assert_eq!(deliveries(&app).len(), before);
}

#[tokio::test]
async fn endpoint_urls_must_be_https_or_loopback_http() {
    let app = spawn_app().await;
    let admin = app.signed_in_as(Who::Admin).await;
    let long = format!("https://example.com/{}", "a".repeat(2100));
    for (url, message) in [
        ("", "Enter the endpoint&#39;s URL."),
        ("http://example.com/hook", "Use an https:// URL."),
        ("http://10.1.2.3/hook", "Use an https:// URL."),
        ("ftp://example.com/", "Use an https:// URL."),
        ("not a url", "may not contain spaces"),
        ("example.com/hook", "This is not a URL."),
        (
            "https://user:pw@example.com/",
            "may not carry a user name or password",
        ),
        (long.as_str(), "at most 2000 characters"),
    ] {
        let page = admin
            .post_form(
                &webhooks_path(),
                &[("url", url), ("events", "api_key.created")],
            )
            .await;
        assert_eq!(page.status, StatusCode::UNPROCESSABLE_ENTITY, "{url}");
        assert!(
            page.body.contains(message),
            "{url}: expected {message:?} in the page"
        );
        assert!(revealed_secret(&page.body).is_none());
    }
    let none = admin
        .post_form(&webhooks_path(), &[("url", "https://example.com/hook")])
        .await;
    assert_eq!(none.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(none.body.contains("Choose at least one event to send."));
    let unknown = admin
        .post_form(
            &webhooks_path(),
            &[
                ("url", "https://example.com/hook"),
                ("events", "user.created"),
            ],
        )
        .await;
    assert_eq!(unknown.status, StatusCode::UNPROCESSABLE_ENTITY);
    let count: i64 = webhook_endpoints::table
        .count()
        .get_result(&mut app.conn())
        .unwrap();
    assert_eq!(count, 0, "nothing saved");
    for ok in [
        "https://example.com/hook",
        "http://localhost:9/x",
        "http://[::1]:9/x",
    ] {
        let page = admin
            .post_form(
                &webhooks_path(),
                &[("url", ok), ("events", "api_key.created")],
            )
            .await;
        assert_eq!(page.status, StatusCode::OK, "{ok}");
    }
}

#[tokio::test]
async fn members_may_not_see_or_manage_webhooks() {
    let app = spawn_app().await;
    let admin = app.signed_in_as(Who::Admin).await;
    let (endpoint, _) = add_endpoint(&app, &admin, "https://example.com/hook").await;
    let member = app.signed_in_as(Who::Member).await;
    assert_eq!(
        member.get(&webhooks_path()).await.status,
        StatusCode::FORBIDDEN
    );
    let base = format!("{}/{endpoint}", webhooks_path());
    assert_eq!(member.get(&base).await.status, StatusCode::FORBIDDEN);
    for (path, form) in [
        (
            webhooks_path(),
            vec![
                ("url", "https://evil.example/"),
                ("events", "api_key.created"),
            ],
        ),
        (format!("{base}/enabled"), vec![("enabled", "false")]),
        (format!("{base}/secret"), vec![]),
        (format!("{base}/delete"), vec![]),
    ] {
        let answer = member.post_form(&path, &form).await;
        assert_eq!(answer.status, StatusCode::FORBIDDEN, "{path}");
    }
    let count: i64 = webhook_endpoints::table
        .count()
        .get_result(&mut app.conn())
        .unwrap();
    assert_eq!(count, 1);
    let outsider = app.signed_in_as(Who::Outsider).await;
    assert_eq!(
        outsider.get(&webhooks_path()).await.status,
        StatusCode::NOT_FOUND
    );
    let owner = app.signed_in_as(Who::Owner).await;
    assert_eq!(owner.get(&webhooks_path()).await.status, StatusCode::OK);
}

#[tokio::test]
async fn the_signing_secret_is_shown_once_stored_sealed_and_rolled() {
    let app = spawn_app().await;
    let admin = app.signed_in_as(Who::Admin).await;
    let receiver = Receiver::start().await;
    let (id, _) = make_key(&app, ENV, "signed", &["read"], None);
    let (endpoint, secret) = add_endpoint(&app, &admin, &receiver.url).await;
    assert!(secret.starts_with("whsec_") && secret.len() == 6 + 64);
    let base = format!("{}/{endpoint}", webhooks_path());
    for path in [
        webhooks_path(),
        base.clone(),
        format!("/projects/{PROJECT}/environments/{ENV}/activity"),
    ] {
        let page = admin.get(&path).await;
        assert_eq!(page.status, StatusCode::OK);
        assert!(
            !page.body.contains(&secret),
            "{path} shows the secret again"
        );
    }
    let sealed: Vec<u8> = webhook_endpoints::table
        .find(endpoint)
        .select(webhook_endpoints::secret_sealed)
        .first(&mut app.conn())
        .unwrap();
    assert!(!sealed.windows(16).any(|w| w == &secret.as_bytes()[..16]));
    let details: Vec<String> = audit_events::table
        .select(audit_events::details)
        .load(&mut app.conn())
        .unwrap();
    assert!(details.iter().all(|d| !d.contains(&secret)));

    let rolled = admin.post_form(&format!("{base}/secret"), &[]).await;
    assert_eq!(rolled.status, StatusCode::OK);
    assert_eq!(rolled.headers.get("cache-control").unwrap(), "no-store");
    let new_secret = revealed_secret(&rolled.body).unwrap();
    assert_ne!(new_secret, secret);
    assert!(!admin.get(&base).await.body.contains(&new_secret));
    admin.switch(id, false).await;
    let got = eventually(Duration::from_secs(5), "a delivery", async || {
        receiver.received().into_iter().next()
    })
    .await;
    assert_signed(&got, &new_secret);
    let actions = app.audit_actions();
    for a in ["webhook.created", "webhook.secret_rolled"] {
        assert!(actions.contains(&a.to_owned()), "{a}");
    }
}

#[tokio::test]
async fn disable_enable_and_delete_an_endpoint_and_choose_its_events() {
    let app = spawn_app().await;
    let admin = app.signed_in_as(Who::Admin).await;
    let receiver = Receiver::start().await;
    let page = admin
        .post_form(
            &webhooks_path(),
            &[
                ("url", receiver.url.as_str()),
                ("events", "api_key.revoked"),
            ],
        )
        .await;
    assert_eq!(page.status, StatusCode::OK);
    let endpoint: i64 = webhook_endpoints::table
        .select(webhook_endpoints::id)
        .first(&mut app.conn())
        .unwrap();
    let (id, _) = make_key(&app, ENV, "chosen", &["read"], None);
    admin.switch(id, false).await; // not chosen: no delivery
    let base = format!("{}/{endpoint}", webhooks_path());
    let off = admin
        .post_form(&format!("{base}/enabled"), &[("enabled", "false")])
        .await;
    assert_eq!(off.status, StatusCode::SEE_OTHER);
    admin.revoke(id).await; // the endpoint is off: no delivery
    assert!(deliveries(&app).is_empty());
    admin
        .post_form(&format!("{base}/enabled"), &[("enabled", "true")])
        .await;
    let (other, _) = make_key(&app, ENV, "second", &["read"], None);
    admin.revoke(other).await;
    eventually(
        Duration::from_secs(5),
        "the revocation delivered",
        async || receiver.received().len() == 1,
    )
    .await;
    assert_eq!(receiver.received()[0].json()["type"], "api_key.revoked");
    assert_eq!(
        receiver.received()[0].json()["data"]["key"]["id"],
        other.get()
    );
    let gone = admin.post_form(&format!("{base}/delete"), &[]).await;
    assert_eq!(gone.status, StatusCode::SEE_OTHER);
    assert_eq!(admin.get(&base).await.status, StatusCode::NOT_FOUND);
    let actions = app.audit_actions();
    for a in [
        "webhook.created",
        "webhook.disabled",
        "webhook.enabled",
        "webhook.deleted",
    ] {
        assert!(actions.contains(&a.to_owned()), "{a}");
    }
}

#[tokio::test]
async fn every_path_that_changes_a_key_writes_its_event_to_the_outbox() {
    let app = spawn_app().await;
    let admin = app.signed_in_as(Who::Admin).await;
    add_endpoint(&app, &admin, "https://example.invalid/hook").await;
    // Dashboard create, API PATCH (disable), API rotate, API revoke.
    let (_, admin_key) = make_key(&app, ENV, "automation", &["admin"], None);
    let created = api(
        &app.address,
        reqwest::Method::POST,
        "/api/v1/api-keys",
        Some(&admin_key),
        Some(serde_json::json!({"name": "via-api", "type": "secret", "scopes": ["read"]})),
    )
    .await;
    assert_eq!(created.status, StatusCode::CREATED);
    let id = KeyId(created.json["id"].as_i64().unwrap());
    let path = format!("/api/v1/api-keys/{id}");
    api(
        &app.address,
        reqwest::Method::PATCH,
        &path,
        Some(&admin_key),
        Some(serde_json::json!({"enabled": false})),
    )
    .await;
    api(
        &app.address,
        reqwest::Method::POST,
        &format!("{path}/rotate"),
        Some(&admin_key),
        None,
    )
    .await;
    api(
        &app.address,
        reqwest::Method::DELETE,
        &path,
        Some(&admin_key),
        None,
    )
    .await;
    let types: Vec<String> = webhook_deliveries::table
        .order(webhook_deliveries::id.asc())
        .select(webhook_deliveries::event_type)
        .load(&mut app.conn())
        .unwrap();
    assert_eq!(
        types,
        [
            "api_key.created",
            "api_key.created",
            "api_key.disabled",
            "api_key.rotated",
            "api_key.revoked"
        ]
    );
}

#[tokio::test]
async fn a_delivery_held_by_a_node_that_died_is_sent_by_another_once_its_lease_runs_out() {
    let clock = ManualClock::starting_at(Utc::now());
    let app = spawn_app_with_clock(clock.clone()).await;
    let admin = app.signed_in_as(Who::Admin).await;
    let receiver = Receiver::start().await;
    let (id, _) = make_key(&app, ENV, "orphan", &["read"], None);
    add_endpoint(&app, &admin, &receiver.url).await;
    // Another node switched the key off and claimed the event in one go (its lease runs 60 s
    // on the clock), then died before sending: no worker could see the row before that claim.
    let now = keyward::clock::Clock::now(&*clock);
    let change = keyward::services::Change {
        actor: Default::default(),
        now,
        cache: std::sync::Arc::new(keyward::verify::cache::KeyCache::new()),
    };
    let env_id = app.environment_id(ENV);
    let claimed = app
        .conn()
        .transaction::<_, keyward::error::AppError, _>(|conn| {
            keyward::services::keys::set_enabled(conn, env_id, id, false, &change)?;
            Ok(keyward::db::webhooks::claim_due(
                conn,
                now,
                TimeDelta::seconds(60),
                10,
            )?)
        })
        .unwrap();
    assert_eq!(claimed.len(), 1);
    clock.advance(TimeDelta::seconds(30));
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert!(receiver.received().is_empty(), "held by its lease");
    clock.advance(TimeDelta::seconds(31));
    eventually(
        Duration::from_secs(5),
        "the orphaned delivery sent",
        async || receiver.received().len() == 1,
    )
    .await;
    let row = tried(&app, 2).await;
    assert_eq!(row.state, "delivered");
}

#[tokio::test]
async fn delivery_history_is_pruned_after_30_days_by_one_node_at_a_time() {
    let app = spawn_app().await;
    let admin = app.signed_in_as(Who::Admin).await;
    let (id, _) = make_key(&app, ENV, "old news", &["read"], None);
    add_endpoint(&app, &admin, "https://example.invalid/hook").await;
    admin.switch(id, false).await;
    admin.switch(id, true).await;
    let mut conn = app.conn();
    diesel::sql_query(
        "UPDATE webhook_deliveries SET created_at = now() - interval '31 days'
          WHERE id = (SELECT min(id) FROM webhook_deliveries)",
    )
    .execute(&mut conn)
    .unwrap();
    // Another node pruning at the same moment: this one skips.
    let mut other = app.conn();
    other
        .transaction::<_, diesel::result::Error, _>(|other| {
            diesel::sql_query(format!(
                "SELECT pg_advisory_xact_lock({})",
                keyward::db::webhooks::PRUNE_LOCK
            ))
            .execute(other)?;
            let skipped =
                keyward::db::webhooks::prune(&mut conn, Utc::now() - TimeDelta::days(30)).unwrap();
            assert_eq!(skipped, None);
            Ok(())
        })
        .unwrap();
    let pruned = keyward::db::webhooks::prune(&mut conn, Utc::now() - TimeDelta::days(30)).unwrap();
    assert_eq!(pruned, Some(1));
    assert_eq!(deliveries(&app).len(), 1);
}

#[tokio::test]
async fn a_bulk_switch_off_sends_each_key_its_own_event() {
    let app = spawn_app().await;
    let admin = app.signed_in_as(Who::Admin).await;
    let (a, _) = make_key(&app, ENV, "bulk a", &["read"], None);
    let (b, _) = make_key(&app, ENV, "bulk b", &["read"], None);
    let receiver = Receiver::start().await;
    add_endpoint(&app, &admin, &receiver.url).await;
    let (a_id, b_id) = (a.to_string(), b.to_string());
    let form = [
        ("action", "off"),
        ("view", ""),
        ("key", a_id.as_str()),
        ("key", b_id.as_str()),
    ];
    let answer = admin
        .post_form(&format!("{}/bulk", keys_path(ENV)), &form)
        .await;
    assert!(answer.status.is_success() || answer.status.is_redirection());
    let got = eventually(Duration::from_secs(5), "two bulk events", async || {
        let got = receiver.received();
        (got.len() == 2).then_some(got)
    })
    .await;
    let mut keys: Vec<i64> = got
        .iter()
        .map(|r| {
            let body = r.json();
            assert_eq!(body["type"], "api_key.disabled");
            body["data"]["key"]["id"].as_i64().unwrap()
        })
        .collect();
    keys.sort_unstable();
    assert_eq!(keys, [a.get(), b.get()]);
    assert_ne!(got[0].json()["id"], got[1].json()["id"]);
}
