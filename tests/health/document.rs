//! The `/health` document: every field of SPEC §6, measured, with `null` where an
//! indicator does not apply.

use std::time::Duration;

use clap::Parser;
use overdue::{Config, RunError};
use serde_json::Value;
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;
use tokio_util::sync::CancellationToken;

use crate::common::{spawn_app_with, Webhook};
use crate::support::{health, ping_overdue, wait_for_health, WAIT};

const INDICATORS: [&str; 12] = [
    "store_reachable",
    "store_latency_ms",
    "alert_sink_configured",
    "alert_sink_reachable",
    "alert_sink_response_time_ms",
    "alert_delivery_success_rate_percent",
    "alert_backlog",
    "oldest_pending_alert_age_seconds",
    "services_monitored",
    "services_down",
    "pings_per_hour",
    "health_redis_reachable",
];

#[tokio::test]
async fn a_fresh_monitor_is_healthy_with_every_field_and_nulls_where_nothing_applies() {
    let hook = Webhook::start().await;
    let app = spawn_app_with(&["--alert-uri", &hook.url, "--service-name", "cron-watch"]).await;
    let (status, doc) = health(&app).await;
    assert_eq!(status, 200, "{doc:#}");

    let keys: Vec<&String> = doc.as_object().expect("an object").keys().collect();
    assert_eq!(
        keys,
        [
            "status",
            "service",
            "instance",
            "version",
            "uptime_seconds",
            "checked_at",
            "indicators",
            "alerts",
            "channels"
        ]
    );
    // SPEC §14: one entry per notification channel, here the webhook, not yet tried.
    let channels = doc["channels"].as_array().expect("channels");
    assert_eq!(channels.len(), 1, "{doc:#}");
    assert!(channels[0]["name"]
        .as_str()
        .expect("name")
        .starts_with("webhook:127.0.0.1:"));
    assert_eq!(channels[0]["backlog"], 0);
    assert_eq!(channels[0]["success_rate_percent"], Value::Null);
    assert_eq!(channels[0]["reachable"], true);
    assert_eq!(doc["status"], "healthy");
    assert_eq!(doc["service"], "cron-watch");
    assert!(!doc["instance"].as_str().expect("instance").is_empty());
    assert_eq!(doc["version"], env!("CARGO_PKG_VERSION"));
    assert!(doc["uptime_seconds"].as_u64().expect("uptime") < 60);
    let checked_at = doc["checked_at"].as_str().expect("checked_at");
    assert!(checked_at.ends_with('Z'), "{checked_at}");
    let checked = OffsetDateTime::parse(checked_at, &Rfc3339).expect("RFC 3339");
    let skew = (checked.unix_timestamp() - crate::common::now_unix()).abs();
    assert!(skew <= 2, "checked_at {checked_at} is not now");

    let indicators = doc["indicators"].as_object().expect("indicators");
    let names: Vec<&String> = indicators.keys().collect();
    assert_eq!(names, INDICATORS);
    let i = &doc["indicators"];
    assert_eq!(i["store_reachable"], true);
    assert!(i["store_latency_ms"].as_f64().expect("store latency") >= 0.0);
    assert_eq!(i["alert_sink_configured"], true);
    // Nothing delivered yet, and no health Redis: these do not apply.
    for name in [
        "alert_sink_reachable",
        "alert_sink_response_time_ms",
        "alert_delivery_success_rate_percent",
        "health_redis_reachable",
    ] {
        assert_eq!(i[name], Value::Null, "{name} should be null: {i:#}");
    }
    assert_eq!(i["alert_backlog"], 0);
    assert_eq!(i["oldest_pending_alert_age_seconds"], 0);
    assert_eq!(i["services_monitored"], 0);
    assert_eq!(i["services_down"], 0);
    assert_eq!(i["pings_per_hour"], 0.0);
    assert_eq!(doc["alerts"], Value::Array(Vec::new()));
    app.stop().await;
}

