//! overdue: a heartbeat monitor. Jobs call `GET /ping?name=…&frequency=…`; when the
//! next ping does not arrive in time, overdue POSTs an alert to a webhook.
//!
//! How the modules fit:
//! - [`config`] parses flags and environment variables into a validated [`Config`].
//! - [`domain`] holds the types parsed at the boundary: `JobName`, `Frequency`,
//!   `Grace`, `UnixTime`, and the `Job` and `Alert` records.
//! - [`http`] serves the routes, behind the connection cap, the header and request
//!   timeouts and the optional per-client rate limit. Handlers parse requests into
//!   domain types and call the [`backend::Backend`] trait, the one owner of state.
//! - [`backend`] keeps jobs, the deadline heap and the alert outbox: in memory, with a
//!   write-ahead journal behind it by default (`backend/local/`: the journal appended
//!   from the request's thread in one of 16 lanes, its record codec, and the SQLite
//!   snapshot it is folded into by a background thread); or in a Redis shared by
//!   several replicas, each change one Lua script.
//! - [`sweeper`] sleeps until the earliest deadline and has the backend mark due jobs
//!   down, writing their alerts into the outbox in the same durable step.
//! - [`alerts`] delivers outbox alerts to the webhook (or the log), retrying with
//!   backoff, one at a time per job.
//! - [`health`] measures the monitor's own indicators (store round trip, webhook
//!   outcomes seen as a delivery observer, backlog, pings per hour), raises and resolves
//!   conditions against thresholds for `/health`, and publishes to Redis channels.
//! - [`perf`] times every request (a tower layer, by route template), every store
//!   operation (the backend reports them) and every delivery (a delivery observer) into
//!   windowed histograms of constant size, for `/metrics` and `/metrics/performance`.
//!
//! [`run`] wires them together; `main` and the tests both call it.

pub mod alerts;
pub mod backend;
pub mod config;
pub mod domain;
pub mod health;
pub mod http;
pub mod perf;
pub mod sweeper;
mod sync;

/// Entry points for the fuzz targets in `fuzz/` that the public modules do not already
/// offer; not part of the API.
#[doc(hidden)]
pub mod fuzzing {
    pub use crate::http::parse_query_for_fuzzing as parse_query;
}

use std::sync::Arc;

use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::alerts::{DeliveryObserver, Dispatcher, Signer, Sink};
use crate::backend::{BackendError, BackendOptions, Signals};
pub use crate::config::Config;

