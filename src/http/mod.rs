//! The HTTP surface: the router, its limits, and a server loop with a header-read
//! timeout and graceful shutdown.

mod actions;
mod auth;
mod badges;
mod channels;
mod error;
mod error_shape;
mod health;
mod healthchecks;
mod idle;
mod jobs;
mod metrics;
mod openapi;
mod ping;
mod probes;
mod query;
mod rate_limit;
mod routes;
mod timeout;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::ConnectInfo;
use axum::Router;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;
use tower::ServiceExt;

use crate::backend::Backend;
pub use auth::{cross_origin, see_other, Token, CSRF_FIELD, CSRF_HEADER, SIGN_IN_PATH};
#[doc(hidden)]
#[doc(hidden)]
pub use badges::{
    split_for_fuzzing as badge_split_for_fuzzing, svg_for_fuzzing as badge_svg_for_fuzzing,
};
pub use channels::health_entries as channel_health_entries;
pub use error::ApiError;
use error::ErrorFormat;
pub use openapi::openapi;
pub use ping::parse_run_for_fuzzing;
#[doc(hidden)]
pub use query::parse_for_fuzzing as parse_query_for_fuzzing;
pub use query::Query;
pub use rate_limit::{Limiter, RateLimit};
pub use routes::{router, routes, Access, Route, Verb};

/// Largest accepted request body.
pub const MAX_BODY_BYTES: usize = 16 * 1024;
/// A whole request must be answered within this.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
/// A client must send its request headers within this, or the connection is closed.
pub const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);
/// In-flight requests get this long to finish at shutdown.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(10);
/// Connections beyond `--max-connections` that are being answered 503 at once; past
/// this, further ones are closed without an answer, so a flood cannot grow the work
/// spent refusing it.
const MAX_REFUSING: usize = 256;
/// A refused connection has this long to send its request before it is closed.
const REFUSAL_HEADER_TIMEOUT: Duration = Duration::from_secs(2);
/// The "connection limit reached" warning is logged at most this often.
const REFUSAL_LOG_EVERY: Duration = Duration::from_secs(10);

/// What handlers share; cheap to clone.
#[derive(Clone)]
pub struct AppState(Arc<AppContext>);

/// Everything a request may need beyond itself: the store, the tokens, the monitors.
pub struct AppContext {
    pub backend: Arc<dyn Backend>,
    pub admin_token: Option<Token>,
    pub ping_token: Option<Token>,
    pub max_clock_skew_secs: u64,
    /// Health indicators and conditions: the ping handler counts pings into it,
    /// `/health` reads it; the dispatcher, evaluator and publisher feed it too.
    pub health: Arc<crate::health::HealthMonitor>,
    /// The metrics registry: the timing layer and the backend write it, the metrics
    /// routes read it.
    pub perf: crate::perf::Perf,
    /// The per-client rate limit, when `--rate-limit` is set; the router adds its
    /// middleware only then.
    pub rate_limiter: Option<Arc<Limiter>>,
    /// The notification channels and their counters (the dispatcher counts).
    pub channels: crate::alerts::DispatcherStats,
    /// The transports, for `POST /channels/test`.
    pub transports: crate::alerts::Transports,
    /// `--public-badges`: the badge routes answer anyone; without it, 404.
    pub public_badges: bool,
    /// The dashboard's session keys and signed-out sessions: the access checks and the
    /// sign-in routes use it.
    pub dashboard: crate::dashboard::Sessions,
}

impl std::ops::Deref for AppState {
    type Target = AppContext;

    fn deref(&self) -> &AppContext {
        &self.0
    }
}

impl AppState {
    pub fn new(context: AppContext) -> Self {
        Self(Arc::new(context))
    }
}

/// What the accept loop enforces.
#[derive(Debug, Clone, Copy)]
pub struct ServeOptions {
    /// Connections served at once (`--max-connections`).
    pub max_connections: usize,
    /// Attach the client's address to every request (the rate limiter reads it, and a
    /// ping's event shows it); off when neither needs it, as it costs an allocation
    /// per request.
    pub peer_address: bool,
}

