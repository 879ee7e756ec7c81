//! Requests are timed by method and route template, with their statuses, and exported
//! as JSON and as Prometheus text.

use serde_json::Value;

use crate::common::{now_unix, spawn_app, spawn_app_with};
use crate::support::{assert_stat, metrics, performance};

#[tokio::test]
async fn requests_are_counted_by_route_template_with_every_field() {
    let app = spawn_app().await;
    for _ in 0..5 {
        assert_eq!(app.ping("backup", "1h").await.status(), 200);
    }
    for _ in 0..2 {
        let head = app
            .client
            .head(app.url("/ping?name=backup"))
            .send()
            .await
            .expect("head");
        assert_eq!(head.status(), 200);
    }
    let stale = app
        .ping_with(&[("name", "backup"), ("timestamp", "1000")])
        .await;
    assert_eq!(stale.status(), 409);
    app.job("backup").await;
    assert_eq!(app.get("/ping/nobody").await.status(), 404);
    let deleted = app
        .client
        .delete(app.url("/ping/backup"))
        .send()
        .await
        .expect("delete");
    assert_eq!(deleted.status(), 200);

    let perf = performance(&app).await;
    let routes = perf["routes"].as_object().expect("routes object");
    let count = |key: &str| {
        routes
            .get(key)
            .map_or(0, |r| r["count"].as_u64().unwrap_or(0))
    };
    assert_eq!(count("GET /ping"), 6, "5 recorded and 1 stale: {perf:#}");
    assert_eq!(count("HEAD /ping"), 2);
    assert_eq!(count("GET /ping/{name}"), 2, "found and not found");
    assert_eq!(count("DELETE /ping/{name}"), 1);
    assert!(
        routes
            .keys()
            .all(|k| !k.contains("backup") && !k.contains("nobody")),
        "keys are route templates, never raw paths: {:?}",
        routes.keys()
    );
    for (key, stat) in routes {
        assert_stat(stat, key);
    }
    assert_eq!(
        perf["config"],
        serde_json::json!({"enabled": true, "timing_header": false, "log_all_timings": false,
            "retention_seconds": 3600, "slow_request_ms": 250, "slow_store_ms": 100})
    );
    for section in ["store", "alerts"] {
        assert!(perf[section].is_object(), "{section} is an object: {perf}");
    }

    let m = metrics(&app).await;
    let requests = |method: &str, route: &str, status: &str| {
        m.get(
            "overdue_http_requests_total",
            &[("method", method), ("route", route), ("status", status)],
        )
        .unwrap_or(0.0)
    };
    assert_eq!(requests("GET", "/ping", "200"), 5.0);
    assert_eq!(requests("GET", "/ping", "409"), 1.0);
    assert_eq!(requests("HEAD", "/ping", "200"), 2.0);
    assert_eq!(requests("GET", "/ping/{name}", "200"), 1.0);
    assert_eq!(requests("GET", "/ping/{name}", "404"), 1.0);
    assert_eq!(requests("DELETE", "/ping/{name}", "200"), 1.0);
    assert_eq!(
        m.get("overdue_pings_total", &[]),
        Some(7.0),
        "GET and HEAD pings answered 200"
    );
    app.stop().await;
}

