//! Every /api/ answer that is not 2xx is `{"error": {"code", "message", "fields"?}}` as JSON,
//! whichever layer refused it (router, extractor, body limit, handler); verify keeps SPEC §5's
//! own body for its refusals.

use std::io::{Read, Write};

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::*;

/// Asserts `reply` is the error envelope with `status` and `code`, sent as JSON.
fn assert_envelope(reply: &Reply, status: StatusCode, code: &str, what: &str) {
    assert_eq!(reply.status, status, "{what}: {:?}", reply.json);
    assert!(
        reply
            .header("content-type")
            .is_some_and(|t| t.starts_with("application/json")),
        "{what} answers JSON, not {:?}",
        reply.header("content-type")
    );
    assert_eq!(
        reply.json["error"]["code"], code,
        "{what}: {:?}",
        reply.json
    );
    assert!(
        reply.json["error"]["message"]
            .as_str()
            .is_some_and(|m| !m.is_empty()),
        "{what} says what is wrong: {:?}",
        reply.json
    );
    let keys: Vec<&String> = reply.json.as_object().unwrap().keys().collect();
    assert_eq!(keys, ["error"], "{what}: nothing beside `error`");
}

/// A request with a raw body and content type (or none), as a client that is not a JSON
/// library would send it.
async fn raw(
    base: &str,
    method: Method,
    path: &str,
    key: Option<&str>,
    content_type: Option<&str>,
    body: &[u8],
) -> Reply {
    let mut request = reqwest::Client::new()
        .request(method, format!("{base}{path}"))
        .body(body.to_vec());
    if let Some(key) = key {
        request = request.header("X-API-Key", key);
    }
    if let Some(content_type) = content_type {
        request = request.header("content-type", content_type);
    }
    Reply::of(request.send().await.unwrap()).await
}

/// POSTs a JSON object padded with white space to about `size` bytes, in chunks and without a
/// Content-Length, over a plain socket (the server may answer and close before it is all sent).
async fn post_chunked(base: &str, path: &str, key: &str, size: usize) -> Reply {
    let authority = base.trim_start_matches("http://").to_owned();
    let head = format!(
        "POST {path} HTTP/1.1\r\nHost: {authority}\r\nX-API-Key: {key}\r\n\
         Content-Type: application/json\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
    );
    let answer = tokio::task::spawn_blocking(move || {
        let mut socket = std::net::TcpStream::connect(&authority).unwrap();
        socket
            .set_read_timeout(Some(std::time::Duration::from_secs(10)))
            .unwrap();
        socket.write_all(head.as_bytes()).unwrap();
        socket.write_all(b"1\r\n{\r\n").unwrap();
        let chunk = vec![b' '; 8 * 1024];
        let mut sent = 0;
        while sent < size {
            let framed = [format!("{:x}\r\n", chunk.len()).as_bytes(), &chunk, b"\r\n"].concat();
            if socket.write_all(&framed).is_err() {
                break;
            }
            sent += chunk.len();
        }
        let _ = socket.write_all(b"1\r\n}\r\n0\r\n\r\n");
        let mut answer = Vec::new();
        let _ = socket.read_to_end(&mut answer);
        String::from_utf8_lossy(&answer).into_owned()
    })
    .await
    .unwrap();
    let (head, body) = answer
        .split_once("\r\n\r\n")
        .unwrap_or_else(|| panic!("an HTTP answer: {answer:?}"));
    let mut lines = head.lines();
    let status: u16 = lines
        .next()
        .unwrap()
        .split(' ')
        .nth(1)
        .unwrap()
        .parse()
        .unwrap();
    let mut headers = reqwest::header::HeaderMap::new();
    for line in lines {
        let (name, value) = line.split_once(':').unwrap();
        headers.append(
            reqwest::header::HeaderName::from_bytes(name.trim().as_bytes()).unwrap(),
            value.trim().parse().unwrap(),
        );
    }
    let chunked = headers
        .get("transfer-encoding")
        .is_some_and(|v| v == "chunked");
    let body = if chunked {
        dechunk(body)
    } else {
        body.to_owned()
    };
    Reply {
        status: StatusCode::from_u16(status).unwrap(),
        headers,
        json: serde_json::from_str(&body).unwrap_or(Value::String(body)),
    }
}

