//! Telegram Bot API `sendMessage`: `POST …/bot<TOKEN>/sendMessage` with JSON `chat_id`
//! and `text`. The URL's query (`?chat_id=`) is configuration, never sent.

use serde_json::json;

use super::{http, Context, Outcome};

/// Telegram refuses a message longer than this many characters.
const TEXT_CHARS: usize = 4096;

/// The bot's URL (`…/bot<TOKEN>`, without query) and the chat to write to.
#[derive(Clone)]
pub(crate) struct Target {
    send_message: reqwest::Url,
    chat_id: String,
}

impl Target {
    pub(super) fn new(mut bot: reqwest::Url, chat_id: String) -> Self {
        let path = format!("{}/sendMessage", bot.path().trim_end_matches('/'));
        bot.set_path(&path);
        Self {
            send_message: bot,
            chat_id,
        }
    }
}

pub(super) fn body(ctx: &Context<'_>, chat_id: &str) -> serde_json::Value {
    // A numeric id goes as a number, a public channel's `@name` as a string; the API
    // takes both.
    let chat_id = match chat_id.parse::<i64>() {
        Ok(id) => json!(id),
        Err(_) => json!(chat_id),
    };
    json!({
        "chat_id": chat_id,
        "text": super::discord::cut(&ctx.notice.text(), TEXT_CHARS),
        "disable_web_page_preview": true
    })
}

pub(super) async fn send(ctx: &Context<'_>, target: &Target) -> Outcome {
    let request = http::json(
        ctx.client.post(target.send_message.clone()),
        &body(ctx, &target.chat_id),
    );
    http::send(request, "telegram").await
}
