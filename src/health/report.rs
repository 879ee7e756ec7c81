//! The `/health` document of SPEC §6 and the indicators it carries.

use serde::Serialize;
use serde_json::Value;

use super::conditions::{Condition, HealthStatus};

/// The indicators of SPEC §6, in its order; `None` is `null` (does not apply).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Indicators {
    pub store_reachable: bool,
    pub store_latency_ms: Option<f64>,
    pub alert_sink_configured: bool,
    pub alert_sink_reachable: Option<bool>,
    pub alert_sink_response_time_ms: Option<f64>,
    pub alert_delivery_success_rate_percent: Option<f64>,
    pub alert_backlog: u64,
    /// 0 when no alert is pending.
    pub oldest_pending_alert_age_seconds: u64,
    pub services_monitored: u64,
    pub services_down: u64,
    pub pings_per_hour: f64,
    pub health_redis_reachable: Option<bool>,
}

/// The `/health` document of SPEC §6.
#[derive(Debug, Clone, Serialize)]
pub struct HealthReport {
    pub status: HealthStatus,
    pub service: String,
    pub instance: String,
    pub version: &'static str,
    pub uptime_seconds: u64,
    pub checked_at: String,
    pub indicators: Indicators,
    pub alerts: Vec<Condition>,
    /// One entry per notification channel (name, backlog, success rate, reachable);
    /// the indicators above stay totals over all of them.
    pub channels: Value,
}

impl HealthReport {
    /// The document as JSON, for publishing.
    pub fn to_json(&self) -> Value {
        serde_json::to_value(self).unwrap_or(Value::Null)
    }
}
