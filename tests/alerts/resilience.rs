//! A slow webhook, or none at all, never gets in the way of pings or state.

use std::time::{Duration, Instant};

use crate::common::{spawn_app_with, Reply, Webhook};
use crate::support::{int, ping_overdue, unix_of, wait_for_status, WAIT};

#[tokio::test]
async fn a_slow_webhook_never_slows_pings() {
    let hook = Webhook::start_with(|n| Reply {
        status: 200,
        headers: Vec::new(),
        delay: if n == 0 {
            Duration::from_secs(3)
        } else {
            Duration::ZERO
        },
    })
    .await;
    let app = spawn_app_with(&["--alert-uri", &hook.url, "--realert-every", "1h"]).await;
    ping_overdue(&app, "slow").await;
    // The down alert is now in flight, and will be for 3 s.
    hook.wait_for(1, WAIT).await;

    let started = Instant::now();
    for i in 0..50 {
        let sent = Instant::now();
        let response = if i == 0 {
            // The down job itself recovers while its alert is on the wire.
            app.ping_with(&[("name", "slow")]).await
        } else {
            app.ping(&format!("fast-{i}"), "1h").await
        };
        assert_eq!(response.status(), 200, "ping {i}");
        let took = sent.elapsed();
        assert!(took < Duration::from_millis(500), "ping {i} took {took:?}");
    }
    assert!(
        started.elapsed() < Duration::from_millis(2500),
        "the pings should all fall inside the 3 s delivery; they took {:?}",
        started.elapsed()
    );
    assert_eq!(app.job("slow").await["status"], "up");

    let got = hook.wait_for(2, WAIT).await;
    assert_eq!(got[0].body["event"], "down");
    assert_eq!(got[1].body["event"], "up");
    assert_eq!(got[1].body["name"], "slow");
    app.stop().await;
}

#[tokio::test]
async fn without_an_alert_uri_jobs_still_go_down_and_recover() {
    // No --alert-uri (this assumes PING_ALERT_URI is not set in the test environment).
    let app = spawn_app_with(&["--realert-every", "1h"]).await;
    let ts = ping_overdue(&app, "unwatched").await;
    let job = wait_for_status(&app, "unwatched", "down", WAIT).await;
    assert_eq!(job["alerts_sent"], 1, "{job}");
    assert!(unix_of(&job["down_since"]) >= ts + 60, "{job}");

    assert_eq!(app.ping_with(&[("name", "unwatched")]).await.status(), 200);
    let job = app.job("unwatched").await;
    assert_eq!(job["status"], "up", "{job}");
    assert!(job["down_since"].is_null());
    assert_eq!(int(&job, "alerts_sent"), 2, "down and up: {job}");
    let live = app.get("/livez").await;
    assert_eq!(live.status(), 200);
    app.stop().await;
}
