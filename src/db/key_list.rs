//! One page of an environment's keys by keyset (never OFFSET), filtered as SPEC §9 says.
//! Which index serves which view: README.md, "Lists that stay fast".

use chrono::{DateTime, TimeDelta, Utc};
use diesel::dsl::sql;
use diesel::pg::Pg;
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Bool, Text, Timestamptz};

use super::api_keys::ApiKey;
use super::schema::api_keys;
use crate::domain::ids::EnvironmentId;
use crate::domain::key_list::{
    BANNER_DAYS, EXPIRING_DAYS, KeyCursor, KeyFilter, KeyPosition, StatusFilter,
};

type Boxed<'a> = api_keys::BoxedQuery<'a, Pg, diesel::dsl::AsSelect<ApiKey, Pg>>;

/// `%`, `_` and `\` match themselves.
fn like_pattern(text: &str) -> String {
    let mut escaped = String::with_capacity(text.len() + 2);
    escaped.push('%');
    for c in text.chars() {
        if matches!(c, '%' | '_' | '\\') {
            escaped.push('\\');
        }
        escaped.push(c);
    }
    escaped.push('%');
    escaped
}

fn filtered<'a>(
    environment_id: EnvironmentId,
    filter: &KeyFilter,
    now: DateTime<Utc>,
) -> Boxed<'a> {
    let mut query = api_keys::table
        .filter(api_keys::environment_id.eq(environment_id))
        .select(ApiKey::as_select())
        .into_boxed();
    if let Some(q) = &filter.q {
        let pattern = like_pattern(q);
        query = query.filter(
            api_keys::name
                .ilike(pattern.clone())
                .or(api_keys::description.ilike(pattern.clone()))
                .or(api_keys::masked.ilike(pattern.clone()))
                .or(api_keys::owner_id.ilike(pattern))
                .or(sql::<Bool>("right(masked, 4) = ").bind::<Text, _>(q.clone())),
        );
    }
    if let Some(owner) = &filter.owner {
        query = query.filter(api_keys::owner_id.eq(owner.as_str().to_owned()));
    }
    let live = api_keys::revoked_at.is_null();
    let not_expired = api_keys::expires_at
        .is_null()
        .or(api_keys::expires_at.gt(now));
    query = match filter.status {
        None => query,
        Some(StatusFilter::Revoked) => query.filter(api_keys::revoked_at.is_not_null()),
        Some(StatusFilter::Expired) => query.filter(live).filter(api_keys::expires_at.le(now)),
        Some(StatusFilter::Off) => query
            .filter(live)
            .filter(not_expired)
            .filter(api_keys::enabled.eq(false)),
        Some(StatusFilter::On) => query
            .filter(live)
            .filter(not_expired)
            .filter(api_keys::enabled.eq(true)),
        Some(StatusFilter::Expiring) => query
            .filter(live)
            .filter(api_keys::expires_at.gt(now))
            .filter(api_keys::expires_at.le(now + TimeDelta::days(EXPIRING_DAYS))),
    };
    if let Some(key_type) = filter.key_type {
        query = query.filter(api_keys::key_type.eq(key_type));
    }
    if let Some(scope) = filter.scope {
        query = query.filter(api_keys::scopes.contains(vec![scope]));
    }
    query
}

/// `(created_at, id) <op> (…)`: a row comparison, which the (environment_id, created_at DESC,
/// id DESC) index serves as one range.
fn beyond(
    position: KeyPosition,
    op: &str,
) -> Box<dyn BoxableExpression<api_keys::table, Pg, SqlType = Bool>> {
    Box::new(
        sql::<Bool>(&format!("(created_at, id) {op} ("))
            .bind::<Timestamptz, _>(position.created_at)
            .sql(", ")
            .bind::<BigInt, _>(position.id.get())
            .sql(")"),
    )
}

/// Up to `limit` keys newest first, starting at `cursor`. Ask for one more than a page to
/// learn whether there is a page beyond it.
pub fn page(
    conn: &mut PgConnection,
    environment_id: EnvironmentId,
    filter: &KeyFilter,
    cursor: KeyCursor,
    now: DateTime<Utc>,
    limit: i64,
) -> QueryResult<Vec<ApiKey>> {
    let query = filtered(environment_id, filter, now);
    match cursor {
        KeyCursor::Newest => query
            .order((api_keys::created_at.desc(), api_keys::id.desc()))
            .limit(limit)
            .load(conn),
        KeyCursor::After(position) => query
            .filter(beyond(position, "<"))
            .order((api_keys::created_at.desc(), api_keys::id.desc()))
            .limit(limit)
            .load(conn),
        KeyCursor::Before(position) => {
            let mut newer: Vec<ApiKey> = query
                .filter(beyond(position, ">"))
                .order((api_keys::created_at.asc(), api_keys::id.asc()))
                .limit(limit)
                .load(conn)?;
            newer.reverse();
            Ok(newer)
        }
    }
}

/// Keys of the environment that are not revoked and expire within the banner's 7 days.
pub fn count_expiring_soon(
    conn: &mut PgConnection,
    environment_id: EnvironmentId,
    now: DateTime<Utc>,
) -> QueryResult<i64> {
    api_keys::table
        .filter(api_keys::environment_id.eq(environment_id))
        .filter(api_keys::revoked_at.is_null())
        .filter(api_keys::expires_at.gt(now))
        .filter(api_keys::expires_at.le(now + TimeDelta::days(BANNER_DAYS)))
        .count()
        .get_result(conn)
}

#[cfg(test)]
mod tests {
    use super::like_pattern;

    #[test]
    fn wildcards_are_taken_literally() {
        assert_eq!(like_pattern("50%_a\\b"), "%50\\%\\_a\\\\b%");
    }
}
