//! Discord webhooks: `POST` JSON with `content` and one embed whose colour says the
//! event (red down, orange reminder, green up). Mentions are disabled: a job name must
//! not ping `@everyone`.

use serde_json::json;

use super::{http, Context, Outcome};
use crate::domain::AlertEvent;

/// Discord's limits: 2,000 characters of `content`, 4,096 of an embed's description,
/// 256 of its title.
const CONTENT_CHARS: usize = 2000;
const DESCRIPTION_CHARS: usize = 4096;
const TITLE_CHARS: usize = 256;

pub(super) const RED: u32 = 0xD9_30_25;
pub(super) const ORANGE: u32 = 0xF2_8C_28;
pub(super) const GREEN: u32 = 0x2E_A0_43;

pub(super) fn cut(text: &str, chars: usize) -> String {
    text.chars().take(chars).collect()
}

pub(super) fn body(ctx: &Context<'_>) -> serde_json::Value {
    let notice = ctx.notice;
    let text = notice.text();
    let color = match notice.event {
        AlertEvent::Up => GREEN,
        AlertEvent::Down if notice.is_reminder() => ORANGE,
        AlertEvent::Down => RED,
    };
    json!({
        "content": cut(&text, CONTENT_CHARS),
        "embeds": [{
            "title": cut(&notice.headline(), TITLE_CHARS),
            "description": cut(&text, DESCRIPTION_CHARS),
            "color": color,
            "timestamp": ctx.sent_at.rfc3339(),
            "footer": {"text": format!("monitor: {}", ctx.monitor)}
        }],
        "allowed_mentions": {"parse": []}
    })
}

pub(super) async fn send(ctx: &Context<'_>, url: &reqwest::Url) -> Outcome {
    let request = http::json(ctx.client.post(url.clone()), &body(ctx));
    http::send(request, "discord").await
}
