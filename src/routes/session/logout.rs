use actix_session::Session;
use actix_web::HttpResponse;

use crate::routes::page::see_other;

/// Ends the session: its row is deleted, so the cookie is worthless on every node.
pub async fn submit(session: Session) -> HttpResponse {
    session.purge();
    see_other("/login")
}
