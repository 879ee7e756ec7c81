//! Per job, alerts go out in the order they were raised; jobs do not wait on each other.

use std::time::Duration;

use crate::common::{spawn_app_with, Reply, Webhook};
use crate::support::{id_of, of_job, ping_overdue, WAIT};

#[tokio::test]
async fn up_never_overtakes_a_retrying_down_and_other_jobs_are_not_held_up() {
    // The first request fails; everything after succeeds.
    let hook = Webhook::start_with(|n| Reply::status(if n == 0 { 500 } else { 200 })).await;
    let app = spawn_app_with(&["--alert-uri", &hook.url, "--realert-every", "1h"]).await;
    ping_overdue(&app, "job-a").await;
    let first = hook.wait_for(1, WAIT).await;
    assert_eq!(first[0].body["name"], "job-a");
    assert_eq!(first[0].body["event"], "down");

    // job-a recovers while its down alert waits for its retry; job-b goes down.
    assert_eq!(app.ping_with(&[("name", "job-a")]).await.status(), 200);
    ping_overdue(&app, "job-b").await;

    let got = hook.wait_for(4, WAIT).await;
    let a = of_job(&got, "job-a");
    let events: Vec<_> = a
        .iter()
        .map(|r| r.body["event"].as_str().unwrap_or("?"))
        .collect();
    assert_eq!(
        events,
        vec!["down", "down", "up"],
        "job-a's alerts in arrival order"
    );
    assert_eq!(id_of(a[0]), id_of(a[1]), "the second down is the retry");
    assert_ne!(id_of(a[2]), id_of(a[0]));

    let b = of_job(&got, "job-b");
    assert_eq!(b.len(), 1);
    assert_eq!(b[0].body["event"], "down");
    assert!(
        b[0].at < a[1].at,
        "job-b's alert waited for job-a's retry ({:?} after job-a's first attempt)",
        b[0].at.saturating_duration_since(a[0].at)
    );
    hook.expect_no_more_than(4, Duration::from_millis(500))
        .await;
    app.stop().await;
}
