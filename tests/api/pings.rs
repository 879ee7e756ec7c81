//! SPEC §3: recording pings with GET, HEAD and POST, and the responses they get.

use crate::common::{now_unix, spawn_app};
use crate::support::{assert_text_error, job_status, ping_json, rfc3339_z};

#[tokio::test]
async fn a_first_ping_is_recorded_with_the_documented_body() {
    let app = spawn_app().await;
    let response = app.ping("backup", "1D").await;
    assert_eq!(response.status(), 200);
    assert!(response.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/plain"));
    assert_eq!(
        response.text().await.unwrap(),
        "Successfully recorded ping for backup\n"
    );
    let job = app.job("backup").await;
    assert_eq!(job["name"], "backup");
    assert_eq!(job["frequency"], "1D");
    assert_eq!(job["frequency_seconds"], 86400);
    assert_eq!(job["pings_total"], 1);
    app.stop().await;
}

#[tokio::test]
async fn head_records_a_ping_and_answers_200_without_a_body() {
    let app = spawn_app().await;
    let response = app
        .client
        .head(app.url("/ping?name=head-job&frequency=5m"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.bytes().await.unwrap().len(), 0);
    let job = app.job("head-job").await;
    assert_eq!(job["frequency_seconds"], 300);
    assert_eq!(job["pings_total"], 1);
    app.stop().await;
}

#[tokio::test]
async fn post_records_a_ping_and_ignores_its_body() {
    let app = spawn_app().await;
    let response = app
        .client
        .post(app.url("/ping?name=posted&frequency=1m"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body("name=from-body&frequency=1s")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(
        response.text().await.unwrap(),
        "Successfully recorded ping for posted\n"
    );
    let job = app.job("posted").await;
    assert_eq!(job["frequency"], "1m");
    assert_eq!(job["frequency_seconds"], 60);
    assert_eq!(job_status(&app, "from-body").await.0, 404);
    app.stop().await;
}

#[tokio::test]
async fn a_json_ping_answers_the_full_job_object() {
    let app = spawn_app().await;
    let t1 = now_unix() - 30;
    let t1s = t1.to_string();
    let (status, job) = ping_json(
        &app,
        &[
            ("name", "backup"),
            ("frequency", "1h30m"),
            ("timestamp", &t1s),
        ],
    )
    .await;
    assert_eq!(status, 200, "{job}");
    let object = job.as_object().expect("a JSON object");
    let mut keys: Vec<_> = object.keys().map(String::as_str).collect();
    keys.sort_unstable();
    assert_eq!(
        keys,
        // SPEC §4's object, the run fields of §10, the schedule fields of §11 and the
        // pause and acknowledgement fields of §12.
        [
            "acknowledged",
            "alerts_sent",
            "consecutive_failures",
            "down_since",
            "failure_tolerance",
            "frequency",
            "frequency_seconds",
            "grace_seconds",
            "last_duration_seconds",
            "last_exit_code",
            "last_ping",
            "last_ping_unix",
            "last_start",
            "max_runtime_seconds",
            "name",
            "next_deadline",
            "next_deadline_unix",
            "paused_until",
            "pings_total",
            "running",
            "schedule",
            "status",
            "timezone",
        ]
    );
    assert_eq!(job["name"], "backup");
    assert_eq!(job["frequency"], "1h30m");
    assert_eq!(job["frequency_seconds"].as_u64(), Some(5400));
    assert_eq!(job["grace_seconds"].as_u64(), Some(0));
    assert_eq!(job["status"], "up");
    for field in ["schedule", "timezone", "paused_until", "acknowledged"] {
        assert!(job[field].is_null(), "{field}: {job}");
    }
    assert_eq!(job["last_ping"].as_str(), Some(rfc3339_z(t1).as_str()));
    assert_eq!(job["last_ping_unix"].as_i64(), Some(t1));
    assert_eq!(
        job["next_deadline"].as_str(),
        Some(rfc3339_z(t1 + 5400).as_str())
    );
    assert_eq!(job["next_deadline_unix"].as_i64(), Some(t1 + 5400));
    assert!(job["down_since"].is_null());
    assert_eq!(job["alerts_sent"].as_u64(), Some(0));
    assert_eq!(job["pings_total"].as_u64(), Some(1));

    let t2 = t1 + 10;
    let t2s = t2.to_string();
    let (status, job) = ping_json(
        &app,
        &[("name", "backup"), ("grace", "2m"), ("timestamp", &t2s)],
    )
    .await;
    assert_eq!(status, 200, "{job}");
    assert_eq!(job["pings_total"].as_u64(), Some(2));
    assert_eq!(job["frequency"], "1h30m");
    assert_eq!(job["grace_seconds"].as_u64(), Some(120));
    assert_eq!(job["last_ping_unix"].as_i64(), Some(t2));
    assert_eq!(job["next_deadline_unix"].as_i64(), Some(t2 + 5400 + 120));
    assert_eq!(
        job["next_deadline"].as_str(),
        Some(rfc3339_z(t2 + 5400 + 120).as_str())
    );
    // The admin route shows the same object.
    assert_eq!(app.job("backup").await, job);
    app.stop().await;
}

#[tokio::test]
async fn a_ping_without_a_timestamp_is_recorded_at_arrival_time() {
    let app = spawn_app().await;
    let before = now_unix();
    let (status, job) = ping_json(&app, &[("name", "now"), ("frequency", "1m")]).await;
    let after = now_unix();
    assert_eq!(status, 200);
    let last = job["last_ping_unix"].as_i64().unwrap();
    assert!(
        (before..=after).contains(&last),
        "{before} <= {last} <= {after}"
    );
    assert_eq!(job["next_deadline_unix"].as_i64(), Some(last + 60));
    app.stop().await;
}

#[tokio::test]
async fn a_new_name_without_frequency_is_refused_with_400() {
    let app = spawn_app().await;
    let response = app.ping_with(&[("name", "fresh")]).await;
    let body = assert_text_error(response, 400).await;
    assert!(body.contains("frequency"), "{body}");
    assert_eq!(job_status(&app, "fresh").await.0, 404);
    app.stop().await;
}

#[tokio::test]
async fn a_ping_without_a_name_is_refused_with_400() {
    let app = spawn_app().await;
    let response = app.ping_with(&[("frequency", "1m")]).await;
    let body = assert_text_error(response, 400).await;
    assert!(body.contains("name"), "{body}");
    let response = app.ping_with(&[("name", ""), ("frequency", "1m")]).await;
    assert_text_error(response, 400).await;
    app.stop().await;
}

#[tokio::test]
async fn a_known_name_keeps_its_frequency_and_grace_when_omitted() {
    let app = spawn_app().await;
    let r = app
        .ping_with(&[("name", "kept"), ("frequency", "2h"), ("grace", "5m")])
        .await;
    assert_eq!(r.status(), 200);
    let r = app.ping_with(&[("name", "kept")]).await;
    assert_eq!(r.status(), 200);
    assert_eq!(
        r.text().await.unwrap(),
        "Successfully recorded ping for kept\n"
    );
    let job = app.job("kept").await;
    assert_eq!(job["frequency"], "2h");
    assert_eq!(job["frequency_seconds"], 7200);
    assert_eq!(job["grace_seconds"], 300);
    assert_eq!(job["pings_total"], 2);
    let last = job["last_ping_unix"].as_i64().unwrap();
    assert_eq!(job["next_deadline_unix"].as_i64(), Some(last + 7200 + 300));
    app.stop().await;
}

#[tokio::test]
async fn unknown_parameters_are_ignored() {
    let app = spawn_app().await;
    let r = app
        .get("/ping?name=extra&frequency=1m&color=blue&flag&=empty-key&utm_source=cron")
        .await;
    assert_eq!(r.status(), 200);
    assert_eq!(
        r.text().await.unwrap(),
        "Successfully recorded ping for extra\n"
    );
    assert_eq!(app.job("extra").await["frequency_seconds"], 60);
    app.stop().await;
}

#[tokio::test]
async fn plus_and_percent_escapes_in_names_are_decoded() {
    let app = spawn_app().await;
    let cases = [
        ("name=nightly+backup", "nightly backup"),
        ("name=a%2Bb", "a+b"),
        ("name=caf%C3%A9%20%26%20bar", "café & bar"),
        ("name=db%2Fdump%3Fx%3D1", "db/dump?x=1"),
    ];
    for (raw, decoded) in cases {
        let r = app.get(&format!("/ping?{raw}&frequency=1m")).await;
        assert_eq!(r.status(), 200, "{raw}");
        assert_eq!(
            r.text().await.unwrap(),
            format!("Successfully recorded ping for {decoded}\n"),
            "{raw}"
        );
        assert_eq!(app.job(decoded).await["name"], decoded, "{raw}");
    }
    app.stop().await;
}

#[tokio::test]
async fn utf8_names_are_recorded_as_sent() {
    let app = spawn_app().await;
    for name in [
        "ünïcode job",
        "バックアップ",
        "backup ✓ 🚀",
        "Ωmega/étape 2",
    ] {
        let r = app.ping(name, "10m").await;
        assert_eq!(r.status(), 200, "{name}");
        assert_eq!(
            r.text().await.unwrap(),
            format!("Successfully recorded ping for {name}\n")
        );
        let job = app.job(name).await;
        assert_eq!(job["name"], name);
        assert_eq!(job["frequency_seconds"], 600);
    }
    app.stop().await;
}

#[tokio::test]
async fn pings_total_counts_every_recorded_ping() {
    let app = spawn_app().await;
    for n in 1..=5u64 {
        let (status, job) = ping_json(&app, &[("name", "counter"), ("frequency", "1m")]).await;
        assert_eq!(status, 200);
        assert_eq!(job["pings_total"].as_u64(), Some(n));
    }
    app.stop().await;
}
