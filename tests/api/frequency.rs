//! SPEC §3: the frequency grammar over HTTP, and how frequency and grace set the deadline.

use crate::common::{now_unix, spawn_app};
use crate::support::{job_status, ping_json};

#[tokio::test]
async fn every_documented_frequency_form_is_accepted_with_its_seconds() {
    let app = spawn_app().await;
    let cases: [(&str, u64); 14] = [
        ("30s", 30),
        ("5m", 300),
        ("2h", 7_200),
        ("1D", 86_400),
        ("1d", 86_400),
        ("1W", 604_800),
        ("2w", 1_209_600),
        ("1h30m", 5_400),
        ("1h 30m", 5_400),
        ("90sec", 90),
        ("2days", 172_800),
        ("366D", 31_622_400),
        ("1s", 1),
        ("1m", 60),
    ];
    for (i, (frequency, seconds)) in cases.iter().enumerate() {
        let name = format!("valid-{i}");
        let (status, job) = ping_json(&app, &[("name", &name), ("frequency", frequency)]).await;
        assert_eq!(status, 200, "{frequency:?}: {job}");
        assert_eq!(job["frequency"], *frequency, "echoes the sent form");
        assert_eq!(
            job["frequency_seconds"].as_u64(),
            Some(*seconds),
            "{frequency:?}"
        );
        let last = job["last_ping_unix"].as_i64().unwrap();
        assert_eq!(
            job["next_deadline_unix"].as_i64(),
            Some(last + *seconds as i64),
            "{frequency:?}"
        );
    }
    app.stop().await;
}

#[tokio::test]
async fn invalid_frequencies_are_refused_with_the_accepted_format_and_create_nothing() {
    let app = spawn_app().await;
    let cases = [
        "0s",
        "0",
        "-5m",
        "1.5h",
        "1M",
        "2months",
        "1y",
        "500ms",
        "10",
        "abc",
        "367D",
        "99999999999999999999s",
        "",
        "1x",
        "+5m",
        "53W",
    ];
    for (i, frequency) in cases.iter().enumerate() {
        let name = format!("invalid-{i}");
        let r = app
            .ping_with(&[("name", &name), ("frequency", frequency)])
            .await;
        assert_eq!(r.status(), 400, "{frequency:?}");
        let body = r.text().await.unwrap();
        assert!(
            body.contains("<integer><unit>"),
            "{frequency:?}: message does not show the format: {body}"
        );
        assert!(!body.trim_end().contains('\n'), "{body:?}");
        assert_eq!(
            job_status(&app, &name).await.0,
            404,
            "{frequency:?} created a job"
        );
    }
    app.stop().await;
}

#[tokio::test]
async fn an_invalid_frequency_on_a_known_job_changes_nothing() {
    let app = spawn_app().await;
    assert_eq!(app.ping("steady", "5m").await.status(), 200);
    let r = app.ping("steady", "1M").await;
    assert_eq!(r.status(), 400);
    let job = app.job("steady").await;
    assert_eq!(job["frequency"], "5m");
    assert_eq!(job["frequency_seconds"], 300);
    assert_eq!(job["pings_total"], 1);
    app.stop().await;
}

#[tokio::test]
async fn a_new_frequency_moves_the_deadline_at_once() {
    let app = spawn_app().await;
    let t0 = now_unix() - 100;
    let t1 = t0 + 30;
    let (t0s, t1s) = (t0.to_string(), t1.to_string());
    let (status, job) = ping_json(
        &app,
        &[("name", "mover"), ("frequency", "1m"), ("timestamp", &t0s)],
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(job["next_deadline_unix"].as_i64(), Some(t0 + 60));
    let (status, job) = ping_json(
        &app,
        &[("name", "mover"), ("frequency", "10m"), ("timestamp", &t1s)],
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(job["frequency"], "10m");
    assert_eq!(job["next_deadline_unix"].as_i64(), Some(t1 + 600));
    assert_eq!(
        app.job("mover").await["next_deadline_unix"].as_i64(),
        Some(t1 + 600)
    );
    app.stop().await;
}

#[tokio::test]
async fn grace_adds_to_the_deadline_and_is_kept_when_omitted() {
    let app = spawn_app().await;
    let t0 = now_unix() - 50;
    let t1 = t0 + 20;
    let (t0s, t1s) = (t0.to_string(), t1.to_string());
    let (status, job) = ping_json(
        &app,
        &[
            ("name", "graceful"),
            ("frequency", "5m"),
            ("grace", "90s"),
            ("timestamp", &t0s),
        ],
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(job["grace_seconds"].as_u64(), Some(90));
    assert_eq!(job["next_deadline_unix"].as_i64(), Some(t0 + 300 + 90));
    let (status, job) = ping_json(&app, &[("name", "graceful"), ("timestamp", &t1s)]).await;
    assert_eq!(status, 200);
    assert_eq!(job["grace_seconds"].as_u64(), Some(90));
    assert_eq!(job["next_deadline_unix"].as_i64(), Some(t1 + 300 + 90));
    // An explicit zero removes the grace.
    let (status, job) = ping_json(&app, &[("name", "graceful"), ("grace", "0")]).await;
    assert_eq!(status, 200);
    assert_eq!(job["grace_seconds"].as_u64(), Some(0));
    let last = job["last_ping_unix"].as_i64().unwrap();
    assert_eq!(job["next_deadline_unix"].as_i64(), Some(last + 300));
    app.stop().await;
}

#[tokio::test]
async fn an_invalid_grace_is_refused_with_400() {
    let app = spawn_app().await;
    for grace in ["-1s", "abc", "1M", "367D"] {
        let r = app
            .ping_with(&[("name", "g"), ("frequency", "1m"), ("grace", grace)])
            .await;
        assert_eq!(r.status(), 400, "{grace:?}");
        let body = r.text().await.unwrap();
        assert!(body.contains("grace"), "{grace:?}: {body}");
    }
    assert_eq!(job_status(&app, "g").await.0, 404);
    app.stop().await;
}
