//! The management API under /api/v1/api-keys (SPEC §6).

use std::collections::BTreeMap;

use actix_web::{HttpRequest, HttpResponse, web};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Deserializer, Serialize};
use utoipa::openapi::schema::{
    AnyOfBuilder, Array, ArrayBuilder, KnownFormat, Object, ObjectBuilder, SchemaFormat,
    SchemaType, Type,
};
use utoipa::{IntoParams, ToSchema};

use super::auth::AdminKey;
use super::body::{ApiBody, ApiJson, WholeNumber, from_object, present_whole_number, whole_number};
use super::error::{ApiError, ErrorCode, FieldError};
use crate::db::{self, api_keys::ApiKey, api_keys::KeyChanges};
use crate::domain::Invalid;
use crate::domain::api_key::{
    ApiKeyName, Expiry, KeyDescription, KeyStatus, KeyType, RateLimit, Scope,
};
use crate::domain::ids::KeyId;
use crate::domain::key_list::{
    KeyCursor, KeyFilter, KeyPosition, PAGE_SIZE, SearchText, StatusFilter,
};
use crate::domain::policy::{AllowedIps, AllowedOrigins, KeyMeta, OwnerId, Quota, QuotaPeriod};
use crate::services;
use crate::services::keys::{
    self as key_service, DUPLICATE_NAME, KeyDraft, KeyField, KeyHome, KeySpec, PolicyDraft,
};
use crate::state::AppState;
use crate::verify::Code;
use crate::verify::usage::minute_of;

/// A key as the API shows it: never its secret, except `key` right after create or rotate.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = ApiKey)]
pub struct ApiKeyJson {
    #[schema(value_type = i64)]
    pub id: KeyId,
    #[schema(schema_with = name_schema)]
    pub name: String,
    #[schema(schema_with = description_schema)]
    pub description: String,
    #[serde(rename = "type")]
    pub key_type: KeyType,
    pub scopes: Vec<Scope>,
    pub status: KeyStatus,
    /// The key with most of its secret hidden; the plaintext is never shown again.
    #[schema(example = "kw_sk_live_AbCd…wXyZ")]
    pub masked: String,
    pub created_at: DateTime<Utc>,
    /// Null until the key is first verified.
    #[schema(required = true)]
    pub last_used_at: Option<DateTime<Utc>>,
    /// Null: never expires.
    #[schema(required = true)]
    pub expires_at: Option<DateTime<Utc>>,
    /// Null: no rate limit.
    #[schema(required = true, minimum = 1, maximum = 1000000000)]
    pub rate_limit_per_minute: Option<i32>,
    /// Addresses and CIDR blocks the key may be used from; null: anywhere.
    #[schema(required = true, max_items = 50)]
    pub allowed_ips: Option<Vec<String>>,
    /// Origins a publishable key may be used from; null: any.
    #[schema(required = true, max_items = 20)]
    pub allowed_origins: Option<Vec<String>>,
    /// Null: no quota.
    #[schema(required = true)]
    pub quota: Option<QuotaJson>,
    /// The customer or service the key belongs to; null: none.
    #[schema(required = true, max_length = 128)]
    pub owner_id: Option<String>,
    /// A JSON object of at most 4096 bytes serialised; null: none.
    #[schema(value_type = Option<Object>, required = true)]
    pub meta: Option<serde_json::Value>,
    /// The plaintext key: only in the create and rotate responses, and never again.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub key: Option<String>,
}

/// At most `limit` VALID answers per UTC day or month, or in the key's life.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = Quota)]
pub struct QuotaJson {
    #[serde(deserialize_with = "whole")]
    #[schema(minimum = 1, maximum = 1000000000000_i64)]
    pub limit: i64,
    #[schema(value_type = String, pattern = "^(day|month|total)$")]
    pub period: String,
}

fn whole<'de, D: Deserializer<'de>>(d: D) -> Result<i64, D::Error> {
    WholeNumber::deserialize(d).map(|w| w.0)
}

