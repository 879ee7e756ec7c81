//! `GET /ui/health`: the `/health` document as a person reads it (SPEC §15): the
//! status in a word and a colour, the indicators, the conditions, the channels, and
//! charts of the status and the main indicators over `--health-retention`.

use askama::Template;
use axum::extract::State;
use serde_json::Value;

use super::charts::{
    dot, line_chart, number, span_words, status_band, Line, LineChart, StatusBand, StatusSample,
};
use super::layout::{layout, render, Nav, Page};
use super::viewer::Viewer;
use crate::domain::UnixTime;
use crate::health::{HealthPoint, HealthReport, Indicators, Severity};
use crate::http::{ApiError, AppState};
use crate::timeline::Sample;

/// The status words in the order the legend lists them, with their fill colours.
const STATUSES: [(&str, &str); 3] = [
    ("healthy", "#16a34a"),
    ("degraded", "#d97706"),
    ("unhealthy", "#dc2626"),
];

/// One indicator: what it is in words, its key in `/health`, its value in words.
struct IndicatorRow {
    label: &'static str,
    key: &'static str,
    value: String,
}

struct ConditionRow {
    severity: &'static str,
    dot: String,
    code: &'static str,
    message: String,
    value: String,
    threshold: String,
}

struct ChannelRow {
    name: String,
    backlog: String,
    success_rate: String,
    reachable: &'static str,
}

/// A chart and the caption under it.
struct Chart {
    caption: String,
    svg: String,
}

#[derive(Template)]
#[template(path = "health.html")]
struct HealthView {
    status: &'static str,
    status_dot: String,
    service: String,
    instance: String,
    version: &'static str,
    uptime: String,
    checked_at: String,
    indicators: Vec<IndicatorRow>,
    conditions: Vec<ConditionRow>,
    channels: Vec<ChannelRow>,
    retention: String,
    interval: String,
    charts: Vec<Chart>,
}

/// `GET /ui/health`.
#[utoipa::path(
    get,
    path = "/ui/health",
    tag = "dashboard",
    summary = "The health page",
    responses(
        (status = 200, description = "The page", content_type = "text/html"),
        (status = 303, description = "Sign in first (with `--admin-token`)"),
    ),
)]
pub async fn page(State(app): State<AppState>, viewer: Viewer) -> Result<Page, ApiError> {
    let report = app.health.report().await;
    let history = app.health.history();
    let samples = history.window(UnixTime::now().millis());
    let view = HealthView {
        status: report.status.as_str(),
        status_dot: dot(fill_of(report.status.as_str())),
        service: report.service.clone(),
        instance: report.instance.clone(),
        version: report.version,
        uptime: duration_words(report.uptime_seconds),
        checked_at: report.checked_at.clone(),
        indicators: indicator_rows(&report.indicators),
        conditions: condition_rows(&report),
        channels: channel_rows(&report.channels),
        retention: span_words(history.retention()),
        interval: span_words(history.interval()),
        charts: charts(&samples, history.retention(), UnixTime::now().millis()),
    };
    layout("Health", &viewer, Nav::Health, &render(&view)?)
}

/// The fill colour of a status word.
fn fill_of(status: &str) -> &'static str {
    STATUSES
        .iter()
        .find(|(word, _)| *word == status)
        .map_or("#888888", |(_, fill)| fill)
}

fn yes_no(value: bool) -> String {
    if value { "yes" } else { "no" }.to_owned()
}

/// A value that may not apply, in words.
fn or_not_applicable<T>(value: Option<T>, show: impl Fn(T) -> String) -> String {
    value.map_or_else(|| "does not apply".to_owned(), show)
}

/// Seconds as days, hours, minutes and seconds, the two largest units that apply.
pub fn duration_words(secs: u64) -> String {
    let parts = [
        (secs / 86_400, "d"),
        (secs % 86_400 / 3600, "h"),
        (secs % 3600 / 60, "min"),
        (secs % 60, "s"),
    ];
    let shown: Vec<String> = parts
        .iter()
        .skip_while(|(n, _)| *n == 0)
        .take(2)
        .filter(|(n, _)| *n > 0)
        .map(|(n, unit)| format!("{n} {unit}"))
        .collect();
    if shown.is_empty() {
        "0 s".to_owned()
    } else {
        shown.join(" ")
    }
}

