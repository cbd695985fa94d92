//! Leak reports in GitHub's secret-scanning partner format (SPEC §12).

use std::time::Duration;

use base64::Engine;
use diesel::prelude::*;
use keyward::db::schema::{audit_events, webhook_deliveries};
use keyward::domain::leak::ScanningKeys;
use p256::ecdsa::SigningKey;
use p256::ecdsa::signature::Signer;
use p256::pkcs8::EncodePublicKey;
use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::*;

const KEY_ID: &str = "test-key-1";
const REPORT: &str = "/api/v1/secret-scanning/github";
const LEAK_URL: &str = "https://github.com/example/repo/blob/abc/config.env";

/// A P-256 key pair made for the test, its public half in a GitHub-format key file.
struct Scanner {
    signing: SigningKey,
    keys: ScanningKeys,
    _dir: TempDir,
}

struct TempDir(std::path::PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

impl Scanner {
    fn new() -> Self {
        let signing = SigningKey::random(&mut rand_core::OsRng);
        let pem = signing
            .verifying_key()
            .to_public_key_pem(p256::pkcs8::LineEnding::LF)
            .unwrap();
        let dir = std::env::temp_dir().join(format!(
            "keyward-scanning-{}",
            keyward::auth::random_token(6).unwrap()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("keys.json");
        let file = json!({"public_keys": [
            {"key_identifier": KEY_ID, "key": pem, "is_current": true}
        ]});
        std::fs::write(&path, file.to_string()).unwrap();
        Self {
            signing,
            keys: ScanningKeys::load(&path).unwrap(),
            _dir: TempDir(dir),
        }
    }

    fn sign(&self, body: &[u8]) -> String {
        let signature: p256::ecdsa::Signature = self.signing.sign(body);
        base64::engine::general_purpose::STANDARD.encode(signature.to_der().as_bytes())
    }
}

async fn post(base: &str, body: Vec<u8>, headers: &[(&str, String)]) -> (StatusCode, String) {
    let mut request = reqwest::Client::new()
        .post(format!("{base}{REPORT}"))
        .header("content-type", "application/json")
        .body(body);
    for (name, value) in headers {
        request = request.header(*name, value);
    }
    let response = request.send().await.unwrap();
    (response.status(), response.text().await.unwrap())
}

async fn report(
    base: &str,
    scanner: &Scanner,
    tokens: serde_json::Value,
) -> (StatusCode, serde_json::Value) {
    let body = tokens.to_string().into_bytes();
    let signature = scanner.sign(&body);
    let (status, text) = post(
        base,
        body,
        &[
            ("Github-Public-Key-Identifier", KEY_ID.to_owned()),
            ("Github-Public-Key-Signature", signature),
        ],
    )
    .await;
    (
        status,
        serde_json::from_str(&text).unwrap_or(serde_json::Value::Null),
    )
}

type Headers = Vec<(&'static str, String)>;

fn sha256_hex(text: &str) -> String {
    keyward::domain::leak::token_hash(text)
}

fn leak_events(app: &TestApp) -> Vec<(String, String)> {
    audit_events::table
        .order(audit_events::id.asc())
        .select((audit_events::action, audit_events::actor_type))
        .load(&mut app.conn())
        .unwrap()
}

#[tokio::test]
async fn a_signed_report_of_a_live_key_switches_it_off_on_every_node_with_badge_audit_and_webhooks()
{
    let scanner = Scanner::new();
    let keys = scanner.keys.clone();
    let app = spawn_app_with(move |c| c.secret_scanning_keys = keys).await;
    let node_b = new_node(&app.db_url, |_| {}).await;
    let admin = app.signed_in_as(Who::Admin).await;
    let (id, plaintext) = make_key(&app, ENV, "leaky", &["read"], None);
    crate::webhooks::add_endpoint(&app, &admin, "https://example.invalid/hook").await;
    // Node B has the key in memory.
    assert_eq!(
        verify(&node_b, Some(&plaintext), None).await.code(),
        "VALID"
    );

    let (status, feedback) = report(
        &app.address,
        &scanner,
        json!([{"token": plaintext, "type": "keyward_secret_key", "url": LEAK_URL, "source": "content"}]),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{feedback}");
    assert_eq!(
        feedback,
        json!([{"token_hash": sha256_hex(&plaintext), "token_type": "keyward_secret_key", "label": "true_positive"}])
    );
    assert!(!feedback.to_string().contains(&plaintext));

    assert_eq!(
        verify(&app.address, Some(&plaintext), None).await.code(),
        "DISABLED"
    );
    eventually(
        Duration::from_secs(5),
        "node B refuses the leaked key",
        async || verify(&node_b, Some(&plaintext), None).await.code() == "DISABLED",
    )
    .await;

    let events = leak_events(&app);
    let leaked = events
        .iter()
        .position(|(a, _)| a == "api_key.leaked")
        .unwrap();
    assert_eq!(events[leaked].1, "leak_report");
    assert_eq!(
        events[leaked + 1],
        ("api_key.disabled".to_owned(), "leak_report".to_owned())
    );
    let details: String = audit_events::table
        .filter(audit_events::action.eq("api_key.leaked"))
        .select(audit_events::details)
        .first(&mut app.conn())
        .unwrap();
    assert!(details.contains(LEAK_URL) && details.contains("content"));
    assert!(!details.contains(&plaintext));

    let list = admin.get(&keys_path(ENV)).await;
    assert!(
        list.body.contains(&format!(
            "href=\"{LEAK_URL}\" rel=\"noopener noreferrer\">Leaked</a>"
        )),
        "{}",
        list.body
    );
    let page = admin.get(&format!("{}/{id}", keys_path(ENV))).await;
    assert!(page.body.contains("id=\"key-leaked\""));
    let activity = admin
        .get(&format!("/projects/{PROJECT}/environments/{ENV}/activity"))
        .await;
    assert!(activity.body.contains("Leak report"));

    let types: Vec<String> = webhook_deliveries::table
        .order(webhook_deliveries::id.asc())
        .select(webhook_deliveries::event_type)
        .load(&mut app.conn())
        .unwrap();
    assert_eq!(types, ["api_key.leaked", "api_key.disabled"]);
    let payload: String = webhook_deliveries::table
        .filter(webhook_deliveries::event_type.eq("api_key.leaked"))
        .select(webhook_deliveries::payload)
        .first(&mut app.conn())
        .unwrap();
    let payload: serde_json::Value = serde_json::from_str(&payload).unwrap();
    assert_eq!(payload["data"]["leak"]["url"], LEAK_URL);
    assert!(!payload.to_string().contains(&plaintext));

    // Reported again: still a true positive, nothing more changes for a key already off.
    let before = leak_events(&app).len();
    report(
        &app.address,
        &scanner,
        json!([{"token": plaintext, "type": "t", "url": LEAK_URL, "source": "content"}]),
    )
    .await;
    let after = leak_events(&app);
    assert_eq!(
        after.len(),
        before + 1,
        "one more api_key.leaked, no second disable"
    );
}

#[tokio::test]
async fn with_leak_action_revoke_a_reported_key_is_revoked_and_a_revoked_key_changes_nothing() {
    let scanner = Scanner::new();
    let keys = scanner.keys.clone();
    let app = spawn_app_with(move |c| {
        c.secret_scanning_keys = keys;
        c.leak_action = keyward::domain::leak::LeakAction::Revoke;
    })
    .await;
    let (_, plaintext) = make_key(&app, ENV, "revoke-me", &["read"], None);
    let (status, feedback) = report(
        &app.address,
        &scanner,
        json!([{"token": plaintext, "type": "kw", "url": LEAK_URL, "source": "commit"}]),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(feedback[0]["label"], "true_positive");
    assert_eq!(
        verify(&app.address, Some(&plaintext), None).await.code(),
        "REVOKED"
    );
    let actions = app.audit_actions();
    assert_eq!(
        &actions[..2],
        ["api_key.revoked", "api_key.leaked"],
        "newest first"
    );

    let before = app.audit_actions().len();
    let (status, feedback) = report(
        &app.address,
        &scanner,
        json!([{"token": plaintext, "type": "kw", "url": LEAK_URL, "source": "commit"}]),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(feedback[0]["label"], "true_positive");
    assert_eq!(
        app.audit_actions().len(),
        before,
        "a revoked key changes nothing"
    );
}

#[tokio::test]
async fn bad_unknown_or_missing_signatures_get_401_and_change_nothing() {
    let scanner = Scanner::new();
    let keys = scanner.keys.clone();
    let app = spawn_app_with(move |c| c.secret_scanning_keys = keys).await;
    let (_, plaintext) = make_key(&app, ENV, "safe", &["read"], None);
    let body = json!([{"token": plaintext, "type": "kw", "url": LEAK_URL, "source": "content"}])
        .to_string()
        .into_bytes();
    let good = scanner.sign(&body);
    let other = Scanner::new().sign(&body);
    let tampered = {
        let mut b = body.clone();
        b.extend_from_slice(b" ");
        b
    };
    let cases: Vec<(&str, Vec<u8>, Headers)> = vec![
        ("no headers", body.clone(), vec![]),
        (
            "no signature",
            body.clone(),
            vec![("Github-Public-Key-Identifier", KEY_ID.to_owned())],
        ),
        (
            "no identifier",
            body.clone(),
            vec![("Github-Public-Key-Signature", good.clone())],
        ),
        (
            "unknown identifier",
            body.clone(),
            vec![
                ("Github-Public-Key-Identifier", "another".to_owned()),
                ("Github-Public-Key-Signature", good.clone()),
            ],
        ),
        (
            "another key's signature",
            body.clone(),
            vec![
                ("Github-Public-Key-Identifier", KEY_ID.to_owned()),
                ("Github-Public-Key-Signature", other),
            ],
        ),
        (
            "a changed body",
            tampered,
            vec![
                ("Github-Public-Key-Identifier", KEY_ID.to_owned()),
                ("Github-Public-Key-Signature", good.clone()),
            ],
        ),
        (
            "not base64",
            body.clone(),
            vec![
                ("Github-Public-Key-Identifier", KEY_ID.to_owned()),
                ("Github-Public-Key-Signature", "%%%".to_owned()),
            ],
        ),
    ];
    let before = app.audit_actions().len();
    for (what, body, headers) in cases {
        let (status, text) = post(&app.address, body, &headers).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{what}: {text}");
        assert!(text.contains("UNAUTHENTICATED"), "{what}: {text}");
    }
    assert_eq!(app.audit_actions().len(), before);
    assert_eq!(
        verify(&app.address, Some(&plaintext), None).await.code(),
        "VALID"
    );

    // An installation without KEYWARD_SECRET_SCANNING_KEYS takes no report at all.
    let bare = spawn_app().await;
    let (status, _) = post(
        &bare.address,
        body,
        &[
            ("Github-Public-Key-Identifier", KEY_ID.to_owned()),
            ("Github-Public-Key-Signature", good),
        ],
    )
    .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn unknown_and_malformed_tokens_are_false_positives() {
    let scanner = Scanner::new();
    let keys = scanner.keys.clone();
    let app = spawn_app_with(move |c| c.secret_scanning_keys = keys).await;
    let (_, plaintext) = make_key(&app, ENV, "mine", &["read"], None);
    // Well-formed (good checksum) but no key of this installation.
    let stranger = keyward::domain::key_format::PlainApiKey::generate(
        &Default::default(),
        keyward::domain::api_key::KeyType::Secret,
        &keyward::domain::key_format::KeyTag::parse("live").unwrap(),
    )
    .unwrap();
    let mut bad_check = plaintext.clone();
    bad_check.pop();
    bad_check.push(if plaintext.ends_with('A') { 'B' } else { 'A' });
    let (status, feedback) = report(
        &app.address,
        &scanner,
        json!([
            {"token": stranger.expose(), "type": "a", "url": LEAK_URL, "source": "content"},
            {"token": "sk_live_not_ours", "type": "b", "url": LEAK_URL, "source": "content"},
            {"token": bad_check, "type": "c", "url": LEAK_URL, "source": "content"},
            {"token": plaintext, "type": "d", "url": "javascript:alert(1)", "source": "content"},
        ]),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let labels: Vec<_> = feedback
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["label"].as_str().unwrap())
        .collect();
    assert_eq!(
        labels,
        [
            "false_positive",
            "false_positive",
            "false_positive",
            "true_positive"
        ]
    );
    assert_eq!(feedback[1]["token_hash"], sha256_hex("sk_live_not_ours"));
    assert_eq!(feedback[1]["token_type"], "b");
    // A link that is not a web address is never rendered as one.
    let admin = app.signed_in_as(Who::Admin).await;
    let list = admin.get(&keys_path(ENV)).await;
    assert!(
        list.body
            .contains("<span class=\"badge revoked\">Leaked</span>")
    );
    assert!(!list.body.contains("javascript:"));
}

#[tokio::test]
async fn oversize_reports_are_refused_before_anything_changes() {
    let scanner = Scanner::new();
    let keys = scanner.keys.clone();
    let app = spawn_app_with(move |c| c.secret_scanning_keys = keys).await;
    let (_, plaintext) = make_key(&app, ENV, "big", &["read"], None);
    let filler = "x".repeat(70 * 1024);
    let body = json!([{"token": plaintext, "type": filler, "url": LEAK_URL, "source": "content"}])
        .to_string()
        .into_bytes();
    let signature = scanner.sign(&body);
    let (status, _) = post(
        &app.address,
        body,
        &[
            ("Github-Public-Key-Identifier", KEY_ID.to_owned()),
            ("Github-Public-Key-Signature", signature),
        ],
    )
    .await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
    let many: Vec<_> = (0..1001)
        .map(|_| json!({"token": "t", "type": "t", "url": "", "source": ""}))
        .collect();
    let (status, answer) = report(&app.address, &scanner, json!(many)).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{answer}");
    assert!(answer.to_string().contains("at most 1000 tokens"));
    let (status, _) = report(&app.address, &scanner, json!({"token": "not a list"})).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        verify(&app.address, Some(&plaintext), None).await.code(),
        "VALID"
    );
}

/// Everything the app logs in this test process, at debug level.
#[derive(Clone, Default)]
struct Captured(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

impl std::io::Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test]
async fn no_plaintext_key_or_webhook_secret_reaches_a_log_line() {
    let captured = Captured::default();
    let writer = captured.clone();
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::new("debug"))
        .with_writer(move || writer.clone())
        .try_init();
    let scanner = Scanner::new();
    let keys = scanner.keys.clone();
    let app = spawn_app_with(move |c| c.secret_scanning_keys = keys).await;
    let admin = app.signed_in_as(Who::Admin).await;
    let receiver = crate::webhooks::Receiver::start().await;
    receiver.answer(&[500]);
    let (_, secret) = crate::webhooks::add_endpoint(&app, &admin, &receiver.url).await;
    let plaintext = app.create_key(&admin, "logged?", &["read"]).await;
    verify(&app.address, Some(&plaintext), None).await;
    let (status, _) = report(
        &app.address,
        &scanner,
        json!([{"token": plaintext, "type": "kw", "url": LEAK_URL, "source": "content"}]),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    eventually(
        Duration::from_secs(15),
        "the events delivered after a retry",
        async || receiver.received().len() >= 3,
    )
    .await;
    let logs = String::from_utf8_lossy(&captured.0.lock().unwrap()).into_owned();
    assert!(
        logs.contains("leak report named a live key"),
        "the logs were captured"
    );
    assert!(!logs.contains(&plaintext), "a plaintext key in the logs");
    assert!(!logs.contains(&secret), "a webhook secret in the logs");
    assert!(
        !logs.contains(&secret["whsec_".len()..]),
        "a webhook secret in the logs"
    );
}