impl QuotaJson {
    fn parse(&self) -> Result<Quota, Invalid> {
        Quota::new(self.limit, QuotaPeriod::parse(&self.period)?)
    }
}

/// A page of the environment's keys, newest first.
#[derive(Debug, Serialize, ToSchema)]
pub struct ApiKeyList {
    pub data: Vec<ApiKeyJson>,
    /// Pass as `?cursor=` for the next page; null on the last page.
    #[schema(required = true)]
    pub next_cursor: Option<String>,
}

impl ApiKeyJson {
    fn new(key: ApiKey, state: &AppState) -> Self {
        // This node's uses not yet written count too.
        let last_used_at = key
            .last_used_at
            .max(state.verifier.usage.unflushed_last_used(key.id));
        Self {
            last_used_at,
            ..Self::snapshot(key, state.clock.now())
        }
    }

    /// The key as its row says at `now`: what a webhook's `data.key` carries (never a secret).
    pub fn snapshot(key: ApiKey, now: DateTime<Utc>) -> Self {
        Self {
            id: key.id,
            status: key.status(now),
            name: key.name,
            description: key.description,
            key_type: key.key_type,
            scopes: key.scopes,
            masked: key.masked,
            created_at: key.created_at,
            last_used_at: key.last_used_at,
            expires_at: key.expires_at,
            rate_limit_per_minute: key.rate_limit_per_minute,
            quota: Quota::from_stored(key.quota_limit, key.quota_period.as_deref()).map(|q| {
                QuotaJson {
                    limit: q.limit(),
                    period: q.period().as_str().to_owned(),
                }
            }),
            allowed_ips: key.allowed_ips,
            allowed_origins: key.allowed_origins,
            owner_id: key.owner_id,
            meta: key.meta.as_ref().map(KeyMeta::to_value),
            key: None,
        }
    }
}

fn key_id(raw: &str) -> Result<KeyId, ApiError> {
    raw.parse().map_err(|_| no_such_key())
}

fn no_such_key() -> ApiError {
    ApiError::not_found("No such API key.")
}

async fn home(state: &AppState, admin: &AdminKey) -> Result<KeyHome, ApiError> {
    let env_id = admin.environment_id;
    let env = services::run(&state.pool, move |conn| {
        db::projects::find_environment_by_id(conn, env_id)?.ok_or(crate::error::AppError::NotFound)
    })
    .await?;
    Ok(KeyHome::of(&env, &state.config.key_prefix)?)
}

/// Collects each field's problem, so one response lists them all.
#[derive(Default)]
struct Fields(Vec<FieldError>);

impl Fields {
    fn check<T>(&mut self, field: &'static str, parsed: Result<T, Invalid>) -> Option<T> {
        parsed
            .map_err(|e| {
                self.0.push(FieldError {
                    field,
                    message: e.to_string(),
                })
            })
            .ok()
    }
    fn into_result(self) -> Result<(), ApiError> {
        if self.0.is_empty() {
            Ok(())
        } else {
            Err(ApiError::invalid(self.0))
        }
    }
}

/// The JSON name of each field of a new key.
fn json_field(field: KeyField) -> &'static str {
    match field {
        KeyField::Name => "name",
        KeyField::Description => "description",
        KeyField::Type => "type",
        KeyField::Scopes => "scopes",
        KeyField::Expiry => "expires_at",
        KeyField::RateLimit => "rate_limit_per_minute",
        KeyField::AllowedIps => "allowed_ips",
        KeyField::AllowedOrigins => "allowed_origins",
        KeyField::Quota => "quota",
        KeyField::Owner => "owner_id",
        KeyField::Meta => "meta",
    }
}

/// 409: the name is valid, but another live key of the environment has it.
fn duplicate_name() -> ApiError {
    ApiError {
        code: ErrorCode::Conflict,
        ..ApiError::field("name", DUPLICATE_NAME)
    }
}

