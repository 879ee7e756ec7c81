//! SPEC §2 and §4: `--admin-token` on the admin routes, `--ping-token` on `/ping`, and
//! the `--max-services` cap.

use crate::common::{spawn_app, spawn_app_with, TestApp};
use crate::support::assert_text_error;

/// The admin routes, as (method, path) after the job `known` exists.
const ADMIN_ROUTES: [(&str, &str); 5] = [
    ("GET", "/pings"),
    ("GET", "/pings?status=up&limit=5"),
    ("GET", "/ping/known"),
    ("GET", "/ping/known/events"),
    ("DELETE", "/ping/known"),
];

async fn admin_request(
    app: &TestApp,
    method: &str,
    path: &str,
    token: Option<&str>,
) -> reqwest::Response {
    let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
    let mut request = app.client.request(method, app.url(path));
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    request.send().await.expect("request")
}

#[tokio::test]
async fn admin_routes_answer_401_without_a_token() {
    let app = spawn_app_with(&["--admin-token", "s3cret"]).await;
    assert_eq!(app.ping("known", "1m").await.status(), 200);
    for (method, path) in ADMIN_ROUTES {
        let response = admin_request(&app, method, path, None).await;
        assert_eq!(response.status(), 401, "{method} {path}");
        assert_eq!(
            response
                .headers()
                .get("www-authenticate")
                .map(|v| v.to_str().unwrap()),
            Some("Bearer"),
            "{method} {path}"
        );
        let body = assert_text_error(response, 401).await;
        assert!(body.contains("Authorization"), "{body}");
    }
    // Nothing was deleted.
    let response = admin_request(&app, "GET", "/ping/known", Some("s3cret")).await;
    assert_eq!(response.status(), 200);
    app.stop().await;
}

#[tokio::test]
async fn admin_routes_answer_403_with_a_wrong_token() {
    let app = spawn_app_with(&["--admin-token", "s3cret"]).await;
    assert_eq!(app.ping("known", "1m").await.status(), 200);
    for wrong in ["wrong", "s3cre", "s3cret2", "S3CRET"] {
        for (method, path) in ADMIN_ROUTES {
            let response = admin_request(&app, method, path, Some(wrong)).await;
            let body = assert_text_error(response, 403).await;
            assert!(body.contains("token"), "{method} {path}: {body}");
        }
    }
    // A non-bearer scheme is not a token.
    let response = app
        .client
        .get(app.url("/pings"))
        .basic_auth("admin", Some("s3cret"))
        .send()
        .await
        .unwrap();
    assert!(
        [401, 403].contains(&response.status().as_u16()),
        "{}",
        response.status()
    );
    let response = admin_request(&app, "GET", "/ping/known", Some("s3cret")).await;
    assert_eq!(response.status(), 200);
    app.stop().await;
}

#[tokio::test]
async fn admin_routes_answer_200_with_the_right_token() {
    let app = spawn_app_with(&["--admin-token", "s3cret"]).await;
    assert_eq!(app.ping("known", "1m").await.status(), 200);
    let response = admin_request(&app, "GET", "/pings", Some("s3cret")).await;
    assert_eq!(response.status(), 200);
    let list: serde_json::Value = response.json().await.unwrap();
    assert_eq!(list["total"], 1);
    assert_eq!(list["services"][0]["name"], "known");
    let response = admin_request(&app, "GET", "/ping/known", Some("s3cret")).await;
    assert_eq!(response.status(), 200);
    let job: serde_json::Value = response.json().await.unwrap();
    assert_eq!(job["frequency_seconds"], 60);
    let response = admin_request(&app, "DELETE", "/ping/known", Some("s3cret")).await;
    assert_eq!(response.status(), 200);
    assert_eq!(
        response.text().await.unwrap(),
        "Successfully deleted ping: known\n"
    );
    let response = admin_request(&app, "GET", "/ping/known", Some("s3cret")).await;
    assert_eq!(response.status(), 404);
    app.stop().await;
}

