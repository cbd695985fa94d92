//! POST …/api-keys/search: the Search form. Text goes to the bookmarkable `?q=…` view; a whole
//! key pasted in is looked up by its digest and never reaches a URL, a page or a log line.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use serde::Deserialize;

use super::{ApiKeysPage, Fragment, KeyListQuery, base_path, view_query, view_url};
use crate::auth::scope::{EnvScope, ViewKeys};
use crate::domain::key_list::SearchText;
use crate::error::AppError;
use crate::routes::page::see_other;
use crate::services;
use crate::state::AppState;

#[derive(Deserialize)]
pub struct SearchForm {
    #[serde(default)]
    q: String,
    #[serde(default)]
    status: String,
    #[serde(rename = "type", default)]
    key_type: String,
    #[serde(default)]
    scope: String,
    #[serde(default)]
    owner: String,
}

/// A plain form follows a 303; htmx swaps the section in and puts the URL in the address bar.
fn navigate(htmx: bool, url: &str) -> HttpResponse {
    if htmx {
        let location = serde_json::json!({
            "path": url,
            "target": "#keys-section",
            "swap": "innerHTML",
        });
        HttpResponse::Ok()
            .insert_header(("HX-Location", location.to_string()))
            .finish()
    } else {
        see_other(url)
    }
}

pub async fn submit(
    scope: EnvScope<ViewKeys>,
    state: web::Data<AppState>,
    form: web::Form<SearchForm>,
) -> Result<HttpResponse, AppError> {
    let form = form.into_inner();
    let base = base_path(&scope.access);
    match SearchText::parse(&form.q) {
        SearchText::Key(lookup) => {
            let env_id = scope.env_id();
            let found = services::run(&state.pool, move |conn| {
                services::key_list::find_pasted_id(conn, env_id, &lookup)
            })
            .await?;
            match found {
                Some(id) => {
                    let page = format!("{base}/{id}");
                    Ok(if scope.htmx {
                        HttpResponse::Ok()
                            .insert_header(("HX-Redirect", page))
                            .finish()
                    } else {
                        see_other(&page)
                    })
                }
                None => ApiKeysPage::no_match(&state, &scope).await?.respond(
                    StatusCode::OK,
                    scope.htmx,
                    Fragment::Section,
                ),
            }
        }
        text => {
            let query = KeyListQuery {
                q: match text {
                    SearchText::Text(q) => q,
                    _ => String::new(),
                },
                status: form.status,
                key_type: form.key_type,
                scope: form.scope,
                owner: form.owner,
                ..KeyListQuery::default()
            };
            let filter = query.filter((!query.q.is_empty()).then(|| query.q.clone()));
            Ok(navigate(
                scope.htmx,
                &view_url(&base, &view_query(&filter, None)),
            ))
        }
    }
}
