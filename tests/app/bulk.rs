//! Bulk actions on the API Keys tab (SPEC §9): Switch off, Switch on and Revoke selected, for
//! owners and admins, one transaction per request, one audit event and one change notice per
//! key, and the next verify on every node refuses or accepts.

use std::time::{Duration, Instant};

use chrono::{DateTime, TimeDelta, Utc};
use diesel::prelude::*;
use keyward::db;
use keyward::db::usage::UsageCell;
use keyward::domain::ids::KeyId;
use keyward::verify::usage::minute_of;
use reqwest::StatusCode;

use crate::helpers::*;

fn bulk_path() -> String {
    format!("{}/bulk", keys_path(ENV))
}

/// The bulk bar's form as a browser without JavaScript sends it.
fn bulk_form<'a>(action: &'a str, ids: &'a [String]) -> Vec<(&'a str, &'a str)> {
    let mut form = vec![("action", action), ("view", "")];
    form.extend(ids.iter().map(|id| ("key", id.as_str())));
    form
}

fn ids(keys: &[KeyId]) -> Vec<String> {
    keys.iter().map(|k| k.to_string()).collect()
}

fn key(app: &TestApp, id: KeyId) -> db::api_keys::ApiKey {
    db::api_keys::find(&mut app.conn(), app.environment_id(ENV), id)
        .unwrap()
        .or_else(|| db::api_keys::find(&mut app.conn(), app.environment_id("staging"), id).unwrap())
        .unwrap()
}

/// The environment's events, newest first.
fn events(app: &TestApp) -> Vec<db::audit::AuditEvent> {
    let filter = db::audit::AuditFilter {
        environment: Some(app.environment_id(ENV)),
        ..Default::default()
    };
    db::audit::page(
        &mut app.conn(),
        &filter,
        db::audit::AuditCursor::Newest,
        10_000,
    )
    .unwrap()
}

/// Follows a plain form's redirect and returns the page it lands on.
async fn landed(client: &Client, answer: &Answer) -> String {
    assert_eq!(answer.status, StatusCode::SEE_OTHER, "{}", answer.body);
    let page = client.get(answer.location()).await;
    assert_eq!(page.status, StatusCode::OK);
    page.body
}

#[tokio::test]
async fn bulk_off_is_refused_by_the_next_verify_on_both_nodes_and_bulk_on_accepts_again() {
    let app = spawn_app().await;
    let node_b = new_node(&app.db_url, |_| {}).await;
    let (a, key_a) = make_key(&app, ENV, "alpha", &["read"], None);
    let (b, key_b) = make_key(&app, ENV, "bravo", &["read"], None);
    let (_, key_c) = make_key(&app, ENV, "charlie", &["read"], None);
    // Both nodes hold every key in memory.
    for node in [app.address.as_str(), &node_b] {
        for k in [&key_a, &key_b, &key_c] {
            assert_eq!(verify(node, Some(k), None).await.code(), "VALID");
        }
    }
    let admin = app.signed_in_as(Who::Admin).await;

    let off = admin
        .post_form(&bulk_path(), &bulk_form("off", &ids(&[a, b])))
        .await;
    assert_eq!(off.location(), keys_path(ENV));
    let page = landed(&admin, &off).await;
    assert!(page.contains("Switched off 2 keys."), "{page}");
    // The message is shown once.
    assert!(
        !admin
            .get(&keys_path(ENV))
            .await
            .body
            .contains("Switched off")
    );

    for k in [&key_a, &key_b] {
        assert_eq!(verify(&app.address, Some(k), None).await.code(), "DISABLED");
        eventually(
            Duration::from_secs(5),
            "node B refuses the key",
            async || verify(&node_b, Some(k), None).await.code() == "DISABLED",
        )
        .await;
    }
    assert_eq!(verify(&node_b, Some(&key_c), None).await.code(), "VALID");

    // With htmx the section comes back in place, with the message.
    let on = admin
        .post_htmx(&bulk_path(), &bulk_form("on", &ids(&[a, b])))
        .await;
    assert_eq!(on.status, StatusCode::OK);
    assert!(on.body.contains("Switched on 2 keys."), "{}", on.body);
    assert!(!on.body.contains("<html"), "a fragment, not a page");
    for k in [&key_a, &key_b] {
        assert_eq!(verify(&app.address, Some(k), None).await.code(), "VALID");
        eventually(
            Duration::from_secs(5),
            "node B accepts the key",
            async || verify(&node_b, Some(k), None).await.code() == "VALID",
        )
        .await;
    }
}

