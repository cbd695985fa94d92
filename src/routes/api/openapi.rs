//! /api/v1/openapi.json: the paths come from `OPERATIONS`, the schemas from the Rust types the
//! handlers read and write (`utoipa::ToSchema`), so the document follows the code.

use std::borrow::Cow;
use std::collections::BTreeMap;

use actix_web::HttpResponse;
use utoipa::openapi::header::HeaderBuilder;
use utoipa::openapi::path::{OperationBuilder, ParameterBuilder, ParameterIn, Paths};
use utoipa::openapi::request_body::RequestBodyBuilder;
use utoipa::openapi::response::{ResponseBuilder, ResponsesBuilder};
use utoipa::openapi::schema::{
    AllOfBuilder, AnyOfBuilder, ArrayBuilder, KnownFormat, ObjectBuilder, SchemaFormat, Type,
};
use utoipa::openapi::security::{ApiKey, ApiKeyValue, SecurityRequirement, SecurityScheme};
use utoipa::openapi::{
    ComponentsBuilder, Content, HttpMethod, InfoBuilder, OpenApi, OpenApiBuilder, Ref, RefOr,
    Required, Schema,
};
use utoipa::{IntoParams, ToSchema};

use super::OPERATIONS;
use super::error::ErrorBody;
use super::keys::{ApiKeyJson, CreateBody};
use super::verify::{KEY_HEADER, RefusedBody};

const SECURITY_SCHEME: &str = "ApiKeyHeader";

/// A schema for the document: named ones become components and are referred to, unnamed ones
/// are written in place. `refs` are the components it refers to.
pub struct Described {
    name: Option<Cow<'static, str>>,
    schema: RefOr<Schema>,
    refs: Vec<(String, RefOr<Schema>)>,
}

pub type Body = fn() -> Described;
pub type Params = fn() -> Vec<utoipa::openapi::path::Parameter>;

/// The schema of a Rust type that derives `ToSchema`.
pub fn of<T: ToSchema>() -> Described {
    let mut refs = Vec::new();
    T::schemas(&mut refs);
    Described {
        name: Some(T::name()),
        schema: T::schema(),
        refs,
    }
}

/// A JSON array of `T`.
pub fn array_of<T: ToSchema>() -> Described {
    let item = of::<T>();
    let mut refs = item.refs;
    refs.extend(item.name.map(|name| (name.into_owned(), item.schema)));
    Described {
        name: None,
        schema: ArrayBuilder::new()
            .items(Ref::from_schema_name(T::name()))
            .into(),
        refs,
    }
}

/// An `ApiKey` whose `key` (the plaintext) is present: the create and rotate answers.
pub fn api_key_with_secret() -> Described {
    let key = of::<ApiKeyJson>();
    let mut refs = key.refs;
    refs.extend(key.name.as_ref().map(|n| (n.to_string(), key.schema)));
    let schema = AllOfBuilder::new()
        .item(Ref::from_schema_name(key.name.unwrap_or_default()))
        .item(ObjectBuilder::new().required("key"))
        .into();
    Described {
        name: Some(Cow::Borrowed("ApiKeyWithSecret")),
        schema,
        refs,
    }
}

/// A new key's body: `CreateApiKey`, and one rule between two of its fields that the struct's
/// own schema cannot state: a publishable key carries only `read`.
pub fn create_key_request() -> Described {
    let body = of::<CreateBody>();
    let name = body.name.unwrap_or_default();
    let mut refs = body.refs;
    refs.push((name.to_string(), body.schema));
    let only = |value: &str| {
        ObjectBuilder::new()
            .schema_type(Type::String)
            .enum_values(Some([value.to_owned()]))
    };
    let secret = ObjectBuilder::new().property("type", only("secret"));
    let read_only =
        ObjectBuilder::new().property("scopes", ArrayBuilder::new().items(only("read")));
    let rule = AnyOfBuilder::new()
        .description(Some(
            "A publishable key may only carry `read`: `type` is `secret` (or left out), or \
             every scope is `read`.",
        ))
        .item(secret)
        .item(read_only);
    Described {
        name: None,
        schema: AllOfBuilder::new()
            .item(Ref::from_schema_name(name))
            .item(rule)
            .into(),
        refs,
    }
}

