//! The fields of the performance JSON: parsing a `PUT /metrics/performance/config`
//! body field by field, and rendering thresholds and instants.

use serde_json::{json, Value};

use super::{millis, MAX_RETENTION_SECS, MAX_THRESHOLD_MS};

#[derive(Default)]
pub(super) struct ConfigUpdate {
    pub(super) enabled: Option<bool>,
    pub(super) timing_header: Option<bool>,
    pub(super) log_all: Option<bool>,
    pub(super) retention_secs: Option<u64>,
    pub(super) slow_request_ns: Option<u64>,
    pub(super) slow_store_ns: Option<u64>,
}

pub(super) fn bool_field(field: &str, value: &Value) -> Result<bool, String> {
    value
        .as_bool()
        .ok_or_else(|| format!("{field} must be true or false, got {value}"))
}

pub(super) fn retention_field(value: &Value) -> Result<u64, String> {
    value
        .as_u64()
        .filter(|s| (1..=MAX_RETENTION_SECS).contains(s))
        .ok_or_else(|| {
            format!(
                "retention_seconds must be a whole number of seconds from 1 to {MAX_RETENTION_SECS}, got {value}"
            )
        })
}

pub(super) fn threshold_field(field: &str, value: &Value) -> Result<u64, String> {
    value
        .as_f64()
        .filter(|ms| ms.is_finite() && (0.0..=MAX_THRESHOLD_MS).contains(ms))
        .map(|ms| (ms * 1e6).round() as u64)
        .ok_or_else(|| {
            format!("{field} must be a number of milliseconds from 0 to {MAX_THRESHOLD_MS}, got {value}")
        })
}

/// A threshold in milliseconds: an integer when it is whole.
pub(super) fn threshold_json(ns: u64) -> Value {
    if ns % 1_000_000 == 0 {
        json!(ns / 1_000_000)
    } else {
        json!(millis(ns))
    }
}

/// RFC 3339 in UTC with a `Z`, to the millisecond.
pub(super) fn rfc3339_micros(unix_us: i64) -> String {
    let nanos = i128::from(unix_us) * 1000;
    time::OffsetDateTime::from_unix_timestamp_nanos(nanos)
        .ok()
        .and_then(|t| {
            t.format(time::macros::format_description!(
                "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z"
            ))
            .ok()
        })
        .unwrap_or_default()
}
