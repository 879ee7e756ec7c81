//! SPEC §12's routes as §4 wants admin routes: the admin token, 404 for an unknown
//! name, the job object with `Accept: application/json` and one line of text without,
//! and parameters from the query or a form body.

use crate::common::{spawn_app, spawn_app_with, TestApp};
use crate::support::assert_text_error;

const ACTIONS: [&str; 3] = ["pause", "resume", "ack"];

/// `POST /ping/{name}/{action}?query` with an optional bearer token.
async fn post(app: &TestApp, path: &str, token: Option<&str>) -> reqwest::Response {
    let mut request = app.client.post(app.url(path));
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    request.send().await.expect("post")
}

#[tokio::test]
async fn the_actions_need_the_admin_token() {
    let app = spawn_app_with(&["--admin-token", "s3cret"]).await;
    assert_eq!(app.ping("guarded", "1m").await.status(), 200);
    for action in ACTIONS {
        let path = format!("/ping/guarded/{action}");
        let response = post(&app, &path, None).await;
        assert_eq!(response.status(), 401, "{path}");
        assert_eq!(response.headers()["www-authenticate"], "Bearer");
        assert_text_error(post(&app, &path, Some("wrong")).await, 403).await;
    }
    let response = post(&app, "/ping/guarded/pause", Some("s3cret")).await;
    assert_eq!(response.status(), 200);
    assert_eq!(
        response.text().await.unwrap(),
        "Paused guarded until resumed\n"
    );
    let response = post(&app, "/ping/guarded/resume", Some("s3cret")).await;
    assert_eq!(response.text().await.unwrap(), "Resumed guarded\n");
    app.stop().await;
}

#[tokio::test]
async fn an_unknown_or_invalid_name_is_404_or_400_in_the_clients_format() {
    let app = spawn_app().await;
    for action in ACTIONS {
        let path = format!("/ping/nobody/{action}");
        let message = assert_text_error(post(&app, &path, None).await, 404).await;
        assert!(message.contains("no job named nobody"), "{message}");
        let response = app
            .client
            .post(app.url(&path))
            .header("Accept", "application/json")
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 404);
        let body: serde_json::Value = response.json().await.unwrap();
        assert!(body["error"].is_string(), "{body}");
        let long = format!("/ping/{}/{action}", "a".repeat(201));
        assert_text_error(post(&app, &long, None).await, 400).await;
    }
    // GET is not an action: the path exists for POST only.
    assert_eq!(app.get("/ping/nobody/pause").await.status(), 405);
    app.stop().await;
}

#[tokio::test]
async fn the_answer_is_the_job_object_with_json_and_a_line_without() {
    let app = spawn_app().await;
    assert_eq!(app.ping("job", "1h").await.status(), 200);
    let response = app
        .client
        .post(app.url("/ping/job/pause?until=2100-01-01T00:00:00Z"))
        .header("Accept", "application/json")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert!(response.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("application/json"));
    let job: serde_json::Value = response.json().await.unwrap();
    assert_eq!(
        (
            job["name"].as_str(),
            job["status"].as_str(),
            job["paused_until"].as_str()
        ),
        (Some("job"), Some("paused"), Some("2100-01-01T00:00:00Z"))
    );
    assert_eq!(job, app.job("job").await, "the job as stored");
    let response = post(&app, "/ping/job/pause?until=4102444800", None).await;
    assert!(response.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/plain"));
    assert_eq!(
        response.text().await.unwrap(),
        "Paused job until 2100-01-01T00:00:00Z\n",
        "unix seconds and RFC 3339 name the same moment"
    );
    app.stop().await;
}

#[tokio::test]
async fn parameters_may_come_as_a_form_body_and_the_query_wins() {
    let app = spawn_app().await;
    assert_eq!(app.ping("job", "1h").await.status(), 200);
    let response = app
        .client
        .post(app.url("/ping/job/pause"))
        .header("Content-Type", "application/x-www-form-urlencoded")
        .body("until=2100-01-01T00%3A00%3A00Z")
        .send()
        .await
        .unwrap();
    assert_eq!(
        response.text().await.unwrap(),
        "Paused job until 2100-01-01T00:00:00Z\n"
    );
    let response = app
        .client
        .post(app.url("/ping/job/pause?until=2099-01-01T00:00:00Z"))
        .header("Content-Type", "application/x-www-form-urlencoded")
        .body("until=2100-01-01T00%3A00%3A00Z")
        .send()
        .await
        .unwrap();
    assert_eq!(
        response.text().await.unwrap(),
        "Paused job until 2099-01-01T00:00:00Z\n"
    );
    // A body that is not a form is not read as one.
    let response = app
        .client
        .post(app.url("/ping/job/pause"))
        .header("Content-Type", "text/plain")
        .body("until=2100-01-01T00%3A00%3A00Z")
        .send()
        .await
        .unwrap();
    assert_eq!(response.text().await.unwrap(), "Paused job until resumed\n");
    let response = app
        .client
        .post(app.url("/ping/job/pause"))
        .header("Content-Type", "application/x-www-form-urlencoded")
        .body("for=a+while")
        .send()
        .await
        .unwrap();
    let message = assert_text_error(response, 400).await;
    assert!(message.contains("invalid for \"a while\""), "{message}");
    app.stop().await;
}
