//! The one place that turns failures into status codes and error bodies.
//!
//! Every handler, middleware and layer of the router fails with an [`ApiError`]; its
//! [`IntoResponse`] alone picks the status, the headers that go with it, and the body:
//! one line of text, or `{"error": "…"}` for a client that accepts JSON. That choice is
//! made once per request, from its `Accept` header, by
//! [`ErrorShapeLayer`](super::error_shape::ErrorShapeLayer), which sets
//! [`ErrorFormat`] for the request's task.

use axum::extract::rejection::BytesRejection;
use axum::http::header::{CACHE_CONTROL, CONNECTION, CONTENT_TYPE, RETRY_AFTER, WWW_AUTHENTICATE};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;

use crate::backend::BackendError;
use crate::domain::ParseError;
use crate::health::HealthReport;

/// Longest accepted query string.
pub const MAX_QUERY_BYTES: usize = 8 * 1024;

/// A request that cannot be served, with what the client is told.
#[derive(Debug)]
pub enum ApiError {
    /// 400: a missing or invalid parameter or body.
    BadRequest(String),
    /// 401: a credential is missing, or the ping token is wrong.
    Unauthorized(Unauthorized),
    /// 403: the admin token is wrong.
    Forbidden,
    /// 404: no such job or route.
    NotFound(String),
    /// 405: the route exists, not with this method.
    MethodNotAllowed,
    /// 408: the request was not answered within its time.
    Timeout,
    /// 409: a ping older than the job's last one.
    Conflict(String),
    /// 413: a body over [`super::MAX_BODY_BYTES`].
    PayloadTooLarge,
    /// 414: a query over [`MAX_QUERY_BYTES`].
    UriTooLong,
    /// 429 with `Retry-After`: the client is over `--rate-limit`.
    RateLimited {
        /// The limit, as the option spells it.
        limit: String,
        /// Whole seconds until a request is accepted again, at least 1.
        retry_after: u64,
    },
    /// 503: the store or the monitor cannot serve this now; the message says what.
    Unavailable(String),
    /// 503 from `/health`: the monitor is unhealthy; the body is the report itself,
    /// not an error line, whatever the client accepts.
    Unhealthy(Box<HealthReport>),
    /// 503 with `Retry-After: 1` and `Connection: close`: a connection beyond
    /// `--max-connections`.
    OverCapacity {
        /// The `--max-connections` setting.
        max_connections: usize,
    },
    /// 507: a new job beyond `--max-services`.
    Full {
        /// The `--max-services` setting.
        max: usize,
    },
}

/// Which credential a 401 is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unauthorized {
    /// An admin route without `Authorization: Bearer`.
    AdminTokenMissing,
    /// A ping without the ping token.
    PingTokenMissing,
    /// A ping with a wrong ping token.
    PingTokenWrong,
    /// A healthchecks-style ping whose key is not the ping token.
    PingKeyWrong,
}

/// How an error body is written: chosen once per request from its `Accept` header.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ErrorFormat {
    /// One line of `text/plain`, ending with a newline.
    #[default]
    Text,
    /// `{"error": "…"}` as `application/json`.
    Json,
}

tokio::task_local! {
    /// The error format of the request being served on this task; outside a request
    /// (or in a task the request spawned) errors are written as text.
    static FORMAT: ErrorFormat;
}

impl ErrorFormat {
    /// JSON when any `Accept` value names `application/json`.
    pub fn from_headers(headers: &HeaderMap) -> Self {
        if wants_json(headers) {
            Self::Json
        } else {
            Self::Text
        }
    }

    /// Runs `future` with `self` as the error format of every [`ApiError`] it answers.
    pub fn scope<F: std::future::Future>(
        self,
        future: F,
    ) -> tokio::task::futures::TaskLocalFuture<ErrorFormat, F> {
        FORMAT.scope(self, future)
    }

    fn current() -> Self {
        FORMAT.try_with(|format| *format).unwrap_or_default()
    }
}

