//! `GET /ui/performance` and `POST /ui/performance/config` (SPEC §15): section 7's
//! aggregates per route, store operation and delivery outcome, charts of the request
//! rate and latency over `--perf-retention`, and the performance configuration as a
//! form that changes it exactly as `PUT /metrics/performance/config` does (the form is
//! turned into that route's JSON and handed to the same [`crate::perf::Perf`] method).

use askama::Template;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value};

use super::charts::{line_chart, number, span_words, Line, LineChart};
use super::layout::{layout, render, Nav, Page};
use super::viewer::Viewer;
use crate::domain::UnixTime;
use crate::http::{see_other, ApiError, AppState, Query};
use crate::timeline::{sampling_interval, CAPACITY};

/// Where the page is, and where a saved form returns.
const PAGE_PATH: &str = "/ui/performance";

/// One series' aggregates in words, as the tables show them.
struct AggregateRow {
    name: String,
    count: String,
    avg: String,
    median: String,
    p95: String,
    p99: String,
    min: String,
    max: String,
    total: String,
    last: String,
    last_at: String,
}

/// A table of aggregates: its id, its heading, the first column's heading.
struct AggregateTable {
    id: &'static str,
    heading: &'static str,
    key: &'static str,
    empty: &'static str,
    rows: Vec<AggregateRow>,
}

/// The configuration as the form shows it.
struct ConfigForm {
    enabled: bool,
    timing_header: bool,
    log_all_timings: bool,
    retention_seconds: String,
    slow_request_ms: String,
    slow_store_ms: String,
}

struct Chart {
    caption: &'static str,
    svg: String,
}

#[derive(Template)]
#[template(path = "performance.html")]
struct PerformanceView<'a> {
    csrf: &'a str,
    error: Option<String>,
    enabled: bool,
    retention: String,
    interval: String,
    charts: Vec<Chart>,
    tables: Vec<AggregateTable>,
    config: ConfigForm,
}

/// `GET /ui/performance`.
#[utoipa::path(
    get,
    path = "/ui/performance",
    tag = "dashboard",
    summary = "The performance page",
    responses(
        (status = 200, description = "The page", content_type = "text/html"),
        (status = 303, description = "Sign in first (with `--admin-token`)"),
    ),
)]
pub async fn page(State(app): State<AppState>, viewer: Viewer) -> Result<Page, ApiError> {
    performance_page(&app, &viewer, None)
}

/// `POST /ui/performance/config`: the form's fields, applied as the JSON route applies
/// them; 303 back to the page, or the page again with the refusal (400), nothing
/// changed. The session, the CSRF token and the origin are checked before this runs.
#[utoipa::path(
    post,
    path = "/ui/performance/config",
    tag = "dashboard",
    summary = "Change the performance settings from the dashboard",
    request_body(content = String, content_type = "application/x-www-form-urlencoded",
        description = "Any of `enabled`, `timing_header`, `log_all_timings` (`true`/`false`; the \
            last value of a field counts, so a hidden `false` before a checkbox reads as unchecked), \
            `retention_seconds`, `slow_request_ms`, `slow_store_ms`, and `csrf`"),
    responses(
        (status = 303, description = "Saved: back to the performance page"),
        (status = 400, description = "A field is out of range: the page again (HTML) with the reason; nothing changed"),
        (status = 401, description = "No session"),
        (status = 403, description = "A missing or wrong CSRF token, or sent from another origin"),
    ),
)]
pub async fn save(
    State(app): State<AppState>,
    viewer: Viewer,
    body: Bytes,
) -> Result<Response, ApiError> {
    let text = std::str::from_utf8(&body)
        .map_err(|_| ApiError::bad_request("the form body must be UTF-8"))?;
    let form = Query::parse(Some(text))?;
    let update = form_to_update(form.pairs());
    match app.perf.update_config(update.to_string().as_bytes()) {
        Ok(_) => Ok(see_other(PAGE_PATH)),
        Err(reason) => Ok(performance_page(&app, &viewer, Some(reason))?
            .with_status(StatusCode::BAD_REQUEST)
            .into_response()),
    }
}

/// The JSON body of `PUT /metrics/performance/config` a form stands for: every field
/// but `csrf`, the last value of each (a checkbox follows a hidden `false`), `true` and
/// `false` as booleans, numbers as numbers, anything else as text for the route to
/// refuse with its own words.
pub fn form_to_update<'a>(pairs: impl Iterator<Item = (&'a str, &'a str)>) -> Value {
    let mut object = Map::new();
    for (field, raw) in pairs {
        if field == "csrf" {
            continue;
        }
        let raw = raw.trim();
        let value = match raw {
            "true" | "on" => Value::Bool(true),
            "false" | "off" => Value::Bool(false),
            _ => raw
                .parse::<u64>()
                .map(Value::from)
                .or_else(|_| raw.parse::<f64>().map(Value::from))
                .unwrap_or_else(|_| Value::String(raw.to_owned())),
        };
        object.insert(field.to_owned(), value);
    }
    Value::Object(object)
}

