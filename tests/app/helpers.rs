//! spawn_app(): the real server on port 0 against a fresh database cloned from a migrated
//! template, on a private PostgreSQL cluster shared by every test process.

use std::path::PathBuf;
use std::sync::OnceLock;
use std::time::Duration;

use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use keyward::auth::password;
pub use keyward::clock::ManualClock;
use keyward::clock::SharedClock;
use keyward::config::{Config, DatabaseChoice};
use keyward::db;
use keyward::domain::key_format::KeyPrefix;
use keyward::domain::user::{Password, Role};
use keyward::embedded_pg::EmbeddedPostgres;
use keyward::startup::{Application, StopHandle};
use reqwest::StatusCode;
use reqwest::header::HeaderMap;
use std::sync::Arc;

pub const ADMIN_EMAIL: &str = "admin@example.com";
pub const PASSWORD: &str = "correct horse battery staple";
pub const PROJECT: &str = "default";
pub const ENV: &str = "production";

pub fn keys_path(env: &str) -> String {
    format!("/projects/{PROJECT}/environments/{env}/api-keys")
}

pub fn members_path(env: &str) -> String {
    format!("/projects/{PROJECT}/environments/{env}/members")
}

fn cluster() -> &'static EmbeddedPostgres {
    static CLUSTER: OnceLock<EmbeddedPostgres> = OnceLock::new();
    CLUSTER.get_or_init(|| {
        let dir = std::env::var("KEYWARD_TEST_PG_DIR")
            .map(PathBuf::from)
            .unwrap_or_else(|_| {
                // One cluster per checkout, in a place the postgres user can reach.
                let hash = format!(
                    "{:08x}",
                    crc32fast::hash(env!("CARGO_MANIFEST_DIR").as_bytes())
                );
                std::env::temp_dir().join(format!("keyward-test-pg-{hash}"))
            });
        EmbeddedPostgres::start_throwaway(&dir).expect("start the test PostgreSQL cluster")
    })
}

/// A template database with every migration applied, named by the migrations' content so a
/// changed migration gets a new template.
fn template() -> &'static str {
    static TEMPLATE: OnceLock<String> = OnceLock::new();
    TEMPLATE.get_or_init(|| {
        let mut hasher = crc32fast::Hasher::new();
        let mut dirs: Vec<_> =
            std::fs::read_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/migrations"))
                .unwrap()
                .map(|e| e.unwrap().path())
                .collect();
        dirs.sort();
        for dir in dirs {
            hasher.update(dir.to_string_lossy().as_bytes());
            hasher.update(&std::fs::read(dir.join("up.sql")).unwrap_or_default());
        }
        let name = format!("keyward_tpl_{:08x}", hasher.finalize());
        let mut admin = PgConnection::establish(&cluster().url("postgres")).unwrap();
        // Test processes start together; one builds the template while the others wait.
        admin
            .batch_execute("SELECT pg_advisory_lock(7001)")
            .unwrap();
        let exists: i64 = diesel::dsl::sql::<diesel::sql_types::BigInt>(&format!(
            "SELECT count(*) FROM pg_database WHERE datname = '{name}'"
        ))
        .get_result(&mut admin)
        .unwrap();
        if exists == 0 {
            let building = format!("{name}_building");
            admin
                .batch_execute(&format!("DROP DATABASE IF EXISTS {building}"))
                .unwrap();
            admin
                .batch_execute(&format!("CREATE DATABASE {building}"))
                .unwrap();
            let mut conn = PgConnection::establish(&cluster().url(&building)).unwrap();
            db::run_migrations(&mut conn).unwrap();
            drop(conn);
            admin
                .batch_execute(&format!("ALTER DATABASE {building} RENAME TO {name}"))
                .unwrap();
        }
        admin
            .batch_execute("SELECT pg_advisory_unlock(7001)")
            .unwrap();
        name
    })
}

const TEST_SECRET_KEY: &str = "6b657977617264207465737420736563726574206b6579206f6e6c7921212121";

pub struct TestApp {
    pub address: String,
    pub db_url: String,
    db_name: String,
    node: Node,
}

impl Drop for TestApp {
    fn drop(&mut self) {
        // The server and its background tasks stop before their database goes.
        self.node.stop.stop_now();
        if let Ok(mut admin) = PgConnection::establish(&cluster().url("postgres")) {
            let _ = admin.batch_execute(&format!(
                "DROP DATABASE IF EXISTS {} WITH (FORCE)",
                self.db_name
            ));
        }
    }
}

pub async fn spawn_app() -> TestApp {
    spawn_app_with(|_| {}).await
}