#[tokio::test]
async fn a_bulk_action_writes_one_audit_event_per_key_changed() {
    let app = spawn_app().await;
    let (a, _) = make_key(&app, ENV, "alpha", &["read"], None);
    let (b, _) = make_key(&app, ENV, "bravo", &["read"], None);
    let (c, _) = make_key(&app, ENV, "charlie", &["read"], None);
    let admin = app.signed_in_as(Who::Admin).await;
    let before = events(&app).len();

    admin
        .post_form(&bulk_path(), &bulk_form("off", &ids(&[a, b, c])))
        .await;
    let written = events(&app);
    assert_eq!(written.len(), before + 3);
    let mut targets: Vec<i64> = written[..3]
        .iter()
        .map(|e| {
            assert_eq!(e.action, "api_key.disabled");
            assert_eq!(e.actor_type, "user");
            assert_eq!(e.actor_email.as_deref(), Some(ADMIN_EMAIL));
            assert_eq!(e.target_type.as_deref(), Some("api_key"));
            let k = key(&app, KeyId(e.target_id.unwrap()));
            assert_eq!(e.target_name.as_deref(), Some(k.name.as_str()));
            assert_eq!(e.target_masked.as_deref(), Some(k.masked.as_str()));
            e.target_id.unwrap()
        })
        .collect();
    targets.sort();
    assert_eq!(targets, vec![a.get(), b.get(), c.get()]);

    admin
        .post_form(&bulk_path(), &bulk_form("on", &ids(&[a, c])))
        .await;
    let actions: Vec<String> = events(&app)[..2].iter().map(|e| e.action.clone()).collect();
    assert_eq!(actions, ["api_key.enabled", "api_key.enabled"]);
    assert_eq!(events(&app).len(), before + 5);
}

#[tokio::test]
async fn keys_already_in_that_state_or_revoked_are_skipped_and_the_message_says_so() {
    let app = spawn_app().await;
    let (on, _) = make_key(&app, ENV, "still on", &["read"], None);
    let (off, _) = make_key(&app, ENV, "already off", &["read"], None);
    let (gone, _) = make_key(&app, ENV, "revoked", &["read"], None);
    let admin = app.signed_in_as(Who::Admin).await;
    admin.switch(off, false).await;
    admin.revoke(gone).await;
    let before = events(&app).len();

    let answer = admin
        .post_form(&bulk_path(), &bulk_form("off", &ids(&[on, off, gone])))
        .await;
    let page = landed(&admin, &answer).await;
    assert!(
        page.contains(
            "Switched off 1 key. 1 key was already off and left as it was. \
             1 key is already revoked and skipped."
        ),
        "{page}"
    );
    assert_eq!(events(&app).len(), before + 1, "one event: the key changed");
    assert!(!key(&app, on).enabled);
    assert!(key(&app, gone).revoked_at.is_some());

    // Switching on never brings a revoked key back.
    admin
        .post_form(&bulk_path(), &bulk_form("on", &ids(&[on, off, gone])))
        .await;
    assert!(key(&app, on).enabled && key(&app, off).enabled);
    assert!(!key(&app, gone).enabled);
}

