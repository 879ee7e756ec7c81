//! SPEC §15's badges: `GET /badge/{name}.svg` and `.json`, only with `--public-badges`.

use serde_json::{json, Value};

use crate::common::{encode, spawn_app_with, TestApp};

async fn badges_app() -> TestApp {
    spawn_app_with(&["--public-badges"]).await
}

/// The status, a header and the body of `GET path`.
async fn fetch(app: &TestApp, path: &str) -> (u16, reqwest::header::HeaderMap, String) {
    let response = app.get(path).await;
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    (status, headers, response.text().await.expect("body"))
}

async fn svg(app: &TestApp, path: &str) -> (u16, String) {
    let (status, headers, body) = fetch(app, path).await;
    assert_eq!(
        headers["content-type"], "image/svg+xml; charset=utf-8",
        "{path}"
    );
    assert_eq!(headers["cache-control"], "max-age=10", "{path}");
    assert!(
        body.starts_with("<svg xmlns=\"http://www.w3.org/2000/svg\""),
        "{body}"
    );
    assert!(body.ends_with("</svg>"), "{body}");
    (status, body)
}

async fn shields(app: &TestApp, path: &str) -> (u16, Value) {
    let (status, headers, body) = fetch(app, path).await;
    assert_eq!(headers["content-type"], "application/json", "{path}");
    assert_eq!(headers["cache-control"], "max-age=10", "{path}");
    (status, serde_json::from_str(&body).expect("badge JSON"))
}

/// The number in `attribute="…"` at its first occurrence after `from`.
fn number_after(svg: &str, from: &str, attribute: &str) -> f64 {
    let rest = &svg[svg.find(from).unwrap_or_else(|| panic!("{from} in {svg}"))..];
    let key = format!("{attribute}=\"");
    let start = rest.find(&key).expect("attribute") + key.len();
    let end = start + rest[start..].find('"').expect("closing quote");
    rest[start..end].parse().expect("a number")
}

fn start(app: &TestApp, name: &str) -> reqwest::RequestBuilder {
    app.client.get(app.url("/ping")).query(&[
        ("name", name),
        ("frequency", "1h"),
        ("state", "start"),
    ])
}

#[tokio::test]
async fn badges_answer_404_without_public_badges() {
    let app = spawn_app_with(&[]).await;
    assert_eq!(app.ping("backup", "1h").await.status(), 200);
    for path in [
        "/badge/backup.svg",
        "/badge/backup.json",
        "/badge/nobody.svg",
    ] {
        let (status, headers, body) = fetch(&app, path).await;
        assert_eq!(status, 404, "{path}");
        assert!(body.contains("--public-badges"), "{path}: {body}");
        assert!(!headers["content-type"].to_str().unwrap().contains("svg"));
    }
    app.stop().await;
    // The admin token does not open them either.
    let app = spawn_app_with(&["--admin-token", "s3cret"]).await;
    let response = app
        .client
        .get(app.url("/badge/backup.svg"))
        .bearer_auth("s3cret")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 404);
    app.stop().await;
}

#[tokio::test]
async fn public_badges_need_no_token_even_with_an_admin_token() {
    let app = spawn_app_with(&["--public-badges", "--admin-token", "s3cret"]).await;
    assert_eq!(app.ping("backup", "1h").await.status(), 200);
    let (status, badge) = shields(&app, "/badge/backup.json").await;
    assert_eq!(status, 200);
    assert_eq!(badge["message"], "up");
    // The job routes stay closed.
    assert_eq!(app.get("/ping/backup").await.status(), 401);
    app.stop().await;
}