/// The usage answer: per-minute rows, or with `hours` per-hour rows.
pub fn usage_rows() -> Described {
    let (minutes, hours) = (
        array_of::<super::keys::MinuteUsage>(),
        array_of::<super::keys::HourUsage>(),
    );
    let mut refs = minutes.refs;
    refs.extend(hours.refs);
    Described {
        name: None,
        schema: utoipa::openapi::schema::OneOfBuilder::new()
            .item(minutes.schema)
            .item(hours.schema)
            .into(),
        refs,
    }
}

pub fn any_object() -> Described {
    Described {
        name: None,
        schema: ObjectBuilder::new().schema_type(Type::Object).into(),
        refs: Vec::new(),
    }
}

/// The query string of an operation, from a type that derives `IntoParams`.
pub fn query<T: IntoParams>() -> Vec<utoipa::openapi::path::Parameter> {
    T::into_params(|| Some(ParameterIn::Query))
}

/// Which key an operation reads from `X-API-Key`.
pub enum Credential {
    NoKey,
    /// The key being verified.
    AnyKey,
    /// The management API's credential: a key holding the `admin` scope.
    AdminKey,
}

pub struct Request {
    required: bool,
    body: Body,
}

impl Request {
    pub const fn required(body: Body) -> Self {
        Self {
            required: true,
            body,
        }
    }
    /// An empty body is accepted too.
    pub const fn optional(body: Body) -> Self {
        Self {
            required: false,
            body,
        }
    }
}

/// A response header and what it says.
pub struct HeaderDoc {
    name: &'static str,
    description: &'static str,
    /// Text (a list of methods) rather than a whole number of seconds or requests.
    text: bool,
}

/// One answer an operation can give.
pub struct Reply {
    pub status: u16,
    pub description: &'static str,
    body: Option<Body>,
    headers: &'static [HeaderDoc],
}

impl Reply {
    pub const fn json(status: u16, description: &'static str, body: Body) -> Self {
        Self {
            status,
            description,
            body: Some(body),
            headers: &[],
        }
    }
    pub const fn empty(status: u16, description: &'static str) -> Self {
        Self {
            status,
            description,
            body: None,
            headers: &[],
        }
    }
    pub const fn with_headers(self, headers: &'static [HeaderDoc]) -> Self {
        Self { headers, ..self }
    }
}

const LIMIT: HeaderDoc = HeaderDoc {
    name: "X-RateLimit-Limit",
    description: "The key's requests per minute (only for a key with a rate limit).",
    text: false,
};
const REMAINING: HeaderDoc = HeaderDoc {
    name: "X-RateLimit-Remaining",
    description: "Requests the key may still make at once.",
    text: false,
};
const RESET: HeaderDoc = HeaderDoc {
    name: "X-RateLimit-Reset",
    description: "Seconds until its full budget is back.",
    text: false,
};
const RETRY: HeaderDoc = HeaderDoc {
    name: "Retry-After",
    description: "Seconds to wait before retrying.",
    text: false,
};

/// On verify answers for a key that has a rate limit.
pub const RATE_LIMIT: &[HeaderDoc] = &[LIMIT, REMAINING, RESET];
const RATE_LIMITED: &[HeaderDoc] = &[RETRY, LIMIT, REMAINING, RESET];
const RETRY_AFTER: &[HeaderDoc] = &[RETRY];
const ALLOW: &[HeaderDoc] = &[HeaderDoc {
    name: "Allow",
    description: "The methods this path answers.",
    text: true,
}];

fn error() -> Described {
    of::<ErrorBody<'static>>()
}