fn dechunk(mut body: &str) -> String {
    let mut out = String::new();
    while let Some((size, rest)) = body.split_once("\r\n") {
        let size = usize::from_str_radix(size.trim(), 16).unwrap_or(0);
        if size == 0 {
            break;
        }
        out.push_str(&rest[..size]);
        body = rest[size..].trim_start_matches("\r\n");
    }
    out
}

#[tokio::test]
async fn a_query_string_that_cannot_be_read_is_a_json_422_naming_the_field() {
    let app = spawn_app().await;
    let base = &app.address;
    let (_, admin) = make_key(&app, ENV, "automation", &["admin"], None);
    let (id, _) = make_key(&app, ENV, "svc", &["read"], None);
    for query in [
        "minutes=abc",
        "minutes=",
        "minutes=1.5",
        "minutes=0",
        "minutes=1441",
    ] {
        let r = api(
            base,
            Method::GET,
            &format!("/api/v1/api-keys/{id}/usage?{query}"),
            Some(&admin),
            None,
        )
        .await;
        assert_envelope(&r, StatusCode::UNPROCESSABLE_ENTITY, "INVALID_INPUT", query);
        assert_eq!(r.json["error"]["fields"][0]["field"], "minutes", "{query}");
    }
    let unknown = api(
        base,
        Method::GET,
        &format!("/api/v1/api-keys/{id}/usage?minutes=5&weeks=1"),
        Some(&admin),
        None,
    )
    .await;
    assert_envelope(
        &unknown,
        StatusCode::UNPROCESSABLE_ENTITY,
        "INVALID_INPUT",
        "an unknown parameter",
    );
    let twice = api(
        base,
        Method::GET,
        &format!("/api/v1/api-keys/{id}/usage?minutes=5&minutes=6"),
        Some(&admin),
        None,
    )
    .await;
    assert_envelope(
        &twice,
        StatusCode::UNPROCESSABLE_ENTITY,
        "INVALID_INPUT",
        "minutes twice",
    );
    let fine = api(
        base,
        Method::GET,
        &format!("/api/v1/api-keys/{id}/usage?minutes=5"),
        Some(&admin),
        None,
    )
    .await;
    assert_eq!(fine.status, StatusCode::OK);
    assert_eq!(fine.json.as_array().unwrap().len(), 5);
}

#[tokio::test]
async fn a_path_segment_that_names_nothing_is_a_json_404() {
    let app = spawn_app().await;
    let base = &app.address;
    let (_, admin) = make_key(&app, ENV, "automation", &["admin"], None);
    for path in [
        "/api/v1/api-keys/abc",
        "/api/v1/api-keys/%FF",
        "/api/v1/api-keys/99999999999999999999",
        "/api/v1/api-keys/-1/usage",
    ] {
        let r = api(base, Method::GET, path, Some(&admin), None).await;
        assert_envelope(&r, StatusCode::NOT_FOUND, "NOT_FOUND", path);
    }
    for path in [
        "/api/v1/nothing-here",
        "/api/nothing",
        "/api/v2/api-keys",
        "/api",
    ] {
        let r = api(base, Method::GET, path, None, None).await;
        assert_envelope(&r, StatusCode::NOT_FOUND, "NOT_FOUND", path);
    }
}

