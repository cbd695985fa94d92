use actix_session::Session;
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use chrono::Utc;
use serde::Deserialize;

use super::{ApiKeysPage, Fragment, NewKeyForm, Reveal};
use crate::auth::current_user::CurrentUser;
use crate::auth::permissions::Action;
use crate::db::{self, audit::Actor};
use crate::domain::api_key::{
    ApiKeyName, Expiry, KeyDescription, KeyType, RateLimit, Scope, Scopes,
};
use crate::domain::key_format::KeyTag;
use crate::error::AppError;
use crate::routes::page::{EnvPath, FieldErrors, client_ip, env_access, is_htmx};
use crate::services::keys::{self as key_service, KeyHome, KeySpec};
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

fn validate(form: &mut NewKeyForm) -> Option<KeySpec> {
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
    Some(KeySpec {
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

    let home = KeyHome {
        environment_id: access.env.id,
        tag: KeyTag::parse(&access.env.key_tag)?,
        prefix: state.config.key_prefix.clone(),
    };
    let change = state.change(Actor::user(user.id, client_ip(&req)));
    let created = db::run(&state.pool, move |conn| {
        key_service::create(conn, &home, &valid, &change)
    })
    .await?;

    let Some((key, plain)) = created else {
        view.errors.add("name", key_service::DUPLICATE_NAME);
        return show_form_again(&state, user, &session, &access, view, htmx).await;
    };
    tracing::info!(
        key_id = key.id,
        environment_id = key.environment_id,
        "API key created"
    );
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
