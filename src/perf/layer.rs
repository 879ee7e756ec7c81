//! The tower layer that times every request.
//!
//! It is the outermost of the layers the router applies to each route (and to the
//! fallback), so it runs after routing, when `MatchedPath` is known, and still sees
//! every final status: the boundary's 414 and 413, the timeout's 408, the auth's 401.
//! Requests that matched no route share one series per method.

use std::future::Future;
use std::pin::Pin;
use std::task::{ready, Context, Poll};
use std::time::Instant;

use axum::extract::MatchedPath;
use axum::http::{HeaderName, HeaderValue, Request, Response};
use pin_project_lite::pin_project;
use tower::{Layer, Service};

use super::Perf;

static SERVER_TIMING: HeaderName = HeaderName::from_static("server-timing");

/// Times requests into a [`Perf`] registry.
#[derive(Clone)]
pub struct TimingLayer {
    perf: Perf,
}

impl TimingLayer {
    /// A layer that records into `perf`.
    pub fn new(perf: Perf) -> Self {
        Self { perf }
    }
}

impl<S> Layer<S> for TimingLayer {
    type Service = Timing<S>;

    fn layer(&self, inner: S) -> Self::Service {
        Timing {
            inner,
            perf: self.perf.clone(),
        }
    }
}

/// The service of [`TimingLayer`].
#[derive(Clone)]
pub struct Timing<S> {
    inner: S,
    perf: Perf,
}

/// What to do when the response is ready.
#[derive(Clone, Copy)]
enum Mode {
    /// Timing is off and this is no ping.
    Nothing,
    /// Timing is off: only count a successful ping.
    CountPing,
    /// Record the time of route series `route`.
    Timed { route: usize, start: Instant },
}

impl<S, ReqBody, ResBody> Service<Request<ReqBody>> for Timing<S>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>>,
{
    type Response = Response<ResBody>;
    type Error = S::Error;
    type Future = TimingFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<ReqBody>) -> Self::Future {
        let route = request
            .extensions()
            .get::<MatchedPath>()
            .map(MatchedPath::as_str);
        let mode = if self.perf.enabled() {
            let route = self.perf.route_index(request.method(), route);
            Mode::Timed {
                route,
                start: Instant::now(),
            }
        } else if route.is_some_and(|r| super::is_ping(super::method_label(request.method()), r)) {
            Mode::CountPing
        } else {
            Mode::Nothing
        };
        TimingFuture {
            inner: self.inner.call(request),
            perf: self.perf.clone(),
            mode,
        }
    }
}

pin_project! {
    /// The response future of [`Timing`]: records when the response is ready, before a
    /// byte of it is written, so a client that has the response sees it counted.
    pub struct TimingFuture<F> {
        #[pin]
        inner: F,
        perf: Perf,
        mode: Mode,
    }
}

impl<F, ResBody, E> Future for TimingFuture<F>
where
    F: Future<Output = Result<Response<ResBody>, E>>,
{
    type Output = Result<Response<ResBody>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let mut result = ready!(this.inner.poll(cx));
        if let Ok(response) = result.as_mut() {
            match *this.mode {
                Mode::Nothing => {}
                Mode::CountPing => this.perf.count_ping(response.status().as_u16()),
                Mode::Timed { route, start } => {
                    let end = Instant::now();
                    let elapsed = end.saturating_duration_since(start);
                    let status = response.status().as_u16();
                    if this.perf.finish_request(route, status, elapsed, end) {
                        let header = format!("app;dur={:.3}", elapsed.as_secs_f64() * 1e3);
                        if let Ok(value) = HeaderValue::from_str(&header) {
                            response.headers_mut().insert(SERVER_TIMING.clone(), value);
                        }
                    }
                }
            }
        }
        Poll::Ready(result)
    }
}
