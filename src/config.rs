//! Configuration: every option is a flag with an environment variable (the flag wins).
//!
//! Clap checks each value on its own as it parses; [`Config::settings`] then checks the
//! values that must agree with each other and turns the whole into each module's own
//! settings type. `main` calls it right after parsing and [`crate::run`] again before
//! opening anything, so an invalid configuration never starts half-way.

use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Component, Path, PathBuf};
use std::time::Duration;

use clap::Parser;

use crate::alerts::{AlertUri, Channel, Signer};
use crate::backend::{BackendOptions, StoreUrl, SyncMode};
use crate::domain::parse_duration_secs;
use crate::health::{self, PublishSettings, RedisUrl, Thresholds};
use crate::http::{RateLimit, ServeOptions};
use crate::perf::PerfSettings;
use crate::secret::Secret;

/// A heartbeat monitor: jobs ping it, and it alerts a webhook when they stop.
#[derive(Debug, Clone, Parser)]
#[command(name = "overdue", version, about)]
pub struct Config {
    /// Address to serve on [default: 127.0.0.1:4000; PORT alone also sets the port]
    #[arg(long, env = "OVERDUE_LISTEN", value_name = "ADDR", value_parser = parse_listen)]
    pub listen: Option<SocketAddr>,

    /// Where state lives: sqlite://PATH, memory://, or redis://HOST:PORT[/DB] shared by replicas
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
            channels.push(channel);
        }
        Ok(channels)
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
                realert_every: Some(self.realert_every).filter(|d| !d.is_zero()),
                realert_max: self.realert_max,
                startup_grace: self.startup_grace,
                sync: self.sync,
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
                publishing: self.health_redis.clone().map(|redis| PublishSettings {
                    redis,
                    status_every: self.health_publish_every,
                    metrics_every: self.health_metrics_every,
                    retention: self.health_retention,
                }),
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
                    // The rate limiter keys its buckets by the client's address.
                    peer_address: !rate_limit.is_off(),
                },
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

/// Where a `sqlite://` store lives, as an absolute path for the log at start: the
/// path is relative to the working directory, which an operator may not know. The
/// parent is resolved when it exists (symbolic links included); otherwise the path is
/// joined to the working directory.
pub fn absolute_store_path(path: &Path) -> PathBuf {
    let parent = path.parent().filter(|p| !p.as_os_str().is_empty());
    let resolved = match (parent.map(std::fs::canonicalize), path.file_name()) {
        (Some(Ok(dir)), Some(file)) => Some(dir.join(file)),
        (None, Some(file)) => std::env::current_dir().ok().map(|dir| dir.join(file)),
        _ => None,
    };
    resolved
        .or_else(|| std::env::current_dir().ok().map(|dir| dir.join(path)))
        .map(|joined| {
            joined
                .components()
                .filter(|c| *c != Component::CurDir)
                .collect()
        })
        .unwrap_or_else(|| path.to_path_buf())
}

/// `--listen`: an IP address and a port.
fn parse_listen(raw: &str) -> Result<SocketAddr, String> {
    raw.trim()
        .parse()
        .map_err(|_| "expected IP:PORT, e.g. 127.0.0.1:4000, 0.0.0.0:4000 or [::]:4000".into())
}

/// `N/s`, `N/m` (also `N/sec`, `N/min`), or `off` / `0`.
fn parse_rate_limit(raw: &str) -> Result<RateLimit, String> {
    let trimmed = raw.trim();
    if trimmed.eq_ignore_ascii_case("off") || trimmed == "0" {
        return Ok(RateLimit::OFF);
    }
    let invalid = || format!("invalid rate {raw:?}: expected N/s or N/m (e.g. 100/s), or off");
    let (count, unit) = trimmed.split_once('/').ok_or_else(invalid)?;
    let per = match unit.trim() {
        "s" | "sec" | "second" => Duration::from_secs(1),
        "m" | "min" | "minute" => Duration::from_secs(60),
        _ => return Err(invalid()),
    };
    let requests: u32 = count.trim().parse().map_err(|_| invalid())?;
    if requests == 0 || requests > 1_000_000 {
        return Err(format!(
            "invalid rate {raw:?}: N must be from 1 to 1000000 (or off)"
        ));
    }
    Ok(RateLimit { requests, per })
}

