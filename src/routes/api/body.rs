//! Request bodies of the JSON API: read within the limit, and only a JSON object is a body.

use std::future::Future;
use std::pin::Pin;

use actix_web::error::PayloadError;
use actix_web::web::Bytes;
use actix_web::{FromRequest, HttpMessage, HttpRequest, dev::Payload, mime};
use serde::Deserialize;
use serde::de::DeserializeOwned;

use super::error::{ApiError, ErrorCode};

/// The raw body, read up to `BODY_LIMIT` whether or not its length was declared. Refusals are
/// the API's JSON errors: 413 past the limit, 422 for a body that could not be read whole.
pub struct ApiBody(pub Bytes);

impl FromRequest for ApiBody {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, ApiError>>>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let body = Bytes::from_request(req, payload);
        Box::pin(async move { body.await.map(ApiBody).map_err(unreadable) })
    }
}

fn unreadable(err: actix_web::Error) -> ApiError {
    match err.as_error::<PayloadError>() {
        Some(PayloadError::Overflow) => ApiError::too_large(),
        _ => ApiError::new(
            ErrorCode::InvalidInput,
            "The request body could not be read.",
        ),
    }
}

impl ApiBody {
    /// No body at all (or only whitespace): the operation's defaults.
    pub fn is_empty(&self) -> bool {
        self.0.iter().all(u8::is_ascii_whitespace)
    }
}

/// Why a body is not the JSON object an operation reads.
#[derive(Debug)]
pub enum NotAnObject {
    /// Valid JSON, or not, but not an object: `[null, null]` would otherwise fill a struct by
    /// position.
    NotAnObject,
    Invalid(serde_json::Error),
}

impl std::fmt::Display for NotAnObject {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::NotAnObject => f.write_str("the body must be a JSON object"),
            Self::Invalid(e) => write!(f, "{e}"),
        }
    }
}

/// Reads `bytes` as `T`, refusing anything but a JSON object (serde's derive would also take
/// an array of the fields in order).
pub fn from_object<'a, T: Deserialize<'a>>(bytes: &'a [u8]) -> Result<T, NotAnObject> {
    match bytes.iter().find(|b| !b.is_ascii_whitespace()) {
        Some(b'{') => serde_json::from_slice(bytes).map_err(NotAnObject::Invalid),
        _ => Err(NotAnObject::NotAnObject),
    }
}

/// A JSON object body sent as `application/json` (or `…+json`), parsed into `T`; anything else
/// is 422 (413 past the limit).
pub struct ApiJson<T>(pub T);

impl<T: DeserializeOwned + 'static> FromRequest for ApiJson<T> {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, ApiError>>>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let is_json = matches!(req.mime_type(), Ok(Some(m))
            if m.subtype() == mime::JSON || m.suffix() == Some(mime::JSON));
        if !is_json {
            return Box::pin(std::future::ready(Err(ApiError::bad_json(
                "the body must be sent as application/json",
            ))));
        }
        let body = ApiBody::from_request(req, payload);
        Box::pin(async move {
            let body = body.await?;
            from_object(&body.0)
                .map(ApiJson)
                .map_err(ApiError::bad_json)
        })
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[derive(Debug, Deserialize)]
    struct Pair {
        a: Option<i64>,
        b: Option<i64>,
    }

    #[test]
    fn only_an_object_is_a_body() {
        let pair: Pair = from_object(b" \n{\"a\": 1}").unwrap();
        assert_eq!((pair.a, pair.b), (Some(1), None));
        for not_an_object in [
            &b"[null, null]"[..],
            b"[1, 2]",
            b"null",
            b"1",
            b"\"a\"",
            b"",
        ] {
            assert!(
                matches!(
                    from_object::<Pair>(not_an_object),
                    Err(NotAnObject::NotAnObject)
                ),
                "{}",
                String::from_utf8_lossy(not_an_object)
            );
        }
        assert!(matches!(
            from_object::<Pair>(b"{\"a\": \"x\"}"),
            Err(NotAnObject::Invalid(_))
        ));
    }
}