#[tokio::test]
async fn ping_and_probes_stay_open_with_an_admin_token() {
    let app = spawn_app_with(&["--admin-token", "s3cret"]).await;
    let r = app.ping("open", "1m").await;
    assert_eq!(r.status(), 200);
    assert_eq!(
        r.text().await.unwrap(),
        "Successfully recorded ping for open\n"
    );
    let r = app
        .client
        .post(app.url("/ping?name=open"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let r = app.get("/livez").await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.text().await.unwrap(), "ok\n");
    assert_eq!(app.get("/readyz").await.status(), 200);
    app.stop().await;
}

#[tokio::test]
async fn without_an_admin_token_admin_routes_are_open() {
    let app = spawn_app().await;
    assert_eq!(app.ping("known", "1m").await.status(), 200);
    assert_eq!(app.get("/pings").await.status(), 200);
    // A bearer header that no one asked for does no harm.
    let response = admin_request(&app, "GET", "/ping/known", Some("anything")).await;
    assert_eq!(response.status(), 200);
    app.stop().await;
}

#[tokio::test]
async fn pings_need_the_ping_token_when_it_is_set() {
    let app = spawn_app_with(&["--ping-token", "p1ng"]).await;
    let r = app.ping("guarded", "1m").await;
    let body = assert_text_error(r, 401).await;
    assert!(body.contains("token"), "{body}");
    let r = app
        .ping_with(&[("name", "guarded"), ("frequency", "1m"), ("token", "wrong")])
        .await;
    assert_text_error(r, 401).await;
    let r = app
        .client
        .get(app.url("/ping?name=guarded&frequency=1m"))
        .bearer_auth("wrong")
        .send()
        .await
        .unwrap();
    assert_text_error(r, 401).await;
    let r = app
        .client
        .head(app.url("/ping?name=guarded&frequency=1m"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    let r = app
        .client
        .post(app.url("/ping?name=guarded&frequency=1m"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    // Nothing was recorded by the refused pings.
    assert_eq!(app.get("/ping/guarded").await.status(), 404);

    let r = app
        .ping_with(&[("name", "guarded"), ("frequency", "1m"), ("token", "p1ng")])
        .await;
    assert_eq!(r.status(), 200);
    assert_eq!(
        r.text().await.unwrap(),
        "Successfully recorded ping for guarded\n"
    );
    let r = app
        .client
        .get(app.url("/ping?name=guarded"))
        .bearer_auth("p1ng")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(app.job("guarded").await["pings_total"], 2);
    app.stop().await;
}

#[tokio::test]
async fn the_ping_token_does_not_guard_admin_routes_or_probes() {
    let app = spawn_app_with(&["--ping-token", "p1ng"]).await;
    assert_eq!(app.get("/pings").await.status(), 200);
    assert_eq!(app.get("/livez").await.status(), 200);
    assert_eq!(app.get("/readyz").await.status(), 200);
    app.stop().await;
}

#[tokio::test]
async fn admin_and_ping_tokens_are_independent() {
    let app = spawn_app_with(&["--admin-token", "adm", "--ping-token", "png"]).await;
    // The admin token does not open /ping.
    let r = app
        .client
        .get(app.url("/ping?name=x&frequency=1m"))
        .bearer_auth("adm")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    let r = app
        .ping_with(&[("name", "x"), ("frequency", "1m"), ("token", "png")])
        .await;
    assert_eq!(r.status(), 200);
    // The ping token does not open admin routes.
    assert_eq!(
        admin_request(&app, "GET", "/pings", Some("png"))
            .await
            .status(),
        403
    );
    assert_eq!(
        admin_request(&app, "GET", "/pings", Some("adm"))
            .await
            .status(),
        200
    );
    app.stop().await;
}

#[tokio::test]
async fn the_max_services_cap_refuses_new_names_with_507() {
    let app = spawn_app_with(&["--max-services", "3"]).await;
    for name in ["one", "two", "three"] {
        assert_eq!(app.ping(name, "1m").await.status(), 200, "{name}");
    }
    let r = app.ping("four", "1m").await;
    let body = assert_text_error(r, 507).await;
    assert!(body.contains("--max-services"), "{body}");
    assert_eq!(app.get("/ping/four").await.status(), 404);
    // Known names still ping.
    for name in ["one", "two", "three"] {
        let r = app.ping_with(&[("name", name)]).await;
        assert_eq!(r.status(), 200, "{name}");
    }
    let list: serde_json::Value = app.get("/pings").await.json().await.unwrap();
    assert_eq!(list["total"], 3);
    // Deleting a job frees its slot, for one new name only.
    let r = app
        .client
        .delete(app.url("/ping/two"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(app.ping("four", "1m").await.status(), 200);
    let r = app.ping("five", "1m").await;
    assert_eq!(r.status(), 507);
    app.stop().await;
}

#[tokio::test]
async fn a_refused_507_ping_is_json_for_json_clients() {
    let app = spawn_app_with(&["--max-services", "1"]).await;
    assert_eq!(app.ping("only", "1m").await.status(), 200);
    let r = app
        .client
        .get(app.url("/ping?name=other&frequency=1m"))
        .header("accept", "application/json")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 507);
    let body: serde_json::Value = r.json().await.unwrap();
    assert!(
        body["error"]
            .as_str()
            .is_some_and(|m| m.contains("--max-services")),
        "{body}"
    );
    app.stop().await;
}