impl ApiError {
    /// 400 with `message`.
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::BadRequest(message.into())
    }

    /// 404 with `message`.
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::NotFound(message.into())
    }

    /// The status this error is answered with.
    pub fn status(&self) -> StatusCode {
        match self {
            Self::BadRequest(_) => StatusCode::BAD_REQUEST,
            Self::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            Self::Forbidden => StatusCode::FORBIDDEN,
            Self::NotFound(_) => StatusCode::NOT_FOUND,
            Self::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            Self::Timeout => StatusCode::REQUEST_TIMEOUT,
            Self::Conflict(_) => StatusCode::CONFLICT,
            Self::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            Self::UriTooLong => StatusCode::URI_TOO_LONG,
            Self::RateLimited { .. } => StatusCode::TOO_MANY_REQUESTS,
            Self::Unavailable(_) | Self::Unhealthy(_) | Self::OverCapacity { .. } => {
                StatusCode::SERVICE_UNAVAILABLE
            }
            Self::Full { .. } => StatusCode::INSUFFICIENT_STORAGE,
        }
    }

    /// The one-line message the client gets.
    pub fn message(&self) -> String {
        match self {
            Self::BadRequest(m) | Self::NotFound(m) | Self::Conflict(m) | Self::Unavailable(m) => {
                m.clone()
            }
            Self::Unauthorized(Unauthorized::AdminTokenMissing) => {
                "this route needs the admin token: send Authorization: Bearer <token>".to_owned()
            }
            Self::Unauthorized(Unauthorized::PingTokenMissing) => {
                "pings need the ping token: add token=<token> or send Authorization: Bearer <token>"
                    .to_owned()
            }
            Self::Unauthorized(Unauthorized::PingTokenWrong) => "the ping token is wrong".to_owned(),
            Self::Unauthorized(Unauthorized::PingKeyWrong) => {
                "the key of /hc/{key}/{slug} is not the ping token (--ping-token)".to_owned()
            }
            Self::Forbidden => "the admin token is wrong".to_owned(),
            Self::Unhealthy(_) => "overdue is unhealthy".to_owned(),
            Self::MethodNotAllowed => "method not allowed on this route".to_owned(),
            Self::Timeout => "request took longer than 10 s".to_owned(),
            Self::PayloadTooLarge => "request body is larger than 16 KiB".to_owned(),
            Self::UriTooLong => format!("query string is longer than {MAX_QUERY_BYTES} bytes"),
            Self::RateLimited { limit, retry_after } => format!(
                "too many requests from this client: the limit is {limit} (--rate-limit); retry after {retry_after} s"
            ),
            Self::OverCapacity { max_connections } => format!(
                "overdue is serving its maximum of {max_connections} connections (--max-connections); retry shortly"
            ),
            Self::Full { max } => format!(
                "cannot monitor more than {max} jobs (--max-services); delete a job to free a slot"
            ),
        }
    }

    /// The response in `format`, whatever the request's own format is.
    pub fn render(self, format: ErrorFormat) -> Response {
        let status = self.status();
        if let Self::Unhealthy(report) = self {
            let mut response = (status, Json(report)).into_response();
            response
                .headers_mut()
                .insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
            return response;
        }
        let message = self.message();
        let mut response = match format {
            ErrorFormat::Json => {
                let body = serde_json::json!({ "error": message }).to_string();
                (
                    status,
                    [(CONTENT_TYPE, HeaderValue::from_static("application/json"))],
                    body,
                )
                    .into_response()
            }
            ErrorFormat::Text => text_line(status, message),
        };
        let headers = response.headers_mut();
        match self {
            Self::Unauthorized(Unauthorized::AdminTokenMissing) => {
                headers.insert(WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
            }
            Self::RateLimited { retry_after, .. } => {
                headers.insert(RETRY_AFTER, HeaderValue::from(retry_after));
            }
            Self::OverCapacity { .. } => {
                headers.insert(RETRY_AFTER, HeaderValue::from_static("1"));
                headers.insert(CONNECTION, HeaderValue::from_static("close"));
            }
            _ => {}
        }
        response
    }
}

impl From<ParseError> for ApiError {
    fn from(e: ParseError) -> Self {
        Self::BadRequest(e.to_string())
    }
}

impl From<BackendError> for ApiError {
    fn from(e: BackendError) -> Self {
        // The cause is logged here, once; the client gets a generic line.
        tracing::error!(error = %e, "store operation failed");
        Self::Unavailable("the store is unavailable; nothing was recorded, try again".to_owned())
    }
}

impl From<BytesRejection> for ApiError {
    /// The body extractor's refusals: over [`super::MAX_BODY_BYTES`] (a body sent
    /// without a declared length is only measured while it is read), or cut short.
    fn from(rejection: BytesRejection) -> Self {
        if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
            Self::PayloadTooLarge
        } else {
            Self::BadRequest(rejection.body_text())
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        self.render(ErrorFormat::current())
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message())
    }
}

/// A plain-text `200 OK` answer of one line. Every text answer ends with one newline,
/// so that a shell prompt starts on its own line (SPEC §3): it is added here when
/// `line` does not end with it (a caller that formats its line includes it, which
/// spares a reallocation).
pub fn text_ok(line: impl Into<String>) -> Response {
    text_line(StatusCode::OK, line)
}

fn text_line(status: StatusCode, line: impl Into<String>) -> Response {
    let mut body = line.into();
    if !body.ends_with('\n') {
        body.push('\n');
    }
    (
        status,
        [(
            CONTENT_TYPE,
            HeaderValue::from_static("text/plain; charset=utf-8"),
        )],
        body,
    )
        .into_response()
}

/// Whether the client asked for JSON.
pub fn wants_json(headers: &HeaderMap) -> bool {
    headers
        .get_all(axum::http::header::ACCEPT)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .any(|v| v.contains("application/json"))
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn body(response: Response) -> String {
        let bytes = axum::body::to_bytes(response.into_body(), 1024)
            .await
            .unwrap();
        String::from_utf8(bytes.to_vec()).unwrap()
    }

    #[tokio::test]
    async fn the_task_format_decides_between_a_text_line_and_an_error_object() {
        let text = ApiError::Full { max: 3 }.into_response();
        assert_eq!(text.status(), StatusCode::INSUFFICIENT_STORAGE);
        let line = body(text).await;
        assert!(
            line.ends_with("(--max-services); delete a job to free a slot\n"),
            "{line}"
        );
        let json = ErrorFormat::Json
            .scope(async { ApiError::Conflict("older".to_owned()).into_response() })
            .await;
        assert_eq!(json.status(), StatusCode::CONFLICT);
        assert_eq!(json.headers()[CONTENT_TYPE], "application/json");
        assert_eq!(body(json).await, r#"{"error":"older"}"#);
    }

    #[test]
    fn refusals_carry_the_headers_that_go_with_them() {
        let r = ApiError::Unauthorized(Unauthorized::AdminTokenMissing).into_response();
        assert_eq!(r.headers()[WWW_AUTHENTICATE], "Bearer");
        let r = ApiError::RateLimited {
            limit: "5/s".to_owned(),
            retry_after: 2,
        }
        .into_response();
        assert_eq!(r.headers()[RETRY_AFTER], "2");
        let r = ApiError::OverCapacity { max_connections: 1 }.render(ErrorFormat::Json);
        assert_eq!(r.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(r.headers()[CONNECTION], "close");
    }
}
