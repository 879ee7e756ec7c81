//! SPEC §10: healthchecks' ping API by slug under `/hc`, with the requests runitor and
//! curl send.
//!
//! runitor (`runitor -api-url http://monitor/hc -ping-key KEY -slug SLUG -- cmd`) sends
//! `POST {api-url}/{key}/{slug}/start`, then `POST {api-url}/{key}/{slug}/{exit code}`
//! (or `/log` with `-log-only-non-zero`) with the command's output as the body, each
//! with `Content-Type: text/plain` and `User-Agent: runitor/<version>
//! (+https://bdd.fi/x/runitor)`; it reads `Ping-Body-Limit` from the answer. curl lines
//! from healthchecks' documentation send `GET`/`HEAD`, `-d`/`--data-binary` bodies,
//! `?rid=` and `?create=1`.

use serde_json::Value;

use crate::common::{spawn_app, spawn_app_with, TestApp};

const RUNITOR_UA: &str = "runitor/v1.3.0-build.4 (+https://bdd.fi/x/runitor)";

/// A request as runitor sends it.
async fn runitor(app: &TestApp, path: &str, body: &'static str) -> reqwest::Response {
    app.client
        .post(app.url(path))
        .header("content-type", "text/plain")
        .header("user-agent", RUNITOR_UA)
        .body(body)
        .send()
        .await
        .expect("runitor request")
}

async fn answer(response: reqwest::Response) -> (u16, String) {
    let status = response.status().as_u16();
    (status, response.text().await.expect("a body"))
}

async fn events(app: &TestApp, name: &str) -> Vec<Value> {
    let response = app.get(&format!("/ping/{name}/events")).await;
    assert_eq!(response.status(), 200);
    let page: Value = response.json().await.expect("a page");
    page["events"].as_array().cloned().unwrap_or_default()
}

#[tokio::test]
async fn runitor_start_and_success_with_output_record_a_run() {
    let app = spawn_app().await;
    assert_eq!(app.ping("backup", "1D").await.status(), 200);
    let start = runitor(&app, "/hc/any-key/backup/start", "").await;
    assert_eq!(
        start
            .headers()
            .get("ping-body-limit")
            .map(|v| v.to_str().unwrap_or("")),
        Some("10240")
    );
    assert_eq!(answer(start).await, (200, "OK".to_owned()));
    assert_eq!(app.job("backup").await["running"], true);
    let done = runitor(&app, "/hc/any-key/backup/0", "dumped 3 tables\n").await;
    assert_eq!(answer(done).await, (200, "OK".to_owned()));
    let job = app.job("backup").await;
    assert_eq!(
        (&job["running"], &job["status"], &job["last_exit_code"]),
        (&Value::Bool(false), &Value::from("up"), &Value::from(0))
    );
    assert!(job["last_duration_seconds"].as_f64().is_some(), "{job}");
    let events = events(&app, "backup").await;
    assert_eq!(events[0]["kind"], "ping");
    assert_eq!(events[0]["log"], "dumped 3 tables\n");
    assert_eq!(events[0]["user_agent"], RUNITOR_UA);
    assert_eq!(events[1]["kind"], "start");
    app.stop().await;
}

#[tokio::test]
async fn a_failure_by_fail_or_by_a_non_zero_exit_code_marks_the_job_down() {
    let app = spawn_app().await;
    for (name, path) in [("by-fail", "fail"), ("by-code", "1")] {
        assert_eq!(app.ping(name, "1D").await.status(), 200);
        let response = runitor(&app, &format!("/hc/k/{name}/{path}"), "error: disk full\n").await;
        assert_eq!(answer(response).await, (200, "OK".to_owned()), "{path}");
        let job = app.job(name).await;
        assert_eq!(job["status"], "down", "{path}");
        let events = events(&app, name).await;
        assert_eq!(
            (&events[0]["kind"], &events[0]["reason"]),
            (&Value::from("down"), &Value::from("failed"))
        );
        assert_eq!(events[1]["kind"], "fail");
        assert_eq!(events[1]["log"], "error: disk full\n");
    }
    assert_eq!(events(&app, "by-code").await[1]["exit_code"], 1);
    assert_eq!(app.job("by-code").await["last_exit_code"], 1);
    app.stop().await;
}

#[tokio::test]
async fn log_records_an_event_and_changes_nothing_else() {
    let app = spawn_app().await;
    assert_eq!(app.ping("job", "1D").await.status(), 200);
    let before = app.job("job").await;
    let response = runitor(&app, "/hc/k/job/log", "still running: 40%").await;
    assert_eq!(answer(response).await, (200, "OK".to_owned()));
    assert_eq!(app.job("job").await, before);
    let events = events(&app, "job").await;
    assert_eq!(
        (&events[0]["kind"], &events[0]["log"]),
        (&Value::from("log"), &Value::from("still running: 40%"))
    );
    app.stop().await;
}