#[tokio::test]
async fn another_method_on_a_known_path_is_a_json_405_with_allow() {
    let app = spawn_app().await;
    let base = &app.address;
    let (_, admin) = make_key(&app, ENV, "automation", &["admin"], None);
    let cases = [
        (Method::PUT, "/api/v1/api-keys", "GET, POST"),
        (Method::GET, "/api/v1/keys/verify", "POST"),
        (Method::POST, "/api/v1/api-keys/1", "GET, PATCH, DELETE"),
        (Method::GET, "/api/v1/api-keys/1/rotate", "POST"),
        (Method::DELETE, "/api/v1/api-keys/1/usage", "GET"),
        (Method::POST, "/api/v1/openapi.json", "GET"),
    ];
    for (method, path, allow) in cases {
        for key in [None, Some(admin.as_str())] {
            let what = format!("{method} {path} (key: {})", key.is_some());
            let r = api(base, method.clone(), path, key, None).await;
            assert_envelope(
                &r,
                StatusCode::METHOD_NOT_ALLOWED,
                "METHOD_NOT_ALLOWED",
                &what,
            );
            assert_eq!(r.header("allow"), Some(allow), "{what}");
        }
    }
    // TRACE on every documented path.
    let doc = api(base, Method::GET, "/api/v1/openapi.json", None, None).await;
    let paths = doc.json["paths"].as_object().unwrap();
    assert!(paths.len() >= 5);
    for (path, operations) in paths {
        if operations.get("trace").is_some() {
            // Forward auth answers every method (SPEC §13), TRACE included.
            continue;
        }
        let concrete = path.replace("{id}", "1");
        let r = api(base, Method::TRACE, &concrete, Some(&admin), None).await;
        assert_envelope(
            &r,
            StatusCode::METHOD_NOT_ALLOWED,
            "METHOD_NOT_ALLOWED",
            &format!("TRACE {path}"),
        );
        let mut documented: Vec<String> = operations
            .as_object()
            .unwrap()
            .keys()
            .map(|m| m.to_uppercase())
            .collect();
        let mut allowed: Vec<String> = r
            .header("allow")
            .unwrap()
            .split(", ")
            .map(str::to_owned)
            .collect();
        documented.sort();
        allowed.sort();
        assert_eq!(
            allowed, documented,
            "Allow of {path} is what the document lists"
        );
        for (method, operation) in operations.as_object().unwrap() {
            let answer = &operation["responses"]["405"];
            assert_eq!(
                answer["content"]["application/json"]["schema"]["$ref"],
                "#/components/schemas/Error",
                "{method} {path} documents its 405"
            );
            assert!(answer["headers"]["Allow"].is_object(), "{method} {path}");
        }
    }
}

#[tokio::test]
async fn a_body_that_is_not_a_json_object_is_refused_by_every_route_that_reads_one() {
    let app = spawn_app().await;
    let base = &app.address;
    let (_, admin) = make_key(&app, ENV, "automation", &["admin"], None);
    let (id, key) = make_key(&app, ENV, "svc", &["read"], None);
    let json = Some("application/json");
    let not_objects: [&[u8]; 7] = [
        b"[null, null]",
        b"[\"x\"]",
        b"null",
        b"42",
        b"\"x\"",
        b"{",
        b" \n",
    ];

    for body in not_objects {
        let what = String::from_utf8_lossy(body);
        let create = raw(
            base,
            Method::POST,
            "/api/v1/api-keys",
            Some(&admin),
            json,
            body,
        )
        .await;
        assert_envelope(
            &create,
            StatusCode::UNPROCESSABLE_ENTITY,
            "INVALID_INPUT",
            &what,
        );
        let path = format!("/api/v1/api-keys/{id}");
        let patch = raw(base, Method::PATCH, &path, Some(&admin), json, body).await;
        assert_envelope(
            &patch,
            StatusCode::UNPROCESSABLE_ENTITY,
            "INVALID_INPUT",
            &what,
        );
        let path = format!("/api/v1/api-keys/{id}/rotate");
        let rotate = raw(base, Method::POST, &path, Some(&admin), json, body).await;
        assert_envelope(
            &rotate,
            StatusCode::UNPROCESSABLE_ENTITY,
            "INVALID_INPUT",
            &what,
        );

        let verify = raw(
            base,
            Method::POST,
            "/api/v1/keys/verify",
            Some(&key),
            json,
            body,
        )
        .await;
        assert_eq!(verify.status, StatusCode::BAD_REQUEST, "{what}");
        assert_eq!(verify.json["valid"], false, "{what}");
        assert_eq!(verify.json["code"], "BAD_REQUEST", "{what}");
        assert!(
            verify.json["message"]
                .as_str()
                .is_some_and(|m| !m.is_empty())
        );
        assert!(
            verify
                .header("content-type")
                .is_some_and(|t| t.starts_with("application/json"))
        );
    }
    // An empty body still means no constraints; an object is read as before.
    for body in [&b""[..], b"{}", b" {\"scope\": \"read\"}\n"] {
        let r = raw(
            base,
            Method::POST,
            "/api/v1/keys/verify",
            Some(&key),
            json,
            body,
        )
        .await;
        assert_eq!(
            r.status,
            StatusCode::OK,
            "{}",
            String::from_utf8_lossy(body)
        );
        assert_eq!(r.json["code"], "VALID");
    }
    // The management API reads JSON only when it is sent as JSON.
    let text = raw(
        base,
        Method::POST,
        "/api/v1/api-keys",
        Some(&admin),
        Some("text/plain"),
        br#"{"name": "x", "scopes": ["read"]}"#,
    )
    .await;
    assert_envelope(
        &text,
        StatusCode::UNPROCESSABLE_ENTITY,
        "INVALID_INPUT",
        "text/plain",
    );
    let none = raw(
        base,
        Method::POST,
        "/api/v1/api-keys",
        Some(&admin),
        None,
        br#"{"name": "x", "scopes": ["read"]}"#,
    )
    .await;
    assert_envelope(
        &none,
        StatusCode::UNPROCESSABLE_ENTITY,
        "INVALID_INPUT",
        "no type",
    );

    // Nothing above created, changed or rotated a key.
    assert_eq!(app.keys().len(), 2);
    assert!(app.audit_actions().iter().all(|a| a == "api_key.created"));
}

