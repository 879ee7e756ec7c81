//! Microsoft Teams workflow webhooks ("Post to a channel when a webhook request is
//! received"): a `message` with one Adaptive Card attachment.

use serde_json::json;

use super::{http, Context, Outcome};
use crate::domain::AlertEvent;

pub(super) fn body(ctx: &Context<'_>) -> serde_json::Value {
    let notice = ctx.notice;
    let color = match notice.event {
        AlertEvent::Up => "Good",
        AlertEvent::Down => "Attention",
    };
    json!({
        "type": "message",
        "attachments": [{
            "contentType": "application/vnd.microsoft.card.adaptive",
            "contentUrl": null,
            "content": {
                "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
                "type": "AdaptiveCard",
                "version": "1.4",
                "body": [
                    {
                        "type": "TextBlock",
                        "text": notice.headline(),
                        "weight": "Bolder",
                        "size": "Medium",
                        "color": color,
                        "wrap": true
                    },
                    {"type": "TextBlock", "text": notice.text(), "wrap": true},
                    {
                        "type": "TextBlock",
                        "text": format!("monitor: {}", ctx.monitor),
                        "isSubtle": true,
                        "size": "Small",
                        "wrap": true
                    }
                ]
            }
        }]
    })
}

pub(super) async fn send(ctx: &Context<'_>, url: &reqwest::Url) -> Outcome {
    let request = http::json(ctx.client.post(url.clone()), &body(ctx));
    http::send(request, "teams").await
}
