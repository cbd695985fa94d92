//! One key's page (SPEC §10): who sees what, Edit, Rotate with a grace period, the usage
//! chart against the usage API, and the hourly roll-up of usage.

use chrono::{DateTime, TimeDelta, Utc};
use diesel::prelude::*;
use keyward::db;
use keyward::db::usage::{UsageCell, hour_of};
use keyward::domain::ids::KeyId;
use keyward::routes::key_page::chart::Period;
use keyward::verify::usage::minute_of;
use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::helpers::*;

fn key_path(id: KeyId) -> String {
    format!("{}/{id}", keys_path(ENV))
}

fn seed(app: &TestApp, id: KeyId, at: DateTime<Utc>, code: &'static str, count: i64) {
    let cell = UsageCell {
        key_id: id,
        minute: minute_of(at),
        code,
    };
    db::usage::add(&mut app.conn(), &[(cell, count)], &[]).unwrap();
}

/// (valid, refused) summed over what the chart or the API read for `[from, to)`.
fn stored_totals(
    conn: &mut PgConnection,
    id: KeyId,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> (i64, i64) {
    db::usage::hourly(conn, id, from, to)
        .unwrap()
        .iter()
        .fold((0, 0), |(v, r), (_, valid, refused)| {
            (v + valid, r + refused)
        })
}

async fn usage_api(app: &TestApp, admin_key: &str, id: KeyId, query: &str) -> Reply {
    api(
        &app.address,
        Method::GET,
        &format!("/api/v1/api-keys/{id}/usage?{query}"),
        Some(admin_key),
        None,
    )
    .await
}

fn api_totals(reply: &Reply) -> (i64, i64) {
    reply
        .json
        .as_array()
        .unwrap()
        .iter()
        .fold((0, 0), |(v, r), row| {
            (
                v + row["valid"].as_i64().unwrap(),
                r + row["refused"].as_i64().unwrap(),
            )
        })
}

#[tokio::test]
async fn admins_and_owners_manage_the_page_members_read_it_strangers_get_404() {
    let app = spawn_app().await;
    let admin = app.signed_in_as(Who::Admin).await;
    app.create_key(&admin, "Checkout", &["read", "write"]).await;
    let key = app.keys()[0].clone();
    let path = key_path(key.id);

    let page = admin.get(&path).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    for shown in [
        key.masked.as_str(),
        "Checkout",
        ">On<",
        "Secret",
        "write",
        &format!("by {ADMIN_EMAIL}"),
        ">Never<",
        "<summary class=\"button\">Edit</summary>",
        ">Save<",
        "Grace period",
        "Rotate key",
        "Audit events",
        "<code>api_key.created</code>",
        "role=\"img\"",
    ] {
        assert!(page.body.contains(shown), "the admin sees {shown}");
    }

    let owner = app.signed_in_as(Who::Owner).await;
    let page = owner.get(&path).await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.body.contains("Rotate key") && page.body.contains("Audit events"));

    let member = app.signed_in_as(Who::Member).await;
    let page = member.get(&path).await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.body.contains(&key.masked));
    assert!(page.body.contains("role=\"img\""), "members see usage");
    for hidden in [
        ">Edit<",
        ">Save<",
        "Rotate key",
        "Audit events",
        "api_key.created",
    ] {
        assert!(
            !page.body.contains(hidden),
            "a member does not see {hidden}"
        );
    }
    let edit = member
        .post_form(
            &format!("{path}/edit"),
            &[("name", "Taken over"), ("expiration", "keep")],
        )
        .await;
    assert_eq!(edit.status, StatusCode::FORBIDDEN);
    let rotate = member
        .post_form(&format!("{path}/rotation"), &[("grace_period", "none")])
        .await;
    assert_eq!(rotate.status, StatusCode::FORBIDDEN);
    assert_eq!(app.keys()[0].name, "Checkout");
    assert_eq!(app.keys()[0].digest, key.digest, "not rotated");

    let stranger = app.signed_in_as(Who::Outsider).await;
    assert_eq!(stranger.get(&path).await.status, StatusCode::NOT_FOUND);
    assert_eq!(
        stranger
            .post_form(&format!("{path}/rotation"), &[("grace_period", "none")])
            .await
            .status,
        StatusCode::NOT_FOUND
    );

    // Not an id, or not a key of this environment: 404. `new` is still the Add panel.
    assert_eq!(
        admin.get(&format!("{}/abc", keys_path(ENV))).await.status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        admin
            .get(&format!("{}/{}", keys_path("staging"), key.id))
            .await
            .status,
        StatusCode::NOT_FOUND
    );
    let new = admin.get(&format!("{}/new", keys_path(ENV))).await;
    assert_eq!(new.status, StatusCode::OK);
    assert!(new.body.contains("Add API key"));

    // Revoked keys stay viewable, without the actions.
    admin.revoke(key.id).await;
    let page = admin.get(&path).await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.body.contains(">Revoked<"));
    assert!(!page.body.contains("Rotate key") && !page.body.contains(">Save<"));
    assert!(page.body.contains("<code>api_key.revoked</code>"));
}