/// `?limit=&cursor=&q=&status=&owner=` (SPEC §9). Read by hand, so that every bad value is a
/// 422 with the error envelope.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    /// Keys per page.
    #[param(value_type = Option<i64>, minimum = 1, maximum = 100, default = 50)]
    pub limit: Option<String>,
    /// `next_cursor` of the page before; left out: the newest keys.
    #[param(pattern = "^[0-9a-f]{32}$")]
    pub cursor: Option<String>,
    /// A fragment of the name, description or masked form, or the masked form's last 4
    /// characters. Never a whole key: look one up with `POST /api/v1/api-keys/lookup`.
    pub q: Option<String>,
    /// `on`, `off`, `expired`, `revoked`, or `expiring` (not revoked, not yet expired,
    /// expires within 30 days); left out: all.
    #[param(value_type = Option<String>, pattern = "^(on|off|expired|revoked|expiring)$")]
    pub status: Option<String>,
    /// Only the keys of this owner (exactly as stored, trimmed).
    #[param(max_length = 128)]
    pub owner: Option<String>,
}

pub const MAX_LIST_LIMIT: i64 = 100;

impl ListQuery {
    /// The filter, where the page starts, the page size, and whether the owner asked for can
    /// own no key at all.
    fn parse(query: &str) -> Result<(KeyFilter, Option<KeyPosition>, i64, bool), ApiError> {
        let raw: ListQuery = serde_urlencoded::from_str(query).map_err(|e| {
            ApiError::new(
                ErrorCode::InvalidInput,
                format!("The query string is not valid: {e}"),
            )
        })?;
        let mut fields = Fields::default();
        let limit = match raw.limit.as_deref() {
            None => Some(PAGE_SIZE),
            Some(l) => fields.check(
                "limit",
                l.parse::<i64>()
                    .ok()
                    .filter(|n| (1..=MAX_LIST_LIMIT).contains(n))
                    .ok_or_else(|| Invalid::new(format!("limit is 1 to {MAX_LIST_LIMIT}."))),
            ),
        };
        let cursor = raw
            .cursor
            .as_deref()
            .and_then(|c| fields.check("cursor", KeyPosition::decode(c)));
        let status = raw
            .status
            .as_deref()
            .and_then(|s| fields.check("status", StatusFilter::parse(s)));
        let q = match SearchText::parse(raw.q.as_deref().unwrap_or("")) {
            SearchText::Empty => None,
            SearchText::Text(q) => Some(q),
            SearchText::Key(_) => {
                fields.check::<()>(
                    "q",
                    Err(Invalid::new(
                        "q never takes a whole key: use POST /api/v1/api-keys/lookup.",
                    )),
                );
                None
            }
        };
        // An owner too long is refused as documented; one with characters no owner may hold
        // simply has no keys.
        let (owner, no_owner) = match raw.owner.as_deref().map(OwnerId::parse_optional) {
            None | Some(Ok(None)) => (None, false),
            Some(Ok(Some(owner))) => (Some(owner), false),
            Some(Err(e))
                if raw
                    .owner
                    .as_deref()
                    .is_some_and(|o| o.chars().count() > OwnerId::MAX_CHARS) =>
            {
                fields.check::<()>("owner", Err(e));
                (None, false)
            }
            Some(Err(_)) => (None, true),
        };
        fields.into_result()?;
        let filter = KeyFilter {
            q,
            status,
            owner,
            ..KeyFilter::default()
        };
        Ok((filter, cursor, limit.unwrap_or(PAGE_SIZE), no_owner))
    }
}

/// A page of keys, newest first; walking `next_cursor` returns every key exactly once.
pub async fn list(
    admin: AdminKey,
    state: web::Data<AppState>,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let (filter, after, limit, no_owner) = ListQuery::parse(req.query_string())?;
    if no_owner {
        return Ok(HttpResponse::Ok().json(ApiKeyList {
            data: Vec::new(),
            next_cursor: None,
        }));
    }
    let (env_id, now) = (admin.environment_id, state.clock.now());
    let cursor = after.map(KeyCursor::After).unwrap_or_default();
    let page = services::run(&state.pool, move |conn| {
        services::key_list::page(conn, env_id, &filter, cursor, limit, now)
    })
    .await?;
    let next_cursor = page.older.map(|p| p.encode());
    let data: Vec<_> = page
        .keys
        .into_iter()
        .map(|k| ApiKeyJson::new(k, &state))
        .collect();
    Ok(HttpResponse::Ok().json(ApiKeyList { data, next_cursor }))
}

