//! PagerDuty Events API v2: `POST` JSON with `routing_key` in the body, `trigger` on
//! down (and its reminders, which PagerDuty folds into the open incident by
//! `dedup_key`), `resolve` on up. The URL's query is configuration, never sent.

use serde_json::json;

use super::{http, Context, Outcome};
use crate::domain::AlertEvent;

/// PagerDuty cuts a summary longer than this.
const SUMMARY_CHARS: usize = 1024;

/// The events endpoint (without query) and the integration's routing key.
#[derive(Clone)]
pub(crate) struct Target {
    url: reqwest::Url,
    routing_key: String,
}

impl Target {
    pub(super) fn new(url: reqwest::Url, routing_key: String) -> Self {
        Self { url, routing_key }
    }
}

pub(super) fn body(ctx: &Context<'_>, routing_key: &str) -> serde_json::Value {
    let notice = ctx.notice;
    let dedup_key = ctx.incident_key();
    match notice.event {
        AlertEvent::Up => json!({
            "routing_key": routing_key,
            "event_action": "resolve",
            "dedup_key": dedup_key,
        }),
        AlertEvent::Down => json!({
            "routing_key": routing_key,
            "event_action": "trigger",
            "dedup_key": dedup_key,
            "client": "overdue",
            "payload": {
                "summary": super::discord::cut(&notice.text(), SUMMARY_CHARS),
                "source": ctx.monitor,
                "severity": "critical",
                "component": notice.name,
                "class": notice.reason,
                "timestamp": ctx.sent_at.rfc3339(),
                "custom_details": {
                    "job": notice.name,
                    "reason": notice.reason,
                    "alert_count": notice.alert_count,
                    "overdue_seconds": notice.overdue_seconds,
                }
            }
        }),
    }
}

pub(super) async fn send(ctx: &Context<'_>, target: &Target) -> Outcome {
    let request = http::json(
        ctx.client.post(target.url.clone()),
        &body(ctx, &target.routing_key),
    );
    http::send(request, "pagerduty").await
}
