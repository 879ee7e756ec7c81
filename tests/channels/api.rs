//! `GET /channels`, `POST /channels/test` and the `channels` of `/health`.

use serde_json::Value;

use crate::support::{app_notifying, ping_overdue, Recorder};

async fn json(app: &crate::common::TestApp, method: &str, path: &str) -> (u16, Value) {
    let request = match method {
        "POST" => app.client.post(app.url(path)),
        _ => app.client.get(app.url(path)),
    };
    let response = request.send().await.expect("request");
    let status = response.status().as_u16();
    (status, response.json().await.expect("json"))
}

#[tokio::test]
async fn channels_are_listed_with_their_routing_and_counters() {
    let ok = Recorder::start().await;
    let failing = Recorder::start_with(|_| (404, std::time::Duration::ZERO)).await;
    let app = app_notifying(&[
        format!(
            "slack+http://{}/services/SECRET#jobs=backup-*&events=down,up",
            ok.addr
        ),
        format!("ntfy+http://{}/topic", failing.addr),
    ])
    .await;
    ping_overdue(&app, "backup-1").await;
    ok.wait_for(1).await;
    failing.wait_for(1).await;
    // The dispatcher counts just after the answer.
    let mut channels = Value::Null;
    for _ in 0..50 {
        let (status, body) = json(&app, "GET", "/channels").await;
        assert_eq!(status, 200);
        channels = body["channels"].clone();
        if channels[1]["failed"] == 1 && channels[0]["delivered"] == 1 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let slack = &channels[0];
    assert_eq!(slack["name"], format!("slack:{}", ok.addr));
    assert_eq!(slack["kind"], "slack");
    assert_eq!(slack["jobs"], serde_json::json!(["backup-*"]));
    assert_eq!(slack["events"], serde_json::json!(["down", "up"]));
    assert_eq!(slack["delivered"], 1);
    assert_eq!(slack["failed"], 0);
    assert_eq!(slack["backlog"], 0);
    assert_eq!(slack["success_rate_percent"], 100.0);
    assert_eq!(slack["last_error"], Value::Null);
    let ntfy = &channels[1];
    assert_eq!(ntfy["kind"], "ntfy");
    assert_eq!(ntfy["jobs"], serde_json::json!(["*"]));
    assert_eq!(
        ntfy["events"],
        serde_json::json!(["down", "reminder", "up"])
    );
    assert_eq!(ntfy["failed"], 1);
    assert_eq!(ntfy["success_rate_percent"], 0.0);
    assert!(ntfy["last_error"]
        .as_str()
        .expect("an error")
        .contains("404"));
    assert!(!channels.to_string().contains("SECRET"));

    let (_, health) = json(&app, "GET", "/health").await;
    let entries = health["channels"].as_array().expect("channels in /health");
    assert_eq!(entries.len(), 2);
    assert_eq!(entries[0]["name"], slack["name"]);
    assert_eq!(entries[0]["reachable"], true);
    assert_eq!(entries[1]["success_rate_percent"], 0.0);
    assert!(entries[0].get("backlog").is_some());
    app.stop().await;
}

#[tokio::test]
async fn a_test_message_goes_to_every_channel_and_each_outcome_is_answered() {
    let ok = Recorder::start().await;
    let failing = Recorder::start_with(|_| (500, std::time::Duration::ZERO)).await;
    let app = app_notifying(&[
        format!("discord+http://{}/ok", ok.addr),
        format!("pagerduty+http://{}/v2/enqueue?routing_key=K", failing.addr),
    ])
    .await;
    let (status, body) = json(&app, "POST", "/channels/test").await;
    assert_eq!(status, 200);
    let results = body["results"].as_array().expect("results");
    assert_eq!(results.len(), 2);
    assert_eq!(results[0]["name"], format!("discord:{}", ok.addr));
    assert_eq!(results[0]["ok"], true);
    assert_eq!(results[0]["status"], 200);
    assert_eq!(results[0]["error"], Value::Null);
    assert_eq!(results[1]["ok"], false);
    assert_eq!(results[1]["status"], 500);
    assert!(results[1]["error"].as_str().expect("error").contains("500"));
    let sent = ok.received();
    assert_eq!(sent.len(), 1);
    assert!(sent[0].json["content"]
        .as_str()
        .expect("content")
        .contains("test"));
    assert_eq!(failing.received().len(), 1);
    app.stop().await;
}

fn properties(doc: &Value, schema: &str) -> std::collections::BTreeSet<String> {
    doc["components"]["schemas"][schema]["properties"]
        .as_object()
        .unwrap_or_else(|| panic!("no schema {schema}"))
        .keys()
        .cloned()
        .collect()
}

fn keys(value: &Value) -> std::collections::BTreeSet<String> {
    value.as_object().expect("object").keys().cloned().collect()
}

#[tokio::test]
async fn the_openapi_schemas_describe_the_channel_answers() {
    let service = Recorder::start().await;
    let app = app_notifying(&[format!("slack+http://{}/x", service.addr)]).await;
    let (_, doc) = json(&app, "GET", "/openapi.json").await;
    let (_, list) = json(&app, "GET", "/channels").await;
    assert_eq!(properties(&doc, "ChannelList"), keys(&list));
    assert_eq!(properties(&doc, "ChannelInfo"), keys(&list["channels"][0]));
    let (_, tested) = json(&app, "POST", "/channels/test").await;
    assert_eq!(properties(&doc, "ChannelTestResults"), keys(&tested));
    assert_eq!(
        properties(&doc, "ChannelTestResult"),
        keys(&tested["results"][0])
    );
    let (_, health) = json(&app, "GET", "/health").await;
    assert_eq!(
        properties(&doc, "ChannelHealth"),
        keys(&health["channels"][0])
    );
    app.stop().await;
}