/// A whole key, to learn which key it is (after a leak, say).
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = KeyLookup)]
pub struct LookupBody {
    /// The plaintext key. It is compared by its SHA-256 digest and never stored or logged.
    #[schema(example = "kw_sk_live_…")]
    pub key: String,
}

impl std::fmt::Debug for LookupBody {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("LookupBody { key: (redacted) }")
    }
}

/// The key of this environment a plaintext names, or 404 (malformed, unknown, another
/// environment's).
pub async fn lookup(
    admin: AdminKey,
    state: web::Data<AppState>,
    ApiJson(body): ApiJson<LookupBody>,
) -> Result<HttpResponse, ApiError> {
    let SearchText::Key(lookup) = SearchText::parse(&body.key) else {
        return Err(no_such_key());
    };
    let env_id = admin.environment_id;
    let key = services::run(&state.pool, move |conn| {
        services::key_list::find_pasted(conn, env_id, &lookup)
    })
    .await?
    .ok_or_else(no_such_key)?;
    Ok(HttpResponse::Ok().json(ApiKeyJson::new(key, &state)))
}

/// A new key. Unknown fields are refused.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = CreateApiKey)]
pub struct CreateBody {
    #[schema(schema_with = name_schema, required = true)]
    pub name: Option<String>,
    #[serde(default)]
    #[schema(schema_with = description_schema)]
    pub description: String,
    /// Secret unless said otherwise.
    #[serde(rename = "type", default, deserialize_with = "present")]
    #[schema(value_type = KeyType, required = false, default = "secret")]
    pub key_type: Option<String>,
    /// A publishable key may only carry `read`.
    #[serde(default)]
    #[schema(value_type = BTreeSet<Scope>, required = true, min_items = 1)]
    pub scopes: Vec<String>,
    /// Null or left out: never expires. Must lie in the future.
    pub expires_at: Option<DateTime<Utc>>,
    /// Null or left out: no rate limit.
    #[serde(default, deserialize_with = "whole_number")]
    #[schema(minimum = 1, maximum = 1000000000)]
    pub rate_limit_per_minute: Option<i64>,
    #[schema(schema_with = ip_list_schema)]
    pub allowed_ips: Option<Vec<String>>,
    #[schema(schema_with = origin_list_schema)]
    pub allowed_origins: Option<Vec<String>>,
    /// Null or left out: no quota.
    pub quota: Option<QuotaJson>,
    #[schema(schema_with = owner_schema)]
    pub owner_id: Option<String>,
    /// A JSON object of at most 4096 bytes serialised.
    #[schema(value_type = Option<Object>)]
    pub meta: Option<serde_json::Value>,
}

fn nullable(t: Type) -> SchemaType {
    SchemaType::from_iter([t, Type::Null])
}

/// `allowed_ips` as `AllowedIps::parse_list` takes it.
fn ip_list_schema() -> Array {
    let v4 = ObjectBuilder::new()
        .schema_type(Type::String)
        .pattern(Some(AllowedIps::IPV4_PATTERN));
    let v6 = ObjectBuilder::new()
        .schema_type(Type::String)
        .format(Some(SchemaFormat::KnownFormat(KnownFormat::Ipv6)));
    ArrayBuilder::new()
        .schema_type(nullable(Type::Array))
        .description(Some(
            "Up to 50 IPv4/IPv6 addresses or CIDR blocks (IPv6 blocks such as 2001:db8::/32 \
             are accepted too) the key may be used from; null: anywhere.",
        ))
        .items(AnyOfBuilder::new().item(v4).item(v6))
        .min_items(Some(1))
        .max_items(Some(AllowedIps::MAX))
        .build()
}

