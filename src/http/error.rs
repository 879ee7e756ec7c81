//! The one place that turns failures into status codes, and the middleware that
//! speaks JSON to clients that ask for it.

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::task::{ready, Context, Poll};

use axum::body::Body;
use axum::extract::Request;
use axum::http::header::{ACCEPT, CONNECTION, CONTENT_LENGTH, CONTENT_TYPE, RETRY_AFTER};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use pin_project_lite::pin_project;
use tower::{Layer, Service};

use crate::backend::BackendError;
use crate::domain::ParseError;

/// Longest accepted query string.
pub const MAX_QUERY_BYTES: usize = 8 * 1024;

/// A request that cannot be served, with its one-line message for the client.
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    message: String,
}

impl ApiError {
    pub fn new(status: StatusCode, message: impl Into<String>) -> Self {
        Self {
            status,
            message: message.into(),
        }
    }

    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, message)
    }

    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, message)
    }

    /// The one-line message the client gets.
    pub fn message(&self) -> &str {
        &self.message
    }
}

impl From<ParseError> for ApiError {
    fn from(e: ParseError) -> Self {
        Self::bad_request(e.to_string())
    }
}

impl From<BackendError> for ApiError {
    fn from(e: BackendError) -> Self {
        // The cause is logged here, once; the client gets a generic line.
        tracing::error!(error = %e, "store operation failed");
        Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "the store is unavailable; nothing was recorded, try again",
        )
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        text(self.status, self.message)
    }
}

/// A plain-text response.
pub fn text(status: StatusCode, body: String) -> Response {
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

/// Marks an error response whose body is the document the route promises (the
/// `/health` report with its 503): [`boundary`] leaves it as it is.
#[derive(Debug, Clone, Copy)]
pub struct KeepBody;

/// Whether the client asked for JSON.
pub fn wants_json(headers: &HeaderMap) -> bool {
    headers
        .get_all(ACCEPT)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .any(|v| v.contains("application/json"))
}

/// Refuses over-long queries and declared over-size bodies, and gives every error a
/// one-line message: JSON `{"error": …}` for clients that accept JSON, plain text
/// otherwise. This covers the framework's own rejections (unknown route, wrong method,
/// body too large, timeout).
///
/// Written as a plain tower layer rather than `middleware::from_fn`: it runs on every
/// request, and `from_fn` clones the boxed inner route and boxes a future each time.
#[derive(Debug, Clone, Copy, Default)]
pub struct BoundaryLayer;

impl<S> Layer<S> for BoundaryLayer {
    type Service = Boundary<S>;

    fn layer(&self, inner: S) -> Self::Service {
        Boundary { inner }
    }
}

/// The service of [`BoundaryLayer`].
#[derive(Debug, Clone)]
pub struct Boundary<S> {
    inner: S,
}

impl<S> Service<Request> for Boundary<S>
where
    S: Service<Request, Response = Response, Error = Infallible>,
{
    type Response = Response;
    type Error = Infallible;
    type Future = BoundaryFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request) -> Self::Future {
        let json = wants_json(request.headers());
        if let Some(refusal) = refuse(&request) {
            let (status, message) = refusal;
            return BoundaryFuture::Done {
                response: Some(finish(status, message, json)),
            };
        }
        BoundaryFuture::Inner {
            inner: self.inner.call(request),
            json,
        }
    }
}

/// The status and message for a request refused before routing, if it is.
fn refuse(request: &Request) -> Option<(StatusCode, String)> {
    if request
        .uri()
        .query()
        .is_some_and(|q| q.len() > MAX_QUERY_BYTES)
    {
        let message = format!("query string is longer than {MAX_QUERY_BYTES} bytes");
        return Some((StatusCode::URI_TOO_LONG, message));
    }
    let declared_length = request
        .headers()
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared_length.is_some_and(|n| n > super::MAX_BODY_BYTES as u64) {
        let status = StatusCode::PAYLOAD_TOO_LARGE;
        return Some((status, default_message(status)));
    }
    None
}