fn refused() -> Described {
    of::<RefusedBody<'static>>()
}

/// How the management API refuses a request before looking at it.
pub const KEY_REFUSED: &[Reply] = &[
    Reply::json(
        401,
        "UNAUTHENTICATED: no key, or one that does not verify.",
        error,
    ),
    Reply::json(403, "FORBIDDEN: the key lacks the admin scope.", error),
    Reply::json(
        429,
        "RATE_LIMITED: the admin key is over its rate limit.",
        error,
    )
    .with_headers(RETRY_AFTER),
];
pub const NOT_FOUND: &[Reply] = &[Reply::json(
    404,
    "NOT_FOUND: no such key in the admin key's environment.",
    error,
)];
/// Valid requests the environment's or the key's current state refuses.
pub const NAME_TAKEN: &[Reply] = &[Reply::json(
    409,
    "CONFLICT: another key of the environment that is not revoked has this name (`fields` \
     names `name`).",
    error,
)];
pub const REVOKED_OR_NAME_TAKEN: &[Reply] = &[Reply::json(
    409,
    "CONFLICT: the key is revoked and cannot change, or another key that is not revoked has \
     this name (`fields` names `name`).",
    error,
)];
pub const REVOKED: &[Reply] = &[Reply::json(
    409,
    "CONFLICT: the key is revoked and cannot be rotated.",
    error,
)];
pub const INVALID: &[Reply] = &[Reply::json(
    422,
    "INVALID_INPUT: `fields` names each field at fault, with what is wrong.",
    error,
)];
/// What any route can answer, whatever it does: another method on its path, or a body declared
/// (or sent) over the limit.
pub const EVERY_ROUTE: &[Reply] = &[
    Reply::json(
        405,
        "METHOD_NOT_ALLOWED: the path does not answer this method; `Allow` lists those it does.",
        error,
    )
    .with_headers(ALLOW),
    Reply::json(413, "PAYLOAD_TOO_LARGE: the body is over 64 KiB.", error),
];
/// A leak report refused before anything changes (SPEC §12).
pub const LEAK_REFUSED: &[Reply] = &[
    Reply::json(
        401,
        "UNAUTHENTICATED: the Github-Public-Key-Identifier / Github-Public-Key-Signature headers \
         are missing, or the ECDSA P-256 signature over the raw body does not verify with a \
         configured public key.",
        error,
    ),
    Reply::json(
        422,
        "INVALID_INPUT: the body is not a JSON array of reported tokens, or carries more than \
         1000.",
        error,
    ),
    Reply::json(
        429,
        "RATE_LIMITED: too many reports from this address.",
        error,
    )
    .with_headers(RETRY_AFTER),
];
pub const INTERNAL: &[Reply] = &[Reply::json(500, "INTERNAL: the server failed.", error)];
/// The verification API's refusals (SPEC §5).
pub const VERIFY_REFUSED: &[Reply] = &[
    Reply::json(
        400,
        "BAD_REQUEST: the body is not a JSON object like VerifyRequest.",
        refused,
    ),
    Reply::json(
        401,
        "MALFORMED (no key, or not a key), NOT_FOUND, DISABLED, EXPIRED, REVOKED or \
         WRONG_ENVIRONMENT.",
        refused,
    )
    .with_headers(RATE_LIMIT),
    Reply::json(
        403,
        "INSUFFICIENT_SCOPE: the key does not hold `scope`.",
        refused,
    )
    .with_headers(RATE_LIMIT),
    Reply::json(
        429,
        "RATE_LIMITED: the key is over its rate limit.",
        refused,
    )
    .with_headers(RATE_LIMITED),
];