/// `allowed_origins` as `AllowedOrigins::parse_list` takes it.
fn origin_list_schema() -> Array {
    ArrayBuilder::new()
        .schema_type(nullable(Type::Array))
        .description(Some(
            "Publishable keys only: up to 20 origins, scheme://host[:port], such as \
             https://app.example.com or https://*.example.com; null: any.",
        ))
        .items(
            ObjectBuilder::new()
                .schema_type(Type::String)
                .pattern(Some(AllowedOrigins::PATTERN)),
        )
        .min_items(Some(1))
        .max_items(Some(AllowedOrigins::MAX))
        .build()
}

/// `owner_id` as `OwnerId` takes it over the API: not blank (null removes it).
fn owner_schema() -> Object {
    ObjectBuilder::new()
        .schema_type(nullable(Type::String))
        .description(Some(
            "The customer or service the key belongs to: trimmed, one line; null: none.",
        ))
        .min_length(Some(1))
        .max_length(Some(OwnerId::MAX_CHARS))
        .pattern(Some(ApiKeyName::PATTERN))
        .build()
}

/// The policy fields of a create or PATCH body, each through its parser; `None`: not given.
fn policy_draft(
    allowed_ips: Option<Option<Vec<String>>>,
    allowed_origins: Option<Option<Vec<String>>>,
    quota: Option<Option<QuotaJson>>,
    owner_id: Option<Option<String>>,
    meta: Option<Option<serde_json::Value>>,
) -> PolicyDraft {
    PolicyDraft {
        allowed_ips: allowed_ips.map(|v| v.map(|l| AllowedIps::parse_list(&l)).transpose()),
        allowed_origins: allowed_origins
            .map(|v| v.map(|l| AllowedOrigins::parse_list(&l)).transpose()),
        quota: quota.map(|v| v.map(|q| q.parse()).transpose()),
        owner_id: owner_id.map(|v| match v {
            Some(o) if o.trim().is_empty() => {
                Err(Invalid::new("The owner may not be blank; null removes it."))
            }
            Some(o) => OwnerId::parse_optional(&o),
            None => Ok(None),
        }),
        meta: meta.map(|v| v.map(|m| KeyMeta::new(&m)).transpose()),
    }
}

fn field_errors(errors: crate::domain::FieldErrors<KeyField>) -> Vec<FieldError> {
    errors
        .into_vec()
        .into_iter()
        .map(|(field, message)| FieldError {
            field: json_field(field),
            message,
        })
        .collect()
}

fn invalid_fields(errors: crate::domain::FieldErrors<KeyField>) -> ApiError {
    ApiError::invalid(field_errors(errors))
}

pub async fn create(
    admin: AdminKey,
    state: web::Data<AppState>,
    ApiJson(body): ApiJson<CreateBody>,
) -> Result<HttpResponse, ApiError> {
    let scopes: Vec<&str> = body.scopes.iter().map(String::as_str).collect();
    let draft = KeyDraft {
        name: body.name.as_deref().unwrap_or(""),
        description: &body.description,
        key_type: body.key_type.as_deref().unwrap_or("secret"),
        scopes: &scopes,
        expiry: Expiry::at(body.expires_at, state.clock.now()),
        rate_limit: body.rate_limit_per_minute.map(RateLimit::new).transpose(),
        policy: policy_draft(
            body.allowed_ips.map(Some),
            body.allowed_origins.map(Some),
            body.quota.map(Some),
            body.owner_id.map(Some),
            body.meta.map(Some),
        ),
    };
    let spec = KeySpec::parse(draft).map_err(invalid_fields)?;
    let home = home(&state, &admin).await?;
    let change = state.change(admin.actor());
    let created = services::run(&state.pool, move |conn| {
        key_service::create(conn, &home, &spec, &change)
    })
    .await?;
    let (key, plain) = created.ok_or_else(duplicate_name)?;
    let mut json = ApiKeyJson::new(key, &state);
    json.key = Some(plain.expose().to_owned());
    Ok(HttpResponse::Created()
        .insert_header(("Cache-Control", "no-store"))
        .json(json))
}

