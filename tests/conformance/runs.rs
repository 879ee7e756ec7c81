//! SPEC §10, runs: start, success, fail and log signals, exit codes, run ids, durations,
//! tolerated failures and run time-outs, the same on every store.

use std::time::Duration;

use serde_json::Value;

use crate::common::{now_unix, TestApp, Webhook};
use crate::support::{ping_overdue, Store, WAIT};

fn rfc3339(unix: i64) -> String {
    let t = time::OffsetDateTime::from_unix_timestamp(unix).expect("a valid time");
    t.format(&time::format_description::well_known::Rfc3339)
        .expect("formats")
}

/// A ping with `params` and `body` as a POST; asserts a 200.
async fn post(app: &TestApp, params: &[(&str, &str)], body: &'static [u8]) {
    let response = app
        .client
        .post(app.url("/ping"))
        .query(params)
        .body(body)
        .send()
        .await
        .expect("post ping");
    assert_eq!(response.status(), 200, "POST /ping {params:?}");
}

async fn ok(app: &TestApp, params: &[(&str, &str)]) {
    let response = app.ping_with(params).await;
    let status = response.status();
    let text = response.text().await.unwrap_or_default();
    assert_eq!(status, 200, "GET /ping {params:?}: {text}");
}

pub async fn a_start_and_its_success_record_the_run_and_its_duration(store: &Store) {
    let app = store.spawn(&[]).await;
    let t0 = now_unix() - 60;
    let (created, started, ended) = (t0.to_string(), (t0 + 10).to_string(), (t0 + 22).to_string());
    ok(
        &app,
        &[
            ("name", "backup"),
            ("frequency", "1h"),
            ("timestamp", &created),
        ],
    )
    .await;
    let fresh = app.job("backup").await;
    assert_eq!(
        (
            &fresh["running"],
            &fresh["last_start"],
            &fresh["last_duration_seconds"]
        ),
        (&Value::Bool(false), &Value::Null, &Value::Null)
    );
    assert_eq!(fresh["failure_tolerance"], 0);
    assert_eq!(fresh["consecutive_failures"], 0);
    assert_eq!(fresh["max_runtime_seconds"], Value::Null);
    assert_eq!(fresh["last_exit_code"], Value::Null);

    ok(
        &app,
        &[
            ("name", "backup"),
            ("state", "start"),
            ("timestamp", &started),
        ],
    )
    .await;
    let running = app.job("backup").await;
    assert_eq!(running["running"], true);
    assert_eq!(running["last_start"], rfc3339(t0 + 10));
    assert_eq!(
        running["next_deadline_unix"],
        t0 + 3_600,
        "a start does not move the deadline"
    );

    ok(
        &app,
        &[
            ("name", "backup"),
            ("exit_code", "0"),
            ("timestamp", &ended),
        ],
    )
    .await;
    let done = app.job("backup").await;
    assert_eq!(done["running"], false);
    assert_eq!(done["last_start"], Value::Null);
    assert_eq!(done["last_duration_seconds"], 12.0);
    assert_eq!(done["last_exit_code"], 0);
    assert_eq!(done["next_deadline_unix"], t0 + 22 + 3_600);
    assert_eq!(done["pings_total"], 3);
    app.stop().await;
}

pub async fn a_run_id_ends_its_own_run(store: &Store) {
    let app = store.spawn(&[]).await;
    let t0 = now_unix() - 60;
    let at = |d: i64| (t0 + d).to_string();
    ok(
        &app,
        &[("name", "etl"), ("frequency", "1h"), ("timestamp", &at(0))],
    )
    .await;
    ok(
        &app,
        &[
            ("name", "etl"),
            ("state", "start"),
            ("rid", "a"),
            ("timestamp", &at(1)),
        ],
    )
    .await;
    ok(
        &app,
        &[
            ("name", "etl"),
            ("state", "start"),
            ("rid", "b"),
            ("timestamp", &at(5)),
        ],
    )
    .await;
    ok(
        &app,
        &[("name", "etl"), ("rid", "a"), ("timestamp", &at(21))],
    )
    .await;
    let job = app.job("etl").await;
    assert_eq!(
        job["last_duration_seconds"], 20.0,
        "run a, not the latest start"
    );
    assert_eq!(job["running"], true, "run b is still open");
    assert_eq!(job["last_start"], rfc3339(t0 + 5));
    app.stop().await;
}

