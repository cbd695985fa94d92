//! How domain types travel to and from PostgreSQL. The domain knows nothing of Diesel, so the
//! mappings live here: ids as `BIGINT`, enums as `TEXT` (an unknown value in a row is an error,
//! never a silent default), digests as `BYTEA`.

use std::io::Write;

use diesel::deserialize::{self, FromSql, FromSqlRow};
use diesel::expression::AsExpression;
use diesel::pg::{Pg, PgValue};
use diesel::serialize::{self, IsNull, Output, ToSql};
use diesel::sql_types::{BigInt, Binary, Jsonb, Text};

use crate::domain::api_key::{KeyType, Scope};
use crate::domain::ids::{DeliveryId, EnvironmentId, KeyId, ProjectId, UserId, WebhookId};
use crate::domain::key_format::KeyDigest;
use crate::domain::policy::KeyMeta;
use crate::domain::user::Role;

macro_rules! bigint_id {
    ($($id:ident => $proxy:ident),* $(,)?) => {$(
        #[derive(AsExpression, FromSqlRow)]
        #[diesel(foreign_derive, sql_type = BigInt)]
        #[allow(dead_code)]
        struct $proxy($id);

        impl ToSql<BigInt, Pg> for $id {
            fn to_sql<'b>(&'b self, out: &mut Output<'b, '_, Pg>) -> serialize::Result {
                <i64 as ToSql<BigInt, Pg>>::to_sql(&self.0, &mut out.reborrow())
            }
        }

        impl FromSql<BigInt, Pg> for $id {
            fn from_sql(bytes: PgValue<'_>) -> deserialize::Result<Self> {
                <i64 as FromSql<BigInt, Pg>>::from_sql(bytes).map(Self)
            }
        }
    )*};
}

bigint_id!(
    KeyId => KeyIdSql,
    UserId => UserIdSql,
    EnvironmentId => EnvironmentIdSql,
    ProjectId => ProjectIdSql,
    WebhookId => WebhookIdSql,
    DeliveryId => DeliveryIdSql,
);

macro_rules! text_enum {
    ($($ty:ident => $proxy:ident, $parse:expr;)*) => {$(
        #[derive(AsExpression, FromSqlRow)]
        #[diesel(foreign_derive, sql_type = Text)]
        #[allow(dead_code)]
        struct $proxy($ty);

        impl ToSql<Text, Pg> for $ty {
            fn to_sql<'b>(&'b self, out: &mut Output<'b, '_, Pg>) -> serialize::Result {
                out.write_all(self.as_str().as_bytes())?;
                Ok(IsNull::No)
            }
        }

        impl FromSql<Text, Pg> for $ty {
            fn from_sql(bytes: PgValue<'_>) -> deserialize::Result<Self> {
                let text = std::str::from_utf8(bytes.as_bytes())?;
                let parse: fn(&str) -> Option<$ty> = $parse;
                parse(text).ok_or_else(|| {
                    format!("unknown {} {text:?} in the database", stringify!($ty)).into()
                })
            }
        }
    )*};
}

text_enum! {
    KeyType => KeyTypeSql, |s| KeyType::parse(s).ok();
    Scope => ScopeSql, |s| Scope::parse(s).ok();
    Role => RoleSql, |s| match s { "owner" => Some(Role::Owner), "member" => Some(Role::Member), _ => None };
}

#[derive(AsExpression, FromSqlRow)]
#[diesel(foreign_derive, sql_type = Binary)]
#[allow(dead_code)]
struct KeyDigestSql(KeyDigest);

impl ToSql<Binary, Pg> for KeyDigest {
    fn to_sql<'b>(&'b self, out: &mut Output<'b, '_, Pg>) -> serialize::Result {
        out.write_all(self.as_bytes())?;
        Ok(IsNull::No)
    }
}

impl FromSql<Binary, Pg> for KeyDigest {
    fn from_sql(bytes: PgValue<'_>) -> deserialize::Result<Self> {
        KeyDigest::from_slice(bytes.as_bytes())
            .ok_or_else(|| "a key digest in the database is not 32 bytes".into())
    }
}

#[derive(AsExpression, FromSqlRow)]
#[diesel(foreign_derive, sql_type = Jsonb)]
#[allow(dead_code)]
struct KeyMetaSql(KeyMeta);

/// JSONB's binary form is a version byte (1) and the JSON text; keeping it by hand spares
/// Diesel's `serde_json` feature and a JSON tree per row.
impl ToSql<Jsonb, Pg> for KeyMeta {
    fn to_sql<'b>(&'b self, out: &mut Output<'b, '_, Pg>) -> serialize::Result {
        out.write_all(&[1])?;
        out.write_all(self.as_json().as_bytes())?;
        Ok(IsNull::No)
    }
}

impl FromSql<Jsonb, Pg> for KeyMeta {
    fn from_sql(bytes: PgValue<'_>) -> deserialize::Result<Self> {
        let raw = bytes.as_bytes();
        let Some((1, text)) = raw.split_first() else {
            return Err("unknown JSONB version in the database".into());
        };
        KeyMeta::from_json_text(std::str::from_utf8(text)?).map_err(|e| e.to_string().into())
    }
}
