//! SPEC §3: the `timestamp` parameter — formats, ordering, clock skew, and late pings.

use std::time::Duration;

use crate::common::{now_unix, spawn_app, spawn_app_with};
use crate::support::{job_status, ping_json, poll_until, rfc3339_offset, rfc3339_z};

#[tokio::test]
async fn unix_seconds_timestamps_set_the_last_ping() {
    let app = spawn_app().await;
    let t = now_unix() - 3600;
    let ts = t.to_string();
    let (status, job) = ping_json(
        &app,
        &[("name", "unix"), ("frequency", "2h"), ("timestamp", &ts)],
    )
    .await;
    assert_eq!(status, 200, "{job}");
    assert_eq!(job["last_ping_unix"].as_i64(), Some(t));
    assert_eq!(job["last_ping"].as_str(), Some(rfc3339_z(t).as_str()));
    assert_eq!(job["next_deadline_unix"].as_i64(), Some(t + 7200));
    app.stop().await;
}

#[tokio::test]
async fn rfc3339_timestamps_with_z_and_with_an_offset_are_accepted() {
    let app = spawn_app().await;
    let t = now_unix() - 7200;
    let with_z = rfc3339_z(t);
    let (status, job) = ping_json(
        &app,
        &[
            ("name", "zulu"),
            ("frequency", "1D"),
            ("timestamp", &with_z),
        ],
    )
    .await;
    assert_eq!(status, 200, "{job}");
    assert_eq!(job["last_ping_unix"].as_i64(), Some(t));
    assert_eq!(job["last_ping"].as_str(), Some(with_z.as_str()));

    let with_offset = rfc3339_offset(t, 2);
    assert!(with_offset.ends_with("+02:00"), "{with_offset}");
    let (status, job) = ping_json(
        &app,
        &[
            ("name", "offset"),
            ("frequency", "1D"),
            ("timestamp", &with_offset),
        ],
    )
    .await;
    assert_eq!(status, 200, "{job}");
    assert_eq!(job["last_ping_unix"].as_i64(), Some(t));
    // Shown back in UTC with a Z whatever offset was sent.
    assert_eq!(job["last_ping"].as_str(), Some(with_z.as_str()));

    let negative = rfc3339_offset(t + 60, -5);
    assert!(negative.ends_with("-05:00"), "{negative}");
    let (status, job) = ping_json(&app, &[("name", "offset"), ("timestamp", &negative)]).await;
    assert_eq!(status, 200, "{job}");
    assert_eq!(job["last_ping_unix"].as_i64(), Some(t + 60));
    app.stop().await;
}

#[tokio::test]
async fn older_timestamp_is_refused_with_409_and_changes_nothing() {
    let app = spawn_app().await;
    let t = now_unix() - 100;
    let ts = t.to_string();
    let older = (t - 10).to_string();
    let (status, before) = ping_json(
        &app,
        &[("name", "ordered"), ("frequency", "1h"), ("timestamp", &ts)],
    )
    .await;
    assert_eq!(status, 200);
    let r = app
        .ping_with(&[
            ("name", "ordered"),
            ("frequency", "10m"),
            ("grace", "1h"),
            ("timestamp", &older),
        ])
        .await;
    assert_eq!(r.status(), 409);
    let body = r.text().await.unwrap();
    assert!(
        !body.trim().is_empty() && !body.trim_end().contains('\n'),
        "{body:?}"
    );
    let after = app.job("ordered").await;
    assert_eq!(after, before, "a refused ping changed the job");
    assert_eq!(after["pings_total"], 1);
    assert_eq!(after["last_ping_unix"].as_i64(), Some(t));
    assert_eq!(after["frequency"], "1h");
    assert_eq!(after["grace_seconds"], 0);
    app.stop().await;
}

#[tokio::test]
async fn an_older_rfc3339_timestamp_is_refused_with_409_too() {
    let app = spawn_app().await;
    let t = now_unix() - 100;
    let ts = rfc3339_z(t);
    let older = rfc3339_offset(t - 1, 3);
    assert_eq!(
        app.ping_with(&[("name", "r"), ("frequency", "1m"), ("timestamp", &ts)])
            .await
            .status(),
        200
    );
    let r = app.ping_with(&[("name", "r"), ("timestamp", &older)]).await;
    assert_eq!(r.status(), 409);
    assert_eq!(app.job("r").await["last_ping_unix"].as_i64(), Some(t));
    app.stop().await;
}

#[tokio::test]
async fn an_equal_timestamp_is_accepted_as_a_retry() {
    let app = spawn_app().await;
    let t = now_unix() - 100;
    let ts = t.to_string();
    let params = [
        ("name", "retry"),
        ("frequency", "1m"),
        ("timestamp", ts.as_str()),
    ];
    assert_eq!(app.ping_with(&params).await.status(), 200);
    let r = app.ping_with(&params).await;
    assert_eq!(r.status(), 200);
    assert_eq!(
        r.text().await.unwrap(),
        "Successfully recorded ping for retry\n"
    );
    // The same moment written as RFC 3339 is equal too.
    let same = rfc3339_z(t);
    assert_eq!(
        app.ping_with(&[("name", "retry"), ("timestamp", &same)])
            .await
            .status(),
        200
    );
    let job = app.job("retry").await;
    assert_eq!(job["last_ping_unix"].as_i64(), Some(t));
    assert_eq!(job["next_deadline_unix"].as_i64(), Some(t + 60));
    app.stop().await;
}

