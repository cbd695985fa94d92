//! Request bodies of the JSON API: read within the limit, and only a JSON object is a body.

use std::future::Future;
use std::pin::Pin;

use actix_web::error::PayloadError;
use actix_web::web::Bytes;
use actix_web::{FromRequest, HttpMessage, HttpRequest, dev::Payload, mime};
use serde::de::{DeserializeOwned, Visitor};
use serde::{Deserialize, Deserializer};

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
    /// No body at all: the operation's defaults. (White space alone is not JSON, so it is
    /// refused like any other body that is not an object.)
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
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

/// An integer as JSON Schema counts one: `3`, `3.0` and `3e0` alike (a fraction is refused).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WholeNumber(pub i64);

impl WholeNumber {
    fn of_float(v: f64) -> Option<i64> {
        // Every integral f64 in [-2^63, 2^63) converts exactly.
        const LIMIT: f64 = 9_223_372_036_854_775_808.0;
        (v.fract() == 0.0 && (-LIMIT..LIMIT).contains(&v)).then_some(v as i64)
    }

    /// The same reading of a query-string value.
    pub fn parse(text: &str) -> Option<i64> {
        text.parse::<i64>()
            .ok()
            .or_else(|| text.parse::<f64>().ok().and_then(Self::of_float))
    }
}

impl<'de> Deserialize<'de> for WholeNumber {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Whole;
        impl Visitor<'_> for Whole {
            type Value = WholeNumber;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a whole number")
            }
            fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<WholeNumber, E> {
                Ok(WholeNumber(v))
            }
            fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<WholeNumber, E> {
                i64::try_from(v)
                    .map(WholeNumber)
                    .map_err(|_| E::invalid_value(serde::de::Unexpected::Unsigned(v), &self))
            }
            fn visit_f64<E: serde::de::Error>(self, v: f64) -> Result<WholeNumber, E> {
                WholeNumber::of_float(v)
                    .map(WholeNumber)
                    .ok_or_else(|| E::invalid_value(serde::de::Unexpected::Float(v), &self))
            }
        }
        d.deserialize_any(Whole)
    }
}

/// For `Option<i64>` fields: null and absent are `None`, numbers read as `WholeNumber`.
pub fn whole_number<'de, D: Deserializer<'de>>(d: D) -> Result<Option<i64>, D::Error> {
    Ok(Option::<WholeNumber>::deserialize(d)?.map(|w| w.0))
}

/// For `Option<Option<i64>>` fields that tell null (clear it) from absent (keep it).
pub fn present_whole_number<'de, D: Deserializer<'de>>(
    d: D,
) -> Result<Option<Option<i64>>, D::Error> {
    whole_number(d).map(Some)
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

    #[derive(Debug, Deserialize)]
    struct Limit {
        #[serde(default, deserialize_with = "whole_number")]
        n: Option<i64>,
    }

    #[test]
    fn a_whole_number_may_be_written_as_a_float_but_not_with_a_fraction() {
        let n = |json: &str| serde_json::from_str::<Limit>(json).map(|l| l.n);
        assert_eq!(n(r#"{"n": 3}"#).unwrap(), Some(3));
        assert_eq!(n(r#"{"n": 3.0}"#).unwrap(), Some(3));
        assert_eq!(n(r#"{"n": 1e3}"#).unwrap(), Some(1000));
        assert_eq!(n(r#"{"n": -0.0}"#).unwrap(), Some(0));
        assert_eq!(n(r#"{"n": null}"#).unwrap(), None);
        assert_eq!(n(r#"{}"#).unwrap(), None);
        for refused in [
            r#"{"n": 3.5}"#,
            r#"{"n": 1e300}"#,
            r#"{"n": 18446744073709551615}"#,
            r#"{"n": "3"}"#,
            r#"{"n": true}"#,
        ] {
            assert!(n(refused).is_err(), "{refused}");
        }
        assert_eq!(WholeNumber::parse("60"), Some(60));
        assert_eq!(WholeNumber::parse("60.0"), Some(60));
        assert_eq!(WholeNumber::parse("6.5"), None);
        assert_eq!(WholeNumber::parse("NaN"), None);
        assert_eq!(WholeNumber::parse("inf"), None);
        assert_eq!(WholeNumber::parse("abc"), None);
    }
}