pub async fn a_fail_alerts_at_once_and_the_next_success_recovers(store: &Store) {
    let hook = Webhook::start().await;
    let app = store.spawn(&["--alert-uri", &hook.url]).await;
    ok(&app, &[("name", "db-dump"), ("frequency", "1h")]).await;
    post(
        &app,
        &[("name", "db-dump"), ("exit_code", "2")],
        b"pg_dump: disk full\n",
    )
    .await;
    let got = hook.wait_for(1, WAIT).await;
    let down = &got[0].body;
    assert_eq!(down["event"], "down");
    assert_eq!(down["reason"], "failed");
    assert_eq!(down["exit_code"], 2);
    assert_eq!(down["log"], "pg_dump: disk full\n");
    let job = app.job("db-dump").await;
    assert_eq!(job["status"], "down");
    assert_eq!(job["last_exit_code"], 2);
    assert_eq!(job["consecutive_failures"], 1);

    // Already down: recorded, no new alert.
    ok(&app, &[("name", "db-dump"), ("state", "fail")]).await;
    hook.expect_no_more_than(1, Duration::from_millis(1_500))
        .await;

    ok(&app, &[("name", "db-dump"), ("state", "success")]).await;
    let got = hook.wait_for(2, WAIT).await;
    assert_eq!(got[1].body["event"], "up");
    assert_eq!(got[1].body["reason"], "recovered");
    let job = app.job("db-dump").await;
    assert_eq!(
        (job["status"].as_str(), job["consecutive_failures"].as_u64()),
        (Some("up"), Some(0))
    );
    app.stop().await;
}

pub async fn failures_within_the_tolerance_raise_no_alert(store: &Store) {
    let hook = Webhook::start().await;
    let app = store.spawn(&["--alert-uri", &hook.url]).await;
    ok(
        &app,
        &[
            ("name", "flaky"),
            ("frequency", "1h"),
            ("failure_tolerance", "2"),
        ],
    )
    .await;
    for _ in 0..2 {
        ok(&app, &[("name", "flaky"), ("state", "fail")]).await;
    }
    let job = app.job("flaky").await;
    assert_eq!(
        (job["status"].as_str(), job["consecutive_failures"].as_u64()),
        (Some("up"), Some(2))
    );
    assert_eq!(job["failure_tolerance"], 2);
    hook.expect_no_more_than(0, Duration::from_millis(1_000))
        .await;
    ok(&app, &[("name", "flaky")]).await;
    assert_eq!(
        app.job("flaky").await["consecutive_failures"],
        0,
        "a success resets the count"
    );
    for _ in 0..3 {
        ok(&app, &[("name", "flaky"), ("state", "fail")]).await;
    }
    let got = hook.wait_for(1, WAIT).await;
    assert_eq!(got[0].body["reason"], "failed");
    app.stop().await;
}