fn indicator_rows(i: &Indicators) -> Vec<IndicatorRow> {
    let ms = |v: f64| format!("{} ms", number(v));
    let row = |label, key, value| IndicatorRow { label, key, value };
    vec![
        row(
            "Store reachable",
            "store_reachable",
            yes_no(i.store_reachable),
        ),
        row(
            "Store round trip",
            "store_latency_ms",
            or_not_applicable(i.store_latency_ms, ms),
        ),
        row(
            "Alert webhook configured",
            "alert_sink_configured",
            yes_no(i.alert_sink_configured),
        ),
        row(
            "Alert webhook reachable",
            "alert_sink_reachable",
            or_not_applicable(i.alert_sink_reachable, yes_no),
        ),
        row(
            "Alert webhook response time",
            "alert_sink_response_time_ms",
            or_not_applicable(i.alert_sink_response_time_ms, ms),
        ),
        row(
            "Delivery success rate (last hour)",
            "alert_delivery_success_rate_percent",
            or_not_applicable(i.alert_delivery_success_rate_percent, |v| {
                format!("{} %", number(v))
            }),
        ),
        row(
            "Alerts waiting",
            "alert_backlog",
            i.alert_backlog.to_string(),
        ),
        row(
            "Oldest waiting alert",
            "oldest_pending_alert_age_seconds",
            duration_words(i.oldest_pending_alert_age_seconds),
        ),
        row(
            "Jobs monitored",
            "services_monitored",
            i.services_monitored.to_string(),
        ),
        row("Jobs down", "services_down", i.services_down.to_string()),
        row("Pings per hour", "pings_per_hour", number(i.pings_per_hour)),
        row(
            "Health Redis reachable",
            "health_redis_reachable",
            or_not_applicable(i.health_redis_reachable, yes_no),
        ),
    ]
}

/// A JSON value of a condition in words: `null` is a yes/no condition.
fn value_words(value: &Value) -> String {
    match value {
        Value::Null => "–".to_owned(),
        Value::Number(n) => n.as_f64().map_or_else(|| n.to_string(), number),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn condition_rows(report: &HealthReport) -> Vec<ConditionRow> {
    report
        .alerts
        .iter()
        .map(|c| ConditionRow {
            severity: c.severity.as_str(),
            dot: dot(match c.severity {
                Severity::Warning => fill_of("degraded"),
                Severity::Critical => fill_of("unhealthy"),
            }),
            code: c.code,
            message: c.message.clone(),
            value: value_words(&c.value),
            threshold: value_words(&c.threshold),
        })
        .collect()
}

fn channel_rows(channels: &Value) -> Vec<ChannelRow> {
    let Some(channels) = channels.as_array() else {
        return Vec::new();
    };
    channels
        .iter()
        .map(|c| ChannelRow {
            name: c["name"].as_str().unwrap_or_default().to_owned(),
            backlog: value_words(&c["backlog"]),
            success_rate: c["success_rate_percent"].as_f64().map_or_else(
                || "no delivery yet".to_owned(),
                |v| format!("{} %", number(v)),
            ),
            reachable: match c["reachable"].as_bool() {
                Some(true) => "yes",
                Some(false) => "no",
                None => "–",
            },
        })
        .collect()
}

/// The status band and a chart per main indicator, over the retention.
fn charts(
    samples: &[Sample<HealthPoint>],
    retention: std::time::Duration,
    now_ms: i64,
) -> Vec<Chart> {
    let band = status_band(&StatusBand {
        title: "Health status".to_owned(),
        now_ms,
        span: retention,
        samples: samples
            .iter()
            .map(|s| StatusSample {
                at_ms: s.at_ms,
                status: s.value.status.as_str(),
            })
            .collect(),
        statuses: &STATUSES,
    });
    let line = |name: &str, unit: &str, read: &dyn Fn(&HealthPoint) -> Option<f64>| Line {
        name: name.to_owned(),
        unit: unit.to_owned(),
        points: samples.iter().map(|s| (s.at_ms, read(&s.value))).collect(),
    };
    let chart = |title: &str, lines: Vec<Line>| LineChart {
        title: title.to_owned(),
        now_ms,
        span: retention,
        lines,
    };
    let figures = [
        chart(
            "Store round trip",
            vec![line("store round trip", "ms", &|p| p.store_latency_ms)],
        ),
        chart(
            "Jobs",
            vec![
                line("monitored", "jobs", &|p| Some(p.services_monitored as f64)),
                line("down", "jobs", &|p| Some(p.services_down as f64)),
            ],
        ),
        chart(
            "Alerts waiting",
            vec![line("alerts waiting", "alerts", &|p| {
                Some(p.alert_backlog as f64)
            })],
        ),
        chart(
            "Pings per hour",
            vec![line("pings per hour", "pings/h", &|p| {
                Some(p.pings_per_hour)
            })],
        ),
        chart(
            "Delivery success rate",
            vec![line("success rate", "%", &|p| {
                p.alert_delivery_success_rate_percent
            })],
        ),
    ];
    let mut out = vec![Chart {
        caption: "Status".to_owned(),
        svg: band,
    }];
    out.extend(figures.iter().map(|c| Chart {
        caption: c.title.clone(),
        svg: line_chart(c),
    }));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_in_their_two_largest_units() {
        assert_eq!(duration_words(0), "0 s");
        assert_eq!(duration_words(59), "59 s");
        assert_eq!(duration_words(3600 + 120 + 5), "1 h 2 min");
        assert_eq!(duration_words(86_400 + 5), "1 d");
    }
}