#[tokio::test]
async fn a_timestamp_beyond_the_default_clock_skew_is_refused_with_400() {
    let app = spawn_app().await;
    let far = (now_unix() + 600).to_string();
    let r = app
        .ping_with(&[("name", "future"), ("frequency", "1m"), ("timestamp", &far)])
        .await;
    assert_eq!(r.status(), 400);
    let body = r.text().await.unwrap();
    assert!(body.contains("future"), "{body}");
    assert_eq!(job_status(&app, "future").await.0, 404);
    // Within the default 5 minutes is fine.
    let near = (now_unix() + 120).to_string();
    let (status, job) = ping_json(
        &app,
        &[
            ("name", "future"),
            ("frequency", "1m"),
            ("timestamp", &near),
        ],
    )
    .await;
    assert_eq!(status, 200, "{job}");
    assert_eq!(job["last_ping_unix"].as_i64(), near.parse().ok());
    app.stop().await;
}

#[tokio::test]
async fn a_custom_max_clock_skew_is_honoured() {
    let app = spawn_app_with(&["--max-clock-skew", "10s"]).await;
    let ahead = (now_unix() + 60).to_string();
    let r = app
        .ping_with(&[("name", "skew"), ("frequency", "1m"), ("timestamp", &ahead)])
        .await;
    assert_eq!(r.status(), 400);
    let body = r.text().await.unwrap();
    assert!(body.contains("future"), "{body}");
    assert_eq!(job_status(&app, "skew").await.0, 404);
    let slightly = (now_unix() + 3).to_string();
    let r = app
        .ping_with(&[
            ("name", "skew"),
            ("frequency", "1m"),
            ("timestamp", &slightly),
        ])
        .await;
    assert_eq!(r.status(), 200);
    app.stop().await;
}

#[tokio::test]
async fn malformed_timestamps_are_refused_with_400() {
    let app = spawn_app().await;
    for bad in [
        "yesterday",
        "1.5",
        "-1",
        "2026-13-01T00:00:00Z",
        "2026-11-21 03:00:00",
        "99999999999999999999",
        "",
        "0x10",
    ] {
        let r = app
            .ping_with(&[
                ("name", "malformed"),
                ("frequency", "1m"),
                ("timestamp", bad),
            ])
            .await;
        assert_eq!(r.status(), 400, "{bad:?}");
        let body = r.text().await.unwrap();
        assert!(body.contains("timestamp"), "{bad:?}: {body}");
    }
    assert_eq!(job_status(&app, "malformed").await.0, 404);
    app.stop().await;
}

#[tokio::test]
async fn an_old_timestamp_past_its_deadline_is_accepted_and_the_job_goes_down() {
    let app = spawn_app().await;
    let t = now_unix() - 600;
    let ts = t.to_string();
    let (status, job) = ping_json(
        &app,
        &[("name", "late"), ("frequency", "1m"), ("timestamp", &ts)],
    )
    .await;
    assert_eq!(status, 200, "{job}");
    assert_eq!(job["last_ping_unix"].as_i64(), Some(t));
    assert_eq!(job["next_deadline_unix"].as_i64(), Some(t + 60));
    let job = poll_until(Duration::from_secs(15), "late job going down", || async {
        let job = app.job("late").await;
        (job["status"] == "down").then_some(job)
    })
    .await;
    assert!(
        job["down_since"].as_str().is_some_and(|s| s.ends_with('Z')),
        "{job}"
    );
    assert_eq!(job["last_ping_unix"].as_i64(), Some(t));
    app.stop().await;
}

#[tokio::test]
async fn an_equal_timestamp_retry_on_a_down_job_changes_nothing() {
    let app = spawn_app().await;
    let t = (now_unix() - 600).to_string();
    let params = [
        ("name", "stale"),
        ("frequency", "1m"),
        ("timestamp", t.as_str()),
    ];
    assert_eq!(app.ping_with(&params).await.status(), 200);
    let down = poll_until(Duration::from_secs(15), "stale job going down", || async {
        let job = app.job("stale").await;
        (job["status"] == "down").then_some(job)
    })
    .await;
    // The job retries the very same ping: accepted, but it is still overdue, so it
    // must neither come up nor raise an up alert and a fresh down alert.
    let r = app.ping_with(&params).await;
    assert_eq!(r.status(), 200);
    let after = app.job("stale").await;
    assert_eq!(after["status"], "down", "{after}");
    assert_eq!(after["down_since"], down["down_since"], "{after}");
    assert_eq!(
        after["alerts_sent"], down["alerts_sent"],
        "a retried ping raised alerts: before {down}, after {after}"
    );
    assert_eq!(after["last_ping_unix"], down["last_ping_unix"]);
    app.stop().await;
}
