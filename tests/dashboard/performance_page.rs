//! `GET /ui/performance` and `POST /ui/performance/config` (SPEC §15): the aggregates
//! of section 7 as tables, the charts of request rate and latency over
//! `--perf-retention`, and the configuration form.

use std::time::Duration;

use reqwest::header::ORIGIN;
use serde_json::Value;

use crate::health_page::svgs;
use crate::support::{csrf_in, Dash, TOKEN};

async fn config(dash: &Dash) -> Value {
    let response = dash
        .client
        .get(dash.app.url("/metrics/performance/config"))
        .bearer_auth(TOKEN)
        .send()
        .await
        .expect("request");
    assert_eq!(response.status(), 200);
    response.json().await.expect("json")
}

/// The form of the page as a browser submits it: every field, checkboxes after their
/// hidden `false`.
fn form<'a>(csrf: &'a str, retention: &'a str, slow_request: &'a str) -> Vec<(&'a str, &'a str)> {
    vec![
        ("csrf", csrf),
        ("enabled", "false"),
        ("enabled", "true"),
        ("timing_header", "false"),
        ("timing_header", "true"),
        ("log_all_timings", "false"),
        ("retention_seconds", retention),
        ("slow_request_ms", slow_request),
        ("slow_store_ms", "100"),
    ]
}

#[tokio::test]
async fn the_performance_page_shows_the_aggregates_by_route_store_operation_and_outcome() {
    let dash = Dash::start(&[]).await;
    for _ in 0..3 {
        dash.app.ping("backup", "1h").await;
    }
    let html = dash.page("/ui/performance").await;
    assert!(html.contains(r#"<table id="routes">"#), "{html}");
    let row = html
        .split("<tr data-series=\"GET /ping\">")
        .nth(1)
        .and_then(|rest| rest.split("</tr>").next())
        .expect("a row for GET /ping");
    assert!(
        row.starts_with("<th scope=\"row\">GET /ping</th><td>3</td>"),
        "{row}"
    );
    assert!(row.contains(" ms</td>"), "{row}");
    assert!(html.contains(r#"<table id="store">"#), "{html}");
    assert!(html.contains(r#"<tr data-series="upsert">"#), "{html}");
    assert!(
        html.contains(r#"<p id="alerts">No alert delivered in the window.</p>"#),
        "{html}"
    );
    assert!(!html.contains("style="), "no inline style under the CSP");
    dash.stop().await;
}

#[tokio::test]
async fn the_charts_have_points_once_samples_are_taken() {
    // 18 s over 360 samples: one every 50 ms.
    let dash = Dash::start(&["--perf-retention", "18s"]).await;
    let html = dash.page("/ui/performance").await;
    assert!(html.contains("No samples yet"), "nothing sampled at start");
    for _ in 0..10 {
        dash.app.ping("backup", "1h").await;
        tokio::time::sleep(Duration::from_millis(60)).await;
    }
    let html = dash.page("/ui/performance").await;
    let charts = svgs(&html);
    assert_eq!(charts.len(), 2, "request rate and latency");
    let (rate, latency) = (charts[0], charts[1]);
    assert!(
        rate.contains(r#"aria-label="Request rate over the last 18 s; requests: min "#),
        "{rate}"
    );
    assert!(rate.contains("<polyline"), "{rate}");
    assert!(latency.contains("median: min "), "{latency}");
    assert!(latency.contains("99th percentile: min "), "{latency}");
    assert!(
        latency.contains("<polyline") || latency.contains("<circle"),
        "{latency}"
    );
    dash.stop().await;
}

#[tokio::test]
async fn the_config_form_changes_the_configuration_as_the_json_route_does() {
    let dash = Dash::signed_in(&[]).await;
    let html = dash.page("/ui/performance").await;
    assert!(html.contains(r#"<form method="post" action="/ui/performance/config""#));
    assert!(html.contains(r#"<button type="submit">Save</button>"#));
    assert!(html.contains(r#"name="retention_seconds" type="number" min="1" max="86400" step="1" required value="3600""#), "{html}");
    let csrf = csrf_in(&html).expect("csrf");
    let response = dash
        .post_form("/ui/performance/config", &form(&csrf, "120", "12.5"))
        .await;
    assert_eq!(response.status(), 303);
    assert_eq!(response.headers()["location"], "/ui/performance");
    let now = config(&dash).await;
    assert_eq!(now["retention_seconds"], 120);
    assert_eq!(now["slow_request_ms"], 12.5);
    assert_eq!(now["timing_header"], true);
    assert_eq!(now["log_all_timings"], false);
    assert_eq!(now["enabled"], true);
    let html = dash.page("/ui/performance").await;
    assert!(
        html.contains(r#"name="timing_header" value="true" checked>"#),
        "{html}"
    );
    assert!(html.contains("required value=\"12.5\""), "{html}");

    // Unchecking a box (only the hidden false is sent) turns it off.
    let mut off = form(&csrf, "120", "12.5");
    off.retain(|pair| *pair != ("enabled", "true"));
    let response = dash.post_form("/ui/performance/config", &off).await;
    assert_eq!(response.status(), 303);
    assert_eq!(config(&dash).await["enabled"], false);
    let html = dash.page("/ui/performance").await;
    assert!(html.contains(r#"id="perf-off""#), "{html}");
    dash.stop().await;
}

#[tokio::test]
async fn a_value_out_of_range_is_refused_with_the_reason_and_changes_nothing() {
    let dash = Dash::signed_in(&[]).await;
    let csrf = dash.csrf("/ui/performance").await;
    let before = config(&dash).await;
    let response = dash
        .post_form("/ui/performance/config", &form(&csrf, "0", "12.5"))
        .await;
    assert_eq!(response.status(), 400);
    let html = response.text().await.expect("body");
    assert!(
        html.contains(r#"<p class="error" role="alert" id="config-error">Not saved: retention_seconds must be a whole number of seconds from 1 to 86400, got 0</p>"#),
        "{html}"
    );
    assert_eq!(config(&dash).await, before);
    dash.stop().await;
}

#[tokio::test]
async fn the_config_form_refuses_a_wrong_csrf_token_and_another_origin() {
    let dash = Dash::signed_in(&[]).await;
    let csrf = dash.csrf("/ui/performance").await;
    let before = config(&dash).await;

    let wrong = dash
        .post_form("/ui/performance/config", &form("not-the-token", "120", "1"))
        .await;
    assert_eq!(wrong.status(), 403);
    let missing = dash
        .post_form("/ui/performance/config", &form(&csrf, "120", "1")[1..])
        .await;
    assert_eq!(missing.status(), 403);

    let mut headers = dash.browser_headers();
    headers.insert(ORIGIN, "http://evil.example".parse().expect("origin"));
    let cross = dash
        .client
        .post(dash.app.url("/ui/performance/config"))
        .headers(headers)
        .form(&form(&csrf, "120", "1"))
        .send()
        .await
        .expect("request");
    assert_eq!(cross.status(), 403);

    let anonymous = dash
        .client
        .post(dash.app.url("/ui/performance/config"))
        .header(ORIGIN, dash.origin())
        .form(&form(&csrf, "120", "1"))
        .send()
        .await
        .expect("request");
    assert_eq!(anonymous.status(), 401, "no session");
    assert_eq!(config(&dash).await, before, "nothing changed");
    dash.stop().await;
}
