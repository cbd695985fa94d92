use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use askama::Template;
use serde::Deserialize;

use super::page::AccountPage;
use super::password::{WRONG_PASSWORD, verify_current};
use crate::auth::current_user::{AccountHolder, SetupStep};
use crate::auth::scope::SignedIn;
use crate::db;
use crate::domain::Invalid;
use crate::domain::ids::UserId;
use crate::domain::two_factor::{PresentedCode, RecoveryCode, TotpSecret};
use crate::error::AppError;
use crate::routes::page::{Chrome, FieldErrors, Tab, html, no_store, see_other};
use crate::services::{self, accounts};
use crate::state::AppState;

const ISSUER: &str = "Keyward";
const WRONG_CODE: &str =
    "That code is not right. Check that your phone's clock is correct and try again.";

/// What the set-up shows: the new secret (base32 and as a QR code) and the form that confirms
/// it. The secret travels in the form sealed to this user, so nothing is stored before the
/// code confirms that the authenticator has it.
pub struct SetupView {
    pub secret: String,
    pub qr_svg: String,
    pub setup_token: String,
    pub code_error: Option<&'static str>,
}

fn setup_context(user: UserId) -> String {
    format!("totp-setup:user:{user}")
}

impl SetupView {
    pub fn new(state: &AppState, user: UserId, email: &str) -> Result<Self, AppError> {
        let secret = TotpSecret::generate()?;
        Self::of(state, user, email, &secret, None)
    }

    fn of(
        state: &AppState,
        user: UserId,
        email: &str,
        secret: &TotpSecret,
        code_error: Option<&'static str>,
    ) -> Result<Self, AppError> {
        let sealed = state
            .secrets
            .seal(&setup_context(user), secret.as_bytes())?;
        Ok(Self {
            secret: secret.base32(),
            qr_svg: qr_svg(&secret.otpauth_uri(ISSUER, email))?,
            setup_token: hex::encode(sealed),
            code_error,
        })
    }
}

/// The QR code drawn on the server as SVG: no script, no image request.
fn qr_svg(text: &str) -> Result<String, AppError> {
    use qrcode::render::svg;
    let code = qrcode::QrCode::new(text.as_bytes())
        .map_err(|e| AppError::Unexpected(anyhow::anyhow!("drawing the QR code: {e}")))?;
    let document = code
        .render::<svg::Color<'_>>()
        .min_dimensions(200, 200)
        .quiet_zone(true)
        .build();
    // Inline in HTML, the standalone document's XML declaration has no place.
    Ok(match document.find("<svg") {
        Some(start) => document[start..].to_owned(),
        None => document,
    })
}

#[derive(Template)]
#[template(path = "pages/two_factor_setup.html")]
struct SetupPage {
    chrome: Chrome,
    csrf: String,
    setup: SetupView,
}

/// **Set up two-factor**: a new secret, shown once.
pub async fn setup(me: SignedIn, state: web::Data<AppState>) -> Result<HttpResponse, AppError> {
    if me.user.has_two_factor {
        return Ok(see_other("/account"));
    }
    let setup = SetupView::new(&state, me.user.id, &me.user.email)?;
    let chrome = Chrome::load(&state, &me.user, &me.session, None, Tab::None).await?;
    let page = SetupPage {
        csrf: chrome.csrf.clone(),
        chrome,
        setup,
    };
    Ok(no_store(html(StatusCode::OK, &page)?))
}

#[derive(Template)]
#[template(path = "pages/recovery_codes.html")]
struct RecoveryCodesPage {
    csrf: String,
    codes: Vec<RecoveryCode>,
    continue_to: &'static str,
}

#[derive(Deserialize)]
pub struct ConfirmForm {
    #[serde(default)]
    setup: String,
    #[serde(default)]
    code: String,
}

