//! Each HTTP kind speaks its service's API: method, path, headers and body, for a
//! job that goes down and comes up again.

use serde_json::json;

use crate::support::{app_notifying, ping_now, ping_overdue, Recorded, Recorder};

/// Points one channel of `scheme` at a recorder (`path_and_query` appended), makes
/// `job` go down then up, and returns the two requests.
async fn down_then_up(scheme: &str, path_and_query: &str, job: &str) -> (Recorded, Recorded) {
    let service = Recorder::start().await;
    let url = format!("{scheme}://{}{path_and_query}", service.addr);
    let app = app_notifying(&[url]).await;
    let since = ping_overdue(&app, job).await;
    let down = service.wait_for(1).await.remove(0);
    ping_now(&app, job).await;
    let up = service.wait_for(2).await.remove(1);
    app.stop().await;
    if scheme.starts_with("webhook") {
        return (down, up);
    }
    let text = down_text(&down);
    assert!(
        text.starts_with(&format!("{job} is DOWN: no ping since "))
            && text.ends_with(" s overdue)"),
        "{text}"
    );
    let since = time_of(since);
    assert!(text.contains(&since), "{text} lacks {since}");
    (down, up)
}

/// The human text wherever the kind puts it.
fn down_text(request: &Recorded) -> String {
    let j = &request.json;
    for candidate in [
        &j["text"],
        &j["content"],
        &j["payload"]["summary"],
        &j["description"],
        &j[0]["annotations"]["description"],
        &j["attachments"][0]["content"]["body"][1]["text"],
    ] {
        if let Some(text) = candidate.as_str() {
            return text.to_owned();
        }
    }
    request.text()
}

/// `2026-12-06 03:00:05 UTC` for a unix time.
fn time_of(unix: i64) -> String {
    let days = unix.div_euclid(86_400);
    let secs = unix.rem_euclid(86_400);
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02} UTC",
        secs / 3600,
        secs % 3600 / 60,
        secs % 60
    )
}

fn assert_json_post(request: &Recorded, path: &str) {
    assert_eq!(request.method, "POST");
    assert_eq!(request.path, path);
    assert!(
        request
            .header("content-type")
            .starts_with("application/json"),
        "{:?}",
        request.headers
    );
    assert!(request.header("user-agent").starts_with("overdue/"));
}

#[tokio::test]
async fn slack_gets_text_and_blocks() {
    let (down, up) = down_then_up("slack+http", "/services/T0/B0/xyz", "backup-slack").await;
    assert_json_post(&down, "/services/T0/B0/xyz");
    let blocks = down.json["blocks"].as_array().expect("blocks");
    assert_eq!(blocks[0]["type"], "section");
    assert_eq!(blocks[0]["text"]["type"], "mrkdwn");
    assert_eq!(blocks[0]["text"]["text"], down.json["text"]);
    assert_eq!(blocks[1]["type"], "context");
    assert!(up.json["text"]
        .as_str()
        .expect("text")
        .starts_with("backup-slack is UP again after "));
}

#[tokio::test]
async fn discord_gets_content_and_one_embed_coloured_by_event() {
    let (down, up) = down_then_up("discord+http", "/api/webhooks/1/tok", "backup-discord").await;
    assert_json_post(&down, "/api/webhooks/1/tok");
    let embeds = down.json["embeds"].as_array().expect("embeds");
    assert_eq!(embeds.len(), 1);
    assert_eq!(embeds[0]["title"], "backup-discord is DOWN");
    assert_eq!(embeds[0]["description"], down.json["content"]);
    assert_eq!(down.json["allowed_mentions"], json!({"parse": []}));
    let (down_colour, up_colour) = (&embeds[0]["color"], &up.json["embeds"][0]["color"]);
    assert!(down_colour.is_u64() && up_colour.is_u64());
    assert_ne!(down_colour, up_colour);
}

#[tokio::test]
async fn teams_gets_a_message_with_one_adaptive_card() {
    let (down, up) = down_then_up(
        "teams+http",
        "/workflows/abc/triggers/manual/paths/invoke?sig=s",
        "backup-teams",
    )
    .await;
    assert_json_post(&down, "/workflows/abc/triggers/manual/paths/invoke");
    assert_eq!(
        down.query.as_deref(),
        Some("sig=s"),
        "teams keeps its signed query"
    );
    assert_eq!(down.json["type"], "message");
    let attachments = down.json["attachments"].as_array().expect("attachments");
    assert_eq!(attachments.len(), 1);
    assert_eq!(
        attachments[0]["contentType"],
        "application/vnd.microsoft.card.adaptive"
    );
    let card = &attachments[0]["content"];
    assert_eq!(card["type"], "AdaptiveCard");
    assert!(card["version"].is_string());
    assert_eq!(card["body"][0]["type"], "TextBlock");
    assert_eq!(card["body"][0]["text"], "backup-teams is DOWN");
    assert_eq!(
        up.json["attachments"][0]["content"]["body"][0]["text"],
        "backup-teams is UP"
    );
}

