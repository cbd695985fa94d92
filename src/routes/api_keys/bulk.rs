//! POST …/api-keys/bulk: the bulk bar above the list (SPEC §9). **Switch off** and **Switch on**
//! apply at once; **Revoke selected** first answers a confirmation that lists the keys and
//! warns about each one used in the last 7 days, whose form posts again with `confirmed`.
//! The ids arrive as repeated `key` fields (the rows' checkboxes), `view` is the list's query
//! string so the person comes back to the page they were on.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};

use super::{ApiKeysPage, Fragment, KeyListQuery, base_path, view_url};
use crate::auth::scope::{EnvScope, ManageKeys};
use crate::domain::Invalid;
use crate::domain::bulk::{BulkAction, KeySelection};
use crate::domain::ids::KeyId;
use crate::error::AppError;
use crate::routes::page::{retarget, see_other, set_flash};
use crate::services::bulk::{BulkOutcome, RevokePreview};
use crate::services::{self, bulk as bulk_service};
use crate::state::AppState;

/// The form, read from the body: `action`, `key` (repeated), `confirmed`, `view`.
struct BulkForm {
    action: BulkAction,
    selection: KeySelection,
    confirmed: bool,
    view: KeyListQuery,
}

impl BulkForm {
    fn parse(body: &[u8]) -> Result<Self, Invalid> {
        let pairs: Vec<(String, String)> = serde_urlencoded::from_bytes(body).map_err(|_| {
            Invalid::new("This form could not be read. Reload the page and try again.")
        })?;
        let field = |name: &str| {
            pairs
                .iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.as_str())
        };
        let action = BulkAction::parse(field("action").unwrap_or(""))?;
        let selection = KeySelection::parse(
            pairs
                .iter()
                .filter(|(k, _)| k == "key")
                .map(|(_, v)| v.as_str()),
        )?;
        // A view this server did not write falls back to the first page of all keys.
        let view = serde_urlencoded::from_str(field("view").unwrap_or("")).unwrap_or_default();
        Ok(Self {
            action,
            selection,
            confirmed: field("confirmed").is_some(),
            view,
        })
    }
}

/// A key in the revocation's confirmation.
pub struct BulkKey {
    pub id: KeyId,
    pub name: String,
    pub masked: String,
    /// Set for a key that answered valid verifications in the last 7 days.
    pub warning: Option<String>,
}

/// The revocation waiting for the person to confirm it.
pub struct BulkConfirm {
    pub keys: Vec<BulkKey>,
    /// How many of them were used in the last 7 days.
    pub used: usize,
    /// Selected keys left out (already revoked, not of this environment), said in words.
    pub left_out: Option<String>,
    pub button: String,
}

impl BulkConfirm {
    fn of(preview: RevokePreview) -> Self {
        let keys: Vec<BulkKey> = preview
            .keys
            .into_iter()
            .map(|c| BulkKey {
                id: c.key.id,
                warning: (c.recent_valid > 0).then(|| {
                    format!(
                        "Used in the last 7 days: {} valid {}. Whatever still sends this key \
                         will be refused.",
                        c.recent_valid,
                        if c.recent_valid == 1 {
                            "verification"
                        } else {
                            "verifications"
                        }
                    )
                }),
                name: c.key.name,
                masked: c.key.masked,
            })
            .collect();
        let left_out = skipped_note(preview.revoked, 0, preview.not_found, BulkAction::Revoke);
        Self {
            used: keys.iter().filter(|k| k.warning.is_some()).count(),
            button: format!("Revoke {}", count(keys.len())),
            keys,
            left_out: (!left_out.is_empty()).then_some(left_out),
        }
    }
}

pub async fn submit(
    scope: EnvScope<ManageKeys>,
    state: web::Data<AppState>,
    body: web::Bytes,
) -> Result<HttpResponse, AppError> {
    let BulkForm {
        action,
        selection,
        confirmed,
        view,
    } = BulkForm::parse(&body)?;
    let env_id = scope.env_id();
    if selection.is_empty() {
        let message = "Select one or more keys first: tick the box beside each key.";
        return finish(&state, &scope, &view, message.to_owned()).await;
    }
    if action == BulkAction::Revoke && !confirmed {
        let preview =
            bulk_service::revoke_preview(&state, env_id, selection, state.clock.now()).await?;
        if preview.keys.is_empty() {
            let message = format!(
                "Nothing to revoke.{}",
                skipped_note(preview.revoked, 0, preview.not_found, action)
            );
            return finish(&state, &scope, &view, message).await;
        }
        let mut page = ApiKeysPage::load_view(&state, &scope, &view).await?;
        page.bulk_confirm = Some(BulkConfirm::of(preview));
        let response = page.respond(StatusCode::OK, scope.htmx, Fragment::Panel)?;
        return Ok(if scope.htmx {
            retarget(response, "#panel", "innerHTML")
        } else {
            response
        });
    }
    let change = state.change(scope.actor());
    let outcome = services::run(&state.pool, move |conn| {
        bulk_service::apply(conn, env_id, &selection, action, &change)
    })
    .await?;
    finish(&state, &scope, &view, outcome_message(&outcome)).await
}