#[tokio::test]
async fn the_badge_says_up_down_paused_or_running_in_its_colour() {
    let app = badges_app().await;
    for name in ["up-job", "down-job", "paused-job", "running-job"] {
        assert_eq!(app.ping(name, "1h").await.status(), 200);
    }
    let failed = app
        .ping_with(&[("name", "down-job"), ("state", "fail")])
        .await;
    assert_eq!(failed.status(), 200);
    let paused = app
        .client
        .post(app.url("/ping/paused-job/pause"))
        .send()
        .await
        .unwrap();
    assert_eq!(paused.status(), 200);
    assert_eq!(
        start(&app, "running-job").send().await.unwrap().status(),
        200
    );
    for (name, message, color, fill) in [
        ("up-job", "up", "green", "#97ca00"),
        ("down-job", "down", "red", "#e05d44"),
        ("paused-job", "paused", "grey", "#9f9f9f"),
        ("running-job", "running", "blue", "#007ec6"),
    ] {
        let (status, badge) = shields(&app, &format!("/badge/{name}.json")).await;
        assert_eq!(status, 200, "{name}");
        assert_eq!(
            badge,
            json!({"schemaVersion": 1, "label": name, "message": message, "color": color}),
            "{name}"
        );
        let (status, body) = svg(&app, &format!("/badge/{name}.svg")).await;
        assert_eq!(status, 200, "{name}");
        assert!(body.contains(&format!(">{name}</text>")), "{body}");
        assert!(body.contains(&format!(">{message}</text>")), "{body}");
        assert!(body.contains(&format!("fill=\"{fill}\"")), "{name}: {body}");
        assert!(
            body.contains(&format!("aria-label=\"{name}: {message}\"")),
            "{body}"
        );
    }
    app.stop().await;
}

#[tokio::test]
async fn a_paused_or_down_job_with_an_open_run_is_not_shown_running() {
    let app = badges_app().await;
    assert_eq!(app.ping("nightly", "1h").await.status(), 200);
    let failed = app
        .ping_with(&[("name", "nightly"), ("state", "fail")])
        .await;
    assert_eq!(failed.status(), 200);
    assert_eq!(start(&app, "nightly").send().await.unwrap().status(), 200);
    assert_eq!(app.job("nightly").await["running"], true);
    let (_, badge) = shields(&app, "/badge/nightly.json").await;
    assert_eq!(badge["message"], "down");
    app.stop().await;
}

#[tokio::test]
async fn label_replaces_the_name() {
    let app = badges_app().await;
    assert_eq!(app.ping("backup", "1h").await.status(), 200);
    let (_, badge) = shields(&app, "/badge/backup.json?label=nightly%20backup").await;
    assert_eq!(badge["label"], "nightly backup");
    assert_eq!(badge["message"], "up");
    let (_, body) = svg(&app, "/badge/backup.svg?label=db+%26+files").await;
    assert!(body.contains(">db &amp; files</text>"), "{body}");
    assert!(!body.contains(">backup</text>"), "{body}");
    // An empty label draws the message alone.
    let (_, body) = svg(&app, "/badge/backup.svg?label=").await;
    assert_eq!(body.matches("<text ").count(), 2, "{body}");
    app.stop().await;
}

#[tokio::test]
async fn an_unknown_name_answers_404_with_a_grey_unknown_badge() {
    let app = badges_app().await;
    let (status, badge) = shields(&app, "/badge/nobody.json").await;
    assert_eq!(status, 404);
    assert_eq!(
        badge,
        json!({"schemaVersion": 1, "label": "nobody", "message": "unknown", "color": "grey"})
    );
    let (status, body) = svg(&app, "/badge/nobody.svg").await;
    assert_eq!(status, 404);
    assert!(body.contains(">unknown</text>"), "{body}");
    assert!(body.contains("fill=\"#9f9f9f\""), "{body}");
    // A name no job can have (over 200 bytes, a control character, not UTF-8) is
    // unknown too, never a broken image.
    let long = "x".repeat(201);
    for path in [
        format!("/badge/{long}.svg"),
        "/badge/a%07b.svg".to_owned(),
        "/badge/%FF%FE.svg".to_owned(),
        "/badge/.svg".to_owned(),
    ] {
        let (status, body) = svg(&app, &path).await;
        assert_eq!(status, 404, "{path}");
        assert!(body.contains(">unknown</text>"), "{path}: {body}");
    }
    app.stop().await;
}

#[tokio::test]
async fn a_path_without_svg_or_json_is_not_found() {
    let app = badges_app().await;
    assert_eq!(app.ping("backup", "1h").await.status(), 200);
    for path in ["/badge/backup", "/badge/backup.png", "/badge/"] {
        let (status, headers, _) = fetch(&app, path).await;
        assert_eq!(status, 404, "{path}");
        assert!(
            headers["content-type"]
                .to_str()
                .unwrap()
                .starts_with("text/plain"),
            "{path}"
        );
    }
    app.stop().await;
}

