//! Every cell of SPEC §3's table, as requests a person could forge.

use reqwest::StatusCode;

use crate::helpers::*;

const NEW_KEY: [(&str, &str); 4] = [
    ("name", "k"),
    ("type", "secret"),
    ("scope_read", "on"),
    ("expiration", "never"),
];

/// A key made by the admin, for the others to try their hands on.
async fn app_with_a_key() -> (TestApp, keyward::domain::ids::KeyId) {
    let app = spawn_app().await;
    let admin = app.signed_in_as(Who::Admin).await;
    app.create_key(&admin, "shared", &["read"]).await;
    let id = app.keys()[0].id;
    (app, id)
}

#[tokio::test]
async fn everyone_in_the_environment_sees_the_api_keys_tab_and_nobody_else_does() {
    let (app, _) = app_with_a_key().await;
    for (who, expected) in [
        (Who::Owner, StatusCode::OK),
        (Who::Member, StatusCode::OK),
        (Who::Outsider, StatusCode::NOT_FOUND),
    ] {
        let client = app.signed_in_as(who).await;
        let answer = client.get(&keys_path(ENV)).await;
        assert_eq!(answer.status, expected, "{who:?}");
        if expected == StatusCode::OK {
            assert!(answer.body.contains("shared"), "{who:?} sees the key");
            assert!(
                answer.body.contains("kw_sk_live_"),
                "{who:?} sees the masked key"
            );
        }
        assert_eq!(
            client.get(&members_path(ENV)).await.status,
            expected,
            "{who:?} members tab"
        );
    }
    let admin = app.signed_in_as(Who::Admin).await;
    assert_eq!(
        admin
            .get("/projects/default/environments/nope/api-keys")
            .await
            .status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        admin
            .get("/projects/nope/environments/production/api-keys")
            .await
            .status,
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn a_member_gets_403_for_every_key_action_and_nothing_changes() {
    let (app, id) = app_with_a_key().await;
    let member = app.signed_in_as(Who::Member).await;
    let page = member.get(&keys_path(ENV)).await;
    assert!(!page.body.contains("+ Add"), "members see no + Add");
    assert!(
        page.body.contains("disabled"),
        "members see disabled switches"
    );
    assert!(!page.body.contains(">Rotate<") && !page.body.contains(">Revoke<"));

    let base = keys_path(ENV);
    for (path, form) in [
        (base.clone(), NEW_KEY.to_vec()),
        (format!("{base}/{id}/enabled"), vec![("enabled", "false")]),
        (format!("{base}/{id}/rotate"), vec![]),
        (format!("{base}/{id}/revoke"), vec![]),
    ] {
        let answer = member.post_form(&path, &form).await;
        assert_eq!(answer.status, StatusCode::FORBIDDEN, "POST {path}");
    }
    for path in [
        format!("{base}/new"),
        format!("{base}/{id}/rotate"),
        format!("{base}/{id}/revoke"),
    ] {
        assert_eq!(
            member.get(&path).await.status,
            StatusCode::FORBIDDEN,
            "GET {path}"
        );
    }
    let keys = app.keys();
    assert_eq!(keys.len(), 1);
    assert!(keys[0].enabled && keys[0].revoked_at.is_none());
    assert_eq!(app.audit_actions(), ["api_key.created"]);
}

#[tokio::test]
async fn someone_outside_the_environment_gets_404_for_every_key_action() {
    let (app, id) = app_with_a_key().await;
    let outsider = app.signed_in_as(Who::Outsider).await;
    let base = keys_path(ENV);
    for (path, form) in [
        (base.clone(), NEW_KEY.to_vec()),
        (format!("{base}/{id}/enabled"), vec![("enabled", "false")]),
        (format!("{base}/{id}/rotate"), vec![]),
        (format!("{base}/{id}/revoke"), vec![]),
        (
            members_path(ENV),
            vec![("email", "outsider@example.com"), ("role", "owner")],
        ),
    ] {
        assert_eq!(
            outsider.post_form(&path, &form).await.status,
            StatusCode::NOT_FOUND,
            "POST {path}"
        );
    }
    assert_eq!(app.keys().len(), 1);
    assert!(app.keys()[0].enabled);
}

#[tokio::test]
async fn an_owner_manages_keys_and_members_but_not_administration() {
    let (app, id) = app_with_a_key().await;
    let owner = app.signed_in_as(Who::Owner).await;
    let base = keys_path(ENV);
    assert!(owner.get(&base).await.body.contains("+ Add"));
    let off = owner
        .post_form(&format!("{base}/{id}/enabled"), &[("enabled", "false")])
        .await;
    assert_eq!(off.status, StatusCode::SEE_OTHER);
    assert!(!app.keys()[0].enabled);
    app.create_key(&owner, "owner's key", &["read", "write"])
        .await;
    assert_eq!(app.keys().len(), 2);

    app.create_user("new@example.com", None);
    let added = owner
        .post_form(
            &members_path(ENV),
            &[("email", "new@example.com"), ("role", "member")],
        )
        .await;
    assert_eq!(added.status, StatusCode::SEE_OTHER);
    assert!(
        owner
            .get(&members_path(ENV))
            .await
            .body
            .contains("new@example.com")
    );

    assert_eq!(owner.get("/admin").await.status, StatusCode::FORBIDDEN);
    let forged = owner
        .post_form(
            "/admin/users",
            &[
                ("email", "x@example.com"),
                ("display_name", "X"),
                ("password", PASSWORD),
            ],
        )
        .await;
    assert_eq!(forged.status, StatusCode::FORBIDDEN);
    assert_eq!(
        owner
            .post_form("/admin/projects", &[("name", "Sneaky")])
            .await
            .status,
        StatusCode::FORBIDDEN
    );
    assert!(
        keyward::db::users::find_by_email(&mut app.conn(), "x@example.com")
            .unwrap()
            .is_none()
    );
    assert_eq!(keyward::db::projects::count(&mut app.conn()).unwrap(), 1);
}

#[tokio::test]
async fn a_member_cannot_manage_members() {
    let app = spawn_app().await;
    let member = app.signed_in_as(Who::Member).await;
    let target = app.create_user(
        "someone@example.com",
        Some((keyward::domain::user::Role::Member, ENV)),
    );
    let page = member.get(&members_path(ENV)).await;
    assert!(!page.body.contains("Add member"));
    let path = members_path(ENV);
    for (p, form) in [
        (
            path.clone(),
            vec![("email", "someone@example.com"), ("role", "owner")],
        ),
        (format!("{path}/{target}/role"), vec![("role", "owner")]),
        (format!("{path}/{target}/remove"), vec![]),
    ] {
        assert_eq!(
            member.post_form(&p, &form).await.status,
            StatusCode::FORBIDDEN,
            "{p}"
        );
    }
    let role = keyward::db::memberships::role_of(&mut app.conn(), target, app.environment_id(ENV))
        .unwrap();
    assert_eq!(role, Some(keyward::domain::user::Role::Member));
    assert!(app.audit_actions().is_empty());
}

#[tokio::test]
async fn an_admin_gives_roles_in_the_browser_and_they_take_effect() {
    let app = spawn_app().await;
    let admin = app.signed_in_as(Who::Admin).await;
    let created = admin
        .post_form(
            "/admin/users",
            &[
                ("email", "Dana@Example.com"),
                ("display_name", "Dana"),
                ("password", PASSWORD),
            ],
        )
        .await;
    assert_eq!(created.status, StatusCode::SEE_OTHER);
    let duplicate = admin
        .post_form(
            "/admin/users",
            &[
                ("email", "dana@example.com"),
                ("display_name", "D2"),
                ("password", PASSWORD),
            ],
        )
        .await;
    assert_eq!(duplicate.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(duplicate.body.contains("already exists"));

    let dana = app.browser_client();
    dana.sign_in("dana@example.com", PASSWORD).await;
    assert_eq!(
        dana.get(&keys_path(ENV)).await.status,
        StatusCode::NOT_FOUND
    );

    let added = admin
        .post_form(
            &members_path(ENV),
            &[("email", "dana@example.com"), ("role", "member")],
        )
        .await;
    assert_eq!(added.status, StatusCode::SEE_OTHER);
    assert_eq!(dana.get(&keys_path(ENV)).await.status, StatusCode::OK);
    assert_eq!(
        dana.post_form(&keys_path(ENV), &NEW_KEY).await.status,
        StatusCode::FORBIDDEN
    );

    let dana_id = keyward::db::users::find_by_email(&mut app.conn(), "dana@example.com")
        .unwrap()
        .unwrap()
        .id;
    let promoted = admin
        .post_form(
            &format!("{}/{dana_id}/role", members_path(ENV)),
            &[("role", "owner")],
        )
        .await;
    assert_eq!(promoted.status, StatusCode::SEE_OTHER);
    app.create_key(&dana, "dana's key", &["read"]).await;

    let removed = admin
        .post_form(&format!("{}/{dana_id}/remove", members_path(ENV)), &[])
        .await;
    assert_eq!(removed.status, StatusCode::SEE_OTHER);
    assert_eq!(
        dana.get(&keys_path(ENV)).await.status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        app.audit_actions()
            .iter()
            .filter(|a| a.starts_with("membership."))
            .count(),
        3,
        "added, role changed, removed"
    );

    let unknown = admin
        .post_form(
            &members_path(ENV),
            &[("email", "ghost@example.com"), ("role", "member")],
        )
        .await;
    assert_eq!(unknown.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        unknown
            .body
            .contains("No user has the email ghost@example.com")
    );

    let project = admin
        .post_form("/admin/projects", &[("name", "Billing API")])
        .await;
    assert_eq!(project.status, StatusCode::SEE_OTHER);
    assert_eq!(
        project.location(),
        "/projects/billing-api/environments/production/api-keys"
    );
    let page = admin.get(project.location()).await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.body.contains("Billing API"));
}
