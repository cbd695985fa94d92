//! Several server nodes on one database: a change made through one is refused by the others.

use std::time::{Duration, Instant};

use diesel::prelude::*;
use keyward::db::schema::api_keys;

use crate::helpers::*;
use keyward::domain::ids::KeyId;

#[tokio::test]
async fn a_key_switched_off_through_node_a_is_refused_by_node_b() {
    let app = spawn_app().await;
    let node_a = &app.address;
    let node_b = new_node(&app.db_url, |_| {}).await;
    let (id, key) = make_key(&app, ENV, "shared", &["read"], None);
    // Node B has the key in memory.
    for _ in 0..3 {
        assert_eq!(verify(&node_b, Some(&key), None).await.code(), "VALID");
    }

    let admin = Client::new(node_a);
    admin.sign_in(ADMIN_EMAIL, PASSWORD).await;
    let switched = Instant::now();
    admin.switch(id, false).await;
    let answered = switched.elapsed();

    let mut attempts = 0;
    let propagation = loop {
        attempts += 1;
        let r = verify(&node_b, Some(&key), None).await;
        if r.code() == "DISABLED" {
            break switched.elapsed();
        }
        assert_eq!(r.code(), "VALID");
        assert!(
            switched.elapsed() < Duration::from_secs(5),
            "node B never heard of the change"
        );
        tokio::time::sleep(Duration::from_micros(200)).await;
    };
    println!(
        "propagation A→B: refused {:.2} ms after the switch was posted (node A answered in {:.2} ms; {} verify request(s) on B)",
        propagation.as_secs_f64() * 1e3,
        answered.as_secs_f64() * 1e3,
        attempts
    );
    assert_eq!(verify(node_a, Some(&key), None).await.code(), "DISABLED");
}

fn kill_listening_connection(app: &TestApp) {
    let mut conn = app.conn();
    let killed: Vec<bool> = diesel::dsl::sql::<diesel::sql_types::Bool>(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
         WHERE datname = current_database() AND pid <> pg_backend_pid() \
           AND (query ILIKE 'LISTEN%' OR query = 'SELECT 1')",
    )
    .load(&mut conn)
    .unwrap();
    assert!(killed.iter().any(|k| *k), "found the listening connection");
}

#[tokio::test]
async fn a_node_that_loses_its_listening_connection_reads_through_instead_of_serving_stale_state() {
    let app = spawn_app().await;
    let (id, key) = make_key(&app, ENV, "watched", &["read"], None);
    let listening = "keyward_key_cache_listening";
    eventually(Duration::from_secs(10), "the node listens", async || {
        metric(&app.address, listening).await == 1.0
    })
    .await;
    assert_eq!(verify(&app.address, Some(&key), None).await.code(), "VALID");

    kill_listening_connection(&app);
    eventually(
        Duration::from_secs(10),
        "the node notices the loss",
        async || metric(&app.address, listening).await == 0.0,
    )
    .await;
    // A change the node cannot hear about (no NOTIFY): only reading through can see it.
    diesel::update(api_keys::table.find(id))
        .set(api_keys::enabled.eq(false))
        .execute(&mut app.conn())
        .unwrap();
    assert_eq!(
        verify(&app.address, Some(&key), None).await.code(),
        "DISABLED"
    );

    // Listening again, it checked the versions of what it holds: the VALID copy it cached
    // before the loss is gone, not served.
    eventually(
        Duration::from_secs(10),
        "the node listens again",
        async || metric(&app.address, listening).await == 1.0,
    )
    .await;
    assert_eq!(
        verify(&app.address, Some(&key), None).await.code(),
        "DISABLED"
    );
    assert!(metric(&app.address, "keyward_key_cache_stale_dropped_total").await >= 1.0);

    // And notices work as before.
    let admin = app.signed_in_as(Who::Admin).await;
    admin.switch(id, true).await;
    assert_eq!(verify(&app.address, Some(&key), None).await.code(), "VALID");
}

#[tokio::test]
async fn a_cached_key_never_outlives_a_change_whose_notice_was_lost() {
    let app = spawn_app_with(|c| c.cache_revalidate_every = Duration::from_millis(100)).await;
    let (id, key) = make_key(&app, ENV, "unheard", &["read"], None);
    eventually(
        Duration::from_secs(10),
        "the key is served from memory",
        async || {
            verify(&app.address, Some(&key), None).await.code() == "VALID"
                && metric(&app.address, "keyward_key_cache_hits_total").await >= 1.0
        },
    )
    .await;
    // Switched off behind the node's back: no notice is ever sent.
    diesel::update(api_keys::table.find(id))
        .set(api_keys::enabled.eq(false))
        .execute(&mut app.conn())
        .unwrap();
    eventually(
        Duration::from_secs(10),
        "the stale copy is dropped",
        async || verify(&app.address, Some(&key), None).await.code() == "DISABLED",
    )
    .await;
    assert!(metric(&app.address, "keyward_key_cache_stale_dropped_total").await >= 1.0);
}