fn performance_page(
    app: &AppState,
    viewer: &Viewer,
    error: Option<String>,
) -> Result<Page, ApiError> {
    let summary = app.perf.summary_json();
    let (retention, samples) = app.perf.history();
    let now_ms = UnixTime::now().millis();
    let chart = |title: &str, lines: Vec<Line>| {
        line_chart(&LineChart {
            title: title.to_owned(),
            now_ms,
            span: retention,
            lines,
        })
    };
    let line = |name: &str, unit: &str, read: fn(&crate::perf::PerfPoint) -> Option<f64>| Line {
        name: name.to_owned(),
        unit: unit.to_owned(),
        points: samples.iter().map(|s| (s.at_ms, read(&s.value))).collect(),
    };
    let charts = vec![
        Chart {
            caption: "Request rate, all routes",
            svg: chart(
                "Request rate",
                vec![line("requests", "per second", |p| {
                    Some(p.requests_per_second)
                })],
            ),
        },
        Chart {
            caption: "Latency, all routes",
            svg: chart(
                "Latency",
                vec![
                    line("median", "ms", |p| p.p50_ms),
                    line("99th percentile", "ms", |p| p.p99_ms),
                ],
            ),
        },
    ];
    let tables = vec![
        AggregateTable {
            id: "routes",
            heading: "Requests by route",
            key: "Route",
            empty: "No request timed in the window.",
            rows: aggregate_rows(&summary["routes"]),
        },
        AggregateTable {
            id: "store",
            heading: "Store operations",
            key: "Operation",
            empty: "No store operation timed in the window.",
            rows: aggregate_rows(&summary["store"]),
        },
        AggregateTable {
            id: "alerts",
            heading: "Alert deliveries by outcome",
            key: "Outcome",
            empty: "No alert delivered in the window.",
            rows: aggregate_rows(&summary["alerts"]),
        },
    ];
    let config = &summary["config"];
    let view = PerformanceView {
        csrf: viewer.csrf(),
        error,
        enabled: app.perf.enabled(),
        retention: span_words(retention),
        interval: span_words(sampling_interval(retention, CAPACITY)),
        charts,
        tables,
        config: ConfigForm {
            enabled: config["enabled"].as_bool().unwrap_or(true),
            timing_header: config["timing_header"].as_bool().unwrap_or(false),
            log_all_timings: config["log_all_timings"].as_bool().unwrap_or(false),
            retention_seconds: config["retention_seconds"].to_string(),
            slow_request_ms: config["slow_request_ms"].to_string(),
            slow_store_ms: config["slow_store_ms"].to_string(),
        },
    };
    layout("Performance", viewer, Nav::Performance, &render(&view)?)
}

/// The rows of one group of `/metrics/performance` (an object of series), in its order.
fn aggregate_rows(group: &Value) -> Vec<AggregateRow> {
    let Some(group) = group.as_object() else {
        return Vec::new();
    };
    let ms = |v: &Value| {
        v.as_f64()
            .map_or_else(|| "–".to_owned(), |v| format!("{} ms", number(v)))
    };
    group
        .iter()
        .map(|(name, s)| AggregateRow {
            name: name.clone(),
            count: s["count"].to_string(),
            avg: ms(&s["avg_ms"]),
            median: ms(&s["median_ms"]),
            p95: ms(&s["p95_ms"]),
            p99: ms(&s["p99_ms"]),
            min: ms(&s["min_ms"]),
            max: ms(&s["max_ms"]),
            total: ms(&s["total_ms"]),
            last: ms(&s["last_ms"]),
            last_at: s["last_at"].as_str().unwrap_or_default().to_owned(),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_form_becomes_the_json_of_the_config_route() {
        let pairs = [
            ("csrf", "abc"),
            ("enabled", "false"),
            ("enabled", "true"),
            ("timing_header", "false"),
            ("retention_seconds", "90"),
            ("slow_request_ms", "12.5"),
            ("slow_store_ms", " 7 "),
            ("bogus", "x"),
        ];
        assert_eq!(
            form_to_update(pairs.into_iter()),
            json!({
                "enabled": true,
                "timing_header": false,
                "retention_seconds": 90,
                "slow_request_ms": 12.5,
                "slow_store_ms": 7,
                "bogus": "x",
            })
        );
    }
}
