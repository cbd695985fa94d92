//! Hostile input: whatever text a person or a program sends, the answer is never a 5xx, and a
//! refusal (4xx) changes nothing in the database.
//!
//! Each property runs its cases against one app (one database) inside one runtime, through
//! proptest's `TestRunner`, so a failure is shrunk to a small input before it is reported.

use diesel::prelude::*;
use diesel::sql_types::{BigInt, Text};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError, TestRunner};
use reqwest::StatusCode;
use reqwest::header::HeaderValue;

use crate::helpers::*;

/// Cases per property: enough to meet NUL bytes, bidi overrides and 10 000-character strings
/// in every field, few enough for two cores.
const CASES: u32 = 64;

/// Sign-in allows 50 failures per client address in 15 minutes, and every case comes from
/// 127.0.0.1: stay under it, so that every case reaches the handler rather than the throttle.
const LOGIN_CASES: u32 = 40;

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

fn runner(cases: u32) -> TestRunner {
    TestRunner::new(Config {
        cases,
        // Cases run against a live app: no regression files, and a bounded shrink.
        failure_persistence: None,
        max_shrink_iters: 256,
        ..Config::default()
    })
}

/// Runs a property and reports its shrunk failure, if any, as this test's panic.
fn check_property<S: Strategy>(
    cases: u32,
    strategy: S,
    test: impl Fn(S::Value) -> Result<(), TestCaseError>,
) where
    S::Value: std::fmt::Debug,
{
    if let Err(failure) = runner(cases).run(&strategy, test) {
        panic!("{failure}");
    }
}

/// Control characters: what PostgreSQL refuses (NUL), other C0 and C1 controls, DEL, line
/// breaks and tabs, and the bidi embeddings, overrides and isolates.
const CONTROLS: &[&str] = &[
    "\t",
    "\n",
    "\r\n",
    "\r",
    "\u{1b}[31m",
    "\u{7}",
    "\u{7f}",
    "\u{85}",
    "\u{9f}",
    "\u{202a}",
    "\u{202e}",
    "\u{2066}",
    "\u{2069}",
];

/// Other text that has broken text handling somewhere: invisible and odd code points, escapes
/// that mean NUL elsewhere, markup, SQL, and words the forms expect.
const ODD: &[&str] = &[
    "\u{200b}",
    "\u{200d}",
    "\u{2028}",
    "\u{feff}",
    "\u{fffd}",
    "\u{fffe}",
    "\u{ffff}",
    "\u{10ffff}",
    "\u{a0}",
    "\u{3000}",
    "é",
    "👩‍👩‍👧",
    "%00",
    "\\0",
    "\\u0000",
    "'",
    "\"",
    "<script>alert(1)</script>",
    "'; DROP TABLE users; --",
    "{{ csrf }}",
    "@",
    "admin@example.com",
    "owner",
    "read",
    "secret",
    " ",
];

/// Arbitrary text: NUL bytes (often), other control characters, any Unicode scalar, the odd
/// pieces above, plain words, and runs of up to 10 000 characters.
fn hostile() -> BoxedStrategy<String> {
    let piece = prop_oneof![
        4 => Just("\0".to_owned()),
        2 => prop::sample::select(CONTROLS).prop_map(str::to_owned),
        3 => any::<char>().prop_map(String::from),
        2 => prop::sample::select(ODD).prop_map(str::to_owned),
        2 => "[a-z@. ]{1,12}",
        1 => (0usize..=10_000).prop_map(|n| "a".repeat(n)),
        1 => (0usize..=2_500, any::<char>()).prop_map(|(n, c)| c.to_string().repeat(n)),
    ];
    prop::collection::vec(piece, 1..6)
        .prop_map(|pieces| pieces.concat())
        .boxed()
}

/// How hostile text spoils a good value: it takes its place, or goes before, after or inside it.
#[derive(Debug, Clone, Copy)]
enum Spoil {
    Replace,
    Before,
    After,
    Inside,
}

