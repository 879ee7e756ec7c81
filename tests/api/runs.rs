//! SPEC §10 at the HTTP boundary: the run parameters of `/ping` are validated with a
//! one-line message naming the parameter, a refused ping changes nothing, and a POST
//! body and the request's origin reach the ping's event.

use serde_json::Value;

use crate::common::{spawn_app, spawn_app_with, TestApp};
use crate::support::assert_text_error;

async fn events(app: &TestApp, name: &str) -> Value {
    let response = app.get(&format!("/ping/{name}/events")).await;
    assert_eq!(response.status(), 200, "events of {name}");
    response.json().await.expect("an event page")
}

#[tokio::test]
async fn invalid_run_parameters_are_400_naming_the_parameter_and_change_nothing() {
    let app = spawn_app().await;
    assert_eq!(app.ping("job", "1h").await.status(), 200);
    let before = app.job("job").await;
    let cases = [
        ("state", "bogus"),
        ("state", "START"),
        ("state", ""),
        ("exit_code", "256"),
        ("exit_code", "-1"),
        ("exit_code", "1.0"),
        ("exit_code", "x"),
        ("rid", ""),
        ("rid", "é"),
        ("rid", "a\tb"),
        ("max_runtime", "abc"),
        ("max_runtime", "367D"),
        ("max_runtime", "1M"),
        ("failure_tolerance", "101"),
        ("failure_tolerance", "-1"),
        ("failure_tolerance", "many"),
    ];
    let long_rid = "r".repeat(65);
    for (param, value) in cases.iter().copied().chain([("rid", long_rid.as_str())]) {
        let response = app.ping_with(&[("name", "job"), (param, value)]).await;
        let body = assert_text_error(response, 400).await;
        assert!(body.contains(param), "{param}={value:?}: {body}");
    }
    let after = app.job("job").await;
    assert_eq!(after, before, "a refused ping changes nothing");
    app.stop().await;
}

#[tokio::test]
async fn valid_run_parameters_are_accepted_at_their_bounds() {
    let app = spawn_app().await;
    assert_eq!(app.ping("job", "1h").await.status(), 200);
    let long_rid = "r".repeat(64);
    let cases = [
        ("state", "start"),
        ("state", "log"),
        ("state", "success"),
        ("exit_code", "0"),
        ("rid", long_rid.as_str()),
        ("rid", "~ !\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}"),
        ("max_runtime", "1s"),
        ("max_runtime", "366D"),
        ("failure_tolerance", "0"),
        ("failure_tolerance", "100"),
    ];
    for (param, value) in cases {
        let response = app.ping_with(&[("name", "job"), (param, value)]).await;
        assert_eq!(response.status(), 200, "{param}={value:?}");
    }
    assert_eq!(app.job("job").await["failure_tolerance"], 100);
    assert_eq!(app.job("job").await["max_runtime_seconds"], 366 * 86_400);
    let cleared = app
        .ping_with(&[("name", "job"), ("max_runtime", "0")])
        .await;
    assert_eq!(cleared.status(), 200);
    assert_eq!(
        app.job("job").await["max_runtime_seconds"],
        Value::Null,
        "0 clears it"
    );
    app.stop().await;
}

#[tokio::test]
async fn a_ping_answers_the_job_with_its_run_fields_as_json() {
    let app = spawn_app().await;
    let response = app
        .client
        .get(app.url("/ping?name=job&frequency=1h&state=start&max_runtime=30m"))
        .header("accept", "application/json")
        .send()
        .await
        .expect("ping");
    assert_eq!(response.status(), 200);
    let job: Value = response.json().await.expect("a job");
    assert_eq!(job["running"], true);
    assert_eq!(job["max_runtime_seconds"], 1_800);
    for field in [
        "last_start",
        "last_duration_seconds",
        "last_exit_code",
        "failure_tolerance",
        "consecutive_failures",
    ] {
        assert!(job.get(field).is_some(), "{field} in {job}");
    }
    app.stop().await;
}

#[tokio::test]
async fn a_post_body_is_the_output_and_the_origin_is_recorded() {
    let app = spawn_app().await;
    assert_eq!(app.ping("job", "1h").await.status(), 200);
    let agent = format!("backup-script/{}", "9".repeat(300));
    let response = app
        .client
        .post(app.url("/ping?name=job&state=log"))
        .header("user-agent", &agent)
        .body(b"step 3 of 5 \xff done".to_vec())
        .send()
        .await
        .expect("post");
    assert_eq!(response.status(), 200);
    let page = events(&app, "job").await;
    let log = &page["events"][0];
    assert_eq!(log["kind"], "log");
    assert_eq!(log["log"], "step 3 of 5 \u{fffd} done");
    assert_eq!(log["remote_addr"], "127.0.0.1");
    let kept = log["user_agent"].as_str().expect("a user agent");
    assert!(
        kept.starts_with("backup-script/999") && kept.len() <= 200,
        "{kept}"
    );

    // A GET has no output, and the first 10 KiB of a long body are kept.
    assert_eq!(
        app.ping_with(&[("name", "job"), ("state", "log")])
            .await
            .status(),
        200
    );
    assert_eq!(events(&app, "job").await["events"][0]["log"], Value::Null);
    let long = "x".repeat(16 * 1024);
    let response = app
        .client
        .post(app.url("/ping?name=job&state=log"))
        .body(long)
        .send()
        .await
        .expect("post");
    assert_eq!(response.status(), 200);
    let kept = events(&app, "job").await["events"][0]["log"]
        .as_str()
        .map(str::len);
    assert_eq!(kept, Some(10 * 1024));
    app.stop().await;
}

#[tokio::test]
async fn a_body_over_16_kib_is_413_and_records_nothing() {
    let app = spawn_app().await;
    assert_eq!(app.ping("job", "1h").await.status(), 200);
    let before = events(&app, "job").await;
    let response = app
        .client
        .post(app.url("/ping?name=job&state=fail"))
        .body("x".repeat(16 * 1024 + 1))
        .send()
        .await
        .expect("post");
    assert_eq!(response.status(), 413);
    assert_eq!(events(&app, "job").await, before);
    assert_eq!(app.job("job").await["status"], "up");
    app.stop().await;
}

#[tokio::test]
async fn without_history_the_client_address_is_not_needed() {
    // With --history 0 and no rate limit the server attaches no address: pings and
    // their answers are unchanged.
    let app = spawn_app_with(&["--history", "0"]).await;
    assert_eq!(app.ping("job", "1h").await.status(), 200);
    let page = events(&app, "job").await;
    assert_eq!(page["events"].as_array().map(Vec::len), Some(0));
    app.stop().await;
}
