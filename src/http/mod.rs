//! The HTTP surface: the router, its limits, and a server loop with a header-read
//! timeout and graceful shutdown.

mod auth;
mod error;
mod health;
mod jobs;
mod metrics;
mod ping;
mod probes;
mod query;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::DefaultBodyLimit;
use axum::http::StatusCode;
use axum::middleware;
use axum::routing::get;
use axum::Router;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tower::ServiceBuilder;
use tower_http::timeout::TimeoutLayer;

use crate::backend::Backend;
pub use auth::Token;
use error::ApiError;

/// Largest accepted request body.
pub const MAX_BODY_BYTES: usize = 16 * 1024;
/// A whole request must be answered within this.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
/// A client must send its request headers within this, or the connection is closed.
pub const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);
/// In-flight requests get this long to finish at shutdown.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(10);

/// What handlers share; cheap to clone.
#[derive(Clone)]
pub struct AppState(Arc<Shared>);

pub struct Shared {
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
}

impl std::ops::Deref for AppState {
    type Target = Shared;

    fn deref(&self) -> &Shared {
        &self.0
    }
}

impl AppState {
    pub fn new(shared: Shared) -> Self {
        Self(Arc::new(shared))
    }
}

pub fn router(state: AppState) -> Router {
    let timing = state.perf.layer();
    let admin = Router::new()
        .route("/ping/{name}", get(jobs::get_job).delete(jobs::delete_job))
        .route("/pings", get(jobs::list_jobs))
        .route("/metrics", get(metrics::prometheus))
        .route("/metrics/performance", get(metrics::performance))
        .route(
            "/metrics/performance/config",
            get(metrics::config).put(metrics::update_config),
        )
        .route_layer(middleware::from_fn_with_state(
            state.clone(),
            auth::require_admin,
        ));
    Router::new()
        .route("/ping", get(ping::get_ping).post(ping::post_ping))
        .route("/livez", get(probes::livez))
        .route("/readyz", get(probes::readyz))
        .route("/health", get(health::health))
        .merge(admin)
        .fallback(|| async { ApiError::not_found("not found") })
        .with_state(state)
        // Outermost first: error bodies are shaped last, so they also cover the
        // timeout's and the body limit's own responses. The timing layer is outside
        // them all, so it sees every final status (414, 413, 408 included); these
        // layers run per route, after routing, so it knows the route template.
        .layer(
            ServiceBuilder::new()
                .layer(timing)
                .layer(error::BoundaryLayer)
                .layer(TimeoutLayer::with_status_code(
                    StatusCode::REQUEST_TIMEOUT,
                    REQUEST_TIMEOUT,
                ))
                .layer(DefaultBodyLimit::max(MAX_BODY_BYTES)),
        )
}

/// Serves `app` on `listener` until `shutdown`; then stops accepting and gives
/// requests in flight up to 10 s to finish.
pub async fn serve(listener: TcpListener, app: Router, shutdown: CancellationToken) {
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(HEADER_READ_TIMEOUT)
        .keep_alive(true);
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
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
        let service = TowerToHyperService::new(app.clone());
        let connection = builder.serve_connection(TokioIo::new(stream), service);
        let connection = graceful.watch(connection);
        tokio::spawn(async move {
            if let Err(e) = connection.await {
                tracing::debug!(%peer, error = %e, "connection ended with an error");
            }
        });
    }
    drop(listener);
    tokio::select! {
        () = graceful.shutdown() => {}
        () = tokio::time::sleep(DRAIN_TIMEOUT) => {
            tracing::warn!("requests still in flight after 10 s at shutdown");
        }
    }
}