#[tokio::test]
async fn indicators_follow_jobs_pings_and_deliveries() {
    let hook = Webhook::start().await;
    let app = spawn_app_with(&["--alert-uri", &hook.url, "--realert-every", "1h"]).await;
    for name in ["a", "b"] {
        assert_eq!(app.ping(name, "1h").await.status(), 200);
    }
    assert_eq!(app.ping("a", "1h").await.status(), 200);
    ping_overdue(&app, "late").await;
    // A refused ping is not a ping.
    assert_eq!(app.ping_with(&[("name", "nofreq")]).await.status(), 400);
    hook.wait_for(1, WAIT).await;

    let (status, doc) = wait_for_health(&app, "the delivery", |_, d| {
        d["indicators"]["alert_sink_reachable"] == true
    })
    .await;
    assert_eq!(status, 200);
    let i = &doc["indicators"];
    assert_eq!(i["services_monitored"], 3, "{i:#}");
    assert_eq!(i["services_down"], 1, "{i:#}");
    assert_eq!(i["pings_per_hour"], 4.0, "{i:#}");
    assert!(
        i["alert_sink_response_time_ms"]
            .as_f64()
            .expect("response time")
            > 0.0
    );
    assert_eq!(i["alert_delivery_success_rate_percent"], 100.0);
    assert_eq!(i["alert_backlog"], 0);
    assert_eq!(doc["status"], "healthy", "{doc:#}");
    app.stop().await;
}

#[tokio::test]
async fn health_stays_open_when_admin_routes_need_a_token_and_names_no_job() {
    let hook = Webhook::start().await;
    let app = spawn_app_with(&["--alert-uri", &hook.url, "--admin-token", "s3cret"]).await;
    assert_eq!(app.ping("payroll-export", "1h").await.status(), 200);
    assert_eq!(app.get("/pings").await.status(), 401);
    let response = app.get("/health").await;
    assert_eq!(response.status(), 200);
    assert_eq!(
        response.headers()["content-type"],
        "application/json",
        "{:?}",
        response.headers()
    );
    let text = response.text().await.expect("body");
    assert!(!text.contains("payroll-export"), "{text}");
    app.stop().await;
}

#[tokio::test]
async fn inverted_thresholds_stop_the_start_naming_the_option() {
    for (flags, option) in [
        (
            [
                "--health-backlog-warn",
                "10",
                "--health-backlog-critical",
                "5",
            ],
            "--health-backlog-critical",
        ),
        (
            [
                "--health-success-warn",
                "40",
                "--health-success-critical",
                "60",
            ],
            "--health-success-critical",
        ),
    ] {
        let mut args = vec!["overdue", "--store", "memory://"];
        args.extend(flags);
        let config = Config::try_parse_from(args).expect("each flag parses");
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let result = tokio::time::timeout(
            Duration::from_secs(10),
            overdue::run(config, listener, CancellationToken::new()),
        )
        .await
        .expect("run returns at once");
        match result {
            Err(RunError::Config { option: named, .. }) => assert_eq!(named, option),
            other => panic!("expected a configuration error naming {option}, got {other:?}"),
        }
    }
}

#[test]
fn health_options_parse_their_documented_forms_and_refuse_the_rest() {
    let parse = |extra: &[&str]| {
        let mut args = vec!["overdue"];
        args.extend_from_slice(extra);
        Config::try_parse_from(args)
    };
    let defaults = parse(&[]).expect("defaults");
    assert_eq!(defaults.health_redis, None);
    assert_eq!(defaults.health_publish_every, Duration::from_secs(30));
    assert_eq!(defaults.health_metrics_every, Duration::from_secs(300));
    assert_eq!(defaults.health_retention, Duration::from_secs(24 * 3600));
    assert_eq!(defaults.health_backlog_warn, 1000);
    assert_eq!(defaults.health_backlog_critical, 10_000);
    assert_eq!(defaults.health_success_warn, 80.0);
    assert_eq!(defaults.health_success_critical, 50.0);
    assert_eq!(defaults.health_sink_slow, Duration::from_secs(10));
    assert_eq!(defaults.health_sink_failures, 3);

    let retention = |raw: &str| parse(&["--health-retention", raw]).map(|c| c.health_retention);
    assert_eq!(retention("1").unwrap(), Duration::from_secs(3600));
    assert_eq!(retention("0.5").unwrap(), Duration::from_secs(1800));
    assert_eq!(retention("90m").unwrap(), Duration::from_secs(5400));
    assert_eq!(retention("2s").unwrap(), Duration::from_secs(2));
    for bad in ["0", "-1", "soon", "500ms", "1M"] {
        assert!(
            retention(bad).is_err(),
            "--health-retention {bad} should be refused"
        );
    }
    assert!(parse(&["--health-success-warn", "101"]).is_err());
    assert!(parse(&["--health-sink-failures", "0"]).is_err());
    assert!(parse(&["--health-publish-every", "0"]).is_err());
    assert!(parse(&["--health-redis", "http://example.com"]).is_err());
    assert!(parse(&["--health-redis", "redis://127.0.0.1:6379/0"]).is_ok());
}
