//! Configuration: every option is a flag with an environment variable (the flag wins).
//!
//! Clap checks each value on its own as it parses; [`Config::settings`] then checks the
//! values that must agree with each other and turns the whole into each module's own
//! settings type. `main` calls it right after parsing and [`crate::run`] again before
//! opening anything, so an invalid configuration never starts half-way.

use std::net::{Ipv4Addr, SocketAddr};
use std::time::Duration;

use clap::Parser;

use crate::alerts::{AlertUri, Channel, ChannelRoutes, Signer};
use crate::backend::{BackendOptions, Fanout, StoreUrl, SyncMode};
use crate::health::{self, PublishSettings, RedisUrl, Thresholds};
use crate::http::{RateLimit, ServeOptions};
use crate::perf::PerfSettings;
use crate::secret::Secret;

mod parse;

use parse::*;
pub use parse::{absolute_store_path, parse_duration, NotifyUrls};

/// A heartbeat monitor: jobs ping it, and it alerts a webhook when they stop.
#[derive(Debug, Clone, Parser)]
#[command(name = "overdue", version, about)]
pub struct Config {
    /// Address to serve on [default: 127.0.0.1:4000; PORT alone also sets the port]
    #[arg(long, env = "OVERDUE_LISTEN", value_name = "ADDR", value_parser = parse_listen)]
    pub listen: Option<SocketAddr>,

