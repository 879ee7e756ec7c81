//! overdue: a heartbeat monitor. Jobs call `GET /ping?name=…&frequency=…`; when the
//! next ping does not arrive in time, overdue alerts its notification channels (a
//! webhook, chat, paging and email services).
//!
//! How the modules fit:
//! - [`config`] parses flags and environment variables into a [`Config`] and turns it
//!   into each module's own settings, refusing values that disagree; no other module
//!   reads it.
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
//! - [`alerts`] delivers outbox alerts to the notification channels whose routing takes
//!   them (the webhook, Slack, ntfy, email…; or the log when there is none), each in its
//!   service's API, retrying with backoff, one at a time per job.
//! - [`health`] measures the monitor's own indicators (store round trip, webhook
//!   outcomes seen as a delivery observer, backlog, pings per hour), raises and resolves
//!   conditions against thresholds for `/health`, and publishes to Redis channels.
//! - [`perf`] times every request (a tower layer, by route template), every store
//!   operation (the backend reports them) and every delivery (a delivery observer) into
//!   windowed histograms of constant size, for `/metrics` and `/metrics/performance`.
//!
//! - [`timeline`] is the ring of fixed capacity that the health and performance
//!   samplers keep their figures in, for the dashboard's charts; each process samples
//!   its own, a Redis replica too.
//!
//! - [`redis_target`] parses a Redis URL (TLS files, ACL credentials) for the Redis
//!   store and the health publisher alike, and words Redis's refusals.
//!
//! - [`dashboard`] renders the web pages of SPEC §15 from the same [`backend::Backend`]
//!   reads and domain actions as the JSON routes, with embedded assets, signed session
//!   cookies and CSRF tokens; [`http`] routes to it and checks access.
//!
//! - [`client`] is the command-line client of SPEC §16 (`overdue ping`, `run`, `jobs`),
//!   in the same binary: it talks to a running monitor over HTTP and shares only the
//!   domain parsers with the server.
//!
//! [`run`] wires them together; `main` and the tests both call it.

pub mod alerts;
pub mod backend;
pub mod client;
pub mod config;
pub mod dashboard;
pub mod domain;
pub mod health;
pub mod http;
pub mod logging;
pub mod minute_buckets;
pub mod perf;
pub mod redis_target;
pub mod secret;
pub mod sweeper;
mod sync;
pub mod timeline;
mod xml;

/// Entry points for the fuzz targets in `fuzz/` that the public modules do not already
/// offer; not part of the API.
#[doc(hidden)]
pub mod fuzzing {
    pub use crate::dashboard::jobs_page::request_for_fuzzing as jobs_request;
    pub use crate::dashboard::performance_page::form_to_update;
    pub use crate::dashboard::session::{is_https, named_same_origin, same_origin, Sessions};
    pub use crate::domain::UnixTime;
    pub use crate::http::badge_split_for_fuzzing as badge_split;
    pub use crate::http::badge_svg_for_fuzzing as badge_svg;
    pub use crate::http::parse_query_for_fuzzing as parse_query;
    pub use crate::http::parse_run_for_fuzzing as parse_run;
    /// The header types the session checks read, so the targets need no `http` crate.
    pub use axum::http::{HeaderMap, HeaderName, HeaderValue};
}

use std::sync::Arc;

use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::alerts::{DeliveryObserver, Dispatcher, DispatcherStats, Transports};
use crate::backend::{BackendError, StoreUrl, Wakers};
pub use crate::config::Config;
use crate::config::ConfigError;