#[tokio::test]
async fn edit_saves_through_the_service_and_refuses_each_bad_field_saving_nothing() {
    let app = spawn_app().await;
    let admin = app.signed_in_as(Who::Admin).await;
    app.create_key(&admin, "Other", &["read"]).await;
    app.create_key(&admin, "Checkout", &["read"]).await;
    let id = app.keys().iter().find(|k| k.name == "Checkout").unwrap().id;
    let path = key_path(id);
    let find = || app.keys().into_iter().find(|k| k.id == id).unwrap();

    let saved = admin
        .post_form(
            &format!("{path}/edit"),
            &[
                ("name", "Checkout v2"),
                ("description", "The shop's backend"),
                ("rate_limit", "120"),
                ("expiration", "30"),
                ("expires_on", ""),
            ],
        )
        .await;
    assert_eq!(saved.status, StatusCode::OK, "{}", saved.body);
    assert!(saved.body.contains("Saved."));
    let key = find();
    assert_eq!(key.name, "Checkout v2");
    assert_eq!(key.description, "The shop's backend");
    assert_eq!(key.rate_limit_per_minute, Some(120));
    let expires = key.expires_at.unwrap();
    assert!(
        (expires - Utc::now() - TimeDelta::days(30))
            .num_minutes()
            .abs()
            < 5
    );
    assert_eq!(app.audit_actions()[0], "api_key.updated");

    let too_long = "x".repeat(501);
    let cases: [(&[(&str, &str)], &str); 6] = [
        (&[("name", "  "), ("expiration", "keep")], "edit-name-error"),
        (
            &[("name", "Other"), ("expiration", "keep")],
            "edit-name-error",
        ),
        (
            &[
                ("name", "Fine"),
                ("description", &too_long),
                ("expiration", "keep"),
            ],
            "edit-description-error",
        ),
        (
            &[
                ("name", "Fine"),
                ("rate_limit", "0"),
                ("expiration", "keep"),
            ],
            "edit-rate-limit-error",
        ),
        (
            &[
                ("name", "Fine"),
                ("rate_limit", "lots"),
                ("expiration", "keep"),
            ],
            "edit-rate-limit-error",
        ),
        (
            &[
                ("name", "Fine"),
                ("expiration", "date"),
                ("expires_on", "2001-01-01"),
            ],
            "edit-expiration-error",
        ),
    ];
    let events = app.audit_actions().len();
    for (fields, error) in cases {
        let refused = admin.post_form(&format!("{path}/edit"), fields).await;
        assert_eq!(
            refused.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{fields:?}"
        );
        assert!(
            refused.body.contains(&format!("id=\"{error}\"")),
            "{fields:?}"
        );
        assert!(
            refused.body.contains("id=\"key-edit\" open"),
            "the form stays open"
        );
        let key = find();
        assert_eq!(
            (key.name.as_str(), key.rate_limit_per_minute, key.expires_at),
            ("Checkout v2", Some(120), Some(expires)),
            "nothing saved for {fields:?}"
        );
    }
    assert_eq!(
        app.audit_actions().len(),
        events,
        "no event for a refused edit"
    );

    // With htmx the form itself comes back, with its message, where it was.
    let refused = admin
        .post_htmx(
            &format!("{path}/edit"),
            &[("name", ""), ("expiration", "keep")],
        )
        .await;
    assert_eq!(refused.status, StatusCode::OK);
    assert_eq!(refused.headers["hx-retarget"], "#key-edit");
    assert!(
        refused.body.trim_start().starts_with("<details"),
        "{}",
        &refused.body[..refused.body.len().min(300)]
    );
    assert!(refused.body.contains("id=\"edit-name-error\""));

    // Keep leaves the expiry alone; an empty rate limit removes it.
    let kept = admin
        .post_form(
            &format!("{path}/edit"),
            &[
                ("name", "Checkout v3"),
                ("rate_limit", ""),
                ("expiration", "keep"),
            ],
        )
        .await;
    assert_eq!(kept.status, StatusCode::OK);
    let key = find();
    assert_eq!(
        (key.name.as_str(), key.rate_limit_per_minute, key.expires_at),
        ("Checkout v3", None, Some(expires))
    );
}

