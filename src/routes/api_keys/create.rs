use actix_session::Session;
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use chrono::Utc;
use diesel::Connection;
use serde::Deserialize;
use serde_json::json;

use super::{ApiKeysPage, Fragment, NewKeyForm, Reveal};
use crate::auth::current_user::CurrentUser;
use crate::auth::permissions::Action;
use crate::db::{self, api_keys::NewApiKey, audit::Actor};
use crate::domain::api_key::{
    ApiKeyName, Expiry, KeyDescription, KeyType, RateLimit, Scope, Scopes,
};
use crate::domain::key_format::{KeyTag, PlainApiKey};
use crate::error::AppError;
use crate::routes::page::{EnvPath, FieldErrors, client_ip, env_access, is_htmx};
use crate::state::AppState;

/// GET …/api-keys/new: the Add panel (htmx), or the page with it open (no JavaScript).
pub async fn show(
    req: HttpRequest,
    path: EnvPath,
    user: CurrentUser,
    session: Session,
    state: web::Data<AppState>,
) -> Result<HttpResponse, AppError> {
    let (project, env) = path.into_inner();
    let access = env_access(&state, &user, project, env).await?;
    access.require(Action::ManageKeys)?;
    let mut page = ApiKeysPage::load(&state, user, &session, &access).await?;
    page.new_key = Some(NewKeyForm::default());
    page.respond(StatusCode::OK, is_htmx(&req), Fragment::Panel)
}

#[derive(Deserialize)]
pub struct NewKeyFormData {
    #[serde(default)]
    name: String,
    #[serde(default)]
    description: String,
    #[serde(rename = "type", default)]
    key_type: String,
    scope_read: Option<String>,
    scope_write: Option<String>,
    scope_admin: Option<String>,
    #[serde(default)]
    expiration: String,
    #[serde(default)]
    expires_on: String,
    #[serde(default)]
    rate_limit: String,
}

struct ValidNewKey {
    name: ApiKeyName,
    description: KeyDescription,
    key_type: KeyType,
    scopes: Scopes,
    expiry: Expiry,
    rate_limit: Option<RateLimit>,
}

impl NewKeyFormData {
    fn into_view(self) -> NewKeyForm {
        NewKeyForm {
            name: self.name,
            description: self.description,
            key_type: self.key_type,
            scope_read: self.scope_read.is_some(),
            scope_write: self.scope_write.is_some(),
            scope_admin: self.scope_admin.is_some(),
            expiration: self.expiration,
            expires_on: self.expires_on,
            rate_limit: self.rate_limit,
            errors: FieldErrors::default(),
        }
    }
}

fn validate(form: &mut NewKeyForm) -> Option<ValidNewKey> {
    let errors = &mut form.errors;
    let name = errors.check("name", ApiKeyName::parse(&form.name));
    let description = errors.check("description", KeyDescription::parse(&form.description));
    let key_type = errors.check("type", KeyType::parse(&form.key_type));
    let chosen: Vec<Scope> = [
        (form.scope_read, Scope::Read),
        (form.scope_write, Scope::Write),
        (form.scope_admin, Scope::Admin),
    ]
    .into_iter()
    .filter_map(|(on, scope)| on.then_some(scope))
    .collect();
    let scopes = key_type.and_then(|t| errors.check("scopes", Scopes::new(chosen, t)));
    let expiry = errors.check(
        "expiration",
        Expiry::from_choice(&form.expiration, &form.expires_on, Utc::now()),
    );
    let rate_limit = errors.check("rate_limit", RateLimit::parse_optional(&form.rate_limit));
    Some(ValidNewKey {
        name: name?,
        description: description?,
        key_type: key_type?,
        scopes: scopes?,
        expiry: expiry?,
        rate_limit: rate_limit?,
    })
}

/// POST …/api-keys: creates the key and shows its plaintext once.
pub async fn submit(
    req: HttpRequest,
    path: EnvPath,
    user: CurrentUser,
    session: Session,
    state: web::Data<AppState>,
    form: web::Form<NewKeyFormData>,
) -> Result<HttpResponse, AppError> {
    let (project, env) = path.into_inner();
    let access = env_access(&state, &user, project, env).await?;
    access.require(Action::ManageKeys)?;
    let htmx = is_htmx(&req);
    let mut view = form.into_inner().into_view();

    let Some(valid) = validate(&mut view) else {
        return show_form_again(&state, user, &session, &access, view, htmx).await;
    };

    let tag = KeyTag::parse(&access.env.key_tag)?;
    let plain = PlainApiKey::generate(&state.config.key_prefix, valid.key_type, &tag)?;
    let (digest, masked) = (plain.digest(), plain.masked());
    let actor = Actor::user(user.id, client_ip(&req));
    let env_id = access.env.id;
    let created = db::run(&state.pool, move |conn| {
        conn.transaction(|conn| {
            let new = NewApiKey {
                environment_id: env_id,
                name: valid.name.as_str(),
                description: valid.description.as_str(),
                key_type: valid.key_type.as_str(),
                scopes: valid.scopes.to_strings(),
                digest: digest.as_bytes(),
                masked: &masked,
                expires_at: valid.expiry.get(),
                rate_limit_per_minute: valid.rate_limit.map(RateLimit::get),
                created_by: actor.user_id,
            };
            let Some(key) = db::api_keys::insert(conn, &new)? else {
                return Ok(None);
            };
            actor.record(
                conn,
                Some(env_id),
                &format!("api_key:{}", key.id),
                "api_key.created",
                json!({"name": key.name, "type": key.key_type, "scopes": key.scopes,
                       "expires_at": key.expires_at, "rate_limit_per_minute": key.rate_limit_per_minute}),
            )?;
            db::api_keys::notify_changed(conn, &key.digests())?;
            Ok::<_, AppError>(Some(key))
        })
    })
    .await?;

    let Some(key) = created else {
        view.errors.add(
            "name",
            "An active key with this name already exists in this environment.",
        );
        return show_form_again(&state, user, &session, &access, view, htmx).await;
    };
    tracing::info!(key_id = key.id, environment_id = env_id, "API key created");
    let mut page = ApiKeysPage::load(&state, user, &session, &access).await?;
    page.reveal = Some(Reveal {
        title: "API key created",
        name: key.name,
        key: plain,
    });
    page.respond(StatusCode::OK, htmx, Fragment::Section)
}

async fn show_form_again(
    state: &AppState,
    user: CurrentUser,
    session: &Session,
    access: &crate::auth::permissions::EnvAccess,
    view: NewKeyForm,
    htmx: bool,
) -> Result<HttpResponse, AppError> {
    let mut page = ApiKeysPage::load(state, user, session, access).await?;
    page.new_key = Some(view);
    if htmx {
        // htmx swaps only 2xx answers; re-target the panel so the messages land beside the fields.
        let mut response = page.respond(StatusCode::OK, true, Fragment::Panel)?;
        let headers = response.headers_mut();
        headers.insert(
            actix_web::http::header::HeaderName::from_static("hx-retarget"),
            actix_web::http::header::HeaderValue::from_static("#panel"),
        );
        headers.insert(
            actix_web::http::header::HeaderName::from_static("hx-reswap"),
            actix_web::http::header::HeaderValue::from_static("innerHTML"),
        );
        Ok(response)
    } else {
        page.respond(StatusCode::UNPROCESSABLE_ENTITY, false, Fragment::Panel)
    }
}