fn spoil(good: &str, bad: &str, how: Spoil) -> String {
    match how {
        Spoil::Replace => bad.to_owned(),
        Spoil::Before => format!("{bad}{good}"),
        Spoil::After => format!("{good}{bad}"),
        Spoil::Inside => {
            let middle = good.chars().count() / 2;
            let (head, tail) = good.split_at(
                good.char_indices()
                    .nth(middle)
                    .map_or(good.len(), |(i, _)| i),
            );
            format!("{head}{bad}{tail}")
        }
    }
}

/// A form as its fields' values: each drawn from what the form accepts, then one or two of them
/// spoiled with hostile text. The other fields stay good, so the spoiled one is what decides
/// the answer and is what reaches the database if nothing stops it.
fn spoiled<const N: usize>(good: [BoxedStrategy<String>; N]) -> BoxedStrategy<[String; N]> {
    let how = prop_oneof![
        Just(Spoil::Replace),
        Just(Spoil::Before),
        Just(Spoil::After),
        Just(Spoil::Inside),
    ];
    let count = prop_oneof![1 => Just(0), 6 => Just(1), 3 => Just(2)];
    let spoils =
        count.prop_flat_map(move |n| prop::collection::vec((0..N, hostile(), how.clone()), n));
    (good, spoils)
        .prop_map(|(mut values, spoils)| {
            for (i, bad, how) in spoils {
                values[i] = spoil(&values[i], &bad, how);
            }
            values
        })
        .boxed()
}

fn good(pattern: &'static str) -> BoxedStrategy<String> {
    pattern.boxed()
}

fn one_of(choices: &'static [&'static str]) -> BoxedStrategy<String> {
    prop::sample::select(choices)
        .prop_map(str::to_owned)
        .boxed()
}

/// The rows every form and API call here could touch, each table as (name, rows, digest of
/// its contents). `last_used_at` is left out: verifications write it in the background.
#[derive(Debug, PartialEq, Eq, QueryableByName)]
struct TableState {
    #[diesel(sql_type = Text)]
    table_name: String,
    #[diesel(sql_type = BigInt)]
    rows: i64,
    #[diesel(sql_type = Text)]
    digest: String,
}

fn snapshot(app: &TestApp) -> Vec<TableState> {
    let tables = [
        ("api_keys", "to_jsonb(t) - 'last_used_at'"),
        ("users", "to_jsonb(t)"),
        ("projects", "to_jsonb(t)"),
        ("environments", "to_jsonb(t)"),
        ("memberships", "to_jsonb(t)"),
        ("audit_events", "to_jsonb(t)"),
    ];
    let query = tables
        .iter()
        .map(|(table, row)| {
            format!(
                "SELECT '{table}' AS table_name, count(*) AS rows, \
                 coalesce(md5(string_agg(r, E'\\n' ORDER BY r)), '') AS digest \
                 FROM (SELECT ({row})::text AS r FROM {table} t) s"
            )
        })
        .collect::<Vec<_>>()
        .join(" UNION ALL ");
    diesel::sql_query(query).load(&mut app.conn()).unwrap()
}

fn shortened(body: &str) -> String {
    body.chars().take(400).collect()
}

/// The contract of every answer here: never a 5xx, and a 4xx leaves the database as it was.
fn judge(
    app: &TestApp,
    before: Vec<TableState>,
    status: StatusCode,
    body: &str,
) -> Result<(), TestCaseError> {
    prop_assert!(
        status.is_success() || status.is_redirection() || status.is_client_error(),
        "answered {status}: {}",
        shortened(body)
    );
    if status.is_client_error() {
        let after = snapshot(app);
        prop_assert_eq!(after, before, "a refusal ({}) changed the database", status);
    }
    Ok(())
}

/// The Add panel's text fields, in this order, and whether the write and admin boxes are ticked
/// (read always is; a ticked box sends "on", or the spoiled value in its place).
const PANEL_FIELDS: [&str; 9] = [
    "name",
    "description",
    "type",
    "expiration",
    "expires_on",
    "rate_limit",
    "scope_read",
    "scope_write",
    "scope_admin",
];

