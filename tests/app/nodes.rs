//! Several server nodes on one database: a change made through one is refused by the others.

use std::time::{Duration, Instant};

use diesel::prelude::*;
use keyward::db::schema::api_keys;

use crate::helpers::*;

#[tokio::test]
async fn a_key_switched_off_through_node_a_is_refused_by_node_b() {
    let app = spawn_app().await;
    let node_a = &app.address;
    let node_b = new_node(&app.db_url, |_| {});
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

#[tokio::test]
async fn a_node_that_loses_its_listening_connection_reads_through_instead_of_serving_stale_state() {
    let app = spawn_app().await;
    let (id, key) = make_key(&app, ENV, "watched", &["read"], None);
    assert_eq!(verify(&app.address, Some(&key), None).await.code(), "VALID");

    let mut conn = app.conn();
    let db_name: String = diesel::dsl::sql::<diesel::sql_types::Text>("SELECT current_database()")
        .get_result(&mut conn)
        .unwrap();
    let killed: Vec<bool> = diesel::dsl::sql::<diesel::sql_types::Bool>(&format!(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
         WHERE datname = '{db_name}' AND pid <> pg_backend_pid() AND (query ILIKE 'LISTEN%' OR query = 'SELECT 1')"
    ))
    .load(&mut conn)
    .unwrap();
    assert!(killed.iter().any(|k| *k), "found the listening connection");
    // The node notices at its next ping and from then on reads every verification through: two
    // in a row miss the cache (while it listens, the second of two is a hit). It tries to
    // listen again only half a second later.
    let base = &app.address;
    eventually(
        Duration::from_secs(5),
        "the node to notice it lost its listening connection",
        async || {
            let before = metric(base, "keyward_key_cache_misses_total").await;
            verify(base, Some(&key), None).await;
            verify(base, Some(&key), None).await;
            metric(base, "keyward_key_cache_misses_total").await - before == 2.0
        },
    )
    .await;

    // A change the node cannot hear about (no NOTIFY): only reading through can see it.
    diesel::update(api_keys::table.find(id))
        .set(api_keys::enabled.eq(false))
        .execute(&mut conn)
        .unwrap();
    assert_eq!(
        verify(&app.address, Some(&key), None).await.code(),
        "DISABLED"
    );

    // Once it listens again (memory serves again: a verification hits the cache), notices work
    // as before.
    eventually(
        Duration::from_secs(5),
        "the node to listen again",
        async || {
            let before = metric(base, "keyward_key_cache_hits_total").await;
            verify(base, Some(&key), None).await;
            metric(base, "keyward_key_cache_hits_total").await > before
        },
    )
    .await;
    let admin = app.signed_in_as(Who::Admin).await;
    admin.switch(id, true).await;
    assert_eq!(verify(&app.address, Some(&key), None).await.code(), "VALID");
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
    eventually(Duration::from_secs(30), "the server to start", async || {
        client.get(format!("{base}/healthz")).send().await
    })
    .await;

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
