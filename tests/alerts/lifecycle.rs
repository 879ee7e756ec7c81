//! When alerts are raised: `down` after the deadline, reminders while down, `up` on
//! recovery, nothing once a job is deleted.

use std::collections::HashSet;
use std::time::{Duration, Instant, SystemTime};

use crate::common::{now_unix, spawn_app_with, Reply, Webhook};
use crate::support::{
    align_to_millis_into_second, arrival_unix, gap, id_of, int, of_job, ping_overdue, unix_of,
    wait_for_alert, WAIT,
};

#[tokio::test]
async fn a_down_job_is_reminded_then_announced_up_when_it_pings_again() {
    let hook = Webhook::start().await;
    let app = spawn_app_with(&["--alert-uri", &hook.url, "--realert-every", "2s"]).await;
    let pinged_at = now_unix();
    let ts = ping_overdue(&app, "nightly").await;
    let deadline = ts + 60;

    let got = hook.wait_for(1, WAIT).await;
    let after_down = now_unix();
    let down = &got[0].body;
    assert_eq!(down["event"], "down");
    assert_eq!(down["name"], "nightly");
    assert_eq!(down["alert_count"], 1);
    assert_eq!(down["expected_by_unix"], deadline);
    assert_eq!(down["monitor"], "overdue", "the default --service-name");
    let overdue_1 = int(down, "overdue_seconds");
    assert!(
        (pinged_at - deadline..=after_down - deadline).contains(&overdue_1),
        "down overdue_seconds {overdue_1}: the deadline passed {} s before the ping",
        pinged_at - deadline
    );
    let job = app.job("nightly").await;
    assert_eq!(job["status"], "down", "{job}");
    let down_since = unix_of(&job["down_since"]);
    assert!(
        (deadline..=after_down).contains(&down_since),
        "down_since {down_since} should lie between the deadline {deadline} and now"
    );
    assert_eq!(job["alerts_sent"], 1, "{job}");

    let got = hook.wait_for(2, WAIT).await;
    let reminder = &got[1].body;
    assert_eq!(reminder["event"], "down");
    assert_eq!(reminder["name"], "nightly");
    assert_eq!(reminder["alert_count"], 2);
    assert_eq!(reminder["expected_by_unix"], deadline);
    assert_ne!(id_of(&got[1]), id_of(&got[0]), "a reminder is a new alert");
    let overdue_2 = int(reminder, "overdue_seconds");
    assert!(
        overdue_2 > overdue_1,
        "overdue_seconds grows: {overdue_1} then {overdue_2}"
    );
    assert!(
        gap(&got[0], &got[1]) >= Duration::from_millis(900),
        "reminder only {:?} after the down alert with --realert-every 2s",
        gap(&got[0], &got[1])
    );
    let job = app.job("nightly").await;
    assert_eq!(job["status"], "down");
    assert_eq!(
        unix_of(&job["down_since"]),
        down_since,
        "down_since stays put"
    );
    assert!(int(&job, "alerts_sent") >= 2, "{job}");

    let before = now_unix();
    let response = app.ping_with(&[("name", "nightly")]).await;
    assert_eq!(response.status(), 200);
    let after = now_unix();
    let job = app.job("nightly").await;
    assert_eq!(job["status"], "up", "{job}");
    assert!(job["down_since"].is_null(), "{job}");
    assert!((before..=after).contains(&int(&job, "last_ping_unix")));

    let up = wait_for_alert(&hook, |r| r.body["event"] == "up", WAIT).await;
    assert_eq!(up.body["name"], "nightly");
    assert_eq!(up.body["monitor"], "overdue");
    let was_down = int(&up.body, "overdue_seconds");
    assert!(
        (before - deadline - 1..=after - deadline + 1).contains(&was_down),
        "up overdue_seconds {was_down} should be how long it was down: {} s since the deadline",
        before - deadline
    );

    // Recovered: no more reminders, and `up` was the last word.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let all = hook.received();
    let later: Vec<_> = all
        .iter()
        .filter(|r| r.at > up.at)
        .map(|r| &r.body)
        .collect();
    assert!(later.is_empty(), "alerts after recovery: {later:#?}");
    let ids: HashSet<&str> = all.iter().map(id_of).collect();
    assert_eq!(ids.len(), all.len(), "every alert has its own id");
    let job = app.job("nightly").await;
    assert_eq!(
        job["alerts_sent"],
        all.len(),
        "alerts_sent counts every alert raised (downs, reminders and up): {job}"
    );
    app.stop().await;
}