/// A usage row written as the flusher writes it.
fn seed_minute(app: &TestApp, id: KeyId, at: DateTime<Utc>, code: &'static str, count: i64) {
    let cell = UsageCell {
        key_id: id,
        minute: minute_of(at),
        code,
    };
    db::usage::add(&mut app.conn(), &[(cell, count)], &[]).unwrap();
}

/// The confirmation's line for one key.
fn line_of<'a>(body: &'a str, name: &str) -> &'a str {
    let at = body
        .find(&format!("<strong>{name}</strong>"))
        .unwrap_or_else(|| panic!("{name} is not listed:\n{body}"));
    let end = body[at..].find("</li>").unwrap() + at;
    &body[at..end]
}

#[tokio::test]
async fn the_bulk_revoke_confirmation_lists_the_names_and_warns_about_keys_used_in_the_last_7_days()
{
    let app = spawn_app().await;
    let now = Utc::now();
    let (verified, plain) = make_key(&app, ENV, "Verified just now", &["read"], None);
    let (minutes, _) = make_key(&app, ENV, "Used three days ago", &["read"], None);
    let (hourly, _) = make_key(&app, ENV, "Rolled up five days ago", &["read"], None);
    let (old, _) = make_key(&app, ENV, "Used ten days ago", &["read"], None);
    let (refused, _) = make_key(&app, ENV, "Only refused", &["read"], None);
    let (unused, _) = make_key(&app, ENV, "Never used", &["read"], None);
    // Still in this node's memory, not yet written.
    assert_eq!(
        verify(&app.address, Some(&plain), None).await.code(),
        "VALID"
    );
    // Minute rows after the roll-up mark, hourly rows before it.
    let mark = now - TimeDelta::days(4);
    seed_minute(&app, minutes, now - TimeDelta::days(3), "VALID", 3);
    seed_minute(&app, refused, now - TimeDelta::days(1), "DISABLED", 9);
    seed_minute(&app, old, now - TimeDelta::days(10), "VALID", 4);
    let mut conn = app.conn();
    diesel::sql_query(
        "INSERT INTO api_key_usage_hourly (api_key_id, hour, valid, refused) VALUES \
         ($1, $3, 5, 0), ($2, $4, 7, 0)",
    )
    .bind::<diesel::sql_types::BigInt, _>(hourly.get())
    .bind::<diesel::sql_types::BigInt, _>(old.get())
    .bind::<diesel::sql_types::Timestamptz, _>(db::usage::hour_of(now - TimeDelta::days(5)))
    .bind::<diesel::sql_types::Timestamptz, _>(db::usage::hour_of(now - TimeDelta::days(9)))
    .execute(&mut conn)
    .unwrap();
    // The roll-up may run meanwhile: it recomputes hours from minute rows, so the totals stay.
    diesel::sql_query(
        "INSERT INTO api_key_usage_rollup (id, rolled_up_to) VALUES (1, $1) \
         ON CONFLICT (id) DO UPDATE SET rolled_up_to = excluded.rolled_up_to",
    )
    .bind::<diesel::sql_types::Timestamptz, _>(db::usage::hour_of(mark))
    .execute(&mut conn)
    .unwrap();

    let owner = app.signed_in_as(Who::Owner).await;
    let all = [verified, minutes, hourly, old, refused, unused];
    let confirm = owner
        .post_form(&bulk_path(), &bulk_form("revoke", &ids(&all)))
        .await;
    assert_eq!(confirm.status, StatusCode::OK, "{}", confirm.body);
    let body = &confirm.body;
    assert!(body.contains("Revoke selected keys"), "{body}");
    assert!(body.contains("Revoke these 6 keys for good?"), "{body}");
    assert!(
        body.contains("3 of them were used in the last 7 days."),
        "{body}"
    );
    let warning = "Used in the last 7 days:";
    assert!(
        line_of(body, "Verified just now")
            .contains("Used in the last 7 days: 1 valid verification.")
    );
    assert!(
        line_of(body, "Used three days ago")
            .contains("Used in the last 7 days: 3 valid verifications.")
    );
    assert!(
        line_of(body, "Rolled up five days ago")
            .contains("Used in the last 7 days: 5 valid verifications.")
    );
    for quiet in ["Used ten days ago", "Only refused", "Never used"] {
        assert!(!line_of(body, quiet).contains(warning), "{quiet}: {body}");
    }
    assert!(body.contains(">Revoke 6 keys</button>"), "{body}");
    // Nothing is revoked until confirmed.
    assert!(all.iter().all(|id| key(&app, *id).revoked_at.is_none()));
    assert_eq!(
        verify(&app.address, Some(&plain), None).await.code(),
        "VALID"
    );

    // htmx gets the panel, put where the panel goes.
    let panel = owner
        .post_htmx(&bulk_path(), &bulk_form("revoke", &ids(&all)))
        .await;
    assert_eq!(panel.headers["hx-retarget"], "#panel");
    assert!(panel.body.starts_with("<aside") || panel.body.trim_start().starts_with("<aside"));

    let mut confirmed = bulk_form("revoke", &[]);
    let all_ids = ids(&all);
    confirmed.push(("confirmed", "yes"));
    confirmed.extend(all_ids.iter().map(|id| ("key", id.as_str())));
    let before = events(&app).len();
    let done = owner.post_form(&bulk_path(), &confirmed).await;
    let page = landed(&owner, &done).await;
    assert!(page.contains("Revoked 6 keys."), "{page}");
    assert!(all.iter().all(|id| key(&app, *id).revoked_at.is_some()));
    assert_eq!(
        verify(&app.address, Some(&plain), None).await.code(),
        "REVOKED"
    );
    let written = events(&app);
    assert_eq!(written.len(), before + 6);
    assert!(written[..6].iter().all(|e| e.action == "api_key.revoked"));

    // Asked again, there is nothing left to revoke.
    let again = owner
        .post_form(&bulk_path(), &bulk_form("revoke", &ids(&all)))
        .await;
    let page = landed(&owner, &again).await;
    assert!(
        page.contains("Nothing to revoke. 6 keys are already revoked and skipped."),
        "{page}"
    );
}

