use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use askama::Template;
use serde::Deserialize;

use crate::auth::current_user::session_handle;
use crate::auth::scope::SignedIn;
use crate::db;
use crate::error::AppError;
use crate::routes::page::{Chrome, FieldErrors, Tab, format_date_or, html};
use crate::services;
use crate::state::AppState;

/// One of the person's sessions, as the Sessions list shows it.
pub struct SessionRow {
    pub handle: String,
    pub browser: String,
    pub ip: String,
    pub signed_in: String,
    pub last_seen: String,
    pub is_current: bool,
}

#[derive(Template)]
#[template(path = "pages/account.html")]
pub struct AccountPage {
    pub chrome: Chrome,
    pub csrf: String,
    pub notice: Option<&'static str>,
    pub password_errors: FieldErrors,
    pub two_factor_errors: FieldErrors,
    pub has_two_factor: bool,
    pub recovery_codes_left: i64,
    pub sessions: Vec<SessionRow>,
}

impl AccountPage {
    pub async fn load(state: &AppState, me: &SignedIn) -> Result<Self, AppError> {
        let user_id = me.user.id;
        let (rows, recovery_codes_left) = services::run(&state.pool, move |conn| {
            Ok((
                db::sessions::list_for_user(conn, user_id)?,
                db::recovery_codes::count_unused(conn, user_id)?,
            ))
        })
        .await?;
        let current = session_handle(&me.session);
        let chrome = Chrome::load(state, &me.user, &me.session, None, Tab::None).await?;
        let sessions = rows
            .into_iter()
            .filter_map(|r| {
                let handle = r.handle?;
                Some(SessionRow {
                    is_current: current.as_deref() == Some(handle.as_str()),
                    browser: browser_of(r.user_agent.as_deref()),
                    ip: r.client_ip.unwrap_or_else(|| "—".to_owned()),
                    signed_in: format_date_or(r.signed_in_at.as_ref(), "—"),
                    last_seen: format_date_or(r.last_seen_at.as_ref(), "—"),
                    handle,
                })
            })
            .collect();
        Ok(Self {
            csrf: chrome.csrf.clone(),
            has_two_factor: me.user.has_two_factor,
            chrome,
            notice: None,
            password_errors: FieldErrors::default(),
            two_factor_errors: FieldErrors::default(),
            recovery_codes_left,
            sessions,
        })
    }
}

/// What happened, after a redirect back to the page (no secret ever travels in the URL).
#[derive(Deserialize)]
pub struct Notice {
    #[serde(default)]
    done: String,
}

fn notice_text(done: &str) -> Option<&'static str> {
    match done {
        "password" => Some("Your password was changed. Your other sessions were signed out."),
        "signed-out" => Some("That session was signed out."),
        "signed-out-others" => Some("Every other session was signed out."),
        "two-factor-off" => Some("Two-factor authentication is off."),
        _ => None,
    }
}

pub async fn show(
    me: SignedIn,
    state: web::Data<AppState>,
    query: web::Query<Notice>,
) -> Result<HttpResponse, AppError> {
    let mut page = AccountPage::load(&state, &me).await?;
    page.notice = notice_text(&query.done);
    html(StatusCode::OK, &page)
}

/// "Firefox on Linux" from a User-Agent header: enough to tell one's own devices apart. A
/// handful of patterns rather than a parser crate: the list needs a name, not a device database.
pub fn browser_of(user_agent: Option<&str>) -> String {
    let Some(ua) = user_agent.filter(|ua| !ua.trim().is_empty()) else {
        return "Unknown browser".to_owned();
    };
    let browser = [
        ("Edg/", "Edge"),
        ("OPR/", "Opera"),
        ("Firefox/", "Firefox"),
        ("Chromium/", "Chromium"),
        ("Chrome/", "Chrome"),
        ("Safari/", "Safari"),
        ("curl/", "curl"),
    ]
    .iter()
    .find(|(marker, _)| ua.contains(marker))
    .map(|(_, name)| *name);
    let system = [
        ("Android", "Android"),
        ("iPhone", "iOS"),
        ("iPad", "iPadOS"),
        ("Windows", "Windows"),
        ("Mac OS X", "macOS"),
        ("CrOS", "ChromeOS"),
        ("Linux", "Linux"),
    ]
    .iter()
    .find(|(marker, _)| ua.contains(marker))
    .map(|(_, name)| *name);
    match (browser, system) {
        (Some(b), Some(s)) => format!("{b} on {s}"),
        (Some(b), None) => b.to_owned(),
        _ => ua.chars().take(60).collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn browsers_are_named_from_their_user_agent() {
        let firefox = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0";
        assert_eq!(browser_of(Some(firefox)), "Firefox on Linux");
        let chrome = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0 Safari/537.36";
        assert_eq!(browser_of(Some(chrome)), "Chrome on Windows");
        let safari = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.0 Mobile/15E148 Safari/604.1";
        assert_eq!(browser_of(Some(safari)), "Safari on iOS");
        assert_eq!(browser_of(None), "Unknown browser");
        assert_eq!(browser_of(Some("my-script/1.0")), "my-script/1.0");
    }
}