async fn find(state: &AppState, admin: &AdminKey, id: KeyId) -> Result<ApiKey, ApiError> {
    let env_id = admin.environment_id;
    services::run(&state.pool, move |conn| {
        Ok(db::api_keys::find(conn, env_id, id)?)
    })
    .await?
    .ok_or_else(no_such_key)
}

pub async fn get(
    admin: AdminKey,
    state: web::Data<AppState>,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let key = find(&state, &admin, key_id(&id)?).await?;
    Ok(HttpResponse::Ok().json(ApiKeyJson::new(key, &state)))
}

/// A field that is there, as `T` reads it: with `T = Option<_>` it tells `"field": null`
/// (clear it) from a field left out (keep it); with a plain `T`, null is refused.
fn present<'de, T: Deserialize<'de>, D: Deserializer<'de>>(d: D) -> Result<Option<T>, D::Error> {
    T::deserialize(d).map(Some)
}

/// `name` as `ApiKeyName::parse` takes it, limits and characters.
fn name_schema() -> Object {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .description(Some(
            "Trimmed; unique among the environment's keys that are not revoked.",
        ))
        .min_length(Some(1))
        .max_length(Some(ApiKeyName::MAX_CHARS))
        .pattern(Some(ApiKeyName::PATTERN))
        .build()
}

/// `description` as `KeyDescription::parse` takes it.
fn description_schema() -> Object {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .description(Some(
            "Trimmed; tabs and line breaks are its only control characters.",
        ))
        .max_length(Some(KeyDescription::MAX_CHARS))
        .pattern(Some(KeyDescription::PATTERN))
        .build()
}

/// The fields to change; a field left out keeps its value. Unknown fields are refused.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = PatchApiKey)]
pub struct PatchBody {
    // Null is refused where a field cannot be cleared.
    #[serde(default, deserialize_with = "present")]
    #[schema(schema_with = name_schema, required = false)]
    pub name: Option<String>,
    #[serde(default, deserialize_with = "present")]
    #[schema(schema_with = description_schema, required = false)]
    pub description: Option<String>,
    /// The ON/OFF switch.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = bool, required = false)]
    pub enabled: Option<bool>,
    /// Null removes the limit.
    #[serde(default, deserialize_with = "present_whole_number")]
    #[schema(value_type = Option<i64>, minimum = 1, maximum = 1000000000)]
    pub rate_limit_per_minute: Option<Option<i64>>,
    /// Null: never expires. Must lie in the future.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<DateTime<Utc>>)]
    pub expires_at: Option<Option<DateTime<Utc>>>,
    #[serde(default, deserialize_with = "present")]
    #[schema(schema_with = ip_list_schema)]
    pub allowed_ips: Option<Option<Vec<String>>>,
    #[serde(default, deserialize_with = "present")]
    #[schema(schema_with = origin_list_schema)]
    pub allowed_origins: Option<Option<Vec<String>>>,
    /// Null removes the quota.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<QuotaJson>)]
    pub quota: Option<Option<QuotaJson>>,
    #[serde(default, deserialize_with = "present")]
    #[schema(schema_with = owner_schema)]
    pub owner_id: Option<Option<String>>,
    /// Null removes the metadata.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<Object>)]
    pub meta: Option<Option<serde_json::Value>>,
}

