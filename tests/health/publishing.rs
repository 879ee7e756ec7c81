//! Publications to Redis, observed by a real subscriber on a real `redis-server`.

use std::time::Duration;

use serde_json::Value;

use crate::common::{spawn_app_with, Webhook};
use crate::redis_server::{RedisServer, Subscriber};
use crate::support::{health, ping_overdue, wait_for_health, Switchable, WAIT};

const ALERTS: &str = "health:system:alerts";

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

#[tokio::test]
async fn status_and_metrics_are_published_on_their_intervals_with_latest_and_history() {
    let redis = RedisServer::start().await;
    let status_channel = "health:service:billing:status";
    let metrics_channel = "health:service:billing:metrics";
    let sub = Subscriber::start(&redis, &[status_channel, metrics_channel]).await;
    let hook = Webhook::start().await;
    let app = spawn_app_with(&[
        "--alert-uri",
        &hook.url,
        "--service-name",
        "billing",
        "--health-redis",
        &redis.url(),
        "--health-publish-every",
        "500ms",
        "--health-metrics-every",
        "1s",
    ])
    .await;

    let statuses = sub.wait_count(status_channel, 3, WAIT).await;
    for message in &statuses {
        let doc = &message.body;
        assert_eq!(doc["service"], "billing", "{doc:#}");
        assert_eq!(doc["status"], "healthy", "{doc:#}");
        assert_eq!(doc["indicators"]["health_redis_reachable"], true, "{doc:#}");
        assert!(doc["alerts"].is_array() && doc["checked_at"].is_string());
    }
    let gap = statuses[2].at.duration_since(statuses[1].at);
    assert!(
        gap >= Duration::from_millis(300) && gap <= Duration::from_millis(2000),
        "status publications should come about 500 ms apart, got {gap:?}"
    );

    let mut conn = redis.connection().await;
    let latest: String = redis::cmd("GET")
        .arg("health:service:billing:latest")
        .query_async(&mut conn)
        .await
        .expect("GET latest");
    let latest: Value = serde_json::from_str(&latest).expect("latest is JSON");
    assert_eq!(latest["service"], "billing");
    assert_eq!(latest["indicators"]["alert_sink_configured"], true);
    let ttl: i64 = redis::cmd("TTL")
        .arg("health:service:billing:latest")
        .query_async(&mut conn)
        .await
        .expect("TTL");
    assert!(
        (86_390..=86_400).contains(&ttl),
        "latest expires after the default 24 h retention, TTL {ttl}"
    );

    let metrics = sub.wait_count(metrics_channel, 2, WAIT).await;
    for message in &metrics {
        let doc = &message.body;
        assert_eq!(doc["service"], "billing", "{doc:#}");
        assert_eq!(
            doc["indicators"].as_object().expect("indicators").len(),
            12,
            "{doc:#}"
        );
        // The performance summary of SPEC §7: the /metrics/performance document.
        let performance = &doc["performance"];
        assert!(performance["routes"].is_object(), "{doc:#}");
        assert!(performance["store"].is_object(), "{doc:#}");
        assert_eq!(performance["config"]["enabled"], true, "{doc:#}");
        assert!(doc["at"].as_str().unwrap().ends_with('Z'));
    }
    let history: Vec<(String, f64)> = redis::cmd("ZRANGE")
        .arg("health:service:billing:history")
        .arg(0)
        .arg(-1)
        .arg("WITHSCORES")
        .query_async(&mut conn)
        .await
        .expect("ZRANGE history");
    assert!(history.len() >= 2, "{history:?}");
    for (member, score) in &history {
        let doc: Value = serde_json::from_str(member).expect("history entries are JSON");
        assert_eq!(doc["at_unix_ms"].as_f64(), Some(*score), "score = unix ms");
        assert!(doc["indicators"].is_object());
    }
    assert!((now_ms() as f64 - history.last().unwrap().1).abs() < 10_000.0);

    let (_, doc) = health(&app).await;
    assert_eq!(doc["indicators"]["health_redis_reachable"], true);
    app.stop().await;
}

