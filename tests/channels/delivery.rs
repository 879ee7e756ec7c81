//! One outbox entry per alert and channel (SPEC §14 "Delivery follows section 5 for
//! every channel"): a channel that hangs or fails holds back only its own entries, each
//! channel keeps its own order, entries survive a restart on SQLite, an entry whose
//! channel was removed is dropped, and each channel's delivery is a history event.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::common::{spawn_app_on, TestApp};
use crate::support::{app_notifying, ping_now, ping_overdue, Recorder, WAIT};

/// More alerts than a channel has delivery slots: with slots shared between channels,
/// the hanging channel would take them all.
const JOBS: usize = 150;

async fn events(app: &TestApp, name: &str) -> Vec<Value> {
    let page: Value = app
        .get(&format!("/ping/{name}/events?limit=100"))
        .await
        .json()
        .await
        .expect("events json");
    page["events"].as_array().cloned().unwrap_or_default()
}

/// The `delivery` events of `name` once there are `n` of them, oldest first.
async fn deliveries(app: &TestApp, name: &str, n: usize) -> Vec<Value> {
    let deadline = Instant::now() + WAIT;
    loop {
        let mut found: Vec<Value> = events(app, name)
            .await
            .into_iter()
            .filter(|e| e["kind"] == "delivery")
            .collect();
        if found.len() >= n || Instant::now() > deadline {
            found.reverse();
            return found;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Each channel's `backlog` in `GET /channels` once the delivered entries have left,
/// and the `/health` document.
async fn backlogs(app: &TestApp) -> (Vec<u64>, Value) {
    let deadline = Instant::now() + WAIT;
    loop {
        let list: Value = app.get("/channels").await.json().await.expect("json");
        let backlogs: Vec<u64> = list["channels"]
            .as_array()
            .expect("channels")
            .iter()
            .map(|c| c["backlog"].as_u64().expect("backlog"))
            .collect();
        if backlogs.last() == Some(&0) || Instant::now() > deadline {
            let health: Value = app.get("/health").await.json().await.expect("json");
            return (backlogs, health);
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_hanging_channel_never_holds_back_another_channels_alerts() {
    // Never answers within the attempt's 10 s.
    let hanging = Recorder::start_with(|_| (200, Duration::from_secs(60))).await;
    let prompt = Recorder::start().await;
    let app = app_notifying(&[
        format!("slack+http://{}/hangs", hanging.addr),
        format!("ntfy+http://{}/prompt", prompt.addr),
    ])
    .await;
    let started = Instant::now();
    for i in 0..JOBS {
        ping_overdue(&app, &format!("hang-{i}")).await;
    }
    prompt.wait_for(JOBS).await;
    let took = started.elapsed();
    assert!(
        took < Duration::from_secs(8),
        "{JOBS} alerts to the prompt channel took {took:?} beside a hanging one"
    );
    // The hanging channel got as many as it has slots, and no more while they hang.
    let stuck = hanging.received().len();
    assert!(
        (1..JOBS).contains(&stuck),
        "{stuck} reached the hanging channel"
    );
    // Its entries are its backlog; /health's indicators are the totals.
    let (channels, health) = backlogs(&app).await;
    assert_eq!(channels, [JOBS as u64, 0], "GET /channels");
    assert_eq!(health["channels"][0]["backlog"], JOBS as u64, "{health:#}");
    assert_eq!(health["channels"][1]["backlog"], 0, "{health:#}");
    assert_eq!(health["indicators"]["alert_backlog"], JOBS as u64);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_failing_channel_retries_its_alert_while_another_channel_gets_the_next_ones() {
    let failing = Recorder::start_with(|_| (503, Duration::ZERO)).await;
    let working = Recorder::start().await;
    let app = app_notifying(&[
        format!("ntfy+http://{}/failing", failing.addr),
        format!("ntfy+http://{}/working", working.addr),
    ])
    .await;
    ping_overdue(&app, "flaky").await;
    // The sweep raises the down before the next ping brings the job up.
    working.wait_for(1).await;
    ping_now(&app, "flaky").await;
    working.wait_for(2).await;
    let failed = app
        .ping_with(&[("name", "flaky"), ("state", "fail"), ("exit_code", "3")])
        .await;
    assert_eq!(failed.status(), 200);
    // Down, up, failed: in order on the working channel, while the failing one is
    // still retrying the first down.
    let got = working.wait_for(3).await;
    let titles: Vec<&str> = got.iter().map(|r| r.header("title")).collect();
    assert_eq!(
        titles,
        ["flaky is DOWN", "flaky is UP", "flaky FAILED"],
        "the working channel's order"
    );
    let tries = failing.wait_for(2).await;
    assert!(
        tries.iter().all(|r| r.header("title") == "flaky is DOWN"),
        "the failing channel gets only its first alert until it takes it"
    );
    // One delivery event per alert on the working channel, none yet for the failing one.
    let delivered = deliveries(&app, "flaky", 3).await;
    let working_name = format!("ntfy:{}", working.addr);
    assert_eq!(delivered.len(), 3, "{delivered:#?}");
    assert!(delivered
        .iter()
        .all(|e| e["channel"] == working_name.as_str() && e["outcome"] == "delivered"));
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn each_channel_keeps_its_entries_across_a_restart() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = format!("sqlite://{}", dir.path().join("o.db").display());
    let up = Arc::new(AtomicBool::new(false));
    let flag = up.clone();
    let late = Recorder::start_with(move |_| {
        let status = if flag.load(Ordering::SeqCst) {
            200
        } else {
            500
        };
        (status, Duration::ZERO)
    })
    .await;
    let early = Recorder::start().await;
    let urls = [
        format!("ntfy+http://{}/late", late.addr),
        format!("ntfy+http://{}/early", early.addr),
    ];
    let flags = [
        "--realert-every",
        "0",
        "--sweep-interval",
        "50ms",
        "--notify",
        &urls[0],
        "--notify",
        &urls[1],
    ];
    let app = spawn_app_on(&store, &flags).await;
    ping_overdue(&app, "restarted").await;
    early.wait_for(1).await;
    late.wait_for(1).await;
    app.stop().await;

    up.store(true, Ordering::SeqCst);
    let app = spawn_app_on(&store, &flags).await;
    // The late channel's entry was kept; the early channel's was done and stays done.
    let got = late.wait_for(2).await;
    assert_eq!(got[1].header("title"), "restarted is DOWN");
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(
        early.received().len(),
        1,
        "delivered once before the restart"
    );
    let delivered = deliveries(&app, "restarted", 2).await;
    let outcomes: Vec<(&str, &str)> = delivered
        .iter()
        .map(|e| {
            (
                e["channel"].as_str().unwrap_or_default(),
                e["outcome"].as_str().unwrap_or_default(),
            )
        })
        .collect();
    let late_name = format!("ntfy:{}", late.addr);
    let early_name = format!("ntfy:{}", early.addr);
    assert_eq!(
        outcomes,
        [
            (early_name.as_str(), "delivered"),
            (late_name.as_str(), "delivered")
        ]
    );
    assert_eq!(delivered[1]["attempts"], 2, "{delivered:#?}");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn an_entry_for_a_channel_removed_across_a_restart_is_dropped_with_a_gave_up_event() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = format!("sqlite://{}", dir.path().join("o.db").display());
    let removed = Recorder::start_with(|_| (500, Duration::ZERO)).await;
    let kept = Recorder::start().await;
    let removed_url = format!("ntfy+http://{}/removed", removed.addr);
    let kept_url = format!("ntfy+http://{}/kept", kept.addr);
    let base = ["--realert-every", "0", "--sweep-interval", "50ms"];
    let mut flags = base.to_vec();
    flags.extend(["--notify", &removed_url, "--notify", &kept_url]);
    let app = spawn_app_on(&store, &flags).await;
    ping_overdue(&app, "moved").await;
    kept.wait_for(1).await;
    removed.wait_for(1).await;
    app.stop().await;

    let mut flags = base.to_vec();
    flags.extend(["--notify", &kept_url]);
    let app = spawn_app_on(&store, &flags).await;
    let ended = deliveries(&app, "moved", 2).await;
    let removed_name = format!("ntfy:{}", removed.addr);
    let gone = ended
        .iter()
        .find(|e| e["channel"] == removed_name.as_str())
        .unwrap_or_else(|| panic!("no event for the removed channel: {ended:#?}"));
    assert_eq!(gone["outcome"], "gave_up");
    assert_eq!(gone["last_error"], "the channel is no longer configured");
    let count = removed.received().len();
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(
        removed.received().len(),
        count,
        "nothing more is sent there"
    );
    assert_eq!(kept.received().len(), 1);
    app.stop().await;
}
