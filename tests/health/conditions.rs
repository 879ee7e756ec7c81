//! Each condition of SPEC §6 raised and resolved by driving the real app; the status and
//! the HTTP code follow.

use std::time::Duration;

use crate::common::{spawn_app_with, Reply, Webhook};
use crate::support::{
    closed_port_url, condition, delete, has, health, ping_overdue, wait_for_health, Switchable,
};

#[tokio::test]
async fn without_an_alert_uri_health_is_degraded_with_alert_uri_missing() {
    let app = spawn_app_with(&[]).await;
    let (status, doc) = health(&app).await;
    assert_eq!(status, 200, "degraded still answers 200: {doc:#}");
    assert_eq!(doc["status"], "degraded");
    let missing = condition(&doc, "alert_uri_missing").expect("alert_uri_missing");
    assert_eq!(missing["severity"], "warning");
    assert!(missing["message"]
        .as_str()
        .unwrap()
        .contains("PING_ALERT_URI"));
    let i = &doc["indicators"];
    assert_eq!(i["alert_sink_configured"], false);

    // Alerts go to the log; the webhook indicators still do not apply.
    ping_overdue(&app, "logged").await;
    let (_, doc) = wait_for_health(&app, "the job down", |_, d| {
        d["indicators"]["services_down"] == 1 && d["indicators"]["alert_backlog"] == 0
    })
    .await;
    let i = &doc["indicators"];
    assert!(i["alert_sink_reachable"].is_null(), "{i:#}");
    assert!(i["alert_sink_response_time_ms"].is_null(), "{i:#}");
    assert!(i["alert_delivery_success_rate_percent"].is_null(), "{i:#}");
    assert_eq!(doc["alerts"].as_array().unwrap().len(), 1, "{doc:#}");
    app.stop().await;
}

#[tokio::test]
async fn a_webhook_answering_500_is_unreachable_until_it_answers_200_again() {
    let hook = Switchable::start().await;
    hook.fail(true);
    let app = spawn_app_with(&["--alert-uri", &hook.hook.url, "--realert-every", "1h"]).await;
    for name in ["a", "b", "c"] {
        ping_overdue(&app, name).await;
    }
    let (status, doc) = wait_for_health(&app, "alert_sink_unreachable", |_, d| {
        has(d, "alert_sink_unreachable", "critical")
    })
    .await;
    assert_eq!(status, 503, "{doc:#}");
    assert_eq!(doc["status"], "unhealthy");
    let unreachable = condition(&doc, "alert_sink_unreachable").unwrap();
    assert_eq!(unreachable["threshold"], 3);
    assert!(unreachable["value"].as_u64().unwrap() >= 3, "{unreachable}");
    assert!(unreachable["message"]
        .as_str()
        .unwrap()
        .contains("deliveries to the alert webhook failed"));
    assert_eq!(doc["indicators"]["alert_sink_reachable"], false);

    // The retries (1 s later) are answered: the sink is reachable again.
    hook.fail(false);
    let (_, doc) = wait_for_health(&app, "alert_sink_unreachable resolved", |_, d| {
        condition(d, "alert_sink_unreachable").is_none()
    })
    .await;
    assert_eq!(doc["indicators"]["alert_sink_reachable"], true, "{doc:#}");
    app.stop().await;
}

#[tokio::test]
async fn a_low_success_rate_is_critical_then_a_warning_then_resolved() {
    // The first two attempts fail; every later one (the retries included) succeeds.
    let hook = Webhook::start_with(|n| Reply::status(if n < 2 { 500 } else { 200 })).await;
    let app = spawn_app_with(&[
        "--alert-uri",
        &hook.url,
        "--realert-every",
        "1h",
        // Only the success rate is under test here.
        "--health-sink-failures",
        "1000",
    ])
    .await;
    for name in ["f1", "f2"] {
        ping_overdue(&app, name).await;
    }
    let (status, doc) = wait_for_health(&app, "a critical success rate", |_, d| {
        has(d, "alert_success_rate_low", "critical")
    })
    .await;
    assert_eq!(status, 503);
    assert_eq!(doc["status"], "unhealthy");
    let low = condition(&doc, "alert_success_rate_low").unwrap();
    assert!(low["value"].as_f64().unwrap() < 50.0, "{low}");
    assert_eq!(low["threshold"], 50.0);
    assert_eq!(
        doc["indicators"]["alert_delivery_success_rate_percent"],
        low["value"]
    );

    // Two failures, then the retries of both succeed: 50 %, a warning.
    let (status, doc) = wait_for_health(&app, "a warning success rate", |_, d| {
        d["indicators"]["alert_delivery_success_rate_percent"] == 50.0
    })
    .await;
    assert_eq!(status, 200);
    assert_eq!(doc["status"], "degraded");
    assert!(has(&doc, "alert_success_rate_low", "warning"), "{doc:#}");
    assert_eq!(
        condition(&doc, "alert_success_rate_low").unwrap()["threshold"],
        80.0
    );

    // Six more successes: 8 of 10 is 80 %, no longer below the threshold.
    for n in 0..6 {
        ping_overdue(&app, &format!("ok{n}")).await;
    }
    let (status, doc) = wait_for_health(&app, "the success rate recovered", |_, d| {
        d["indicators"]["alert_delivery_success_rate_percent"] == 80.0
    })
    .await;
    assert_eq!(status, 200);
    assert_eq!(doc["status"], "healthy", "{doc:#}");
    assert!(condition(&doc, "alert_success_rate_low").is_none());
    app.stop().await;
}

