//! The conditions of SPEC §6: their severities, the thresholds they are measured
//! against, and [`evaluate`], which finds the conditions a measurement meets.

use std::time::Duration;

use serde::Serialize;
use serde_json::{json, Value};

use super::millis;
use super::report::Indicators;

/// How bad a condition is: a warning degrades the service, a critical one makes it
/// unhealthy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Warning,
    Critical,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Warning => "warning",
            Severity::Critical => "critical",
        }
    }
}

/// The service's health as `/health` sums it up.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum HealthStatus {
    Healthy,
    Degraded,
    Unhealthy,
}

impl HealthStatus {
    /// Any critical condition makes the service unhealthy, any warning degraded.
    pub fn of(conditions: &[Condition]) -> Self {
        match conditions.iter().map(|c| c.severity).max() {
            Some(Severity::Critical) => HealthStatus::Unhealthy,
            Some(Severity::Warning) => HealthStatus::Degraded,
            None => HealthStatus::Healthy,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            HealthStatus::Healthy => "healthy",
            HealthStatus::Degraded => "degraded",
            HealthStatus::Unhealthy => "unhealthy",
        }
    }
}

/// A warning or critical condition, as `/health` lists it under `alerts`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Condition {
    pub severity: Severity,
    pub code: &'static str,
    pub message: String,
    /// The measured value that crossed the threshold; `null` for yes/no conditions.
    pub value: Value,
    pub threshold: Value,
}

impl Condition {
    fn flag(severity: Severity, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            severity,
            code,
            message: message.into(),
            value: Value::Null,
            threshold: Value::Null,
        }
    }
}

/// The thresholds of the conditions, one flag each (`--health-…`).
#[derive(Debug, Clone, PartialEq)]
pub struct Thresholds {
    pub backlog_warn: u64,
    pub backlog_critical: u64,
    pub success_warn: f64,
    pub success_critical: f64,
    pub sink_slow: Duration,
    pub sink_failures: u32,
}

impl Default for Thresholds {
    /// The SPEC's defaults.
    fn default() -> Self {
        Self {
            backlog_warn: 1000,
            backlog_critical: 10_000,
            success_warn: 80.0,
            success_critical: 50.0,
            sink_slow: Duration::from_secs(10),
            sink_failures: 3,
        }
    }
}

/// One evaluation's input: the indicators and the facts behind them.
#[derive(Debug, Clone)]
pub struct Measurement {
    pub indicators: Indicators,
    pub consecutive_failures: u32,
    /// Why the store round trip failed.
    pub store_error: Option<String>,
    /// Why the last health publication failed.
    pub redis_error: Option<String>,
}

/// The conditions `m` meets under `t`, critical ones first.
pub fn evaluate(m: &Measurement, t: &Thresholds) -> Vec<Condition> {
    let i = &m.indicators;
    let mut found = Vec::new();
    if !i.store_reachable {
        let why = m.store_error.as_deref().unwrap_or("no answer");
        found.push(Condition::flag(
            Severity::Critical,
            "store_unreachable",
            format!("the store does not answer: {why}"),
        ));
    }
    if i.alert_sink_configured {
        let failures = m.consecutive_failures;
        if failures >= t.sink_failures {
            found.push(Condition {
                severity: Severity::Critical,
                code: "alert_sink_unreachable",
                message: format!("last {failures} deliveries to the alert webhook failed"),
                value: json!(failures),
                threshold: json!(t.sink_failures),
            });
        }
        if let Some(rate) = i.alert_delivery_success_rate_percent {
            let crossed = if rate < t.success_critical {
                Some((Severity::Critical, t.success_critical))
            } else if rate < t.success_warn {
                Some((Severity::Warning, t.success_warn))
            } else {
                None
            };
            if let Some((severity, threshold)) = crossed {
                found.push(Condition {
                    severity,
                    code: "alert_success_rate_low",
                    message: format!(
                        "alert delivery success rate over the last hour is {rate:.1} % (below {threshold} %)"
                    ),
                    value: json!(rate),
                    threshold: json!(threshold),
                });
            }
        }
        if let Some(ms) = i.alert_sink_response_time_ms {
            let slow = millis(t.sink_slow);
            if ms > slow {
                found.push(Condition {
                    severity: Severity::Warning,
                    code: "alert_sink_slow",
                    message: format!(
                        "the alert webhook took {ms:.0} ms to answer (above {slow:.0} ms)"
                    ),
                    value: json!(ms),
                    threshold: json!(slow),
                });
            }
        }
    }
    let backlog = i.alert_backlog;
    let crossed = if backlog > t.backlog_critical {
        Some((Severity::Critical, t.backlog_critical))
    } else if backlog > t.backlog_warn {
        Some((Severity::Warning, t.backlog_warn))
    } else {
        None
    };
    if let Some((severity, threshold)) = crossed {
        found.push(Condition {
            severity,
            code: "alert_backlog_large",
            message: format!("{backlog} alerts are waiting for delivery (above {threshold})"),
            value: json!(backlog),
            threshold: json!(threshold),
        });
    }
    if !i.alert_sink_configured {
        found.push(Condition::flag(
            Severity::Warning,
            "alert_uri_missing",
            "PING_ALERT_URI is not set: alerts are only written to the log",
        ));
    }
    if i.health_redis_reachable == Some(false) {
        let why = m.redis_error.as_deref().unwrap_or("no answer");
        found.push(Condition::flag(
            Severity::Warning,
            "health_redis_unreachable",
            format!("the health Redis does not answer ({why}): publishing is paused"),
        ));
    }
    // Stable: within a severity, the order above.
    found.sort_by_key(|c| std::cmp::Reverse(c.severity));
    found
}