fn rotate_path(id: KeyId) -> String {
    format!("/api/v1/api-keys/{id}/rotate")
}

async fn rotate(base: &str, operator: &str, id: KeyId) -> Reply {
    api(
        base,
        reqwest::Method::POST,
        &rotate_path(id),
        Some(operator),
        Some(serde_json::json!({"grace_period_seconds": 3600})),
    )
    .await
}

async fn revoke(base: &str, operator: &str, id: KeyId) -> Reply {
    api(
        base,
        reqwest::Method::DELETE,
        &format!("/api/v1/api-keys/{id}"),
        Some(operator),
        None,
    )
    .await
}

fn secret_of(reply: &Reply) -> Option<String> {
    (reply.status == reqwest::StatusCode::OK)
        .then(|| reply.json["key"].as_str().unwrap().to_owned())
}

#[tokio::test]
async fn concurrent_rotations_through_two_nodes_each_hand_out_a_secret_that_works_everywhere() {
    let app = spawn_app().await;
    let node_b = new_node(&app.db_url, |_| {}).await;
    let (_, operator) = make_key(&app, ENV, "operator", &["admin"], None);
    let (id, first) = make_key(&app, ENV, "rotated twice at once", &["read"], None);
    for node in [&app.address[..], &node_b] {
        assert_eq!(verify(node, Some(&first), None).await.code(), "VALID");
    }
    for round in 0..20 {
        let (a, b) = tokio::join!(
            rotate(&app.address, &operator, id),
            rotate(&node_b, &operator, id)
        );
        let (a, b) = (secret_of(&a).unwrap(), secret_of(&b).unwrap());
        assert_ne!(a, b);
        for secret in [&a, &b] {
            for node in [&app.address[..], &node_b] {
                assert_eq!(
                    verify(node, Some(secret), None).await.code(),
                    "VALID",
                    "round {round}: a secret just handed out is refused"
                );
            }
        }
    }
    // Serialised, each rotation saw the secret the other one had just made.
    let events: Vec<String> =
        keyward::db::audit::list_for_environment(&mut app.conn(), app.environment_id(ENV))
            .unwrap()
            .into_iter()
            .filter(|e| e.action == "api_key.rotated")
            .map(|e| {
                let details: serde_json::Value = serde_json::from_str(&e.details).unwrap();
                details["old_masked"].as_str().unwrap().to_owned()
            })
            .collect();
    assert_eq!(events.len(), 40);
    let distinct: std::collections::HashSet<_> = events.iter().collect();
    assert_eq!(
        distinct.len(),
        40,
        "no two rotations replaced the same secret"
    );
    // At most three earlier secrets are kept.
    assert_eq!(
        keyward::db::api_keys::previous_secrets(&mut app.conn(), id)
            .unwrap()
            .len(),
        3
    );
}

/// Every secret is refused by every node, once the revocation's notice has reached it (a few
/// milliseconds; the bug this guards against kept secrets alive until a restart).
async fn refused_everywhere(nodes: [&str; 2], secrets: &[String], round: usize) {
    for secret in secrets {
        for node in nodes {
            eventually(
                Duration::from_secs(5),
                &format!("round {round}: a secret of the revoked key to be refused"),
                async || {
                    let code = verify(node, Some(secret), None).await.code().to_owned();
                    code == "REVOKED" || code == "NOT_FOUND"
                },
            )
            .await;
            let listed = api(
                node,
                reqwest::Method::GET,
                "/api/v1/api-keys",
                Some(secret),
                None,
            )
            .await;
            assert_eq!(
                listed.status,
                reqwest::StatusCode::UNAUTHORIZED,
                "round {round}"
            );
        }
    }
}

