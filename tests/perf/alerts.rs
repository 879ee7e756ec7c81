//! Every delivery attempt is timed by its outcome.

use std::time::Duration;

use crate::common::{now_unix, spawn_app_with, Reply, Webhook};
use crate::support::{assert_stat, metrics, performance};

#[tokio::test]
async fn deliveries_are_timed_by_outcome_after_a_failing_and_a_succeeding_webhook() {
    // The first attempt fails with a 500 (retried after 1 s), the second succeeds.
    let hook = Webhook::start_with(|n| Reply::status(if n == 0 { 500 } else { 200 })).await;
    let app = spawn_app_with(&["--alert-uri", &hook.url, "--sweep-interval", "50ms"]).await;
    let old = (now_unix() - 600).to_string();
    let response = app
        .ping_with(&[("name", "late"), ("frequency", "1m"), ("timestamp", &old)])
        .await;
    assert_eq!(response.status(), 200);
    hook.wait_for(2, Duration::from_secs(15)).await;

    // The observer hears of an attempt just after the webhook answered it.
    let mut perf = performance(&app).await;
    for _ in 0..50 {
        if perf["alerts"].get("delivered").is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
        perf = performance(&app).await;
    }
    let alerts = perf["alerts"].as_object().expect("alerts object");
    assert_eq!(alerts["retrying"]["count"], 1, "{perf:#}");
    assert_eq!(alerts["delivered"]["count"], 1);
    for (outcome, stat) in alerts {
        assert_stat(stat, outcome);
    }
    assert!(alerts.get("refused").is_none() && alerts.get("gave_up").is_none());

    let m = metrics(&app).await;
    for outcome in ["retrying", "delivered"] {
        assert_eq!(
            m.get("overdue_alert_deliveries_total", &[("outcome", outcome)]),
            Some(1.0),
            "{outcome}"
        );
        assert_eq!(
            m.get(
                "overdue_alert_delivery_duration_seconds_count",
                &[("outcome", outcome)]
            ),
            Some(1.0)
        );
    }
    assert_eq!(
        m.get("overdue_alert_deliveries_total", &[("outcome", "refused")]),
        Some(0.0)
    );
    app.stop().await;
}
