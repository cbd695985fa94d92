//! Cluster-wide budgets (SPEC §11): a key's rate limit holds for all nodes together, served
//! from slices reserved in PostgreSQL rather than a statement per request.

use diesel::prelude::*;
use diesel::sql_types::Double;

use serde_json::json;

use crate::helpers::*;

#[derive(QueryableByName)]
struct Tokens {
    #[diesel(sql_type = Double)]
    tokens: f64,
}

fn bucket_tokens(app: &TestApp, key_id: keyward::domain::ids::KeyId) -> Option<f64> {
    diesel::sql_query("SELECT tokens FROM rate_buckets WHERE api_key_id = $1")
        .bind::<diesel::sql_types::BigInt, _>(key_id.get())
        .get_result::<Tokens>(&mut app.conn())
        .optional()
        .unwrap()
        .map(|t| t.tokens)
}

async fn reservations(nodes: &[&str]) -> f64 {
    let mut sum = 0.0;
    for node in nodes {
        sum += metric(node, "keyward_budget_reservations_total").await;
    }
    sum
}

/// Sends `n` verifies round-robin over `nodes`, one at a time, and counts the VALID answers.
async fn valid_of(nodes: &[&str], key: &str, n: usize) -> usize {
    let mut valid = 0;
    for i in 0..n {
        let r = verify(nodes[i % nodes.len()], Some(key), None).await;
        match r.code() {
            "VALID" => valid += 1,
            "RATE_LIMITED" => assert!(r.header("retry-after").is_some()),
            other => panic!("unexpected {other}"),
        }
    }
    valid
}

#[tokio::test]
async fn three_nodes_share_one_rate_limit() {
    let app = spawn_app().await;
    let second = new_node(&app.db_url, |_| {}).await;
    let third = new_node(&app.db_url, |_| {}).await;
    let (_, key) = make_key(&app, ENV, "shared limit", &["read"], Some(120));
    let nodes = [app.address.as_str(), &second, &third];
    let started = std::time::Instant::now();
    let valid = valid_of(&nodes, &key, 300).await;
    let took = started.elapsed();
    assert!(took < std::time::Duration::from_secs(3), "took {took:?}");
    assert!((114..=126).contains(&valid), "{valid} VALID of 300");
    let statements = reservations(&nodes).await;
    assert!(
        statements < 100.0,
        "{statements} budget statements for 300 verifies"
    );
}

#[tokio::test]
async fn the_shared_bucket_refills_at_the_limit_per_minute() {
    let clock = ManualClock::starting_at(chrono::Utc::now());
    let app = spawn_app_with_clock(clock.clone()).await;
    let second = new_node_with_clock(&app.db_url, clock.clone()).await;
    let (_, key) = make_key(&app, ENV, "refilling", &["read"], Some(60));
    let nodes = [app.address.as_str(), &second];
    assert_eq!(
        valid_of(&nodes, &key, 100).await,
        60,
        "a burst of the limit"
    );
    clock.advance(chrono::TimeDelta::seconds(20));
    assert_eq!(
        valid_of(&nodes, &key, 60).await,
        20,
        "20 s refill 20 tokens"
    );
    assert_eq!(valid_of(&nodes, &key, 10).await, 0, "and no more");
}

#[tokio::test]
async fn a_stopped_node_gives_its_slice_back() {
    let clock = ManualClock::starting_at(chrono::Utc::now());
    let app = spawn_app_with_clock(clock.clone()).await;
    let second = new_node_with_clock(&app.db_url, clock.clone()).await;
    let (key_id, key) = make_key(&app, ENV, "given back", &["read"], Some(60));
    assert_eq!(verify(&second, Some(&key), None).await.code(), "VALID");
    let held = bucket_tokens(&app, key_id).unwrap();
    assert!(held < 59.0, "the second node holds a slice ({held} left)");
    drop(second);
    eventually(
        std::time::Duration::from_secs(10),
        "the slice comes back",
        || async { bucket_tokens(&app, key_id) == Some(59.0) },
    )
    .await;
    assert_eq!(valid_of(&[&app.address], &key, 80).await, 59);
}

