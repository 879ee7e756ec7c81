//! SPEC §3: every error is one line of text, or `{"error": "..."}` for JSON clients.

use crate::common::{now_unix, spawn_app, spawn_app_with, TestApp};
use crate::support::assert_text_error;

/// The requests that fail with each status, given an app started with `--ping-token t`
/// where the job `known` exists with a recent timestamp.
async fn failing(app: &TestApp, status: u16, json: bool) -> reqwest::Response {
    let request = match status {
        400 => app.client.get(app.url("/ping?name=x&frequency=1M&token=t")),
        401 => app.client.get(app.url("/ping?name=known")),
        404 => app.client.get(app.url("/ping/nobody")),
        409 => app.client.get(app.url("/ping")).query(&[
            ("name", "known"),
            ("token", "t"),
            ("timestamp", "1000"),
        ]),
        413 => app
            .client
            .post(app.url("/ping?name=known&token=t"))
            .body(vec![b'x'; 17 * 1024]),
        405 => app.client.put(app.url("/ping?name=known&token=t")),
        414 => app.client.get(app.url(&format!(
            "/ping?name=known&token=t&pad={}",
            "p".repeat(9 * 1024)
        ))),
        other => panic!("no failing request for {other}"),
    };
    let request = if json {
        request.header("accept", "application/json")
    } else {
        request
    };
    request.send().await.expect("request")
}

async fn app_with_a_known_job() -> TestApp {
    let app = spawn_app_with(&["--ping-token", "t"]).await;
    let ts = (now_unix() - 10).to_string();
    let r = app
        .ping_with(&[
            ("name", "known"),
            ("frequency", "1m"),
            ("token", "t"),
            ("timestamp", &ts),
        ])
        .await;
    assert_eq!(r.status(), 200);
    app
}

#[tokio::test]
async fn error_bodies_are_one_line_of_plain_text() {
    let app = app_with_a_known_job().await;
    for status in [400, 401, 404, 405, 409, 413, 414] {
        let response = failing(&app, status, false).await;
        let body = assert_text_error(response, status).await;
        assert!(!body.starts_with('{'), "{status}: {body}");
    }
    app.stop().await;
}

#[tokio::test]
async fn json_clients_get_errors_as_an_error_object() {
    let app = app_with_a_known_job().await;
    for status in [400, 401, 404, 405, 409, 413, 414] {
        let response = failing(&app, status, true).await;
        assert_eq!(response.status(), status);
        let content_type = response.headers()["content-type"]
            .to_str()
            .unwrap()
            .to_owned();
        assert!(
            content_type.starts_with("application/json"),
            "{status}: {content_type}"
        );
        let body: serde_json::Value = response.json().await.expect("json error body");
        let object = body.as_object().expect("an object");
        assert_eq!(object.len(), 1, "{status}: {body}");
        let message = object["error"].as_str().expect("error is a string");
        assert!(
            !message.is_empty() && !message.contains('\n'),
            "{status}: {body}"
        );
    }
    app.stop().await;
}

#[tokio::test]
async fn json_error_messages_match_the_text_ones() {
    let app = app_with_a_known_job().await;
    for status in [400, 401, 404, 409] {
        let text = failing(&app, status, false).await.text().await.unwrap();
        let json: serde_json::Value = failing(&app, status, true).await.json().await.unwrap();
        assert_eq!(json["error"].as_str(), Some(text.trim()), "{status}");
    }
    app.stop().await;
}

#[tokio::test]
async fn admin_and_router_errors_are_json_for_json_clients() {
    let app = spawn_app_with(&["--admin-token", "secret"]).await;
    for (path, status) in [("/pings", 401), ("/nowhere", 404)] {
        let response = app
            .client
            .get(app.url(path))
            .header("accept", "application/json")
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), status, "{path}");
        assert!(response.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("application/json"));
        let body: serde_json::Value = response.json().await.unwrap();
        assert!(
            body["error"].as_str().is_some_and(|m| !m.is_empty()),
            "{body}"
        );
    }
    let response = app
        .client
        .get(app.url("/pings"))
        .bearer_auth("wrong")
        .header("accept", "application/json")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 403);
    let body: serde_json::Value = response.json().await.unwrap();
    assert!(
        body["error"].as_str().is_some_and(|m| !m.is_empty()),
        "{body}"
    );
    app.stop().await;
}

#[tokio::test]
async fn the_507_body_is_one_line_of_text() {
    let app = spawn_app_with(&["--max-services", "1"]).await;
    assert_eq!(app.ping("one", "1m").await.status(), 200);
    let body = assert_text_error(app.ping("two", "1m").await, 507).await;
    assert!(body.contains("--max-services"), "{body}");
    app.stop().await;
}

#[tokio::test]
async fn a_valid_ping_answers_json_only_when_asked() {
    let app = spawn_app().await;
    let response = app
        .client
        .get(app.url("/ping?name=a&frequency=1m"))
        .header("accept", "text/html, application/json;q=0.9")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["name"], "a");
    let response = app
        .client
        .get(app.url("/ping?name=a"))
        .header("accept", "text/plain")
        .send()
        .await
        .unwrap();
    assert_eq!(
        response.text().await.unwrap(),
        "Successfully recorded ping for a\n"
    );
    app.stop().await;
}

/// Asserts that a plain-text body is one line ending with exactly one newline.
fn assert_one_line_and_newline(what: &str, body: &str) {
    assert!(
        body.ends_with('\n') && !body.ends_with("\n\n") && body.matches('\n').count() == 1,
        "{what}: {body:?}"
    );
}

#[tokio::test]
async fn plain_text_answers_end_with_one_newline() {
    let app = app_with_a_known_job().await;
    for status in [400, 401, 404, 405, 409, 413, 414] {
        let body = failing(&app, status, false).await.text().await.unwrap();
        assert_one_line_and_newline(&status.to_string(), &body);
    }
    let ping = app
        .ping_with(&[("name", "known"), ("token", "t")])
        .await
        .text()
        .await
        .unwrap();
    assert_eq!(ping, "Successfully recorded ping for known\n");
    for path in ["/livez", "/readyz"] {
        let body = app.get(path).await.text().await.unwrap();
        assert_one_line_and_newline(path, &body);
    }
    let deleted = app
        .client
        .delete(app.url("/ping/known"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(deleted, "Successfully deleted ping: known\n");
    app.stop().await;

    let app = spawn_app_with(&["--admin-token", "secret", "--max-services", "1"]).await;
    assert_eq!(app.ping("one", "1m").await.status(), 200);
    let full = app.ping("two", "1m").await.text().await.unwrap();
    assert_one_line_and_newline("507", &full);
    let unauthorized = app.get("/pings").await.text().await.unwrap();
    assert_one_line_and_newline("401", &unauthorized);
    let forbidden = app
        .client
        .get(app.url("/pings"))
        .bearer_auth("wrong")
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_one_line_and_newline("403", &forbidden);
    app.stop().await;
}

#[tokio::test]
async fn json_bodies_do_not_get_a_newline() {
    let app = app_with_a_known_job().await;
    for status in [400, 404, 409] {
        let body = failing(&app, status, true).await.text().await.unwrap();
        assert!(body.ends_with('}'), "{status}: {body:?}");
    }
    app.stop().await;
}
