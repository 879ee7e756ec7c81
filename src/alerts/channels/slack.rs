//! Slack incoming webhooks: `POST` JSON with `text` (the notification's fallback) and
//! `blocks` (Block Kit: a section with the message, a context line with the monitor).

use serde_json::json;

use super::{http, Context, Outcome};

/// Slack's `mrkdwn` gives `&`, `<` and `>` a meaning; a job name must not.
fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

pub(super) fn body(ctx: &Context<'_>) -> serde_json::Value {
    let text = ctx.notice.text();
    json!({
        "text": text,
        "blocks": [
            {
                "type": "section",
                "text": {"type": "mrkdwn", "text": escape(&text)}
            },
            {
                "type": "context",
                "elements": [
                    {"type": "mrkdwn", "text": format!("monitor: {}", escape(ctx.monitor))}
                ]
            }
        ]
    })
}

pub(super) async fn send(ctx: &Context<'_>, url: &reqwest::Url) -> Outcome {
    let request = http::json(ctx.client.post(url.clone()), &body(ctx));
    http::send(request, "slack").await
}