/// One `--notify` value, or the `OVERDUE_NOTIFY` variable's several URLs, kept as
/// secrets until [`Config::settings`] parses them: clap would quote a refused value in
/// its error, and channel URLs carry tokens.
#[derive(Clone, PartialEq, Eq)]
pub struct NotifyUrls(Vec<Secret>);

impl std::fmt::Debug for NotifyUrls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "NotifyUrls({} URL(s))", self.0.len())
    }
}

/// URLs separated by white space; parsed into channels by [`Config::settings`].
fn parse_notify(raw: &str) -> Result<NotifyUrls, String> {
    Ok(NotifyUrls(
        raw.split_whitespace().map(Secret::new).collect(),
    ))
}

fn parse_secret(raw: &str) -> Result<Secret, String> {
    if raw.is_empty() {
        return Err("must not be empty".into());
    }
    Ok(Secret::new(raw))
}

/// The alert secret is checked here, so that a bad `whsec_` value stops the start
/// before anything is bound or opened.
fn parse_alert_secret(raw: &str) -> Result<Secret, String> {
    let secret = parse_secret(raw)?;
    Signer::new(secret.expose()).map_err(|e| e.to_string())?;
    Ok(secret)
}

/// A whole number from `min` to `max`; the refusal shows that range, not a type's
/// limits.
fn whole_number(raw: &str, min: u64, max: u64) -> Result<u64, String> {
    match raw.trim().parse::<u64>() {
        Ok(n) if (min..=max).contains(&n) => Ok(n),
        _ if max == u64::MAX => Err(format!("expected a whole number, at least {min}")),
        _ => Err(format!("expected a whole number from {min} to {max}")),
    }
}

/// `--max-services`: at least 1.
fn max_services(raw: &str) -> Result<u64, String> {
    whole_number(raw, 1, u64::MAX)
}

/// `--max-connections`: from 1 to 1000000.
fn max_connections(raw: &str) -> Result<u32, String> {
    whole_number(raw, 1, 1_000_000).map(|n| u32::try_from(n).unwrap_or(u32::MAX))
}

/// `--health-backlog-warn`, `--health-backlog-critical`: any count of alerts.
fn health_backlog(raw: &str) -> Result<u64, String> {
    whole_number(raw, 0, u64::MAX)
}

/// `--health-sink-failures`: at least 1; a count no webhook could reach counts as the
/// largest one kept.
fn health_sink_failures(raw: &str) -> Result<u32, String> {
    whole_number(raw, 1, u64::MAX).map(|n| u32::try_from(n).unwrap_or(u32::MAX))
}

fn parse_service_name(raw: &str) -> Result<String, String> {
    let name = raw.trim();
    if name.is_empty() || name.len() > 200 || name.chars().any(char::is_control) {
        return Err("expected 1-200 characters without control characters".into());
    }
    Ok(name.to_owned())
}

/// Durations accept the frequency grammar (`30s`, `1h30m`, `1D`), humantime forms
/// (`250ms`, `2days`) and a bare `0`.
pub fn parse_duration(raw: &str) -> Result<Duration, String> {
    let trimmed = raw.trim();
    if !trimmed.is_empty() && trimmed.bytes().all(|b| b == b'0') {
        return Ok(Duration::ZERO);
    }
    match parse_duration_secs(trimmed) {
        Ok(secs) => return Ok(Duration::from_secs(secs)),
        // humantime would read these as months and years; the grammar refuses them.
        Err(e) if e.contains("months and years") => {
            return Err(format!(
                "invalid duration {raw:?}: months and years are not accepted"
            ))
        }
        Err(_) => {}
    }
    humantime::parse_duration(trimmed).map_err(|_| {
        format!("invalid duration {raw:?}: expected e.g. 0, 250ms, 30s, 5m, 1h30m, 1D or 2W")
    })
}

fn parse_positive_duration(raw: &str) -> Result<Duration, String> {
    let d = parse_duration(raw)?;
    if d < Duration::from_millis(10) {
        return Err("must be at least 10ms".into());
    }
    Ok(d)
}