/// Why the monitor could not start or stop cleanly.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error("invalid value for {option}: {message}")]
    Config {
        option: &'static str,
        message: String,
    },
    /// A Redis that answers but refuses this configuration (credentials, certificate,
    /// master name, not a cluster): invalid configuration found by using it.
    #[error("invalid value for {option}: {message}")]
    Refused {
        option: &'static str,
        message: String,
    },
    #[error(transparent)]
    Store(#[from] BackendError),
    #[error("cannot read the listening address: {0}")]
    Io(#[from] std::io::Error),
    #[error("cannot build the webhook client: {0}")]
    Client(#[from] reqwest::Error),
    #[error("cannot set up dashboard sessions: {0}")]
    Dashboard(#[from] dashboard::SessionError),
}

impl From<ConfigError> for RunError {
    fn from(e: ConfigError) -> Self {
        RunError::Config {
            option: e.option,
            message: e.message,
        }
    }
}

/// Runs the monitor on `listener` until `shutdown` is cancelled: checks the
/// configuration, loads state, starts the sweeper and the dispatcher, serves HTTP; then
/// drains requests, gives deliveries in flight up to 5 s, and closes the store.
pub async fn run(
    config: Config,
    listener: TcpListener,
    shutdown: CancellationToken,
) -> Result<(), RunError> {
    // Checked again here (main checks first) for callers that embed the monitor, so
    // nothing below opens with a configuration that disagrees with itself.
    let settings = config.settings()?;
    // Built before the store, so that its load at start is timed too.
    let perf = perf::Perf::new(settings.perf);
    let signals = Wakers::default();
    if let StoreUrl::Sqlite(path) = &settings.store {
        let path = config::absolute_store_path(path);
        tracing::info!(path = %path.display(), "opening the sqlite store");
    }
    let backend = backend::open(
        &settings.store,
        settings.backend,
        signals.clone(),
        perf.store_timer(),
    )
    .await
    .map_err(|e| {
        let option = "--store";
        let message = e.to_string();
        // Opening a Redis store fails only when Redis refuses it; a Redis that does
        // not answer yet lets the replica start.
        if matches!(settings.store, StoreUrl::Redis(_)) {
            RunError::Refused { option, message }
        } else {
            RunError::Config { option, message }
        }
    })?;

    if settings.channels.is_empty() {
        tracing::warn!("PING_ALERT_URI is not set: alerts are only written to the log");
    }
    for channel in &settings.channels {
        tracing::info!(
            channel = channel.name(),
            kind = channel.kind().as_str(),
            signed = channel.kind() == alerts::ChannelKind::Webhook && settings.signer.is_some(),
            "alerts go to the channel"
        );
    }
    let addr = listener.local_addr()?;
    if !addr.ip().is_loopback() && settings.http.admin_token.is_none() {
        tracing::warn!(
            %addr,
            "listening beyond loopback without --admin-token: the job routes are open to anyone who can reach this address"
        );
    }

    // One signal stops every background task; they are joined below, where started.
    let background = CancellationToken::new();
    let health_settings = settings.health;
    let sink_failures = health_settings.thresholds.sink_failures;
    let publishing = health_settings.publishing.clone();
    let evaluate_every = health_settings.evaluate_every;
    let (health_events, health_queue) = health::channel(publishing.is_some());
    let health = Arc::new(health::HealthMonitor::new(
        backend.clone(),
        health_settings,
        health_events,
    ));
    // The metrics publication carries the same document as GET /metrics/performance.
    let summary = perf.clone();
    health.set_performance_summary(Arc::new(move || summary.summary_json()));
    // Before any background task starts, so that a failure here leaves none running.
    let http_settings = settings.http;
    let admin_token = http_settings.admin_token.as_ref().map(http::Token::new);
    let sessions = dashboard::Sessions::new(admin_token.as_ref().map(http::Token::session_secret))?;

    let health_evaluator = tokio::spawn(health::monitor::evaluate_periodically(
        health.clone(),
        evaluate_every,
        background.clone(),
    ));
    let health_publisher = match (&publishing, health_queue) {
        (Some(publishing), Some(queue)) => {
            let publisher =
                health::Publisher::new(publishing, health.clone(), queue).map_err(|e| {
                    RunError::Config {
                        option: "--health-redis",
                        message: e.to_string(),
                    }
                })?;
            if let Some(why) = publisher.refusal_at_start().await {
                return Err(RunError::Refused {
                    option: "--health-redis",
                    message: why,
                });
            }
            tracing::info!(redis = %publishing.redis, service = %settings.service_name, "publishing health to redis");
            Some(tokio::spawn(publisher.run(background.clone())))
        }
        _ => None,
    };

    let observers: Vec<Arc<dyn DeliveryObserver>> = vec![health.clone(), perf.delivery_observer()];

    let transports = Transports::new(settings.signer.clone(), &settings.service_name)?;
    let channel_stats = DispatcherStats::new(settings.channels.clone());
    let dispatcher = Dispatcher::new(
        backend.clone(),
        signals.clone(),
        channel_stats.clone(),
        transports.clone(),
        observers,
    );
    // The dashboard's charts: each process samples its own figures, a replica too.
    let health_sampler = tokio::spawn(health::history::sample_periodically(
        health.clone(),
        background.clone(),
    ));
    let perf_sampler = tokio::spawn(perf::history::sample_periodically(
        perf.clone(),
        background.clone(),
    ));

    let sweeper = tokio::spawn(sweeper::run(
        backend.clone(),
        signals.clone(),
        settings.sweep_interval,
        background.clone(),
    ));
    let dispatcher = tokio::spawn(dispatcher.run(background.clone()));
    let for_health = channel_stats.clone();
    let unreachable_after = sink_failures;
    health.set_channel_summary(Arc::new(move |backlog| {
        http::channel_health_entries(&for_health, unreachable_after, backlog)
    }));

    let state = http::AppState::new(http::AppContext {
        backend: Arc::clone(&backend),
        admin_token,
        ping_token: http_settings.ping_token.as_ref().map(http::Token::new),
        max_clock_skew_secs: http_settings.max_clock_skew_secs,
        health: Arc::clone(&health),
        perf: perf.clone(),
        rate_limiter: http::Limiter::new(http_settings.rate_limit).map(Arc::new),
        channels: channel_stats,
        transports,
        public_badges: http_settings.public_badges,
        dashboard: sessions,
    });
    if !http_settings.rate_limit.is_off() {
        tracing::info!(rate_limit = %http_settings.rate_limit, "per-client rate limit is on");
    }
    tracing::info!(%addr, "listening on http://{addr}");
    http::serve(listener, http::router(state), http_settings.serve, shutdown).await;

    tracing::info!("shutting down");
    background.cancel();
    let _ = sweeper.await;
    let _ = dispatcher.await;
    let _ = health_evaluator.await;
    let _ = health_sampler.await;
    let _ = perf_sampler.await;
    if let Some(publisher) = health_publisher {
        let _ = publisher.await;
    }
    backend.close().await?;
    tracing::info!("stopped");
    Ok(())
}