pin_project! {
    /// The response future of [`Boundary`]: passes successes through untouched and
    /// reshapes errors, which may need to read the error's body (the rare path, boxed).
    #[project = BoundaryProj]
    pub enum BoundaryFuture<F> {
        Inner { #[pin] inner: F, json: bool },
        Reshaping { reshaping: Pin<Box<dyn Future<Output = Response> + Send>> },
        Done { response: Option<Response> },
    }
}

impl<F> Future for BoundaryFuture<F>
where
    F: Future<Output = Result<Response, Infallible>>,
{
    type Output = Result<Response, Infallible>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        loop {
            match self.as_mut().project() {
                BoundaryProj::Inner { inner, json } => {
                    let json = *json;
                    let Ok(response) = ready!(inner.poll(cx));
                    if !needs_reshaping(&response, json) {
                        return Poll::Ready(Ok(response));
                    }
                    self.set(BoundaryFuture::Reshaping {
                        reshaping: Box::pin(reshape(response, json)),
                    });
                }
                BoundaryProj::Reshaping { reshaping } => {
                    return reshaping.as_mut().poll(cx).map(Ok);
                }
                BoundaryProj::Done { response } => {
                    return match response.take() {
                        Some(response) => Poll::Ready(Ok(response)),
                        // Polled again after completion: a caller's bug, answered
                        // rather than panicking.
                        None => Poll::Ready(Ok(text(
                            StatusCode::INTERNAL_SERVER_ERROR,
                            "response already taken".to_owned(),
                        ))),
                    };
                }
            }
        }
    }
}

/// Whether an answer is an error that does not yet have the one-line shape the client
/// asked for.
fn needs_reshaping(response: &Response, json: bool) -> bool {
    let status = response.status();
    if !(status.is_client_error() || status.is_server_error())
        || response.extensions().get::<KeepBody>().is_some()
    {
        return false;
    }
    json || !is_text(response)
}

fn is_text(response: &Response) -> bool {
    response
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("text/plain"))
}

async fn reshape(response: Response, json: bool) -> Response {
    let status = response.status();
    let is_text = is_text(&response);
    let (parts, body) = response.into_parts();
    let message = match axum::body::to_bytes(body, 64 * 1024).await {
        Ok(bytes) if is_text && !bytes.is_empty() => {
            String::from_utf8_lossy(&bytes).trim().replace('\n', " ")
        }
        _ => default_message(status),
    };
    let mut response = finish(status, message, json);
    for (name, value) in parts.headers.iter() {
        if name != CONTENT_TYPE && name != CONTENT_LENGTH {
            response.headers_mut().append(name, value.clone());
        }
    }
    response
}

/// The answer to a connection beyond `--max-connections`: 503, `Retry-After: 1`, and
/// the connection is closed after it.
pub fn over_capacity(max_connections: usize, json: bool) -> Response {
    let message = format!(
        "overdue is serving its maximum of {max_connections} connections (--max-connections); retry shortly"
    );
    let mut response = finish(StatusCode::SERVICE_UNAVAILABLE, message, json);
    let headers = response.headers_mut();
    headers.insert(RETRY_AFTER, HeaderValue::from_static("1"));
    headers.insert(CONNECTION, HeaderValue::from_static("close"));
    response
}

fn finish(status: StatusCode, message: String, json: bool) -> Response {
    if json {
        let body = serde_json::json!({ "error": message }).to_string();
        let mut response = Response::new(Body::from(body));
        *response.status_mut() = status;
        response
            .headers_mut()
            .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        response
    } else {
        text(status, message)
    }
}

fn default_message(status: StatusCode) -> String {
    match status {
        StatusCode::NOT_FOUND => "not found".to_owned(),
        StatusCode::METHOD_NOT_ALLOWED => "method not allowed on this route".to_owned(),
        StatusCode::PAYLOAD_TOO_LARGE => "request body is larger than 16 KiB".to_owned(),
        StatusCode::REQUEST_TIMEOUT => "request took longer than 10 s".to_owned(),
        other => other
            .canonical_reason()
            .unwrap_or("request failed")
            .to_lowercase(),
    }
}
