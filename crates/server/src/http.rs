//! HTTP plumbing shared by both servers: bounded body reading and error responses.

use axum::body::Body;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use faasm_api::ApiError;
use std::time::Duration;

/// An [`ApiError`] as an HTTP response: its status code and its message as plain text, or as
/// `{"error": ...}` when the client asked for JSON.
pub(crate) struct ApiResponse {
    pub error: ApiError,
    pub json: bool,
}

impl From<ApiError> for ApiResponse {
    fn from(error: ApiError) -> Self {
        Self { error, json: false }
    }
}

impl IntoResponse for ApiResponse {
    fn into_response(self) -> Response {
        let status =
            StatusCode::from_u16(self.error.status_code()).unwrap_or(StatusCode::BAD_REQUEST);
        let message = self.error.to_string();
        let mut response = if self.json {
            (
                status,
                axum::Json(serde_json::json!({ "error": message, "status": status.as_u16() })),
            )
                .into_response()
        } else {
            (status, text(message)).into_response()
        };
        let headers = response.headers_mut();
        match self.error {
            ApiError::QueueFull { .. } => {
                headers.insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
            }
            ApiError::TooManyRequests { retry_after, .. } => {
                headers.insert(header::RETRY_AFTER, HeaderValue::from(retry_after));
            }
            ApiError::Unauthorized(_) => {
                headers.insert(
                    header::WWW_AUTHENTICATE,
                    HeaderValue::from_static(r#"Bearer realm="faasm", Basic realm="faasm""#),
                );
            }
            _ => {}
        }
        response
    }
}

/// Whether the client asked for JSON (`Accept: application/json`).
pub(crate) fn wants_json(headers: &HeaderMap) -> bool {
    headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("application/json"))
}

/// A plain-text body.
pub(crate) fn text(body: impl Into<Body>) -> ([(header::HeaderName, &'static str); 1], Body) {
    (
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        body.into(),
    )
}

/// Reads a whole request body, refusing (413) one over `limit` bytes and one that has not
/// arrived within `timeout` (408).
pub(crate) async fn read_body(
    headers: &HeaderMap,
    body: Body,
    limit: usize,
    timeout: Duration,
) -> Result<Bytes, ApiError> {
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok()?.parse::<u64>().ok());
    if declared.is_some_and(|len| len > limit as u64) {
        return Err(ApiError::PayloadTooLarge { limit });
    }
    let read = tokio::time::timeout(timeout, axum::body::to_bytes(body, limit))
        .await
        .map_err(|_| ApiError::RequestTimeout(timeout))?;
    read.map_err(|err| {
        let too_large =
            std::iter::successors(Some(&err as &(dyn std::error::Error + 'static)), |e| {
                e.source()
            })
            .any(|e| e.is::<http_body_util::LengthLimitError>());
        if too_large {
            ApiError::PayloadTooLarge { limit }
        } else {
            ApiError::bad_request(format!("Failed to read request body: {err}"))
        }
    })
}

/// Runs blocking storage work on this worker thread after handing its other tasks to the rest
/// of the runtime, so a large write does not stall unrelated requests.
pub(crate) fn blocking<T>(work: impl FnOnce() -> T) -> T {
    tokio::task::block_in_place(work)
}