fn add_panel_form() -> impl Strategy<Value = ([String; 9], [bool; 2])> {
    let fields = spoiled([
        good("[A-Za-z0-9][A-Za-z0-9 _.-]{0,30}"),
        good("[A-Za-z0-9 ,.]{0,80}"),
        prop_oneof![3 => Just("secret".to_owned()), 1 => Just("publishable".to_owned())].boxed(),
        one_of(&["never", "30", "90", "365", "date"]),
        Just("2099-12-31".to_owned()).boxed(),
        prop_oneof![Just(String::new()), "[1-9][0-9]{0,5}"].boxed(),
        Just("on".to_owned()).boxed(),
        Just("on".to_owned()).boxed(),
        Just("on".to_owned()).boxed(),
    ]);
    (fields, any::<[bool; 2]>())
}

#[test]
fn no_add_panel_input_gives_a_500_and_a_refused_one_saves_nothing() {
    let rt = runtime();
    let (app, admin) = rt.block_on(async {
        let app = spawn_app().await;
        let admin = app.signed_in_as(Who::Admin).await;
        (app, admin)
    });
    check_property(CASES, add_panel_form(), |(values, ticked)| {
        rt.block_on(async {
            let sent = [
                true, true, true, true, true, true, true, ticked[0], ticked[1],
            ];
            let fields: Vec<(&str, &str)> = PANEL_FIELDS
                .iter()
                .zip(&values)
                .zip(sent)
                .filter(|(_, sent)| *sent)
                .map(|((name, value), _)| (*name, value.as_str()))
                .collect();
            let before = snapshot(&app);
            let answer = admin.post_form(&keys_path(ENV), &fields).await;
            judge(&app, before, answer.status, &answer.body)
        })
    });
    rt.block_on(async move { drop(app) });
}

#[derive(Debug, Clone)]
enum AdminForm {
    User([String; 3]),
    Project([String; 1]),
}

fn admin_form() -> impl Strategy<Value = AdminForm> {
    prop_oneof![
        spoiled([
            good("[a-z]{1,10}@example\\.com"),
            good("[A-Za-z][A-Za-z ]{0,20}"),
            good("[A-Za-z0-9]{12,24}"),
        ])
        .prop_map(AdminForm::User),
        spoiled([good("[A-Za-z][A-Za-z0-9 ]{0,20}")]).prop_map(AdminForm::Project),
    ]
}

#[test]
fn no_admin_form_input_gives_a_500_and_a_refused_one_saves_nothing() {
    let rt = runtime();
    let (app, admin) = rt.block_on(async {
        let app = spawn_app().await;
        let admin = app.signed_in_as(Who::Admin).await;
        (app, admin)
    });
    check_property(CASES, admin_form(), |form| {
        rt.block_on(async {
            let before = snapshot(&app);
            let answer = match &form {
                AdminForm::User([email, display_name, password]) => {
                    let fields = [
                        ("email", email.as_str()),
                        ("display_name", display_name),
                        ("password", password),
                    ];
                    admin.post_form("/admin/users", &fields).await
                }
                AdminForm::Project([name]) => {
                    admin.post_form("/admin/projects", &[("name", name)]).await
                }
            };
            judge(&app, before, answer.status, &answer.body)
        })
    });
    rt.block_on(async move { drop(app) });
}

#[derive(Debug, Clone)]
enum MembersForm {
    Add([String; 2]),
    ChangeRole([String; 1]),
}

fn members_form() -> impl Strategy<Value = MembersForm> {
    let role = || one_of(&["owner", "member", "Owner", "Member"]);
    prop_oneof![
        spoiled([
            one_of(&["ann@example.com", "bob@example.com", "nobody@example.com"]),
            role(),
        ])
        .prop_map(MembersForm::Add),
        spoiled([role()]).prop_map(MembersForm::ChangeRole),
    ]
}

