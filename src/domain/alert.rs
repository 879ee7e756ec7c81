//! Alerts raised for a job (SPEC §5).

use serde::{Deserialize, Serialize};

use super::{DownReason, Job, JobName, UnixTime};

/// Why an alert was raised (SPEC §10).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Reason {
    #[default]
    Missed,
    Failed,
    RunTimeout,
    Recovered,
}

impl Reason {
    pub fn as_str(self) -> &'static str {
        match self {
            Reason::Missed => "missed",
            Reason::Failed => "failed",
            Reason::RunTimeout => "run_timeout",
            Reason::Recovered => "recovered",
        }
    }
}

impl From<DownReason> for Reason {
    fn from(reason: DownReason) -> Self {
        match reason {
            DownReason::Missed => Reason::Missed,
            DownReason::Failed => Reason::Failed,
            DownReason::RunTimeout => Reason::RunTimeout,
        }
    }
}

fn ms_as_seconds<S: serde::Serializer>(ms: &Option<u64>, s: S) -> Result<S::Ok, S::Error> {
    match ms {
        Some(ms) => s.serialize_f64(super::event::seconds(*ms)),
        None => s.serialize_none(),
    }
}

fn seconds_as_ms<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
    let seconds = Option::<f64>::deserialize(d)?;
    Ok(seconds
        .filter(|s| s.is_finite() && *s >= 0.0)
        .map(|s| (s * 1000.0).round() as u64))
}

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
    /// Why: `missed`, `failed` or `run_timeout` for `down`, `recovered` for `up`.
    #[serde(default)]
    pub reason: Reason,
    /// The failing ping's exit code.
    #[serde(default)]
    pub exit_code: Option<u8>,
    /// How long the failed or timed-out run took.
    #[serde(
        default,
        rename = "duration_seconds",
        serialize_with = "ms_as_seconds",
        deserialize_with = "seconds_as_ms"
    )]
    pub duration_ms: Option<u64>,
    /// The last 1,000 bytes of the failing ping's output.
    #[serde(default)]
    pub log: Option<String>,
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
            reason: match event {
                AlertEvent::Down => job.down_reason.into(),
                AlertEvent::Up => Reason::Recovered,
            },
            exit_code: None,
            duration_ms: None,
            log: None,
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