#[tokio::test]
async fn owners_see_a_checkbox_on_each_live_row_and_the_bulk_buttons() {
    let app = spawn_app().await;
    let (live, _) = make_key(&app, ENV, "live", &["read"], None);
    let (gone, _) = make_key(&app, ENV, "gone", &["read"], None);
    let owner = app.signed_in_as(Who::Owner).await;
    owner.revoke(gone).await;
    let page = owner.get(&keys_path(ENV)).await.body;
    for label in ["Switch off", "Switch on", "Revoke selected"] {
        assert!(
            page.contains(&format!(">{label}</button>")),
            "{label}: {page}"
        );
    }
    assert!(page.contains(&format!(
        "<input type=\"checkbox\" name=\"key\" value=\"{live}\" form=\"bulk-form\">"
    )));
    assert!(
        !page.contains(&format!("value=\"{gone}\" form=\"bulk-form\"")),
        "a revoked key has none"
    );
    assert!(page.contains("<input type=\"checkbox\" data-select-page> Select this page"));
}

#[tokio::test]
async fn a_member_sees_no_checkboxes_and_a_forged_bulk_post_is_refused_with_nothing_changed() {
    let app = spawn_app().await;
    let (id, plain) = make_key(&app, ENV, "precious", &["read"], None);
    let member = app.signed_in_as(Who::Member).await;
    let page = member.get(&keys_path(ENV)).await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.body.contains("precious"));
    for absent in [
        "bulk-form",
        "name=\"key\"",
        ">Switch off<",
        ">Revoke selected<",
    ] {
        assert!(!page.body.contains(absent), "{absent}");
    }
    let before = events(&app).len();
    for action in ["off", "revoke"] {
        let forged = member
            .post_form(&bulk_path(), &bulk_form(action, &ids(&[id])))
            .await;
        assert_eq!(forged.status, StatusCode::FORBIDDEN, "{action}");
    }
    let mut confirmed = bulk_form("revoke", &[]);
    let one = ids(&[id]);
    confirmed.extend([("confirmed", "yes"), ("key", one[0].as_str())]);
    assert_eq!(
        member.post_form(&bulk_path(), &confirmed).await.status,
        StatusCode::FORBIDDEN
    );

    let outsider = app.signed_in_as(Who::Outsider).await;
    let answer = outsider
        .post_form(&bulk_path(), &bulk_form("off", &ids(&[id])))
        .await;
    assert_eq!(answer.status, StatusCode::NOT_FOUND);

    // And without the CSRF token, even an owner's request changes nothing.
    let owner = app.signed_in_as(Who::Owner).await;
    let no_token = owner
        .post_raw(&bulk_path(), &bulk_form("off", &ids(&[id])))
        .await;
    assert_eq!(no_token.status, StatusCode::FORBIDDEN);

    let k = key(&app, id);
    assert!(k.enabled && k.revoked_at.is_none());
    assert_eq!(events(&app).len(), before, "nothing recorded");
    assert_eq!(
        verify(&app.address, Some(&plain), None).await.code(),
        "VALID"
    );
}