pub async fn patch(
    admin: AdminKey,
    state: web::Data<AppState>,
    id: web::Path<String>,
    ApiJson(body): ApiJson<PatchBody>,
) -> Result<HttpResponse, ApiError> {
    let id = key_id(&id)?;
    let mut fields = Fields::default();
    let mut changes = KeyChanges {
        name: body
            .name
            .and_then(|n| fields.check("name", ApiKeyName::parse(&n)))
            .map(|n| n.as_str().to_owned()),
        description: body
            .description
            .and_then(|d| fields.check("description", KeyDescription::parse(&d)))
            .map(|d| d.as_str().to_owned()),
        enabled: body.enabled,
        rate_limit_per_minute: body.rate_limit_per_minute.and_then(|limit| {
            fields
                .check(
                    "rate_limit_per_minute",
                    limit.map(RateLimit::new).transpose(),
                )
                .map(|l| l.map(RateLimit::get))
        }),
        expires_at: body.expires_at.and_then(|at| {
            fields
                .check("expires_at", Expiry::at(at, state.clock.now()))
                .map(Expiry::get)
        }),
        ..KeyChanges::default()
    };
    let draft = policy_draft(
        body.allowed_ips,
        body.allowed_origins,
        body.quota,
        body.owner_id,
        body.meta,
    );
    // A key's type never changes, so reading it before the locked update is safe.
    let key_type = find(&state, &admin, id).await?.key_type;
    let mut errors = crate::domain::FieldErrors::default();
    let policy = draft.parse(key_type, &mut errors);
    fields.0.extend(field_errors(errors));
    fields.into_result()?;
    policy.apply(&mut changes);
    let (env_id, change) = (admin.environment_id, state.change(admin.actor()));
    let updated = services::run(&state.pool, move |conn| {
        key_service::update(conn, env_id, id, changes, &change)
    })
    .await?;
    let key = updated.ok_or_else(duplicate_name)?;
    Ok(HttpResponse::Ok().json(ApiKeyJson::new(key, &state)))
}

/// An empty body rotates without a grace period. Unknown fields are refused.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = RotateApiKey)]
pub struct RotateBody {
    /// How long the old secret keeps working; 0 or null ends it, and every older one, at once.
    #[serde(default, deserialize_with = "whole_number")]
    #[schema(minimum = 0, maximum = 604800)]
    pub grace_period_seconds: Option<i64>,
}

/// The longest grace period: a week is plenty to roll a secret out.
pub const MAX_GRACE_SECONDS: i64 = 7 * 24 * 3600;

pub async fn rotate(
    admin: AdminKey,
    state: web::Data<AppState>,
    id: web::Path<String>,
    body: ApiBody,
) -> Result<HttpResponse, ApiError> {
    let id = key_id(&id)?;
    let body: RotateBody = if body.is_empty() {
        RotateBody::default()
    } else {
        from_object(&body.0).map_err(ApiError::bad_json)?
    };
    let grace = match body.grace_period_seconds {
        None | Some(0) => None,
        Some(s) if (1..=MAX_GRACE_SECONDS).contains(&s) => Some(chrono::TimeDelta::seconds(s)),
        Some(_) => {
            return Err(ApiError::field(
                "grace_period_seconds",
                format!("The grace period is 0 to {MAX_GRACE_SECONDS} seconds."),
            ));
        }
    };
    let home = home(&state, &admin).await?;
    let change = state.change(admin.actor());
    let (after, plain) = services::run(&state.pool, move |conn| {
        key_service::rotate(conn, &home, id, grace, &change)
    })
    .await?;
    let mut json = ApiKeyJson::new(after, &state);
    json.key = Some(plain.expose().to_owned());
    Ok(HttpResponse::Ok()
        .insert_header(("Cache-Control", "no-store"))
        .json(json))
}

pub async fn revoke(
    admin: AdminKey,
    state: web::Data<AppState>,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id = key_id(&id)?;
    let (env_id, change) = (admin.environment_id, state.change(admin.actor()));
    services::run(&state.pool, move |conn| {
        key_service::revoke(conn, env_id, id, &change)
    })
    .await?;
    Ok(HttpResponse::NoContent().finish())
}

/// The usage query. Unknown parameters are refused, as unknown body fields are.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct UsageQuery {
    /// How many minutes back, this one included: per-minute rows. The default (60) when
    /// `hours` is not given.
    // Read as text, so a value that is not a number is refused as this field's fault.
    #[param(value_type = Option<i64>, minimum = 1, maximum = 1440, default = 60)]
    pub minutes: Option<String>,
    /// How many hours back, this one included: hourly rows `[{"hour", "valid", "refused"}]`
    /// instead; when given, `minutes` is ignored.
    #[param(value_type = Option<i64>, minimum = 1, maximum = 2160)]
    pub hours: Option<String>,
}

