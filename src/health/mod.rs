//! Self-health (SPEC §6): measured indicators, warning and critical conditions against
//! thresholds, the `/health` document, and publications to Redis channels.
//!
//! - [`hour_counters`] holds the sliding-hour counters: pings per hour (lock-free, on the ping
//!   path) and the webhook's attempts, successes and last response.
//! - [`conditions`] holds the conditions, their thresholds and [`evaluate`].
//! - [`report`] holds the `/health` document and its indicators.
//! - [`history`] keeps the status and main indicators sampled over the retention, in a
//!   ring of fixed size, for the dashboard's chart.
//! - [`monitor`] measures the indicators, evaluates the conditions, and notices when a
//!   condition is raised or resolved (logged once, queued for publishing).
//! - [`publisher`] owns the health Redis connection: status, metrics, history and the
//!   system alerts channel. It runs on its own task and is fed through a bounded queue,
//!   so a dead or slow Redis never touches a ping or an alert delivery.

pub mod conditions;
pub mod history;
pub mod hour_counters;
pub mod monitor;
pub mod publisher;
pub mod report;

use std::fmt;
use std::time::Duration;

pub use conditions::{evaluate, Condition, HealthStatus, Measurement, Severity, Thresholds};
pub use history::{HealthHistory, HealthPoint};
pub use hour_counters::{DeliveryResult, HourCounter, SinkSnapshot, SinkStats};
pub use monitor::{ChannelSummary, HealthMonitor, Settings};
pub use publisher::{channel, EventQueue, PerformanceSummary, PublishSettings, Publisher};
pub use report::{HealthReport, Indicators};

use crate::redis_target::{Connector, RedisTarget};

/// The channel every monitor's conditions and job alerts go to.
pub const SYSTEM_ALERTS_CHANNEL: &str = "health:system:alerts";

/// `--health-redis`: a Redis URL as [`RedisTarget`] reads it (TLS files, ACL
/// credentials). `Debug` and `Display` hide the password.
#[derive(Clone, PartialEq, Eq)]
pub struct RedisUrl(RedisTarget);

impl RedisUrl {
    /// Accepts `redis://`, `rediss://` (with the parameters of TLS) and
    /// `redis+sentinel://` URLs.
    pub fn parse(raw: &str) -> Result<Self, String> {
        RedisTarget::parse(raw, &[]).map(Self)
    }

    /// How clients for this Redis are made; they connect lazily.
    pub fn connector(&self) -> redis::RedisResult<Connector> {
        self.0.connector()
    }
}

impl fmt::Display for RedisUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}

impl fmt::Debug for RedisUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "RedisUrl({self})")
    }
}

/// The name this instance reports in health documents: `HOSTNAME`, else the kernel's
/// host name, else `/etc/hostname`, else `unknown`.
pub fn instance_name() -> String {
    let files = ["/proc/sys/kernel/hostname", "/etc/hostname"]
        .into_iter()
        .filter_map(|path| std::fs::read_to_string(path).ok());
    std::env::var("HOSTNAME")
        .ok()
        .into_iter()
        .chain(files)
        .map(|name| name.trim().to_owned())
        .find(|name| !name.is_empty())
        .unwrap_or_else(|| "unknown".to_owned())
}

/// Milliseconds as a float with microsecond precision, as the indicators show them.
fn millis(d: Duration) -> f64 {
    (d.as_secs_f64() * 1e6).round() / 1e3
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redis_urls_hide_their_password() {
        let url = RedisUrl::parse("redis://user:s3cret@cache.internal:6380/2").unwrap();
        let shown = format!("{url} {url:?}");
        assert!(!shown.contains("s3cret"), "{shown}");
        assert!(shown.contains("cache.internal:6380"), "{shown}");
        assert!(RedisUrl::parse("http://example.com").is_err());
    }

    #[test]
    fn the_instance_has_a_name() {
        assert!(!instance_name().is_empty());
    }
}
