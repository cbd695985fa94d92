//! GET …/activity/export: the same events as CSV, streamed page by page, so an environment
//! with a million events exports in constant memory. A cell a spreadsheet would run as a
//! formula (starting with `=`, `+`, `-` or `@`) is prefixed with `'`.

use actix_web::http::header::{self, ContentDisposition, DispositionParam, DispositionType};
use actix_web::web::Bytes;
use actix_web::{HttpResponse, web};
use futures_util::stream;

use super::{ActivityQuery, actor_label, details_label, target_label, time_label};
use crate::auth::scope::{EnvScope, ViewActivity};
use crate::db::PgPool;
use crate::db::audit::{self, AuditCursor, AuditEvent, AuditFilter};
use crate::error::AppError;
use crate::services;
use crate::state::AppState;

/// Rows read per round trip while streaming.
const BATCH: i64 = 1000;
pub const COLUMNS: [&str; 6] = ["time", "actor", "action", "target", "ip", "details"];

/// A spreadsheet runs a cell starting with one of these as a formula.
pub fn inert(cell: String) -> String {
    if cell.starts_with(['=', '+', '-', '@']) {
        format!("'{cell}")
    } else {
        cell
    }
}

/// CSV lines (RFC 4180 quoting by the `csv` crate) for these rows.
pub fn encode<I: IntoIterator<Item = [String; 6]>>(rows: I) -> Result<Vec<u8>, AppError> {
    let mut writer = csv::Writer::from_writer(Vec::new());
    for row in rows {
        writer
            .write_record(row.map(inert))
            .map_err(|e| AppError::Unexpected(e.into()))?;
    }
    writer
        .into_inner()
        .map_err(|e| AppError::Unexpected(anyhow::anyhow!("finishing a CSV batch: {}", e.error())))
}

fn cells(event: &AuditEvent) -> [String; 6] {
    [
        time_label(event),
        actor_label(event),
        event.action.clone(),
        target_label(event),
        event.client_ip.clone().unwrap_or_default(),
        details_label(event),
    ]
}

enum Next {
    Header,
    From(AuditCursor),
    Done,
}

async fn batch(
    pool: PgPool,
    filter: AuditFilter,
    cursor: AuditCursor,
) -> Result<(Bytes, Next), AppError> {
    let events = services::run(&pool, move |conn| {
        Ok(audit::page(conn, &filter, cursor, BATCH)?)
    })
    .await?;
    let next = match events.last() {
        Some(last) if events.len() as i64 == BATCH => Next::From(AuditCursor::Before(last.id)),
        _ => Next::Done,
    };
    Ok((Bytes::from(encode(events.iter().map(cells))?), next))
}

pub async fn csv(
    scope: EnvScope<ViewActivity>,
    query: web::Query<ActivityQuery>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, AppError> {
    let filter = query.filter(scope.env_id());
    let pool = state.pool.clone();
    let body = stream::unfold(Next::Header, move |next| {
        let (pool, filter) = (pool.clone(), filter.clone());
        async move {
            match next {
                Next::Header => Some((
                    encode([COLUMNS.map(str::to_owned)]).map(Bytes::from),
                    Next::From(AuditCursor::Newest),
                )),
                Next::From(cursor) => Some(match batch(pool, filter, cursor).await {
                    Ok((bytes, next)) => (Ok(bytes), next),
                    Err(e) => (Err(e), Next::Done),
                }),
                Next::Done => None,
            }
        }
    });
    let filename = format!(
        "keyward-activity-{}-{}.csv",
        scope.access.project.slug, scope.access.env.slug
    );
    Ok(HttpResponse::Ok()
        .content_type("text/csv; charset=utf-8")
        .insert_header(ContentDisposition {
            disposition: DispositionType::Attachment,
            parameters: vec![DispositionParam::Filename(filename)],
        })
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .streaming(body))
}