/// An app whose clock stands still until the test moves it.
pub async fn spawn_app_with_clock(clock: Arc<ManualClock>) -> TestApp {
    spawn_app_on(|_| {}, clock).await
}

pub async fn spawn_app_with(adjust: impl FnOnce(&mut Config)) -> TestApp {
    spawn_app_on(adjust, keyward::clock::system()).await
}

async fn spawn_app_on(adjust: impl FnOnce(&mut Config), clock: SharedClock) -> TestApp {
    let template = template();
    let db_name = format!("kw_test_{}", keyward::auth::random_token(8).unwrap());
    let mut admin = PgConnection::establish(&cluster().url("postgres")).unwrap();
    admin
        .batch_execute(&format!("CREATE DATABASE {db_name} TEMPLATE {template}"))
        .unwrap();
    let db_url = cluster().url(&db_name);
    let node = start_node(&db_url, adjust, clock).await;
    TestApp {
        address: node.address.clone(),
        db_url,
        db_name,
        node,
    }
}

/// A server node of a test; it stops when dropped.
pub struct Node {
    pub address: String,
    stop: StopHandle,
}

impl Drop for Node {
    fn drop(&mut self) {
        self.stop.stop_now();
    }
}

impl std::ops::Deref for Node {
    type Target = str;
    fn deref(&self) -> &str {
        &self.address
    }
}

/// Starts one more server node on the given database.
pub async fn new_node(db_url: &str, adjust: impl FnOnce(&mut Config)) -> Node {
    start_node(db_url, adjust, keyward::clock::system()).await
}

/// One more node on the same database, reading the same manual clock.
pub async fn new_node_with_clock(db_url: &str, clock: Arc<ManualClock>) -> Node {
    start_node(db_url, |_| {}, clock).await
}