const KEYWARD_CODE: HeaderDoc = HeaderDoc {
    name: super::forward_auth::CODE_HEADER,
    description: "The verification code (SPEC §5), for the gateway to pass to the client.",
    text: true,
};
const fn text_header(name: &'static str, description: &'static str) -> HeaderDoc {
    HeaderDoc {
        name,
        description,
        text: true,
    }
}
/// Forward auth's 200: who the caller is, for the upstream (and the key's rate limit).
pub const FORWARD_AUTH_VALID: &[HeaderDoc] = &[
    text_header(super::forward_auth::KEY_ID_HEADER, "The key's id."),
    text_header(
        super::forward_auth::KEY_NAME_HEADER,
        "The key's name, percent-encoded as UTF-8.",
    ),
    text_header(
        super::forward_auth::OWNER_HEADER,
        "The key's owner, percent-encoded as UTF-8 (only when it has one).",
    ),
    text_header(
        super::forward_auth::SCOPES_HEADER,
        "The key's scopes, comma-separated.",
    ),
    text_header(
        super::forward_auth::ENVIRONMENT_HEADER,
        "The slug of the key's environment.",
    ),
    LIMIT,
    REMAINING,
    RESET,
];
const FORWARD_AUTH_REFUSAL: &[HeaderDoc] = &[KEYWARD_CODE, LIMIT, REMAINING, RESET];
const FORWARD_AUTH_LIMITED: &[HeaderDoc] = &[KEYWARD_CODE, RETRY, LIMIT, REMAINING, RESET];
/// Forward auth's refusals (SPEC §13): §5's, with the code in `X-Keyward-Code` too.
pub const FORWARD_AUTH_REFUSED: &[Reply] = &[
    Reply::json(
        401,
        "MALFORMED (no key in X-API-Key or Authorization: Bearer, or not a key), NOT_FOUND, \
         DISABLED, EXPIRED, REVOKED or WRONG_ENVIRONMENT (X-Keyward-Environment).",
        refused,
    )
    .with_headers(FORWARD_AUTH_REFUSAL),
    Reply::json(
        403,
        "INSUFFICIENT_SCOPE: the key does not hold X-Keyward-Scope; with `gateway=nginx`, also \
         RATE_LIMITED (with Retry-After).",
        refused,
    )
    .with_headers(FORWARD_AUTH_LIMITED),
    Reply::json(
        429,
        "RATE_LIMITED: the key is over its rate limit.",
        refused,
    )
    .with_headers(FORWARD_AUTH_LIMITED),
];

/// Puts a schema in the components (with the ones it refers to) and answers how to refer to it.
fn place(described: Described, schemas: &mut BTreeMap<String, RefOr<Schema>>) -> RefOr<Schema> {
    schemas.extend(described.refs);
    match described.name {
        Some(name) => {
            let reference = Ref::from_schema_name(name.as_ref()).into();
            schemas.insert(name.into_owned(), described.schema);
            reference
        }
        None => described.schema,
    }
}

fn json_content(schema: RefOr<Schema>) -> Content {
    Content::new(Some(schema))
}

fn header(doc: &HeaderDoc) -> utoipa::openapi::header::Header {
    let schema_type = if doc.text {
        Type::String
    } else {
        Type::Integer
    };
    HeaderBuilder::new()
        .schema(ObjectBuilder::new().schema_type(schema_type))
        .description(Some(doc.description))
        .build()
}

fn operation_id(method: &HttpMethod, op: &super::Operation) -> String {
    let method = match method {
        HttpMethod::Get => "get",
        HttpMethod::Post => "post",
        HttpMethod::Put => "put",
        HttpMethod::Delete => "delete",
        HttpMethod::Options => "options",
        HttpMethod::Head => "head",
        HttpMethod::Patch => "patch",
        HttpMethod::Trace => "trace",
    };
    format!(
        "{method}{}",
        op.path.replace(['/', '{', '}', '-', '.'], "_")
    )
}