#[tokio::test]
async fn history_is_trimmed_to_a_short_retention() {
    let redis = RedisServer::start().await;
    let metrics_channel = "health:service:overdue:metrics";
    let sub = Subscriber::start(&redis, &[metrics_channel]).await;
    let hook = Webhook::start().await;
    let app = spawn_app_with(&[
        "--alert-uri",
        &hook.url,
        "--health-redis",
        &redis.url(),
        "--health-retention",
        "2s",
        "--health-publish-every",
        "500ms",
        "--health-metrics-every",
        "250ms",
    ])
    .await;
    let first = sub.wait_count(metrics_channel, 1, WAIT).await[0].body["at_unix_ms"]
        .as_i64()
        .expect("at_unix_ms");
    // Well past the retention of the first entries.
    sub.wait_count(metrics_channel, 16, WAIT).await;

    let mut conn = redis.connection().await;
    let history: Vec<(String, i64)> = redis::cmd("ZRANGE")
        .arg("health:service:overdue:history")
        .arg(0)
        .arg(-1)
        .arg("WITHSCORES")
        .query_async(&mut conn)
        .await
        .expect("ZRANGE history");
    let oldest_allowed = now_ms() - 2_000 - 1_000;
    assert!(
        history.len() >= 4 && history.len() <= 12,
        "about 2 s of 250 ms entries should remain, got {}",
        history.len()
    );
    assert!(
        history.iter().all(|(_, score)| *score >= oldest_allowed),
        "entries older than the retention remain: {:?}",
        history.iter().map(|(_, s)| s).collect::<Vec<_>>()
    );
    assert!(
        history.iter().all(|(_, score)| *score != first),
        "the first entry should have been trimmed"
    );
    let ttl: i64 = redis::cmd("TTL")
        .arg("health:service:overdue:latest")
        .query_async(&mut conn)
        .await
        .expect("TTL");
    assert!(
        (1..=2).contains(&ttl),
        "latest expires with the retention, TTL {ttl}"
    );
    app.stop().await;
}

#[tokio::test]
async fn raised_and_resolved_conditions_and_job_alerts_go_to_the_system_alerts_channel() {
    let redis = RedisServer::start().await;
    let sub = Subscriber::start(&redis, &[ALERTS]).await;
    let hook = Switchable::start().await;
    hook.fail(true);
    let app = spawn_app_with(&[
        "--alert-uri",
        &hook.hook.url,
        "--service-name",
        "sentinel",
        "--realert-every",
        "1h",
        "--health-redis",
        &redis.url(),
        "--health-publish-every",
        "500ms",
    ])
    .await;
    for name in ["a", "b", "c"] {
        ping_overdue(&app, name).await;
    }

    let job = sub
        .wait_for(ALERTS, |m| m["kind"] == "job" && m["name"] == "a", WAIT)
        .await
        .body;
    let keys: Vec<&String> = job.as_object().unwrap().keys().collect();
    assert_eq!(
        keys,
        [
            "source",
            "kind",
            "id",
            "event",
            "name",
            "frequency",
            "frequency_seconds",
            "grace_seconds",
            "last_ping",
            "last_ping_unix",
            "expected_by",
            "expected_by_unix",
            "overdue_seconds",
            "alert_count",
            "reason",
            "exit_code",
            "duration_seconds",
            "log",
            "sent_at",
            "monitor"
        ]
    );
    assert_eq!(job["source"], "sentinel");
    assert_eq!(job["event"], "down");
    assert_eq!(job["frequency"], "1m");
    assert_eq!(job["monitor"], "sentinel");
    // The job alert published is the one the webhook got.
    let delivered = hook.hook.wait_for(1, WAIT).await;
    assert!(delivered.iter().any(|r| r.body["id"] == job["id"]));

    let is = |state: &'static str, code: &'static str| {
        move |m: &Value| m["kind"] == "monitor" && m["state"] == state && m["code"] == code
    };
    let raised = sub
        .wait_for(ALERTS, is("raised", "alert_sink_unreachable"), WAIT)
        .await
        .body;
    let keys: Vec<&String> = raised.as_object().unwrap().keys().collect();
    assert_eq!(
        keys,
        ["source", "kind", "state", "severity", "code", "message", "at"]
    );
    assert_eq!(raised["source"], "sentinel");
    assert_eq!(raised["severity"], "critical");
    assert!(raised["at"].as_str().unwrap().ends_with('Z'));

    hook.fail(false);
    let resolved = sub
        .wait_for(ALERTS, is("resolved", "alert_sink_unreachable"), WAIT)
        .await
        .body;
    assert_eq!(resolved["severity"], "critical");
    wait_for_health(&app, "the sink reachable", |_, d| {
        d["indicators"]["alert_sink_reachable"] == true
    })
    .await;
    // Let any late publication arrive before counting.
    tokio::time::sleep(Duration::from_millis(600)).await;

    let messages = sub.on(ALERTS);
    let raised_count = messages
        .iter()
        .filter(|m| is("raised", "alert_sink_unreachable")(&m.body))
        .count();
    assert_eq!(raised_count, 1, "a raise is published once");
    let a_alerts = messages
        .iter()
        .filter(|m| m.body["kind"] == "job" && m.body["name"] == "a")
        .count();
    assert_eq!(
        a_alerts, 1,
        "a job alert is published once, however often it is retried"
    );
    app.stop().await;
}
