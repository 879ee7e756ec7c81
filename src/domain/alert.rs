//! Alerts raised for a job (SPEC §5).

use serde::{Deserialize, Serialize};

use super::{Job, JobName, UnixTime};

/// What an alert says happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AlertEvent {
    Down,
    Up,
}

impl AlertEvent {
    pub fn as_str(self) -> &'static str {
        match self {
            AlertEvent::Down => "down",
            AlertEvent::Up => "up",
        }
    }
}

/// An alert raised for a job: everything of the SPEC section 5 payload except
/// `sent_at` and `monitor`, which are filled in at each delivery attempt.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Alert {
    pub id: String,
    pub event: AlertEvent,
    pub name: JobName,
    pub frequency: String,
    pub frequency_seconds: u64,
    pub grace_seconds: u64,
    pub last_ping: String,
    pub last_ping_unix: i64,
    pub expected_by: String,
    pub expected_by_unix: i64,
    pub overdue_seconds: u64,
    pub alert_count: u32,
    /// When the alert was raised, in unix seconds; deliveries give up 24 h after it.
    pub raised_at_unix: i64,
}

impl Alert {
    /// A fresh alert id: unique, and sorting in the order alerts were raised.
    pub fn fresh_id() -> String {
        ulid::Ulid::new().to_string()
    }

    /// Builds the alert `id` for `job` as it is now. For `down`, `now - deadline` is how
    /// long the job is overdue; for `up`, how long it was down.
    pub fn new(id: String, job: &Job, event: AlertEvent, now: UnixTime) -> Self {
        let expected_by = job.deadline();
        let overdue_seconds = match event {
            AlertEvent::Down => now.since(expected_by),
            AlertEvent::Up => now.since(job.down_since.unwrap_or(expected_by)),
        };
        Self {
            id,
            event,
            name: job.name.clone(),
            frequency: job.frequency.as_str().to_owned(),
            frequency_seconds: job.frequency.seconds(),
            grace_seconds: job.grace.seconds(),
            last_ping: job.last_ping.rfc3339(),
            last_ping_unix: job.last_ping.secs(),
            expected_by: expected_by.rfc3339(),
            expected_by_unix: expected_by.secs(),
            overdue_seconds,
            alert_count: job.episode_alerts,
            raised_at_unix: now.secs(),
        }
    }

    /// The webhook body of SPEC section 5: the alert's own fields, in their order,
    /// without the bookkeeping ones, then `sent_at` and `monitor`.
    pub fn payload(&self, sent_at: UnixTime, monitor: &str) -> serde_json::Value {
        let mut body = match serde_json::to_value(self) {
            Ok(serde_json::Value::Object(fields)) => fields,
            _ => serde_json::Map::new(),
        };
        body.remove("raised_at_unix");
        body.insert("sent_at".into(), sent_at.rfc3339().into());
        body.insert("monitor".into(), monitor.into());
        serde_json::Value::Object(body)
    }
}