    /// Where state lives: sqlite://PATH, memory://, or redis://HOST:PORT[/DB] (also rediss://, redis[s]+sentinel://, redis[s]+cluster://) shared by replicas
    #[arg(
        long,
        env = "OVERDUE_STORE",
        default_value = "sqlite://./overdue-data/overdue.db",
        value_name = "URL"
    )]
    pub store: StoreUrl,

    /// normal: every acknowledged write survives a process crash; full: also a power loss
    #[arg(long, env = "OVERDUE_SYNC", value_enum, default_value = "normal")]
    pub sync: SyncMode,

    /// Webhook that receives alerts [default: unset, alerts are only logged]
    #[arg(long, env = "PING_ALERT_URI", value_name = "URL", value_parser = AlertUri::parse, hide_env_values = true)]
    pub alert_uri: Option<AlertUri>,

    /// Sends alerts to a channel: slack+https://…, discord+https://…, teams+https://…, ntfy+https://…, telegram+https://…, pagerduty+https://…, opsgenie+https://…, alertmanager+http://…, smtp://…, smtps://… or https://… (webhook); repeatable, and OVERDUE_NOTIFY takes several separated by spaces [default: none]
    #[arg(long = "notify", env = "OVERDUE_NOTIFY", value_name = "URL", value_parser = parse_notify, hide_env_values = true)]
    pub notify: Vec<NotifyUrls>,

    /// Signs alerts with Standard Webhooks headers (a whsec_ secret is base64-decoded)
    #[arg(long, env = "PING_ALERT_SECRET", value_name = "SECRET", value_parser = parse_alert_secret, hide_env_values = true)]
    pub alert_secret: Option<Secret>,

    /// First reminder interval while a job stays down; 0 alerts once
    #[arg(long, env = "OVERDUE_REALERT_EVERY", default_value = "60s", value_parser = parse_duration, value_name = "DURATION")]
    pub realert_every: Duration,

    /// Longest interval between reminders; at least --realert-every
    #[arg(long, env = "OVERDUE_REALERT_MAX", default_value = "24h", value_parser = parse_duration, value_name = "DURATION")]
    pub realert_max: Duration,

    /// Longest delay between a deadline and its alert being queued
    #[arg(long, env = "OVERDUE_SWEEP_INTERVAL", default_value = "1s", value_parser = parse_positive_duration, value_name = "DURATION")]
    pub sweep_interval: Duration,

    /// Cap on the extra time given to jobs that fell due while overdue was not running
    #[arg(long, env = "OVERDUE_STARTUP_GRACE", default_value = "15m", value_parser = parse_duration, value_name = "DURATION")]
    pub startup_grace: Duration,

    /// Bearer token for admin routes [default: unset, admin routes are open]
    #[arg(long, env = "OVERDUE_ADMIN_TOKEN", value_name = "TOKEN", value_parser = parse_secret, hide_env_values = true)]
    pub admin_token: Option<Secret>,

    /// Token required on /ping, as token= or Authorization: Bearer [default: unset, pings are open]
    #[arg(long, env = "OVERDUE_PING_TOKEN", value_name = "TOKEN", value_parser = parse_secret, hide_env_values = true)]
    pub ping_token: Option<Secret>,

    /// Cap on monitored jobs
    #[arg(long, env = "OVERDUE_MAX_SERVICES", default_value = "100000", value_parser = max_services, value_name = "N")]
    pub max_services: u64,

    /// Events kept per job in its history (GET /ping/{name}/events); 0 keeps none
    #[arg(long, env = "OVERDUE_HISTORY", default_value = "100", value_parser = history, value_name = "N")]
    pub history: u32,

    /// Connections served at once; beyond, a new connection is answered 503 and closed
    #[arg(long, env = "OVERDUE_MAX_CONNECTIONS", default_value = "10000", value_parser = max_connections, value_name = "N")]
    pub max_connections: u32,

    /// Requests per client address (IPv6: per /64), as N/s or N/m, or off; beyond, 429 with Retry-After
    #[arg(long, env = "OVERDUE_RATE_LIMIT", default_value = "off", value_parser = parse_rate_limit, value_name = "N/s")]
    pub rate_limit: RateLimit,

    /// How far in the future a ping's timestamp may be
    #[arg(long, env = "OVERDUE_MAX_CLOCK_SKEW", default_value = "5m", value_parser = parse_duration, value_name = "DURATION")]
    pub max_clock_skew: Duration,

    /// This monitor's own name, sent as "monitor" in alerts
    #[arg(long, env = "OVERDUE_SERVICE_NAME", default_value = "overdue", value_parser = parse_service_name, value_name = "NAME")]
    pub service_name: String,

    /// Log output format [default: pretty on a terminal, else json]; RUST_LOG sets levels
    #[arg(long, env = "OVERDUE_LOG_FORMAT", value_enum)]
    pub log_format: Option<LogFormat>,
    // Self-health (SPEC §6).
    /// Redis that receives health publications [default: unset, no publishing]
    #[arg(long, env = "HEALTH_REDIS_URL", value_name = "URL", value_parser = RedisUrl::parse, hide_env_values = true)]
    pub health_redis: Option<RedisUrl>,

    /// Host of the health Redis, read when --health-redis is unset (the health seed's variable)
    #[arg(long, env = "HEALTH_REDIS_HOST", value_name = "HOST")]
    pub health_redis_host: Option<String>,

    /// Port of the health Redis with --health-redis-host
    #[arg(
        long,
        env = "HEALTH_REDIS_PORT",
        default_value = "6379",
        value_name = "PORT"
    )]
    pub health_redis_port: u16,

    /// true: --health-redis-host is a node of a Redis Cluster
    #[arg(long, env = "HEALTH_REDIS_CLUSTER_MODE", default_value = "false", value_name = "BOOL", action = clap::ArgAction::Set)]
    pub health_redis_cluster_mode: bool,

    /// Interval between status publications; conditions are also evaluated at least every 5s
    #[arg(long, env = "HEALTH_PUBLISHING_INTERVAL", default_value = "30s", value_parser = parse_positive_duration, value_name = "DURATION")]
    pub health_publish_every: Duration,

    /// Interval between metrics publications
    #[arg(long, env = "HEALTH_METRICS_INTERVAL", default_value = "300s", value_parser = parse_positive_duration, value_name = "DURATION")]
    pub health_metrics_every: Duration,

    /// How long published health history is kept: hours (24, 0.5) or a duration (90m, 2D)
    #[arg(long, env = "HEALTH_RETENTION_HOURS", default_value = "24", value_parser = health_retention, value_name = "HOURS")]
    pub health_retention: Duration,

    /// Alert backlog above which health is degraded (warning)
    #[arg(long, env = "HEALTH_BACKLOG_WARN", default_value = "1000", value_parser = health_backlog, value_name = "N")]
    pub health_backlog_warn: u64,

    /// Alert backlog above which health is unhealthy (critical)
    #[arg(long, env = "HEALTH_BACKLOG_CRITICAL", default_value = "10000", value_parser = health_backlog, value_name = "N")]
    pub health_backlog_critical: u64,

    /// Alert delivery success rate over the last hour (percent) below which health is degraded
    #[arg(long, env = "HEALTH_SUCCESS_WARN", default_value = "80", value_parser = health_percent, value_name = "PERCENT")]
    pub health_success_warn: f64,

    /// Alert delivery success rate over the last hour (percent) below which health is unhealthy
    #[arg(long, env = "HEALTH_SUCCESS_CRITICAL", default_value = "50", value_parser = health_percent, value_name = "PERCENT")]
    pub health_success_critical: f64,

    /// Webhook response time above which health is degraded
    #[arg(long, env = "HEALTH_SINK_SLOW", default_value = "10s", value_parser = parse_positive_duration, value_name = "DURATION")]
    pub health_sink_slow: Duration,

    /// Consecutive failed webhook attempts after which the alert sink counts as unreachable (critical)
    #[arg(long, env = "HEALTH_SINK_FAILURES", default_value = "3", value_parser = health_sink_failures, value_name = "N")]
    pub health_sink_failures: u32,

    // Performance monitoring (SPEC §7).
    /// on: time every request, store operation and alert delivery; off: time nothing
    #[arg(long, env = "OVERDUE_PERF", default_value = "on", value_parser = perf_switch, value_name = "on|off", num_args = 0..=1, default_missing_value = "on", action = clap::ArgAction::Set)]
    pub perf: bool,

    /// Window that performance aggregates cover (whole seconds, 1s to 24h)
    #[arg(long, env = "OVERDUE_PERF_RETENTION", default_value = "1h", value_parser = perf_retention, value_name = "DURATION")]
    pub perf_retention: Duration,

    /// Requests slower than this are logged at WARN
    #[arg(long, env = "OVERDUE_SLOW_REQUEST", default_value = "250ms", value_parser = perf_threshold, value_name = "DURATION")]
    pub slow_request: Duration,

    /// Store operations slower than this are logged at WARN
    #[arg(long, env = "OVERDUE_SLOW_STORE", default_value = "100ms", value_parser = perf_threshold, value_name = "DURATION")]
    pub slow_store: Duration,

    /// Log every timing at INFO
    #[arg(long, env = "OVERDUE_LOG_ALL_TIMINGS", default_value = "false", value_parser = perf_bool, value_name = "BOOL", num_args = 0..=1, default_missing_value = "true", action = clap::ArgAction::Set)]
    pub log_all_timings: bool,

    /// Add `Server-Timing: app;dur=<ms>` to every response
    #[arg(long, env = "OVERDUE_TIMING_HEADER", default_value = "false", value_parser = perf_bool, value_name = "BOOL", num_args = 0..=1, default_missing_value = "true", action = clap::ArgAction::Set)]
    pub timing_header: bool,

    // Badges (SPEC §15).
    /// Serve status badges (GET /badge/{name}.svg and .json) to anyone, without a token; otherwise they answer 404
    #[arg(long, env = "OVERDUE_PUBLIC_BADGES", default_value = "false", value_parser = perf_bool, value_name = "BOOL", num_args = 0..=1, default_missing_value = "true", action = clap::ArgAction::Set)]
    pub public_badges: bool,
}