#[tokio::test]
async fn down_is_not_sent_before_the_deadline_and_is_queued_within_a_sweep_interval() {
    let hook = Webhook::start().await;
    let app = spawn_app_with(&["--alert-uri", &hook.url, "--realert-every", "1h"]).await;
    let (mono, wall) = (Instant::now(), SystemTime::now());
    // The deadline falls one to two seconds from now.
    let ts = now_unix() - 58;
    let deadline = ts + 60;
    let response = app
        .ping_with(&[
            ("name", "soon"),
            ("frequency", "1m"),
            ("timestamp", &ts.to_string()),
        ])
        .await;
    assert_eq!(response.status(), 200);
    assert_eq!(app.job("soon").await["status"], "up");

    let got = hook.wait_for(1, WAIT).await;
    let arrived = arrival_unix(&got[0], mono, wall);
    assert!(
        arrived >= deadline as f64 - 0.05,
        "down arrived at {arrived:.3}, before the deadline {deadline}"
    );
    assert!(
        arrived <= deadline as f64 + 1.0 + 2.0,
        "down arrived at {arrived:.3}, over a 1 s sweep interval (+2 s slack) after the deadline {deadline}"
    );
    assert_eq!(got[0].body["event"], "down");
    assert_eq!(got[0].body["expected_by_unix"], deadline);
    assert!((0..=3).contains(&int(&got[0].body, "overdue_seconds")));
    app.stop().await;
}

#[tokio::test]
async fn with_a_short_sweep_interval_down_is_queued_that_soon_after_the_deadline() {
    let hook = Webhook::start().await;
    let app = spawn_app_with(&[
        "--alert-uri",
        &hook.url,
        "--realert-every",
        "1h",
        "--sweep-interval",
        "200ms",
    ])
    .await;
    let (mono, wall) = (Instant::now(), SystemTime::now());
    // An explicit unix timestamp: the deadline is exactly this second + 60 s, one to
    // two seconds from now.
    let ts = now_unix() - 58;
    let deadline = ts + 60;
    let response = app
        .ping_with(&[
            ("name", "precise"),
            ("frequency", "1m"),
            ("timestamp", &ts.to_string()),
        ])
        .await;
    assert_eq!(response.status(), 200);
    assert_eq!(app.job("precise").await["next_deadline_unix"], deadline);

    let got = hook.wait_for(1, WAIT).await;
    let arrived = arrival_unix(&got[0], mono, wall);
    assert!(
        arrived >= deadline as f64 - 0.05,
        "down arrived at {arrived:.3}, before the deadline {deadline}"
    );
    assert!(
        arrived <= deadline as f64 + 0.2 + 0.5,
        "down arrived {:.3} s after the deadline {deadline}; --sweep-interval is 200ms (+0.5 s slack)",
        arrived - deadline as f64
    );
    app.stop().await;
}

#[tokio::test]
async fn reminders_back_off_doubling_up_to_realert_max() {
    let hook = Webhook::start().await;
    let app = spawn_app_with(&[
        "--alert-uri",
        &hook.url,
        "--realert-every",
        "1s",
        "--realert-max",
        "3s",
    ])
    .await;
    align_to_millis_into_second(600).await;
    ping_overdue(&app, "backing-off").await;

    let got = hook.wait_for(5, WAIT).await;
    let counts: Vec<_> = got.iter().map(|r| int(&r.body, "alert_count")).collect();
    assert_eq!(counts, vec![1, 2, 3, 4, 5]);
    // 1 s, then twice as long each time, capped at 3 s.
    let expected = [1_000u64, 2_000, 3_000, 3_000];
    for (pair, want) in got.windows(2).zip(expected) {
        let between = gap(&pair[0], &pair[1]);
        let want = Duration::from_millis(want);
        assert!(
            between >= want.saturating_sub(Duration::from_millis(200))
                && between <= want + Duration::from_millis(800),
            "alert_count {} came {between:?} after alert_count {}; expected about {want:?}",
            pair[1].body["alert_count"],
            pair[0].body["alert_count"]
        );
    }
    app.stop().await;
}

#[tokio::test]
async fn reminders_come_a_full_realert_interval_apart() {
    let hook = Webhook::start().await;
    // --realert-max equal to --realert-every keeps a fixed interval (SPEC §5).
    let app = spawn_app_with(&[
        "--alert-uri",
        &hook.url,
        "--realert-every",
        "2s",
        "--realert-max",
        "2s",
    ])
    .await;
    // Raise the first alert late in a second, so that reminders scheduled in whole
    // seconds show: rounding down makes the first come early, rounding up makes each
    // one come late.
    align_to_millis_into_second(600).await;
    ping_overdue(&app, "reminded").await;

    let got = hook.wait_for(3, WAIT).await;
    let counts: Vec<_> = got.iter().map(|r| int(&r.body, "alert_count")).collect();
    assert_eq!(counts, vec![1, 2, 3]);
    for pair in got.windows(2) {
        let between = gap(&pair[0], &pair[1]);
        assert!(
            between >= Duration::from_millis(1800),
            "alert_count {} came {between:?} after alert_count {} with --realert-every 2s",
            pair[1].body["alert_count"],
            pair[0].body["alert_count"]
        );
        assert!(
            between <= Duration::from_millis(2800),
            "alert_count {} came {between:?} after alert_count {} with --realert-every 2s",
            pair[1].body["alert_count"],
            pair[0].body["alert_count"]
        );
    }
    app.stop().await;
}

