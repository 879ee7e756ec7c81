//! Routing by the URL's fragment, and a channel that hangs.

use std::time::{Duration, Instant};

use crate::support::{app_notifying, ping_now, ping_overdue, Recorder, WAIT};

#[tokio::test]
async fn the_fragment_limits_a_channel_to_matching_jobs_and_events() {
    let narrow = Recorder::start().await;
    let wide = Recorder::start().await;
    let app = app_notifying(&[
        format!(
            "ntfy+http://{}/narrow#jobs=backup-*,db-?&events=down",
            narrow.addr
        ),
        format!("ntfy+http://{}/wide", wide.addr),
    ])
    .await;
    ping_overdue(&app, "other-job").await;
    ping_overdue(&app, "backup-db").await;
    ping_overdue(&app, "db-1").await;
    ping_overdue(&app, "db-10").await;
    // Every down reaches the wide channel.
    wide.wait_for(4).await;
    ping_now(&app, "backup-db").await;
    wide.wait_for(5).await;
    // The last alert in the wide channel is the up; the narrow one had time to get it.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let titles: Vec<String> = narrow
        .received()
        .iter()
        .map(|r| r.header("title").to_owned())
        .collect();
    let mut sorted = titles.clone();
    sorted.sort();
    assert_eq!(
        sorted,
        vec!["backup-db is DOWN", "db-1 is DOWN"],
        "{titles:?}"
    );
    app.stop().await;
}

#[tokio::test]
async fn a_channel_that_hangs_does_not_delay_another_channel_of_the_same_alert() {
    // Answers after 60 s: longer than the attempt's 10 s timeout.
    let hanging = Recorder::start_with(|_| (200, Duration::from_secs(60))).await;
    let prompt = Recorder::start().await;
    let app = app_notifying(&[
        format!("slack+http://{}/hangs", hanging.addr),
        format!("discord+http://{}/prompt", prompt.addr),
    ])
    .await;
    let started = Instant::now();
    ping_overdue(&app, "hang-test").await;
    prompt.wait_for(1).await;
    let took = started.elapsed();
    assert!(
        took < Duration::from_secs(3),
        "the prompt channel waited {took:?} behind the hanging one"
    );
    hanging.wait_for(1).await;
    assert!(WAIT > took);
    app.stop().await;
}
