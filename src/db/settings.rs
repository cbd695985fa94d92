use diesel::prelude::*;

use super::schema::settings;

/// The stored value of `name`, or `candidate` stored now if there was none. Nodes starting
/// together agree on one value: the first insert wins and everyone reads it back.
pub fn get_or_init(conn: &mut PgConnection, name: &str, candidate: &str) -> QueryResult<String> {
    diesel::insert_into(settings::table)
        .values((settings::name.eq(name), settings::value.eq(candidate)))
        .on_conflict_do_nothing()
        .execute(conn)?;
    settings::table
        .find(name)
        .select(settings::value)
        .first(conn)
}