pub async fn a_run_longer_than_max_runtime_goes_down_with_run_timeout(store: &Store) {
    let hook = Webhook::start().await;
    let app = store
        .spawn(&["--alert-uri", &hook.url, "--sweep-interval", "200ms"])
        .await;
    ok(
        &app,
        &[("name", "slow"), ("frequency", "1h"), ("max_runtime", "1s")],
    )
    .await;
    assert_eq!(app.job("slow").await["max_runtime_seconds"], 1);
    ok(&app, &[("name", "slow"), ("state", "start")]).await;
    let got = hook.wait_for(1, WAIT).await;
    let down = &got[0].body;
    assert_eq!(
        (down["event"].as_str(), down["reason"].as_str()),
        (Some("down"), Some("run_timeout"))
    );
    assert!(
        down["duration_seconds"].as_f64().unwrap_or(0.0) >= 1.0,
        "{down}"
    );
    assert_eq!(app.job("slow").await["status"], "down");
    hook.expect_no_more_than(1, Duration::from_millis(1_500))
        .await;
    ok(&app, &[("name", "slow")]).await;
    let got = hook.wait_for(2, WAIT).await;
    assert_eq!(got[1].body["event"], "up");
    // 0 clears the limit.
    ok(&app, &[("name", "slow"), ("max_runtime", "0")]).await;
    assert_eq!(app.job("slow").await["max_runtime_seconds"], Value::Null);
    app.stop().await;
}

pub async fn a_log_changes_nothing_but_the_history(store: &Store) {
    let app = store.spawn(&[]).await;
    ok(&app, &[("name", "chatty"), ("frequency", "1h")]).await;
    let before = app.job("chatty").await;
    post(
        &app,
        &[("name", "chatty"), ("state", "log")],
        b"step 3 of 5",
    )
    .await;
    let after = app.job("chatty").await;
    for field in [
        "last_ping",
        "next_deadline",
        "pings_total",
        "running",
        "status",
    ] {
        assert_eq!(before[field], after[field], "{field}");
    }
    app.stop().await;
}

pub async fn missed_deadlines_say_reason_missed(store: &Store) {
    let hook = Webhook::start().await;
    let app = store.spawn(&["--alert-uri", &hook.url]).await;
    ping_overdue(&app, "nightly").await;
    let got = hook.wait_for(1, WAIT).await;
    let down = &got[0].body;
    assert_eq!(down["reason"], "missed");
    assert_eq!(
        (&down["exit_code"], &down["duration_seconds"], &down["log"]),
        (&Value::Null, &Value::Null, &Value::Null)
    );
    app.stop().await;
}

pub async fn bad_run_parameters_are_refused_and_change_nothing(store: &Store) {
    let app = store.spawn(&[]).await;
    ok(&app, &[("name", "strict"), ("frequency", "1h")]).await;
    let long_rid = "r".repeat(65);
    for (key, value) in [
        ("state", "finished"),
        ("exit_code", "256"),
        ("exit_code", "-1"),
        ("rid", long_rid.as_str()),
        ("failure_tolerance", "101"),
        ("max_runtime", "abc"),
    ] {
        let response = app.ping_with(&[("name", "strict"), (key, value)]).await;
        assert_eq!(response.status(), 400, "{key}={value}");
        let message = response.text().await.unwrap_or_default();
        assert!(message.contains(key), "the message names {key}: {message}");
        let response = app
            .ping_with(&[("name", "fresh"), ("frequency", "1h"), (key, value)])
            .await;
        assert_eq!(response.status(), 400, "{key}={value} on a new name");
    }
    assert_eq!(app.job("strict").await["pings_total"], 1);
    assert_eq!(app.get("/ping/fresh").await.status(), 404);
    app.stop().await;
}

pub async fn an_older_timestamp_is_refused_for_every_state(store: &Store) {
    let app = store.spawn(&[]).await;
    let now = now_unix();
    ok(
        &app,
        &[
            ("name", "guarded"),
            ("frequency", "1h"),
            ("timestamp", &now.to_string()),
        ],
    )
    .await;
    let old = (now - 10).to_string();
    for state in ["start", "success", "fail", "log"] {
        let response = app
            .ping_with(&[("name", "guarded"), ("state", state), ("timestamp", &old)])
            .await;
        assert_eq!(response.status(), 409, "state={state}");
    }
    assert_eq!(app.job("guarded").await["pings_total"], 1);
    app.stop().await;
}