pub fn build() -> OpenApi {
    let mut schemas = BTreeMap::new();
    let mut paths = Paths::new();
    for op in OPERATIONS {
        let mut operation = OperationBuilder::new().summary(Some(op.summary));
        match op.credential {
            Credential::NoKey => {}
            Credential::AnyKey => {
                operation = operation.security(SecurityRequirement::new(
                    SECURITY_SCHEME,
                    Vec::<String>::new(),
                ));
            }
            Credential::AdminKey => {
                operation =
                    operation.security(SecurityRequirement::new(SECURITY_SCHEME, ["admin"]));
            }
        }
        if op.path.contains("{id}") {
            operation = operation.parameter(
                ParameterBuilder::new()
                    .name("id")
                    .parameter_in(ParameterIn::Path)
                    .required(Required::True)
                    .description(Some("The key's id."))
                    .schema(Some(
                        ObjectBuilder::new()
                            .schema_type(Type::Integer)
                            .format(Some(SchemaFormat::KnownFormat(KnownFormat::Int64))),
                    )),
            );
        }
        if let Some(params) = op.query {
            for param in params() {
                operation = operation.parameter(param);
            }
        }
        if let Some(request) = &op.request {
            let schema = place((request.body)(), &mut schemas);
            operation = operation.request_body(Some(
                RequestBodyBuilder::new()
                    .required(Some(if request.required {
                        Required::True
                    } else {
                        Required::False
                    }))
                    .content("application/json", json_content(schema))
                    .build(),
            ));
        }
        let mut responses = ResponsesBuilder::new();
        for reply in op.answers.iter().flat_map(|group| group.iter()) {
            let mut response = ResponseBuilder::new().description(reply.description);
            if let Some(body) = reply.body {
                let schema = place(body(), &mut schemas);
                response = response.content("application/json", json_content(schema));
            }
            for header in reply.headers {
                response = response.header(header.name, self::header(header));
            }
            responses = responses.response(reply.status.to_string(), response.build());
        }
        let operation = operation.responses(responses.build()).build();
        for method in op.http_methods {
            let mut operation = operation.clone();
            operation.operation_id = Some(operation_id(method, op));
            paths.add_path_operation(
                format!("/api/v1{}", op.path),
                vec![method.clone()],
                operation,
            );
        }
    }
    let mut components = ComponentsBuilder::new().security_scheme(
        SECURITY_SCHEME,
        SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::with_description(
            KEY_HEADER,
            "An API key. The management API needs one holding the admin scope, and acts on \
             that key's own environment.",
        ))),
    );
    for (name, schema) in schemas {
        components = components.schema(name, schema);
    }
    OpenApiBuilder::new()
        .info(
            InfoBuilder::new()
                .title("Keyward")
                .version(env!("CARGO_PKG_VERSION"))
                .description(Some(
                    "Verify API keys, and manage them with an admin-scope key.",
                )),
        )
        .paths(paths)
        .components(Some(components.build()))
        .build()
}