#[tokio::test]
async fn rotate_with_a_grace_period_keeps_the_old_secret_until_the_grace_ends() {
    let clock = ManualClock::starting_at(Utc::now());
    let app = spawn_app_with_clock(clock.clone()).await;
    let admin = app.signed_in_as(Who::Admin).await;
    let old = app.create_key(&admin, "rotating", &["read"]).await;
    let id = app.keys()[0].id;
    assert_eq!(verify(&app.address, Some(&old), None).await.code(), "VALID");

    let refused = admin
        .post_form(
            &format!("{}/rotation", key_path(id)),
            &[("grace_period", "forever")],
        )
        .await;
    assert_eq!(refused.status, StatusCode::UNPROCESSABLE_ENTITY);

    let rotated = admin
        .post_form(
            &format!("{}/rotation", key_path(id)),
            &[("grace_period", "1h")],
        )
        .await;
    assert_eq!(rotated.status, StatusCode::OK, "{}", rotated.body);
    assert_eq!(rotated.headers["cache-control"], "no-store");
    assert!(rotated.body.contains("This key will be shown only once."));
    let new = revealed_key(&rotated.body).unwrap();
    assert_ne!(new, old);
    assert_eq!(app.keys()[0].id, id, "the same key");
    assert!(app.audit_actions().contains(&"api_key.rotated".to_owned()));

    // The page does not show the plaintext again.
    let page = admin.get(&key_path(id)).await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(!page.body.contains(&new));

    assert_eq!(verify(&app.address, Some(&new), None).await.code(), "VALID");
    assert_eq!(verify(&app.address, Some(&old), None).await.code(), "VALID");
    clock.advance(TimeDelta::minutes(59));
    assert_eq!(
        verify(&app.address, Some(&old), None).await.code(),
        "VALID",
        "still inside the grace period"
    );
    clock.advance(TimeDelta::minutes(2));
    assert_ne!(
        verify(&app.address, Some(&old), None).await.code(),
        "VALID",
        "the grace period is over"
    );
    assert_eq!(verify(&app.address, Some(&new), None).await.code(), "VALID");
}

