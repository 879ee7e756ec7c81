//! `GET /channels` and `POST /channels/test` (SPEC §14): the notification channels
//! with their counters, and a test message to every channel at once.

use std::collections::HashMap;

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Value};
use tokio::task::JoinSet;

use super::AppState;
use crate::alerts::{Channel, ChannelStats, Outcome};

/// A success rate rounded to one decimal, `null` before the first attempt.
fn rate(stats: &ChannelStats) -> Value {
    stats
        .success_rate_percent()
        .map_or(Value::Null, |rate| json!((rate * 10.0).round() / 10.0))
}

/// The channel's entries waiting in the outbox.
fn backlog_of(channel: &Channel, backlog: &HashMap<String, u64>) -> u64 {
    backlog.get(channel.outbox_key()).copied().unwrap_or(0)
}

fn describe(channel: &Channel, stats: &ChannelStats, backlog: &HashMap<String, u64>) -> Value {
    json!({
        "name": channel.name(),
        "kind": channel.kind().as_str(),
        "jobs": channel.routing().job_patterns(),
        "events": channel.routing().events.names(),
        "backlog": backlog_of(channel, backlog),
        "delivered": stats.delivered(),
        "failed": stats.failed(),
        "success_rate_percent": rate(stats),
        "last_error": stats.last_error(),
    })
}

/// The entries of `/health`'s `channels`: name, backlog (each channel key's waiting
/// entries in `backlog`), success rate, reachable (a channel is unreachable after
/// `failures` failed attempts in a row).
pub fn health_entries(
    stats: &crate::alerts::DispatcherStats,
    failures: u32,
    backlog: &HashMap<String, u64>,
) -> Value {
    Value::Array(
        stats
            .channels()
            .map(|(channel, stats)| {
                json!({
                    "name": channel.name(),
                    "backlog": backlog_of(channel, backlog),
                    "success_rate_percent": rate(stats),
                    "reachable": stats.consecutive_failures() < failures,
                })
            })
            .collect(),
    )
}

/// Every channel, in configuration order, with its counters since the start.
#[utoipa::path(
    get,
    path = "/channels",
    tag = "channels",
    summary = "The notification channels and their delivery counters",
    responses((status = 200, description = "The channels", body = super::openapi::ChannelList)),
    security(("admin_token" = [])),
)]
pub async fn list_channels(State(app): State<AppState>) -> Response {
    // A store that does not answer shows no backlog rather than failing the list.
    let backlog = app.backend.channel_backlog().await.unwrap_or_default();
    let channels: Vec<Value> = app
        .channels
        .channels()
        .map(|(channel, stats)| describe(channel, stats, &backlog))
        .collect();
    Json(json!({ "channels": channels })).into_response()
}

/// Sends a test message to every channel at once; answers each outcome. A test does
/// not touch the outbox or the counters.
#[utoipa::path(
    post,
    path = "/channels/test",
    tag = "channels",
    summary = "Send a test message to every channel",
    responses((status = 200, description = "Each channel's outcome", body = super::openapi::ChannelTestResults)),
    security(("admin_token" = [])),
)]
pub async fn test_channels(State(app): State<AppState>) -> Response {
    let mut sends = JoinSet::new();
    for (index, (channel, _)) in app.channels.channels().enumerate() {
        let channel = channel.clone();
        let transports = app.transports.clone();
        sends.spawn(async move {
            let outcome = transports.send_test(&channel).await;
            (index, channel, outcome)
        });
    }
    let mut results = Vec::new();
    while let Some(joined) = sends.join_next().await {
        if let Ok(result) = joined {
            results.push(result);
        }
    }
    results.sort_by_key(|(index, _, _)| *index);
    let results: Vec<Value> = results
        .into_iter()
        .map(|(_, channel, outcome)| {
            match &outcome {
                Outcome::Delivered { .. } => {
                    tracing::info!(channel = channel.name(), "channel test delivered");
                }
                _ => {
                    tracing::warn!(
                        channel = channel.name(),
                        error = outcome.error(),
                        "channel test failed"
                    );
                }
            }
            json!({
                "name": channel.name(),
                "ok": matches!(outcome, Outcome::Delivered { .. }),
                "status": outcome.status(),
                "error": outcome.error(),
            })
        })
        .collect();
    Json(json!({ "results": results })).into_response()
}