#[tokio::test]
async fn verifies_are_served_from_slices_not_a_statement_each() {
    let app = spawn_app().await;
    let (_, key) = make_key(&app, ENV, "busy", &["read"], Some(60_000));
    assert_eq!(valid_of(&[&app.address], &key, 1000).await, 1000);
    let statements = reservations(&[&app.address]).await;
    assert!(
        statements <= 5.0,
        "{statements} budget statements for 1000 verifies"
    );
}

mod quotas {
    use std::sync::Arc;

    use chrono::{TimeDelta, TimeZone, Utc};
    use keyward::domain::ids::KeyId;
    use keyward::metrics::Metrics;
    use keyward::verify::quota::{QuotaPeriod, QuotaSpec, Quotas};

    use crate::helpers::*;

    /// A node's quota budgets on the test's database and clock (the verify path wires them to
    /// a key's quota once the key fields exist).
    fn node(app: &TestApp, clock: &Arc<ManualClock>) -> Arc<Quotas> {
        let pool = keyward::db::build_pool(&app.db_url, 2).unwrap();
        Quotas::new(pool, Arc::new(Metrics::new()), clock.clone()).unwrap()
    }

    async fn allowed(nodes: &[&Arc<Quotas>], key: KeyId, spec: QuotaSpec, n: usize) -> u64 {
        let mut allowed = 0;
        for i in 0..n {
            let check = nodes[i % nodes.len()].spend(key, spec).await.unwrap();
            assert_eq!(check.limit, spec.limit);
            if check.allowed {
                allowed += 1;
            } else {
                assert_eq!(check.remaining, 0, "a refusal says nothing is left");
            }
        }
        allowed
    }

    fn spec(limit: u64, period: QuotaPeriod) -> QuotaSpec {
        QuotaSpec { limit, period }
    }

    async fn setup(at: chrono::DateTime<Utc>) -> (TestApp, Arc<ManualClock>, KeyId) {
        let clock = ManualClock::starting_at(at);
        let app = spawn_app_with_clock(clock.clone()).await;
        let (key, _) = make_key(&app, ENV, "metered", &["read"], None);
        (app, clock, key)
    }

    #[tokio::test]
    async fn three_nodes_answer_exactly_the_quota() {
        let (app, clock, key) = setup(Utc::now()).await;
        let (a, b, c) = (node(&app, &clock), node(&app, &clock), node(&app, &clock));
        let total = spec(50, QuotaPeriod::Total);
        assert_eq!(allowed(&[&a, &b, &c], key, total, 200).await, 50);
        assert_eq!(
            allowed(&[&a, &b, &c], key, total, 30).await,
            0,
            "never over"
        );
    }

    #[tokio::test]
    async fn a_stopped_node_gives_back_what_it_reserved() {
        let (app, clock, key) = setup(Utc::now()).await;
        let (a, b) = (node(&app, &clock), node(&app, &clock));
        let q = spec(100, QuotaPeriod::Month);
        assert_eq!(allowed(&[&a], key, q, 1).await, 1);
        a.give_back_all(&mut app.conn()).unwrap();
        assert_eq!(allowed(&[&b], key, q, 150).await, 99);
    }

    #[tokio::test]
    async fn a_dead_nodes_lease_returns_when_it_expires() {
        let (app, clock, key) = setup(Utc.with_ymd_and_hms(2026, 11, 23, 12, 0, 0).unwrap()).await;
        let (a, b) = (node(&app, &clock), node(&app, &clock));
        let q = spec(100, QuotaPeriod::Day);
        assert_eq!(allowed(&[&a], key, q, 1).await, 1);
        a.abandon_all();
        let before = allowed(&[&b], key, q, 150).await;
        assert!(before < 99, "the dead node's slice is held: {before}");
        clock.advance(TimeDelta::seconds(31));
        let after = allowed(&[&b], key, q, 150).await;
        assert_eq!(1 + before + after, 100, "and comes back after its lease");
    }

    #[tokio::test]
    async fn a_day_quota_starts_afresh_at_utc_midnight() {
        let (app, clock, key) = setup(Utc.with_ymd_and_hms(2026, 11, 23, 23, 59, 0).unwrap()).await;
        let (a, b) = (node(&app, &clock), node(&app, &clock));
        let q = spec(5, QuotaPeriod::Day);
        assert_eq!(allowed(&[&a, &b], key, q, 12).await, 5);
        let check = a.spend(key, q).await.unwrap();
        assert_eq!(check.reset_secs, Some(60));
        clock.set(Utc.with_ymd_and_hms(2026, 11, 24, 0, 0, 0).unwrap());
        assert_eq!(allowed(&[&a, &b], key, q, 12).await, 5);
    }