/// The set-up's **Code**: when it matches, two-factor is on and the recovery codes are shown,
/// once. Also the last step of a set-up that `KEYWARD_REQUIRE_2FA` demands at sign-in.
pub async fn confirm(
    holder: AccountHolder,
    state: web::Data<AppState>,
    form: web::Form<ConfirmForm>,
) -> Result<HttpResponse, AppError> {
    let ConfirmForm { setup, code } = form.into_inner();
    let forced = holder.setup == Some(SetupStep::TwoFactor);
    if holder.setup == Some(SetupStep::NewPassword) {
        return Err(AppError::AccountSetupRequired);
    }
    if holder.user.has_two_factor() {
        return Ok(see_other("/account"));
    }
    let user_id = holder.user.id;
    // A token that does not open (altered, or another user's) is a stale form: start again.
    let secret = hex::decode(setup.trim())
        .ok()
        .and_then(|sealed| state.secrets.open(&setup_context(user_id), &sealed).ok())
        .and_then(|bytes| TotpSecret::from_bytes(bytes).ok());
    let Some(secret) = secret else {
        return Err(
            Invalid::new("This set-up form has expired. Open Set up two-factor again.").into(),
        );
    };
    let now = u64::try_from(state.clock.now().timestamp()).unwrap_or_default();
    let step = match PresentedCode::parse(&code) {
        Ok(PresentedCode::Totp(digits)) => secret.matching_step(&digits, now),
        _ => None,
    };
    let Some(step) = step.and_then(|s| i64::try_from(s).ok()) else {
        let view = SetupView::of(
            &state,
            user_id,
            &holder.user.email,
            &secret,
            Some(WRONG_CODE),
        )?;
        return render_setup_again(&state, &holder, forced, view).await;
    };
    let codes = RecoveryCode::generate_set()?;
    let digests: Vec<Vec<u8>> = codes.iter().map(RecoveryCode::digest).collect();
    let sealed = state
        .secrets
        .seal(&accounts::totp_context(user_id), secret.as_bytes())?;
    let actor = holder.actor();
    services::run(&state.pool, move |conn| {
        accounts::enable_two_factor(conn, user_id, &sealed, step, &digests, &actor)
    })
    .await?;
    let page = RecoveryCodesPage {
        csrf: crate::auth::current_user::csrf_token(&holder.session)?,
        codes,
        continue_to: if forced { "/" } else { "/account" },
    };
    Ok(no_store(html(StatusCode::OK, &page)?))
}

async fn render_setup_again(
    state: &AppState,
    holder: &AccountHolder,
    forced: bool,
    setup: SetupView,
) -> Result<HttpResponse, AppError> {
    let response = if forced {
        super::required::render(holder, Some(setup), FieldErrors::default())?
    } else {
        let me = holder.current();
        let chrome = Chrome::load(state, &me, &holder.session, None, Tab::None).await?;
        html(
            StatusCode::UNPROCESSABLE_ENTITY,
            &SetupPage {
                csrf: chrome.csrf.clone(),
                chrome,
                setup,
            },
        )?
    };
    Ok(no_store(response))
}

#[derive(Deserialize)]
pub struct TurnOffForm {
    #[serde(default)]
    password: String,
}

/// **Turn off two-factor**: behind the current password.
pub async fn turn_off(
    me: SignedIn,
    state: web::Data<AppState>,
    form: web::Form<TurnOffForm>,
) -> Result<HttpResponse, AppError> {
    let user_id = me.user.id;
    let mut errors = FieldErrors::default();
    if state.config.require_2fa.applies_to(me.user.is_admin) {
        errors.add(
            "password",
            "This installation requires two-factor authentication for your account.",
        );
    } else {
        let stored = services::run(&state.pool, move |conn| {
            db::users::find(conn, user_id)?.ok_or(AppError::NotFound)
        })
        .await?
        .password_hash;
        let presented = form.into_inner().password;
        if verify_current(&state, &me.user.email, presented, stored).await? {
            let actor = me.actor();
            services::run(&state.pool, move |conn| {
                accounts::disable_two_factor(conn, user_id, false, &actor)
            })
            .await?;
            return Ok(see_other("/account?done=two-factor-off"));
        }
        errors.add("password", WRONG_PASSWORD);
    }
    let mut page = AccountPage::load(&state, &me).await?;
    page.two_factor_errors = errors;
    html(StatusCode::UNPROCESSABLE_ENTITY, &page)
}