#[tokio::test]
async fn a_slow_webhook_raises_alert_sink_slow_until_it_answers_quickly() {
    let hook = Switchable::start().await;
    hook.delay(Duration::from_millis(1500));
    let app = spawn_app_with(&[
        "--alert-uri",
        &hook.hook.url,
        "--realert-every",
        "1h",
        "--health-sink-slow",
        "1s",
    ])
    .await;
    ping_overdue(&app, "slow").await;
    let (status, doc) = wait_for_health(&app, "alert_sink_slow", |_, d| {
        has(d, "alert_sink_slow", "warning")
    })
    .await;
    assert_eq!(status, 200, "a slow sink is a warning: {doc:#}");
    assert_eq!(doc["status"], "degraded");
    let slow = condition(&doc, "alert_sink_slow").unwrap();
    assert_eq!(slow["threshold"], 1000.0);
    assert!(slow["value"].as_f64().unwrap() >= 1500.0, "{slow}");
    assert!(
        doc["indicators"]["alert_sink_response_time_ms"]
            .as_f64()
            .unwrap()
            >= 1500.0
    );

    hook.delay(Duration::ZERO);
    ping_overdue(&app, "fast").await;
    let (status, doc) = wait_for_health(&app, "alert_sink_slow resolved", |_, d| {
        condition(d, "alert_sink_slow").is_none()
    })
    .await;
    assert_eq!(status, 200);
    assert_eq!(doc["status"], "healthy", "{doc:#}");
    assert!(
        doc["indicators"]["alert_sink_response_time_ms"]
            .as_f64()
            .unwrap()
            < 1000.0
    );
    app.stop().await;
}

#[tokio::test]
async fn a_backlog_beyond_its_thresholds_warns_then_is_critical_and_resolves_when_drained() {
    let sink = closed_port_url();
    let app = spawn_app_with(&[
        "--alert-uri",
        &sink,
        "--realert-every",
        "1h",
        "--health-backlog-warn",
        "2",
        "--health-backlog-critical",
        "4",
    ])
    .await;
    for name in ["j1", "j2", "j3"] {
        ping_overdue(&app, name).await;
    }
    let (_, doc) = wait_for_health(&app, "a backlog of 3", |_, d| {
        d["indicators"]["alert_backlog"] == 3
    })
    .await;
    let large = condition(&doc, "alert_backlog_large").expect("alert_backlog_large");
    assert_eq!(large["severity"], "warning");
    assert_eq!(
        (large["value"].as_u64(), large["threshold"].as_u64()),
        (Some(3), Some(2))
    );

    tokio::time::sleep(Duration::from_millis(1100)).await;
    for name in ["j4", "j5"] {
        ping_overdue(&app, name).await;
    }
    let (status, doc) = wait_for_health(&app, "a backlog of 5", |_, d| {
        d["indicators"]["alert_backlog"] == 5
    })
    .await;
    assert_eq!(status, 503);
    assert_eq!(doc["status"], "unhealthy");
    let large = condition(&doc, "alert_backlog_large").unwrap();
    assert_eq!(large["severity"], "critical");
    assert_eq!(
        (large["value"].as_u64(), large["threshold"].as_u64()),
        (Some(5), Some(4))
    );
    // The oldest pending alert was raised over a second ago.
    assert!(
        doc["indicators"]["oldest_pending_alert_age_seconds"]
            .as_u64()
            .unwrap()
            >= 1,
        "{doc:#}"
    );

    // Deleting the jobs drops their undelivered alerts.
    for name in ["j1", "j2", "j3", "j4", "j5"] {
        delete(&app, name).await;
    }
    let (_, doc) = wait_for_health(&app, "an empty backlog", |_, d| {
        d["indicators"]["alert_backlog"] == 0
    })
    .await;
    assert!(condition(&doc, "alert_backlog_large").is_none(), "{doc:#}");
    assert_eq!(doc["indicators"]["oldest_pending_alert_age_seconds"], 0);
    app.stop().await;
}