/// Verifications of the key in one hour; `refused` counts every answer but 200.
#[derive(Debug, Serialize, Default, Clone, Copy, ToSchema)]
pub struct HourUsage {
    pub hour: DateTime<Utc>,
    pub valid: i64,
    pub refused: i64,
}

/// 90 days of hours: as far back as the hourly roll-ups are kept.
pub const MAX_USAGE_HOURS: i64 = 2160;

/// Verifications of the key in one minute; `refused` counts every answer but 200.
#[derive(Debug, Serialize, Default, Clone, Copy, ToSchema)]
pub struct MinuteUsage {
    pub minute: DateTime<Utc>,
    pub valid: i64,
    pub refused: i64,
}

pub const MAX_USAGE_MINUTES: i64 = 1440;

/// Per-minute counts, newest first; refused counts every non-200 answer for the key.
pub async fn usage(
    admin: AdminKey,
    state: web::Data<AppState>,
    id: web::Path<String>,
    query: web::Query<UsageQuery>,
) -> Result<HttpResponse, ApiError> {
    let id = key_id(&id)?;
    let minutes = match query.minutes.as_deref() {
        None => 60,
        Some(raw) => WholeNumber::parse(raw)
            .filter(|m| (1..=MAX_USAGE_MINUTES).contains(m))
            .ok_or_else(|| {
                ApiError::field(
                    "minutes",
                    format!("minutes is a whole number from 1 to {MAX_USAGE_MINUTES}."),
                )
            })?,
    };
    if let Some(raw) = query.hours.as_deref() {
        // `hours` wins over `minutes` (documented on the parameter); both must be well formed.
        let hours = WholeNumber::parse(raw).ok_or_else(|| {
            ApiError::field(
                "hours",
                format!("hours is a whole number from 1 to {MAX_USAGE_HOURS}."),
            )
        })?;
        return usage_by_hour(&state, &admin, id, hours).await;
    }
    find(&state, &admin, id).await?;
    let newest = minute_of(state.clock.now());
    let oldest = newest - chrono::Duration::minutes(minutes - 1);
    let stored = services::run(&state.pool, move |conn| {
        Ok(db::usage::since(conn, id, oldest)?)
    })
    .await?;
    let mut by_minute: BTreeMap<DateTime<Utc>, MinuteUsage> = (0..minutes)
        .map(|i| {
            let minute = newest - chrono::Duration::minutes(i);
            (
                minute,
                MinuteUsage {
                    minute,
                    ..Default::default()
                },
            )
        })
        .collect();
    let unflushed = state
        .verifier
        .usage
        .unflushed(id)
        .into_iter()
        .map(|(m, c, n)| (m, c.to_owned(), n));
    for (minute, code, count) in stored.into_iter().chain(unflushed) {
        if let Some(entry) = by_minute.get_mut(&minute) {
            if code == Code::Valid.as_str() {
                entry.valid += count;
            } else {
                entry.refused += count;
            }
        }
    }
    let newest_first: Vec<_> = by_minute.into_values().rev().collect();
    Ok(HttpResponse::Ok().json(newest_first))
}

/// `?hours=N`: hourly counts, newest first, this hour included.
async fn usage_by_hour(
    state: &AppState,
    admin: &AdminKey,
    id: KeyId,
    hours: i64,
) -> Result<HttpResponse, ApiError> {
    if !(1..=MAX_USAGE_HOURS).contains(&hours) {
        return Err(ApiError::field(
            "hours",
            format!("hours is 1 to {MAX_USAGE_HOURS}."),
        ));
    }
    find(state, admin, id).await?;
    let counts = services::usage::hourly(state, id, state.clock.now(), hours).await?;
    let newest_first: Vec<HourUsage> = counts
        .into_iter()
        .rev()
        .map(|c| HourUsage {
            hour: c.hour,
            valid: c.valid,
            refused: c.refused,
        })
        .collect();
    Ok(HttpResponse::Ok().json(newest_first))
}
