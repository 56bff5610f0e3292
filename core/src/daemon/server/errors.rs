//! The error envelope: every refusal is `{"error": "<one line>", "code":
//! "<CODE>"}` with the status its code stands for.
//!
//! | code | status |
//! |---|---|
//! | `MISSING_PARAM`, `INVALID_JSON`, `INVALID_PARAM` | 400 |
//! | `UNAUTHORIZED` | 401 |
//! | `FORBIDDEN` | 403 |
//! | `NOT_FOUND` | 404 |
//! | `METHOD_NOT_ALLOWED` | 405 |
//! | `ALREADY_EXISTS` | 409 |
//! | `PAYLOAD_TOO_LARGE` | 413 |
//! | `INTERNAL` | 500 |

use axum::Json;
use axum::http::{Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use otto_hooks_sqlite::DbError;
use serde::Serialize;

/// A refused or failed request, answered with the error envelope.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ApiError {
    status: StatusCode,
    code: &'static str,
    message: String,
}

#[derive(Serialize)]
struct Envelope<'a> {
    error: &'a str,
    code: &'a str,
}

impl ApiError {
    fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        ApiError {
            status,
            code,
            message: message.into(),
        }
    }

    /// 400 `MISSING_PARAM`: a required field or parameter is absent.
    pub(crate) fn missing(name: &str) -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "MISSING_PARAM",
            format!("`{name}` is required"),
        )
    }

    /// 400 `INVALID_JSON`: the body is not JSON.
    pub(crate) fn invalid_json(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "INVALID_JSON", message)
    }

    /// 400 `INVALID_PARAM`: a value is of the wrong type or out of range.
    pub(crate) fn invalid_param(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "INVALID_PARAM", message)
    }

    /// 401 `UNAUTHORIZED`: a write without the right token.
    pub(crate) fn unauthorized(message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "UNAUTHORIZED", message)
    }

    /// 403 `FORBIDDEN`: a `Host` or `Origin` that is not this server's.
    pub(crate) fn forbidden(message: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, "FORBIDDEN", message)
    }

    /// 415 `UNSUPPORTED_MEDIA_TYPE`: a token-free write that is not JSON.
    pub(crate) fn unsupported_media_type(message: impl Into<String>) -> Self {
        Self::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "UNSUPPORTED_MEDIA_TYPE",
            message,
        )
    }

    /// 404 `NOT_FOUND`.
    pub(crate) fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "NOT_FOUND", message)
    }

    /// 413 `PAYLOAD_TOO_LARGE`.
    pub(crate) fn too_large(limit: usize) -> Self {
        Self::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "PAYLOAD_TOO_LARGE",
            format!("the request body is larger than {limit} bytes; send smaller batches"),
        )
    }

    /// 500 `INTERNAL`.
    pub(crate) fn internal(message: impl Into<String>) -> Self {
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, "INTERNAL", message)
    }

    /// Its code (`INVALID_JSON`, `NOT_FOUND`, …).
    #[cfg(test)]
    pub(crate) fn code(&self) -> &'static str {
        self.code
    }

    /// The same error with `context: ` before its message.
    pub(crate) fn context(mut self, context: &str) -> Self {
        self.message = format!("{context}: {}", self.message);
        self
    }
}

/// Token shapes are masked in every error message before it is logged or
/// answered: a message may quote the request (a bad value, a path).
static MESSAGE_REDACTOR: std::sync::LazyLock<otto_hooks_redact::Redactor> =
    std::sync::LazyLock::new(otto_hooks_redact::Redactor::default);

impl IntoResponse for ApiError {
    fn into_response(mut self) -> Response {
        if let std::borrow::Cow::Owned(message) = MESSAGE_REDACTOR.redact_error(&self.message) {
            self.message = message;
        }
        if self.status.is_server_error() {
            tracing::warn!(code = self.code, "{}", self.message);
        }
        let body = Json(Envelope {
            error: &self.message,
            code: self.code,
        });
        let mut response = (self.status, body).into_response();
        if matches!(
            self.status,
            StatusCode::PAYLOAD_TOO_LARGE | StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN
        ) {
            // Refused before the body was read (too large, no or a wrong
            // token, a foreign Host or Origin): the rest of the body is never
            // read, so the connection cannot carry another request, and the
            // client must not reuse it. (Whether the server could drain the
            // body depended on timing: a refusal answered a little later found
            // it unread and dropped the connection under a pooled client.)
            response.headers_mut().insert(
                axum::http::header::CONNECTION,
                axum::http::HeaderValue::from_static("close"),
            );
        }
        response
    }
}

impl From<DbError> for ApiError {
    fn from(e: DbError) -> Self {
        let status = match &e {
            DbError::NotFound(_) => StatusCode::NOT_FOUND,
            DbError::AlreadyExists(_) => StatusCode::CONFLICT,
            DbError::Invalid(_) => StatusCode::BAD_REQUEST,
            DbError::Busy(_)
            | DbError::Sqlite(_)
            | DbError::Schema(_)
            | DbError::Io(_)
            | DbError::Server(_) => StatusCode::INTERNAL_SERVER_ERROR,
        };
        ApiError::new(status, e.code(), e.to_string())
    }
}

/// The answer for a path no route serves.
pub(crate) async fn no_route(uri: Uri) -> ApiError {
    ApiError::not_found(format!("no such endpoint: {}", uri.path()))
}

/// The answer for a route asked with a method it does not serve.
pub(crate) async fn wrong_method(method: Method, uri: Uri) -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "METHOD_NOT_ALLOWED",
        format!("{method} is not allowed on {}", uri.path()),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn engine_errors_keep_their_codes() {
        let cases = [
            (DbError::NotFound("x".into()), 404, "NOT_FOUND"),
            (DbError::AlreadyExists("x".into()), 409, "ALREADY_EXISTS"),
            (DbError::Invalid("x".into()), 400, "INVALID_PARAM"),
            (DbError::Busy("x".into()), 500, "INTERNAL"),
        ];
        for (db, status, code) in cases {
            let e = ApiError::from(db);
            assert_eq!((e.status.as_u16(), e.code), (status, code));
        }
    }
}