/// `--log-format`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    /// One event a line, for a person; coloured only on a terminal without `NO_COLOR`.
    Pretty,
    /// One JSON object a line, for a log shipper.
    Json,
}

/// The default listening address when neither `--listen` nor `PORT` says otherwise.
pub const DEFAULT_LISTEN: SocketAddr =
    SocketAddr::new(std::net::IpAddr::V4(Ipv4Addr::LOCALHOST), 4000);

/// An option whose value is invalid, alone or with another one: shown as one line,
/// `invalid value for --option: why`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid value for {option}: {message}")]
pub struct ConfigError {
    /// The option (`--health-backlog-critical`) or variable (`PORT`) to fix.
    pub option: &'static str,
    pub message: String,
}

impl ConfigError {
    fn new(option: &'static str, message: impl Into<String>) -> Self {
        Self {
            option,
            message: message.into(),
        }
    }
}

/// What each module gets from the configuration, in its own settings type.
#[derive(Debug, Clone)]
pub struct Settings {
    pub store: StoreUrl,
    pub backend: BackendOptions,
    /// The channels alerts go to, `PING_ALERT_URI` first; none means the log.
    pub channels: Vec<Channel>,
    /// Signs the `webhook` channels' alerts when a secret is set.
    pub signer: Option<Signer>,
    /// This monitor's own name, sent as `monitor` in alerts.
    pub service_name: String,
    /// Longest delay between a deadline and its alert being queued.
    pub sweep_interval: Duration,
    pub health: health::Settings,
    pub perf: PerfSettings,
    pub http: HttpSettings,
}