/// The list again, where the person was, with what happened: in place for htmx; for a plain
/// form a redirect, with the message kept in the session for the page it lands on.
async fn finish(
    state: &AppState,
    scope: &EnvScope<ManageKeys>,
    view: &KeyListQuery,
    message: String,
) -> Result<HttpResponse, AppError> {
    if scope.htmx {
        let mut page = ApiKeysPage::load_view(state, scope, view).await?;
        page.flash = Some(message);
        return page.respond(StatusCode::OK, true, Fragment::Section);
    }
    set_flash(&scope.session, &message)?;
    Ok(see_other(&view_url(
        &base_path(&scope.access),
        &view.view_query(),
    )))
}

/// "1 key", "3 keys".
fn count(n: usize) -> String {
    if n == 1 {
        "1 key".to_owned()
    } else {
        format!("{n} keys")
    }
}

/// What a bulk action left alone, and why; empty when it left nothing.
fn skipped_note(revoked: usize, unchanged: usize, not_found: usize, action: BulkAction) -> String {
    let mut note = String::new();
    if unchanged > 0 {
        let state = if action == BulkAction::SwitchOn {
            "on"
        } else {
            "off"
        };
        let verb = if unchanged == 1 { "was" } else { "were" };
        note.push_str(&format!(
            " {} {verb} already {state} and left as {}.",
            count(unchanged),
            if unchanged == 1 {
                "it was"
            } else {
                "they were"
            }
        ));
    }
    if revoked > 0 {
        let verb = if revoked == 1 { "is" } else { "are" };
        note.push_str(&format!(
            " {} {verb} already revoked and skipped.",
            count(revoked)
        ));
    }
    if not_found > 0 {
        let verb = if not_found == 1 { "is" } else { "are" };
        note.push_str(&format!(
            " {} {verb} not in this environment and ignored.",
            count(not_found)
        ));
    }
    note
}

fn outcome_message(outcome: &BulkOutcome) -> String {
    let (done, none) = match outcome.action {
        BulkAction::SwitchOff => ("Switched off", "No key was switched off."),
        BulkAction::SwitchOn => ("Switched on", "No key was switched on."),
        BulkAction::Revoke => ("Revoked", "No key was revoked."),
    };
    let changed = outcome.changed.len();
    let head = if changed == 0 {
        none.to_owned()
    } else {
        format!("{done} {}.", count(changed))
    };
    format!(
        "{head}{}",
        skipped_note(
            outcome.revoked,
            outcome.unchanged,
            outcome.not_found,
            outcome.action
        )
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_message_says_what_was_skipped_and_why() {
        let outcome = BulkOutcome {
            action: BulkAction::SwitchOff,
            changed: Vec::new(),
            unchanged: 2,
            revoked: 1,
            not_found: 1,
        };
        assert_eq!(
            outcome_message(&outcome),
            "No key was switched off. 2 keys were already off and left as they were. \
             1 key is already revoked and skipped. 1 key is not in this environment and ignored."
        );
    }

    #[test]
    fn a_form_names_its_keys_and_action() {
        let form = BulkForm::parse(b"csrf_token=x&action=on&key=4&key=2&view=status%3Doff")
            .ok()
            .map(|f| {
                (
                    f.action,
                    f.selection.ids().to_vec(),
                    f.confirmed,
                    f.view.status,
                )
            });
        assert_eq!(
            form,
            Some((
                BulkAction::SwitchOn,
                vec![KeyId(2), KeyId(4)],
                false,
                "off".to_owned()
            ))
        );
        assert!(BulkForm::parse(b"key=1").is_err(), "no action");
        assert!(BulkForm::parse(b"action=off&key=x").is_err(), "not an id");
    }
}
