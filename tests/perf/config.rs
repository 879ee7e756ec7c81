//! Run-time configuration through `PUT /metrics/performance/config`: every change
//! applies from the next request; bad values are refused naming the field.

use std::time::Duration;

use serde_json::{json, Value};

use crate::common::{spawn_app, spawn_app_with, TestApp};
use crate::support::{metrics, performance, put_config};

async fn ping_count(app: &TestApp) -> u64 {
    performance(app).await["routes"]["GET /ping"]["count"]
        .as_u64()
        .unwrap_or(0)
}

async fn put_ok(app: &TestApp, body: &str) -> Value {
    let response = put_config(app, body).await;
    assert_eq!(response.status(), 200, "PUT {body}");
    response.json().await.expect("config json")
}

/// `app;dur=<ms>` with a non-negative number of milliseconds.
fn assert_server_timing(value: &str) {
    let ms = value
        .strip_prefix("app;dur=")
        .and_then(|v| v.parse::<f64>().ok())
        .unwrap_or_else(|| panic!("Server-Timing is {value:?}"));
    assert!((0.0..10_000.0).contains(&ms), "{value}");
}

#[tokio::test]
async fn the_timing_header_follows_the_config_from_the_next_request() {
    let app = spawn_app().await;
    let first = app.ping("a", "1h").await;
    assert!(
        first.headers().get("server-timing").is_none(),
        "off by default"
    );

    let config = put_ok(&app, r#"{"timing_header": true}"#).await;
    assert_eq!(config["timing_header"], true);
    for response in [app.ping("a", "1h").await, app.get("/nowhere").await] {
        let header = response
            .headers()
            .get("server-timing")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
            .expect("a Server-Timing header on every response");
        assert_server_timing(&header);
    }

    put_ok(&app, r#"{"timing_header": false}"#).await;
    let after = app.ping("a", "1h").await;
    assert!(after.headers().get("server-timing").is_none());
    app.stop().await;
}

#[tokio::test]
async fn the_timing_header_flag_adds_it_from_the_start() {
    let app = spawn_app_with(&["--timing-header"]).await;
    let response = app.ping("a", "1h").await;
    let header = response.headers().get("server-timing").expect("header");
    assert_server_timing(header.to_str().expect("ascii"));
    app.stop().await;
}

#[tokio::test]
async fn disabling_stops_all_timing_from_the_next_request() {
    let app = spawn_app_with(&["--timing-header"]).await;
    app.ping("a", "1h").await;
    assert_eq!(ping_count(&app).await, 1);

    let config = put_ok(&app, r#"{"enabled": false}"#).await;
    assert_eq!(config["enabled"], false);
    for _ in 0..3 {
        let response = app.ping("a", "1h").await;
        assert_eq!(response.status(), 200);
        assert!(
            response.headers().get("server-timing").is_none(),
            "no Server-Timing while disabled, even with timing_header"
        );
    }
    let perf = performance(&app).await;
    assert_eq!(
        perf["routes"]["GET /ping"]["count"], 1,
        "nothing timed: {perf}"
    );
    assert_eq!(
        perf["routes"]["GET /metrics/performance"]["count"], 1,
        "only the read before disabling"
    );
    assert_eq!(perf["config"]["enabled"], false);
    let m = metrics(&app).await;
    assert_eq!(
        m.get(
            "overdue_http_request_duration_seconds_count",
            &[("method", "GET"), ("route", "/ping")]
        ),
        Some(1.0)
    );
    assert_eq!(
        m.get("overdue_pings_total", &[]),
        Some(4.0),
        "pings are still counted"
    );

    put_ok(&app, r#"{"enabled": true}"#).await;
    let response = app.ping("a", "1h").await;
    assert!(response.headers().get("server-timing").is_some());
    assert_eq!(ping_count(&app).await, 2);
    app.stop().await;
}

#[tokio::test]
async fn a_new_retention_applies_to_the_next_request_and_ages_samples_out() {
    let app = spawn_app().await;
    for _ in 0..4 {
        app.ping("a", "1h").await;
    }
    assert_eq!(ping_count(&app).await, 4);

    let config = put_ok(&app, r#"{"retention_seconds": 1}"#).await;
    assert_eq!(config["retention_seconds"], 1);
    app.ping("a", "1h").await;
    assert_eq!(
        ping_count(&app).await,
        1,
        "new aggregates from the change on"
    );

    tokio::time::sleep(Duration::from_millis(1_300)).await;
    let perf = performance(&app).await;
    assert!(
        perf["routes"].get("GET /ping").is_none(),
        "a ping older than the retention has left the window: {perf}"
    );
    let m = metrics(&app).await;
    assert_eq!(
        m.get(
            "overdue_http_request_duration_seconds_count",
            &[("method", "GET"), ("route", "/ping")]
        ),
        Some(5.0),
        "Prometheus totals run since start"
    );
    app.stop().await;
}

#[tokio::test]
async fn slow_thresholds_and_log_all_timings_are_applied_and_returned() {
    let app = spawn_app().await;
    let config = put_ok(
        &app,
        r#"{"slow_request_ms": 0.5, "slow_store_ms": 20, "log_all_timings": true}"#,
    )
    .await;
    assert_eq!(
        config,
        json!({"enabled": true, "timing_header": false, "log_all_timings": true,
            "retention_seconds": 3600, "slow_request_ms": 0.5, "slow_store_ms": 20})
    );
    assert_eq!(performance(&app).await["config"], config);
    let get: Value = app
        .get("/metrics/performance/config")
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(get, config);
    app.stop().await;
}

#[tokio::test]
async fn bad_config_values_are_refused_with_400_naming_the_field() {
    let app = spawn_app().await;
    let before = performance(&app).await["config"].clone();
    for (body, field) in [
        (r#"{"enabled": "no"}"#, "enabled"),
        (r#"{"timing_header": 1}"#, "timing_header"),
        (r#"{"log_all_timings": "true"}"#, "log_all_timings"),
        (r#"{"retention_seconds": 0}"#, "retention_seconds"),
        (r#"{"retention_seconds": -5}"#, "retention_seconds"),
        (r#"{"retention_seconds": 2.5}"#, "retention_seconds"),
        (r#"{"retention_seconds": 99999999}"#, "retention_seconds"),
        (r#"{"retention_seconds": "1h"}"#, "retention_seconds"),
        (r#"{"slow_request_ms": -1}"#, "slow_request_ms"),
        (r#"{"slow_request_ms": null}"#, "slow_request_ms"),
        (r#"{"slow_store_ms": "fast"}"#, "slow_store_ms"),
        (r#"{"slow_store_ms": 1e12}"#, "slow_store_ms"),
        (r#"{"timing_header": true, "verbose": true}"#, "verbose"),
    ] {
        let response = put_config(&app, body).await;
        assert_eq!(response.status(), 400, "{body}");
        let message = response.text().await.expect("text");
        assert!(message.contains(field), "{body}: {message}");
    }
    for body in ["", "[]", "true", "{not json"] {
        assert_eq!(put_config(&app, body).await.status(), 400, "{body:?}");
    }
    let json_error = app
        .client
        .put(app.url("/metrics/performance/config"))
        .header("accept", "application/json")
        .body(r#"{"enabled": 3}"#)
        .send()
        .await
        .expect("put");
    assert_eq!(json_error.status(), 400);
    let body: Value = json_error.json().await.expect("json error");
    assert!(body["error"]
        .as_str()
        .is_some_and(|e| e.contains("enabled")));
    assert_eq!(performance(&app).await["config"], before, "nothing applied");
    app.stop().await;
}

#[tokio::test]
async fn perf_off_times_nothing_but_every_endpoint_answers() {
    let app = spawn_app_with(&["--perf", "off", "--timing-header"]).await;
    for _ in 0..3 {
        let response = app.ping("a", "1h").await;
        assert_eq!(response.status(), 200);
        assert!(response.headers().get("server-timing").is_none());
    }
    app.get("/nowhere").await;
    let perf = performance(&app).await;
    assert_eq!(perf["routes"], json!({}));
    assert_eq!(perf["store"], json!({}));
    assert_eq!(perf["alerts"], json!({}));
    assert_eq!(perf["config"]["enabled"], false);
    assert_eq!(perf["config"]["timing_header"], true);
    let m = metrics(&app).await;
    assert!(m.all("overdue_http_requests_total").is_empty());
    assert!(m
        .all("overdue_http_request_duration_seconds_count")
        .is_empty());
    assert_eq!(m.get("overdue_services", &[("status", "up")]), Some(1.0));
    assert_eq!(m.get("overdue_pings_total", &[]), Some(3.0));
    let config = put_ok(&app, r#"{"slow_store_ms": 5}"#).await;
    assert_eq!(config["enabled"], false);
    app.stop().await;
}
