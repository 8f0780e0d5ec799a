//! The one place that turns errors into HTTP responses: a status and a JSON body
//! `{"error": CODE, "message": TEXT}` that names the problem. Nothing else builds an error
//! response.

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa::ToSchema;

use crate::error::Error;

/// What an API call can fail with.
#[derive(Debug)]
pub enum ApiError {
    /// No credentials, or ones that are unknown or revoked (401).
    Unauthorized(String),
    /// Credentials that may not do this (403).
    Forbidden(String),
    /// A request that cannot be used: bad JSON, bad gzip, an unknown schema (400).
    BadRequest(String),
    /// A body over the limit (413).
    TooLarge(String),
    /// No such thing (404).
    NotFound(String),
    /// It exists already (409).
    Conflict(String),
    /// Too many requests: come back after this many seconds (429).
    TooMany(u64),
    /// Busy: come back after this many seconds (503).
    Busy(u64),
    /// The request took longer than the time-out, in seconds (408). What it stored in a
    /// transaction that did not finish is rolled back; a batch may be sent again.
    TimedOut(u64),
    /// A fault of the collector (500); the message is logged, not shown.
    Internal(String),
}

/// The body of every error response.
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorBody {
    /// A stable code: `unauthorized`, `forbidden`, `bad_request`, `too_large`, `not_found`,
    /// `conflict`, `too_many_requests`, `busy`, `timeout`, `internal`.
    pub error: &'static str,
    /// What was wrong, for people.
    pub message: String,
}

impl ApiError {
    fn parts(&self) -> (StatusCode, &'static str, String) {
        match self {
            ApiError::Unauthorized(m) => (StatusCode::UNAUTHORIZED, "unauthorized", m.clone()),
            ApiError::Forbidden(m) => (StatusCode::FORBIDDEN, "forbidden", m.clone()),
            ApiError::BadRequest(m) => (StatusCode::BAD_REQUEST, "bad_request", m.clone()),
            ApiError::TooLarge(m) => (StatusCode::PAYLOAD_TOO_LARGE, "too_large", m.clone()),
            ApiError::NotFound(m) => (StatusCode::NOT_FOUND, "not_found", m.clone()),
            ApiError::Conflict(m) => (StatusCode::CONFLICT, "conflict", m.clone()),
            ApiError::TooMany(s) => (
                StatusCode::TOO_MANY_REQUESTS,
                "too_many_requests",
                format!("too many requests: retry after {s} s"),
            ),
            ApiError::Busy(s) => (
                StatusCode::SERVICE_UNAVAILABLE,
                "busy",
                format!("the collector is busy: retry after {s} s"),
            ),
            ApiError::TimedOut(s) => (
                StatusCode::REQUEST_TIMEOUT,
                "timeout",
                format!(
                    "the request took longer than {s} s; send it again (with the same Idempotency-Key)"
                ),
            ),
            ApiError::Internal(_) => (
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal",
                "the collector failed; the fault is in its log".to_owned(),
            ),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, error, message) = self.parts();
        if let ApiError::Internal(detail) = &self {
            tracing::error!(%detail, "request failed");
        }
        let mut response = (status, Json(ErrorBody { error, message })).into_response();
        if let ApiError::TooMany(s) | ApiError::Busy(s) = self
            && let Ok(v) = HeaderValue::from_str(&s.to_string())
        {
            response.headers_mut().insert(header::RETRY_AFTER, v);
        }
        response
    }
}

impl From<Error> for ApiError {
    fn from(e: Error) -> ApiError {
        match e {
            Error::BadInput(m) => ApiError::BadRequest(m),
            Error::NotFound(m) => ApiError::NotFound(m),
            Error::Conflict(m) => ApiError::Conflict(m),
            Error::Database(d) if unavailable(&d) => {
                tracing::warn!(error = %d, "the database is unavailable");
                ApiError::Busy(DATABASE_RETRY)
            }
            other => ApiError::Internal(other.to_string()),
        }
    }
}

/// Seconds an agent is told to wait while the database cannot be reached.
const DATABASE_RETRY: u64 = 10;

/// Whether a database error means it cannot be reached now (connection refused or lost, the
/// pool out of connections, the server shutting down), which passes: 503, not 500.
pub fn unavailable(e: &sqlx::Error) -> bool {
    match e {
        sqlx::Error::Io(_)
        | sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::WorkerCrashed
        | sqlx::Error::Tls(_) => true,
        // PostgreSQL's classes 08 (connection exception) and 57 (operator intervention:
        // shutdown, too many connections).
        sqlx::Error::Database(d) => d
            .code()
            .is_some_and(|c| c.starts_with("08") || c.starts_with("57") || c == "53300"),
        _ => false,
    }
}

/// A body that did not parse as JSON.
impl From<axum::extract::rejection::JsonRejection> for ApiError {
    fn from(r: axum::extract::rejection::JsonRejection) -> ApiError {
        ApiError::BadRequest(r.body_text())
    }
}

/// A body that could not be read: over the size limit, or gzip that does not decompress.
impl From<axum::extract::rejection::BytesRejection> for ApiError {
    fn from(r: axum::extract::rejection::BytesRejection) -> ApiError {
        if r.status() == StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::TooLarge(r.body_text())
        } else {
            ApiError::BadRequest(format!("the body could not be read: {}", r.body_text()))
        }
    }
}
