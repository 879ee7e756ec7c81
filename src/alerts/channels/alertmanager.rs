//! Alertmanager API v2: `POST /api/v2/alerts` with labels `alertname="JobOverdue"`,
//! `job`, `monitor` and `reason`; `startsAt` on down, `endsAt` on up. Alertmanager
//! resolves an alert by its labels, so up sends the labels of the down it resolves.

use serde_json::json;

use super::{http, Context, Outcome};
use crate::domain::{AlertEvent, UnixTime};

/// The reasons a down alert can carry: an up does not know which one opened the
/// episode, so it ends all of them (an alert Alertmanager does not hold is kept as
/// resolved and notifies no one).
const DOWN_REASONS: [&str; 3] = ["missed", "failed", "run_timeout"];

pub(super) fn alerts_url(base: &reqwest::Url) -> reqwest::Url {
    let mut url = base.clone();
    url.set_query(None);
    let path = format!("{}/api/v2/alerts", url.path().trim_end_matches('/'));
    url.set_path(&path);
    url
}

fn labels(ctx: &Context<'_>, reason: &str) -> serde_json::Value {
    json!({
        "alertname": "JobOverdue",
        "job": ctx.notice.name,
        "monitor": ctx.monitor,
        "reason": reason,
    })
}

pub(super) fn body(ctx: &Context<'_>) -> serde_json::Value {
    let notice = ctx.notice;
    let annotations = json!({"summary": notice.headline(), "description": notice.text()});
    match notice.event {
        AlertEvent::Down => {
            let starts_at = match notice.reason.as_str() {
                "missed" => UnixTime::from_secs(notice.expected_by_unix).unwrap_or(ctx.sent_at),
                _ => ctx.sent_at,
            };
            json!([{
                "labels": labels(ctx, &notice.reason),
                "annotations": annotations,
                "startsAt": starts_at.rfc3339(),
            }])
        }
        AlertEvent::Up => serde_json::Value::Array(
            DOWN_REASONS
                .iter()
                .map(|reason| {
                    json!({
                        "labels": labels(ctx, reason),
                        "annotations": annotations,
                        "endsAt": ctx.sent_at.rfc3339(),
                    })
                })
                .collect(),
        ),
    }
}

pub(super) async fn send(ctx: &Context<'_>, base: &reqwest::Url) -> Outcome {
    let request = http::json(ctx.client.post(alerts_url(base)), &body(ctx));
    http::send(request, "alertmanager").await
}