/// What the HTTP surface needs: its tokens, limits and accept loop options.
#[derive(Debug, Clone)]
pub struct HttpSettings {
    pub admin_token: Option<Secret>,
    pub ping_token: Option<Secret>,
    /// How far in the future a ping's timestamp may be, in seconds.
    pub max_clock_skew_secs: u64,
    pub rate_limit: RateLimit,
    pub serve: ServeOptions,
    /// `--public-badges`: the badge routes answer anyone; without it they answer 404.
    pub public_badges: bool,
}

impl Config {
    /// The address to bind: `--listen`, else `127.0.0.1:$PORT`, else the default.
    pub fn listen_addr(&self) -> Result<SocketAddr, ConfigError> {
        if let Some(addr) = self.listen {
            return Ok(addr);
        }
        match std::env::var("PORT") {
            Ok(port) => port
                .trim()
                .parse::<u16>()
                .map(|p| SocketAddr::new(DEFAULT_LISTEN.ip(), p))
                .map_err(|_| {
                    ConfigError::new(
                        "PORT",
                        format!("{port:?}: expected a port number from 0 to 65535"),
                    )
                }),
            Err(_) => Ok(DEFAULT_LISTEN),
        }
    }

    /// `PING_ALERT_URI` as a `webhook` channel, then every `--notify` URL, in order.
    /// A URL that does not parse stops the start with one line naming `--notify` that
    /// never quotes the URL (channel URLs carry tokens).
    fn channels(&self) -> Result<Vec<Channel>, ConfigError> {
        let mut channels: Vec<Channel> = self
            .alert_uri
            .iter()
            .map(|uri| Channel::webhook(uri.url().clone()))
            .collect();
        let urls = self.notify.iter().flat_map(|urls| urls.0.iter());
        for (index, raw) in urls.enumerate() {
            let channel = Channel::parse(raw.expose()).map_err(|e| {
                ConfigError::new("--notify", format!("channel URL {}: {e}", index + 1))
            })?;
            // Two entries of one alert under one key would be one entry twice.
            if channels.iter().any(|c| c.key() == channel.key()) {
                return Err(ConfigError::new(
                    "--notify",
                    format!(
                        "channel URL {} repeats an earlier channel ({}); give each URL once",
                        index + 1,
                        channel.name()
                    ),
                ));
            }
            channels.push(channel);
        }
        Ok(channels)
    }

    /// `--health-redis`, or else the health seed's `HEALTH_REDIS_HOST` and
    /// `HEALTH_REDIS_PORT` (SPEC §8).
    fn health_redis(&self) -> Result<Option<RedisUrl>, ConfigError> {
        if let Some(url) = &self.health_redis {
            return Ok(Some(url.clone()));
        }
        let Some(host) = &self.health_redis_host else {
            return Ok(None);
        };
        let scheme = if self.health_redis_cluster_mode {
            "redis+cluster"
        } else {
            "redis"
        };
        RedisUrl::parse(&format!("{scheme}://{host}:{}", self.health_redis_port))
            .map(Some)
            .map_err(|e| ConfigError::new("--health-redis-host", e))
    }