#[tokio::test]
async fn ntfy_gets_the_text_as_body_with_title_priority_and_tags() {
    let (down, up) = down_then_up("ntfy+http", "/overdue-jobs", "backup-ntfy").await;
    assert_eq!(down.method, "POST");
    assert_eq!(down.path, "/overdue-jobs");
    assert!(down
        .text()
        .starts_with("backup-ntfy is DOWN: no ping since"));
    assert_eq!(down.header("title"), "backup-ntfy is DOWN");
    assert_eq!(down.header("priority"), "5");
    assert!(!down.header("tags").is_empty());
    assert_eq!(up.header("priority"), "3");
    assert_eq!(up.header("title"), "backup-ntfy is UP");
    assert!(up.text().starts_with("backup-ntfy is UP again after "));
}

#[tokio::test]
async fn telegram_gets_send_message_with_chat_id_and_text_and_no_query() {
    let (down, _) = down_then_up(
        "telegram+http",
        "/bot123456:ABC-def?chat_id=-100987",
        "backup-tg",
    )
    .await;
    assert_json_post(&down, "/bot123456:ABC-def/sendMessage");
    assert_eq!(down.query, None);
    assert_eq!(down.json["chat_id"], -100_987);
    assert!(down.json["text"]
        .as_str()
        .expect("text")
        .starts_with("backup-tg is DOWN"));
}

#[tokio::test]
async fn pagerduty_triggers_on_down_and_resolves_on_up_with_one_dedup_key() {
    let (down, up) = down_then_up(
        "pagerduty+http",
        "/v2/enqueue?routing_key=R0UTING",
        "backup-pd",
    )
    .await;
    assert_json_post(&down, "/v2/enqueue");
    assert_eq!(down.query, None, "the routing key travels in the body only");
    assert_eq!(down.json["routing_key"], "R0UTING");
    assert_eq!(down.json["event_action"], "trigger");
    assert_eq!(down.json["dedup_key"], "overdue/overdue/backup-pd");
    assert_eq!(down.json["payload"]["severity"], "critical");
    assert_eq!(down.json["payload"]["source"], "overdue");
    assert_json_post(&up, "/v2/enqueue");
    assert_eq!(up.json["routing_key"], "R0UTING");
    assert_eq!(up.json["event_action"], "resolve");
    assert_eq!(up.json["dedup_key"], "overdue/overdue/backup-pd");
}

#[tokio::test]
async fn opsgenie_creates_with_an_alias_and_closes_it_by_alias() {
    let (down, up) = down_then_up("opsgenie+http", "/v2/alerts?api_key=G3NIE", "backup-og").await;
    assert_json_post(&down, "/v2/alerts");
    assert_eq!(down.query, None);
    assert_eq!(down.header("authorization"), "GenieKey G3NIE");
    assert_eq!(down.json["alias"], "overdue/overdue/backup-og");
    assert_eq!(down.json["message"], "backup-og is DOWN");
    assert_json_post(&up, "/v2/alerts/overdue%2Foverdue%2Fbackup-og/close");
    assert_eq!(up.query.as_deref(), Some("identifierType=alias"));
    assert_eq!(up.header("authorization"), "GenieKey G3NIE");
}

#[tokio::test]
async fn alertmanager_gets_labels_with_starts_at_then_the_same_labels_with_ends_at() {
    let (down, up) = down_then_up("alertmanager+http", "", "backup-am").await;
    assert_json_post(&down, "/api/v2/alerts");
    let alert = &down.json[0];
    assert_eq!(
        alert["labels"],
        json!({"alertname": "JobOverdue", "job": "backup-am", "monitor": "overdue", "reason": "missed"})
    );
    assert!(alert["startsAt"].as_str().expect("startsAt").ends_with('Z'));
    assert_json_post(&up, "/api/v2/alerts");
    let ended: Vec<&serde_json::Value> = up.json.as_array().expect("array").iter().collect();
    assert!(ended.iter().all(|a| a["endsAt"].is_string()));
    assert!(
        ended.iter().any(|a| a["labels"] == alert["labels"]),
        "up resolves the labels of the down: {:#}",
        up.json
    );
}

#[tokio::test]
async fn webhook_kind_keeps_the_section_5_json() {
    let (down, up) = down_then_up("webhook+http", "/hook", "backup-wh").await;
    assert_json_post(&down, "/hook");
    assert_eq!(down.json["event"], "down");
    assert_eq!(down.json["name"], "backup-wh");
    assert_eq!(
        down.header("idempotency-key"),
        down.json["id"].as_str().expect("id")
    );
    assert_eq!(up.json["event"], "up");
}

#[tokio::test]
async fn ntfy_sends_the_urls_user_and_password_as_basic_authentication() {
    let service = Recorder::start().await;
    let app = app_notifying(&[format!("ntfy+http://alice:s3cret@{}/private", service.addr)]).await;
    ping_overdue(&app, "backup-ntfy-auth").await;
    let down = service.wait_for(1).await.remove(0);
    app.stop().await;
    assert_eq!(down.path, "/private");
    // base64("alice:s3cret")
    assert_eq!(down.header("authorization"), "Basic YWxpY2U6czNjcmV0");
}
