//! Through a real nginx running the server block the README shows (docs/gateways/nginx.conf),
//! in front of a small upstream written here that echoes what it was sent.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};
use reqwest::StatusCode;

use crate::helpers::*;

const SERVER_BLOCK: &str = include_str!(concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/docs/gateways/nginx.conf"
));
const README: &str = include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md"));

#[test]
fn the_readme_shows_the_nginx_server_block_the_tests_run() {
    let block = SERVER_BLOCK.trim_end();
    assert!(
        README.contains(&format!("```nginx\n{block}\n```")),
        "README.md must quote docs/gateways/nginx.conf verbatim in an nginx code block"
    );
    assert!(
        block.contains("server 127.0.0.1:8080;") && block.contains("server 127.0.0.1:3000;"),
        "the tests point these two addresses at their own servers"
    );
}

fn nginx_binary() -> PathBuf {
    let on_path = std::env::var_os("PATH")
        .map(|paths| std::env::split_paths(&paths).collect::<Vec<_>>())
        .unwrap_or_default();
    on_path
        .into_iter()
        .chain([PathBuf::from("/usr/sbin")])
        .map(|dir| dir.join("nginx"))
        .find(|path| path.is_file())
        .unwrap_or_else(|| {
            panic!(
                "nginx is not installed: the forward-auth tests run the README's configuration \
                 through a real nginx. Run `bash .ci/test`, which installs Debian's nginx, or \
                 `apt-get install nginx`."
            )
        })
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// nginx as one foreground process (no workers, so killing it leaves nothing behind), with
/// everything it writes in its own directory.
struct Nginx {
    child: Child,
    dir: PathBuf,
    base: String,
}

impl Nginx {
    async fn start(keyward: &str, upstream: &str) -> Self {
        let binary = nginx_binary();
        let dir = std::env::temp_dir().join(format!(
            "keyward-nginx-{}-{}",
            std::process::id(),
            keyward::auth::random_token(6).unwrap()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        let port = free_port();
        let server = SERVER_BLOCK
            .replace("listen 80;", &format!("listen 127.0.0.1:{port};"))
            .replace(
                "server 127.0.0.1:8080;",
                &format!("server {};", host(keyward)),
            )
            .replace(
                "server 127.0.0.1:3000;",
                &format!("server {};", host(upstream)),
            );
        let d = dir.display();
        let config = format!(
            "daemon off;\nmaster_process off;\npid {d}/nginx.pid;\nerror_log {d}/error.log warn;\n\
             events {{ worker_connections 256; }}\n\
             http {{\n  access_log off;\n  client_body_temp_path {d}/body;\n  \
             proxy_temp_path {d}/proxy;\n  fastcgi_temp_path {d}/fastcgi;\n  \
             uwsgi_temp_path {d}/uwsgi;\n  scgi_temp_path {d}/scgi;\n{server}\n}}\n"
        );
        let config_path = dir.join("nginx.conf");
        std::fs::write(&config_path, config).unwrap();
        let child = Command::new(&binary)
            .arg("-p")
            .arg(&dir)
            .arg("-e")
            .arg(dir.join("error.log"))
            .arg("-c")
            .arg(&config_path)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("could not start {}: {e}", binary.display()));
        let nginx = Self {
            child,
            dir,
            base: format!("http://127.0.0.1:{port}"),
        };
        let log = nginx.dir.join("error.log");
        eventually(Duration::from_secs(10), "nginx to listen", async || {
            tokio::net::TcpStream::connect(("127.0.0.1", port))
                .await
                .map_err(|e| format!("{e}; error.log: {}", read(&log)))
        })
        .await;
        nginx
    }
}

/// `127.0.0.1:PORT` of a base URL.
fn host(base: &str) -> &str {
    base.trim_start_matches("http://")
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_default()
}

impl Drop for Nginx {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// The upstream: answers with the headers it saw and the size of the body it got.
async fn echo(req: HttpRequest, body: web::Bytes) -> HttpResponse {
    let headers: serde_json::Map<String, serde_json::Value> = req
        .headers()
        .iter()
        .map(|(name, value)| {
            (
                name.as_str().to_owned(),
                String::from_utf8_lossy(value.as_bytes()).into(),
            )
        })
        .collect();
    HttpResponse::Ok().json(serde_json::json!({
        "path": req.path(),
        "headers": headers,
        "body_bytes": body.len(),
    }))
}

struct Upstream {
    base: String,
    handle: actix_web::dev::ServerHandle,
}

impl Upstream {
    fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let server = HttpServer::new(|| {
            App::new()
                .app_data(web::PayloadConfig::new(64 * 1024 * 1024))
                .default_service(web::to(echo))
        })
        .workers(1)
        .disable_signals()
        .listen(listener)
        .unwrap()
        .run();
        let handle = server.handle();
        tokio::spawn(server);
        Self { base, handle }
    }
}

impl Drop for Upstream {
    fn drop(&mut self) {
        drop(self.handle.stop(false));
    }
}

struct Through {
    status: StatusCode,
    headers: reqwest::header::HeaderMap,
    /// What the upstream echoed, on a 200.
    echoed: serde_json::Value,
}

impl Through {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
    fn upstream_saw(&self, name: &str) -> Option<&str> {
        self.echoed["headers"][name].as_str()
    }
}

async fn through(
    nginx: &Nginx,
    path: &str,
    headers: &[(&str, &str)],
    body: Option<Vec<u8>>,
) -> Through {
    let url = format!("{}{path}", nginx.base);
    let client = reqwest::Client::new();
    let mut request = match body {
        Some(body) => client.post(url).body(body),
        None => client.get(url),
    };
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let response = request.send().await.unwrap();
    let status = response.status();
    let headers = response.headers().clone();
    let text = response.text().await.unwrap();
    let echoed = if status == StatusCode::OK {
        serde_json::from_str(&text).unwrap_or_else(|_| panic!("not the upstream's echo: {text}"))
    } else {
        serde_json::Value::Null
    };
    Through {
        status,
        headers,
        echoed,
    }
}

#[tokio::test]
async fn nginx_with_the_readme_configuration_lets_valid_keys_through_and_refuses_the_rest() {
    let app = spawn_app_with(|config| {
        config.trusted_proxies = keyward::net::TrustedProxies::parse("127.0.0.1").unwrap();
    })
    .await;
    let upstream = Upstream::start();
    let nginx = Nginx::start(&app.address, &upstream.base).await;
    let (id, key) = make_key(&app, ENV, "orders svc", &["read"], None);
    let id_text = id.to_string();

    let r = through(&nginx, "/orders/42", &[("X-API-Key", &key)], None).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.echoed["path"], "/orders/42");
    assert_eq!(r.upstream_saw("x-keyward-key-id"), Some(id_text.as_str()));
    assert_eq!(r.upstream_saw("x-keyward-key-name"), Some("orders%20svc"));
    assert_eq!(r.upstream_saw("x-keyward-scopes"), Some("read"));
    assert!(r.header("x-keyward-code").is_none());

    // A client cannot name itself: nginx replaces what it sent under the identity headers.
    let r = through(
        &nginx,
        "/",
        &[("X-API-Key", &key), ("X-Keyward-Key-Id", "1")],
        None,
    )
    .await;
    assert_eq!(r.upstream_saw("x-keyward-key-id"), Some(id_text.as_str()));

    let bearer = format!("Bearer {key}");
    let r = through(&nginx, "/", &[("Authorization", &bearer)], None).await;
    assert_eq!(r.status, StatusCode::OK, "Authorization: Bearer works");
    assert_eq!(r.upstream_saw("x-keyward-key-id"), Some(id_text.as_str()));

    let r = through(&nginx, "/", &[], None).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    assert_eq!(r.header("x-keyward-code"), Some("MALFORMED"));
    let r = through(&nginx, "/", &[("X-API-Key", "kw_sk_live_nonsense")], None).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    assert_eq!(r.header("x-keyward-code"), Some("MALFORMED"));

    // The /admin/ location asks for the admin scope.
    let r = through(&nginx, "/admin/users", &[("X-API-Key", &key)], None).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    assert_eq!(r.header("x-keyward-code"), Some("INSUFFICIENT_SCOPE"));

    // 10 MiB: over Keyward's body limit, yet fine, because only the upstream gets the body.
    let big = vec![b'k'; 10 * 1024 * 1024];
    let r = through(&nginx, "/upload", &[("X-API-Key", &key)], Some(big)).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.echoed["body_bytes"], 10 * 1024 * 1024);

    let admin = app.signed_in_as(Who::Admin).await;
    admin.switch(id, false).await;
    let r = through(&nginx, "/", &[("X-API-Key", &key)], None).await;
    assert_eq!(
        (r.status, r.header("x-keyward-code")),
        (StatusCode::UNAUTHORIZED, Some("DISABLED")),
        "the very next request after the switch"
    );
}

#[tokio::test]
async fn through_nginx_a_rate_limited_key_gets_403_with_its_code_and_retry_after() {
    let app = spawn_app().await;
    let upstream = Upstream::start();
    let nginx = Nginx::start(&app.address, &upstream.base).await;
    let (_, key) = make_key(&app, ENV, "limited", &["read"], Some(2));
    for _ in 0..2 {
        let r = through(&nginx, "/", &[("X-API-Key", &key)], None).await;
        assert_eq!(r.status, StatusCode::OK);
    }
    let r = through(&nginx, "/", &[("X-API-Key", &key)], None).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    assert_eq!(r.header("x-keyward-code"), Some("RATE_LIMITED"));
    let retry: u64 = r.header("retry-after").unwrap().parse().unwrap();
    assert!((1..=31).contains(&retry), "retry after {retry}s");
}
