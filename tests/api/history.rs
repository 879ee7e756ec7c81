//! SPEC §13 at the HTTP boundary: `GET /ping/{name}/events`, its parameters, its name
//! decoding and the job named `remove`.

use serde_json::Value;

use crate::common::{encode, spawn_app, spawn_app_with};
use crate::support::assert_text_error;

#[tokio::test]
async fn invalid_limits_and_befores_are_400_naming_the_parameter() {
    let app = spawn_app().await;
    assert_eq!(app.ping("job", "1h").await.status(), 200);
    for bad in [
        "0",
        "1001",
        "-1",
        "+5",
        "x",
        "1.5",
        " 5",
        "99999999999999999999999",
    ] {
        let response = app
            .get(&format!("/ping/job/events?limit={}", encode(bad)))
            .await;
        let body = assert_text_error(response, 400).await;
        assert!(
            body.contains("limit") && body.contains("1000"),
            "limit={bad:?}: {body}"
        );
    }
    for bad in ["0", "-3", "x", "+2", "99999999999999999999999"] {
        let response = app
            .get(&format!("/ping/job/events?before={}", encode(bad)))
            .await;
        let body = assert_text_error(response, 400).await;
        assert!(body.contains("before"), "before={bad:?}: {body}");
    }
    for good in [
        "?limit=1",
        "?limit=1000",
        "?before=1",
        "?before=18446744073709551615",
        "?limit=&before=",
    ] {
        let response = app.get(&format!("/ping/job/events{good}")).await;
        assert_eq!(response.status(), 200, "{good}");
    }
    app.stop().await;
}

#[tokio::test]
async fn an_unknown_or_invalid_name_has_no_history() {
    let app = spawn_app().await;
    let body = assert_text_error(app.get("/ping/nobody/events").await, 404).await;
    assert!(body.contains("nobody"), "{body}");
    let response = app
        .client
        .get(app.url("/ping/nobody/events"))
        .header("accept", "application/json")
        .send()
        .await
        .expect("request");
    assert_eq!(response.status(), 404);
    let error: Value = response.json().await.expect("an error object");
    assert!(error["error"]
        .as_str()
        .is_some_and(|e| e.contains("nobody")));
    let too_long = "n".repeat(201);
    assert_eq!(
        app.get(&format!("/ping/{too_long}/events")).await.status(),
        400
    );
    app.stop().await;
}

#[tokio::test]
async fn names_are_percent_decoded_and_remove_is_a_job_like_any_other() {
    let app = spawn_app().await;
    for name in ["remove", "nightly backup/db", "ünïcode"] {
        assert_eq!(app.ping(name, "1h").await.status(), 200, "{name}");
        let response = app.get(&format!("/ping/{}/events", encode(name))).await;
        assert_eq!(response.status(), 200, "{name}");
        let page: Value = response.json().await.expect("a page");
        let kinds: Vec<&str> = page["events"]
            .as_array()
            .map(|e| e.iter().filter_map(|e| e["kind"].as_str()).collect())
            .unwrap_or_default();
        assert_eq!(kinds, ["ping", "created"], "{name}");
        assert_eq!(page["next"], Value::Null);
    }
    app.stop().await;
}

#[tokio::test]
async fn the_history_is_an_admin_route() {
    let app = spawn_app_with(&["--admin-token", "s3cret"]).await;
    assert_eq!(app.ping("job", "1h").await.status(), 200);
    assert_eq!(app.get("/ping/job/events").await.status(), 401);
    let response = app
        .client
        .get(app.url("/ping/job/events"))
        .bearer_auth("s3cret")
        .send()
        .await
        .expect("request");
    assert_eq!(response.status(), 200);
    app.stop().await;
}
