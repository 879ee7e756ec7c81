//! SPEC §4: `DELETE /ping?name=NAME` and `POST /ping/remove?name=NAME` do what
//! `DELETE /ping/{name}` does, and a job named `remove` stays reachable.

use crate::common::{spawn_app, spawn_app_with, TestApp};
use crate::support::assert_text_error;

/// The two ways of deleting a job named in the query, as (method, path).
const BY_QUERY: [(&str, &str); 2] = [("DELETE", "/ping"), ("POST", "/ping/remove")];

async fn send(app: &TestApp, method: &str, path: &str, token: Option<&str>) -> reqwest::Response {
    let method = reqwest::Method::from_bytes(method.as_bytes()).expect("method");
    let mut request = app.client.request(method, app.url(path));
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    request.send().await.expect("request")
}

#[tokio::test]
async fn deleting_by_query_answers_what_deleting_by_path_answers() {
    let app = spawn_app().await;
    for (method, path) in BY_QUERY {
        assert_eq!(app.ping("doomed job", "1m").await.status(), 200);
        let response = send(&app, method, &format!("{path}?name=doomed%20job"), None).await;
        assert_eq!(response.status(), 200, "{method} {path}");
        assert!(response.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/plain"));
        assert_eq!(
            response.text().await.unwrap(),
            "Successfully deleted ping: doomed job\n",
            "{method} {path}"
        );
        assert_eq!(app.get("/ping/doomed%20job").await.status(), 404);
        // JSON clients get the message as an object, as from DELETE /ping/{name}.
        assert_eq!(app.ping("doomed job", "1m").await.status(), 200);
        let response = app
            .client
            .request(
                reqwest::Method::from_bytes(method.as_bytes()).unwrap(),
                app.url(&format!("{path}?name=doomed+job")),
            )
            .header("accept", "application/json")
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200, "{method} {path}");
        let body: serde_json::Value = response.json().await.unwrap();
        assert_eq!(body["message"], "Successfully deleted ping: doomed job");
    }
    app.stop().await;
}

#[tokio::test]
async fn deleting_an_unknown_job_by_query_is_404() {
    let app = spawn_app().await;
    for (method, path) in BY_QUERY {
        let response = send(&app, method, &format!("{path}?name=nobody"), None).await;
        let body = assert_text_error(response, 404).await;
        assert!(body.contains("nobody"), "{method} {path}: {body}");
    }
    app.stop().await;
}

#[tokio::test]
async fn deleting_by_query_without_a_name_is_400() {
    let app = spawn_app().await;
    assert_eq!(app.ping("kept", "1m").await.status(), 200);
    for (method, path) in BY_QUERY {
        for query in ["", "?other=kept", "?name="] {
            let response = send(&app, method, &format!("{path}{query}"), None).await;
            let body = assert_text_error(response, 400).await;
            assert!(body.contains("name"), "{method} {path}{query}: {body}");
        }
    }
    // Nothing was deleted on the way.
    assert_eq!(app.get("/ping/kept").await.status(), 200);
    app.stop().await;
}

#[tokio::test]
async fn deleting_by_query_needs_the_admin_token_and_pinging_does_not() {
    let app = spawn_app_with(&["--admin-token", "s3cret"]).await;
    assert_eq!(app.ping("guarded", "1m").await.status(), 200);
    for (method, path) in BY_QUERY {
        let path = format!("{path}?name=guarded");
        let response = send(&app, method, &path, None).await;
        assert_eq!(response.status(), 401, "{method} {path}");
        assert_eq!(response.headers()["www-authenticate"], "Bearer");
        let response = send(&app, method, &path, Some("wrong")).await;
        assert_text_error(response, 403).await;
    }
    // Still there, and /ping itself stays open for GET and POST.
    assert_eq!(app.ping("guarded", "1m").await.status(), 200);
    let response = send(&app, "POST", "/ping?name=guarded", None).await;
    assert_eq!(response.status(), 200);
    for (method, path) in BY_QUERY {
        assert_eq!(app.ping("guarded", "1m").await.status(), 200);
        let response = send(
            &app,
            method,
            &format!("{path}?name=guarded"),
            Some("s3cret"),
        )
        .await;
        assert_eq!(response.status(), 200, "{method} {path}");
        assert_eq!(
            response.text().await.unwrap(),
            "Successfully deleted ping: guarded\n"
        );
    }
    app.stop().await;
}

#[tokio::test]
async fn a_job_named_remove_is_read_and_deleted_through_its_path() {
    let app = spawn_app_with(&["--admin-token", "s3cret"]).await;
    assert_eq!(app.ping("remove", "1m").await.status(), 200);
    assert_eq!(app.ping("other", "1m").await.status(), 200);
    // Admin routes, like any job's.
    assert_eq!(send(&app, "GET", "/ping/remove", None).await.status(), 401);
    assert_eq!(
        send(&app, "DELETE", "/ping/remove", None).await.status(),
        401
    );
    let response = send(&app, "GET", "/ping/remove", Some("s3cret")).await;
    assert_eq!(response.status(), 200);
    let job: serde_json::Value = response.json().await.unwrap();
    assert_eq!(job["name"], "remove");
    assert_eq!(job["frequency_seconds"], 60);
    // POST /ping/remove without a name deletes nothing, not even the job named remove.
    let response = send(&app, "POST", "/ping/remove", Some("s3cret")).await;
    assert_eq!(response.status(), 400);
    let response = send(&app, "DELETE", "/ping/remove", Some("s3cret")).await;
    assert_eq!(response.status(), 200);
    assert_eq!(
        response.text().await.unwrap(),
        "Successfully deleted ping: remove\n"
    );
    assert_eq!(
        send(&app, "GET", "/ping/remove", Some("s3cret"))
            .await
            .status(),
        404
    );
    assert_eq!(
        send(&app, "DELETE", "/ping/remove", Some("s3cret"))
            .await
            .status(),
        404
    );
    // The other job was not touched; and it can be removed by the query too.
    let response = send(&app, "POST", "/ping/remove?name=other", Some("s3cret")).await;
    assert_eq!(response.status(), 200);
    app.stop().await;
}