#[test]
fn no_members_form_input_gives_a_500_and_a_refused_one_saves_nothing() {
    let rt = runtime();
    let (app, admin, bob) = rt.block_on(async {
        let app = spawn_app().await;
        let admin = app.signed_in_as(Who::Admin).await;
        app.create_user("ann@example.com", None);
        let bob = app.create_user(
            "bob@example.com",
            Some((keyward::domain::user::Role::Member, ENV)),
        );
        (app, admin, bob)
    });
    check_property(CASES, members_form(), |form| {
        rt.block_on(async {
            let before = snapshot(&app);
            let answer = match &form {
                MembersForm::Add([email, role]) => {
                    admin
                        .post_form(&members_path(ENV), &[("email", email), ("role", role)])
                        .await
                }
                MembersForm::ChangeRole([role]) => {
                    let path = format!("{}/{bob}/role", members_path(ENV));
                    admin.post_form(&path, &[("role", role)]).await
                }
            };
            judge(&app, before, answer.status, &answer.body)
        })
    });
    rt.block_on(async move { drop(app) });
}

#[test]
fn no_login_form_input_gives_a_500_and_a_refused_one_saves_nothing() {
    let rt = runtime();
    let app = rt.block_on(spawn_app());
    let login = spoiled([
        one_of(&[ADMIN_EMAIL, "ADMIN@example.com", "nobody@example.com"]),
        prop_oneof![Just(PASSWORD.to_owned()), "[a-z ]{0,30}"].boxed(),
    ]);
    check_property(LOGIN_CASES, login, |[email, password]| {
        rt.block_on(async {
            let client = app.browser_client();
            let before = snapshot(&app);
            let answer = client.sign_in(&email, &password).await;
            judge(&app, before, answer.status, &answer.body)
        })
    });
    rt.block_on(async move { drop(app) });
}

#[test]
fn an_email_with_a_nul_byte_is_refused_exactly_like_a_wrong_password() {
    let rt = runtime();
    rt.block_on(async {
        let app = spawn_app().await;
        let client = app.browser_client();
        let wrong = client.sign_in(ADMIN_EMAIL, "not the password").await;
        assert_eq!(wrong.status, StatusCode::UNAUTHORIZED);
        assert!(wrong.body.contains("Incorrect email or password."));

        let nul = "admin\0@example.com";
        for _ in 0..5 {
            let answer = client.sign_in(nul, PASSWORD).await;
            assert_eq!(answer.status, StatusCode::UNAUTHORIZED, "{}", answer.body);
            assert!(answer.body.contains("Incorrect email or password."));
        }
        // Counted like any failure: the sixth attempt for that address is throttled.
        let throttled = client.sign_in(nul, PASSWORD).await;
        assert_eq!(throttled.status, StatusCode::TOO_MANY_REQUESTS);
    });
}

#[derive(Debug, Clone)]
enum ApiCall {
    /// name, description, type, one scope; then whether description and type are sent, and
    /// more (good) scopes.
    Create([String; 4], [bool; 2], Vec<String>),
    /// name and description; whether each is sent.
    Patch([String; 2], [bool; 2]),
}

fn api_call() -> impl Strategy<Value = ApiCall> {
    let name = || good("[A-Za-z0-9][A-Za-z0-9 _.-]{0,30}");
    let description = || good("[A-Za-z0-9 ,.]{0,80}");
    prop_oneof![
        (
            spoiled([
                name(),
                description(),
                prop_oneof![3 => Just("secret".to_owned()), 1 => Just("publishable".to_owned())]
                    .boxed(),
                Just("read".to_owned()).boxed(),
            ]),
            any::<[bool; 2]>(),
            prop::collection::vec(one_of(&["read", "write", "admin"]), 0..3),
        )
            .prop_map(|(fields, sent, scopes)| ApiCall::Create(fields, sent, scopes)),
        (spoiled([name(), description()]), any::<[bool; 2]>())
            .prop_map(|(fields, sent)| ApiCall::Patch(fields, sent)),
    ]
}

