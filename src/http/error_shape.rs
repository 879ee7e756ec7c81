//! The layer in front of every route that decides how its errors are written, and
//! refuses what is too large to route at all.

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use axum::extract::Request;
use axum::http::header::CONTENT_LENGTH;
use axum::response::{IntoResponse, Response};
use pin_project_lite::pin_project;
use tokio::task::futures::TaskLocalFuture;
use tower::{Layer, Service};

use super::error::{ApiError, ErrorFormat, MAX_QUERY_BYTES};

/// Reads the client's `Accept` once and makes it the [`ErrorFormat`] of every
/// [`ApiError`] answered while the request is served, so that an error is written once,
/// in the shape the client asked for, and never read back. Refuses over-long queries
/// (414) and declared over-size bodies (413) before routing.
///
/// Written as a plain tower layer rather than `middleware::from_fn`: it runs on every
/// request, and `from_fn` clones the boxed inner route and boxes a future each time.
#[derive(Debug, Clone, Copy, Default)]
pub struct ErrorShapeLayer;

impl<S> Layer<S> for ErrorShapeLayer {
    type Service = ErrorShape<S>;

    fn layer(&self, inner: S) -> Self::Service {
        ErrorShape { inner }
    }
}

/// The service of [`ErrorShapeLayer`].
#[derive(Debug, Clone)]
pub struct ErrorShape<S> {
    inner: S,
}

impl<S> Service<Request> for ErrorShape<S>
where
    S: Service<Request, Response = Response, Error = Infallible>,
{
    type Response = Response;
    type Error = Infallible;
    type Future = ErrorShapeFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request) -> Self::Future {
        let format = ErrorFormat::from_headers(request.headers());
        if let Some(refusal) = refuse(&request) {
            return ErrorShapeFuture::Refused {
                response: Some(refusal.render(format)),
            };
        }
        ErrorShapeFuture::Served {
            inner: format.scope(self.inner.call(request)),
        }
    }
}

/// The error for a request refused before routing, if it is.
fn refuse(request: &Request) -> Option<ApiError> {
    if request
        .uri()
        .query()
        .is_some_and(|q| q.len() > MAX_QUERY_BYTES)
    {
        return Some(ApiError::UriTooLong);
    }
    let declared_length = request
        .headers()
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared_length.is_some_and(|n| n > super::MAX_BODY_BYTES as u64) {
        return Some(ApiError::PayloadTooLarge);
    }
    None
}

pin_project! {
    /// The response future of [`ErrorShape`]: the route's own future, run with the
    /// request's error format, or a refusal answered at once.
    #[project = ErrorShapeProj]
    pub enum ErrorShapeFuture<F> {
        Served { #[pin] inner: TaskLocalFuture<ErrorFormat, F> },
        Refused { response: Option<Response> },
    }
}

impl<F> Future for ErrorShapeFuture<F>
where
    F: Future<Output = Result<Response, Infallible>>,
{
    type Output = Result<Response, Infallible>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.project() {
            ErrorShapeProj::Served { inner } => inner.poll(cx),
            ErrorShapeProj::Refused { response } => Poll::Ready(Ok(response
                .take()
                // Polled again after completion: a caller's bug, answered rather than
                // panicking.
                .unwrap_or_else(|| {
                    ApiError::Unavailable("response already taken".to_owned()).into_response()
                }))),
        }
    }
}
