//! Configuration: every option is a flag with an environment variable (the flag wins),
//! validated completely before anything starts.

use std::fmt;
use std::net::{Ipv4Addr, SocketAddr};
use std::time::Duration;

use clap::Parser;

use crate::backend::{StoreUrl, SyncMode};
use crate::domain::parse_duration_secs;

/// A heartbeat monitor: jobs ping it, and it alerts a webhook when they stop.
#[derive(Debug, Clone, Parser)]
#[command(name = "overdue", version, about)]
pub struct Config {
    /// Address to serve on [default: 127.0.0.1:4000; PORT alone also sets the port]
    #[arg(long, env = "OVERDUE_LISTEN", value_name = "ADDR")]
    pub listen: Option<SocketAddr>,

    /// Where state lives: sqlite://PATH, memory://
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
    #[arg(long, env = "PING_ALERT_URI", value_name = "URL", value_parser = parse_alert_uri, hide_env_values = true)]
    pub alert_uri: Option<AlertUri>,

    /// Signs alerts with Standard Webhooks headers (a whsec_ secret is base64-decoded)
    #[arg(long, env = "PING_ALERT_SECRET", value_name = "SECRET", value_parser = parse_alert_secret, hide_env_values = true)]
    pub alert_secret: Option<Secret>,

    /// Reminder interval while a job stays down; 0 alerts once
    #[arg(long, env = "OVERDUE_REALERT_EVERY", default_value = "60s", value_parser = parse_duration, value_name = "DURATION")]
    pub realert_every: Duration,

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
    #[arg(long, env = "OVERDUE_MAX_SERVICES", default_value = "100000", value_parser = clap::value_parser!(u64).range(1..), value_name = "N")]
    pub max_services: u64,

    /// How far in the future a ping's timestamp may be
    #[arg(long, env = "OVERDUE_MAX_CLOCK_SKEW", default_value = "5m", value_parser = parse_duration, value_name = "DURATION")]
    pub max_clock_skew: Duration,

    /// This monitor's own name, sent as "monitor" in alerts
    #[arg(long, env = "OVERDUE_SERVICE_NAME", default_value = "overdue", value_parser = parse_service_name, value_name = "NAME")]
    pub service_name: String,

    /// Log output format [default: pretty on a terminal, else json]; RUST_LOG sets levels
    #[arg(long, env = "OVERDUE_LOG_FORMAT", value_enum)]
    pub log_format: Option<LogFormat>,
    // ---- self-health options (SPEC §6) below this line ----

    // ---- performance options (SPEC §7) below this line ----
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    Pretty,
    Json,
}

/// The default listening address when neither `--listen` nor `PORT` says otherwise.
pub const DEFAULT_LISTEN: SocketAddr =
    SocketAddr::new(std::net::IpAddr::V4(Ipv4Addr::LOCALHOST), 4000);

impl Config {
    /// The address to bind: `--listen`, else `127.0.0.1:$PORT`, else the default.
    pub fn listen_addr(&self) -> Result<SocketAddr, String> {
        if let Some(addr) = self.listen {
            return Ok(addr);
        }
        match std::env::var("PORT") {
            Ok(port) => port
                .trim()
                .parse::<u16>()
                .map(|p| SocketAddr::new(DEFAULT_LISTEN.ip(), p))
                .map_err(|_| format!("invalid value {port:?} for PORT: expected a port number")),
            Err(_) => Ok(DEFAULT_LISTEN),
        }
    }

    /// A configuration for tests and embedding: in memory, on an ephemeral port.
    pub fn for_tests() -> Self {
        Self::parse_from(["overdue", "--store", "memory://", "--listen", "127.0.0.1:0"])
    }
}

/// A value that must not appear in logs or debug output.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

/// The alert webhook; its `Debug` and `Display` hide credentials and the query.
#[derive(Clone, PartialEq, Eq)]
pub struct AlertUri(reqwest::Url);

impl AlertUri {
    pub fn url(&self) -> &reqwest::Url {
        &self.0
    }
}

impl fmt::Display for AlertUri {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let url = &self.0;
        write!(f, "{}://{}", url.scheme(), url.host_str().unwrap_or(""))?;
        if let Some(port) = url.port() {
            write!(f, ":{port}")?;
        }
        f.write_str(url.path())
    }
}

impl fmt::Debug for AlertUri {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "AlertUri({self})")
    }
}

fn parse_alert_uri(raw: &str) -> Result<AlertUri, String> {
    let url = reqwest::Url::parse(raw.trim()).map_err(|e| format!("not a URL: {e}"))?;
    match url.scheme() {
        "http" | "https" if url.host_str().is_some() => Ok(AlertUri(url)),
        _ => Err("expected an http:// or https:// URL".into()),
    }
}

fn parse_secret(raw: &str) -> Result<Secret, String> {
    if raw.is_empty() {
        return Err("must not be empty".into());
    }
    Ok(Secret(raw.to_owned()))
}

/// The alert secret is checked here, so that a bad `whsec_` value stops the start
/// before anything is bound or opened.
fn parse_alert_secret(raw: &str) -> Result<Secret, String> {
    let secret = parse_secret(raw)?;
    crate::alerts::Signer::new(secret.expose()).map_err(|e| e.to_string())?;
    Ok(secret)
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
        assert_eq!(c.sweep_interval, Duration::from_secs(1));
        assert_eq!(c.startup_grace, Duration::from_secs(900));
        assert_eq!(c.max_services, 100_000);
        assert_eq!(c.max_clock_skew, Duration::from_secs(300));
        assert_eq!(c.service_name, "overdue");
    }

    #[test]
    fn secrets_and_webhook_credentials_stay_out_of_debug_output() {
        let uri = parse_alert_uri("https://user:pw@hooks.example/x?key=abc").unwrap();
        let shown = format!("{uri:?} {:?}", Secret::new("s3cret"));
        assert!(!shown.contains("pw") && !shown.contains("abc") && !shown.contains("s3cret"));
    }
}