pub async fn document() -> HttpResponse {
    HttpResponse::Ok().json(build())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use serde_json::Value;

    use super::build;
    use crate::domain::api_key::{ApiKeyName, KeyDescription, RateLimit};
    use crate::routes::api::keys::{
        CreateBody, MAX_GRACE_SECONDS, MAX_USAGE_MINUTES, PatchBody, RotateBody,
    };
    use crate::routes::api::verify::VerifyBody;

    fn document() -> Value {
        serde_json::to_value(build()).unwrap()
    }

    fn refs(value: &Value, found: &mut Vec<String>) {
        match value {
            Value::Object(map) => {
                if let Some(Value::String(r)) = map.get("$ref") {
                    found.push(r.clone());
                }
                map.values().for_each(|v| refs(v, found));
            }
            Value::Array(items) => items.iter().for_each(|v| refs(v, found)),
            _ => {}
        }
    }

    #[test]
    fn every_reference_resolves_to_a_component() {
        let doc = document();
        let mut found = Vec::new();
        refs(&doc, &mut found);
        assert!(!found.is_empty());
        for r in found {
            let name = r.strip_prefix("#/components/schemas/").unwrap();
            assert!(
                doc["components"]["schemas"].get(name).is_some(),
                "{r} resolves"
            );
        }
    }

    /// The schema attributes take literals; this keeps them equal to the limits the server
    /// enforces.
    #[test]
    fn the_documented_limits_are_the_servers() {
        let doc = document();
        let schemas = &doc["components"]["schemas"];
        for schema in ["CreateApiKey", "PatchApiKey", "ApiKey"] {
            let props = &schemas[schema]["properties"];
            assert_eq!(
                props["name"]["maxLength"],
                ApiKeyName::MAX_CHARS,
                "{schema}"
            );
            assert_eq!(props["name"]["minLength"], 1, "{schema}");
            assert_eq!(
                props["description"]["maxLength"],
                KeyDescription::MAX_CHARS,
                "{schema}"
            );
            assert_eq!(props["name"]["pattern"], ApiKeyName::PATTERN, "{schema}");
            assert_eq!(
                props["description"]["pattern"],
                KeyDescription::PATTERN,
                "{schema}"
            );
            // A field that cannot be cleared does not take null.
            assert_eq!(props["name"]["type"], "string", "{schema}");
            let limit = &props["rate_limit_per_minute"];
            assert_eq!(limit["minimum"], 1, "{schema}");
            assert_eq!(limit["maximum"], RateLimit::MAX, "{schema}");
        }
        let grace = &schemas["RotateApiKey"]["properties"]["grace_period_seconds"];
        assert_eq!(grace["minimum"], 0);
        assert_eq!(grace["maximum"], MAX_GRACE_SECONDS);
        let usage = &doc["paths"]["/api/v1/api-keys/{id}/usage"]["get"]["parameters"];
        let minutes = usage
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["name"] == "minutes")
            .unwrap();
        assert_eq!(minutes["schema"]["maximum"], MAX_USAGE_MINUTES);
        let hours = usage
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["name"] == "hours")
            .unwrap();
        assert_eq!(
            hours["schema"]["maximum"],
            super::super::keys::MAX_USAGE_HOURS
        );
    }

    /// The rule between `type` and `scopes`, which the struct's schema cannot state, is on the
    /// create operation's body.
    #[test]
    fn a_new_publishable_key_is_documented_to_carry_only_read() {
        let doc = document();
        let body = &doc["paths"]["/api/v1/api-keys"]["post"]["requestBody"]["content"]["application/json"]
            ["schema"];
        assert_eq!(
            body["allOf"][0]["$ref"],
            "#/components/schemas/CreateApiKey"
        );
        let rule = &body["allOf"][1]["anyOf"];
        assert_eq!(
            rule[0]["properties"]["type"]["enum"],
            serde_json::json!(["secret"])
        );
        assert_eq!(
            rule[1]["properties"]["scopes"]["items"]["enum"],
            serde_json::json!(["read"])
        );
    }

    /// `additionalProperties: false` is stated exactly where serde refuses an unknown field.
    #[test]
    fn request_bodies_are_closed_exactly_where_the_server_refuses_unknown_fields() {
        let doc = document();
        let unknown = r#"{"no_such_field": 1}"#;
        let refuses = [
            (
                "CreateApiKey",
                serde_json::from_str::<CreateBody>(unknown).is_err(),
            ),
            (
                "PatchApiKey",
                serde_json::from_str::<PatchBody>(unknown).is_err(),
            ),
            (
                "RotateApiKey",
                serde_json::from_str::<RotateBody>(unknown).is_err(),
            ),
            (
                "VerifyRequest",
                serde_json::from_str::<VerifyBody>(unknown).is_err(),
            ),
        ];
        for (schema, refused) in refuses {
            let closed = doc["components"]["schemas"][schema]["additionalProperties"] == false;
            assert_eq!(closed, refused, "{schema}");
        }
    }
}