#[tokio::test]
async fn the_charts_totals_match_the_usage_api_for_every_period() {
    let now = Utc::now();
    let clock = ManualClock::starting_at(now);
    let app = spawn_app_with_clock(clock.clone()).await;
    let (_, admin_key) = make_key(&app, ENV, "automation", &["admin"], None);
    let (id, key) = make_key(&app, ENV, "busy", &["read"], None);
    seed(&app, id, now - TimeDelta::minutes(10), "VALID", 5);
    seed(&app, id, now - TimeDelta::minutes(10), "DISABLED", 2);
    seed(&app, id, now - TimeDelta::hours(3), "VALID", 7);
    seed(&app, id, now - TimeDelta::hours(30), "VALID", 11);
    seed(&app, id, now - TimeDelta::hours(30), "RATE_LIMITED", 4);
    seed(&app, id, now - TimeDelta::days(10), "VALID", 13);
    let member = app.signed_in_as(Who::Member).await;

    let check = async |expected: [(Period, (i64, i64)); 3]| {
        for (period, (valid, refused)) in expected {
            let page = member
                .get(&format!("{}?period={}", key_path(id), period.param()))
                .await;
            assert_eq!(page.status, StatusCode::OK);
            assert!(
                page.body.contains(&format!(
                    "aria-label=\"Verifications over the last {}: {valid} valid, {refused} refused",
                    period.label()
                )),
                "{period:?}: {}",
                page.body
            );
            assert!(page.body.contains(&format!(
                "<th scope=\"row\">Total</th><td>{valid}</td><td>{refused}</td>"
            )));
            let bars = page.body.matches("<tr><th scope=\"row\">").count() - 1;
            assert_eq!(bars as i64, period.bars(), "{period:?}");
            let hours = period.hours_needed(now);
            let reply = usage_api(&app, &admin_key, id, &format!("hours={hours}")).await;
            assert_eq!(reply.status, StatusCode::OK);
            assert_eq!(reply.json.as_array().unwrap().len() as i64, hours);
            assert_eq!(api_totals(&reply), (valid, refused), "{period:?}");
        }
    };
    let expected = [
        (Period::Day, (12, 2)),
        (Period::Week, (23, 6)),
        (Period::Month, (36, 6)),
    ];
    check(expected).await;

    // Newest first, hour by hour, and the per-minute answer is as before.
    let reply = usage_api(&app, &admin_key, id, "hours=5").await;
    let hours: Vec<&str> = reply
        .json
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["hour"].as_str().unwrap())
        .collect();
    assert!(hours.windows(2).all(|w| w[0] > w[1]), "{hours:?}");
    let first: DateTime<Utc> = hours[0].parse().unwrap();
    assert_eq!(first, hour_of(now));
    let minutes = usage_api(&app, &admin_key, id, "minutes=60").await;
    assert_eq!(minutes.json.as_array().unwrap().len(), 60);
    assert_eq!(api_totals(&minutes), (5, 2));

    // Rolled up, the totals stay (the 10-day-old minutes now live only in the hourly table).
    db::usage::roll_up(&mut app.conn(), now).unwrap().unwrap();
    check(expected).await;

    // A fresh verification shows at once (from memory, or from the minute rows once flushed).
    let (valid, refused) = api_totals(&usage_api(&app, &admin_key, id, "hours=1").await);
    assert_eq!(verify(&app.address, Some(&key), None).await.code(), "VALID");
    eventually(
        std::time::Duration::from_secs(10),
        "the verification in this hour's count",
        async || {
            api_totals(&usage_api(&app, &admin_key, id, "hours=1").await) == (valid + 1, refused)
        },
    )
    .await;
}