#[test]
fn no_management_api_input_gives_a_500_and_a_refused_one_saves_nothing() {
    let rt = runtime();
    let (app, admin_key, target) = rt.block_on(async {
        let app = spawn_app().await;
        let (_, admin_key) = make_key(&app, ENV, "automation", &["admin"], None);
        let (target, _) = make_key(&app, ENV, "target", &["read"], None);
        (app, admin_key, target)
    });
    check_property(CASES, api_call(), |call| {
        rt.block_on(async {
            let (method, path, body) = match call {
                ApiCall::Create([name, description, key_type, scope], sent, mut scopes) => {
                    scopes.insert(0, scope);
                    let mut body = serde_json::json!({"name": name, "scopes": scopes});
                    if sent[0] {
                        body["description"] = description.into();
                    }
                    if sent[1] {
                        body["type"] = key_type.into();
                    }
                    (reqwest::Method::POST, "/api/v1/api-keys".to_owned(), body)
                }
                ApiCall::Patch([name, description], sent) => {
                    let mut body = serde_json::json!({});
                    if sent[0] {
                        body["name"] = name.into();
                    }
                    if sent[1] {
                        body["description"] = description.into();
                    }
                    let path = format!("/api/v1/api-keys/{target}");
                    (reqwest::Method::PATCH, path, body)
                }
            };
            let before = snapshot(&app);
            let reply = api(&app.address, method, &path, Some(&admin_key), Some(body)).await;
            judge(&app, before, reply.status, &reply.json.to_string())
        })
    });
    rt.block_on(async move { drop(app) });
}

/// Header values that are not keys: visible ASCII, obs-text bytes (not UTF-8, so not even a
/// string), tabs inside, and one character of a real key changed.
fn hostile_key_header(real: String) -> impl Strategy<Value = Vec<u8>> {
    let byte = prop_oneof![
        6 => 0x21u8..=0x7e,
        2 => 0x80u8..=0xff,
        1 => Just(b'\t'),
        1 => Just(b' '),
    ];
    let len = real.len();
    prop_oneof![
        2 => prop::collection::vec(0x21u8..=0x7e, 0..120),
        2 => prop::collection::vec(byte, 0..120)
            .prop_filter("a header value has no surrounding space", |bytes| {
                bytes.first().is_none_or(|b| b.is_ascii_graphic())
                    && bytes.last().is_none_or(|b| b.is_ascii_graphic())
            }),
        2 => (0..len, 0x21u8..=0x7e).prop_filter_map(
            "a changed character",
            move |(at, replacement)| {
                let mut bytes = real.clone().into_bytes();
                (bytes[at] != replacement).then(|| {
                    bytes[at] = replacement;
                    bytes
                })
            }
        ),
    ]
}

async fn verify_with_raw_key(base: &str, value: &[u8]) -> Reply {
    let header = HeaderValue::from_bytes(value).unwrap();
    let response = reqwest::Client::new()
        .post(format!("{base}/api/v1/keys/verify"))
        .header("X-API-Key", header)
        .send()
        .await
        .unwrap();
    Reply::of(response).await
}

#[test]
fn hostile_api_key_headers_are_malformed_never_a_500() {
    let rt = runtime();
    let (app, real) = rt.block_on(async {
        let app = spawn_app().await;
        let (_, real) = make_key(&app, ENV, "real", &["read"], None);
        (app, real)
    });
    rt.block_on(async {
        // Long values, up to the size of the largest body the server takes.
        for len in [1_000, 8 * 1024, 16 * 1024, 32 * 1024, 64 * 1024] {
            let mut value = real.clone().into_bytes();
            value.resize(len, b'A');
            let reply = verify_with_raw_key(&app.address, &value).await;
            assert_eq!(
                (reply.status, reply.code()),
                (StatusCode::UNAUTHORIZED, "MALFORMED"),
                "a {len}-byte key: {}",
                shortened(&reply.json.to_string())
            );
        }
    });
    check_property(CASES, hostile_key_header(real.clone()), |value| {
        rt.block_on(async {
            let reply = verify_with_raw_key(&app.address, &value).await;
            prop_assert_eq!(
                (reply.status, reply.code()),
                (StatusCode::UNAUTHORIZED, "MALFORMED"),
                "{}",
                shortened(&reply.json.to_string())
            );
            Ok(())
        })
    });
    rt.block_on(async move {
        // The real key itself still verifies: the cases above did not break the endpoint.
        assert_eq!(
            verify(&app.address, Some(&real), None).await.code(),
            "VALID"
        );
        drop(app)
    });
}

