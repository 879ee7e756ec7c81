//! ntfy publishing: `POST` to the topic's URL with the message as the body and the
//! headers `Title`, `Priority` (5 down, 3 up) and `Tags` (emoji short codes). A user
//! and password in the URL go as Basic authentication (reqwest moves them there).

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use reqwest::header::{HeaderValue, CONTENT_TYPE};

use super::{http, Context, Outcome};
use crate::domain::AlertEvent;

/// A header value: as is when ASCII, else RFC 2047 encoded, which ntfy decodes.
fn header(text: &str) -> Option<HeaderValue> {
    if text.is_ascii() && !text.chars().any(|c| c.is_ascii_control()) {
        HeaderValue::from_str(text).ok()
    } else {
        HeaderValue::from_str(&format!("=?UTF-8?B?{}?=", STANDARD.encode(text))).ok()
    }
}

pub(super) fn priority(ctx: &Context<'_>) -> &'static str {
    match ctx.notice.event {
        AlertEvent::Down => "5",
        AlertEvent::Up => "3",
    }
}

pub(super) fn tags(ctx: &Context<'_>) -> &'static str {
    match ctx.notice.event {
        AlertEvent::Up => "white_check_mark,overdue",
        AlertEvent::Down if ctx.notice.is_reminder() => "warning,overdue",
        AlertEvent::Down => "rotating_light,overdue",
    }
}

pub(super) async fn send(ctx: &Context<'_>, url: &reqwest::Url) -> Outcome {
    let mut request = ctx
        .client
        .post(url.clone())
        .header(
            CONTENT_TYPE,
            HeaderValue::from_static("text/plain; charset=utf-8"),
        )
        .header("Priority", priority(ctx))
        .header("Tags", tags(ctx))
        .body(ctx.notice.text());
    if let Some(title) = header(&ctx.notice.headline()) {
        request = request.header("Title", title);
    }
    http::send(request, "ntfy").await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn titles_beyond_ascii_are_encoded_as_rfc_2047() {
        assert_eq!(header("backup is DOWN").unwrap(), "backup is DOWN");
        assert_eq!(
            header("sauvegarde-é is DOWN").unwrap(),
            "=?UTF-8?B?c2F1dmVnYXJkZS3DqSBpcyBET1dO?="
        );
    }
}
