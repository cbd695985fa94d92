//! `/account/required`: what an account must do at sign-in before anything else — choose a new
//! password after an administrator's reset, or set up two-factor where `KEYWARD_REQUIRE_2FA`
//! demands it. Every other page sends the person here until it is done.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use serde::Deserialize;

use super::two_factor::SetupView;
use crate::auth::current_user::{AccountHolder, SetupStep, csrf_token, renew};
use crate::auth::password;
use crate::auth::scope::is_htmx;
use crate::domain::user::Password;
use crate::error::AppError;
use crate::routes::page::{FieldErrors, html, no_store, see_other};
use crate::services::{self, accounts};
use crate::state::AppState;

#[derive(Template)]
#[template(path = "pages/account_required.html")]
struct RequiredPage {
    csrf: String,
    display_name: String,
    /// `None`: choose a new password; `Some`: set up two-factor.
    setup: Option<SetupView>,
    errors: FieldErrors,
}

pub fn render(
    holder: &AccountHolder,
    setup: Option<SetupView>,
    errors: FieldErrors,
) -> Result<HttpResponse, AppError> {
    let status = if errors.is_empty() && setup.as_ref().is_none_or(|s| s.code_error.is_none()) {
        StatusCode::OK
    } else {
        StatusCode::UNPROCESSABLE_ENTITY
    };
    let page = RequiredPage {
        csrf: csrf_token(&holder.session)?,
        display_name: holder.user.display_name.clone(),
        setup,
        errors,
    };
    Ok(no_store(html(status, &page)?))
}

pub async fn show(
    req: HttpRequest,
    holder: AccountHolder,
    state: web::Data<AppState>,
) -> Result<HttpResponse, AppError> {
    if is_htmx(&req) {
        // An htmx request sent here: navigate the whole page.
        return Ok(HttpResponse::Ok()
            .insert_header(("HX-Redirect", crate::error::ACCOUNT_SETUP_PATH))
            .finish());
    }
    match holder.setup {
        None => Ok(see_other("/")),
        Some(SetupStep::NewPassword) => render(&holder, None, FieldErrors::default()),
        Some(SetupStep::TwoFactor) => {
            let setup = SetupView::new(&state, holder.user.id, &holder.user.email)?;
            render(&holder, Some(setup), FieldErrors::default())
        }
    }
}

#[derive(Deserialize)]
pub struct NewPasswordForm {
    #[serde(default)]
    new_password: String,
}

/// The new password after an administrator's reset (**New password**, **Save password**).
pub async fn new_password(
    holder: AccountHolder,
    state: web::Data<AppState>,
    form: web::Form<NewPasswordForm>,
) -> Result<HttpResponse, AppError> {
    if holder.setup != Some(SetupStep::NewPassword) {
        return Ok(see_other("/account"));
    }
    let mut errors = FieldErrors::default();
    let Some(chosen) = errors.check(
        "new_password",
        Password::new_for_account(&form.into_inner().new_password),
    ) else {
        return render(&holder, None, errors);
    };
    let one_time = holder.user.password_hash.clone();
    let hashed = services::blocking(move || {
        // The one-time password was seen by the administrator: it may not stay the password.
        if password::verify(&chosen, &one_time) {
            return Ok(None);
        }
        Ok(Some(password::hash(&chosen)?))
    })
    .await?;
    let Some(hash) = hashed else {
        errors.add(
            "new_password",
            "Choose a password of your own, not the one-time password.",
        );
        return render(&holder, None, errors);
    };
    let (user_id, actor) = (holder.user.id, holder.actor());
    services::run(&state.pool, move |conn| {
        accounts::change_password(conn, user_id, &hash, &actor)
    })
    .await?;
    renew(&holder.session);
    Ok(see_other("/"))
}