/// Why the monitor could not start or stop cleanly.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error("invalid value for {option}: {message}")]
    Config {
        option: &'static str,
        message: String,
    },
    #[error(transparent)]
    Store(#[from] BackendError),
    #[error("cannot read the listening address: {0}")]
    Io(#[from] std::io::Error),
    #[error("cannot build the webhook client: {0}")]
    Client(#[from] reqwest::Error),
}

/// Runs the monitor on `listener` until `shutdown` is cancelled: loads state, starts the
/// sweeper and the dispatcher, serves HTTP; then drains requests, gives deliveries in
/// flight up to 5 s, and closes the store.
pub async fn run(
    config: Config,
    listener: TcpListener,
    shutdown: CancellationToken,
) -> Result<(), RunError> {
    let signer = config
        .alert_secret
        .as_ref()
        .map(|s| Signer::new(s.expose()))
        .transpose()
        .map_err(|e| RunError::Config {
            option: "--alert-secret",
            message: e.to_string(),
        })?;
    // Built before the store, so that its load at start is timed too.
    let perf = perf::Perf::from_config(&config);
    let signals = Signals::default();
    let options = BackendOptions {
        max_services: usize::try_from(config.max_services).unwrap_or(usize::MAX),
        realert_every: Some(config.realert_every).filter(|d| !d.is_zero()),
        // The flag comes with the configuration work; until then reminders back off
        // up to a day, as SPEC §5 sets by default.
        realert_max: std::time::Duration::from_secs(86_400),
        startup_grace: config.startup_grace,
        sync: config.sync,
    };
    let backend = backend::open(&config.store, options, signals.clone(), perf.store_timer())
        .await
        .map_err(|e| RunError::Config {
            option: "--store",
            message: e.to_string(),
        })?;

    let sink = match &config.alert_uri {
        Some(uri) => {
            tracing::info!(webhook = %uri, signed = signer.is_some(), "alerts go to the webhook");
            Sink::Webhook {
                uri: uri.clone(),
                signer,
            }
        }
        None => {
            tracing::warn!("PING_ALERT_URI is not set: alerts are only written to the log");
            Sink::Log
        }
    };
    let addr = listener.local_addr()?;
    if !addr.ip().is_loopback() && config.admin_token.is_none() {
        tracing::warn!(
            %addr,
            "listening beyond loopback without --admin-token: the job routes are open to anyone who can reach this address"
        );
    }

    // One signal stops every background task; they are joined below, where started.
    let background = CancellationToken::new();
    let health_options = health::HealthOptions::from_config(&config)
        .map_err(|(option, message)| RunError::Config { option, message })?;
    let (health_events, health_queue) = health::channel(config.health_redis.is_some());
    let health = Arc::new(health::HealthMonitor::new(
        backend.clone(),
        health_options,
        health_events,
    ));
    // The metrics publication carries the same document as GET /metrics/performance.
    let summary = perf.clone();
    health.set_performance_summary(Arc::new(move || summary.summary_json()));
    // Conditions are evaluated at least every 5 s, so raises and resolves are logged
    // and published even when nobody asks for /health.
    let health_evaluator = tokio::spawn(health::monitor::evaluate_periodically(
        health.clone(),
        config
            .health_publish_every
            .min(std::time::Duration::from_secs(5)),
        background.clone(),
    ));
    let health_publisher = match (&config.health_redis, health_queue) {
        (Some(url), Some(queue)) => {
            let publisher = health::Publisher::new(
                url,
                health.clone(),
                queue,
                config.health_publish_every,
                config.health_metrics_every,
                config.health_retention,
            )
            .map_err(|e| RunError::Config {
                option: "--health-redis",
                message: e.to_string(),
            })?;
            tracing::info!(redis = %url, service = %config.service_name, "publishing health to redis");
            Some(tokio::spawn(publisher.run(background.clone())))
        }
        _ => None,
    };

    let observers: Vec<Arc<dyn DeliveryObserver>> = vec![health.clone(), perf.delivery_observer()];

    let dispatcher = Dispatcher::new(
        backend.clone(),
        signals.clone(),
        sink,
        &config.service_name,
        observers,
    )?;
    let sweeper = tokio::spawn(sweeper::run(
        backend.clone(),
        signals.clone(),
        config.sweep_interval,
        background.clone(),
    ));
    let dispatcher = tokio::spawn(dispatcher.run(background.clone()));

    let state = http::AppState::new(http::Shared {
        backend: Arc::clone(&backend),
        admin_token: config.admin_token.as_ref().map(http::Token::new),
        ping_token: config.ping_token.as_ref().map(http::Token::new),
        max_clock_skew_secs: config.max_clock_skew.as_secs(),
        health: Arc::clone(&health),
        perf: perf.clone(),
        rate_limiter: http::Limiter::new(config.rate_limit).map(Arc::new),
    });
    let serve_options = http::ServeOptions {
        max_connections: usize::try_from(config.max_connections).unwrap_or(usize::MAX),
        peer_address: state.rate_limiter.is_some(),
    };
    if !config.rate_limit.is_off() {
        tracing::info!(rate_limit = %config.rate_limit, "per-client rate limit is on");
    }
    tracing::info!(%addr, "listening on http://{addr}");
    http::serve(listener, http::router(state), serve_options, shutdown).await;

    tracing::info!("shutting down");
    background.cancel();
    let _ = sweeper.await;
    let _ = dispatcher.await;
    let _ = health_evaluator.await;
    if let Some(publisher) = health_publisher {
        let _ = publisher.await;
    }
    backend.close().await?;
    tracing::info!("stopped");
    Ok(())
}