#[tokio::test]
async fn prometheus_output_is_valid_line_by_line_and_counts_every_request() {
    let app = spawn_app().await;
    const PINGS: usize = 25;
    for i in 0..PINGS {
        let name = format!("job-{}", i % 3);
        assert_eq!(app.ping(&name, "1h").await.status(), 200);
    }
    // One job down, to see both service gauges.
    let old = (now_unix() - 7200).to_string();
    let late = app
        .ping_with(&[("name", "late"), ("frequency", "1m"), ("timestamp", &old)])
        .await;
    assert_eq!(late.status(), 200);
    let m = metrics(&app).await;

    let count = m
        .get(
            "overdue_http_request_duration_seconds_count",
            &[("method", "GET"), ("route", "/ping")],
        )
        .expect("a histogram for GET /ping");
    assert_eq!(count, (PINGS + 1) as f64, "one sample per request sent");
    let sum = m
        .get(
            "overdue_http_request_duration_seconds_sum",
            &[("method", "GET"), ("route", "/ping")],
        )
        .expect("sum");
    assert!(sum > 0.0 && sum < 30.0, "sum {sum} s");
    assert_eq!(m.get("overdue_pings_total", &[]), Some((PINGS + 1) as f64));
    for (family, kind) in [
        ("overdue_pings_total", "counter"),
        ("overdue_http_requests_total", "counter"),
        ("overdue_http_request_duration_seconds", "histogram"),
        ("overdue_store_operation_duration_seconds", "histogram"),
        ("overdue_alert_deliveries_total", "counter"),
        ("overdue_alert_delivery_duration_seconds", "histogram"),
        ("overdue_services", "gauge"),
        ("overdue_alert_backlog", "gauge"),
        ("overdue_tokio_tasks", "gauge"),
    ] {
        assert_eq!(
            m.types.get(family).map(String::as_str),
            Some(kind),
            "# TYPE of {family}"
        );
    }
    // The runtime's live tasks: at least the sweeper, the dispatcher and this
    // request's connection.
    let tasks = m
        .get("overdue_tokio_tasks", &[])
        .expect("overdue_tokio_tasks");
    assert!(tasks >= 3.0, "overdue_tokio_tasks {tasks}");
    // The sweeper marks the late job down within a second.
    let mut down = 0.0;
    for _ in 0..50 {
        let m = metrics(&app).await;
        down = m
            .get("overdue_services", &[("status", "down")])
            .unwrap_or(-1.0);
        if down == 1.0 {
            assert_eq!(m.get("overdue_services", &[("status", "up")]), Some(3.0));
            assert!(m.get("overdue_alert_backlog", &[]).is_some());
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(down, 1.0, "overdue_services{{status=\"down\"}}");
    // The scrapes themselves are timed, under the template of /metrics.
    let m = metrics(&app).await;
    assert!(
        m.get(
            "overdue_http_requests_total",
            &[("method", "GET"), ("route", "/metrics"), ("status", "200")]
        )
        .is_some_and(|n| n >= 2.0),
        "scrapes are counted"
    );
    app.stop().await;
}

#[tokio::test]
async fn refusals_of_the_boundary_timeout_auth_and_router_are_timed_under_their_route() {
    let app = spawn_app_with(&["--admin-token", "s3cret"]).await;
    let long_query = format!("/ping?name=x&pad={}", "a".repeat(9 * 1024));
    let status = app.get(&long_query).await.status().as_u16();
    assert!(status == 414 || status == 400, "long query: {status}");
    let big = app
        .client
        .post(app.url("/ping?name=x&frequency=1m"))
        .body(vec![b'x'; 17 * 1024])
        .send()
        .await
        .expect("post");
    assert_eq!(big.status(), 413);
    let put = app.client.put(app.url("/ping")).send().await.expect("put");
    assert_eq!(put.status(), 405);
    assert_eq!(app.get("/pings").await.status(), 401);

    let token = "Bearer s3cret";
    let text = app
        .client
        .get(app.url("/metrics"))
        .header("authorization", token)
        .send()
        .await
        .expect("metrics")
        .text()
        .await
        .expect("text");
    let m = crate::support::Exposition::parse(&text);
    let requests = |method: &str, route: &str, status: &str| {
        m.get(
            "overdue_http_requests_total",
            &[("method", method), ("route", route), ("status", status)],
        )
    };
    assert_eq!(requests("GET", "/ping", &status.to_string()), Some(1.0));
    assert_eq!(requests("POST", "/ping", "413"), Some(1.0));
    assert_eq!(requests("PUT", "/ping", "405"), Some(1.0));
    assert_eq!(requests("GET", "/pings", "401"), Some(1.0));
    app.stop().await;
}

#[tokio::test]
async fn five_thousand_unmatched_paths_leave_one_series() {
    let app = spawn_app().await;
    for i in 0..5_000 {
        let response = app.get(&format!("/random/{i}/x{i}")).await;
        assert_eq!(response.status(), 404);
    }
    let perf = performance(&app).await;
    let routes = perf["routes"].as_object().expect("routes");
    assert_eq!(
        routes.keys().collect::<Vec<_>>(),
        vec!["GET unmatched"],
        "one series for every unmatched path"
    );
    assert_eq!(routes["GET unmatched"]["count"], 5_000);
    let m = metrics(&app).await;
    let unmatched: Vec<_> = m
        .all("overdue_http_requests_total")
        .into_iter()
        .filter(|s| s.labels.get("route").map(String::as_str) == Some("unmatched"))
        .collect();
    assert_eq!(unmatched.len(), 1, "{unmatched:?}");
    assert_eq!(unmatched[0].value, 5_000.0);
    app.stop().await;
}

#[tokio::test]
async fn the_metrics_routes_are_admin_routes() {
    let app = spawn_app_with(&["--admin-token", "s3cret"]).await;
    for path in [
        "/metrics",
        "/metrics/performance",
        "/metrics/performance/config",
    ] {
        assert_eq!(app.get(path).await.status(), 401, "{path} without a token");
        let wrong = app
            .client
            .get(app.url(path))
            .header("authorization", "Bearer nope")
            .send()
            .await
            .expect("get");
        assert_eq!(wrong.status(), 403, "{path} with a wrong token");
        let right = app
            .client
            .get(app.url(path))
            .header("authorization", "Bearer s3cret")
            .send()
            .await
            .expect("get");
        assert_eq!(right.status(), 200, "{path} with the token");
    }
    let put = app
        .client
        .put(app.url("/metrics/performance/config"))
        .body(r#"{"timing_header": true}"#)
        .send()
        .await
        .expect("put");
    assert_eq!(put.status(), 401);
    let perf: Value = app
        .client
        .get(app.url("/metrics/performance"))
        .header("authorization", "Bearer s3cret")
        .send()
        .await
        .expect("get")
        .json()
        .await
        .expect("json");
    assert_eq!(
        perf["config"]["timing_header"], false,
        "refused PUT changed nothing"
    );
    app.stop().await;
}