#[tokio::test]
async fn another_environments_key_named_in_a_bulk_action_is_never_changed() {
    let app = spawn_app().await;
    let (mine, _) = make_key(&app, ENV, "mine", &["read"], None);
    let (theirs, theirs_plain) = make_key(&app, "staging", "theirs", &["read"], None);
    let admin = app.signed_in_as(Who::Admin).await;
    let staging_events = || {
        db::audit::list_for_environment(&mut app.conn(), app.environment_id("staging"))
            .unwrap()
            .len()
    };
    let staging_before = staging_events();

    let answer = admin
        .post_form(&bulk_path(), &bulk_form("off", &ids(&[mine, theirs])))
        .await;
    let page = landed(&admin, &answer).await;
    assert!(
        page.contains("Switched off 1 key. 1 key is not in this environment and ignored."),
        "{page}"
    );
    assert!(!key(&app, mine).enabled);
    assert!(key(&app, theirs).enabled);

    let confirm = admin
        .post_form(&bulk_path(), &bulk_form("revoke", &ids(&[mine, theirs])))
        .await;
    assert!(
        !confirm.body.contains("<strong>theirs</strong>"),
        "not listed"
    );
    assert!(
        confirm
            .body
            .contains("1 key is not in this environment and ignored.")
    );
    let mut confirmed = bulk_form("revoke", &[]);
    let both = ids(&[mine, theirs]);
    confirmed.push(("confirmed", "yes"));
    confirmed.extend(both.iter().map(|id| ("key", id.as_str())));
    admin.post_form(&bulk_path(), &confirmed).await;
    assert!(key(&app, mine).revoked_at.is_some());
    let t = key(&app, theirs);
    assert!(t.enabled && t.revoked_at.is_none());
    assert_eq!(staging_events(), staging_before);
    assert_eq!(
        verify(&app.address, Some(&theirs_plain), None).await.code(),
        "VALID"
    );
}