#[tokio::test]
async fn rolling_up_keeps_the_totals_and_prunes_minutes_after_48_hours_and_hours_after_90_days() {
    let app = spawn_app().await;
    let (id, _) = make_key(&app, ENV, "busy", &["read"], None);
    let now: DateTime<Utc> = "2026-11-23T12:34:56Z".parse().unwrap();
    let seeds = [
        (TimeDelta::minutes(5), "VALID", 1),
        (TimeDelta::minutes(65), "VALID", 2),
        (TimeDelta::minutes(65), "NOT_FOUND", 3),
        (TimeDelta::hours(3), "EXPIRED", 4),
        (TimeDelta::hours(47), "VALID", 5),
        (TimeDelta::hours(49), "VALID", 6),
        (TimeDelta::days(30), "RATE_LIMITED", 7),
        (TimeDelta::days(91), "VALID", 1000),
    ];
    for (ago, code, n) in seeds {
        seed(&app, id, now - ago, code, n);
    }
    let mut conn = app.conn();
    let window = (
        hour_of(now) - TimeDelta::days(89),
        hour_of(now) + TimeDelta::hours(1),
    );
    let before = stored_totals(&mut conn, id, window.0, window.1);
    assert_eq!(before, (14, 14));

    let done = db::usage::roll_up(&mut conn, now).unwrap().unwrap();
    assert_eq!(done.rolled_up_to, hour_of(now));
    assert_eq!(stored_totals(&mut conn, id, window.0, window.1), before);
    // Again (and an hour later, when the current hour is finished): nothing counted twice.
    db::usage::roll_up(&mut conn, now).unwrap().unwrap();
    assert_eq!(stored_totals(&mut conn, id, window.0, window.1), before);
    db::usage::roll_up(&mut conn, now + TimeDelta::hours(1))
        .unwrap()
        .unwrap();
    assert_eq!(
        stored_totals(&mut conn, id, window.0, window.1 + TimeDelta::hours(1)),
        before
    );

    use db::schema::{api_key_usage, api_key_usage_hourly};
    let oldest_minute: Option<DateTime<Utc>> = api_key_usage::table
        .select(diesel::dsl::min(api_key_usage::minute))
        .first(&mut conn)
        .unwrap();
    assert!(
        oldest_minute.unwrap() >= now - TimeDelta::hours(48),
        "{oldest_minute:?}"
    );
    let minutes_left: i64 = api_key_usage::table.count().get_result(&mut conn).unwrap();
    assert_eq!(minutes_left, 5, "5 minute rows are younger than 48 hours");
    let oldest_hour: Option<DateTime<Utc>> = api_key_usage_hourly::table
        .select(diesel::dsl::min(api_key_usage_hourly::hour))
        .first(&mut conn)
        .unwrap();
    assert!(
        oldest_hour.unwrap() >= now - TimeDelta::days(90),
        "{oldest_hour:?}"
    );
    let (valid, refused): (i64, i64) = api_key_usage_hourly::table
        .select((
            diesel::dsl::sql::<diesel::sql_types::BigInt>("COALESCE(SUM(valid), 0)::bigint"),
            diesel::dsl::sql::<diesel::sql_types::BigInt>("COALESCE(SUM(refused), 0)::bigint"),
        ))
        .first(&mut conn)
        .unwrap();
    assert_eq!((valid, refused), (14, 14), "the 91-day-old hour is gone");

    // One node at a time: while another holds the lock, a roll-up skips.
    let mut other = app.conn();
    other
        .transaction::<_, diesel::result::Error, _>(|other| {
            diesel::sql_query(format!(
                "SELECT pg_advisory_xact_lock({})",
                db::usage::ROLLUP_LOCK
            ))
            .execute(other)?;
            assert_eq!(db::usage::roll_up(&mut conn, now).unwrap(), None);
            Ok(())
        })
        .unwrap();
    assert!(db::usage::roll_up(&mut conn, now).unwrap().is_some());
}

#[tokio::test]
async fn the_usage_api_checks_hours() {
    let app = spawn_app().await;
    let (_, admin_key) = make_key(&app, ENV, "automation", &["admin"], None);
    let (id, _) = make_key(&app, ENV, "busy", &["read"], None);
    for query in ["hours=0", "hours=2161", "hours=-3", "hours=abc"] {
        let reply = usage_api(&app, &admin_key, id, query).await;
        assert_eq!(reply.status, StatusCode::UNPROCESSABLE_ENTITY, "{query}");
        assert_eq!(
            reply.json["error"]["fields"][0]["field"], "hours",
            "{query}"
        );
    }
    // With both, hours wins: hourly rows.
    let both = usage_api(&app, &admin_key, id, "hours=24&minutes=60").await;
    assert_eq!(both.status, StatusCode::OK);
    assert_eq!(both.json.as_array().unwrap().len(), 24);
    assert!(both.json[0]["hour"].is_string());
    let all = usage_api(&app, &admin_key, id, "hours=2160").await;
    assert_eq!(all.status, StatusCode::OK);
    assert_eq!(all.json.as_array().unwrap().len(), 2160);
    assert_eq!(
        all.json[0],
        json!({"hour": all.json[0]["hour"], "valid": 0, "refused": 0})
    );
    let doc = api(
        &app.address,
        Method::GET,
        "/api/v1/openapi.json",
        None,
        None,
    )
    .await;
    let params = &doc.json["paths"]["/api/v1/api-keys/{id}/usage"]["get"]["parameters"];
    assert!(
        params
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p["name"] == "hours" && p["schema"]["maximum"] == 2160),
        "{params}"
    );
}
