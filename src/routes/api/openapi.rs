//! /api/v1/openapi.json, built from `OPERATIONS` and the schemas below.

use actix_web::HttpResponse;
use serde_json::{Map, Value, json};

use super::OPERATIONS;

fn key_properties(with_secret: bool) -> Value {
    let mut props = json!({
        "id": {"type": "integer", "format": "int64"},
        "name": {"type": "string", "maxLength": 100},
        "description": {"type": "string", "maxLength": 500},
        "type": {"type": "string", "enum": ["publishable", "secret"]},
        "scopes": {"type": "array", "items": {"type": "string", "enum": ["read", "write", "admin"]}},
        "status": {"type": "string", "enum": ["on", "off", "expired", "revoked"]},
        "masked": {"type": "string", "example": "kw_sk_live_AbCd…wXyZ"},
        "created_at": {"type": "string", "format": "date-time"},
        "last_used_at": {"type": ["string", "null"], "format": "date-time"},
        "expires_at": {"type": ["string", "null"], "format": "date-time"},
        "rate_limit_per_minute": {"type": ["integer", "null"], "minimum": 1},
    });
    if with_secret {
        props["key"] =
            json!({"type": "string", "description": "The plaintext, shown in this response only."});
    }
    props
}

fn schemas() -> Value {
    json!({
        "VerifyRequest": {"type": "object", "properties": {
            "environment": {"type": "string", "example": "production"},
            "scope": {"type": "string", "enum": ["read", "write", "admin"]}}},
        "VerifyValid": {"type": "object", "properties": {
            "valid": {"type": "boolean"}, "code": {"type": "string", "enum": ["VALID"]},
            "key_id": {"type": "integer"}, "name": {"type": "string"}, "project": {"type": "string"},
            "environment": {"type": "string"}, "type": {"type": "string"},
            "scopes": {"type": "array", "items": {"type": "string"}},
            "expires_at": {"type": ["string", "null"], "format": "date-time"}}},
        "VerifyRefused": {"type": "object", "properties": {
            "valid": {"type": "boolean"},
            "code": {"type": "string", "enum": ["MALFORMED", "NOT_FOUND", "DISABLED", "EXPIRED", "REVOKED",
                     "WRONG_ENVIRONMENT", "INSUFFICIENT_SCOPE", "RATE_LIMITED"]},
            "message": {"type": "string"}}},
        "ApiKey": {"type": "object", "properties": key_properties(false)},
        "ApiKeyWithSecret": {"type": "object", "properties": key_properties(true)},
        "ApiKeyList": {"type": "object", "properties": {"data": {"type": "array", "items": {"$ref": "#/components/schemas/ApiKey"}}}},
        "CreateApiKey": {"type": "object", "required": ["name", "scopes"], "properties": {
            "name": {"type": "string"}, "description": {"type": "string"},
            "type": {"type": "string", "enum": ["publishable", "secret"], "default": "secret"},
            "scopes": {"type": "array", "items": {"type": "string", "enum": ["read", "write", "admin"]}},
            "expires_at": {"type": ["string", "null"], "format": "date-time"},
            "rate_limit_per_minute": {"type": ["integer", "null"], "minimum": 1}}},
        "PatchApiKey": {"type": "object", "properties": {
            "name": {"type": "string"}, "description": {"type": "string"}, "enabled": {"type": "boolean"},
            "expires_at": {"type": ["string", "null"], "format": "date-time"},
            "rate_limit_per_minute": {"type": ["integer", "null"], "minimum": 1}}},
        "RotateApiKey": {"type": "object", "properties": {
            "grace_period_seconds": {"type": "integer", "minimum": 0, "maximum": super::keys::MAX_GRACE_SECONDS}}},
        "Usage": {"type": "array", "items": {"type": "object", "properties": {
            "minute": {"type": "string", "format": "date-time"},
            "valid": {"type": "integer"}, "refused": {"type": "integer"}}}},
        "Error": {"type": "object", "properties": {"error": {"type": "object", "properties": {
            "code": {"type": "string"}, "message": {"type": "string"},
            "fields": {"type": "array", "items": {"type": "object", "properties": {
                "field": {"type": "string"}, "message": {"type": "string"}}}}}}}},
    })
}

fn reference(schema: &str) -> Value {
    json!({"$ref": format!("#/components/schemas/{schema}")})
}

pub fn build() -> Value {
    let mut paths = Map::new();
    for op in OPERATIONS {
        let mut operation = json!({
            "summary": op.summary,
            "operationId": format!("{}{}", op.method, op.path.replace(['/', '{', '}', '-', '.'], "_")),
        });
        let (status, schema) = op.success;
        let mut responses = Map::new();
        responses.insert(
            status.to_string(),
            if schema.is_empty() {
                json!({"description": "Success"})
            } else {
                json!({"description": "Success", "content": {"application/json": {"schema": reference(schema)}}})
            },
        );
        if op.path == "/keys/verify" {
            for (code, text) in [
                ("401", "Refused"),
                ("403", "Scope not held"),
                ("429", "Over the rate limit"),
            ] {
                responses.insert(
                    code.to_owned(),
                    json!({"description": text,
                    "content": {"application/json": {"schema": reference("VerifyRefused")}}}),
                );
            }
            operation["parameters"] = json!([{"name": "X-API-Key", "in": "header", "required": true, "schema": {"type": "string"}}]);
        }
        if op.admin_key {
            operation["security"] = json!([{"ApiKeyHeader": []}]);
            for (code, text) in [
                ("401", "No valid key"),
                ("403", "The key lacks the admin scope"),
                ("404", "Not found in the key's environment"),
                ("422", "Invalid input"),
            ] {
                responses.insert(
                    code.to_owned(),
                    json!({"description": text,
                    "content": {"application/json": {"schema": reference("Error")}}}),
                );
            }
        }
        if op.path.contains("{id}") {
            operation["parameters"] = json!([{"name": "id", "in": "path", "required": true, "schema": {"type": "integer"}}]);
        }
        if op.path.ends_with("/usage")
            && let Some(params) = operation["parameters"].as_array_mut()
        {
            params.push(json!({"name": "minutes", "in": "query",
                "schema": {"type": "integer", "minimum": 1, "maximum": 1440, "default": 60}}));
        }
        if let Some(request) = op.request {
            operation["requestBody"] =
                json!({"content": {"application/json": {"schema": reference(request)}}});
        }
        operation["responses"] = Value::Object(responses);
        let entry = paths
            .entry(format!("/api/v1{}", op.path))
            .or_insert_with(|| Value::Object(Map::new()));
        entry[op.method] = operation;
    }
    json!({
        "openapi": "3.1.0",
        "info": {"title": "Keyward", "version": env!("CARGO_PKG_VERSION"),
                 "description": "Verify API keys, and manage them with an admin-scope key."},
        "paths": paths,
        "components": {
            "schemas": schemas(),
            "securitySchemes": {"ApiKeyHeader": {"type": "apiKey", "in": "header", "name": "X-API-Key"}},
        },
    })
}

pub async fn document() -> HttpResponse {
    HttpResponse::Ok().json(build())
}
