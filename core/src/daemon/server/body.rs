//! Reading requests: bodies (size cap, JSON), query strings and path
//! parameters, each failure turned into the error envelope.

use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, PathRejection, QueryRejection};
use axum::extract::{Path, Query};
use axum::http::StatusCode;
use serde::Deserialize;
use serde::de::DeserializeOwned;

use super::errors::ApiError;

/// The body, or 413 when it was over the cap (a body sent without a
/// `Content-Length` is cut off at the cap while it is read).
pub(crate) fn bytes(body: Result<Bytes, BytesRejection>, limit: usize) -> Result<Bytes, ApiError> {
    body.map_err(|r| {
        if r.status() == StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::too_large(limit)
        } else {
            ApiError::invalid_json(format!("cannot read the request body: {}", r.body_text()))
        }
    })
}

/// Parses a JSON body: a syntax error is `INVALID_JSON`, a value of the
/// wrong shape `INVALID_PARAM`.
pub(crate) fn json<'a, T: Deserialize<'a>>(bytes: &'a [u8]) -> Result<T, ApiError> {
    serde_json::from_slice(bytes).map_err(|e| {
        if e.is_data() {
            ApiError::invalid_param(format!("request body: {e}"))
        } else {
            ApiError::invalid_json(format!("the request body is not valid JSON: {e}"))
        }
    })
}

/// Like [`json`], an empty body (or one of only white space) being `T::default()`.
pub(crate) fn json_or_default<T: DeserializeOwned + Default>(bytes: &[u8]) -> Result<T, ApiError> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(T::default());
    }
    json(bytes)
}

/// The `{id}` path parameter.
pub(crate) fn path_id(path: Result<Path<String>, PathRejection>) -> Result<String, ApiError> {
    path.map(|Path(id)| id)
        .map_err(|r| ApiError::invalid_param(format!("path: {}", r.body_text())))
}

/// The query string as `T`.
pub(crate) fn query<T>(query: Result<Query<T>, QueryRejection>) -> Result<T, ApiError> {
    query
        .map(|Query(q)| q)
        .map_err(|r| ApiError::invalid_param(format!("query string: {}", r.body_text())))
}

/// Parses an optional unsigned integer parameter.
pub(crate) fn number(name: &str, value: Option<&str>) -> Result<Option<u64>, ApiError> {
    match value.map(str::trim) {
        None | Some("") => Ok(None),
        Some(text) => text.parse().map(Some).map_err(|_| {
            ApiError::invalid_param(format!(
                "`{name}` must be a non-negative integer, not {text:?}"
            ))
        }),
    }
}

/// A page size: `default` when absent, at most `max`, at least 1.
pub(crate) fn limit(value: Option<&str>, default: u32, max: u32) -> Result<u32, ApiError> {
    match number("limit", value)? {
        None => Ok(default),
        Some(0) => Err(ApiError::invalid_param(format!(
            "`limit` must be between 1 and {max}"
        ))),
        Some(n) => Ok(n.min(u64::from(max)) as u32),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_default_clamp_and_refuse_zero() {
        assert_eq!(limit(None, 50, 100), Ok(50));
        assert_eq!(limit(Some("7"), 50, 100), Ok(7));
        assert_eq!(limit(Some("5000"), 50, 100), Ok(100));
        assert!(limit(Some("0"), 50, 100).is_err());
        assert!(limit(Some("-1"), 50, 100).is_err());
        assert!(limit(Some("ten"), 50, 100).is_err());
    }

    #[test]
    fn bodies_tell_syntax_from_shape() {
        #[derive(Deserialize, Debug, Default)]
        struct B {
            #[allow(dead_code)]
            n: Option<u32>,
        }
        assert_eq!(json::<B>(b"{nope").unwrap_err().code(), "INVALID_JSON");
        assert_eq!(
            json::<B>(br#"{"n":"x"}"#).unwrap_err().code(),
            "INVALID_PARAM"
        );
        assert!(json_or_default::<B>(b"  ").is_ok());
    }
}