    #[tokio::test]
    async fn a_new_limit_keeps_the_periods_count_and_a_new_period_starts_afresh() {
        let (app, clock, key) = setup(Utc::now()).await;
        let a = node(&app, &clock);
        assert_eq!(
            allowed(&[&a], key, spec(10, QuotaPeriod::Month), 4).await,
            4
        );
        a.give_back_all(&mut app.conn()).unwrap();
        assert_eq!(
            allowed(&[&a], key, spec(6, QuotaPeriod::Month), 10).await,
            2
        );
        assert_eq!(allowed(&[&a], key, spec(6, QuotaPeriod::Day), 10).await, 6);
    }
}

#[tokio::test]
async fn three_nodes_answer_exactly_a_keys_quota_with_its_headers() {
    let app = spawn_app().await;
    let second = new_node(&app.db_url, |_| {}).await;
    let third = new_node(&app.db_url, |_| {}).await;
    let (key_id, key) = make_key(&app, ENV, "metered", &["read"], None);
    // Set before the key's first verify, so no node has it cached yet.
    diesel::sql_query("UPDATE api_keys SET quota_limit = 50, quota_period = 'total' WHERE id = $1")
        .bind::<diesel::sql_types::BigInt, _>(key_id.get())
        .execute(&mut app.conn())
        .unwrap();
    let nodes = [app.address.as_str(), &second, &third];
    let mut valid = 0;
    for i in 0..200 {
        let r = verify(nodes[i % 3], Some(&key), None).await;
        assert_eq!(r.header("x-quota-limit"), Some("50"), "on every answer");
        let remaining: u64 = r.header("x-quota-remaining").unwrap().parse().unwrap();
        match r.code() {
            "VALID" => valid += 1,
            "QUOTA_EXCEEDED" => assert_eq!(remaining, 0),
            other => panic!("unexpected {other}"),
        }
    }
    assert_eq!(valid, 50);
}

/// SPEC §11: a key with a quota gets the `X-Quota-*` headers on every answer; a refusal
/// decided before the quota shows what is left and spends nothing.
#[tokio::test]
async fn refusals_before_the_quota_carry_its_headers_and_spend_nothing() {
    let app = spawn_app().await;
    let (key_id, key) = make_key(&app, ENV, "metered day", &["read"], None);
    diesel::sql_query("UPDATE api_keys SET quota_limit = 5, quota_period = 'day' WHERE id = $1")
        .bind::<diesel::sql_types::BigInt, _>(key_id.get())
        .execute(&mut app.conn())
        .unwrap();
    let base = app.address.as_str();
    let quota = |r: &Reply| {
        assert_eq!(r.header("x-quota-limit"), Some("5"), "{}", r.code());
        let reset: i64 = r.header("x-quota-reset").unwrap().parse().unwrap();
        assert!((0..=86_400).contains(&reset), "reset in {reset} s");
        r.header("x-quota-remaining")
            .unwrap()
            .parse::<u64>()
            .unwrap()
    };

    // Before any VALID answer: nothing reserved on this node, the stored budget is read.
    let wrong_env = verify(base, Some(&key), Some(json!({"environment": "staging"}))).await;
    assert_eq!(wrong_env.code(), "WRONG_ENVIRONMENT");
    assert_eq!(quota(&wrong_env), 5);

    for expected in [4, 3] {
        let r = verify(base, Some(&key), None).await;
        assert_eq!(r.code(), "VALID");
        assert_eq!(quota(&r), expected);
    }
    let scope = verify(base, Some(&key), Some(json!({"scope": "write"}))).await;
    assert_eq!(scope.code(), "INSUFFICIENT_SCOPE");
    assert_eq!(quota(&scope), 3, "a refusal spends nothing");

    let r = verify(base, Some(&key), None).await;
    assert_eq!(quota(&r), 2, "the refusal left the budget as it was");
}