#[tokio::test]
async fn a_second_outage_counts_its_alerts_from_1_again() {
    let hook = Webhook::start().await;
    let app = spawn_app_with(&["--alert-uri", &hook.url, "--realert-every", "1h"]).await;
    ping_overdue(&app, "twice").await;
    hook.wait_for(1, WAIT).await;
    // Recover with a 1 s frequency, so the job is overdue again a second or two later.
    let response = app
        .ping_with(&[("name", "twice"), ("frequency", "1s")])
        .await;
    assert_eq!(response.status(), 200);
    let got = hook.wait_for(3, WAIT).await;
    let events: Vec<_> = got
        .iter()
        .map(|r| r.body["event"].as_str().unwrap_or("?"))
        .collect();
    assert_eq!(events, vec!["down", "up", "down"]);
    assert_eq!(
        got[2].body["alert_count"], 1,
        "a new outage: {}",
        got[2].body
    );
    assert_eq!(got[2].body["frequency_seconds"], 1);
    assert_eq!(
        int(&got[2].body, "expected_by_unix"),
        int(&got[2].body, "last_ping_unix") + 1
    );
    let job = app.job("twice").await;
    assert_eq!(job["status"], "down");
    assert_eq!(job["alerts_sent"], 3);
    app.stop().await;
}

#[tokio::test]
async fn realert_every_0_alerts_once() {
    let hook = Webhook::start().await;
    let app = spawn_app_with(&["--alert-uri", &hook.url, "--realert-every", "0"]).await;
    ping_overdue(&app, "once").await;
    let got = hook.wait_for(1, WAIT).await;
    assert_eq!(got[0].body["alert_count"], 1);
    hook.expect_no_more_than(1, Duration::from_millis(3500))
        .await;
    let job = app.job("once").await;
    assert_eq!(job["status"], "down");
    assert_eq!(job["alerts_sent"], 1);
    app.stop().await;
}

#[tokio::test]
async fn a_deleted_job_gets_no_more_alerts_even_when_its_name_is_reused() {
    let hook = Webhook::start().await;
    let app = spawn_app_with(&["--alert-uri", &hook.url, "--realert-every", "1s"]).await;
    ping_overdue(&app, "retired").await;
    let got = hook.wait_for(2, WAIT).await;
    assert_eq!(got[1].body["alert_count"], 2, "reminders are coming");

    let response = app
        .client
        .delete(app.url("/ping/retired"))
        .send()
        .await
        .expect("delete");
    assert_eq!(response.status(), 200);
    assert_eq!(
        response.text().await.expect("body"),
        "Successfully deleted ping: retired\n"
    );
    let deleted_at = Instant::now();
    assert_eq!(app.get("/ping/retired").await.status(), 404);
    // A new job under the same name, up for an hour, must not inherit the old schedule.
    assert_eq!(app.ping("retired", "1h").await.status(), 200);

    tokio::time::sleep(Duration::from_secs(4)).await;
    // A delivery already on the wire when the delete landed may still arrive just after.
    let late: Vec<_> = hook
        .received()
        .into_iter()
        .filter(|r| r.at > deleted_at + Duration::from_millis(500))
        .map(|r| r.body)
        .collect();
    assert!(late.is_empty(), "alerts after the delete: {late:#?}");
    assert_eq!(app.job("retired").await["status"], "up");
    app.stop().await;
}

#[tokio::test]
async fn alerts_in_retry_for_a_deleted_job_are_dropped() {
    let hook = Webhook::start_with(|_| Reply::status(500)).await;
    let app = spawn_app_with(&["--alert-uri", &hook.url, "--realert-every", "1h"]).await;
    ping_overdue(&app, "doomed").await;
    // The first attempt and the first retry, one second later; the next is due 2 s on.
    let got = hook.wait_for(2, WAIT).await;
    assert_eq!(id_of(&got[0]), id_of(&got[1]));

    let response = app
        .client
        .delete(app.url("/ping/doomed"))
        .send()
        .await
        .expect("delete");
    assert_eq!(response.status(), 200);
    let attempts = hook.received().len();
    hook.expect_no_more_than(attempts, Duration::from_secs(4))
        .await;
    assert_eq!(of_job(&hook.received(), "doomed").len(), attempts);
    app.stop().await;
}
