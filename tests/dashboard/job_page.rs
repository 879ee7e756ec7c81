//! SPEC §15, the job page: every field, the ping lines, the history with outputs
//! folded, deliveries, and the pause / resume / acknowledge / delete forms.

use crate::support::{csrf_in, Dash};

async fn job(dash: &Dash, name: &str) -> serde_json::Value {
    dash.get(&format!("/ping/{name}"))
        .await
        .json()
        .await
        .unwrap()
}

#[tokio::test]
async fn the_job_page_shows_every_field_the_ping_lines_and_the_history() {
    let dash = Dash::signed_in(&[]).await;
    assert_eq!(dash.app.ping("backup", "1D").await.status(), 200);
    let response = dash
        .app
        .client
        .post(dash.app.url("/ping?name=backup&state=fail&exit_code=2"))
        .body("disk <full> & \"more\"")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let html = dash.page("/ui/job?name=backup").await;
    assert!(html.contains("<h1>backup</h1>"));
    assert!(html.contains(r#"<span class="status-word status-down">down</span>"#));
    for field in [
        "name",
        "frequency",
        "status",
        "last_ping",
        "next_deadline",
        "down_since",
        "alerts_sent",
        "pings_total",
        "running",
        "last_duration_seconds",
        "last_exit_code",
        "failure_tolerance",
        "acknowledged",
        "paused_until",
    ] {
        assert!(html.contains(&format!("<dt>{field}</dt>")), "{field}");
    }
    let origin = dash.origin();
    assert!(
        html.contains(&format!(
            "<pre><code>curl -fsS --retry 3 &#34;{origin}/ping?name=backup&#38;frequency=1D&#34; &#62; /dev/null</code></pre>"
        )),
        "{html}"
    );
    assert!(html.contains(&format!(
        "<pre><code>overdue run --url {origin} --name backup --every 1D -- /path/to/command</code></pre>"
    )));
    assert!(html.contains(r#"<table id="history">"#));
    assert!(
        html.contains("<details><summary>output</summary><pre>disk "),
        "{html}"
    );
    assert!(!html.contains("<full>"), "the output is escaped");
    assert!(html.contains(r#"<table id="deliveries">"#));
    dash.stop().await;
}

#[tokio::test]
async fn pause_resume_acknowledge_and_delete_through_the_forms() {
    let dash = Dash::signed_in(&["--realert-every", "1s"]).await;
    assert_eq!(dash.app.ping("etl", "1h").await.status(), 200);
    let csrf = dash.csrf("/ui/job?name=etl").await;

    let response = dash
        .post_form("/ui/job/pause?name=etl", &[("csrf", &csrf), ("for", "1h")])
        .await;
    assert_eq!(response.status(), 303);
    assert_eq!(response.headers()["location"], "/ui/job?name=etl");
    let paused = job(&dash, "etl").await;
    assert_eq!(paused["status"], "paused");
    assert!(paused["paused_until"].is_string());

    let response = dash
        .post_form("/ui/job/resume?name=etl", &[("csrf", &csrf)])
        .await;
    assert_eq!(response.status(), 303);
    assert_eq!(job(&dash, "etl").await["status"], "up");
    // Resuming again: nothing to resume, said in a page.
    let response = dash
        .post_form("/ui/job/resume?name=etl", &[("csrf", &csrf)])
        .await;
    assert_eq!(response.status(), 409);
    assert!(response.text().await.unwrap().contains("not paused"));

    // Acknowledge needs a down job: a failing run brings it down.
    let response = dash
        .app
        .ping_with(&[("name", "etl"), ("state", "fail")])
        .await;
    assert_eq!(response.status(), 200);
    let response = dash
        .post_form(
            "/ui/job/ack?name=etl",
            &[("csrf", &csrf), ("note", "on it <b>now</b>")],
        )
        .await;
    assert_eq!(response.status(), 303);
    let acked = job(&dash, "etl").await;
    assert_eq!(acked["acknowledged"]["note"], "on it <b>now</b>");
    let html = dash.page("/ui/job?name=etl").await;
    assert!(!html.contains("<b>now</b>"), "the note is escaped");

    // Delete asks first; the confirmation's button posts confirm=yes.
    let response = dash
        .post_form("/ui/job/delete?name=etl", &[("csrf", &csrf)])
        .await;
    assert_eq!(response.status(), 200);
    let confirm = response.text().await.unwrap();
    assert!(confirm.contains(r#"<input type="hidden" name="confirm" value="yes">"#));
    assert!(confirm.contains(">Delete</button>"));
    assert_eq!(dash.get("/ping/etl").await.status(), 200, "not deleted yet");
    let token = csrf_in(&confirm).unwrap();
    let response = dash
        .post_form(
            "/ui/job/delete?name=etl",
            &[("csrf", &token), ("confirm", "yes")],
        )
        .await;
    assert_eq!(response.status(), 303);
    assert_eq!(response.headers()["location"], "/");
    assert_eq!(dash.get("/ping/etl").await.status(), 404);
    dash.stop().await;
}

#[tokio::test]
async fn a_form_post_from_another_origin_changes_nothing() {
    let dash = Dash::signed_in(&[]).await;
    assert_eq!(dash.app.ping("etl", "1h").await.status(), 200);
    let csrf = dash.csrf("/ui/job?name=etl").await;
    for path in ["/ui/job/pause?name=etl", "/ui/job/delete?name=etl"] {
        let response = dash
            .client
            .post(dash.app.url(path))
            .header("cookie", dash.cookie.clone().unwrap())
            .header("origin", "https://evil.example")
            .form(&[("csrf", csrf.as_str()), ("for", "1h"), ("confirm", "yes")])
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 403, "{path}");
    }
    let response = dash
        .post_form(
            "/ui/job/pause?name=etl",
            &[("csrf", "wrong"), ("for", "1h")],
        )
        .await;
    assert_eq!(response.status(), 403);
    assert_eq!(job(&dash, "etl").await["status"], "up");
    dash.stop().await;
}

#[tokio::test]
async fn an_unknown_job_is_404_and_a_bad_duration_400() {
    let dash = Dash::signed_in(&[]).await;
    assert_eq!(dash.get("/ui/job?name=nobody").await.status(), 404);
    assert_eq!(dash.get("/ui/job").await.status(), 400);
    assert_eq!(dash.app.ping("etl", "1h").await.status(), 200);
    let csrf = dash.csrf("/ui/job?name=etl").await;
    let response = dash
        .post_form(
            "/ui/job/pause?name=etl",
            &[("csrf", &csrf), ("for", "soon")],
        )
        .await;
    assert_eq!(response.status(), 400);
    assert_eq!(job(&dash, "etl").await["status"], "up");
    dash.stop().await;
}