#[tokio::test]
async fn a_bulk_request_with_too_many_ids_or_a_bad_one_gets_a_clear_message_and_changes_nothing() {
    let app = spawn_app().await;
    let (id, _) = make_key(&app, ENV, "untouched", &["read"], None);
    let admin = app.signed_in_as(Who::Admin).await;
    let before = events(&app).len();

    let mut many: Vec<String> = (1_000_000..1_001_000).map(|n: i64| n.to_string()).collect();
    many.push(id.to_string());
    let answer = admin
        .post_form(&bulk_path(), &bulk_form("off", &many))
        .await;
    assert_eq!(answer.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        answer.body.contains(
            "At most 1000 keys can be changed at once; this request named 1001. Nothing was changed."
        ),
        "{}",
        answer.body
    );

    let bad = vec![id.to_string(), "12; DROP TABLE api_keys".to_owned()];
    let answer = admin.post_form(&bulk_path(), &bulk_form("off", &bad)).await;
    assert_eq!(answer.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        answer
            .body
            .contains("is not a key id. Nothing was changed."),
        "{}",
        answer.body
    );

    let answer = admin
        .post_form(&bulk_path(), &bulk_form("explode", &ids(&[id])))
        .await;
    assert_eq!(answer.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        answer
            .body
            .contains("Choose Switch off, Switch on or Revoke selected.")
    );

    // Nothing ticked: the list again, saying what to do.
    let answer = admin.post_form(&bulk_path(), &bulk_form("off", &[])).await;
    let page = landed(&admin, &answer).await;
    assert!(page.contains("Select one or more keys first"), "{page}");

    assert!(key(&app, id).enabled);
    assert_eq!(events(&app).len(), before);
}

#[tokio::test]
async fn a_bulk_action_comes_back_to_the_view_it_was_made_from() {
    let app = spawn_app().await;
    let (id, _) = make_key(&app, ENV, "filtered", &["read"], None);
    let admin = app.signed_in_as(Who::Admin).await;
    let list = admin
        .get(&format!("{}?q=filter&status=on", keys_path(ENV)))
        .await;
    assert!(
        list.body
            .contains("name=\"view\" value=\"q=filter&#38;status=on\""),
        "{}",
        list.body
    );
    let one = ids(&[id]);
    let answer = admin
        .post_form(
            &bulk_path(),
            &[
                ("action", "off"),
                ("view", "q=filter&status=on"),
                ("key", &one[0]),
            ],
        )
        .await;
    assert_eq!(
        answer.location(),
        format!("{}?q=filter&status=on", keys_path(ENV))
    );
    // A view this server would not write is not echoed into the redirect.
    let answer = admin
        .post_form(
            &bulk_path(),
            &[
                ("action", "on"),
                ("view", "q=x&evil=%0d%0aSet-Cookie"),
                ("key", &one[0]),
            ],
        )
        .await;
    assert_eq!(answer.location(), format!("{}?q=x", keys_path(ENV)));
}

#[tokio::test]
async fn five_hundred_keys_switch_off_in_one_request_with_an_event_and_a_notice_each() {
    let app = spawn_app().await;
    let node_b = new_node(&app.db_url, |_| {}).await;
    let keys: Vec<(KeyId, String)> = (0..500)
        .map(|i| make_key(&app, ENV, &format!("bulk key {i:03}"), &["read"], None))
        .collect();
    // Node B holds a few of them, the last one included.
    for (_, plain) in keys.iter().step_by(50).chain(keys.last()) {
        assert_eq!(verify(&node_b, Some(plain), None).await.code(), "VALID");
    }
    let admin = app.signed_in_as(Who::Admin).await;
    let before = events(&app).len();
    let all = ids(&keys.iter().map(|(id, _)| *id).collect::<Vec<_>>());
    let started = Instant::now();
    let answer = admin.post_form(&bulk_path(), &bulk_form("off", &all)).await;
    let took = started.elapsed();
    assert_eq!(answer.status, StatusCode::SEE_OTHER, "{}", answer.body);
    println!(
        "500 keys switched off in {:.0} ms (debug build, test machine)",
        took.as_secs_f64() * 1e3
    );
    assert_eq!(events(&app).len(), before + 500);
    assert!(app.keys().iter().all(|k| !k.enabled));
    for (_, plain) in keys.iter().step_by(50).chain(keys.last()) {
        eventually(
            Duration::from_secs(5),
            "node B refuses the key",
            async || verify(&node_b, Some(plain), None).await.code() == "DISABLED",
        )
        .await;
    }
}
