//! Opsgenie Alert API: the key as `Authorization: GenieKey <KEY>`; down creates an
//! alert (`POST …/v2/alerts`) whose `alias` is `overdue/<monitor>/<job>`, so that
//! reminders are de-duplicated into it and up closes it
//! (`POST …/v2/alerts/<alias>/close?identifierType=alias`).

use reqwest::header::{HeaderValue, AUTHORIZATION};
use serde_json::json;

use super::{http, Context, Outcome};
use crate::domain::AlertEvent;

/// Opsgenie's limits on `message` and `description`.
const MESSAGE_CHARS: usize = 130;
const DESCRIPTION_CHARS: usize = 15_000;

/// The alerts endpoint (without query) and the integration's API key.
#[derive(Clone)]
pub(crate) struct Target {
    alerts: reqwest::Url,
    api_key: String,
}

impl Target {
    pub(super) fn new(alerts: reqwest::Url, api_key: String) -> Self {
        Self { alerts, api_key }
    }
}

/// `…/v2/alerts/<alias>/close?identifierType=alias`, the alias one path segment.
pub(super) fn close_url(alerts: &reqwest::Url, alias: &str) -> reqwest::Url {
    let mut url = alerts.clone();
    if let Ok(mut segments) = url.path_segments_mut() {
        segments.pop_if_empty().push(alias).push("close");
    }
    url.set_query(Some("identifierType=alias"));
    url
}

pub(super) async fn send(ctx: &Context<'_>, target: &Target) -> Outcome {
    let notice = ctx.notice;
    let alias = ctx.incident_key();
    let (url, body) = match notice.event {
        AlertEvent::Down => (
            target.alerts.clone(),
            json!({
                "message": super::discord::cut(&notice.headline(), MESSAGE_CHARS),
                "alias": alias,
                "description": super::discord::cut(&notice.text(), DESCRIPTION_CHARS),
                "source": ctx.monitor,
                "entity": notice.name,
                "tags": ["overdue", notice.reason],
                "details": {
                    "job": notice.name,
                    "monitor": ctx.monitor,
                    "reason": notice.reason,
                    "alert_count": notice.alert_count.to_string(),
                }
            }),
        ),
        AlertEvent::Up => (
            close_url(&target.alerts, &alias),
            json!({"source": ctx.monitor, "note": notice.text()}),
        ),
    };
    let Ok(key) = HeaderValue::from_str(&format!("GenieKey {}", target.api_key)) else {
        return Outcome::give_up("the api_key cannot be sent in a header");
    };
    let request = http::json(ctx.client.post(url).header(AUTHORIZATION, key), &body);
    http::send(request, "opsgenie").await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_alias_is_one_escaped_path_segment() {
        let alerts = reqwest::Url::parse("https://api.opsgenie.com/v2/alerts").unwrap();
        assert_eq!(
            close_url(&alerts, "overdue/mon/back up").as_str(),
            "https://api.opsgenie.com/v2/alerts/overdue%2Fmon%2Fback%20up/close?identifierType=alias"
        );
    }
}
