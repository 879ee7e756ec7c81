use crate::common::{spawn_app, spawn_app_with, Webhook};
use std::time::Duration;

#[tokio::test]
async fn a_first_ping_is_recorded_with_the_documented_body() {
    let app = spawn_app().await;
    let response = app.ping("backup", "1D").await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.text().await.unwrap(), "Successfully recorded ping for backup");
    let job = app.job("backup").await;
    assert_eq!(job["frequency"], "1D");
    assert_eq!(job["frequency_seconds"], 86400);
    app.stop().await;
}

#[tokio::test]
async fn an_overdue_job_alerts_the_webhook() {
    let hook = Webhook::start().await;
    let app = spawn_app_with(&["--alert-uri", &hook.url]).await;
    let old = (crate::common::now_unix() - 120).to_string();
    let r = app.ping_with(&[("name", "late"), ("frequency", "1m"), ("timestamp", &old)]).await;
    assert_eq!(r.status(), 200);
    let got = hook.wait_for(1, Duration::from_secs(10)).await;
    assert_eq!(got[0].body["event"], "down");
    assert_eq!(got[0].body["name"], "late");
    app.stop().await;
}