#[tokio::test]
async fn names_with_slashes_and_dots_end_at_the_last_suffix() {
    let app = badges_app().await;
    for name in ["team/db.backup", "report.svg", "a b?c#d", "data.json"] {
        assert_eq!(app.ping(name, "1h").await.status(), 200, "{name}");
    }
    // A slash may be left as is or percent-encoded.
    for path in [
        "/badge/team/db.backup.json",
        "/badge/team%2Fdb.backup.json",
        "/badge/team%2Fdb%2Ebackup.json",
    ] {
        let (status, badge) = shields(&app, path).await;
        assert_eq!(
            (status, &badge["label"]),
            (200, &json!("team/db.backup")),
            "{path}"
        );
    }
    let (status, badge) = shields(&app, "/badge/report.svg.json").await;
    assert_eq!((status, &badge["label"]), (200, &json!("report.svg")));
    let (status, body) = svg(&app, "/badge/data.json.svg").await;
    assert_eq!(status, 200);
    assert!(body.contains(">data.json</text>"), "{body}");
    let path = format!("/badge/{}.json", encode("a b?c#d"));
    let (status, badge) = shields(&app, &path).await;
    assert_eq!((status, &badge["label"]), (200, &json!("a b?c#d")));
    app.stop().await;
}

#[tokio::test]
async fn markup_in_a_name_is_escaped_in_the_svg() {
    let app = badges_app().await;
    let name = r#"<script>alert("x")</script> & <img src=x onerror='y'>"#;
    assert_eq!(app.ping(name, "1h").await.status(), 200);
    let (status, body) = svg(&app, &format!("/badge/{}.svg", encode(name))).await;
    assert_eq!(status, 200);
    assert!(
        !body.contains("<script") && !body.contains("<img"),
        "{body}"
    );
    assert!(!body.contains("'y'") && !body.contains("\"x\""), "{body}");
    assert!(
        body.contains(
            "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; &lt;img src=x onerror=&#39;y&#39;&gt;"
        ),
        "{body}"
    );
    // The same in the label parameter.
    let (_, body) = svg(&app, "/badge/nobody.svg?label=%3Csvg%20onload%3D1%3E").await;
    assert!(!body.contains("<svg onload"), "{body}");
    app.stop().await;
}

#[tokio::test]
async fn the_badge_is_as_wide_as_its_texts() {
    let app = badges_app().await;
    for name in [
        "iiii",
        "WWWW",
        "a-much-longer-job-name-for-the-nightly-backup",
    ] {
        assert_eq!(app.ping(name, "1h").await.status(), 200);
    }
    let width = |body: &str| number_after(body, "<svg", "width");
    let (_, narrow) = svg(&app, "/badge/iiii.svg").await;
    let (_, wide) = svg(&app, "/badge/WWWW.svg").await;
    let (_, long) = svg(
        &app,
        "/badge/a-much-longer-job-name-for-the-nightly-backup.svg",
    )
    .await;
    assert!(width(&wide) > width(&narrow) + 20.0, "{wide}\n{narrow}");
    assert!(width(&long) > 250.0, "{long}");
    // Each text is told its length, and fits in its section with room to spare.
    for body in [&narrow, &wide, &long] {
        let label_section = number_after(body, "<g clip-path", "width");
        let message_section = number_after(body, "<rect x=", "width");
        let lengths: Vec<f64> = body
            .split("textLength=\"")
            .skip(1)
            .map(|rest| rest[..rest.find('"').unwrap()].parse().unwrap())
            .collect();
        let [label, label_again, message, message_again] = lengths[..] else {
            panic!("a shadow and a text each for the label and the message: {body}");
        };
        assert_eq!((label, message), (label_again, message_again));
        assert!(label > 0.0 && label + 8.0 <= label_section, "{body}");
        assert!(message > 0.0 && message + 8.0 <= message_section, "{body}");
        assert_eq!(width(body), label_section + message_section, "{body}");
    }
    app.stop().await;
}