#[tokio::test]
async fn curl_forms_get_head_and_a_rid_work() {
    let app = spawn_app().await;
    assert_eq!(app.ping("job", "1D").await.status(), 200);
    let rid = "6f1e2d3c-4b5a-4978-8695-a4b3c2d1e0f9";
    // curl -fsS -m 10 --retry 5 -o /dev/null https://monitor/hc/KEY/job/start?rid=…
    let start = app.get(&format!("/hc/k/job/start?rid={rid}")).await;
    assert_eq!(answer(start).await, (200, "OK".to_owned()));
    let other = app.get("/hc/k/job/start?rid=other").await;
    assert_eq!(other.status(), 200);
    // curl -I (HEAD): 200, no body.
    let head = app
        .client
        .head(app.url(&format!("/hc/k/job?rid={rid}")))
        .send()
        .await
        .expect("head");
    assert_eq!(answer(head).await, (200, String::new()));
    let events = events(&app, "job").await;
    assert_eq!(
        (&events[0]["kind"], &events[0]["rid"]),
        (&Value::from("ping"), &Value::from(rid))
    );
    assert!(
        events[0]["duration_seconds"].as_f64().is_some(),
        "the rid ended its own run"
    );
    assert_eq!(
        app.job("job").await["running"],
        true,
        "run `other` is still open"
    );
    let bad = app.get(&format!("/hc/k/job?rid={}", "r".repeat(65))).await;
    assert_eq!(bad.status(), 400);
    app.stop().await;
}

#[tokio::test]
async fn create_1_creates_an_unknown_slug_with_healthchecks_defaults() {
    let app = spawn_app().await;
    let created = runitor(&app, "/hc/k/new-job/start?create=1", "").await;
    assert_eq!(answer(created).await, (201, "Created".to_owned()));
    let job = app.job("new-job").await;
    assert_eq!(
        (&job["frequency_seconds"], &job["grace_seconds"]),
        (&Value::from(86_400), &Value::from(3_600))
    );
    assert_eq!(job["running"], true, "the creating ping counts");
    let again = runitor(&app, "/hc/k/new-job/0?create=1", "").await;
    assert_eq!(answer(again).await, (200, "OK".to_owned()));
    // A known job keeps its own frequency.
    assert_eq!(app.ping("hourly", "1h").await.status(), 200);
    assert_eq!(app.get("/hc/k/hourly?create=1").await.status(), 200);
    assert_eq!(app.job("hourly").await["frequency_seconds"], 3_600);
    app.stop().await;
}

#[tokio::test]
async fn an_unknown_slug_is_404_without_create_and_nothing_is_created() {
    let app = spawn_app().await;
    for path in [
        "/hc/k/ghost",
        "/hc/k/ghost/start",
        "/hc/k/ghost/fail",
        "/hc/k/ghost/log",
        "/hc/k/ghost/0",
        "/hc/k/ghost?create=0",
    ] {
        let response = app.get(path).await;
        assert_eq!(response.status(), 404, "{path}");
        assert_eq!(
            response.text().await.unwrap_or_default().trim_end(),
            "not found",
            "{path}"
        );
    }
    assert_eq!(app.get("/ping/ghost").await.status(), 404);
    app.stop().await;
}

#[tokio::test]
async fn an_exit_code_beyond_255_is_400_and_a_word_is_404() {
    let app = spawn_app().await;
    assert_eq!(app.ping("job", "1D").await.status(), 200);
    for code in ["256", "1000", "99999999999999999999"] {
        let response = runitor(&app, &format!("/hc/k/job/{code}"), "").await;
        let (status, body) = answer(response).await;
        assert_eq!(status, 400, "{code}");
        assert!(body.contains("255"), "{code}: {body}");
    }
    for word in ["-1", "abc", "1.0", "START"] {
        assert_eq!(
            app.get(&format!("/hc/k/job/{word}")).await.status(),
            404,
            "{word}"
        );
    }
    assert_eq!(
        app.job("job").await["pings_total"],
        1,
        "nothing was recorded"
    );
    assert_eq!(app.get("/hc/k/job/255").await.status(), 200);
    app.stop().await;
}

#[tokio::test]
async fn with_a_ping_token_the_key_must_be_the_token() {
    let app = spawn_app_with(&["--ping-token", "pt-123"]).await;
    let created = app.get("/hc/pt-123/job?create=1").await;
    assert_eq!(created.status(), 201);
    for key in ["wrong", "pt-12", "pt-1234", "PT-123"] {
        let response = runitor(&app, &format!("/hc/{key}/job/fail"), "").await;
        let (status, body) = answer(response).await;
        assert_eq!(status, 401, "{key}");
        assert!(body.contains("--ping-token"), "{body}");
    }
    assert_eq!(app.get("/hc/wrong/other?create=1").await.status(), 401);
    let job = app.job("job").await;
    assert_eq!(
        (&job["status"], &job["pings_total"]),
        (&Value::from("up"), &Value::from(1))
    );
    assert_eq!(app.get("/ping/other").await.status(), 404);
    assert_eq!(app.get("/hc/pt-123/job").await.status(), 200);
    app.stop().await;
}

#[tokio::test]
async fn a_body_over_16_kib_is_413() {
    let app = spawn_app().await;
    assert_eq!(app.ping("job", "1D").await.status(), 200);
    let response = app
        .client
        .post(app.url("/hc/k/job/fail"))
        .body("x".repeat(16 * 1024 + 1))
        .send()
        .await
        .expect("post");
    assert_eq!(response.status(), 413);
    assert_eq!(app.job("job").await["status"], "up");
    app.stop().await;
}