/// `--health-retention`: a number of hours (`24`, `0.5`), or a duration with a unit
/// (`90m`, `2D`, `30s`); at least one second.
fn health_retention(raw: &str) -> Result<Duration, String> {
    let trimmed = raw.trim();
    let retention = match trimmed.parse::<f64>() {
        Ok(hours) if hours.is_finite() && hours > 0.0 && hours <= 24.0 * 366.0 => {
            Duration::from_secs_f64(hours * 3600.0)
        }
        Ok(_) => {
            return Err(
                "expected a number of hours above 0 and at most 8784 (24, 0.5), or a duration of at least 1s (90m, 2D)"
                    .into(),
            )
        }
        Err(_) => parse_duration(trimmed).map_err(|_| {
            format!("invalid retention {raw:?}: expected hours (24, 0.5) or a duration (90m, 2D)")
        })?,
    };
    if retention < Duration::from_secs(1) {
        return Err("expected at least 1s: hours (24, 0.5) or a duration (90m, 2D)".into());
    }
    Ok(retention)
}

/// A percentage between 0 and 100.
fn health_percent(raw: &str) -> Result<f64, String> {
    match raw.trim().trim_end_matches('%').parse::<f64>() {
        Ok(p) if (0.0..=100.0).contains(&p) => Ok(p),
        _ => Err(format!(
            "invalid percentage {raw:?}: expected a number from 0 to 100"
        )),
    }
}

/// `--perf`: `on` or `off` (also true/false, yes/no, 1/0).
fn perf_switch(raw: &str) -> Result<bool, String> {
    perf_bool(raw).map_err(|_| format!("invalid value {raw:?}: expected on or off"))
}

/// A boolean option: true/false, on/off, yes/no or 1/0, in any case.
fn perf_bool(raw: &str) -> Result<bool, String> {
    match raw.trim().to_ascii_lowercase().as_str() {
        "true" | "on" | "yes" | "1" => Ok(true),
        "false" | "off" | "no" | "0" => Ok(false),
        _ => Err(format!("invalid value {raw:?}: expected true or false")),
    }
}

/// `--perf-retention`: whole seconds from 1s to 24h (a sub-window is 1/12 of it).
fn perf_retention(raw: &str) -> Result<Duration, String> {
    let d = parse_duration(raw)?;
    let max = crate::perf::MAX_RETENTION_SECS;
    if d.subsec_nanos() != 0 || d.as_secs() == 0 || d.as_secs() > max {
        return Err(format!(
            "must be a whole number of seconds from 1s to {}h, e.g. 1h",
            max / 3600
        ));
    }
    Ok(d)
}

