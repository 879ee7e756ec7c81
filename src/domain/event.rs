//! A job's history (SPEC §13): the events the rules record, and their JSON.

use serde_json::{json, Map, Value};

use super::{DownReason, ExitCode, Output, RunId, Signal, UnixTime};

/// One thing that happened to a job.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    /// Increasing per job.
    pub seq: u64,
    pub at: UnixTime,
    pub kind: EventKind,
}

/// What happened, with what SPEC §13 shows of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EventKind {
    /// A ping, start, fail or log signal that was accepted.
    Signal(Box<SignalEvent>),
    Created,
    Down(DownReason),
    Reminder(DownReason),
    Up,
    Paused {
        until: Option<UnixTime>,
    },
    Resumed,
    Acknowledged {
        note: Option<String>,
    },
    /// An alert's delivery to one channel ended.
    Delivery(Box<DeliveryEvent>),
}

/// Where a ping came from: shown in its event.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Origin {
    pub remote_addr: Option<Box<str>>,
    pub user_agent: Option<Box<str>>,
}

/// A signal as its event shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignalEvent {
    pub signal: Signal,
    pub origin: Origin,
    pub rid: Option<RunId>,
    pub exit_code: Option<ExitCode>,
    /// The run it ended took this long.
    pub duration_ms: Option<u64>,
    pub log: Option<Output>,
    /// The `timestamp` the ping sent, if any.
    pub timestamp: Option<UnixTime>,
}

/// How an alert's delivery to one channel ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeliveryEvent {
    pub alert_id: String,
    /// `down` or `up`.
    pub event: &'static str,
    /// The channel's redacted name.
    pub channel: String,
    pub delivered: bool,
    pub attempts: u32,
    pub last_status: Option<u16>,
    pub last_error: Option<String>,
}

impl Event {
    /// The kind's name in the JSON.
    pub fn kind_name(&self) -> &'static str {
        match &self.kind {
            EventKind::Signal(s) => match s.signal {
                Signal::Success => "ping",
                Signal::Start => "start",
                Signal::Fail => "fail",
                Signal::Log => "log",
            },
            EventKind::Created => "created",
            EventKind::Down(_) => "down",
            EventKind::Reminder(_) => "reminder",
            EventKind::Up => "up",
            EventKind::Paused { .. } => "paused",
            EventKind::Resumed => "resumed",
            EventKind::Acknowledged { .. } => "acknowledged",
            EventKind::Delivery(_) => "delivery",
        }
    }

    /// The event object of SPEC §13.
    pub fn to_json(&self) -> Value {
        let mut object = Map::new();
        object.insert("seq".into(), self.seq.into());
        object.insert("at".into(), self.at.rfc3339().into());
        object.insert("at_unix_ms".into(), self.at.millis().into());
        object.insert("kind".into(), self.kind_name().into());
        let fields = match &self.kind {
            EventKind::Signal(s) => {
                let mut fields = json!({
                    "remote_addr": s.origin.remote_addr.as_deref(),
                    "user_agent": s.origin.user_agent.as_deref(),
                    "rid": s.rid.as_ref().map(RunId::as_str),
                    "exit_code": s.exit_code.map(ExitCode::get),
                    "duration_seconds": s.duration_ms.map(seconds),
                    "log": s.log.as_ref().map(Output::as_str),
                });
                if let (Some(at), Value::Object(f)) = (s.timestamp, &mut fields) {
                    f.insert("timestamp".into(), at.rfc3339().into());
                }
                fields
            }
            EventKind::Created | EventKind::Up | EventKind::Resumed => json!({}),
            EventKind::Down(reason) | EventKind::Reminder(reason) => {
                json!({ "reason": reason.as_str() })
            }
            EventKind::Paused { until } => json!({ "until": until.map(UnixTime::rfc3339) }),
            EventKind::Acknowledged { note } => json!({ "note": note }),
            EventKind::Delivery(d) => json!({
                "alert_id": d.alert_id,
                "event": d.event,
                "channel": d.channel,
                "outcome": if d.delivered { "delivered" } else { "gave_up" },
                "attempts": d.attempts,
                "last_status": d.last_status,
                "last_error": d.last_error,
            }),
        };
        if let Value::Object(fields) = fields {
            object.extend(fields);
        }
        Value::Object(object)
    }

    /// The event as one line of JSON, the form every store keeps.
    pub fn to_line(&self) -> String {
        self.to_json().to_string()
    }
}

/// Milliseconds as the seconds the API shows (`12.5`).
pub fn seconds(ms: u64) -> f64 {
    ms as f64 / 1000.0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(ms: i64) -> UnixTime {
        UnixTime::from_millis(ms).unwrap()
    }

    #[test]
    fn a_ping_event_shows_its_origin_run_and_output() {
        let event = Event {
            seq: 41,
            at: t(1_795_143_600_123),
            kind: EventKind::Signal(Box::new(SignalEvent {
                signal: Signal::Fail,
                origin: Origin {
                    remote_addr: Some("127.0.0.1".into()),
                    user_agent: Some("curl/8".into()),
                },
                rid: RunId::parse("r1").ok(),
                exit_code: Some(ExitCode::new(2)),
                duration_ms: Some(12_500),
                log: Output::from_body(b"boom"),
                timestamp: None,
            })),
        };
        let json = event.to_json();
        assert_eq!(json["seq"], 41);
        assert_eq!(json["at"], "2026-11-20T03:00:00Z");
        assert_eq!(json["at_unix_ms"], 1_795_143_600_123i64);
        assert_eq!(json["kind"], "fail");
        assert_eq!(json["exit_code"], 2);
        assert_eq!(json["duration_seconds"], 12.5);
        assert_eq!(json["log"], "boom");
        assert_eq!(json["rid"], "r1");
        assert!(
            json.get("timestamp").is_none(),
            "only when the ping sent one"
        );
    }

    #[test]
    fn every_kind_has_its_name_and_fields() {
        let at = t(0);
        let down = Event {
            seq: 1,
            at,
            kind: EventKind::Down(DownReason::RunTimeout),
        };
        assert_eq!(down.to_json()["reason"], "run_timeout");
        let paused = Event {
            seq: 2,
            at,
            kind: EventKind::Paused { until: None },
        };
        assert_eq!(paused.to_json()["kind"], "paused");
        assert!(paused.to_json()["until"].is_null());
        let delivery = Event {
            seq: 3,
            at,
            kind: EventKind::Delivery(Box::new(DeliveryEvent {
                alert_id: "A".into(),
                event: "down",
                channel: "webhook:example.com".into(),
                delivered: false,
                attempts: 7,
                last_status: Some(500),
                last_error: Some("HTTP 500".into()),
            })),
        };
        let json = delivery.to_json();
        assert_eq!(
            (json["outcome"].as_str(), json["attempts"].as_u64()),
            (Some("gave_up"), Some(7))
        );
    }
}