    /// Checks the options that must agree with each other and turns the configuration
    /// into each module's settings. Opens, binds and logs nothing, so it can run before
    /// anything starts.
    pub fn settings(&self) -> Result<Settings, ConfigError> {
        if !self.realert_every.is_zero() && self.realert_max < self.realert_every {
            return Err(ConfigError::new(
                "--realert-max",
                format!(
                    "{} is below --realert-every ({}); it must be at least that",
                    humantime::format_duration(self.realert_max),
                    humantime::format_duration(self.realert_every)
                ),
            ));
        }
        let thresholds = self.thresholds()?;
        let signer = self
            .alert_secret
            .as_ref()
            .map(|secret| Signer::new(secret.expose()))
            .transpose()
            .map_err(|e| ConfigError::new("--alert-secret", e.to_string()))?;
        let channels = self.channels()?;
        let sink_configured = !channels.is_empty();
        let rate_limit = self.rate_limit;
        Ok(Settings {
            store: self.store.clone(),
            backend: BackendOptions {
                max_services: usize::try_from(self.max_services).unwrap_or(usize::MAX),
                history: usize::try_from(self.history).unwrap_or(usize::MAX),
                realert_every: Some(self.realert_every).filter(|d| !d.is_zero()),
                realert_max: self.realert_max,
                startup_grace: self.startup_grace,
                sync: self.sync,
                fanout: if channels.is_empty() {
                    Fanout::default()
                } else {
                    Fanout::new(std::sync::Arc::new(ChannelRoutes::new(&channels)))
                },
            },
            channels,
            signer,
            service_name: self.service_name.clone(),
            sweep_interval: self.sweep_interval,
            health: health::Settings {
                service: self.service_name.clone(),
                instance: health::instance_name(),
                thresholds,
                sink_configured,
                evaluate_every: self.health_publish_every.min(MAX_EVALUATION_INTERVAL),
                publishing: self.health_redis()?.map(|redis| PublishSettings {
                    redis,
                    status_every: self.health_publish_every,
                    metrics_every: self.health_metrics_every,
                    retention: self.health_retention,
                }),
                history_retention: self.health_retention,
            },
            perf: PerfSettings {
                enabled: self.perf,
                timing_header: self.timing_header,
                log_all_timings: self.log_all_timings,
                retention: self.perf_retention,
                slow_request: self.slow_request,
                slow_store: self.slow_store,
            },
            http: HttpSettings {
                admin_token: self.admin_token.clone(),
                ping_token: self.ping_token.clone(),
                max_clock_skew_secs: self.max_clock_skew.as_secs(),
                rate_limit,
                serve: ServeOptions {
                    max_connections: usize::try_from(self.max_connections).unwrap_or(usize::MAX),
                    // The rate limiter keys its buckets by the client's address, and
                    // every ping's event shows it.
                    peer_address: !rate_limit.is_off() || self.history > 0,
                },
                public_badges: self.public_badges,
            },
        })
    }

    /// The health thresholds, refused when a warning level lies beyond its critical
    /// one (the error names the critical option).
    fn thresholds(&self) -> Result<Thresholds, ConfigError> {
        if self.health_backlog_critical < self.health_backlog_warn {
            return Err(ConfigError::new(
                "--health-backlog-critical",
                format!(
                    "{} is below --health-backlog-warn ({}); it must be at least that",
                    self.health_backlog_critical, self.health_backlog_warn
                ),
            ));
        }
        if self.health_success_critical > self.health_success_warn {
            return Err(ConfigError::new(
                "--health-success-critical",
                format!(
                    "{} is above --health-success-warn ({}); it must be at most that",
                    self.health_success_critical, self.health_success_warn
                ),
            ));
        }
        Ok(Thresholds {
            backlog_warn: self.health_backlog_warn,
            backlog_critical: self.health_backlog_critical,
            success_warn: self.health_success_warn,
            success_critical: self.health_success_critical,
            sink_slow: self.health_sink_slow,
            sink_failures: self.health_sink_failures,
        })
    }

    /// A configuration for tests and embedding: in memory, on an ephemeral port.
    pub fn for_tests() -> Self {
        Self::parse_from(["overdue", "--store", "memory://", "--listen", "127.0.0.1:0"])
    }
}

/// Health conditions are evaluated at least this often, whatever the publishing
/// interval, so that raises and resolves are logged without a `/health` request.
const MAX_EVALUATION_INTERVAL: Duration = Duration::from_secs(5);

#[cfg(test)]
mod tests;