#[tokio::test]
async fn hostile_path_segments_are_not_found_never_a_500() {
    let app = spawn_app().await;
    let admin = app.signed_in_as(Who::Admin).await;
    let (_, admin_key) = make_key(&app, ENV, "automation", &["admin"], None);
    for segment in [
        "%00",
        "a%00b",
        "%C0%80",
        "%FF",
        "%E2%80%AE",
        "%0A",
        "..",
        "%2e%2e",
    ] {
        for path in [
            format!("/projects/{segment}/environments/{ENV}/api-keys"),
            format!("/projects/{PROJECT}/environments/{segment}/members"),
            format!("/projects/{PROJECT}/environments/{ENV}/api-keys/{segment}/rotate"),
        ] {
            let answer = admin.get(&path).await;
            assert_eq!(answer.status, StatusCode::NOT_FOUND, "GET {path}");
        }
        let path = format!("/api/v1/api-keys/{segment}");
        let reply = api(
            &app.address,
            reqwest::Method::GET,
            &path,
            Some(&admin_key),
            None,
        )
        .await;
        assert_eq!(reply.status, StatusCode::NOT_FOUND, "GET {path}");
    }
}

/// Found by the Admin form property: a second project whose name gives a slug already taken
/// ("A" after "a") answered 500, because the failed insert aborted the transaction.
#[tokio::test]
async fn a_project_whose_slug_is_taken_is_refused_with_its_message() {
    let app = spawn_app().await;
    let admin = app.signed_in_as(Who::Admin).await;
    let first = admin
        .post_form("/admin/projects", &[("name", "Billing")])
        .await;
    assert_eq!(first.status, StatusCode::SEE_OTHER, "{}", first.body);
    let before = snapshot(&app);
    let again = admin
        .post_form("/admin/projects", &[("name", "billing!")])
        .await;
    assert_eq!(
        again.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        shortened(&again.body)
    );
    assert!(again.body.contains("already exists"));
    assert_eq!(snapshot(&app), before);
}

/// What a Rust string cannot hold, so the properties above never send it: bytes that are not
/// UTF-8 and JSON's lone surrogate escapes.
#[tokio::test]
async fn bodies_that_are_not_text_are_refused_or_read_lossily_never_a_500() {
    let app = spawn_app().await;
    let admin = app.signed_in_as(Who::Admin).await;
    let (_, admin_key) = make_key(&app, ENV, "automation", &["admin"], None);
    let http = reqwest::Client::new();
    for body in [
        &b"{\"name\": \"\xff\xfe\", \"scopes\": [\"read\"]}"[..],
        br#"{"name": "\ud800", "scopes": ["read"]}"#,
        br#"{"name": "ok", "description": "\udfff\u0000", "scopes": ["read"]}"#,
        br#"{"name": "ok", "scopes": ["re\u0000ad"]}"#,
    ] {
        let before = snapshot(&app);
        let response = http
            .post(format!("{}/api/v1/api-keys", app.address))
            .header("X-API-Key", &admin_key)
            .header("content-type", "application/json")
            .body(body.to_vec())
            .send()
            .await
            .unwrap();
        let status = response.status();
        let text = response.text().await.unwrap();
        assert!(status.is_client_error(), "{status}: {text}");
        assert_eq!(snapshot(&app), before, "{}", String::from_utf8_lossy(body));
    }
    // A form's bytes are read lossily: what is not UTF-8 becomes U+FFFD, which is text.
    let answer = admin
        .post_body(
            &keys_path(ENV),
            "application/x-www-form-urlencoded",
            b"name=%FF%FEbad%C0%80&type=secret&scope_read=on&expiration=never".to_vec(),
        )
        .await;
    assert!(!answer.status.is_server_error(), "{}", answer.status);
    let answer = admin
        .post_body(
            "/admin/projects",
            "application/x-www-form-urlencoded",
            b"name=a%00b".to_vec(),
        )
        .await;
    assert_eq!(answer.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        answer
            .body
            .contains("may not contain tabs, line breaks or other control")
    );
}
