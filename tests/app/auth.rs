use diesel::prelude::*;
use keyward::db::schema::sessions;
use reqwest::StatusCode;

use crate::helpers::*;

#[tokio::test]
async fn a_person_signs_in_lands_on_the_api_keys_tab_and_signs_out() {
    let app = spawn_app().await;
    let client = app.browser_client();

    let answer = client.get(&keys_path(ENV)).await;
    assert_eq!(answer.status, StatusCode::SEE_OTHER);
    assert_eq!(answer.location(), "/login");

    let answer = client.sign_in(ADMIN_EMAIL, PASSWORD).await;
    assert_eq!(answer.status, StatusCode::SEE_OTHER);
    let home = client.get(answer.location()).await;
    assert_eq!(home.status, StatusCode::SEE_OTHER);
    assert_eq!(home.location(), keys_path(ENV));
    let page = client.get(&keys_path(ENV)).await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.body.contains("<h1>API Keys</h1>"));
    assert!(page.body.contains("Sign out"));

    let answer = client.post_form("/logout", &[]).await;
    assert_eq!(answer.status, StatusCode::SEE_OTHER);
    assert_eq!(answer.location(), "/login");
    assert_eq!(
        client.get(&keys_path(ENV)).await.status,
        StatusCode::SEE_OTHER
    );
    let live_sessions: i64 = sessions::table
        .filter(sessions::user_id.is_not_null())
        .count()
        .get_result(&mut app.conn())
        .unwrap();
    assert_eq!(live_sessions, 0, "signing out deletes the session row");
}

#[tokio::test]
async fn an_unknown_email_and_a_wrong_password_get_the_same_message() {
    let app = spawn_app().await;
    let client = app.browser_client();
    let wrong_password = client.sign_in(ADMIN_EMAIL, "not the password").await;
    let unknown_email = client.sign_in("nobody@example.com", PASSWORD).await;
    for answer in [&wrong_password, &unknown_email] {
        assert_eq!(answer.status, StatusCode::UNAUTHORIZED);
        assert!(answer.body.contains("Incorrect email or password."));
    }
    assert!(client.get(&keys_path(ENV)).await.status == StatusCode::SEE_OTHER);
}

#[tokio::test]
async fn repeated_failures_lock_the_account_out_even_for_the_right_password() {
    let app = spawn_app().await;
    let client = app.browser_client();
    for _ in 0..5 {
        assert_eq!(
            client.sign_in(ADMIN_EMAIL, "guess").await.status,
            StatusCode::UNAUTHORIZED
        );
    }
    let answer = client.sign_in(ADMIN_EMAIL, PASSWORD).await;
    assert_eq!(answer.status, StatusCode::TOO_MANY_REQUESTS);
    assert!(answer.body.contains("Too many failed sign-in attempts"));
    assert_eq!(
        client.get(&keys_path(ENV)).await.status,
        StatusCode::SEE_OTHER
    );
}

#[tokio::test]
async fn disabling_a_user_ends_their_session_at_once() {
    let app = spawn_app().await;
    let member = app.signed_in_as(Who::Member).await;
    assert_eq!(member.get(&keys_path(ENV)).await.status, StatusCode::OK);

    let admin = app.signed_in_as(Who::Admin).await;
    let member_id = keyward::db::users::find_by_email(&mut app.conn(), "member@example.com")
        .unwrap()
        .unwrap()
        .id;
    let answer = admin
        .post_form(
            &format!("/admin/users/{member_id}/status"),
            &[("disabled", "true")],
        )
        .await;
    assert_eq!(answer.status, StatusCode::SEE_OTHER);

    let answer = member.get(&keys_path(ENV)).await;
    assert_eq!(answer.status, StatusCode::SEE_OTHER);
    assert_eq!(answer.location(), "/login");
    let again = member.sign_in("member@example.com", PASSWORD).await;
    assert_eq!(
        again.status,
        StatusCode::UNAUTHORIZED,
        "a disabled user cannot sign in"
    );
}

#[tokio::test]
async fn first_start_creates_the_admin_and_the_default_project_with_three_environments() {
    let app = spawn_app().await;
    let mut conn = app.conn();
    let admin = keyward::db::users::find_by_email(&mut conn, "ADMIN@example.com")
        .unwrap()
        .unwrap();
    assert!(admin.is_admin);
    assert!(
        admin
            .password_hash
            .starts_with("$argon2id$v=19$m=19456,t=2,p=1$")
    );
    let envs = keyward::db::projects::accessible_environments(&mut conn, admin.id, true).unwrap();
    let tags: Vec<_> = envs
        .iter()
        .map(|(p, e)| (p.slug.as_str(), e.slug.as_str(), e.key_tag.as_str()))
        .collect();
    assert_eq!(
        tags,
        [
            ("default", "production", "live"),
            ("default", "staging", "stg"),
            ("default", "development", "dev")
        ]
    );
    // A second node starting on the same database creates nothing twice.
    new_node(&app.db_url, |_| {}).await;
    assert_eq!(keyward::db::users::count(&mut conn).unwrap(), 1);
    assert_eq!(keyward::db::projects::count(&mut conn).unwrap(), 1);
}
