//! The header-read timeout, kept per connection rather than per request.
//!
//! hyper's own `header_read_timeout` arms a fresh timer for every request, including
//! the wait for the next one on a kept-alive connection: an allocation, a clock read
//! and an insert into and a removal from tokio's timer wheel per request, about 4 % of
//! the CPU of a ping under load. Here each connection has one timer that fires at most
//! once per [`HEADER_READ_TIMEOUT`](super::HEADER_READ_TIMEOUT): the service only
//! notes when a request starts and when its response is ready, and the timer, when it
//! fires, either closes a connection that has not brought a whole request head within
//! the timeout since the last response (or since it was accepted), or re-arms itself
//! for the moment it would.
//!
//! A request in flight is not cut here: its whole time is bounded by the request
//! timeout layer, which answers 408.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::Arc;
use std::task::{ready, Context, Poll};
use std::time::Duration;

use pin_project_lite::pin_project;
use tokio::time::Instant;
use tower::Service;

/// When a connection's last request ended, and whether one is in flight; written by
/// [`Watched`] on the connection's task, read by [`serve_watched`] on the same task.
#[derive(Debug)]
pub struct Activity {
    accepted: Instant,
    in_flight: AtomicU32,
    /// Milliseconds from `accepted` to the end of the last request.
    last_done_ms: AtomicU64,
}

impl Activity {
    pub fn new() -> Arc<Self> {
        Arc::new(Self {
            accepted: Instant::now(),
            in_flight: AtomicU32::new(0),
            last_done_ms: AtomicU64::new(0),
        })
    }

    /// When the connection must have brought a whole request head: `timeout` after
    /// the last response, or after the accept. `None` while a request is in flight.
    fn head_deadline(&self, timeout: Duration) -> Option<Instant> {
        if self.in_flight.load(Ordering::Relaxed) > 0 {
            return None;
        }
        let done = Duration::from_millis(self.last_done_ms.load(Ordering::Relaxed));
        Some(self.accepted + done + timeout)
    }

    fn finished(&self) {
        let done = u64::try_from(self.accepted.elapsed().as_millis()).unwrap_or(u64::MAX);
        self.last_done_ms.store(done, Ordering::Relaxed);
        self.in_flight.fetch_sub(1, Ordering::Relaxed);
    }
}

/// Drives `connection` until it ends (its output), or until it has gone `timeout`
/// without bringing a request head (`None`); then it is dropped, which closes the
/// socket.
pub async fn serve_watched<F: Future>(
    connection: F,
    activity: &Activity,
    timeout: Duration,
) -> Option<F::Output> {
    tokio::pin!(connection);
    let timer = tokio::time::sleep_until(activity.accepted + timeout);
    tokio::pin!(timer);
    loop {
        tokio::select! {
            biased;
            output = &mut connection => return Some(output),
            () = &mut timer => {
                let now = Instant::now();
                match activity.head_deadline(timeout) {
                    Some(deadline) if deadline <= now => {
                        return None;
                    }
                    Some(deadline) => timer.as_mut().reset(deadline),
                    // The request timeout bounds the request; look again after it.
                    None => timer.as_mut().reset(now + timeout),
                }
            }
        }
    }
}

/// A service that reports each request's start and end to an [`Activity`].
#[derive(Clone)]
pub struct Watched<S> {
    inner: S,
    activity: Arc<Activity>,
}

impl<S> Watched<S> {
    pub fn new(inner: S, activity: Arc<Activity>) -> Self {
        Self { inner, activity }
    }
}

impl<S, R> Service<R> for Watched<S>
where
    S: Service<R>,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = WatchedFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: R) -> Self::Future {
        self.activity.in_flight.fetch_add(1, Ordering::Relaxed);
        WatchedFuture {
            inner: self.inner.call(request),
            guard: InFlight(self.activity.clone()),
        }
    }
}

/// Ends the request in its [`Activity`] when dropped: also when hyper drops the
/// response future of a request whose client went away.
struct InFlight(Arc<Activity>);

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.finished();
    }
}

pin_project! {
    /// The response future of [`Watched`].
    pub struct WatchedFuture<F> {
        #[pin]
        inner: F,
        guard: InFlight,
    }
}

impl<F: Future> Future for WatchedFuture<F> {
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let output = ready!(self.project().inner.poll(cx));
        Poll::Ready(output)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn an_idle_connection_is_closed_once_the_timeout_has_passed_since_its_last_response() {
        let activity = Activity::new();
        let timeout = Duration::from_secs(10);
        assert_eq!(
            activity.head_deadline(timeout),
            Some(activity.accepted + timeout)
        );
        activity.in_flight.fetch_add(1, Ordering::Relaxed);
        assert_eq!(activity.head_deadline(timeout), None, "a request in flight");
        tokio::time::advance(Duration::from_secs(4)).await;
        activity.finished();
        assert_eq!(
            activity.head_deadline(timeout),
            Some(activity.accepted + Duration::from_secs(14))
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_connection_without_requests_is_dropped_after_the_timeout_and_not_before() {
        let activity = Activity::new();
        let started = Instant::now();
        serve_watched(
            std::future::pending::<()>(),
            &activity,
            Duration::from_secs(10),
        )
        .await;
        assert_eq!(started.elapsed(), Duration::from_secs(10));
    }

    #[tokio::test(start_paused = true)]
    async fn each_response_moves_the_deadline_and_a_request_in_flight_is_left_alone() {
        let activity = Activity::new();
        let started = Instant::now();
        let timeout = Duration::from_secs(10);
        let client = {
            let activity = activity.clone();
            async move {
                // Requests at 8 s and 16 s; then one that takes 25 s; then silence.
                for _ in 0..2 {
                    tokio::time::sleep(Duration::from_secs(8)).await;
                    activity.in_flight.fetch_add(1, Ordering::Relaxed);
                    activity.finished();
                }
                activity.in_flight.fetch_add(1, Ordering::Relaxed);
                tokio::time::sleep(Duration::from_secs(25)).await;
                activity.finished();
                std::future::pending::<()>().await;
            }
        };
        serve_watched(client, &activity, timeout).await;
        assert_eq!(started.elapsed(), Duration::from_secs(16 + 25 + 10));
    }
}