/// `--slow-request`, `--slow-store`: from 0 to 1h.
fn perf_threshold(raw: &str) -> Result<Duration, String> {
    let d = parse_duration(raw)?;
    if d > Duration::from_secs(3600) {
        return Err("expected a duration from 0 to 1h, e.g. 250ms".into());
    }
    Ok(d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_accept_both_grammars_and_zero() {
        assert_eq!(parse_duration("0"), Ok(Duration::ZERO));
        assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(parse_duration("1D"), Ok(Duration::from_secs(86_400)));
        assert_eq!(parse_duration("1h30m"), Ok(Duration::from_secs(5_400)));
        assert!(parse_duration("soon").is_err());
        assert!(parse_duration("1M").is_err());
        assert!(parse_duration("1y").is_err());
        assert!(parse_positive_duration("0").is_err());
    }

    #[test]
    fn defaults_match_the_spec() {
        let c = Config::parse_from(["overdue"]);
        assert_eq!(
            c.store,
            StoreUrl::Sqlite("./overdue-data/overdue.db".into())
        );
        assert_eq!(c.realert_every, Duration::from_secs(60));
        assert_eq!(c.realert_max, Duration::from_secs(24 * 3600));
        assert_eq!(c.sweep_interval, Duration::from_secs(1));
        assert_eq!(c.startup_grace, Duration::from_secs(900));
        assert_eq!(c.max_services, 100_000);
        assert_eq!(c.max_clock_skew, Duration::from_secs(300));
        assert_eq!(c.service_name, "overdue");
        assert_eq!(c.max_connections, 10_000);
        assert!(c.rate_limit.is_off());
    }

    #[test]
    fn perf_flags_have_the_spec_defaults_and_accept_bare_booleans() {
        let c = Config::parse_from(["overdue"]);
        assert_eq!(
            c.settings().unwrap().perf,
            PerfSettings::default(),
            "defaults of SPEC §2"
        );
        let c = Config::parse_from([
            "overdue",
            "--timing-header",
            "--log-all-timings",
            "false",
            "--perf",
            "off",
            "--perf-retention",
            "90s",
            "--slow-request",
            "1s",
            "--slow-store",
            "5ms",
        ]);
        let s = c.settings().unwrap().perf;
        assert!(s.timing_header && !s.log_all_timings && !s.enabled);
        assert_eq!(s.retention, Duration::from_secs(90));
        assert_eq!(s.slow_request, Duration::from_secs(1));
        assert_eq!(s.slow_store, Duration::from_millis(5));
        let c = Config::parse_from(["overdue", "--timing-header", "true", "--perf", "on"]);
        assert!(c.timing_header && c.perf);
        for bad in [
            &["overdue", "--perf", "maybe"][..],
            &["overdue", "--perf-retention", "0"],
            &["overdue", "--perf-retention", "1500ms"],
            &["overdue", "--perf-retention", "2D"],
            &["overdue", "--timing-header", "sometimes"],
            &["overdue", "--slow-request", "soon"],
        ] {
            assert!(
                Config::try_parse_from(bad).is_err(),
                "{bad:?} should be refused"
            );
        }
    }

    #[test]
    fn defaults_are_valid_settings() {
        let settings = Config::parse_from(["overdue"]).settings().unwrap();
        assert_eq!(
            settings.backend.realert_every,
            Some(Duration::from_secs(60))
        );
        assert_eq!(settings.backend.realert_max, Duration::from_secs(24 * 3600));
        assert_eq!(settings.health.thresholds, Thresholds::default());
        assert_eq!(settings.health.evaluate_every, Duration::from_secs(5));
        assert!(settings.health.publishing.is_none());
        assert!(settings.channels.is_empty());
        assert!(!settings.http.serve.peer_address);
    }

    fn refusal(args: &[&str]) -> Option<ConfigError> {
        let config = Config::try_parse_from([&["overdue"], args].concat()).expect("parses");
        config.settings().err()
    }

    #[test]
    fn notify_urls_become_channels_after_the_alert_uri() {
        let settings = Config::parse_from([
            "overdue",
            "--alert-uri",
            "https://hooks.example/x",
            "--notify",
            "slack+https://hooks.slack.com/services/T/B/X",
            "--notify",
            "ntfy+https://ntfy.sh/a ntfy+https://ntfy.example/b",
        ])
        .settings()
        .expect("valid");
        let names: Vec<&str> = settings.channels.iter().map(Channel::name).collect();
        assert_eq!(
            names,
            vec![
                "webhook:hooks.example",
                "slack:hooks.slack.com",
                "ntfy:ntfy.sh",
                "ntfy:ntfy.example"
            ]
        );
    }

    #[test]
    fn a_bad_notify_url_is_refused_in_one_line_naming_notify_without_its_secret() {
        let err =
            refusal(&["--notify", "telegram+https://api.telegram.org/botS3CR3T"]).expect("refused");
        assert_eq!(err.option, "--notify");
        let line = err.to_string();
        assert!(
            line.starts_with("invalid value for --notify: channel URL 1:"),
            "{line}"
        );
        assert!(
            line.contains("slack+https://") && !line.contains("S3CR3T"),
            "{line}"
        );
        assert!(!line.contains('\n'), "{line}");
        let unknown = refusal(&["--notify", "gopher://x.example/S3CR3T"]).expect("refused");
        assert!(unknown.to_string().contains("gopher://"), "{unknown}");
        assert!(!unknown.to_string().contains("S3CR3T"), "{unknown}");
    }

    #[test]
    fn swapped_health_thresholds_are_refused_naming_the_critical_option() {
        let err = refusal(&[
            "--health-backlog-warn",
            "500",
            "--health-backlog-critical",
            "100",
        ]);
        assert_eq!(err.map(|e| e.option), Some("--health-backlog-critical"));
        let err = refusal(&[
            "--health-success-warn",
            "40",
            "--health-success-critical",
            "60",
        ]);
        assert_eq!(err.map(|e| e.option), Some("--health-success-critical"));
        assert!(refusal(&[
            "--health-backlog-warn",
            "100",
            "--health-backlog-critical",
            "100"
        ])
        .is_none());
        assert!(refusal(&[
            "--health-success-warn",
            "60",
            "--health-success-critical",
            "60"
        ])
        .is_none());
    }

    #[test]
    fn realert_max_is_at_least_realert_every_unless_reminders_are_off() {
        let err = refusal(&["--realert-every", "10m", "--realert-max", "5m"]).expect("refused");
        assert_eq!(err.option, "--realert-max");
        assert!(err.to_string().contains("--realert-every"), "{err}");
        assert!(refusal(&["--realert-every", "10m", "--realert-max", "10m"]).is_none());
        assert!(refusal(&["--realert-every", "0", "--realert-max", "0"]).is_none());
        let settings = Config::parse_from(["overdue", "--realert-max", "2h"])
            .settings()
            .unwrap();
        assert_eq!(settings.backend.realert_max, Duration::from_secs(7200));
    }

    #[test]
    fn numeric_refusals_show_the_accepted_range() {
        assert_eq!(
            max_services("0").unwrap_err(),
            "expected a whole number, at least 1"
        );
        assert!(!max_services("0")
            .unwrap_err()
            .contains(&u64::MAX.to_string()));
        assert_eq!(max_services(" 7 "), Ok(7));
        assert_eq!(
            max_connections("1000001").unwrap_err(),
            "expected a whole number from 1 to 1000000"
        );
        assert_eq!(max_connections("1000000"), Ok(1_000_000));
        assert!(health_sink_failures("0")
            .unwrap_err()
            .contains("at least 1"));
        assert!(health_backlog("many").unwrap_err().contains("whole number"));
        assert_eq!(health_backlog("0"), Ok(0));
        assert!(parse_listen("nonsense")
            .unwrap_err()
            .contains("127.0.0.1:4000"));
        assert_eq!(
            parse_listen("[::1]:80"),
            Ok(SocketAddr::new(std::net::Ipv6Addr::LOCALHOST.into(), 80))
        );
        let err = Config::try_parse_from(["overdue", "--max-services", "0"]).unwrap_err();
        let shown = err.to_string();
        assert!(
            shown.contains("--max-services") && shown.contains("at least 1"),
            "{shown}"
        );
    }

    #[test]
    fn a_relative_store_path_is_shown_from_the_working_directory() {
        let cwd = std::env::current_dir().unwrap();
        assert_eq!(
            absolute_store_path(Path::new("./not-there-yet/overdue.db")),
            cwd.join("not-there-yet").join("overdue.db")
        );
        assert_eq!(absolute_store_path(Path::new("x.db")), cwd.join("x.db"));
        let dir = tempfile::tempdir().unwrap();
        let inside = dir.path().join("x.db");
        let shown = absolute_store_path(&inside);
        assert!(
            shown.is_absolute() && shown.ends_with("x.db"),
            "{}",
            shown.display()
        );
    }

    #[test]
    fn rate_limits_are_per_second_or_per_minute_or_off() {
        let per_second = parse_rate_limit("100/s").unwrap();
        assert_eq!(per_second.requests, 100);
        assert_eq!(per_second.per, Duration::from_secs(1));
        assert_eq!(per_second.to_string(), "100/s");
        assert_eq!(
            parse_rate_limit(" 30 / min ").unwrap().per,
            Duration::from_secs(60)
        );
        assert!(parse_rate_limit("off").unwrap().is_off());
        assert!(parse_rate_limit("0").unwrap().is_off());
        for bad in [
            "",
            "100",
            "0/s",
            "-1/s",
            "1.5/s",
            "10/h",
            "x/s",
            "2000000/s",
        ] {
            assert!(parse_rate_limit(bad).is_err(), "{bad:?} should be refused");
        }
    }
}