#[tokio::test]
async fn a_chunked_body_over_the_limit_is_a_json_413() {
    let app = spawn_app().await;
    let base = &app.address;
    let (_, admin) = make_key(&app, ENV, "automation", &["admin"], None);
    let (id, key) = make_key(&app, ENV, "svc", &["read"], None);
    let over = 64 * 1024 + 8 * 1024;
    for (path, credential) in [
        ("/api/v1/keys/verify".to_owned(), &key),
        (format!("/api/v1/api-keys/{id}/rotate"), &admin),
        ("/api/v1/api-keys".to_owned(), &admin),
    ] {
        let r = post_chunked(base, &path, credential, over).await;
        assert_envelope(
            &r,
            StatusCode::PAYLOAD_TOO_LARGE,
            "PAYLOAD_TOO_LARGE",
            &path,
        );
    }
    // Under the limit, a chunked body is read as any other.
    let under = post_chunked(base, "/api/v1/keys/verify", &key, 16 * 1024).await;
    assert_eq!(under.status, StatusCode::OK, "{:?}", under.json);
    // A declared length over the limit is refused before the body is read, in the same shape.
    let declared = raw(
        base,
        Method::POST,
        "/api/v1/keys/verify",
        Some(&key),
        Some("application/json"),
        &vec![b' '; 10 * 1024 * 1024],
    )
    .await;
    assert_envelope(
        &declared,
        StatusCode::PAYLOAD_TOO_LARGE,
        "PAYLOAD_TOO_LARGE",
        "declared",
    );
    assert!(!app.audit_actions().iter().any(|a| a == "api_key.rotated"));
}

#[tokio::test]
async fn the_document_lists_405_and_413_for_every_operation_and_400_for_verify() {
    let app = spawn_app().await;
    let doc = api(
        &app.address,
        Method::GET,
        "/api/v1/openapi.json",
        None,
        None,
    )
    .await;
    let paths = doc.json["paths"].as_object().unwrap();
    for (path, operations) in paths {
        for (method, operation) in operations.as_object().unwrap() {
            for status in ["405", "413"] {
                assert!(
                    operation["responses"].get(status).is_some(),
                    "{method} {path} documents {status}"
                );
            }
        }
    }
    let verify = &paths["/api/v1/keys/verify"]["post"]["responses"];
    assert_eq!(
        verify["400"]["content"]["application/json"]["schema"]["$ref"],
        "#/components/schemas/VerifyRefused"
    );
    let codes = &doc.json["components"]["schemas"]["ErrorCode"]["enum"];
    for code in [
        "NOT_FOUND",
        "METHOD_NOT_ALLOWED",
        "PAYLOAD_TOO_LARGE",
        "INVALID_INPUT",
    ] {
        assert!(
            codes.as_array().unwrap().contains(&json!(code)),
            "{code} in {codes}"
        );
    }
}