#[tokio::test]
async fn a_rotation_racing_a_revoke_leaves_no_secret_of_the_key_alive_on_any_node() {
    let app = spawn_app().await;
    let node_b = new_node(&app.db_url, |_| {}).await;
    let nodes = [&app.address[..], &node_b];
    let (_, operator) = make_key(&app, ENV, "operator", &["admin"], None);
    for round in 0..20 {
        // An admin-scope key, in memory on both nodes, used against the management API.
        let (id, original) = make_key(&app, ENV, &format!("doomed {round}"), &["admin"], None);
        for node in nodes {
            let listed = api(
                node,
                reqwest::Method::GET,
                "/api/v1/api-keys",
                Some(&original),
                None,
            )
            .await;
            assert_eq!(listed.status, reqwest::StatusCode::OK);
        }
        let mut handed_out = vec![original];
        if round % 2 == 0 {
            let (rotated, revoked) = tokio::join!(
                rotate(&app.address, &operator, id),
                revoke(&node_b, &operator, id)
            );
            assert_eq!(revoked.status, reqwest::StatusCode::NO_CONTENT);
            handed_out.extend(secret_of(&rotated));
        } else {
            let (a, b) = tokio::join!(
                rotate(&app.address, &operator, id),
                rotate(&node_b, &operator, id)
            );
            handed_out.extend(secret_of(&a));
            handed_out.extend(secret_of(&b));
            assert_eq!(handed_out.len(), 3);
            for secret in &handed_out {
                assert_eq!(verify(&node_b, Some(secret), None).await.code(), "VALID");
            }
            let revoked = revoke(&app.address, &operator, id).await;
            assert_eq!(revoked.status, reqwest::StatusCode::NO_CONTENT);
        }
        refused_everywhere(nodes, &handed_out, round).await;
    }
}

#[tokio::test]
async fn verifications_are_counted_exactly_once_when_the_server_stops_on_sigterm() {
    let app = spawn_app().await;
    let (id, key) = make_key(&app, ENV, "counted", &["read"], None);
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut server = tokio::process::Command::new(env!("CARGO_BIN_EXE_keyward"))
        .env("DATABASE_URL", &app.db_url)
        .env("KEYWARD_BIND", format!("127.0.0.1:{port}"))
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let base = format!("http://127.0.0.1:{port}");
    let client = reqwest::Client::new();
    let started = Instant::now();
    while client.get(format!("{base}/healthz")).send().await.is_err() {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "the server did not start"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    let (valid, refused) = (25, 12);
    for _ in 0..valid {
        assert_eq!(verify(&base, Some(&key), None).await.code(), "VALID");
    }
    for _ in 0..refused {
        assert_eq!(
            verify(
                &base,
                Some(&key),
                Some(serde_json::json!({"scope": "admin"}))
            )
            .await
            .code(),
            "INSUFFICIENT_SCOPE"
        );
    }
    let pid = nix::unistd::Pid::from_raw(server.id().unwrap() as i32);
    nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM).unwrap();
    let status = tokio::time::timeout(Duration::from_secs(30), server.wait())
        .await
        .unwrap()
        .unwrap();
    assert!(status.success(), "exit 0 on SIGTERM, got {status}");

    let mut conn = app.conn();
    let rows = keyward::db::usage::since(
        &mut conn,
        id,
        chrono::Utc::now() - chrono::Duration::hours(1),
    )
    .unwrap();
    let count = |code: &str| {
        rows.iter()
            .filter(|(_, c, _)| c == code)
            .map(|(_, _, n)| n)
            .sum::<i64>()
    };
    assert_eq!(count("VALID"), valid);
    assert_eq!(count("INSUFFICIENT_SCOPE"), refused);
    assert_eq!(
        keyward::db::usage::total(&mut conn, id).unwrap(),
        valid + refused
    );
    let key_row = keyward::db::api_keys::find(&mut conn, app.environment_id(ENV), id)
        .unwrap()
        .unwrap();
    assert!(key_row.last_used_at.is_some(), "last used is recorded");
}

#[tokio::test]
async fn a_failed_usage_write_keeps_its_counts_and_the_next_one_writes_them_once() {
    use diesel::connection::SimpleConnection;
    use keyward::verify::{Code, usage::UsageBuffer};

    let app = spawn_app().await;
    let (id, _) = make_key(&app, ENV, "buffered", &["read"], None);
    let buffer = UsageBuffer::default();
    let now = chrono::Utc::now();
    std::thread::scope(|s| {
        for _ in 0..3 {
            s.spawn(|| (0..10).for_each(|_| buffer.record(id, Code::Valid, now)));
        }
    });
    let mut conn = app.conn();
    conn.batch_execute("ALTER TABLE api_key_usage RENAME TO api_key_usage_away")
        .unwrap();
    assert!(buffer.flush(&mut conn).is_err());
    conn.batch_execute("ALTER TABLE api_key_usage_away RENAME TO api_key_usage")
        .unwrap();
    assert_eq!(
        buffer.unflushed(id),
        [(keyward::verify::usage::minute_of(now), "VALID", 30)]
    );
    buffer.flush(&mut conn).unwrap();
    assert_eq!(buffer.flush(&mut conn).unwrap(), 0, "nothing left to write");
    assert_eq!(keyward::db::usage::total(&mut conn, id).unwrap(), 30);
}
