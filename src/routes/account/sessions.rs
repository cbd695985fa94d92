use actix_web::{HttpResponse, web};
use serde::Deserialize;

use crate::auth::current_user::session_handle;
use crate::auth::scope::SignedIn;
use crate::error::AppError;
use crate::routes::page::see_other;
use crate::services::{self, accounts};
use crate::state::AppState;

/// `/account/sessions/{handle}/…`: a handle is 32 hex digits; anything else names nothing.
#[derive(Deserialize)]
pub struct SessionPath {
    handle: String,
}

fn is_handle(text: &str) -> bool {
    text.len() == 32 && text.bytes().all(|b| b.is_ascii_hexdigit())
}

/// **Sign out** one session. Signing out this one is signing out.
pub async fn sign_out(
    me: SignedIn,
    path: web::Path<SessionPath>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, AppError> {
    let handle = path.into_inner().handle;
    if !is_handle(&handle) {
        return Err(AppError::NotFound);
    }
    if session_handle(&me.session).as_deref() == Some(handle.as_str()) {
        me.session.purge();
        return Ok(see_other("/login"));
    }
    let user_id = me.user.id;
    let ended = services::run(&state.pool, move |conn| {
        accounts::sign_out_session(conn, user_id, &handle)
    })
    .await?;
    if !ended {
        return Err(AppError::NotFound);
    }
    Ok(see_other("/account?done=signed-out"))
}

/// **Sign out everywhere else**.
pub async fn sign_out_others(
    me: SignedIn,
    state: web::Data<AppState>,
) -> Result<HttpResponse, AppError> {
    let keep = session_handle(&me.session).ok_or(AppError::Unauthenticated)?;
    let (user_id, actor) = (me.user.id, me.actor());
    services::run(&state.pool, move |conn| {
        accounts::sign_out_everywhere_else(conn, user_id, &keep, &actor)
    })
    .await?;
    Ok(see_other("/account?done=signed-out-others"))
}