/// Starts a node and waits until it hears change notices, so tests begin from the steady state.
async fn start_node(db_url: &str, adjust: impl FnOnce(&mut Config), clock: SharedClock) -> Node {
    let mut config = Config {
        bind: "127.0.0.1:0".to_owned(),
        database: DatabaseChoice::Url(db_url.to_owned()),
        key_prefix: KeyPrefix::default(),
        admin_email: Some(ADMIN_EMAIL.to_owned()),
        admin_password: Some(PASSWORD.to_owned()),
        secure_cookies: false,
        pool_size: 4,
        cache_revalidate_every: keyward::jobs::REVALIDATE_EVERY,
        trusted_proxies: Default::default(),
        // One key for every node of a test: they share sealed secrets through the database.
        secret_key: keyward::secret_box::SecretKey::parse_hex(TEST_SECRET_KEY).unwrap(),
        secret_scanning_keys: Default::default(),
        leak_action: Default::default(),
        // Tests move the clock and expect warnings soon after, not within a minute.
        expiry_sweep_every: Duration::from_millis(200),
        require_2fa: Default::default(),
    };
    adjust(&mut config);
    let app = Application::build_with_clock(config, clock).expect("build the application");
    let address = format!("http://{}", app.address());
    let stop = app.stop_handle();
    tokio::spawn(app.run_until_stopped());
    let started = std::time::Instant::now();
    while metric(&address, "keyward_key_cache_listening").await != 1.0 {
        assert!(
            started.elapsed() < std::time::Duration::from_secs(10),
            "the node never started listening for key changes"
        );
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
    Node { address, stop }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Who {
    Admin,
    Owner,
    Member,
    /// Signed in, but with no membership in the environment.
    Outsider,
}

impl TestApp {
    pub fn conn(&self) -> PgConnection {
        PgConnection::establish(&self.db_url).unwrap()
    }

    pub fn environment_id(&self, env: &str) -> keyward::domain::ids::EnvironmentId {
        let (_, e) = db::projects::find_environment(&mut self.conn(), PROJECT, env)
            .unwrap()
            .unwrap();
        e.id
    }

    /// A user, optionally with a role in one environment of the Default project.
    pub fn create_user(
        &self,
        email: &str,
        role: Option<(Role, &str)>,
    ) -> keyward::domain::ids::UserId {
        let mut conn = self.conn();
        let hash = password::hash(&Password::presented(PASSWORD.to_owned())).unwrap();
        let user = db::users::create(
            &mut conn,
            &db::users::NewUser {
                email,
                display_name: email,
                password_hash: &hash,
                is_admin: false,
            },
        )
        .unwrap()
        .unwrap();
        if let Some((role, env)) = role {
            let env_id = self.environment_id(env);
            db::memberships::upsert(&mut conn, user.id, env_id, role).unwrap();
        }
        user.id
    }

    pub fn browser_client(&self) -> Client {
        Client::new(&self.address)
    }

    pub async fn signed_in_as(&self, who: Who) -> Client {
        let email = match who {
            Who::Admin => ADMIN_EMAIL.to_owned(),
            Who::Owner => {
                self.create_user("owner@example.com", Some((Role::Owner, ENV)));
                "owner@example.com".to_owned()
            }
            Who::Member => {
                self.create_user("member@example.com", Some((Role::Member, ENV)));
                "member@example.com".to_owned()
            }
            Who::Outsider => {
                self.create_user("outsider@example.com", Some((Role::Owner, "staging")));
                "outsider@example.com".to_owned()
            }
        };
        let client = self.browser_client();
        let response = client.sign_in(&email, PASSWORD).await;
        assert_eq!(
            response.status,
            StatusCode::SEE_OTHER,
            "sign-in of {email} failed: {}",
            response.body
        );
        client
    }

    /// Creates a key through the dashboard as `client`; returns the revealed plaintext.
    pub async fn create_key(&self, client: &Client, name: &str, scopes: &[&str]) -> String {
        let response = client
            .post_form(&keys_path(ENV), &key_form(name, "secret", scopes))
            .await;
        assert_eq!(response.status, StatusCode::OK, "{}", response.body);
        revealed_key(&response.body).expect("the response reveals the new key")
    }

    pub fn keys(&self) -> Vec<db::api_keys::ApiKey> {
        db::api_keys::list_for_environment(&mut self.conn(), self.environment_id(ENV)).unwrap()
    }

    pub fn audit_actions(&self) -> Vec<String> {
        db::audit::list_for_environment(&mut self.conn(), self.environment_id(ENV))
            .unwrap()
            .into_iter()
            .map(|e| e.action)
            .collect()
    }
}

/// The Add panel's fields, as a browser sends them.
pub fn key_form<'a>(
    name: &'a str,
    key_type: &'a str,
    scopes: &[&'a str],
) -> Vec<(&'a str, &'a str)> {
    let mut form = vec![("name", name), ("type", key_type), ("expiration", "never")];
    for scope in scopes {
        form.push(match *scope {
            "read" => ("scope_read", "on"),
            "write" => ("scope_write", "on"),
            _ => ("scope_admin", "on"),
        });
    }
    form
}

/// The plaintext inside the one-time reveal dialog, if the page has one.
pub fn revealed_key(body: &str) -> Option<String> {
    let start = body.find("id=\"revealed-key\">")? + "id=\"revealed-key\">".len();
    let end = body[start..].find('<')? + start;
    Some(body[start..end].trim().to_owned())
}

pub fn csrf_from(body: &str) -> Option<String> {
    let marker = "name=\"csrf-token\" content=\"";
    let start = body.find(marker)? + marker.len();
    let end = body[start..].find('"')? + start;
    Some(body[start..end].to_owned())
}

pub struct Answer {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: String,
}

impl Answer {
    pub fn location(&self) -> &str {
        self.headers
            .get("location")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
    }
}

/// A cookie-keeping client that walks the flows a person walks (redirects not followed, so
/// tests see them). It remembers the page's CSRF token and sends it like the forms do.
pub struct Client {
    base: String,
    http: reqwest::Client,
    csrf: std::sync::Mutex<Option<String>>,
}

impl Client {
    pub fn new(base: &str) -> Self {
        Self::with_headers(base, HeaderMap::new())
    }

    /// A client that sends `headers` with every request (e.g. `X-Forwarded-For`).
    pub fn with_headers(base: &str, headers: HeaderMap) -> Self {
        Self {
            base: base.to_owned(),
            http: reqwest::Client::builder()
                .cookie_store(true)
                .redirect(reqwest::redirect::Policy::none())
                .default_headers(headers)
                .build()
                .unwrap(),
            csrf: std::sync::Mutex::new(None),
        }
    }

    /// The CSRF token of the page seen last.
    pub fn last_csrf(&self) -> Option<String> {
        self.csrf.lock().unwrap().clone()
    }

    async fn answer(&self, response: reqwest::Response) -> Answer {
        let status = response.status();
        let headers = response.headers().clone();
        let body = response.text().await.unwrap();
        if let Some(token) = csrf_from(&body) {
            *self.csrf.lock().unwrap() = Some(token);
        }
        Answer {
            status,
            headers,
            body,
        }
    }

    pub async fn get(&self, path: &str) -> Answer {
        let response = self
            .http
            .get(format!("{}{path}", self.base))
            .send()
            .await
            .unwrap();
        self.answer(response).await
    }

    pub async fn get_htmx(&self, path: &str) -> Answer {
        let response = self
            .http
            .get(format!("{}{path}", self.base))
            .header("HX-Request", "true")
            .send()
            .await
            .unwrap();
        self.answer(response).await
    }

    /// The current CSRF token, fetching a page first if none was seen yet.
    pub async fn csrf(&self) -> String {
        if let Some(token) = self.csrf.lock().unwrap().clone() {
            return token;
        }
        // Signed in, `/` leads to a page with the session's token; signed out, to the sign-in
        // form with its own.
        let home = self.get("/").await;
        if home.status == StatusCode::SEE_OTHER {
            self.get(home.location()).await;
        }
        self.csrf
            .lock()
            .unwrap()
            .clone()
            .expect("a page with a csrf-token meta tag")
    }

    /// A plain form post with the csrf_token field, as a browser without JavaScript sends it.
    pub async fn post_form(&self, path: &str, fields: &[(&str, &str)]) -> Answer {
        let token = self.csrf().await;
        let mut form: Vec<(&str, &str)> = fields.to_vec();
        form.push(("csrf_token", &token));
        self.post_raw(path, &form).await
    }

    /// A form post exactly as given: no token is added.
    pub async fn post_raw(&self, path: &str, fields: &[(&str, &str)]) -> Answer {
        let response = self
            .http
            .post(format!("{}{path}", self.base))
            .form(fields)
            .send()
            .await
            .unwrap();
        self.answer(response).await
    }

    /// An htmx post: the token travels in the X-CSRF-Token header.
    pub async fn post_htmx(&self, path: &str, fields: &[(&str, &str)]) -> Answer {
        let token = self.csrf().await;
        let response = self
            .http
            .post(format!("{}{path}", self.base))
            .header("HX-Request", "true")
            .header("X-CSRF-Token", token)
            .form(fields)
            .send()
            .await
            .unwrap();
        self.answer(response).await
    }

    pub async fn post_body(&self, path: &str, content_type: &str, body: Vec<u8>) -> Answer {
        let token = self.csrf().await;
        let response = self
            .http
            .post(format!("{}{path}", self.base))
            .header("content-type", content_type)
            .header("X-CSRF-Token", token)
            .body(body)
            .send()
            .await
            .unwrap();
        self.answer(response).await
    }

    /// Sets the production key's switch as the dashboard's form does (no JavaScript).
    pub async fn switch(&self, key_id: keyward::domain::ids::KeyId, on: bool) -> Answer {
        let path = format!("{}/{key_id}/enabled", keys_path(ENV));
        self.post_form(&path, &[("enabled", if on { "true" } else { "false" })])
            .await
    }

    /// Confirms a production key's revocation as the dashboard's form does.
    pub async fn revoke(&self, key_id: keyward::domain::ids::KeyId) -> Answer {
        self.post_form(&format!("{}/{key_id}/revoke", keys_path(ENV)), &[])
            .await
    }

    /// The sign-in's second step (two-factor **Code**).
    pub async fn submit_code(&self, code: &str) -> Answer {
        let answer = self.post_form("/login/code", &[("code", code)]).await;
        if answer.status == StatusCode::SEE_OTHER {
            *self.csrf.lock().unwrap() = None;
        }
        answer
    }

    pub async fn sign_in(&self, email: &str, password: &str) -> Answer {
        self.get("/login").await;
        let answer = self
            .post_form("/login", &[("email", email), ("password", password)])
            .await;
        if answer.status == StatusCode::SEE_OTHER {
            // The session has a token of its own now; the sign-in form's is spent.
            *self.csrf.lock().unwrap() = None;
        }
        answer
    }
}

/// A key made directly through the lifecycle (as the dashboard would), for API tests.
pub fn make_key(
    app: &TestApp,
    env: &str,
    name: &str,
    scopes: &[&str],
    rate_limit: Option<i64>,
) -> (keyward::domain::ids::KeyId, String) {
    use keyward::domain::api_key::{
        ApiKeyName, Expiry, KeyDescription, KeyType, RateLimit, Scopes,
    };
    use keyward::domain::key_format::KeyTag;
    use keyward::services::keys::{KeyHome, KeySpec};
    let mut conn = app.conn();
    let (_, e) = db::projects::find_environment(&mut conn, PROJECT, env)
        .unwrap()
        .unwrap();
    let home = KeyHome {
        environment_id: e.id,
        tag: KeyTag::parse(&e.key_tag).unwrap(),
        prefix: KeyPrefix::default(),
    };
    let spec = KeySpec {
        name: ApiKeyName::parse(name).unwrap(),
        description: KeyDescription::default(),
        key_type: KeyType::Secret,
        scopes: Scopes::parse_strs(scopes, KeyType::Secret).unwrap(),
        expiry: Expiry::NEVER,
        rate_limit: rate_limit.map(|n| RateLimit::new(n).unwrap()),
        policy: Default::default(),
    };
    let change = keyward::services::Change {
        actor: Default::default(),
        now: chrono::Utc::now(),
        cache: std::sync::Arc::new(keyward::verify::cache::KeyCache::new()),
    };
    let (key, plain) = keyward::services::keys::create(&mut conn, &home, &spec, &change)
        .unwrap()
        .unwrap();
    (key.id, plain.expose().to_owned())
}

pub struct Reply {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub json: serde_json::Value,
}

impl Reply {
    /// The status, the headers, and the body as JSON (`Null` when empty, a string when not JSON).
    pub async fn of(response: reqwest::Response) -> Self {
        let status = response.status();
        let headers = response.headers().clone();
        let text = response.text().await.unwrap();
        let json = if text.is_empty() {
            serde_json::Value::Null
        } else {
            serde_json::from_str(&text).unwrap_or(serde_json::Value::String(text))
        };
        Reply {
            status,
            headers,
            json,
        }
    }
}

impl Reply {
    pub fn code(&self) -> &str {
        self.json["code"].as_str().unwrap_or("")
    }
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

/// A JSON API call with an optional X-API-Key.
pub async fn api(
    base: &str,
    method: reqwest::Method,
    path: &str,
    key: Option<&str>,
    body: Option<serde_json::Value>,
) -> Reply {
    let client = reqwest::Client::new();
    let mut request = client.request(method, format!("{base}{path}"));
    if let Some(key) = key {
        request = request.header("X-API-Key", key);
    }
    if let Some(body) = body {
        request = request.json(&body);
    }
    Reply::of(request.send().await.unwrap()).await
}

pub async fn verify(base: &str, key: Option<&str>, body: Option<serde_json::Value>) -> Reply {
    api(
        base,
        reqwest::Method::POST,
        "/api/v1/keys/verify",
        key,
        body,
    )
    .await
}

/// What a polled check returns: `true`, `Some(value)` or `Ok(value)` once it holds. The last
/// `Err` is kept for the failure message.
pub trait Outcome {
    type Value;
    fn settled(self) -> Result<Self::Value, Option<String>>;
}

impl Outcome for bool {
    type Value = ();
    fn settled(self) -> Result<(), Option<String>> {
        if self { Ok(()) } else { Err(None) }
    }
}

impl<T> Outcome for Option<T> {
    type Value = T;
    fn settled(self) -> Result<T, Option<String>> {
        self.ok_or(None)
    }
}

impl<T, E: std::fmt::Debug> Outcome for Result<T, E> {
    type Value = T;
    fn settled(self) -> Result<T, Option<String>> {
        self.map_err(|e| Some(format!("{e:?}")))
    }
}

/// Runs `check` every 10 ms until it holds and returns its value; panics naming `what` (and
/// the last error, if any) when it still does not hold after `timeout`. A check that hangs
/// counts against the timeout too.
pub async fn eventually<O: Outcome>(
    timeout: Duration,
    what: &str,
    mut check: impl AsyncFnMut() -> O,
) -> O::Value {
    let deadline = tokio::time::Instant::now() + timeout;
    let mut last_error = None;
    loop {
        match tokio::time::timeout_at(deadline, check()).await {
            Ok(outcome) => match outcome.settled() {
                Ok(value) => return value,
                Err(error) => last_error = error.or(last_error),
            },
            Err(_) => last_error = Some("the check was still running at the deadline".to_owned()),
        }
        if tokio::time::Instant::now() >= deadline {
            match last_error {
                Some(error) => {
                    panic!("gave up after {timeout:?} waiting for {what}; last error: {error}")
                }
                None => panic!("gave up after {timeout:?} waiting for {what}"),
            }
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// The value of an unlabelled counter or gauge on a node's `/metrics` page.
pub async fn metric(base: &str, name: &str) -> f64 {
    let text = Client::new(base).get("/metrics").await.body;
    text.lines()
        .find_map(|line| {
            let (key, value) = line.split_once(' ')?;
            (key == name).then(|| value.trim().parse().ok())?
        })
        .unwrap_or_else(|| panic!("{name} is not on {base}/metrics:\n{text}"))
}
