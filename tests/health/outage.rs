//! A dead or frozen health Redis never delays a ping or an alert delivery; it shows as
//! the `health_redis_reachable` indicator and a warning, and publishing recovers by
//! itself when Redis returns.

use std::time::{Duration, Instant};

use crate::common::{spawn_app_with, TestApp, Webhook};
use crate::redis_server::{RedisServer, Subscriber};
use crate::support::{condition, has, ping_overdue, wait_for_health, WAIT};

async fn start(redis: &RedisServer, hook: &Webhook) -> TestApp {
    let app = spawn_app_with(&[
        "--alert-uri",
        &hook.url,
        "--realert-every",
        "1h",
        "--health-redis",
        &redis.url(),
        "--health-publish-every",
        "500ms",
        "--health-metrics-every",
        "1s",
    ])
    .await;
    let (_, doc) = wait_for_health(&app, "redis reachable", |_, d| {
        d["indicators"]["health_redis_reachable"] == true
    })
    .await;
    assert_eq!(doc["status"], "healthy", "{doc:#}");
    app
}

/// Pings `count` jobs; each must answer 200 within 500 ms.
async fn pings_stay_fast(app: &TestApp, prefix: &str, count: usize) {
    for i in 0..count {
        let sent = Instant::now();
        let response = app.ping(&format!("{prefix}-{i}"), "1h").await;
        let took = sent.elapsed();
        assert_eq!(response.status(), 200, "ping {prefix}-{i}");
        assert!(
            took < Duration::from_millis(500),
            "ping {prefix}-{i} took {took:?}"
        );
    }
}

/// An overdue job's alert reaches the webhook promptly.
async fn alerts_stay_prompt(app: &TestApp, hook: &Webhook, name: &str) {
    let before = hook.received().len();
    let sent = Instant::now();
    ping_overdue(app, name).await;
    let got = hook.wait_for(before + 1, WAIT).await;
    assert!(got.iter().any(|r| r.body["name"] == name));
    let took = sent.elapsed();
    assert!(
        took < Duration::from_secs(3),
        "the alert for {name} took {took:?}"
    );
}

#[tokio::test]
async fn a_dead_redis_never_slows_pings_and_is_a_warning_until_it_returns() {
    let mut redis = RedisServer::start().await;
    let hook = Webhook::start().await;
    let app = start(&redis, &hook).await;

    redis.stop();
    pings_stay_fast(&app, "while-dead", 30).await;
    alerts_stay_prompt(&app, &hook, "late-while-dead").await;
    let (status, doc) = wait_for_health(&app, "redis unreachable", |_, d| {
        d["indicators"]["health_redis_reachable"] == false
            && has(d, "health_redis_unreachable", "warning")
    })
    .await;
    assert_eq!(status, 200, "a warning only: {doc:#}");
    assert_eq!(doc["status"], "degraded");
    pings_stay_fast(&app, "still-dead", 10).await;

    redis.restart().await;
    let status_channel = "health:service:overdue:status";
    let sub = Subscriber::start(&redis, &[status_channel]).await;
    let (status, doc) = wait_for_health(&app, "redis back", |_, d| {
        d["indicators"]["health_redis_reachable"] == true
    })
    .await;
    assert_eq!(status, 200);
    assert!(
        condition(&doc, "health_redis_unreachable").is_none(),
        "{doc:#}"
    );
    // Publishing goes on without restarting overdue.
    let message = sub.wait_count(status_channel, 1, WAIT).await;
    assert_eq!(message[0].body["service"], "overdue");
    app.stop().await;
}

#[tokio::test]
async fn a_frozen_redis_never_slows_pings_or_alert_deliveries() {
    let redis = RedisServer::start().await;
    let hook = Webhook::start().await;
    let app = start(&redis, &hook).await;

    // SIGSTOP: connections stay open and nothing answers, the worst kind of slow.
    redis.signal("STOP");
    pings_stay_fast(&app, "while-frozen", 30).await;
    alerts_stay_prompt(&app, &hook, "late-while-frozen").await;
    let (status, doc) = wait_for_health(&app, "redis unreachable", |_, d| {
        has(d, "health_redis_unreachable", "warning")
    })
    .await;
    assert_eq!(status, 200);
    assert_eq!(doc["indicators"]["health_redis_reachable"], false);
    let started = Instant::now();
    let (status, _) = crate::support::health(&app).await;
    assert_eq!(status, 200);
    assert!(
        started.elapsed() < Duration::from_millis(500),
        "/health never waits on Redis"
    );

    redis.signal("CONT");
    wait_for_health(&app, "redis back", |_, d| {
        d["indicators"]["health_redis_reachable"] == true
            && condition(d, "health_redis_unreachable").is_none()
    })
    .await;
    app.stop().await;
}