/// Serves `app` on `listener` until `shutdown`; then stops accepting and gives
/// requests in flight up to 10 s to finish.
///
/// At most `max_connections` connections are served at once. One more is still
/// accepted, but only to read its request and answer it 503 with `Retry-After: 1` and
/// `Connection: close`: a client learns at once that the monitor is saturated, rather
/// than waiting in the kernel's backlog until it times out.
pub async fn serve(
    listener: TcpListener,
    app: Router,
    options: ServeOptions,
    shutdown: CancellationToken,
) {
    // No timer: the header-read timeout is kept per connection (`idle`), not by hyper
    // per request.
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder.keep_alive(true);
    let mut refusing = hyper::server::conn::http1::Builder::new();
    refusing
        .timer(TokioTimer::new())
        .header_read_timeout(REFUSAL_HEADER_TIMEOUT)
        .keep_alive(false);
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    warn_if_descriptors_are_short(options.max_connections);
    let slots = Arc::new(Semaphore::new(options.max_connections));
    let refusals = Arc::new(Semaphore::new(MAX_REFUSING));
    let mut refused_since_log: u64 = 0;
    let mut last_refusal_log: Option<tokio::time::Instant> = None;
    loop {
        let (stream, peer): (_, SocketAddr) = tokio::select! {
            () = shutdown.cancelled() => break,
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    // Out of file descriptors and the like: back off instead of spinning.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        let _ = stream.set_nodelay(true);
        let Ok(slot) = slots.clone().try_acquire_owned() else {
            refused_since_log += 1;
            if last_refusal_log.is_none_or(|at| at.elapsed() >= REFUSAL_LOG_EVERY) {
                tracing::warn!(
                    max_connections = options.max_connections,
                    refused = refused_since_log,
                    "connection limit reached: new connections are answered 503 (--max-connections)"
                );
                refused_since_log = 0;
                last_refusal_log = Some(tokio::time::Instant::now());
            }
            if let Ok(permit) = refusals.clone().try_acquire_owned() {
                let connection = refusing.serve_connection(
                    TokioIo::new(stream),
                    hyper::service::service_fn(move |request| {
                        let refusal = ApiError::OverCapacity {
                            max_connections: options.max_connections,
                        };
                        let format = ErrorFormat::from_headers(request.headers());
                        std::future::ready(Ok::<_, std::convert::Infallible>(
                            refusal.render(format),
                        ))
                    }),
                );
                let connection = graceful.watch(connection);
                tokio::spawn(async move {
                    let _ = connection.await;
                    drop(permit);
                });
            }
            continue;
        };
        if options.peer_address {
            let service = app
                .clone()
                .map_request(move |mut request: axum::extract::Request<_>| {
                    request.extensions_mut().insert(ConnectInfo(peer));
                    request
                });
            spawn_connection(&builder, &graceful, stream, peer, service, slot);
        } else {
            spawn_connection(&builder, &graceful, stream, peer, app.clone(), slot);
        }
    }
    drop(listener);
    tokio::select! {
        () = graceful.shutdown() => {}
        () = tokio::time::sleep(DRAIN_TIMEOUT) => {
            tracing::warn!("requests still in flight after 10 s at shutdown");
        }
    }
}

/// Every connection is a file descriptor; when the process may open fewer than the
/// connection cap (plus the store's and the webhook client's), accepts would fail with
/// EMFILE long before the cap answers its 503. Linux only; elsewhere nothing is said.
fn warn_if_descriptors_are_short(max_connections: usize) {
    const OTHER_DESCRIPTORS: u64 = 256;
    let Ok(limits) = std::fs::read_to_string("/proc/self/limits") else {
        return;
    };
    let soft = limits
        .lines()
        .find(|l| l.starts_with("Max open files"))
        .and_then(|l| l.split_whitespace().nth(3))
        .and_then(|v| v.parse::<u64>().ok());
    if let Some(soft) = soft {
        let wanted = max_connections as u64 + OTHER_DESCRIPTORS;
        if soft < wanted {
            tracing::warn!(
                open_files_limit = soft,
                max_connections,
                "the open-files limit is below --max-connections plus {OTHER_DESCRIPTORS}: raise it (ulimit -n {wanted}) or lower --max-connections"
            );
        }
    }
}

/// Serves one connection on its own task; its slot is freed when the connection ends.
fn spawn_connection<S>(
    builder: &hyper::server::conn::http1::Builder,
    graceful: &hyper_util::server::graceful::GracefulShutdown,
    stream: TcpStream,
    peer: SocketAddr,
    service: S,
    slot: tokio::sync::OwnedSemaphorePermit,
) where
    S: tower::Service<
            hyper::Request<hyper::body::Incoming>,
            Response = axum::response::Response,
            Error = std::convert::Infallible,
        > + Clone
        + Send
        + 'static,
    S::Future: Send + 'static,
{
    let activity = idle::Activity::new();
    let service = TowerToHyperService::new(idle::Watched::new(service, activity.clone()));
    let connection = builder.serve_connection(TokioIo::new(stream), service);
    let connection = graceful.watch(connection);
    tokio::spawn(async move {
        match idle::serve_watched(connection, &activity, HEADER_READ_TIMEOUT).await {
            Some(Err(e)) => tracing::debug!(%peer, error = %e, "connection ended with an error"),
            Some(Ok(())) => {}
            None => {
                tracing::debug!(%peer, "no request head within the header-read timeout: connection closed")
            }
        }
        drop(slot);
    });
}
