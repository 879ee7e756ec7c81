//! The request timeout: a request that is not answered within its time gets 408
//! ([`ApiError::Timeout`]).
//!
//! tower-http's `TimeoutLayer` polls its timer before the service, so every request
//! inserts an entry into tokio's timer wheel and removes it again, although a ping is
//! answered on its first poll (about 2 % of the CPU of a ping under load). This one
//! starts its timer only when the service is not ready at once: what it bounds is the
//! same, within the microseconds of that first poll.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::response::{IntoResponse, Response};
use pin_project_lite::pin_project;
use tokio::time::Sleep;
use tower::{Layer, Service};

use super::error::ApiError;

/// Answers `408 Request Timeout` to requests still unanswered after `timeout`.
#[derive(Debug, Clone, Copy)]
pub struct RequestTimeoutLayer {
    timeout: Duration,
}

impl RequestTimeoutLayer {
    pub fn new(timeout: Duration) -> Self {
        Self { timeout }
    }
}

impl<S> Layer<S> for RequestTimeoutLayer {
    type Service = RequestTimeout<S>;

    fn layer(&self, inner: S) -> Self::Service {
        RequestTimeout {
            inner,
            timeout: self.timeout,
        }
    }
}

/// The service of [`RequestTimeoutLayer`].
#[derive(Debug, Clone)]
pub struct RequestTimeout<S> {
    inner: S,
    timeout: Duration,
}

impl<S, R> Service<R> for RequestTimeout<S>
where
    S: Service<R, Response = Response>,
{
    type Response = Response;
    type Error = S::Error;
    type Future = TimeoutFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: R) -> Self::Future {
        TimeoutFuture {
            inner: self.inner.call(request),
            timeout: self.timeout,
            timer: None,
        }
    }
}

pin_project! {
    /// The response future of [`RequestTimeout`].
    pub struct TimeoutFuture<F> {
        #[pin]
        inner: F,
        timeout: Duration,
        #[pin]
        timer: Option<Sleep>,
    }
}

impl<F, E> Future for TimeoutFuture<F>
where
    F: Future<Output = Result<Response, E>>,
{
    type Output = Result<Response, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut this = self.project();
        if let Poll::Ready(output) = this.inner.poll(cx) {
            return Poll::Ready(output);
        }
        if this.timer.is_none() {
            this.timer.set(Some(tokio::time::sleep(*this.timeout)));
        }
        match this.timer.as_pin_mut().map(|timer| timer.poll(cx)) {
            Some(Poll::Ready(())) => Poll::Ready(Ok(ApiError::Timeout.into_response())),
            _ => Poll::Pending,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::StatusCode;
    use std::convert::Infallible;
    use tower::ServiceExt;

    async fn body(response: Response) -> String {
        let bytes = axum::body::to_bytes(response.into_body(), 1024)
            .await
            .unwrap();
        String::from_utf8(bytes.to_vec()).unwrap()
    }

    fn answer_after(delay: Duration) -> impl Fn(()) -> TimedAnswer + Clone {
        move |()| {
            TimedAnswer(Box::pin(async move {
                tokio::time::sleep(delay).await;
                Ok("answered".into_response())
            }))
        }
    }

    struct TimedAnswer(Pin<Box<dyn Future<Output = Result<Response, Infallible>> + Send>>);

    impl Future for TimedAnswer {
        type Output = Result<Response, Infallible>;

        fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
            self.0.as_mut().poll(cx)
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_request_answered_within_the_timeout_gets_its_answer() {
        let service = RequestTimeoutLayer::new(Duration::from_secs(10))
            .layer(tower::service_fn(answer_after(Duration::from_secs(9))));
        let response = service.oneshot(()).await.unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(body(response).await, "answered");
    }

    #[tokio::test(start_paused = true)]
    async fn a_request_still_unanswered_after_the_timeout_gets_408_then() {
        let started = tokio::time::Instant::now();
        let service = RequestTimeoutLayer::new(Duration::from_secs(10))
            .layer(tower::service_fn(answer_after(Duration::from_secs(60))));
        let response = service.oneshot(()).await.unwrap();
        assert_eq!(response.status(), StatusCode::REQUEST_TIMEOUT);
        assert_eq!(body(response).await, "request took longer than 10 s\n");
        assert_eq!(started.elapsed(), Duration::from_secs(10));
    }
}
